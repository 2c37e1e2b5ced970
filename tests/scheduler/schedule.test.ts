// Goal: `schedule` and `scheduleBatch` pick nodes the way the plugins rank them, explain failures
// with kube-scheduler's message, never over-commit within a batch, and decide the same way for the
// same seed. Method: small crafted clusters; the issue's own example message; repeated runs with
// fixed seeds.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { fitErrorMessage, NO_NODES_AVAILABLE_MESSAGE } from '../../node/src/scheduler/fit-error.ts'
import { DEFAULT_SCHEDULER_CONFIG, schedulerProfile } from '../../node/src/scheduler/profile.ts'
import { feasibleNodesToFind, schedule, scheduleBatch, type ScheduleResult } from '../../node/src/scheduler/schedule.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { makeNode, makeNodes, makePod } from './fixtures.ts'

function failureMessage(result: ScheduleResult): string | undefined {
  return 'unschedulable' in result ? result.unschedulable.message : undefined
}

function nodeOf(result: ScheduleResult): string | undefined {
  return 'nodeName' in result ? result.nodeName : undefined
}

t.test('the failure message of the issue: one tainted node, two short of cpu', async (t) => {
  const snapshot = ClusterSnapshot.from({
    nodes: [makeNode('n1', { taints: [{ key: 'x', value: 'y', effect: 'NoSchedule' }] }), makeNode('n2', { cpu: '1' }), makeNode('n3', { cpu: '1' })],
  })
  const result = schedule(makePod('p', { cpu: '2' }), snapshot, new RandomXoshiro(1))
  t.equal(failureMessage(result), '0/3 nodes are available: 1 node(s) had untolerated taint {x: y}, 2 Insufficient cpu.')
  if ('unschedulable' in result) {
    t.same(Object.fromEntries(result.unschedulable.reasons), { 'node(s) had untolerated taint {x: y}': 1, 'Insufficient cpu': 2 })
    t.same(result.unschedulable.rejections.get('n1')?.plugin, 'TaintToleration')
  }
})

t.test('a node short of several resources counts under each; only the first failing filter counts', async (t) => {
  const snapshot = ClusterSnapshot.from({
    nodes: [makeNode('tiny', { cpu: '1', memory: '1Gi' }), makeNode('cordoned', { cpu: '1', memory: '1Gi', unschedulable: true })],
  })
  const result = schedule(makePod('p', { cpu: '2', memory: '2Gi' }), snapshot, new RandomXoshiro(1))
  t.equal(failureMessage(result), '0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) were unschedulable.')
})

t.test('fitErrorMessage sorts "count reason" strings as strings, as kube does', async (t) => {
  t.equal(fitErrorMessage(12, new Map([['b', 2], ['a', 10]])), '0/12 nodes are available: 10 a, 2 b.')
  t.equal(fitErrorMessage(0, new Map()), NO_NODES_AVAILABLE_MESSAGE)
})

t.test('an empty cluster: no nodes available to schedule pods', async (t) => {
  t.equal(failureMessage(schedule(makePod('p'), new ClusterSnapshot(), new RandomXoshiro(1))), 'no nodes available to schedule pods')
})

t.test('a pod with an invalid selector is unschedulable with the parse error', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('n')] })
  const pod = makePod('p', { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] }, topologyKey: 'kubernetes.io/hostname' }] } } })
  const message = failureMessage(schedule(pod, snapshot, new RandomXoshiro(1)))
  t.match(message, /^Cannot parse labelSelector: /)
  const batch = scheduleBatch([pod, makePod('ok')], snapshot, 1)
  t.equal(batch.failures.length, 1)
  t.equal(batch.failures[0]?.key, 'default/p')
  t.equal(batch.bindings[0]?.nodeName, 'n', 'the rest of the batch goes on')
})

t.test('the highest weighted score wins', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('busy'), makeNode('idle'), makeNode('preferred', { labels: { disk: 'ssd' } })] })
  snapshot.assumePod(makePod('load', { cpu: '3', memory: '6Gi' }), 'busy')
  const preferring = makePod('q', {
    cpu: '100m',
    affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } }] } },
  })
  for (let seed = 0; seed < 10; seed++) t.equal(nodeOf(schedule(preferring, snapshot, new RandomXoshiro(seed))), 'preferred', `seed ${seed}`)
  const plain = makePod('r', { cpu: '100m', memory: '100Mi' })
  for (let seed = 0; seed < 10; seed++) t.not(nodeOf(schedule(plain, snapshot, new RandomXoshiro(seed))), 'busy', `LeastAllocated avoids the busy node, seed ${seed}`)
})

t.test('ties are broken by the Random, over name-sorted nodes, whatever the insertion order', async (t) => {
  const nodes = makeNodes(8)
  const forward = ClusterSnapshot.from({ nodes })
  const backward = ClusterSnapshot.from({ nodes: [...nodes].reverse() })
  const chosen = new Set<string>()
  for (let seed = 0; seed < 40; seed++) {
    const a = nodeOf(schedule(makePod('p'), forward, new RandomXoshiro(seed)))
    const b = nodeOf(schedule(makePod('p'), backward, new RandomXoshiro(seed)))
    t.equal(a, b, `seed ${seed}: same node whatever the insertion order`)
    if (a !== undefined) chosen.add(a)
  }
  t.ok(chosen.size > 1, `different seeds break the tie differently (${[...chosen].sort().join(', ')})`)
})

function bindingsOf(seed: number, pods: readonly JsonObject[]): string[] {
  const snapshot = ClusterSnapshot.from({ nodes: makeNodes(20, { zones: ['z1', 'z2', 'z3'] }) })
  const result = scheduleBatch(pods, snapshot, seed)
  return result.bindings.map((binding) => `${binding.pod.name}@${binding.nodeName}`)
}

