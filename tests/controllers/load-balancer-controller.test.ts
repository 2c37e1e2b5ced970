// Goal: on a running controller manager, LoadBalancer Services get addresses from the pool
// ConfigMap through the status subresource; a full pool leaves a Service pending with one
// AllocationFailed Warning; deleting a Service or changing its type releases its address for the
// pending one; a bad pool is reported on pending Services naming the bad entry and changes no
// allocation; a converged cluster makes no writes; a new leader keeps every allocation.
// Method: SimCluster (in-process store, simulated time; the seed is printed and FLOTILLA_SIM_SEED
// replays) with the test as the user: it creates and edits Services and the pool ConfigMap.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { SERVICES } from '../../node/src/controllers/endpoints.ts'
import { CONFIG_MAPS } from '../../node/src/controllers/load-balancer-controller.ts'
import { REASON_ALLOCATION_FAILED } from '../../node/src/controllers/load-balancer.ts'
import { metadataOf, specOf, statusOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { SimCluster, simSeed } from './manager/sim-cluster.ts'

const seed = simSeed(7100)

type Loose = any

async function ingressOf(cluster: SimCluster, name: string): Promise<string> {
  const service = await cluster.client.get(SERVICES, 'default', name)
  return String((statusOf(service)['loadBalancer'] as Loose)?.ingress?.[0]?.ip ?? '')
}

async function allIngress(cluster: SimCluster, names: readonly string[]): Promise<string[]> {
  return Promise.all(names.map((name) => ingressOf(cluster, name)))
}

async function warningsFor(cluster: SimCluster, name: string): Promise<string[]> {
  return (await cluster.events())
    .filter((event) => (event['involvedObject'] as JsonObject)['name'] === name && event['reason'] === REASON_ALLOCATION_FAILED)
    .map((event) => String(event['message']))
}

function loadBalancerService(name: string, extra: Record<string, unknown> = {}): JsonObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ name: 'http', port: 80 }], ...extra } }
}

async function setPool(cluster: SimCluster, addresses: string): Promise<void> {
  const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'flotilla-loadbalancer' }, data: { addresses } }
  try {
    const current = await cluster.client.get(CONFIG_MAPS, 'kube-system', 'flotilla-loadbalancer')
    await cluster.client.update(CONFIG_MAPS, 'kube-system', 'flotilla-loadbalancer', { ...body, metadata: { ...metadataOf(current) } })
  } catch (error) {
    if ((error as Loose)?.code !== 404) throw error
    await cluster.client.create(CONFIG_MAPS, 'kube-system', body)
  }
}

t.test(`seed ${seed}: LoadBalancer addresses are allocated, exhausted, released and kept`, async (t) => {
  t.comment(`seed ${seed}`)
  const cluster = new SimCluster({ seed })
  t.teardown(() => cluster.stop())
  await cluster.start()
  await cluster.addNode({ name: 'node-a', zone: 'zone-a' })
  const first = cluster.addManager('node-a', { isLeader: true, term: 1 })

  // No pool yet: pending, told how to make one.
  await cluster.client.create(SERVICES, 'default', loadBalancerService('early'))
  await cluster.runUntil('a warning about the missing pool', 10_000, async () => (await warningsFor(cluster, 'early')).length === 1)
  t.match((await warningsFor(cluster, 'early'))[0], /No address pool: create ConfigMap kube-system\/flotilla-loadbalancer/)
  t.equal(await ingressOf(cluster, 'early'), '', 'pending without a pool')

  await setPool(cluster, '10.250.0.200-10.250.0.201')
  await cluster.runUntil('the early Service gets the first address', 10_000, async () => (await ingressOf(cluster, 'early')) === '10.250.0.200')
  await cluster.client.create(SERVICES, 'default', loadBalancerService('web'))
  await cluster.client.create(SERVICES, 'default', loadBalancerService('late'))
  await cluster.runUntil('web allocated, late warned', 10_000, async () => (await ingressOf(cluster, 'web')) !== '' && (await warningsFor(cluster, 'late')).length > 0)
  t.same(await allIngress(cluster, ['early', 'web', 'late']), ['10.250.0.200', '10.250.0.201', ''], 'the pool is full: late is pending')
  t.match((await warningsFor(cluster, 'late'))[0], /No free address in the address pool kube-system\/flotilla-loadbalancer \(2 addresses, all allocated\)/)
  const plain = await cluster.client.create(SERVICES, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'plain' }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } })
  t.same(specOf(plain)['type'], 'ClusterIP')

  // Converged: nothing is written, and the warning is not repeated.
  for (let step = 0; step < 30; step++) await cluster.step()
  const revision = cluster.objects.revision()
  for (let step = 0; step < 30; step++) await cluster.step()
  t.equal(cluster.objects.revision(), revision, 'a converged cluster makes no writes')
  t.equal((await warningsFor(cluster, 'late')).length, 1, 'one event for the pending Service')

  // Deleting a Service frees its address for the pending one.
  const web = await cluster.client.get(SERVICES, 'default', 'web')
  await cluster.client.delete(SERVICES, 'default', 'web', uidOf(web))
  await cluster.runUntil('late takes the freed address', 10_000, async () => (await ingressOf(cluster, 'late')) === '10.250.0.201')

  // A type change releases the address.
  const early = await cluster.client.get(SERVICES, 'default', 'early')
  await cluster.client.update(SERVICES, 'default', 'early', { ...early, spec: { ...specOf(early), type: 'ClusterIP' } })
  await cluster.runUntil('early no longer shows an address', 10_000, async () => (await ingressOf(cluster, 'early')) === '')
  await cluster.client.create(SERVICES, 'default', loadBalancerService('asks', { loadBalancerIP: '10.250.0.200' }))
  await cluster.runUntil('the released address can be requested', 10_000, async () => (await ingressOf(cluster, 'asks')) === '10.250.0.200')

  // A bad pool: allocations stay, a new Service is told which entry is wrong.
  await setPool(cluster, '10.250.0.200-10.250.0.210, 10.250.0.999')
  await cluster.client.create(SERVICES, 'default', loadBalancerService('during-typo'))
  await cluster.runUntil('the pending Service hears about the bad entry', 10_000, async () => (await warningsFor(cluster, 'during-typo')).some((message) => message.includes('"10.250.0.999"')))
  t.same(await allIngress(cluster, ['late', 'asks', 'during-typo']), ['10.250.0.201', '10.250.0.200', ''], 'nothing allocated, nothing taken away')
  await setPool(cluster, '10.250.0.200-10.250.0.210')
  await cluster.runUntil('the fixed pool allocates', 10_000, async () => (await ingressOf(cluster, 'during-typo')) === '10.250.0.202')

  // A new leader (term 2) continues from the statuses alone.
  first.leadership.isLeader = false
  await cluster.step()
  cluster.addManager('node-a', { isLeader: true, term: 2 })
  const before = await allIngress(cluster, ['late', 'asks', 'during-typo'])
  for (let step = 0; step < 30; step++) await cluster.step()
  t.same(await allIngress(cluster, ['late', 'asks', 'during-typo']), before, 'the new leader keeps every allocation')
  await cluster.client.create(SERVICES, 'default', loadBalancerService('after-failover'))
  await cluster.runUntil('the new leader allocates the next free address', 10_000, async () => (await ingressOf(cluster, 'after-failover')) === '10.250.0.203')
  const all = await allIngress(cluster, ['late', 'asks', 'during-typo', 'after-failover'])
  t.equal(new Set(all).size, all.length, `no address twice: ${all.join(', ')}`)
})
