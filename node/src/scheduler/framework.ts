/**
 * The plugin framework, after kube-scheduler's (PreFilter/Filter, PreScore/Score/NormalizeScore),
 * reduced to what a synchronous, single-threaded scheduler needs.
 *
 * - A FilterPlugin's `preFilter` sees the pod once and returns the per-node check (a closure over
 *   whatever it precomputed), or undefined to skip itself for this pod (kube's Skip status). The
 *   check returns undefined when the node fits and a Rejection when it does not.
 * - A ScorePlugin's `preScore` sees the pod and the feasible nodes once and returns a NodeScorer,
 *   or undefined to skip. `score` gives a raw score per node; `normalize` rescales the raw scores
 *   of all feasible nodes, in place, into [0, MAX_NODE_SCORE]. The framework multiplies by the
 *   plugin's weight and sums.
 *
 * Plugins never mutate the snapshot and never read the clock or randomness.
 */
import type { NodeInfo } from './node-info.ts'
import type { PodInfo } from './pod-info.ts'
import type { ClusterSnapshot } from './snapshot.ts'

/** The highest score a plugin gives a node after normalization (kube's MaxNodeScore). */
export const MAX_NODE_SCORE = 100

/**
 * Why a node was rejected. `UnschedulableAndUnresolvable` marks rejections that evicting pods
 * from the node could not fix (a label, a taint, cordoning); kept for a future preemption.
 */
export type RejectionCode = 'Unschedulable' | 'UnschedulableAndUnresolvable'

/** A node's rejection by one filter plugin, with the reasons shown in the FailedScheduling event. */
export interface Rejection {
  readonly plugin: FilterPluginName
  readonly code: RejectionCode
  /** One or more reasons; each counts once per node in the summary message. */
  readonly reasons: readonly string[]
}

/** Checks one node for the pod a filter plugin was prepared for. */
export type NodeFilter = (node: NodeInfo) => Rejection | undefined

/** The filter plugins, in the order they run (kube-scheduler's default order). */
export const FILTER_PLUGIN_NAMES = [
  'NodeUnschedulable',
  'NodeName',
  'TaintToleration',
  'NodeAffinity',
  'NodePorts',
  'NodeResourcesFit',
  'VolumeBinding',
  'PodTopologySpread',
  'InterPodAffinity',
] as const
export type FilterPluginName = (typeof FILTER_PLUGIN_NAMES)[number]

/** A plugin with a filter extension point. */
export interface FilterPlugin {
  readonly name: FilterPluginName
  /** Precomputes for the pod; returns the per-node check, or undefined to skip this plugin. */
  preFilter(pod: PodInfo, snapshot: ClusterSnapshot): NodeFilter | undefined
}

/** Scores the feasible nodes for the pod a score plugin was prepared for. */
export interface NodeScorer {
  /** The raw score of a feasible node. */
  score(node: NodeInfo): number
  /** Rescales the raw scores of all feasible nodes into [0, MAX_NODE_SCORE] in place. */
  normalize?(scores: Float64Array): void
}

/** The score plugins. */
export const SCORE_PLUGIN_NAMES = [
  'TaintToleration',
  'NodeAffinity',
  'NodeResourcesFit',
  'PodTopologySpread',
  'InterPodAffinity',
  'NodeResourcesBalancedAllocation',
] as const
export type ScorePluginName = (typeof SCORE_PLUGIN_NAMES)[number]

/** A plugin with a score extension point. */
export interface ScorePlugin {
  readonly name: ScorePluginName
  /** Precomputes for the pod and the feasible nodes; returns a scorer, or undefined to skip. */
  preScore(pod: PodInfo, snapshot: ClusterSnapshot, feasibleNodes: readonly NodeInfo[]): NodeScorer | undefined
}

/** A Rejection, frozen so that plugins can return shared constants. */
export function rejection(plugin: FilterPluginName, code: RejectionCode, ...reasons: string[]): Rejection {
  return Object.freeze({ plugin, code, reasons: Object.freeze(reasons) })
}

/**
 * kube-scheduler's DefaultNormalizeScore: scales scores so that the highest becomes
 * MAX_NODE_SCORE (integer division, as in Go), then, when `reverse`, flips them so that the lowest
 * raw score wins. All zeros stay 0, or become MAX_NODE_SCORE when reversed.
 */
export function defaultNormalizeScore(scores: Float64Array, reverse: boolean): void {
  let max = 0
  for (const score of scores) if (score > max) max = score
  if (max === 0) {
    if (reverse) scores.fill(MAX_NODE_SCORE)
    return
  }
  for (let i = 0; i < scores.length; i++) {
    const scaled = Math.trunc((MAX_NODE_SCORE * (scores[i] as number)) / max)
    scores[i] = reverse ? MAX_NODE_SCORE - scaled : scaled
  }
}

/** Min–max normalization into [0, MAX_NODE_SCORE] (all equal → all 0), truncated like Go's int64(). */
export function minMaxNormalizeScore(scores: Float64Array): void {
  let min = Infinity
  let max = -Infinity
  for (const score of scores) {
    if (score < min) min = score
    if (score > max) max = score
  }
  const range = max - min
  for (let i = 0; i < scores.length; i++) {
    scores[i] = range > 0 ? Math.trunc((MAX_NODE_SCORE * ((scores[i] as number) - min)) / range) : 0
  }
}
