// Goal: the snapshot's incremental bookkeeping equals a recount from scratch: pods bound, assumed,
// confirmed, finished and deleted; nodes leaving and relabelled; memoized count tables bounded and
// exact. Method: scripted sequences, then a seeded random sequence checked against brute force.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { labelSelectorFromObject } from '../../node/src/api/machinery/selectors.ts'
import { selectorMatcher } from '../../node/src/scheduler/pod-matcher.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { makeNode, makeNodes, makePod } from './fixtures.ts'

function bound(name: string, nodeName: string, options: Parameters<typeof makePod>[1] = {}): JsonObject {
  return makePod(name, { ...options, nodeName, phase: options.phase ?? 'Running' })
}

function appMatcher(app: string) {
  const selectorObject = { matchLabels: { app } }
  return selectorMatcher({ scope: { names: new Set(['default']), selector: undefined }, selector: labelSelectorFromObject(selectorObject), selectorKey: `app=${app}`, skipTerminating: false })
}

t.test('upsertPod places bound pods, ignores unbound ones and drops finished ones', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a')] })
  snapshot.upsertPod(makePod('pending', { cpu: '1' }))
  t.equal(snapshot.podCount, 0, 'an unbound pod is not placed')
  snapshot.upsertPod(bound('running', 'a', { cpu: '1' }))
  t.equal(snapshot.nodeInfo('a')?.requested.milliCpu, 1000)
  snapshot.upsertPod(bound('running', 'a', { cpu: '1', phase: 'Succeeded' }))
  t.equal(snapshot.podCount, 0, 'a finished pod frees its node')
  t.equal(snapshot.nodeInfo('a')?.requested.milliCpu, 0)
})

t.test('an assumed pod confirmed by its bound object is counted once', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a'), makeNode('b')] })
  const pod = makePod('web', { cpu: '500m', labels: { app: 'web' } })
  snapshot.assumePod(pod, 'a')
  const table = snapshot.matchingPodCounts(appMatcher('web'))
  snapshot.upsertPod(bound('web', 'a', { cpu: '500m', labels: { app: 'web' } }))
  t.equal(snapshot.podCount, 1)
  t.equal(snapshot.nodeInfo('a')?.requested.milliCpu, 500)
  t.equal(table.counts.total, 1)
  // The binding landed elsewhere after all (another leader decided first): the newer truth wins.
  snapshot.upsertPod(bound('web', 'b', { cpu: '500m', labels: { app: 'web' } }))
  t.equal(snapshot.nodeInfo('a')?.requested.milliCpu, 0)
  t.equal(snapshot.nodeInfo('b')?.requested.milliCpu, 500)
  t.same([...table.counts.perNode], [['b', 1]])
  snapshot.removePod('default/web')
  t.equal(table.counts.total, 0, 'a failed binding is forgotten')
})

t.test('a departed node keeps its pods as a ghost until they go, and is not offered', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a'), makeNode('b')], pods: [bound('p', 'a', { cpu: '1' })] })
  snapshot.removeNode('a')
  t.same(snapshot.nodes().map((node) => node.name), ['b'])
  t.equal(snapshot.nodeInfo('a')?.pods.size, 1, 'the pod is still accounted')
  snapshot.upsertNode(makeNode('a'))
  t.equal(snapshot.nodeInfo('a')?.requested.milliCpu, 1000, 'the node comes back with its pod')
  snapshot.removeNode('a')
  snapshot.removePod('default/p')
  t.equal(snapshot.nodeInfo('a'), undefined, 'an empty ghost disappears')
  snapshot.upsertPod(bound('orphan', 'never-seen', { cpu: '1' }))
  t.same(snapshot.nodes().map((node) => node.name), ['b'], 'a pod bound to an unknown node does not create a node')
})

