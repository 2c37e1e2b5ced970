// Goal: what the API starts inside a DELETE request, the leader's controllers finish even when
// the request's node dies, and pods leave as on Kubernetes, gracefully:
// - graceful pod deletion end to end: a deleted pod stays Terminating until its hollow agent has
//   stopped it (Killing events) and deleted it with grace 0; its ReplicaSet replaces it at once;
// - the pod garbage collector: a pod Terminating on a dead node (nobody to finish it) is
//   force-deleted once the node has been NotReady for the eviction timeout (not before), while its
//   replacement already runs elsewhere;
// - the namespace controller: a namespace whose DELETE crashed mid-way (the serving node died
//   after a few writes) is still emptied and goes;
// - the garbage collector: dependents of an owner removed without follow-ups (dangling
//   ownerReferences, or a namesake owner with another uid) are collected, a dependent with another
//   live owner only loses the dangling reference, owners of unknown kinds are never taken for gone;
//   an interrupted foreground deletion and an `orphan` finalizer are finished; an owner the cache
//   has not seen but the store holds is not gone (the decision is made on the store, not the cache).
// Method: SimCluster (memory store, simulated time, hollow agents, one leader); the crash is a
// store wrapper whose writes fail after a budget; seeds are printed (FLOTILLA_SIM_SEED replays).
import t, { type Test } from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { Deletion } from '../../../node/src/api/server/deletion.ts'
import { ObjectStore, type ObjectBackend, type ResourceRef } from '../../../node/src/api/server/object-store.ts'
import { NAMESPACES, storedResources } from '../../../node/src/api/server/resource-refs.ts'
import { BUILTIN_REGISTRY } from '../../../node/src/api/discovery/resources.ts'
import { GarbageCollectorController } from '../../../node/src/controllers/manager/garbage-collector-controller.ts'
import { SharedInformers } from '../../../node/src/controllers/manager/shared-informers.ts'
import { controllerRefOf, formatTime, isBeingDeleted, metadataOf, nameOf, objectAt, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { DEPLOYMENTS, PODS } from '../../../node/src/controllers/plan.ts'
import { isReady, nodeOf, SimCluster, simSeed } from './sim-cluster.ts'

const GRACE_MS = 5000
const EVICTION_MS = 5000
const CONFIG_MAPS: ResourceRef = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }
const SECRETS: ResourceRef = { group: '', resource: 'secrets', kind: 'Secret', apiVersion: 'v1', namespaced: true }

async function newCluster(t: Test, seed: number, nodes: number): Promise<SimCluster> {
  const cluster = new SimCluster({ seed, manager: { nodeNotReadyGraceMs: GRACE_MS, podEvictionTimeoutMs: EVICTION_MS } })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (let index = 0; index < nodes; index++) await cluster.addNode({ name: `node-${String(index).padStart(2, '0')}`, zone: `zone-${index % 2}` })
  cluster.addManager('node-00', { isLeader: true, term: 1 })
  return cluster
}

async function exists(cluster: SimCluster, resource: ResourceRef, namespace: string | undefined, name: string): Promise<boolean> {
  try {
    await cluster.objects.get(resource, namespace, name)
    return true
  } catch {
    return false
  }
}

function ownerReference(owner: JsonObject, kind: string, apiVersion = 'v1', blockOwnerDeletion = false): JsonObject {
  return { apiVersion, kind, name: nameOf(owner), uid: uidOf(owner), ...(blockOwnerDeletion ? { blockOwnerDeletion: true } : {}) }
}

function configMap(name: string, ownerReferences: JsonObject[] = [], finalizers: string[] = []): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(ownerReferences.length > 0 ? { ownerReferences } : {}), ...(finalizers.length > 0 ? { finalizers } : {}) },
    data: { key: 'value' },
  }
}

/** A store whose writes fail once `budget` have gone through: the node serving a request dies. */
class CrashingBackend implements ObjectBackend {
  private readonly backend: ObjectBackend
  private budget: number

  constructor(backend: ObjectBackend, budget: number) {
    this.backend = backend
    this.budget = budget
  }

  readBarrier(): Promise<void> {
    return this.backend.readBarrier()
  }

  get(key: string): ReturnType<ObjectBackend['get']> {
    return this.backend.get(key)
  }

