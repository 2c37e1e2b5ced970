// Goal: the store's apply follows etcd's revision semantics exactly: one new revision per command
// that changes a key and none otherwise; per-key createRevision, modRevision and version; CAS
// conflicts and transactions as domain results; compaction bounds; reads by key, prefix and range;
// and the same log gives the same state and the same LevelDB writes on every replica.
// Method: apply encoded commands directly (as RaftNode would, with an index and a leader stamp)
// and compare results, reads and batch operations with expected values written out by hand.
import t from 'tap'
import { encodeMsgpack } from '../../consensus/src/codec.ts'
import { RANGE_LIMIT_MAX, RevisionedStore } from '../../node/src/store/revisioned-store.ts'
import { compactionTarget } from '../../node/src/store/compaction-policy.ts'
import { META_KEY } from '../../node/src/store/persistence.ts'
import { Applier, bytes, text } from './helpers.ts'

t.test('puts take consecutive revisions and track create, mod and version', async (t) => {
  const a = new Applier(new RevisionedStore())
  t.equal(a.store.revision(), 0, 'an empty store is at revision 0')
  t.same(a.put('x', '1'), { ok: true, revision: 1 }, 'first put: revision 1, no previous')
  t.same(a.put('y', '1'), { ok: true, revision: 2 })
  const second = a.put('x', '2')
  t.match(second, { ok: true, revision: 3, previous: { key: 'x', createRevision: 1, modRevision: 1, version: 1 } }, 'previous is returned')
  t.match(a.store.get('x'), { key: 'x', createRevision: 1, modRevision: 3, version: 2 })
  t.equal(text(a.store.get('x')!.value), '2')
  t.match(a.put('x', '2'), { ok: true, revision: 4, previous: { modRevision: 3, version: 2 } }, 'rewriting the same value still takes a revision (etcd)')
  t.equal(a.store.get('x')!.version, 3)
  t.equal(a.store.revision(), 4)
})

t.test('compare-and-swap: conflicts are results and take no revision', async (t) => {
  const a = new Applier(new RevisionedStore())
  t.same(a.put('k', 'v1', 0), { ok: true, revision: 1 }, 'ifModRevision 0 creates an absent key')
  t.same(a.put('k', 'v2', 0), { ok: false, reason: 'conflict', currentModRevision: 1, revision: 1 }, 'ifModRevision 0 on an existing key')
  t.same(a.put('k', 'v2', 5), { ok: false, reason: 'conflict', currentModRevision: 1, revision: 1 }, 'stale modRevision')
  t.equal(text(a.store.get('k')!.value), 'v1', 'value unchanged after conflicts')
  t.match(a.put('k', 'v2', 1), { ok: true, revision: 2 }, 'matching modRevision succeeds')
  t.same(a.put('other', 'v', 3), { ok: false, reason: 'conflict', currentModRevision: 0, revision: 2 }, 'absent key has modRevision 0')
  t.same(a.apply({ op: 'delete', key: 'k', ifModRevision: 1 }), { ok: false, reason: 'conflict', currentModRevision: 2, revision: 2 }, 'delete CAS conflict')
  t.match(a.apply({ op: 'delete', key: 'k', ifModRevision: 2 }), { ok: true, revision: 3, previous: { modRevision: 2 } }, 'delete CAS')
  t.equal(a.store.revision(), 3)
})

t.test('delete: takes a revision only when the key existed; re-creation starts over', async (t) => {
  const a = new Applier(new RevisionedStore())
  a.put('k', 'v')
  a.put('k', 'w')
  t.match(a.apply({ op: 'delete', key: 'k' }), { ok: true, revision: 3, previous: { version: 2, createRevision: 1 } })
  t.equal(a.store.get('k'), undefined, 'gone')
  t.same(a.apply({ op: 'delete', key: 'k' }), { ok: true, revision: 3 }, 'deleting an absent key changes nothing')
  t.same(a.apply({ op: 'delete', key: 'k', ifModRevision: 0 }), { ok: true, revision: 3 }, 'absent key with ifModRevision 0 is a no-op success')
  a.put('k', 'again')
  t.match(a.store.get('k'), { createRevision: 4, modRevision: 4, version: 1 }, 'a re-created key is new')
  t.equal(a.store.size(), 1)
})

