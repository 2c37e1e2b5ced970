// Goal: on a running controller manager, a ResourceQuota's status tracks its namespace: hard
// mirrors spec.hard, used follows pods (and their cpu requests) as a Deployment scales, ConfigMaps
// and Services as they are created and deleted, and count/<resource> of resources it does not
// watch within its periodic resync; quotas of other namespaces are not affected.
// Method: SimCluster (in-process store, simulated time, hollow agents; the seed is printed and
// FLOTILLA_SIM_SEED replays); assertions on the quota objects in the store.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { NAMESPACES } from '../../../node/src/api/server/resource-refs.ts'
import { SERVICES } from '../../../node/src/controllers/endpoints.ts'
import { statusOf, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { RESOURCE_QUOTAS } from '../../../node/src/controllers/resource-quota.ts'
import { RESYNC_UNWATCHED_MS } from '../../../node/src/controllers/manager/resource-quota-controller.ts'
import { SimCluster, simSeed } from './sim-cluster.ts'

const seed = simSeed(5200)
const CONFIGMAPS = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }

t.test(`seed ${seed}: quota status tracks creates and deletes`, async (t) => {
  t.comment(`seed ${seed}`)
  const cluster = new SimCluster({ seed })
  t.teardown(() => cluster.stop())
  await cluster.start()
  await cluster.objects.create(NAMESPACES, undefined, { metadata: { name: 'other' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } })
  for (const name of ['node-a', 'node-b']) await cluster.addNode({ name, zone: 'zone-a' })
  cluster.addManager('node-a', { isLeader: true, term: 1 })
  const hard = { pods: '10', 'requests.cpu': '2', configmaps: '5', services: '3', 'count/deployments.apps': '4' }
  await cluster.client.create(RESOURCE_QUOTAS, 'default', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'team' }, spec: { hard } })
  await cluster.client.create(RESOURCE_QUOTAS, 'other', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'other' }, spec: { hard: { configmaps: '5' } } })
  const used = async (namespace = 'default', name = 'team'): Promise<JsonObject> => (statusOf(await cluster.objects.get(RESOURCE_QUOTAS, namespace, name))['used'] ?? {}) as JsonObject
  const waitUsed = (what: string, expected: JsonObject, maxMs = 10_000): Promise<number> =>
    cluster.runUntil(what, maxMs, async () => {
      const now = await used()
      return Object.entries(expected).every(([key, value]) => now[key] === value)
    })

  await waitUsed('the quota is computed', { pods: '0', 'requests.cpu': '0', configmaps: '0', services: '0', 'count/deployments.apps': '0' })
  t.same(statusOf(await cluster.objects.get(RESOURCE_QUOTAS, 'default', 'team'))['hard'], hard, 'status.hard mirrors spec.hard')

  await cluster.createDeployment({ name: 'web', replicas: 3, cpu: '100m' })
  await waitUsed('3 pods of 100m', { pods: '3', 'requests.cpu': '300m' })
  await cluster.scale('web', 5)
  await waitUsed('5 pods after scaling up', { pods: '5', 'requests.cpu': '500m' })
  await cluster.scale('web', 1)
  await waitUsed('1 pod after scaling down', { pods: '1', 'requests.cpu': '100m' })
  t.pass('pods and cpu requests follow the Deployment')

  const first = await cluster.client.create(CONFIGMAPS, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' }, data: { a: '1' } })
  await cluster.client.create(CONFIGMAPS, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'two' } })
  await cluster.client.create(SERVICES, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } })
  await waitUsed('2 configmaps and a service', { configmaps: '2', services: '1' })
  await cluster.client.delete(CONFIGMAPS, 'default', 'one', uidOf(first))
  await waitUsed('a configmap deleted', { configmaps: '1' })
  t.same((await used('other', 'other'))['configmaps'], '0', 'another namespace\'s quota counts only its own')

  const tookMs = await waitUsed('count/deployments.apps within the periodic resync', { 'count/deployments.apps': '1' }, RESYNC_UNWATCHED_MS + 5_000)
  t.ok(tookMs <= RESYNC_UNWATCHED_MS + 1_000, `unwatched counts caught up after ${tookMs} simulated ms`)
})
