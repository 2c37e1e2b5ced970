// Goal: the controller fence makes a deposed manager's writes fail inside the store: once a
// manager of a later term has taken the fence, every write of the earlier one — creates,
// updates, deletes, through the ObjectStore — throws FencedOutError and changes nothing, while
// an ordinary lost compare-and-swap of the current holder is still a 409 Conflict. A manager
// cannot take the fence back for an older term.
// Method: two fenced backends over one MemoryObjectBackend.
import t from 'tap'
import { ApiError } from '../../../node/src/api/machinery/status.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../../node/src/api/server/object-store.ts'
import { NAMESPACES } from '../../../node/src/api/server/resource-refs.ts'
import { FencedOutError, acquireFence, fenceHolder } from '../../../node/src/controllers/manager/fence.ts'

t.test('a later term fences the earlier manager out', async (t) => {
  const backend = new MemoryObjectBackend()
  const old = await acquireFence(backend, 3, 'alpha')
  const oldObjects = new ObjectStore(old)
  const created = await oldObjects.create(NAMESPACES, undefined, { metadata: { name: 'one' } })
  t.ok(old.holds(), 'the holder writes while it holds the fence')
  t.same(fenceHolder(backend), { term: 3, holder: 'alpha' })

  await t.rejects(oldObjects.update(NAMESPACES, undefined, 'one', { ...created, metadata: { ...(created['metadata'] as object), resourceVersion: '1' } }), { code: 409 }, 'a stale resourceVersion is a plain conflict')
  const lostSwap = await old.write({ op: 'put', key: '/registry/test/key', value: new Uint8Array([1]), ifModRevision: 999 })
  t.match(lostSwap, { ok: false, reason: 'conflict', currentModRevision: 0 }, 'a lost compare-and-swap under a held fence is a conflict result, as without the fence')

  const next = await acquireFence(backend, 4, 'beta')
  t.notOk(old.holds(), 'the old manager sees that it lost the fence')
  t.ok(next.holds())
  const revision = backend.store.revision()
  await t.rejects(oldObjects.create(NAMESPACES, undefined, { metadata: { name: 'two' } }), FencedOutError, 'a create of the old manager is refused')
  await t.rejects(oldObjects.update(NAMESPACES, undefined, 'one', { ...created, metadata: { ...(created['metadata'] as object), labels: { x: 'y' } } }), FencedOutError, 'so is an update')
  await t.rejects(oldObjects.delete(NAMESPACES, undefined, 'one'), FencedOutError, 'and a delete')
  t.equal(backend.store.revision(), revision, 'none of them changed the store')

  const nextObjects = new ObjectStore(next)
  await nextObjects.create(NAMESPACES, undefined, { metadata: { name: 'two' } })
  t.pass('the new holder writes')
  await t.rejects(acquireFence(backend, 3, 'alpha'), FencedOutError, 'an older term cannot take the fence back')
  await t.rejects(acquireFence(backend, 4, 'gamma'), FencedOutError, 'nor another manager of the same term')
  const again = await acquireFence(backend, 4, 'beta')
  t.ok(again.holds() && !next.holds(), 'the holder may renew its own fence (a new session in the same term)')
  const error = await nextObjects.create(NAMESPACES, undefined, { metadata: { name: 'three' } }).catch((caught: unknown) => caught)
  t.ok(error instanceof FencedOutError && !(error instanceof ApiError), 'the renewed fence supersedes the previous session too')
})
