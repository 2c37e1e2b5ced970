/**
 * NodeAffinity.
 *
 * Filter: the node must carry every `spec.nodeSelector` label and match at least one required
 * node affinity term (see node-selector.ts for the operators).
 *
 * Score: the sum of the weights of the preferred terms the node matches, scaled so that the best
 * node gets MAX_NODE_SCORE.
 */
import { defaultNormalizeScore, rejection, type FilterPlugin, type ScorePlugin } from '../framework.ts'
import { nodeSelectionMatches, selectsEveryNode, termMatchesNode } from '../node-selector.ts'

/** The reason in FailedScheduling events. */
export const REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"

const REJECTED = rejection('NodeAffinity', 'UnschedulableAndUnresolvable', REASON_NODE_AFFINITY)

export const nodeAffinityFilterPlugin: FilterPlugin = {
  name: 'NodeAffinity',
  preFilter(pod) {
    const selection = pod.nodeSelection
    if (selectsEveryNode(selection)) return undefined
    return (node) => (nodeSelectionMatches(selection, node.name, node.labels) ? undefined : REJECTED)
  },
}

export const nodeAffinityScorePlugin: ScorePlugin = {
  name: 'NodeAffinity',
  preScore(pod) {
    const preferred = pod.preferredNodeTerms
    if (preferred.length === 0) return undefined
    return {
      score(node) {
        let total = 0
        for (const { weight, term } of preferred) if (termMatchesNode(term, node.name, node.labels)) total += weight
        return total
      },
      normalize: (scores) => defaultNormalizeScore(scores, false),
    }
  },
}