  range(prefix: string): ReturnType<ObjectBackend['range']> {
    return this.backend.range(prefix)
  }

  watch(request: Parameters<ObjectBackend['watch']>[0]): () => void {
    return this.backend.watch(request)
  }

  write(command: Parameters<ObjectBackend['write']>[0]): ReturnType<ObjectBackend['write']> {
    if (this.budget <= 0) return Promise.reject(new Error('the node serving the request died'))
    this.budget--
    return this.backend.write(command)
  }
}

t.test(`seed ${simSeed(8100)}: deleted pods terminate gracefully; on a dead node the pod GC finishes them`, async (t) => {
  const seed = simSeed(8100)
  const cluster = await newCluster(t, seed, 6)
  await cluster.createDeployment({ name: 'web', replicas: 6 })
  await cluster.runUntil('the deployment converges', 60_000, () => cluster.converged('web'))

  // On a live node: Terminating, replaced at once, then gone once the agent has stopped it.
  const first = (await cluster.podsOf('web')).find((pod) => nodeOf(pod) !== 'node-00')!
  const marked = await cluster.client.delete(PODS, 'default', nameOf(first), uidOf(first))
  t.notOk(marked.deleted, 'DELETE of a running pod keeps it')
  t.equal(metadataOf(marked.object)['deletionGracePeriodSeconds'], 30, 'Terminating with the default grace period')
  const goneAfterMs = await cluster.runUntil('the agent finishes the deletion', 5000, async () => !(await exists(cluster, PODS, 'default', nameOf(first))))
  t.ok(goneAfterMs < 2000, `its agent stopped and deleted it within the simulated stop (${goneAfterMs} ms)`)
  const killing = (await cluster.events()).filter((event) => event['reason'] === 'Killing' && objectAt(event['involvedObject'])['name'] === nameOf(first))
  t.ok(killing.length > 0, 'with the kubelet’s Killing event')
  await cluster.runUntil('the deployment is whole', 30_000, () => cluster.converged('web'))

  // On a dead node: nobody finishes the deletion until the pod GC does.
  const victimPod = (await cluster.podsOf('web')).find((pod) => nodeOf(pod) !== 'node-00')!
  const victim = nodeOf(victimPod)
  const killedAtMs = cluster.timers.monotonicMs()
  cluster.killNode(victim)
  await cluster.client.delete(PODS, 'default', nameOf(victimPod), uidOf(victimPod))
  await cluster.runUntil('a replacement runs while the old pod is Terminating', 10_000, async () => {
    const pods = await cluster.podsOf('web')
    const live = pods.filter((pod) => !isBeingDeleted(pod))
    return live.length === 6 && live.filter((pod) => nodeOf(pod) !== victim).every(isReady) && pods.some((pod) => uidOf(pod) === uidOf(victimPod))
  })
  t.pass('the ReplicaSet replaced the Terminating pod at once')
  const forcedAfterMs = await cluster.runUntil('the pod GC force-deletes the Terminating pod', 30_000, async () => !(await exists(cluster, PODS, 'default', nameOf(victimPod))))
  const sinceKillMs = cluster.timers.monotonicMs() - killedAtMs
  t.ok(sinceKillMs >= GRACE_MS + EVICTION_MS - 1000, `not before the node was NotReady for the eviction timeout (${sinceKillMs} ms after the kill)`)
  t.ok(sinceKillMs <= GRACE_MS + EVICTION_MS + 3000, `and soon after (${sinceKillMs} ms; ${forcedAfterMs} ms of waiting)`)
  t.match(cluster.log.join('\n'), new RegExp(`pod-garbage-collector: force-deleted pod default/${nameOf(victimPod)} \\(NodeLost\\)`), 'the force deletion is logged with its reason')
  await cluster.runUntil('the deployment is whole', 30_000, () => cluster.converged('web'))
})

