/**
 * PodTopologySpread: keeps matching pods evenly spread over topology domains (zones, nodes, …).
 *
 * For a constraint, the domains are the values of its topology key on the eligible nodes: nodes
 * that carry every constraint's key and, by the node inclusion policies, match the pod's node
 * affinity/selector (nodeAffinityPolicy Honor, the default) and tolerate its taints (only with
 * nodeTaintsPolicy Honor). A domain's count is the number of matching, non-terminating pods of the
 * pod's namespace on its eligible nodes.
 *
 * Filter (DoNotSchedule constraints): placing the pod in a node's domain must keep
 * `count(domain) + (1 if the pod matches its own selector) − min count over domains ≤ maxSkew`;
 * the minimum is 0 while there are fewer domains than `minDomains`. A node without the topology
 * key is rejected outright.
 *
 * Score (ScheduleAnyway constraints): per constraint, count × log(domains + 2) + (maxSkew − 1),
 * summed, then reversed so that the least crowded domain scores MAX_NODE_SCORE. Feasible nodes
 * without every key score 0.
 *
 * Not implemented: kube's system default constraints for pods with none (they need the selectors of
 * the Services and ReplicaSets owning the pod, which the snapshot does not hold).
 */
import { firstUntoleratedTaint, type TaintEffect } from '../taints.ts'
import { MAX_NODE_SCORE, rejection, type FilterPlugin, type ScorePlugin } from '../framework.ts'
import { LABEL_HOSTNAME, type NodeInfo } from '../node-info.ts'
import { nodeSelectionMatches, selectsEveryNode } from '../node-selector.ts'
import type { PodInfo, SpreadConstraint } from '../pod-info.ts'
import type { ClusterSnapshot } from '../snapshot.ts'
import type { NodeCounts } from '../node-counts.ts'

/** The reason when placing the pod would exceed a constraint's maxSkew. */
export const REASON_SPREAD_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
/** The reason when the node lacks a constraint's topology key. */
export const REASON_SPREAD_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"

const REJECTED_SKEW = rejection('PodTopologySpread', 'Unschedulable', REASON_SPREAD_CONSTRAINTS)
const REJECTED_LABEL = rejection('PodTopologySpread', 'UnschedulableAndUnresolvable', REASON_SPREAD_MISSING_LABEL)
const TAINT_EFFECTS: ReadonlySet<TaintEffect> = new Set(['NoSchedule', 'NoExecute'])

export const podTopologySpreadFilterPlugin: FilterPlugin = {
  name: 'PodTopologySpread',
  preFilter(pod, snapshot) {
    const constraints = pod.spreadConstraints.filter((constraint) => constraint.whenUnsatisfiable === 'DoNotSchedule')
    if (constraints.length === 0) return undefined
    const domainCounts = countDomains(pod, snapshot, constraints, undefined)
    const minimums = constraints.map((constraint, i) => {
      const counts = domainCounts[i] as ReadonlyMap<string, number>
      if (counts.size < constraint.minDomains || counts.size === 0) return 0
      let minimum = Infinity
      for (const count of counts.values()) if (count < minimum) minimum = count
      return minimum
    })
    const selfMatches = constraints.map((constraint) => (constraint.matcher.matches(pod, snapshot.namespaceLabels) ? 1 : 0))
    return (node) => {
      for (let i = 0; i < constraints.length; i++) {
        const constraint = constraints[i] as SpreadConstraint
        const value = node.labels[constraint.topologyKey]
        if (value === undefined) return REJECTED_LABEL
        const matching = (domainCounts[i] as ReadonlyMap<string, number>).get(value) ?? 0
        if (matching + (selfMatches[i] as number) - (minimums[i] as number) > constraint.maxSkew) return REJECTED_SKEW
      }
      return undefined
    }
  },
}

/**
 * Matching pods per domain (including empty domains) for each constraint, over the eligible
 * nodes. With `onlyDomains` (the scorer's feasible domains, counts 0), fills in just those and
 * skips hostname constraints, whose per-node counts the scorer reads directly.
 */
