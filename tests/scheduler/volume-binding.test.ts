// Goal: VolumeBinding places a pod only where its claims' volumes can be: a missing or deleting
// claim fits no node (kube's message), a bound claim pins the pod to the nodes its volume's node
// affinity admits, an unbound WaitForFirstConsumer claim fits any node until a pod of it is placed
// (then only that node, also within one batch), and an unbound Immediate (or classless) claim fits
// nowhere. The snapshot follows claims, volumes and classes as they change. `schedule` of a pod
// whose claim is bound to a local volume lands on the volume's node, with every other node free
// and roomier. On the leader, the scheduler loop feeds the snapshot from the claim, volume and
// class informers: a pod waiting for a missing claim is placed once the claim is created.
// Method: crafted snapshots; the plugin alone, then the default profile end to end; then a
// SimCluster (simulated time, hollow agents) for the loop.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import {
  REASON_BIND_CONFLICT,
  REASON_UNBOUND_IMMEDIATE,
  REASON_VOLUME_MISSING,
  REASON_VOLUME_NODE_CONFLICT,
  reasonClaimNotFound,
  reasonClaimTerminating,
  volumeBindingPlugin,
} from '../../node/src/scheduler/plugins/volume-binding.ts'
import { schedule, scheduleBatch } from '../../node/src/scheduler/schedule.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { acceptedNodes, filterResults, makeNode, makePod } from './fixtures.ts'
import { PERSISTENT_VOLUMES } from '../../node/src/controllers/manager/shared-informers.ts'
import { listAt, objectAt, statusOf } from '../../node/src/controllers/object-fields.ts'
import { PODS } from '../../node/src/controllers/plan.ts'
import { PERSISTENT_VOLUME_CLAIMS } from '../../node/src/controllers/statefulset.ts'
import { nodeOf as simNodeOf, SimCluster, simSeed } from '../controllers/manager/sim-cluster.ts'

function claim(name: string, spec: JsonObject = {}, metadata: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, ...metadata },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
  }
}

function localVolume(name: string, node: string): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      hostPath: { path: `/var/lib/flotilla/local-path/${name}` },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } },
    },
  }
}

function storageClass(name: string, volumeBindingMode: string): JsonObject {
  return { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner: 'flotilla.dev/local-path', reclaimPolicy: 'Delete', volumeBindingMode }
}

/** A pod mounting the claims (persistentVolumeClaim volumes). */
function podWithClaims(name: string, claimNames: readonly string[], options: Parameters<typeof makePod>[1] = {}): JsonObject {
  const pod = makePod(name, options)
  ;(pod['spec'] as JsonObject)['volumes'] = claimNames.map((claimName, index) => ({ name: `v${index}`, persistentVolumeClaim: { claimName } }))
  return pod
}

function nodeOf(result: ReturnType<typeof schedule>): string | undefined {
  return 'nodeName' in result ? result.nodeName : undefined
}

const NODES = [makeNode('a'), makeNode('b'), makeNode('c')]
const CLASSES = [storageClass('local-path', 'WaitForFirstConsumer'), storageClass('eager', 'Immediate')]

t.test('a pod without claims skips the plugin', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: NODES })
  t.same([...filterResults(volumeBindingPlugin, makePod('p'), snapshot).values()], ['skip', 'skip', 'skip'])
})

t.test('a missing or deleting claim fits no node, with kube-scheduler\'s message', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: NODES, storageClasses: CLASSES })
  const missing = filterResults(volumeBindingPlugin, podWithClaims('p', ['data']), snapshot)
  t.same(acceptedNodes(missing), [])
  t.same(missing.get('a'), [reasonClaimNotFound('data')])
  t.equal(reasonClaimNotFound('data'), 'persistentvolumeclaim "data" not found')
  snapshot.upsertClaim(claim('data', { storageClassName: 'local-path' }, { deletionTimestamp: '2024-01-01T00:00:00Z' }))
  t.same(filterResults(volumeBindingPlugin, podWithClaims('p', ['data']), snapshot).get('b'), [reasonClaimTerminating('data')])
  snapshot.removeClaim('default/data')
  t.same(filterResults(volumeBindingPlugin, podWithClaims('p', ['data']), snapshot).get('b'), [reasonClaimNotFound('data')], 'removing the claim forgets it')
  const otherNamespace = podWithClaims('q', ['data'], { namespace: 'team-b' })
  snapshot.upsertClaim(claim('data', { storageClassName: 'local-path' }))
  t.same(acceptedNodes(filterResults(volumeBindingPlugin, podWithClaims('p', ['data']), snapshot)), ['a', 'b', 'c'])
  t.same(acceptedNodes(filterResults(volumeBindingPlugin, otherNamespace, snapshot)), [], 'claims are looked up in the pod\'s namespace')
})

