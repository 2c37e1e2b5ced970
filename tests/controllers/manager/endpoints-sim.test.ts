// Goal: on a running controller manager, a selector Service's Endpoints follow its pods: a
// Deployment's pods appear as ready addresses as they start and as the Deployment scales up and
// down; a pod's readiness moves it between addresses and notReadyAddresses; a deleted pod leaves;
// the Endpoints go with the Service, and a converged world makes no writes.
// Method: SimCluster (in-process store, simulated time, hollow agents; the seed is printed and
// FLOTILLA_SIM_SEED replays). The "ghost" pod is bound to a node without an agent, so the test
// plays its kubelet and decides its readiness.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { ENDPOINTS, SERVICES } from '../../../node/src/controllers/endpoints.ts'
import { nameOf, statusOf, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { PODS } from '../../../node/src/controllers/plan.ts'
import { SimCluster, simSeed } from './sim-cluster.ts'

const seed = simSeed(5100)

interface Addresses {
  ready: string[]
  notReady: string[]
}

async function endpointsOf(cluster: SimCluster, name: string): Promise<Addresses | undefined> {
  let endpoints: JsonObject
  try {
    endpoints = await cluster.objects.get(ENDPOINTS, 'default', name)
  } catch {
    return undefined
  }
  const result: Addresses = { ready: [], notReady: [] }
  for (const subset of (endpoints['subsets'] ?? []) as JsonObject[]) {
    for (const address of (subset['addresses'] ?? []) as JsonObject[]) result.ready.push(String((address['targetRef'] as JsonObject)['name']))
    for (const address of (subset['notReadyAddresses'] ?? []) as JsonObject[]) result.notReady.push(String((address['targetRef'] as JsonObject)['name']))
  }
  result.ready.sort()
  result.notReady.sort()
  return result
}

/** The names of the Deployment's pods that are Running and Ready, sorted. */
async function readyPodsOf(cluster: SimCluster, deployment: string): Promise<string[]> {
  const pods = await cluster.podsOf(deployment)
  return pods
    .filter((pod) => statusOf(pod)['phase'] === 'Running' && ((statusOf(pod)['conditions'] ?? []) as JsonObject[]).some((c) => c['type'] === 'Ready' && c['status'] === 'True'))
    .map(nameOf)
    .sort()
}

t.test(`seed ${seed}: endpoints follow pod readiness and scale`, async (t) => {
  t.comment(`seed ${seed}`)
  const cluster = new SimCluster({ seed })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (const name of ['node-a', 'node-b', 'node-c']) await cluster.addNode({ name, zone: 'zone-a' })
  cluster.addManager('node-a', { isLeader: true, term: 1 })
  await cluster.client.create(SERVICES, 'default', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', labels: { tier: 'front' } },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  })
  await cluster.runUntil('empty Endpoints appear for the service', 10_000, async () => (await endpointsOf(cluster, 'web')) !== undefined)
  t.same(await endpointsOf(cluster, 'web'), { ready: [], notReady: [] }, 'no pods, no addresses')

  await cluster.createDeployment({ name: 'web', replicas: 3 })
  const matches = async (replicas: number): Promise<boolean> => {
    const ready = await readyPodsOf(cluster, 'web')
    const endpoints = await endpointsOf(cluster, 'web')
    return ready.length === replicas && (await cluster.podsOf('web')).length === replicas && endpoints !== undefined && JSON.stringify(endpoints.ready) === JSON.stringify(ready)
  }
  await cluster.runUntil('3 ready addresses', 30_000, () => matches(3))
  t.pass('the 3 pods are ready addresses')
  const endpoints = await cluster.objects.get(ENDPOINTS, 'default', 'web')
  const subset = (endpoints['subsets'] as JsonObject[])[0] as JsonObject
  t.same(subset['ports'], [{ name: 'http', port: 8080, protocol: 'TCP' }])
  const podsNow = await cluster.podsOf('web')
  const ips = new Map(podsNow.map((pod) => [nameOf(pod), String(statusOf(pod)['podIP'])]))
  for (const address of subset['addresses'] as JsonObject[]) t.equal(address['ip'], ips.get(String((address['targetRef'] as JsonObject)['name'])), 'each address is its pod\'s IP')

  await cluster.scale('web', 5)
  await cluster.runUntil('5 ready addresses after scaling up', 30_000, () => matches(5))
  await cluster.scale('web', 2)
  await cluster.runUntil('2 ready addresses after scaling down', 30_000, () => matches(2))
  t.pass('addresses follow the scale')

  // A pod whose kubelet is the test.
  const ghost = await cluster.client.create(PODS, 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'ghost', labels: { app: 'web' } },
    spec: { nodeName: 'ghost-node', containers: [{ name: 'app', image: 'web', ports: [{ containerPort: 8080 }] }] },
  })
  const setReady = async (ready: boolean): Promise<void> => {
    const current = await cluster.client.get(PODS, 'default', 'ghost')
    await cluster.client.updateStatus(PODS, 'default', 'ghost', {
      ...current,
      status: { phase: 'Running', podIP: '10.99.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    })
  }
  await setReady(false)
  await cluster.runUntil('the unready pod is a notReadyAddress', 10_000, async () => (await endpointsOf(cluster, 'web'))?.notReady.includes('ghost') === true)
  t.notOk((await endpointsOf(cluster, 'web'))?.ready.includes('ghost'), 'and not a ready address')
  await setReady(true)
  await cluster.runUntil('the pod turned ready is an address', 10_000, async () => (await endpointsOf(cluster, 'web'))?.ready.includes('ghost') === true)
  t.same((await endpointsOf(cluster, 'web'))?.notReady, [], 'no unready addresses left')
  await setReady(false)
  await cluster.runUntil('and back when it is not ready again', 10_000, async () => (await endpointsOf(cluster, 'web'))?.notReady.includes('ghost') === true)
  await cluster.client.delete(PODS, 'default', 'ghost', uidOf(ghost))
  await cluster.runUntil('a deleted pod leaves the Endpoints', 10_000, async () => {
    const now = await endpointsOf(cluster, 'web')
    return now !== undefined && !now.ready.includes('ghost') && !now.notReady.includes('ghost')
  })

  const revision = cluster.objects.revision()
  for (let step = 0; step < 30; step++) await cluster.step()
  t.equal(cluster.objects.revision(), revision, 'a converged cluster makes no writes')

  const service = await cluster.client.get(SERVICES, 'default', 'web')
  await cluster.client.delete(SERVICES, 'default', 'web', uidOf(service))
  await cluster.runUntil('the Endpoints go with the service', 10_000, async () => (await endpointsOf(cluster, 'web')) === undefined)
  t.pass('Endpoints deleted')
})