t.test(`seed ${simSeed(8101)}: a namespace whose DELETE crashed mid-way still finishes`, async (t) => {
  const seed = simSeed(8101)
  const cluster = await newCluster(t, seed, 3)
  await cluster.client.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } })
  for (let index = 0; index < 6; index++) await cluster.client.create(CONFIG_MAPS, 'team', configMap(`settings-${index}`))
  await cluster.client.create(SECRETS, 'team', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'token' }, data: { token: 'c2VjcmV0' } })
  await cluster.createDeployment({ name: 'api', replicas: 2, namespace: 'team' })
  await cluster.runUntil('the team pods run', 30_000, async () => (await cluster.pods()).filter((pod) => metadataOf(pod)['namespace'] === 'team' && isReady(pod)).length === 2)

  // The node serving the DELETE dies after three writes: the namespace is marked and two objects go.
  const dying = new Deletion({ objects: new ObjectStore(new CrashingBackend(cluster.backend, 3), { nowIso: () => formatTime(cluster.timers.realtimeMs()) }), resources: storedResources(BUILTIN_REGISTRY), log: () => {} })
  // Its follow-ups fail from the fourth write on (logged, not answered): the work is left undone.
  await dying.delete(NAMESPACES, undefined, 'team', { dryRun: false, propagationPolicy: 'Background', gracePeriodSeconds: undefined, preconditions: {} }).catch(() => undefined)
  const namespace = await cluster.objects.get(NAMESPACES, undefined, 'team')
  t.ok(isBeingDeleted(namespace), 'the namespace is Terminating')
  const left = (await cluster.objects.listMany(storedResources(BUILTIN_REGISTRY).filter((resource) => resource.namespaced && resource.resource !== 'events'), 'team')).length
  t.ok(left > 0, `and still holds ${left} objects`)

  const tookMs = await cluster.runUntil('the namespace goes', 30_000, async () => !(await exists(cluster, NAMESPACES, undefined, 'team')))
  t.comment(`the namespace controller finished it ${tookMs} simulated ms after the crash`)
  t.equal((await cluster.pods()).filter((pod) => metadataOf(pod)['namespace'] === 'team').length, 0, 'its pods terminated and went')
  t.equal((await cluster.objects.list(CONFIG_MAPS, 'team')).items.length, 0, 'and its other contents with them')
})