t.test('a bound claim admits only the nodes its volume\'s node affinity matches', async (t) => {
  const snapshot = ClusterSnapshot.from({
    nodes: NODES,
    storageClasses: CLASSES,
    claims: [claim('data', { storageClassName: 'local-path', volumeName: 'pvc-1' }), claim('shared', { volumeName: 'nfs' }), claim('lost', { volumeName: 'gone' })],
    persistentVolumes: [localVolume('pvc-1', 'b'), { metadata: { name: 'nfs' }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteMany'], nfs: { server: 'x', path: '/' } } }],
  })
  const results = filterResults(volumeBindingPlugin, podWithClaims('p', ['data']), snapshot)
  t.same(acceptedNodes(results), ['b'])
  t.same(results.get('a'), [REASON_VOLUME_NODE_CONFLICT])
  t.equal(REASON_VOLUME_NODE_CONFLICT, 'node(s) had volume node affinity conflict')
  t.same([...filterResults(volumeBindingPlugin, podWithClaims('p', ['shared']), snapshot).values()], ['skip', 'skip', 'skip'], 'a volume without node affinity is reachable everywhere')
  t.same(filterResults(volumeBindingPlugin, podWithClaims('p', ['lost']), snapshot).get('c'), [REASON_VOLUME_MISSING])
  snapshot.upsertPersistentVolume(localVolume('pvc-1', 'c'))
  t.same(acceptedNodes(filterResults(volumeBindingPlugin, podWithClaims('p', ['data']), snapshot)), ['c'], 'the snapshot follows volume updates')
  snapshot.upsertPersistentVolume(localVolume('pvc-2', 'a'))
  snapshot.upsertClaim(claim('logs', { storageClassName: 'local-path', volumeName: 'pvc-2' }))
  t.same(acceptedNodes(filterResults(volumeBindingPlugin, podWithClaims('p', ['data', 'logs']), snapshot)), [], 'two volumes on two nodes: nowhere')
  snapshot.removePersistentVolume('pvc-2')
  t.same(filterResults(volumeBindingPlugin, podWithClaims('p', ['logs']), snapshot).get('a'), [REASON_VOLUME_MISSING])
})

t.test('unbound claims: WaitForFirstConsumer fits anywhere, Immediate and no class nowhere', async (t) => {
  const snapshot = ClusterSnapshot.from({
    nodes: NODES,
    storageClasses: CLASSES,
    claims: [claim('late', { storageClassName: 'local-path' }), claim('eager', { storageClassName: 'eager' }), claim('classless', { storageClassName: '' }), claim('unknown', { storageClassName: 'fast' })],
  })
  t.same([...filterResults(volumeBindingPlugin, podWithClaims('p', ['late']), snapshot).values()], ['skip', 'skip', 'skip'])
  for (const name of ['eager', 'classless', 'unknown']) {
    const results = filterResults(volumeBindingPlugin, podWithClaims('p', [name]), snapshot)
    t.same(acceptedNodes(results), [], `${name}: no node`)
    t.same(results.get('a'), [REASON_UNBOUND_IMMEDIATE], `${name}: kube's reason`)
  }
  snapshot.upsertStorageClass(storageClass('fast', 'WaitForFirstConsumer'))
  t.same(acceptedNodes(filterResults(volumeBindingPlugin, podWithClaims('p', ['unknown']), snapshot)), ['a', 'b', 'c'], 'the snapshot follows classes')
  snapshot.removeStorageClass('fast')
  t.same(acceptedNodes(filterResults(volumeBindingPlugin, podWithClaims('p', ['unknown']), snapshot)), [])
})

t.test('an unbound WaitForFirstConsumer claim follows the node of its placed pods or its selected node', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: NODES, storageClasses: CLASSES, claims: [claim('data', { storageClassName: 'local-path' })] })
  snapshot.assumePod(podWithClaims('first', ['data']), 'c')
  const results = filterResults(volumeBindingPlugin, podWithClaims('second', ['data']), snapshot)
  t.same(acceptedNodes(results), ['c'])
  t.same(results.get('a'), [REASON_BIND_CONFLICT])
  snapshot.removePod('default/first')
  t.same(acceptedNodes(filterResults(volumeBindingPlugin, podWithClaims('second', ['data']), snapshot)), ['a', 'b', 'c'], 'gone with the pod')
  snapshot.upsertClaim(claim('data', { storageClassName: 'local-path' }, { annotations: { 'volume.kubernetes.io/selected-node': 'b' } }))
  t.same(acceptedNodes(filterResults(volumeBindingPlugin, podWithClaims('second', ['data']), snapshot)), ['b'])
})