t.test('txn: compares choose the branch; all its changes share one revision', async (t) => {
  const a = new Applier(new RevisionedStore())
  a.put('a', '1')
  a.put('b', '1')
  const success = a.apply({
    op: 'txn',
    compares: [{ key: 'a', modRevision: 1 }, { key: 'c', modRevision: 0 }],
    success: [{ op: 'put', key: 'a', value: bytes('2') }, { op: 'delete', key: 'b' }, { op: 'put', key: 'c', value: bytes('new') }],
    failure: [{ op: 'delete', key: 'a' }],
  })
  t.match(success, { ok: true, revision: 3, succeeded: true })
  t.equal(success.results.length, 3)
  t.match(success.results[0], { previous: { key: 'a', modRevision: 1 } })
  t.match(success.results[1], { previous: { key: 'b' } })
  t.same(success.results[2], {}, 'a created key has no previous')
  for (const key of ['a', 'c']) t.equal(a.store.get(key)!.modRevision, 3, `${key} carries the transaction's revision`)
  t.equal(a.store.get('b'), undefined)

  const failure = a.apply({
    op: 'txn',
    compares: [{ key: 'a', modRevision: 1 }],
    success: [{ op: 'delete', key: 'a' }],
    failure: [{ op: 'put', key: 'log', value: bytes('compare failed') }],
  })
  t.match(failure, { ok: true, revision: 4, succeeded: false })
  t.ok(a.store.get('a'), 'success branch did not run')
  t.equal(text(a.store.get('log')?.value), 'compare failed')

  const noop = a.apply({ op: 'txn', compares: [{ key: 'zzz', modRevision: 9 }], success: [], failure: [{ op: 'delete', key: 'absent' }] })
  t.same(noop, { ok: true, revision: 4, succeeded: false, results: [{}] }, 'a transaction that changes nothing takes no revision')
})

t.test('compact: bounds, no revision, and persisted in s/meta', async (t) => {
  const a = new Applier(new RevisionedStore())
  for (let i = 0; i < 5; i++) a.put(`k${i}`, 'v')
  t.same(a.apply({ op: 'compact', revision: 6 }), { ok: false, reason: 'future-revision', revision: 5 })
  t.same(a.apply({ op: 'compact', revision: 3 }), { ok: true, revision: 5, compactedRevision: 3 })
  t.same(a.apply({ op: 'compact', revision: 3 }), { ok: false, reason: 'compacted', compactedRevision: 3, revision: 5 }, 'again: already compacted')
  t.same(a.apply({ op: 'compact', revision: 2 }), { ok: false, reason: 'compacted', compactedRevision: 3, revision: 5 })
  t.equal(a.store.compactedRevision(), 3)
  t.equal(a.store.revision(), 5, 'compaction takes no revision')
  t.equal(a.operations.at(-1)?.key, META_KEY, 'every entry ends its batch with s/meta')
})

t.test('an entry that is not a valid command changes nothing and says why', async (t) => {
  const a = new Applier(new RevisionedStore())
  a.put('k', 'v')
  const result = a.applyBytes(encodeMsgpack({ op: 'put', key: '', value: bytes('v') }))
  t.match(result, { ok: false, reason: 'invalid', message: /must not be empty/ })
  t.match(a.applyBytes(Uint8Array.of(0x92, 1)), { ok: false, reason: 'invalid' })
  t.equal(a.store.revision(), 1)
  t.equal(a.store.size(), 1)
})

t.test('batch operations: the changed keys under s/kv/ and the counters under s/meta', async (t) => {
  const a = new Applier(new RevisionedStore())
  a.put('a', '1')
  a.apply({ op: 'delete', key: 'a' })
  a.put('b', '1', 7) // conflict
  t.same(
    a.operations.map((op) => `${op.type} ${op.key}`),
    ['put s/kv/a', 'put s/meta', 'del s/kv/a', 'put s/meta', 'put s/meta'],
  )
})

t.test('the same entries give the same state and the same LevelDB writes on every replica', async (t) => {
  const replicas = [new Applier(new RevisionedStore()), new Applier(new RevisionedStore({ historyEventsMax: 3 }))]
  for (const replica of replicas) {
    replica.put('a', '1')
    replica.put('b', '2', 0)
    replica.apply({ op: 'txn', compares: [{ key: 'a', modRevision: 1 }], success: [{ op: 'delete', key: 'b' }], failure: [] })
    replica.put('a', '3', 99)
    replica.apply({ op: 'compact', revision: 2 })
  }
  t.same(replicas[0]!.operations, replicas[1]!.operations, 'identical batches (history limits are local)')
  t.same(replicas[0]!.store.snapshot(), replicas[1]!.store.snapshot(), 'identical snapshots')
})

