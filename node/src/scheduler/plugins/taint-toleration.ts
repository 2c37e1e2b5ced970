/**
 * TaintToleration.
 *
 * Filter: a node with a NoSchedule or NoExecute taint the pod does not tolerate is rejected with
 * the first such taint in the message (`node(s) had untolerated taint {key: value}`). A NoExecute
 * toleration with `tolerationSeconds` still lets the pod in (see taints.ts).
 *
 * Score: the fewer PreferNoSchedule taints a node has that the pod does not tolerate (counting
 * only tolerations whose effect is empty or PreferNoSchedule), the higher; normalized reversed.
 */
import { defaultNormalizeScore, rejection, type FilterPlugin, type Rejection, type ScorePlugin } from '../framework.ts'
import { firstUntoleratedTaint, taintTolerated, type Taint, type TaintEffect } from '../taints.ts'

/** The reason in FailedScheduling events for an untolerated taint. */
export function untoleratedTaintReason(taint: Taint): string {
  return `node(s) had untolerated taint {${taint.key}: ${taint.value}}`
}

const FILTERED_EFFECTS: ReadonlySet<TaintEffect> = new Set(['NoSchedule', 'NoExecute'])

export const taintTolerationFilterPlugin: FilterPlugin = {
  name: 'TaintToleration',
  preFilter(pod, snapshot) {
    if (snapshot.filteringTaintNodeCount === 0) return undefined
    const tolerations = pod.tolerations
    // One rejection object per distinct taint, so that a thousand nodes with the same taint share it.
    const rejections = new Map<string, Rejection>()
    return (node) => {
      if (node.taints.length === 0) return undefined
      const taint = firstUntoleratedTaint(node.taints, tolerations, FILTERED_EFFECTS)
      if (taint === undefined) return undefined
      const reason = untoleratedTaintReason(taint)
      let rejected = rejections.get(reason)
      if (rejected === undefined) {
        rejected = rejection('TaintToleration', 'UnschedulableAndUnresolvable', reason)
        rejections.set(reason, rejected)
      }
      return rejected
    }
  },
}

export const taintTolerationScorePlugin: ScorePlugin = {
  name: 'TaintToleration',
  preScore(pod, snapshot) {
    // Without PreferNoSchedule taints every node would score the same: skipping changes no ranking.
    if (snapshot.preferNoScheduleTaintNodeCount === 0) return undefined
    const tolerations = pod.tolerations.filter((toleration) => toleration.effect === '' || toleration.effect === 'PreferNoSchedule')
    return {
      score(node) {
        let intolerable = 0
        for (const taint of node.taints) {
          if (taint.effect === 'PreferNoSchedule' && !taintTolerated(taint, tolerations)) intolerable++
        }
        return intolerable
      },
      normalize: (scores) => defaultNormalizeScore(scores, true),
    }
  },
}
