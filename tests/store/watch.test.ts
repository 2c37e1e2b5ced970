// Goal: watches deliver every change in revision order without gaps, replay from a past revision
// and then continue live, end with a clear CompactedError when the history no longer reaches back,
// never hold unbounded memory for a slow consumer, and stop cleanly when canceled or failing.
// Method: apply commands directly to a RevisionedStore (seeded random writes and transactions),
// record deliveries, and compare them with the events derived from the command results; waits
// poll with deadlines (delivery runs from microtasks, never inside apply).
import t, { type Test } from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import { CompactedError, WatchOverflowError } from '../../node/src/store/errors.ts'
import { RevisionedStore } from '../../node/src/store/revisioned-store.ts'
import type { StoreEvent } from '../../node/src/store/watch-hub.ts'
import { Applier, Recorder, bytes, settle, text, waitFor } from './helpers.ts'

/** Applies `count` random puts, deletes and transactions over a few keys under two prefixes. */
function randomWrites(a: Applier, count: number, seed: number): void {
  const random = new RandomXoshiro(seed)
  const key = (): string => `${random.chance(0.5) ? '/a/' : '/b/'}${random.int(0, 8)}`
  for (let i = 0; i < count; i++) {
    const roll = random.float()
    if (roll < 0.6) a.put(key(), `v${i}`)
    else if (roll < 0.8) a.apply({ op: 'delete', key: key() })
    else {
      const [first, second] = [key(), key()]
      const ops = first === second ? [{ op: 'put' as const, key: first, value: bytes(`t${i}`) }] : [{ op: 'put' as const, key: first, value: bytes(`t${i}`) }, { op: 'delete' as const, key: second }]
      a.apply({ op: 'txn', compares: [], success: ops, failure: [] })
    }
  }
}

/** Checks that `events` hold every revision from `from` to `to` once, in order (several events per transaction). */
function checkContiguous(t: Test, events: readonly StoreEvent[], from: number, to: number, label: string): void {
  const revisions = [...new Set(events.map((event) => event.modRevision))]
  const expected = Array.from({ length: to - from + 1 }, (_, i) => from + i)
  t.same(revisions, expected, `${label}: revisions ${from}..${to}, in order, none missing`)
  let sorted = true
  for (let i = 1; i < events.length; i++) if (events[i]!.modRevision < events[i - 1]!.modRevision) sorted = false
  t.ok(sorted, `${label}: never out of order`)
}

t.test('a live watch over everything sees every revision in order, with correct event fields', async (t) => {
  const a = new Applier(new RevisionedStore())
  const all = Recorder.watch(a.store, { prefix: '' })
  const onlyA = Recorder.watch(a.store, { prefix: '/a/' })
  const oneKey = Recorder.watch(a.store, { key: '/b/3' })
  randomWrites(a, 3000, 11)
  const head = a.store.revision()
  await waitFor('all events', 5000, () => (all.events.at(-1)?.modRevision === head ? true : undefined))
  checkContiguous(t, all.events, 1, head, 'prefix ""')
  t.ok(onlyA.events.length > 0 && onlyA.events.every((event) => event.key.startsWith('/a/')), 'a prefix watch sees only its prefix')
  t.same(onlyA.events, all.events.filter((event) => event.key.startsWith('/a/')), 'and all of it, in the same order')
  t.same(oneKey.events, all.events.filter((event) => event.key === '/b/3'), 'a key watch sees exactly that key')

  // Replaying the events over an empty map must give the store's final state.
  const replayed = new Map<string, StoreEvent>()
  for (const event of all.events) {
    if (event.type === 'put') replayed.set(event.key, event)
    else replayed.delete(event.key)
  }
  const state = a.store.range({ prefix: '' }).items
  t.same(
    state.map((kv) => [kv.key, text(kv.value), kv.modRevision, kv.createRevision, kv.version]),
    [...replayed.values()].sort((x, y) => (x.key < y.key ? -1 : 1)).map((e) => [e.key, text(e.value), e.modRevision, e.createRevision, e.version]),
    'events replay to the final state',
  )
  for (const recorder of [all, onlyA, oneKey]) t.same(recorder.errors, [])
})

