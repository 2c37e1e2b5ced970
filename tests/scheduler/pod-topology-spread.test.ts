// Goal: PodTopologySpread filters by maxSkew across zones (DoNotSchedule), honours minDomains
// and the node inclusion policies, scores ScheduleAnyway constraints, and its memoized counts
// follow pod and node changes. Method: 3 zones × 2 nodes with placed pods; the accepted nodes and
// scores per case.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import {
  podTopologySpreadFilterPlugin,
  podTopologySpreadScorePlugin,
  REASON_SPREAD_CONSTRAINTS,
  REASON_SPREAD_MISSING_LABEL,
} from '../../node/src/scheduler/plugins/pod-topology-spread.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { acceptedNodes, filterResults, makeNode, makePod, scoreResults } from './fixtures.ts'

const ZONE = 'topology.kubernetes.io/zone'

/** Zones z1 (a1, a2), z2 (b1, b2), z3 (c1, c2); web pods: two in z1, one in z2, none in z3. */
function cluster(): ClusterSnapshot {
  const snapshot = ClusterSnapshot.from({
    nodes: [
      makeNode('a1', { zone: 'z1' }),
      makeNode('a2', { zone: 'z1' }),
      makeNode('b1', { zone: 'z2' }),
      makeNode('b2', { zone: 'z2' }),
      makeNode('c1', { zone: 'z3' }),
      makeNode('c2', { zone: 'z3' }),
    ],
  })
  snapshot.assumePod(makePod('web-1', { labels: { app: 'web' } }), 'a1')
  snapshot.assumePod(makePod('web-2', { labels: { app: 'web' } }), 'a2')
  snapshot.assumePod(makePod('web-3', { labels: { app: 'web' } }), 'b1')
  snapshot.assumePod(makePod('other', { labels: { app: 'other' } }), 'c1')
  return snapshot
}

function spreadPod(name: string, constraint: JsonObject, extra: Parameters<typeof makePod>[1] = {}): JsonObject {
  return makePod(name, {
    labels: { app: 'web' },
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: ZONE, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } }, ...constraint }],
    ...extra,
  })
}

t.test('DoNotSchedule maxSkew 1 across 3 zones admits only the emptiest zone', async (t) => {
  const results = filterResults(podTopologySpreadFilterPlugin, spreadPod('web-4', {}), cluster())
  t.same(acceptedNodes(results), ['c1', 'c2'])
  t.same(results.get('a1'), [REASON_SPREAD_CONSTRAINTS])
  t.same(results.get('b2'), [REASON_SPREAD_CONSTRAINTS])
})

t.test('DoNotSchedule maxSkew 2 also admits the zone one above the minimum', async (t) => {
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('web-4', { maxSkew: 2 }), cluster())), ['b1', 'b2', 'c1', 'c2'])
})

t.test('a pod that does not match its own selector adds nothing to the skew', async (t) => {
  const pod = spreadPod('api', {}, { labels: { app: 'api' } })
  // Skew without self: z1 2 − 0 = 2 > 1, z2 1 − 0 = 1.
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, pod, cluster())), ['b1', 'b2', 'c1', 'c2'])
})

t.test('a node without the topology key is rejected as unresolvable', async (t) => {
  const snapshot = cluster()
  snapshot.upsertNode(makeNode('bare'))
  const results = filterResults(podTopologySpreadFilterPlugin, spreadPod('web-4', {}), snapshot)
  t.same(results.get('bare'), [REASON_SPREAD_MISSING_LABEL])
  t.same(acceptedNodes(results), ['c1', 'c2'], 'the zones are counted the same without the fast path')
})

t.test('minDomains above the number of zones makes the global minimum 0', async (t) => {
  const snapshot = cluster()
  snapshot.assumePod(makePod('web-5', { labels: { app: 'web' } }), 'c1')
  // Counts z1 2, z2 1, z3 1: the minimum is 1, so maxSkew 1 admits z2 and z3 …
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', {}), snapshot)), ['b1', 'b2', 'c1', 'c2'])
  // … but with minDomains 4 only 3 domains exist, the minimum is 0 and no zone admits the pod.
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', { minDomains: 4 }), snapshot)), [])
})

