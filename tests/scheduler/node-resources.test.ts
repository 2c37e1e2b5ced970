// Goal: NodeResourcesFit rejects nodes short of cpu, memory, pods or extended resources with one
// reason per resource, and scores with LeastAllocated (spread) or MostAllocated (bin-pack);
// BalancedAllocation prefers even use. Method: small nodes with placed pods, one pod at a time.
import t from 'tap'
import { nodeResourcesBalancedAllocationPlugin } from '../../node/src/scheduler/plugins/node-resources-balanced-allocation.ts'
import {
  leastAllocatedScore,
  mostAllocatedScore,
  nodeResourcesFitFilterPlugin,
  nodeResourcesFitScorePlugin,
} from '../../node/src/scheduler/plugins/node-resources-fit.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { filterResults, makeNode, makePod, scoreResults } from './fixtures.ts'

function cluster(): ClusterSnapshot {
  const snapshot = ClusterSnapshot.from({
    nodes: [
      makeNode('big', { cpu: '4', memory: '8Gi', pods: 10 }),
      makeNode('small', { cpu: '1', memory: '1Gi', pods: 10 }),
      makeNode('full', { cpu: '4', memory: '8Gi', pods: 1 }),
    ],
  })
  snapshot.assumePod(makePod('used-small', { cpu: '500m', memory: '512Mi' }), 'small')
  snapshot.assumePod(makePod('used-full', { cpu: '100m', memory: '100Mi' }), 'full')
  return snapshot
}

t.test('NodeResourcesFit filter names each missing resource', async (t) => {
  const results = filterResults(nodeResourcesFitFilterPlugin, makePod('p', { cpu: '600m', memory: '600Mi' }), cluster())
  t.same(results.get('big'), [])
  t.same(results.get('small'), ['Insufficient cpu', 'Insufficient memory'])
  t.same(results.get('full'), ['Too many pods'])
})

t.test('NodeResourcesFit filter: a pod that exactly fills the node fits', async (t) => {
  const results = filterResults(nodeResourcesFitFilterPlugin, makePod('p', { cpu: '500m', memory: '512Mi' }), cluster())
  t.same(results.get('small'), [])
})

t.test('NodeResourcesFit filter: only cpu short', async (t) => {
  const results = filterResults(nodeResourcesFitFilterPlugin, makePod('p', { cpu: '2', memory: '1Mi' }), cluster())
  t.same(results.get('small'), ['Insufficient cpu'])
  t.same(results.get('big'), [])
})

t.test('NodeResourcesFit filter: BestEffort pods are only limited by the pod count', async (t) => {
  const results = filterResults(nodeResourcesFitFilterPlugin, makePod('p'), cluster())
  t.same(Object.fromEntries(results), { big: [], small: [], full: ['Too many pods'] })
})

t.test('NodeResourcesFit filter: extended resources a node lacks', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('plain'), { ...makeNode('gpu'), status: { allocatable: { cpu: '4', memory: '8Gi', pods: '10', 'nvidia.com/gpu': '1' } } }] })
  const results = filterResults(nodeResourcesFitFilterPlugin, makePod('p', { requests: { 'nvidia.com/gpu': '1' } }), snapshot)
  t.same(Object.fromEntries(results), { gpu: [], plain: ['Insufficient nvidia.com/gpu'] })
  snapshot.assumePod(makePod('q', { requests: { 'nvidia.com/gpu': '1' } }), 'gpu')
  t.same(filterResults(nodeResourcesFitFilterPlugin, makePod('p', { requests: { 'nvidia.com/gpu': '1' } }), snapshot).get('gpu'), ['Insufficient nvidia.com/gpu'])
})

t.test('leastAllocatedScore and mostAllocatedScore per resource', async (t) => {
  t.equal(leastAllocatedScore(250, 1000), 75)
  t.equal(leastAllocatedScore(1001, 1000), 0, 'over capacity scores 0')
  t.equal(leastAllocatedScore(1, 0), 0)
  t.equal(mostAllocatedScore(250, 1000), 25)
  t.equal(mostAllocatedScore(1500, 1000), 100, 'over capacity is capped')
  t.equal(mostAllocatedScore(1, 0), 0)
})

t.test('NodeResourcesFit score: LeastAllocated prefers the emptier node, MostAllocated the fuller', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('empty', { cpu: '2', memory: '2Gi' }), makeNode('busy', { cpu: '2', memory: '2Gi' })] })
  snapshot.assumePod(makePod('w', { cpu: '1', memory: '1Gi' }), 'busy')
  const pod = makePod('p', { cpu: '500m', memory: '512Mi' })
  const least = scoreResults(nodeResourcesFitScorePlugin('LeastAllocated', [{ name: 'cpu', weight: 1 }, { name: 'memory', weight: 1 }]), pod, snapshot)
  // empty: cpu (2000−500)/2000 = 75, memory 75 → 75; busy: (2000−1500)/2000 = 25 → 25.
  t.same(least === 'skip' ? least : Object.fromEntries(least), { busy: 25, empty: 75 })
  const most = scoreResults(nodeResourcesFitScorePlugin('MostAllocated', [{ name: 'cpu', weight: 1 }, { name: 'memory', weight: 1 }]), pod, snapshot)
  t.same(most === 'skip' ? most : Object.fromEntries(most), { busy: 75, empty: 25 })
  const weighted = scoreResults(nodeResourcesFitScorePlugin('MostAllocated', [{ name: 'cpu', weight: 3 }, { name: 'memory', weight: 1 }]), makePod('q', { cpu: '500m', memory: '1536Mi' }), snapshot)
  // busy: cpu 75 × 3 + memory min(2.5Gi, 2Gi)/2Gi = 100 × 1 → 325 / 4 = 81.
  t.equal(weighted === 'skip' ? weighted : weighted.get('busy'), 81)
})

t.test('NodeResourcesFit score counts BestEffort pods with the non-zero defaults', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a', { cpu: '1', memory: '1000Mi' }), makeNode('b', { cpu: '1', memory: '1000Mi' })] })
  for (let i = 0; i < 3; i++) snapshot.assumePod(makePod(`be-${i}`), 'a')
  const scores = scoreResults(nodeResourcesFitScorePlugin('LeastAllocated', [{ name: 'cpu', weight: 1 }, { name: 'memory', weight: 1 }]), makePod('p'), snapshot)
  // a: cpu (1000 − 400)/1000 = 60, memory (1000 − 800)/1000 = 20 → 40; b: 90 and 80 → 85.
  t.same(scores === 'skip' ? scores : Object.fromEntries(scores), { a: 40, b: 85 })
})

t.test('NodeResourcesBalancedAllocation prefers the node whose cpu and memory use stay even', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('cpu-heavy', { cpu: '2', memory: '2Gi' }), makeNode('even', { cpu: '2', memory: '2Gi' })] })
  snapshot.assumePod(makePod('w', { cpu: '1', memory: '0' }), 'cpu-heavy')
  const scores = scoreResults(nodeResourcesBalancedAllocationPlugin, makePod('p', { cpu: '500m', memory: '512Mi' }), snapshot)
  // cpu-heavy: fractions 0.75 and 0.25 → 100 × (1 − 0.25) = 75; even: 0.25 and 0.25 → 100.
  t.same(scores === 'skip' ? scores : Object.fromEntries(scores), { 'cpu-heavy': 75, even: 100 })
  t.equal(scoreResults(nodeResourcesBalancedAllocationPlugin, makePod('be'), snapshot), 'skip', 'BestEffort pods are skipped')
})
