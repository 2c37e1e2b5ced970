// Goal: NodeAffinity filters on nodeSelector and required terms with every operator, and scores
// preferred terms by weight. Method: nodes with crafted labels; each case names the nodes a pod
// may use.
import t from 'tap'
import type { JsonObject, JsonValue } from '../../node/src/api/machinery/canonical.ts'
import { nodeAffinityFilterPlugin, nodeAffinityScorePlugin, REASON_NODE_AFFINITY } from '../../node/src/scheduler/plugins/node-affinity.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { acceptedNodes, filterResults, makeNode, makePod, scoreResults } from './fixtures.ts'

function cluster(): ClusterSnapshot {
  return ClusterSnapshot.from({
    nodes: [
      makeNode('a', { zone: 'z1', labels: { disk: 'ssd', cores: '8' } }),
      makeNode('b', { zone: 'z2', labels: { disk: 'hdd', cores: '16' } }),
      makeNode('c', { zone: 'z3', labels: { cores: 'many' } }),
    ],
  })
}

function required(...terms: JsonValue[]): JsonObject {
  return { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } }
}

function expression(key: string, operator: string, values?: string[]): JsonObject {
  return values === undefined ? { key, operator } : { key, operator, values }
}

t.test('NodeAffinity filter applies nodeSelector labels', async (t) => {
  const results = filterResults(nodeAffinityFilterPlugin, makePod('p', { nodeSelector: { disk: 'ssd' } }), cluster())
  t.same(acceptedNodes(results), ['a'])
  t.same(results.get('b'), [REASON_NODE_AFFINITY])
})

t.test('NodeAffinity filter skips pods without a node selection', async (t) => {
  t.same([...filterResults(nodeAffinityFilterPlugin, makePod('p'), cluster()).values()], ['skip', 'skip', 'skip'])
})

t.test('NodeAffinity required terms: In, NotIn, Exists, DoesNotExist, Gt, Lt', async (t) => {
  const cases: Array<[string, JsonObject, string[]]> = [
    ['In', required({ matchExpressions: [expression('disk', 'In', ['ssd', 'nvme'])] }), ['a']],
    ['NotIn also accepts nodes without the label', required({ matchExpressions: [expression('disk', 'NotIn', ['ssd'])] }), ['b', 'c']],
    ['Exists', required({ matchExpressions: [expression('disk', 'Exists')] }), ['a', 'b']],
    ['DoesNotExist', required({ matchExpressions: [expression('disk', 'DoesNotExist')] }), ['c']],
    ['Gt compares integers; a non-integer label never matches', required({ matchExpressions: [expression('cores', 'Gt', ['10'])] }), ['b']],
    ['Lt', required({ matchExpressions: [expression('cores', 'Lt', ['10'])] }), ['a']],
    ['expressions of a term are ANDed', required({ matchExpressions: [expression('disk', 'Exists'), expression('cores', 'Gt', ['10'])] }), ['b']],
    ['terms are ORed', required({ matchExpressions: [expression('disk', 'In', ['ssd'])] }, { matchExpressions: [expression('disk', 'DoesNotExist')] }), ['a', 'c']],
    ['matchFields on metadata.name', required({ matchFields: [expression('metadata.name', 'In', ['b', 'c'])] }), ['b', 'c']],
    ['an empty term matches nothing', required({}), []],
    ['no terms match nothing', required(), []],
    ['Gt with two values is invalid and matches nothing', required({ matchExpressions: [expression('cores', 'Gt', ['1', '2'])] }), []],
    ['an unknown operator matches nothing', required({ matchExpressions: [expression('disk', 'Like', ['ssd'])] }), []],
  ]
  for (const [name, affinity, expected] of cases) {
    t.same(acceptedNodes(filterResults(nodeAffinityFilterPlugin, makePod('p', { affinity }), cluster())), expected, name)
  }
})

t.test('NodeAffinity filter requires both nodeSelector and the required terms', async (t) => {
  const pod = makePod('p', { nodeSelector: { 'topology.kubernetes.io/zone': 'z2' }, affinity: required({ matchExpressions: [expression('disk', 'Exists')] }) })
  t.same(acceptedNodes(filterResults(nodeAffinityFilterPlugin, pod, cluster())), ['b'])
})

t.test('NodeAffinity score sums the weights of matching preferred terms, best node at 100', async (t) => {
  const affinity = {
    nodeAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 80, preference: { matchExpressions: [expression('disk', 'In', ['ssd'])] } },
        { weight: 20, preference: { matchExpressions: [expression('cores', 'Gt', ['4'])] } },
        { weight: 20, preference: { matchExpressions: [expression('topology.kubernetes.io/zone', 'In', ['z2'])] } },
      ],
    },
  }
  const scores = scoreResults(nodeAffinityScorePlugin, makePod('p', { affinity }), cluster())
  // Raw: a = 80 + 20 = 100, b = 20 + 20 = 40, c = 0.
  t.same(scores === 'skip' ? scores : Object.fromEntries(scores), { a: 100, b: 40, c: 0 })
  t.equal(scoreResults(nodeAffinityScorePlugin, makePod('q'), cluster()), 'skip', 'no preferred terms: skipped')
})