t.test('nodeAffinityPolicy Honor counts only the domains the pod may use', async (t) => {
  // The NodeAffinity plugin, not this one, keeps the pod out of z3; here only the counting differs.
  const withSelector = (policy: string) => makePod('p', {
    labels: { app: 'web' },
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: ZONE, operator: 'In', values: ['z1', 'z2'] }] }] } } },
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: ZONE, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } }, nodeAffinityPolicy: policy }],
  })
  // Honor: domains z1 (2) and z2 (1), minimum 1: z2 admits (1 + 1 − 1 = 1), z1 does not.
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, withSelector('Honor'), cluster())), ['b1', 'b2', 'c1', 'c2'])
  // Ignore: z3 (0) counts, minimum 0: z2 gives 2 > 1.
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, withSelector('Ignore'), cluster())), ['c1', 'c2'])
})

t.test('nodeTaintsPolicy Honor leaves out nodes whose taints the pod does not tolerate', async (t) => {
  const snapshot = cluster()
  snapshot.upsertNode(makeNode('c1', { zone: 'z3', taints: [{ key: 'x', value: 'y', effect: 'NoSchedule' }] }))
  snapshot.upsertNode(makeNode('c2', { zone: 'z3', taints: [{ key: 'x', value: 'y', effect: 'NoSchedule' }] }))
  // Honor: z3 has no eligible node, so the domains are z1 (2) and z2 (1).
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', { nodeTaintsPolicy: 'Honor' }), snapshot)), ['b1', 'b2', 'c1', 'c2'])
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', {}), snapshot)), ['c1', 'c2'], 'Ignore (default)')
})

t.test('ScheduleAnyway scores zones by how few matching pods they hold', async (t) => {
  const pod = spreadPod('web-4', { whenUnsatisfiable: 'ScheduleAnyway' })
  t.same([...filterResults(podTopologySpreadFilterPlugin, pod, cluster()).values()].every((value) => value === 'skip'), true, 'no hard constraint: the filter skips')
  const scores = scoreResults(podTopologySpreadScorePlugin, pod, cluster())
  // Raw: count × ln(3 + 2): z1 round(3.22) = 3, z2 round(1.61) = 2, z3 0; normalized 100 × (3 + 0 − s) / 3.
  t.same(scores === 'skip' ? scores : Object.fromEntries(scores), { a1: 0, a2: 0, b1: 33, b2: 33, c1: 100, c2: 100 })
})

t.test('ScheduleAnyway by hostname counts per node', async (t) => {
  const pod = spreadPod('web-4', { whenUnsatisfiable: 'ScheduleAnyway', topologyKey: 'kubernetes.io/hostname', maxSkew: 1 })
  const scores = scoreResults(podTopologySpreadScorePlugin, pod, cluster())
  // Raw: 1 × ln(6 + 2) = 2.08 → 2 on a1, a2, b1; 0 elsewhere.
  t.same(scores === 'skip' ? scores : Object.fromEntries(scores), { a1: 0, a2: 0, b1: 0, b2: 100, c1: 100, c2: 100 })
})

t.test('counts follow pods leaving and nodes changing zones', async (t) => {
  const snapshot = cluster()
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', {}), snapshot)), ['c1', 'c2'])
  snapshot.removePod('default/web-1')
  snapshot.removePod('default/web-2')
  // z1 0, z2 1, z3 0.
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', {}), snapshot)), ['a1', 'a2', 'c1', 'c2'])
  snapshot.upsertNode(makeNode('b1', { zone: 'z3' }))
  // web-3 now counts in z3: z1 0, z2 0 (b2), z3 1.
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', {}), snapshot)), ['a1', 'a2', 'b2'])
  snapshot.assumePod(makePod('web-9', { labels: { app: 'web' }, uid: 'x' }), 'a1')
  snapshot.assumePod(makePod('web-10', { labels: { app: 'web' }, uid: 'y' }), 'b2')
  // z1 1, z2 1, z3 1: everywhere.
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', {}), snapshot)), ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'])
})

t.test('terminating pods do not count toward the spread', async (t) => {
  const snapshot = cluster()
  const leaving = makePod('web-1', { labels: { app: 'web' } })
  ;(leaving.metadata as JsonObject).deletionTimestamp = '2024-01-01T00:00:00Z'
  snapshot.assumePod(leaving, 'a1')
  // z1 1 (web-2), z2 1, z3 0.
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', {}), snapshot)), ['c1', 'c2'])
  t.same(acceptedNodes(filterResults(podTopologySpreadFilterPlugin, spreadPod('p', { maxSkew: 2 }), snapshot)), ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'])
})