t.test('labelsVersion moves on label changes, not on status heartbeats', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a', { zone: 'z1' })] })
  const version = snapshot.labelsVersion
  snapshot.upsertNode(makeNode('a', { zone: 'z1', cpu: '8' }))
  t.equal(snapshot.labelsVersion, version, 'same labels')
  t.equal(snapshot.nodeInfo('a')?.allocatable.milliCpu, 8000, 'but the new allocatable is read')
  snapshot.upsertNode(makeNode('a', { zone: 'z2' }))
  t.not(snapshot.labelsVersion, version)
  t.same([...snapshot.labelValues('topology.kubernetes.io/zone')], [['z2', 1]])
  t.equal(snapshot.nodesWithLabel('topology.kubernetes.io/zone'), 1)
})

t.test('memoized tables are bounded and rebuilt exactly after eviction', async (t) => {
  const snapshot = new ClusterSnapshot({ matchingPodCountsMax: 2 })
  snapshot.upsertNode(makeNode('a'))
  for (const app of ['x', 'y', 'z']) snapshot.upsertPod(bound(`pod-${app}`, 'a', { labels: { app } }))
  for (const app of ['x', 'y', 'z']) t.equal(snapshot.matchingPodCounts(appMatcher(app)).counts.total, 1)
  snapshot.upsertPod(bound('pod-x2', 'a', { labels: { app: 'x' } }))
  t.equal(snapshot.matchingPodCounts(appMatcher('x')).counts.total, 2, 'x was evicted and is rebuilt with the new pod')
})

t.test('a bound pod with an unparseable affinity still counts its resources', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a')] })
  const pod = bound('odd', 'a', { cpu: '1', affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchExpressions: [{ key: 'k', operator: 'Bogus' }] }, topologyKey: 'kubernetes.io/hostname' }] } } })
  snapshot.upsertPod(pod)
  t.equal(snapshot.nodeInfo('a')?.requested.milliCpu, 1000)
  t.ok(snapshot.existingTerms.isEmpty('requiredAntiAffinity'))
})

t.test('random sequences: incremental counts and totals equal a recount from scratch', async (t) => {
  for (let seed = 1; seed <= 5; seed++) {
    const random = new RandomXoshiro(seed)
    const snapshot = ClusterSnapshot.from({ nodes: makeNodes(6, { zones: ['z1', 'z2'] }) })
    const zone = 'topology.kubernetes.io/zone'
    const table = snapshot.matchingPodCounts(appMatcher('web'))
    table.counts.domains(zone, snapshot)
    for (let step = 0; step < 300; step++) {
      const name = `p-${random.int(0, 40)}`
      const action = random.int(0, 10)
      if (action < 6) snapshot.assumePod(makePod(name, { labels: { app: random.chance(0.5) ? 'web' : 'db' }, cpu: `${random.int(1, 5) * 100}m` }), `node-${random.int(0, 6)}`)
      else if (action < 9) snapshot.removePod(`default/${name}`)
      else snapshot.upsertNode(makeNode(`node-${random.int(0, 6)}`, { zone: random.chance(0.5) ? 'z1' : 'z3' }))
    }
    const pods = [...snapshot.pods()]
    const web = pods.filter((pod) => pod.labels.app === 'web')
    t.equal(table.counts.total, web.length, `seed ${seed}: total`)
    const expectedDomains = new Map<string, number>()
    for (const pod of web) {
      const value = snapshot.labelsOf(pod.nodeName)?.[zone]
      if (value !== undefined) expectedDomains.set(value, (expectedDomains.get(value) ?? 0) + 1)
    }
    t.same(new Map([...table.counts.domains(zone, snapshot)].sort()), new Map([...expectedDomains].sort()), `seed ${seed}: per-zone counts`)
    for (const node of snapshot.nodes()) {
      const onNode = pods.filter((pod) => pod.nodeName === node.name)
      t.equal(node.requested.milliCpu, onNode.reduce((sum, pod) => sum + pod.requests.milliCpu, 0), `seed ${seed}: ${node.name} cpu`)
      t.equal(node.pods.size, onNode.length)
    }
  }
})