function countDomains(
  pod: PodInfo,
  snapshot: ClusterSnapshot,
  constraints: readonly SpreadConstraint[],
  onlyDomains: readonly Map<string, number>[] | undefined,
): ReadonlyMap<string, number>[] {
  const tables = constraints.map((constraint) => snapshot.matchingPodCounts(constraint.matcher).counts)
  if (everyNodeEligible(pod, snapshot, constraints)) {
    // Fast path: every node counts, so the memoized per-domain sums are the answer.
    return constraints.map((constraint, i) => {
      const key = constraint.topologyKey
      const perDomain = (tables[i] as NodeCounts).domains(key, snapshot)
      const counts = onlyDomains?.[i] ?? new Map<string, number>(Array.from(snapshot.labelValues(key).keys(), (value) => [value, 0]))
      if (onlyDomains !== undefined && key === LABEL_HOSTNAME) return counts
      for (const value of counts.keys()) counts.set(value, perDomain.get(value) ?? 0)
      return counts
    })
  }
  const counts = onlyDomains === undefined ? constraints.map(() => new Map<string, number>()) : [...onlyDomains]
  const everyNode = selectsEveryNode(pod.nodeSelection)
  for (const node of snapshot.nodes()) {
    if (!hasEveryKey(node, constraints)) continue
    let affinityMatches: boolean | undefined
    let taintsTolerated: boolean | undefined
    for (let i = 0; i < constraints.length; i++) {
      const constraint = constraints[i] as SpreadConstraint
      if (onlyDomains !== undefined && constraint.topologyKey === LABEL_HOSTNAME) continue
      if (constraint.nodeAffinityPolicy === 'Honor' && !everyNode) {
        affinityMatches ??= nodeSelectionMatches(pod.nodeSelection, node.name, node.labels)
        if (!affinityMatches) continue
      }
      if (constraint.nodeTaintsPolicy === 'Honor') {
        taintsTolerated ??= firstUntoleratedTaint(node.taints, pod.tolerations, TAINT_EFFECTS) === undefined
        if (!taintsTolerated) continue
      }
      const value = node.labels[constraint.topologyKey] as string
      const domainCounts = counts[i] as Map<string, number>
      if (onlyDomains !== undefined && !domainCounts.has(value)) continue
      domainCounts.set(value, (domainCounts.get(value) ?? 0) + ((tables[i] as NodeCounts).perNode.get(node.name) ?? 0))
    }
  }
  return counts
}

/** True when no inclusion policy excludes a node and every node carries every topology key. */
function everyNodeEligible(pod: PodInfo, snapshot: ClusterSnapshot, constraints: readonly SpreadConstraint[]): boolean {
  const nodeCount = snapshot.nodes().length
  for (const constraint of constraints) {
    if (constraint.nodeTaintsPolicy === 'Honor') return false
    if (constraint.nodeAffinityPolicy === 'Honor' && !selectsEveryNode(pod.nodeSelection)) return false
    if (snapshot.nodesWithLabel(constraint.topologyKey) !== nodeCount) return false
  }
  return true
}

function hasEveryKey(node: NodeInfo, constraints: readonly SpreadConstraint[]): boolean {
  for (const constraint of constraints) if (node.labels[constraint.topologyKey] === undefined) return false
  return true
}

export const podTopologySpreadScorePlugin: ScorePlugin = {
  name: 'PodTopologySpread',
  preScore(pod, snapshot, feasibleNodes) {
    const constraints = pod.spreadConstraints.filter((constraint) => constraint.whenUnsatisfiable === 'ScheduleAnyway')
    if (constraints.length === 0) return undefined
    // The domains worth counting are those of the feasible nodes that carry every key.
    const feasibleDomains = constraints.map(() => new Map<string, number>())
    let scoredNodes = 0
    for (const node of feasibleNodes) {
      if (!hasEveryKey(node, constraints)) continue
      scoredNodes++
      for (let i = 0; i < constraints.length; i++) {
        const key = (constraints[i] as SpreadConstraint).topologyKey
        // Hostname constraints read per-node counts; they need no domain table.
        if (key === LABEL_HOSTNAME) continue
        const domains = feasibleDomains[i] as Map<string, number>
        const value = node.labels[key] as string
        if (!domains.has(value)) domains.set(value, 0)
      }
    }
    const domains = countDomains(pod, snapshot, constraints, feasibleDomains)
    const weights = constraints.map((constraint, i) => {
      const size = constraint.topologyKey === LABEL_HOSTNAME ? scoredNodes : (domains[i] as ReadonlyMap<string, number>).size
      return Math.log(size + 2)
    })
    const tables = constraints.map((constraint) => snapshot.matchingPodCounts(constraint.matcher).counts)
    return {
      score(node) {
        // NaN marks a node left out of scoring; normalize turns it into 0.
        if (!hasEveryKey(node, constraints)) return Number.NaN
        let total = 0
        for (let i = 0; i < constraints.length; i++) {
          const constraint = constraints[i] as SpreadConstraint
          const count = constraint.topologyKey === LABEL_HOSTNAME
            ? ((tables[i] as NodeCounts).perNode.get(node.name) ?? 0)
            : ((domains[i] as ReadonlyMap<string, number>).get(node.labels[constraint.topologyKey] as string) ?? 0)
          total += count * (weights[i] as number) + (constraint.maxSkew - 1)
        }
        return Math.round(total)
      },
      normalize: normalizeSpreadScores,
    }
  },
}

/** kube's PodTopologySpread NormalizeScore: fewer matching pods → higher score. */
function normalizeSpreadScores(scores: Float64Array): void {
  let min = Infinity
  let max = 0
  for (const score of scores) {
    if (Number.isNaN(score)) continue
    if (score < min) min = score
    if (score > max) max = score
  }
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i] as number
    if (Number.isNaN(score)) scores[i] = 0
    else if (max === 0) scores[i] = MAX_NODE_SCORE
    else scores[i] = Math.trunc((MAX_NODE_SCORE * (max + min - score)) / max)
  }
}
