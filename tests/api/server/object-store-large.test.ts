// Goal: the object store sees whole collections however large they are: a list of more objects
// than one store range page (RANGE_LIMIT_MAX) returns every one, in key order.
import t from 'tap'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore, type ResourceRef } from '../../../node/src/api/server/object-store.ts'
import { RANGE_LIMIT_MAX } from '../../../node/src/store/revisioned-store.ts'

const CONFIG_MAPS: ResourceRef = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }

t.test('a list larger than one range page returns every object', async (t) => {
  const objects = new ObjectStore(new MemoryObjectBackend())
  const count = RANGE_LIMIT_MAX + 25
  for (let index = 0; index < count; index++) {
    await objects.create(CONFIG_MAPS, 'default', { metadata: { name: `cm-${String(index).padStart(6, '0')}` } })
  }
  const { items } = await objects.list(CONFIG_MAPS, 'default')
  t.equal(items.length, count, 'every object is listed')
  const names = items.map((item) => String((item['metadata'] as { name: string }).name))
  t.same(names, [...names].sort(), 'in key order')
})