t.test(`seed ${simSeed(8102)}: the garbage collector collects what dangles and finishes interrupted deletions`, async (t) => {
  const seed = simSeed(8102)
  const cluster = await newCluster(t, seed, 3)
  const owner = await cluster.client.create(CONFIG_MAPS, 'default', configMap('owner'))
  const keeper = await cluster.client.create(CONFIG_MAPS, 'default', configMap('keeper'))
  await cluster.client.create(CONFIG_MAPS, 'default', configMap('child', [ownerReference(owner, 'ConfigMap')]))
  await cluster.client.create(CONFIG_MAPS, 'default', configMap('grandchild', [ownerReference(await cluster.objects.get(CONFIG_MAPS, 'default', 'child'), 'ConfigMap')]))
  await cluster.client.create(CONFIG_MAPS, 'default', configMap('shared', [ownerReference(owner, 'ConfigMap'), ownerReference(keeper, 'ConfigMap')]))
  await cluster.client.create(CONFIG_MAPS, 'default', configMap('namesake', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'keeper', uid: 'a-previous-keeper' }]))
  await cluster.client.create(CONFIG_MAPS, 'default', configMap('custom', [{ apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', uid: 'widget-uid' }]))
  await cluster.createDeployment({ name: 'web', replicas: 3 })
  await cluster.runUntil('the deployment converges', 30_000, () => cluster.converged('web'))
  await cluster.step()
  t.ok(await exists(cluster, CONFIG_MAPS, 'default', 'child'), 'dependents of a live owner stay')
  t.notOk(await exists(cluster, CONFIG_MAPS, 'default', 'namesake'), 'a dependent of a namesake with another uid (a gone owner) is collected')

  // Owners removed without follow-ups, as when the node serving the DELETE dies right after it.
  await cluster.objects.delete(CONFIG_MAPS, 'default', 'owner')
  const deployment = await cluster.deployment('web')
  await cluster.objects.delete(DEPLOYMENTS, 'default', 'web')
  await cluster.runUntil('the dangling dependents are collected', 30_000, async () => !(await exists(cluster, CONFIG_MAPS, 'default', 'child')) && !(await exists(cluster, CONFIG_MAPS, 'default', 'grandchild')))
  t.pass('a dependent whose owner is gone goes, and its own dependent after it')
  const shared = await cluster.objects.get(CONFIG_MAPS, 'default', 'shared')
  t.same((metadataOf(shared)['ownerReferences'] as JsonObject[]).map((reference) => reference['name']), ['keeper'], 'a dependent with a live owner only loses the dangling reference')
  t.ok(await exists(cluster, CONFIG_MAPS, 'default', 'custom'), 'an owner of an unknown kind is never taken for gone')
  await cluster.runUntil('the Deployment’s ReplicaSet and pods are collected', 30_000, async () => (await cluster.pods()).every((pod) => controllerRefOf(pod) === undefined || metadataOf(pod)['namespace'] !== 'default'))
  t.ok((await cluster.objects.list({ group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', apiVersion: 'apps/v1', namespaced: true }, 'default')).items.every((rs) => controllerRefOf(rs)?.['uid'] !== uidOf(deployment)), 'no ReplicaSet of the removed Deployment is left')

  // A foreground deletion interrupted after the mark: the collector continues it.
  const parent = await cluster.client.create(CONFIG_MAPS, 'default', configMap('parent'))
  await cluster.client.create(CONFIG_MAPS, 'default', configMap('blocker', [ownerReference(parent, 'ConfigMap', 'v1', true)]))
  await cluster.objects.guaranteedUpdate(CONFIG_MAPS, 'default', 'parent', (object) => ({
    ...object,
    metadata: { ...metadataOf(object), deletionTimestamp: formatTime(cluster.timers.realtimeMs()), deletionGracePeriodSeconds: 0, finalizers: ['foregroundDeletion'] },
  }))
  await cluster.runUntil('the foreground deletion finishes', 30_000, async () => !(await exists(cluster, CONFIG_MAPS, 'default', 'parent')))
  t.notOk(await exists(cluster, CONFIG_MAPS, 'default', 'blocker'), 'its blocking dependent went first, then the owner')

  // An owner deleted with the orphan finalizer: its dependents are released, then it goes.
  const orphaner = await cluster.client.create(CONFIG_MAPS, 'default', configMap('orphaner', [], ['orphan']))
  await cluster.client.create(CONFIG_MAPS, 'default', configMap('released', [ownerReference(orphaner, 'ConfigMap')]))
  await cluster.client.delete(CONFIG_MAPS, 'default', 'orphaner', uidOf(orphaner))
  await cluster.runUntil('the orphan finalizer is finished', 30_000, async () => !(await exists(cluster, CONFIG_MAPS, 'default', 'orphaner')))
  const released = await cluster.objects.get(CONFIG_MAPS, 'default', 'released')
  t.equal(metadataOf(released)['ownerReferences'], undefined, 'the dependent stays, without its reference')
  t.ok(cluster.log.some((line) => line.includes('garbage-collector: deleted configmaps default/child')), 'collections are logged')
})

t.test('the garbage collector decides on the store, not on a cache that has not seen the owner', async (t) => {
  const cluster = new SimCluster({ seed: simSeed(8103) })
  t.teardown(() => cluster.stop())
  await cluster.start()
  const log: string[] = []
  const informers = new SharedInformers({ objects: cluster.objects, timers: cluster.timers, log: (line) => log.push(line) })
  const collector = new GarbageCollectorController({ informers, objects: cluster.objects, timers: cluster.timers, log: (line) => log.push(line), resources: [CONFIG_MAPS, DEPLOYMENTS] })
  t.teardown(() => {
    for (const informer of collector.informers) informer.stop()
    informers.stop()
  })
  const owner = await cluster.client.create(DEPLOYMENTS, 'default', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'owner' },
    spec: { replicas: 0, selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'x', image: 'x' }] } } },
  })
  await cluster.client.create(CONFIG_MAPS, 'default', configMap('dependent', [ownerReference(owner, 'Deployment', 'apps/v1')]))
  // Only the dependents' informer runs: the Deployment cache is empty, as if it lagged behind.
  await Promise.all(collector.informers.map((informer) => informer.start()))
  t.equal(informers.deployments.size, 0, 'the owner is not in the cache')
  await collector.sync('/configmaps|default/dependent')
  t.ok(await exists(cluster, CONFIG_MAPS, 'default', 'dependent'), 'the dependent of an owner the store holds stays')
  await cluster.objects.delete(DEPLOYMENTS, 'default', 'owner')
  await collector.sync('/configmaps|default/dependent')
  t.notOk(await exists(cluster, CONFIG_MAPS, 'default', 'dependent'), 'once the owner is gone from the store, the dependent is collected')
})