t.test('one batch: two pods of one unbound claim land on one node', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: NODES, storageClasses: CLASSES, claims: [claim('data', { storageClassName: 'local-path' })] })
  // Requests push the second pod away from the first one's node unless the claim holds it there.
  const result = scheduleBatch([podWithClaims('one', ['data'], { cpu: '1' }), podWithClaims('two', ['data'], { cpu: '1' })], snapshot, 7)
  t.equal(result.failures.length, 0)
  const nodes = result.bindings.map((binding) => binding.nodeName)
  t.equal(nodes.length, 2)
  t.equal(nodes[0], nodes[1], `both on ${nodes[0]}`)
})

t.test('schedule: a pod whose claim is bound to a local volume lands on the volume\'s node', async (t) => {
  // The volume's node is the busiest, so every score prefers the others.
  const busy = makeNode('b', { cpu: '2', memory: '2Gi' })
  const snapshot = ClusterSnapshot.from({
    nodes: [makeNode('a', { cpu: '16', memory: '64Gi' }), busy, makeNode('c', { cpu: '16', memory: '64Gi' })],
    storageClasses: CLASSES,
    claims: [claim('data', { storageClassName: 'local-path', volumeName: 'pvc-1' })],
    persistentVolumes: [localVolume('pvc-1', 'b')],
  })
  snapshot.assumePod(makePod('neighbour', { cpu: '1', memory: '1Gi' }), 'b')
  for (let seed = 1; seed <= 5; seed++) {
    const result = schedule(podWithClaims(`db-${seed}`, ['data'], { cpu: '500m' }), snapshot, new RandomXoshiro(seed))
    t.equal(nodeOf(result), 'b', `seed ${seed}`)
    const withoutClaim = schedule(makePod(`web-${seed}`, { cpu: '500m' }), snapshot, new RandomXoshiro(seed))
    t.not(nodeOf(withoutClaim), 'b', `seed ${seed}: the same pod without the claim goes elsewhere`)
  }
  const unfit = schedule(podWithClaims('big', ['data'], { cpu: '4' }), snapshot, new RandomXoshiro(1))
  t.ok('unschedulable' in unfit)
  if ('unschedulable' in unfit) t.equal(unfit.unschedulable.message, '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had volume node affinity conflict.')
  const missing = schedule(podWithClaims('orphan', ['nope']), snapshot, new RandomXoshiro(1))
  if ('unschedulable' in missing) t.equal(missing.unschedulable.message, '0/3 nodes are available: 3 persistentvolumeclaim "nope" not found.')
  else t.fail('a pod of a missing claim must not be placed')
})

t.test(`seed ${simSeed(7300)}: the scheduler loop follows claims and volumes`, async (t) => {
  const cluster = new SimCluster({ seed: simSeed(7300) })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (const name of ['node-a', 'node-b', 'node-c']) await cluster.addNode({ name, zone: 'z1' })
  cluster.addManager('node-a', { isLeader: true, term: 1 })
  const podScheduled = (pod: JsonObject | undefined): JsonObject | undefined =>
    listAt(statusOf(pod ?? {})['conditions']).map(objectAt).find((condition) => condition['type'] === 'PodScheduled')
  const podNamed = async (name: string): Promise<JsonObject | undefined> => (await cluster.pods()).find((pod) => objectAt(pod['metadata'])['name'] === name)

  await cluster.client.create(PODS, 'default', podWithClaims('db', ['data']))
  await cluster.runUntil('the pod waits for its claim', 10_000, async () => podScheduled(await podNamed('db'))?.['status'] === 'False')
  t.equal(podScheduled(await podNamed('db'))?.['message'], '0/3 nodes are available: 3 persistentvolumeclaim "data" not found.')
  await cluster.client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('data'))
  const tookMs = await cluster.runUntil('the pod is placed once its claim exists', 15_000, async () => simNodeOf((await podNamed('db')) ?? {}) !== '')
  t.ok(tookMs <= 11_000, `placed within the back-off cap (${tookMs} ms)`)

  // A claim bound to a local volume on node-c takes its pods there.
  await cluster.client.create(PERSISTENT_VOLUMES, undefined, localVolume('pvc-logs', 'node-c'))
  await cluster.client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('logs', { storageClassName: 'local-path', volumeName: 'pvc-logs' }))
  for (let i = 0; i < 4; i++) await cluster.client.create(PODS, 'default', podWithClaims(`reader-${i}`, ['logs']))
  await cluster.runUntil('the readers are placed', 10_000, async () => {
    const readers = (await cluster.pods()).filter((pod) => String(objectAt(pod['metadata'])['name']).startsWith('reader-'))
    return readers.length === 4 && readers.every((pod) => simNodeOf(pod) !== '')
  })
  const nodes = (await cluster.pods()).filter((pod) => String(objectAt(pod['metadata'])['name']).startsWith('reader-')).map(simNodeOf)
  t.same(nodes, ['node-c', 'node-c', 'node-c', 'node-c'], 'all on the volume\'s node')
})