t.test('range by prefix and by [start, end), in key order, with limit and revision', async (t) => {
  const a = new Applier(new RevisionedStore())
  for (const key of ['/pods/b', '/pods/a', '/pods/c', '/podsx', '/services/a', '/pod']) a.put(key, key)
  const keys = (items: readonly { key: string }[]): string[] => items.map((item) => item.key)
  const pods = a.store.range({ prefix: '/pods/' })
  t.same(keys(pods.items), ['/pods/a', '/pods/b', '/pods/c'])
  t.equal(pods.revision, 6)
  t.equal(pods.more, false)
  const limited = a.store.range({ prefix: '/pods/', limit: 2 })
  t.same(keys(limited.items), ['/pods/a', '/pods/b'])
  t.equal(limited.more, true, 'more keys beyond the limit')
  const rest = a.store.range({ start: '/pods/b\0', end: '/pods0' })
  t.same(keys(rest.items), ['/pods/c'], 'paging on from after the last key')
  t.same(keys(a.store.range({ start: '/pods/', end: '/pods/c' }).items), ['/pods/a', '/pods/b'], 'end is exclusive')
  t.same(keys(a.store.range({ start: '/q' }).items), ['/services/a'], 'no end: to the last key')
  t.same(keys(a.store.range({ prefix: '' }).items), ['/pod', '/pods/a', '/pods/b', '/pods/c', '/podsx', '/services/a'])
  t.same(a.store.range({ prefix: '/none/' }).items, [])
  t.same(a.store.range({ start: '/z', end: '/a' }).items, [], 'an empty interval')
  a.apply({ op: 'delete', key: '/pods/b' })
  t.same(keys(a.store.range({ prefix: '/pods/' }).items), ['/pods/a', '/pods/c'], 'deleted keys leave the order')
  t.throws(() => a.store.range({ prefix: '', limit: 0 }), { name: 'InvalidRequestError' })
  t.throws(() => a.store.range({ prefix: '', limit: RANGE_LIMIT_MAX + 1 }), { name: 'InvalidRequestError' })
  t.throws(() => a.store.range({ prefix: 'a', start: 'b' } as never), { name: 'InvalidRequestError' })
})

t.test('lastAppliedTimeMs follows the leader stamps and never goes back', async (t) => {
  const a = new Applier(new RevisionedStore(), 0)
  a.put('k', 'v')
  t.equal(a.store.lastAppliedTimeMs(), 1_000)
  a.apply({ op: 'put', key: 'k', value: bytes('v') }, 5_000)
  t.equal(a.store.lastAppliedTimeMs(), 5_000)
  a.apply({ op: 'put', key: 'k', value: bytes('v') }, 0)
  t.equal(a.store.lastAppliedTimeMs(), 5_000, 'an unstamped entry does not move time back')
  a.apply({ op: 'put', key: 'k', value: bytes('v') }, 9_000)
  t.equal(a.store.lastAppliedTimeMs(), 9_000)
})

t.test('compaction policy keeps both the revision count and the time window', async (t) => {
  const policy = { retainRevisions: 10, retainMs: 60_000 }
  t.equal(compactionTarget({ revision: 100, compactedRevision: 0, newestRevisionBeforeCutoff: 95 }, policy), 90, 'revision count binds')
  t.equal(compactionTarget({ revision: 100, compactedRevision: 0, newestRevisionBeforeCutoff: 40 }, policy), 40, 'time window binds')
  t.equal(compactionTarget({ revision: 100, compactedRevision: 40, newestRevisionBeforeCutoff: 40 }, policy), undefined, 'nothing new')
  t.equal(compactionTarget({ revision: 100, compactedRevision: 0, newestRevisionBeforeCutoff: undefined }, policy), undefined, 'unknown age')
  t.equal(compactionTarget({ revision: 5, compactedRevision: 0, newestRevisionBeforeCutoff: 5 }, policy), undefined, 'too few revisions')

  // Through the store: entries one second apart; keep 20 revisions and 30 seconds.
  const a = new Applier(new RevisionedStore({ compaction: { retainRevisions: 20, retainMs: 30_000 } }), 0)
  for (let i = 0; i < 100; i++) a.put(`k${i % 7}`, `${i}`)
  t.equal(a.store.compactionTarget(), 70, 'the last 30 s (revisions 71..100) are kept; they are more than 20 revisions')
  t.equal(a.store.compactionTarget(a.store.lastAppliedTimeMs() + 3_600_000), 80, 'an hour later the revision count binds')
  const nowMs = a.store.lastAppliedTimeMs()
  a.apply({ op: 'compact', revision: a.store.compactionTarget(nowMs)! })
  t.equal(a.store.compactionTarget(nowMs), undefined, 'nothing more to do at the same time after compacting')
  t.equal(a.store.compactionTarget(nowMs + 1000), 71, 'a second later, one more revision has aged out')
  t.throws(() => new RevisionedStore({ compaction: { retainMs: -1 } }), { name: 'InvalidConfigError' })
  t.throws(() => new RevisionedStore({ historyEventsMax: 1.5 }), { name: 'InvalidConfigError' })
})