t.test('event fields: put, update with prevValue, delete tombstone', async (t) => {
  const a = new Applier(new RevisionedStore())
  const watch = Recorder.watch(a.store, { key: 'k' })
  a.put('k', 'one')
  a.put('k', 'two')
  a.apply({ op: 'delete', key: 'k' })
  await waitFor('three events', 2000, () => (watch.events.length === 3 ? true : undefined))
  t.same(watch.events, [
    { type: 'put', key: 'k', value: bytes('one'), modRevision: 1, createRevision: 1, version: 1 },
    { type: 'put', key: 'k', value: bytes('two'), prevValue: bytes('one'), modRevision: 2, createRevision: 1, version: 2 },
    { type: 'delete', key: 'k', prevValue: bytes('two'), modRevision: 3, createRevision: 0, version: 0 },
  ])
})

t.test('a watch from an old revision replays the history, then continues live without a gap', async (t) => {
  const a = new Applier(new RevisionedStore())
  const reference = Recorder.watch(a.store, { prefix: '' })
  randomWrites(a, 500, 12)
  const from = 137
  const late = Recorder.watch(a.store, { prefix: '' }, from)
  // Writes land while the replay is queued, and after it.
  randomWrites(a, 50, 13)
  await settle()
  randomWrites(a, 50, 14)
  const head = a.store.revision()
  await waitFor('the late watch to reach the head', 5000, () => (late.events.at(-1)?.modRevision === head ? true : undefined))
  checkContiguous(t, late.events, from, head, 'late watch')
  t.same(late.events, reference.events.filter((event) => event.modRevision >= from), 'exactly the events a live watch saw from there')

  const future = Recorder.watch(a.store, { prefix: '' }, head + 3)
  for (let i = 0; i < 4; i++) a.put('f', `${i}`)
  await waitFor('future-start events', 2000, () => (future.events.length === 2 ? true : undefined))
  t.same(future.events.map((event) => event.modRevision), [head + 3, head + 4], 'a future start skips revisions before it')
})

t.test('watching at or below the compacted revision fails at once with CompactedError', async (t) => {
  const a = new Applier(new RevisionedStore())
  for (let i = 0; i < 20; i++) a.put(`k${i % 3}`, `${i}`)
  a.apply({ op: 'compact', revision: 12 })
  const early = Recorder.watch(a.store, { prefix: '' }, 12)
  await waitFor('the error', 2000, () => early.errors[0])
  const error = early.errors[0] as CompactedError
  t.equal(error.name, 'CompactedError')
  t.match(error.message, /^mvcc: required revision 12 has been compacted/)
  t.match(error.message, /compacted revision 12/)
  t.equal(error.compactedRevision, 12)
  t.equal(error.requestedRevision, 12)
  t.same(early.events, [], 'no events before or after the error')
  const ok = Recorder.watch(a.store, { prefix: '' }, 13)
  await waitFor('the replay', 2000, () => (ok.events.length === 8 ? true : undefined))
  t.equal(ok.events[0]!.modRevision, 13, 'the revision after the compacted one is still watchable')
  t.equal(a.store.watchStats().historyEvents, 8, 'compaction dropped the history at or below 12')
})

