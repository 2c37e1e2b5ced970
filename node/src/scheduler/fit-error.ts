/**
 * The message of a pod that fits nowhere, worded like kube-scheduler's FitError so that
 * `kubectl describe pod` reads the same:
 *
 *   0/3 nodes are available: 1 node(s) had untolerated taint {x: y}, 2 Insufficient cpu.
 *
 * Each node contributes every reason of the filter that rejected it (a node short of cpu and
 * memory counts under both); the "count reason" strings are sorted as strings, as Go's
 * sort.Strings sorts them.
 */
import type { Rejection } from './framework.ts'

/** The message when the cluster has no node at all (kube's ErrNoNodesAvailable). */
export const NO_NODES_AVAILABLE_MESSAGE = 'no nodes available to schedule pods'

/** How many nodes gave each reason. */
export function reasonHistogram(rejections: Iterable<Rejection>): Map<string, number> {
  const histogram = new Map<string, number>()
  for (const rejection of rejections) {
    for (const reason of rejection.reasons) histogram.set(reason, (histogram.get(reason) ?? 0) + 1)
  }
  return histogram
}

/** The FailedScheduling message for `nodeCount` nodes, all of which rejected the pod. */
export function fitErrorMessage(nodeCount: number, histogram: ReadonlyMap<string, number>): string {
  if (nodeCount === 0) return NO_NODES_AVAILABLE_MESSAGE
  const reasons = [...histogram].map(([reason, count]) => `${count} ${reason}`).sort()
  const head = `0/${nodeCount} nodes are available:`
  return reasons.length === 0 ? head : `${head} ${reasons.join(', ')}.`
}
