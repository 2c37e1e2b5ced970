// Goal: taints and tolerations match as in Kubernetes, the TaintToleration plugin filters on
// NoSchedule/NoExecute and scores PreferNoSchedule, and NoExecute tolerationSeconds only bounds
// how long a running pod stays. Method: tables of toleration/taint pairs, then the plugin over a
// crafted snapshot.
import t from 'tap'
import { taintTolerationFilterPlugin, taintTolerationScorePlugin } from '../../node/src/scheduler/plugins/taint-toleration.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { noExecuteEvictionDelaySeconds, toleratesTaint, type Taint, type Toleration } from '../../node/src/scheduler/taints.ts'
import { acceptedNodes, filterResults, makeNode, makePod, scoreResults } from './fixtures.ts'

function toleration(fields: Partial<Toleration>): Toleration {
  return { key: '', operator: 'Equal', value: '', effect: '', tolerationSeconds: undefined, ...fields }
}

const GPU: Taint = { key: 'gpu', value: 'true', effect: 'NoSchedule' }

t.test('toleratesTaint follows key, operator, value and effect', async (t) => {
  const cases: Array<[string, Partial<Toleration>, Taint, boolean]> = [
    ['equal key and value', { key: 'gpu', value: 'true' }, GPU, true],
    ['equal key, other value', { key: 'gpu', value: 'false' }, GPU, false],
    ['exists ignores value', { key: 'gpu', operator: 'Exists' }, GPU, true],
    ['empty key with Exists matches every taint', { operator: 'Exists' }, GPU, true],
    ['empty key with Equal compares only the value (the API rejects such tolerations)', { value: 'true' }, GPU, true],
    ['matching effect', { key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }, GPU, true],
    ['other effect', { key: 'gpu', operator: 'Exists', effect: 'NoExecute' }, GPU, false],
    ['other key', { key: 'ssd', operator: 'Exists' }, GPU, false],
    ['unknown operator', { key: 'gpu', operator: 'Matches', value: 'true' }, GPU, false],
  ]
  for (const [name, fields, taint, expected] of cases) t.equal(toleratesTaint(toleration(fields), taint), expected, name)
})

t.test('noExecuteEvictionDelaySeconds: evict now, after the smallest tolerationSeconds, or never', async (t) => {
  const down: Taint = { key: 'node.kubernetes.io/unreachable', value: '', effect: 'NoExecute' }
  const other: Taint = { key: 'maintenance', value: 'yes', effect: 'NoExecute' }
  const soft: Taint = { key: 'x', value: 'y', effect: 'NoSchedule' }
  t.equal(noExecuteEvictionDelaySeconds([soft], []), 'never', 'no NoExecute taint')
  t.equal(noExecuteEvictionDelaySeconds([down], []), 0, 'untolerated NoExecute: now')
  t.equal(noExecuteEvictionDelaySeconds([down], [toleration({ key: down.key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 })]), 300)
  t.equal(noExecuteEvictionDelaySeconds([down], [toleration({ key: down.key, operator: 'Exists' })]), 'never', 'tolerated for ever')
  t.equal(
    noExecuteEvictionDelaySeconds([down, other], [
      toleration({ key: down.key, operator: 'Exists', tolerationSeconds: 300 }),
      toleration({ key: 'maintenance', value: 'yes', tolerationSeconds: 60 }),
    ]),
    60,
    'the smallest of the matching tolerations',
  )
  t.equal(noExecuteEvictionDelaySeconds([down, other], [toleration({ key: down.key, operator: 'Exists', tolerationSeconds: 30 })]), 0, 'one untolerated taint evicts now')
  t.equal(noExecuteEvictionDelaySeconds([down], [toleration({ operator: 'Exists', tolerationSeconds: -5 })]), 0, 'negative seconds count as 0')
})

function taintedCluster(): ClusterSnapshot {
  return ClusterSnapshot.from({
    nodes: [
      makeNode('clean'),
      makeNode('gpu', { taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] }),
      makeNode('draining', { taints: [{ key: 'maintenance', value: 'yes', effect: 'NoExecute' }] }),
      makeNode('soft', { taints: [{ key: 'spot', value: 'true', effect: 'PreferNoSchedule' }] }),
    ],
  })
}

t.test('TaintToleration filter rejects untolerated NoSchedule and NoExecute taints by name', async (t) => {
  const results = filterResults(taintTolerationFilterPlugin, makePod('p'), taintedCluster())
  t.same(results.get('gpu'), ['node(s) had untolerated taint {gpu: true}'])
  t.same(results.get('draining'), ['node(s) had untolerated taint {maintenance: yes}'])
  t.same(acceptedNodes(results), ['clean', 'soft'], 'PreferNoSchedule does not filter')
})

t.test('TaintToleration filter admits a pod tolerating NoExecute with tolerationSeconds', async (t) => {
  const pod = makePod('p', {
    tolerations: [
      { key: 'maintenance', operator: 'Equal', value: 'yes', effect: 'NoExecute', tolerationSeconds: 60 },
      { key: 'gpu', operator: 'Exists' },
    ],
  })
  t.same(acceptedNodes(filterResults(taintTolerationFilterPlugin, pod, taintedCluster())), ['clean', 'draining', 'gpu', 'soft'])
})

t.test('TaintToleration filter skips itself when no node has a filtering taint', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a'), makeNode('b', { taints: [{ key: 's', effect: 'PreferNoSchedule' }] })] })
  t.same([...filterResults(taintTolerationFilterPlugin, makePod('p'), snapshot).values()], ['skip', 'skip'])
})

t.test('TaintToleration score prefers nodes with fewer intolerable PreferNoSchedule taints', async (t) => {
  const snapshot = ClusterSnapshot.from({
    nodes: [
      makeNode('none'),
      makeNode('one', { taints: [{ key: 'spot', value: 'true', effect: 'PreferNoSchedule' }] }),
      makeNode('two', { taints: [{ key: 'spot', value: 'true', effect: 'PreferNoSchedule' }, { key: 'slow', value: 'disk', effect: 'PreferNoSchedule' }] }),
    ],
  })
  const scores = scoreResults(taintTolerationScorePlugin, makePod('p'), snapshot)
  t.same(scores === 'skip' ? scores : Object.fromEntries(scores), { none: 100, one: 50, two: 0 })
  const tolerant = makePod('q', { tolerations: [{ key: 'spot', operator: 'Exists', effect: 'PreferNoSchedule' }] })
  const tolerantScores = scoreResults(taintTolerationScorePlugin, tolerant, snapshot)
  t.same(tolerantScores === 'skip' ? tolerantScores : Object.fromEntries(tolerantScores), { none: 100, one: 100, two: 0 })
  const noSchedule = makePod('r', { tolerations: [{ key: 'spot', operator: 'Exists', effect: 'NoSchedule' }] })
  const noScheduleScores = scoreResults(taintTolerationScorePlugin, noSchedule, snapshot)
  t.same(noScheduleScores === 'skip' ? noScheduleScores : Object.fromEntries(noScheduleScores), { none: 100, one: 50, two: 0 }, 'a NoSchedule toleration does not count')
})