t.test('the bounded history: a watch from before it fails, and so does a replay the trimming overtakes', async (t) => {
  const a = new Applier(new RevisionedStore({ historyEventsMax: 50 }))
  for (let i = 0; i < 100; i++) a.put('k', `${i}`)
  t.equal(a.store.watchStats().historyEvents, 50)
  t.equal(a.store.watchStats().floorRevision, 50)
  const tooOld = Recorder.watch(a.store, { key: 'k' }, 50)
  await waitFor('the error', 2000, () => tooOld.errors[0])
  t.ok(tooOld.errors[0] instanceof CompactedError)
  t.match(tooOld.errors[0]!.message, /holds events only after revision 50 \(compacted revision 0\)/)

  // A consumer that takes each event only when released: it replays slower than writes arrive.
  let release: () => void = () => {}
  const slow: StoreEvent[] = []
  const errors: Error[] = []
  a.store.watch({
    key: 'k',
    fromRevision: 51,
    onEvent: (event) => {
      slow.push(event)
      return new Promise<void>((resolve) => (release = resolve))
    },
    onError: (error) => errors.push(error),
  })
  await waitFor('the first replayed event', 2000, () => (slow.length === 1 ? true : undefined))
  for (let i = 0; i < 60; i++) a.put('k', 'more')
  await waitFor('the error', 2000, () => errors[0])
  t.ok(errors[0] instanceof WatchOverflowError, 'trimming past an event a watcher still owes ends it with WatchOverflowError')
  t.equal((errors[0] as WatchOverflowError).nextRevision, 52, 'naming the revision it still had to deliver')
  t.match(errors[0]!.message, /watcher too slow: it still had to deliver revision 52, which left the in-memory history \(bounded to 50 events/)
  release()
  await settle()
  t.equal(slow.length, 1, 'nothing after the error')
  t.equal(a.store.watchStats().watchers, 0)
})

t.test('a stuck watcher loses its place only when an event it owes is dropped', async (t) => {
  const a = new Applier(new RevisionedStore({ historyEventsMax: 10 }))
  const stuck = { events: [] as StoreEvent[], errors: [] as Error[] }
  const quiet = { events: [] as StoreEvent[], errors: [] as Error[] }
  let releaseQuiet: () => void = () => {}
  a.store.watch({
    prefix: '',
    onEvent: (event) => {
      stuck.events.push(event)
      return new Promise<void>(() => {}) // never done
    },
    onError: (error) => stuck.errors.push(error),
  })
  a.store.watch({
    key: 'quiet',
    onEvent: (event) => {
      quiet.events.push(event)
      return new Promise<void>((resolve) => (releaseQuiet = resolve))
    },
    onError: (error) => quiet.errors.push(error),
  })
  const healthy = Recorder.watch(a.store, { prefix: '' })
  a.put('quiet', '1')
  // Separate applies with room to deliver in between, as separate Raft Readys would give.
  for (let i = 0; i < 30; i++) {
    a.put(`busy${i}`, 'v')
    await settle()
  }
  await waitFor('the overflow', 2000, () => stuck.errors[0])
  t.equal(stuck.errors[0]!.name, 'WatchOverflowError')
  t.equal((stuck.errors[0] as WatchOverflowError).nextRevision, 2, 'it delivered revision 1; 2 is the first it missed')
  t.same(stuck.events.map((event) => event.modRevision), [1])
  t.equal(healthy.events.length, 31, 'a watcher that keeps up sees everything')
  t.same(healthy.errors, [])
  releaseQuiet()
  a.put('quiet', '2')
  await waitFor('the quiet watcher', 2000, () => (quiet.events.length === 2 ? true : undefined))
  t.same(quiet.errors, [], 'the history moved past the quiet watcher, but nothing it owed was dropped')
  t.same(quiet.events.map((event) => event.modRevision), [1, 32])

  const byBytes = new Applier(new RevisionedStore({ historyBytesMax: 1000 }))
  const errors: Error[] = []
  byBytes.store.watch({ prefix: '', onEvent: () => new Promise<void>(() => {}), onError: (error) => errors.push(error) })
  byBytes.apply({ op: 'put', key: 'a', value: new Uint8Array(10) })
  await settle()
  byBytes.apply({ op: 'put', key: 'big', value: new Uint8Array(2000) })
  await waitFor('the byte overflow', 2000, () => errors[0])
  t.match(errors[0]!.message, /revision 2, which left the in-memory history \(bounded to 100000 events and 1000 bytes\)/)
  t.equal(byBytes.store.watchStats().historyBytes, 0, 'the oversized revision did not stay')
})

t.test('compaction past a replaying watcher ends it with CompactedError', async (t) => {
  const a = new Applier(new RevisionedStore())
  for (let i = 0; i < 20; i++) a.put('k', `${i}`)
  const errors: Error[] = []
  const seen: number[] = []
  a.store.watch({
    key: 'k',
    fromRevision: 5,
    onEvent: (event) => {
      seen.push(event.modRevision)
      return new Promise<void>(() => {})
    },
    onError: (error) => errors.push(error),
  })
  await waitFor('the first event', 2000, () => (seen.length === 1 ? true : undefined))
  a.apply({ op: 'compact', revision: 10 })
  await waitFor('the error', 2000, () => errors[0])
  t.ok(errors[0] instanceof CompactedError)
  t.equal((errors[0] as CompactedError).requestedRevision, 6)
  t.equal((errors[0] as CompactedError).compactedRevision, 10)
  t.match(errors[0]!.message, /^mvcc: required revision 6 has been compacted/)
})

t.test('cancel stops delivery; a throwing callback ends the watch; watcher count is bounded', async (t) => {
  const a = new Applier(new RevisionedStore({ watchersMax: 2 }))
  const canceled = Recorder.watch(a.store, { prefix: '' })
  a.put('x', '1')
  canceled.cancel()
  a.put('x', '2')
  await settle()
  t.same(canceled.events, [], 'canceled before delivery: nothing delivered')
  t.same(canceled.errors, [])

  const errors: Error[] = []
  let calls = 0
  a.store.watch({
    key: 'x',
    onEvent: () => {
      calls++
      throw new Error('consumer bug')
    },
    onError: (error) => errors.push(error),
  })
  a.put('x', '3')
  a.put('x', '4')
  await waitFor('the callback error', 2000, () => errors[0])
  t.equal(errors[0]!.name, 'WatchCallbackError')
  t.match((errors[0] as Error & { cause: Error }).cause.message, 'consumer bug')
  t.equal(calls, 1, 'no further events after the failure')

  const first = Recorder.watch(a.store, { prefix: '' })
  Recorder.watch(a.store, { prefix: '' })
  t.throws(() => a.store.watch({ prefix: '', onEvent: () => {}, onError: () => {} }), { name: 'TooManyWatchersError' })
  first.cancel()
  t.doesNotThrow(() => Recorder.watch(a.store, { prefix: '' }).cancel(), 'a canceled watcher frees its slot')

  t.throws(() => a.store.watch({ key: 'a', prefix: 'b', onEvent: () => {}, onError: () => {} } as never), { name: 'InvalidRequestError' })
  t.throws(() => a.store.watch({ key: '', onEvent: () => {}, onError: () => {} }), { name: 'InvalidRequestError' })
  t.throws(() => a.store.watch({ prefix: '', fromRevision: 0, onEvent: () => {}, onError: () => {} }), { name: 'InvalidRequestError' })
})

t.test('installing a snapshot ends every watch with CompactedError', async (t) => {
  const source = new Applier(new RevisionedStore())
  for (let i = 0; i < 10; i++) source.put(`k${i}`, 'v')
  const a = new Applier(new RevisionedStore())
  const watch = Recorder.watch(a.store, { prefix: '' })
  a.put('old', 'v')
  await waitFor('the first event', 2000, () => (watch.events.length === 1 ? true : undefined))
  a.store.restore(source.store.snapshot(), [])
  await waitFor('the error', 2000, () => watch.errors[0])
  t.ok(watch.errors[0] instanceof CompactedError)
  t.match(watch.errors[0]!.message, /replaced by a snapshot at revision 10/)
  const after = Recorder.watch(a.store, { prefix: '' }, 10)
  await waitFor('the error', 2000, () => after.errors[0])
  t.ok(after.errors[0] instanceof CompactedError, 'the history starts empty after a snapshot install')
})
