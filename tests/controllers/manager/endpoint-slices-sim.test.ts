// Goal: on a running controller manager, a selector Service's EndpointSlices follow its pods: a
// placeholder slice appears for a service without pods and is then filled in place; a
// Deployment's pods are listed ready, with their node and its zone, as they start and as the
// Deployment scales; a pod's readiness and termination show in its conditions; a node's new zone
// reaches its pods' endpoints; a converged world makes no writes; the slices go when the Service
// loses its selector or is deleted.
// Method: SimCluster (in-process store, simulated time, hollow agents; the seed is printed and
// FLOTILLA_SIM_SEED replays). The "ghost" pod is bound to a node without an agent, so the test
// plays its kubelet: it decides its readiness, holds it Terminating with a finalizer, and makes
// the final delete.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { SERVICES } from '../../../node/src/controllers/endpoints.ts'
import { ENDPOINT_SLICES, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, ZONE_LABEL } from '../../../node/src/controllers/endpoint-slices.ts'
import { NODES } from '../../../node/src/controllers/manager/shared-informers.ts'
import { metadataOf, nameOf, specOf, statusOf, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { PODS } from '../../../node/src/controllers/plan.ts'
import { SimCluster, simSeed } from './sim-cluster.ts'

const seed = simSeed(5200)

type Loose = any

/** The managed slices of service `name` in `default`. */
async function slicesOf(cluster: SimCluster, name: string): Promise<Loose[]> {
  const { items } = await cluster.objects.list(ENDPOINT_SLICES, 'default')
  return items.filter((slice) => (metadataOf(slice)['labels'] as Loose)?.[SERVICE_NAME_LABEL] === name)
}

/** Every endpoint of the service's slices, by pod name. */
async function endpointsOf(cluster: SimCluster, name: string): Promise<Map<string, Loose>> {
  const endpoints = new Map<string, Loose>()
  for (const slice of await slicesOf(cluster, name)) for (const endpoint of slice.endpoints ?? []) endpoints.set(endpoint.targetRef.name, endpoint)
  return endpoints
}

/** The names of the Deployment's pods that are Running and Ready, sorted. */
async function readyPodsOf(cluster: SimCluster, deployment: string): Promise<string[]> {
  const pods = await cluster.podsOf(deployment)
  return pods
    .filter((pod) => statusOf(pod)['phase'] === 'Running' && ((statusOf(pod)['conditions'] ?? []) as JsonObject[]).some((c) => c['type'] === 'Ready' && c['status'] === 'True'))
    .map(nameOf)
    .sort()
}

t.test(`seed ${seed}: endpoint slices follow pods, readiness, termination and zones`, async (t) => {
  t.comment(`seed ${seed}`)
  const cluster = new SimCluster({ seed })
  t.teardown(() => cluster.stop())
  await cluster.start()
  const zones: Record<string, string> = { 'node-a': 'zone-a', 'node-b': 'zone-b', 'node-c': 'zone-c' }
  for (const [name, zone] of Object.entries(zones)) await cluster.addNode({ name, zone })
  cluster.addManager('node-a', { isLeader: true, term: 1 })
  const service = await cluster.client.create(SERVICES, 'default', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', labels: { tier: 'front' } },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  })
  await cluster.runUntil('a placeholder slice appears for the service', 10_000, async () => (await slicesOf(cluster, 'web')).length === 1)
  const [placeholder] = await slicesOf(cluster, 'web')
  t.same(placeholder.endpoints ?? [], [], 'no pods, no endpoints')
  t.equal(placeholder.metadata.labels[MANAGED_BY_LABEL], 'endpointslice-controller.k8s.io')
  t.equal(placeholder.metadata.labels['tier'], 'front', 'the service labels are copied')
  t.same(placeholder.metadata.ownerReferences.map((owner: Loose) => [owner.kind, owner.name, owner.uid, owner.controller]), [['Service', 'web', uidOf(service), true]])

  await cluster.createDeployment({ name: 'web', replicas: 3 })
  const matches = async (replicas: number): Promise<boolean> => {
    const ready = await readyPodsOf(cluster, 'web')
    const endpoints = await endpointsOf(cluster, 'web')
    const listedReady = [...endpoints.entries()].filter(([, endpoint]) => endpoint.conditions.ready === true).map(([name]) => name).sort()
    return ready.length === replicas && (await cluster.podsOf('web')).length === replicas && endpoints.size === replicas && JSON.stringify(listedReady) === JSON.stringify(ready)
  }
  await cluster.runUntil('3 ready endpoints', 30_000, () => matches(3))
  const slices = await slicesOf(cluster, 'web')
  t.same(slices.map((slice) => slice.metadata.name), [placeholder.metadata.name], 'the placeholder was filled in place')
  t.same(slices[0].ports, [{ name: 'http', port: 8080, protocol: 'TCP' }])
  t.equal(slices[0].addressType, 'IPv4')
  const endpoints = await endpointsOf(cluster, 'web')
  for (const pod of await cluster.podsOf('web')) {
    const endpoint = endpoints.get(nameOf(pod))
    const node = String(specOf(pod)['nodeName'])
    t.same([endpoint?.addresses, endpoint?.nodeName, endpoint?.zone, endpoint?.targetRef.uid], [[statusOf(pod)['podIP']], node, zones[node], uidOf(pod)], `${nameOf(pod)}: its IP, node, zone and uid`)
  }

  await cluster.scale('web', 5)
  await cluster.runUntil('5 ready endpoints after scaling up', 30_000, () => matches(5))
  await cluster.scale('web', 2)
  await cluster.runUntil('2 ready endpoints after scaling down', 30_000, () => matches(2))
  t.equal((await slicesOf(cluster, 'web')).length, 1, 'still one slice')

  // A pod whose kubelet is the test; the finalizer keeps it while it terminates.
  await cluster.client.create(PODS, 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'ghost', labels: { app: 'web' }, finalizers: ['example.com/hold'] },
    spec: { nodeName: 'ghost-node', containers: [{ name: 'app', image: 'web', ports: [{ containerPort: 8080 }] }] },
  })
  const setReady = async (ready: boolean): Promise<void> => {
    const current = await cluster.client.get(PODS, 'default', 'ghost')
    await cluster.client.updateStatus(PODS, 'default', 'ghost', { ...current, status: { phase: 'Running', podIP: '10.99.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } })
  }
  const ghostConditions = async (): Promise<Loose> => (await endpointsOf(cluster, 'web')).get('ghost')?.conditions
  await setReady(false)
  await cluster.runUntil('the unready pod is listed not ready, not serving', 10_000, async () => JSON.stringify(await ghostConditions()) === JSON.stringify({ ready: false, serving: false, terminating: false }))
  t.equal((await endpointsOf(cluster, 'web')).get('ghost')?.zone, undefined, 'a pod on an unknown node has no zone')
  await setReady(true)
  await cluster.runUntil('the pod turned ready is listed ready', 10_000, async () => (await ghostConditions())?.ready === true)
  const ghost = await cluster.client.get(PODS, 'default', 'ghost')
  await cluster.client.delete(PODS, 'default', 'ghost', uidOf(ghost))
  await cluster.runUntil('the terminating pod is serving, terminating, not ready', 10_000, async () => JSON.stringify(await ghostConditions()) === JSON.stringify({ ready: false, serving: true, terminating: true }))
  const held = await cluster.client.get(PODS, 'default', 'ghost')
  await cluster.client.update(PODS, 'default', 'ghost', { ...held, metadata: { ...metadataOf(held), finalizers: [] } })
  // What the ghost's kubelet would do once its containers stopped: the final delete (a pod bound
  // to a node may stay Terminating until then).
  await cluster.objects.delete(PODS, 'default', 'ghost', { preconditions: { uid: uidOf(held) } }).catch((error: Loose) => {
    if (error?.code !== 404) throw error
  })
  await cluster.runUntil('a deleted pod leaves the slice', 10_000, async () => !(await endpointsOf(cluster, 'web')).has('ghost'))

  // A node's zone label changes: its pods' endpoints follow.
  const [first] = await cluster.podsOf('web')
  const nodeName = String(specOf(first!)['nodeName'])
  const node = await cluster.client.get(NODES, undefined, nodeName)
  await cluster.client.update(NODES, undefined, nodeName, { ...node, metadata: { ...metadataOf(node), labels: { ...(metadataOf(node)['labels'] as Loose), [ZONE_LABEL]: 'zone-moved' } } })
  await cluster.runUntil('the endpoint carries the node\'s new zone', 10_000, async () => (await endpointsOf(cluster, 'web')).get(nameOf(first!))?.zone === 'zone-moved')

  const revision = cluster.objects.revision()
  const sliceVersions = JSON.stringify((await slicesOf(cluster, 'web')).map((slice) => slice.metadata.resourceVersion))
  for (let step = 0; step < 30; step++) await cluster.step()
  t.equal(JSON.stringify((await slicesOf(cluster, 'web')).map((slice) => slice.metadata.resourceVersion)), sliceVersions, 'a converged cluster rewrites no slice')
  t.equal(cluster.objects.revision(), revision, 'and makes no writes at all')

  const current = await cluster.client.get(SERVICES, 'default', 'web')
  await cluster.client.update(SERVICES, 'default', 'web', { ...current, spec: { ...specOf(current), selector: null } })
  await cluster.runUntil('a service without a selector has no managed slices', 10_000, async () => (await slicesOf(cluster, 'web')).length === 0)
  const restored = await cluster.client.get(SERVICES, 'default', 'web')
  await cluster.client.update(SERVICES, 'default', 'web', { ...restored, spec: { ...specOf(restored), selector: { app: 'web' } } })
  await cluster.runUntil('the selector back, the slices are back', 10_000, async () => (await endpointsOf(cluster, 'web')).size === 2)
  await cluster.client.delete(SERVICES, 'default', 'web', uidOf(restored))
  await cluster.runUntil('the slices go with the service', 10_000, async () => (await slicesOf(cluster, 'web')).length === 0)
  t.pass('slices deleted')
})