t.test('scheduleBatch is deterministic for a seed and varies with it', async (t) => {
  const pods = Array.from({ length: 30 }, (_, i) => makePod(`web-${i}`, { labels: { app: 'web' }, cpu: '100m', memory: '64Mi' }))
  const first = bindingsOf(7, pods)
  t.same(bindingsOf(7, pods), first, 'same seed, same placements')
  t.equal(first.length, 30)
  t.notSame(bindingsOf(8, pods), first, 'another seed breaks ties differently')
})

t.test('scheduleBatch assumes each placement: it never over-commits and reports the rest', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a', { cpu: '1' }), makeNode('b', { cpu: '1' }), makeNode('c', { cpu: '1' })] })
  const pods = Array.from({ length: 7 }, (_, i) => makePod(`p-${i}`, { cpu: '500m' }))
  const result = scheduleBatch(pods, snapshot, 3)
  t.equal(result.bindings.length, 6)
  t.same(result.failures.map((failure) => [failure.key, failure.failure.message]), [['default/p-6', '0/3 nodes are available: 3 Insufficient cpu.']])
  for (const node of snapshot.nodes()) t.equal(node.requested.milliCpu, 1000, `${node.name} is exactly full`)
  t.equal(snapshot.podCount, 6, 'the snapshot keeps the assumed pods')
})

t.test('MostAllocated packs pods onto as few nodes as possible', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: makeNodes(4, { cpu: '2', memory: '4Gi' }) })
  const pods = Array.from({ length: 8 }, (_, i) => makePod(`p-${i}`, { cpu: '500m', memory: '1Gi' }))
  const result = scheduleBatch(pods, snapshot, 1, schedulerProfile({ scoringStrategy: 'MostAllocated' }))
  const used = new Set(result.bindings.map((binding) => binding.nodeName))
  t.equal(used.size, 2, `8 half-core pods fill 2 two-core nodes (${[...used].join(', ')})`)
  const spread = scheduleBatch(pods.map((pod) => ({ ...pod, metadata: { ...(pod.metadata as JsonObject), name: `s-${(pod.metadata as JsonObject).name as string}` } })), ClusterSnapshot.from({ nodes: makeNodes(4, { cpu: '2', memory: '4Gi' }) }), 1)
  t.equal(new Set(spread.bindings.map((binding) => binding.nodeName)).size, 4, 'LeastAllocated uses all 4')
})

t.test('a pod that names its node goes there or nowhere', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: makeNodes(3) })
  t.equal(nodeOf(schedule(makePod('p', { nodeName: 'node-1' }), snapshot, new RandomXoshiro(1))), 'node-1')
  t.equal(failureMessage(schedule(makePod('p', { nodeName: 'elsewhere' }), snapshot, new RandomXoshiro(1))), "0/3 nodes are available: 3 node(s) didn't match the requested node name.")
})

t.test('feasibleNodesToFind: all nodes by default, kube’s adaptive rule at 0, a floor of 100', async (t) => {
  const config = (percentageOfNodesToScore: number) => ({ ...DEFAULT_SCHEDULER_CONFIG, percentageOfNodesToScore })
  t.equal(feasibleNodesToFind(config(100), 5000), 5000)
  t.equal(feasibleNodesToFind(config(0), 50), 50, 'below the floor: every node')
  t.equal(feasibleNodesToFind(config(0), 1000), 420, '50% − 1000/125 = 42%')
  t.equal(feasibleNodesToFind(config(0), 5000), 500, '50% − 40 = 10%')
  t.equal(feasibleNodesToFind(config(0), 10000), 500, 'at least 5%')
  t.equal(feasibleNodesToFind(config(10), 500), 100, 'never under minFeasibleNodesToFind')
})

t.test('sampling stops after enough feasible nodes, starting at a seeded place', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: makeNodes(200) })
  const profile = schedulerProfile({ percentageOfNodesToScore: 10, minFeasibleNodesToFind: 5 })
  const result = schedule(makePod('p'), snapshot, new RandomXoshiro(1), profile)
  t.ok('nodeName' in result && result.evaluatedNodes === 20 && result.feasibleNodes === 20, 'looked at 20 of 200 nodes')
  const cordoned = ClusterSnapshot.from({ nodes: [...makeNodes(190), ...Array.from({ length: 10 }, (_, i) => makeNode(`z-${i}`, { unschedulable: true }))] })
  const all = schedule(makePod('p', { nodeSelector: { missing: 'label' } }), cordoned, new RandomXoshiro(1), profile)
  t.equal(failureMessage(all), "0/200 nodes are available: 10 node(s) were unschedulable, 190 node(s) didn't match Pod's node affinity/selector.", 'a failure has looked at every node')
})

t.test('schedulerProfile rejects out-of-range configuration', async (t) => {
  t.throws(() => schedulerProfile({ percentageOfNodesToScore: 101 }), { name: 'InvalidConfigError' })
  t.throws(() => schedulerProfile({ scoringStrategy: 'Random' as 'LeastAllocated' }), { name: 'InvalidConfigError' })
  t.throws(() => schedulerProfile({ scoreWeights: { NodeAffinity: -1 } }), { name: 'InvalidConfigError' })
  t.throws(() => schedulerProfile({ disabledFilters: ['Nope' as 'NodeName'] }), { name: 'InvalidConfigError' })
  const profile = schedulerProfile({ scoreWeights: { NodeResourcesBalancedAllocation: 0 }, disabledFilters: ['NodePorts'] })
  t.notOk(profile.scorers.some((scorer) => scorer.plugin.name === 'NodeResourcesBalancedAllocation'), 'weight 0 disables a score')
  t.notOk(profile.filters.some((filter) => filter.name === 'NodePorts'))
})
