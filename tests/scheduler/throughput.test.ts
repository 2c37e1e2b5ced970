// Goal: the scheduler handles the benchmark size (1,000 nodes, a 10,000-replica
// Deployment) and spreads it evenly; the rate is printed for information, never asserted (timings
// belong to bench/scheduler-bench.ts). Method: one run of scheduleBatch in batches of 500.
import t from 'tap'
import { scheduleBatch } from '../../node/src/scheduler/schedule.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { makeNodes, makePod } from './fixtures.ts'

const NODES = 1000
const PODS = 10_000
const BATCH = 500

t.test(`${PODS} pods of one Deployment on ${NODES} nodes: all bound, evenly`, async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: makeNodes(NODES, { cpu: '4', memory: '16Gi', pods: 110, zones: ['z1', 'z2', 'z3'] }) })
  const pods = Array.from({ length: PODS }, (_, i) => makePod(`web-${i}`, { labels: { app: 'web' }, cpu: '100m', memory: '128Mi', uid: `uid-${i}` }))
  let bound = 0
  const started = performance.now()
  for (let offset = 0; offset < PODS; offset += BATCH) {
    const result = scheduleBatch(pods.slice(offset, offset + BATCH), snapshot, 1)
    t.equal(result.failures.length, 0, `batch at ${offset}: no failures`)
    bound += result.bindings.length
  }
  const seconds = (performance.now() - started) / 1000
  t.comment(`throughput (not asserted): ${bound} pods in ${seconds.toFixed(2)} s = ${Math.round(bound / seconds)} pods/s`)
  t.equal(bound, PODS)
  const perNode = snapshot.nodes().map((node) => node.pods.size)
  t.same([Math.min(...perNode), Math.max(...perNode)], [10, 10], 'LeastAllocated puts exactly 10 on each node')
})
