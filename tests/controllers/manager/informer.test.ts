// Goal: an informer's cache follows the store: the list fills it (handlers see adds), the watch
// applies creates, updates and deletes in order with the right handler calls, indexes follow
// label/owner changes, `revision` reaches each write's revision, and a watch that ends (history
// compacted) is replaced by a relist that reports exactly what changed meanwhile.
// Method: an informer over an ObjectStore on MemoryObjectBackend, on simulated timers; a store
// subclass lets the test end the watch as a compaction would.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore, type ObjectEventType } from '../../../node/src/api/server/object-store.ts'
import { Informer } from '../../../node/src/controllers/manager/informer.ts'
import { TimersSim } from '../../../lib/timers.ts'
import { PODS } from '../../../node/src/controllers/plan.ts'

/** An ObjectStore whose watches the test can end with an error. */
class BreakableStore extends ObjectStore {
  readonly endings: Array<(error: Error) => void> = []

  override watch(
    resource: Parameters<ObjectStore['watch']>[0],
    namespace: string | undefined,
    fromRevision: number,
    onEvent: (type: ObjectEventType, object: JsonObject, previous: JsonObject | undefined) => void | Promise<void>,
    onError: (error: Error) => void,
  ): () => void {
    let cancelled = false
    const cancel = super.watch(resource, namespace, fromRevision, (...args) => (cancelled ? undefined : onEvent(...args)), onError)
    this.endings.push((error) => {
      cancelled = true
      cancel()
      onError(error)
    })
    return cancel
  }
}

const pod = (name: string, labels: Record<string, string>): JsonObject => ({ metadata: { name, labels }, spec: { containers: [{ name: 'app', image: 'x' }] } })
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

t.test('list, watch, handlers, indexes, relist', async (t) => {
  const timers = new TimersSim()
  const objects = new BreakableStore(new MemoryObjectBackend())
  await objects.create(PODS, 'default', pod('before', { tier: 'web' }))
  const informer = new Informer({ objects, resource: PODS, timers, log: () => {} })
  const seen: string[] = []
  informer.addHandlers({
    onAdd: (object) => seen.push(`add ${String((object['metadata'] as JsonObject)['name'])}`),
    onUpdate: (_previous, object) => seen.push(`update ${String((object['metadata'] as JsonObject)['name'])}`),
    onDelete: (object) => seen.push(`delete ${String((object['metadata'] as JsonObject)['name'])}`),
  })
  informer.addIndex('tier', (object) => [String(((object['metadata'] as JsonObject)['labels'] as JsonObject)['tier'])])
  await informer.start()
  t.ok(informer.synced, 'synced after the list')
  t.same(seen, ['add before'], 'the listed object is an add')

  const created = await objects.create(PODS, 'default', pod('later', { tier: 'db' }))
  await flush()
  t.ok(informer.revision >= Number((created['metadata'] as JsonObject)['resourceVersion']), 'revision reaches the write')
  t.equal(informer.byIndex('tier', 'db').length, 1, 'indexed by tier')
  await objects.update(PODS, 'default', 'later', { ...created, metadata: { ...(created['metadata'] as JsonObject), labels: { tier: 'web' } } })
  await flush()
  t.same(informer.byIndex('tier', 'db'), [], 'the index follows a label change')
  t.equal(informer.byIndex('tier', 'web').length, 2)
  await objects.delete(PODS, 'default', 'before')
  await flush()
  t.same(seen, ['add before', 'add later', 'update later', 'delete before'], 'handlers in order')
  t.equal(informer.get('default', 'before'), undefined, 'the deleted object left the cache')

  // The watch ends (compaction); meanwhile one object is deleted, one changed, one created.
  for (const end of objects.endings) end(new Error('compacted'))
  await objects.delete(PODS, 'default', 'later')
  await objects.create(PODS, 'default', pod('newest', { tier: 'web' }))
  seen.length = 0
  timers.advance(1000)
  await flush()
  await flush()
  t.same(seen.sort(), ['add newest', 'delete later'], 'the relist reports exactly the differences')
  t.same(informer.list().map((object) => (object['metadata'] as JsonObject)['name']), ['newest'], 'and the cache matches the store')
  await objects.create(PODS, 'default', pod('after-relist', {}))
  await flush()
  t.ok(informer.get('default', 'after-relist') !== undefined, 'the new watch delivers again')
  informer.stop()
})
