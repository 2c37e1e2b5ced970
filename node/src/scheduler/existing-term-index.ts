/**
 * The inter-pod affinity terms carried by pods already placed, grouped by identical term and
 * counted per node.
 *
 * Existing pods' terms constrain newcomers too: a pod may not land in a zone where a running pod
 * has a required anti-affinity term that matches it, and existing pods' preferences add to the
 * scores. The pods of one Deployment all carry the same terms, so grouping by term makes the check
 * O(distinct terms × nodes) instead of O(pods) per pod.
 */
import { NodeCounts, type TopologyView } from './node-counts.ts'
import type { AffinityTerm, PodAffinityTerms, PodInfo } from './pod-info.ts'

/** The four kinds of terms, named after the PodAffinityTerms fields. */
export type TermKind = keyof PodAffinityTerms

export const TERM_KINDS: readonly TermKind[] = ['requiredAffinity', 'requiredAntiAffinity', 'preferredAffinity', 'preferredAntiAffinity']

/** Pods carrying one identical term, counted per node. */
export interface TermGroup {
  readonly term: AffinityTerm
  readonly counts: NodeCounts
}

/** Term groups by kind; owned by one ClusterSnapshot. */
export class ExistingTermIndex {
  private readonly groups: Record<TermKind, Map<string, TermGroup>> = {
    requiredAffinity: new Map(),
    requiredAntiAffinity: new Map(),
    preferredAffinity: new Map(),
    preferredAntiAffinity: new Map(),
  }

  /** The groups of one kind, in a deterministic order (first placement first). */
  groupsOf(kind: TermKind): Iterable<TermGroup> {
    return this.groups[kind].values()
  }

  /** True when no placed pod has a term of this kind. */
  isEmpty(kind: TermKind): boolean {
    return this.groups[kind].size === 0
  }

  /** Reports a pod placed (+1) or removed (−1). */
  podChanged(pod: PodInfo, delta: 1 | -1, topology: TopologyView): void {
    if (pod.affinity === undefined) return
    for (const kind of TERM_KINDS) {
      for (const term of pod.affinity[kind]) this.change(kind, term, pod.nodeName, delta, topology)
    }
  }

  private change(kind: TermKind, term: AffinityTerm, nodeName: string, delta: 1 | -1, topology: TopologyView): void {
    const key = `${term.matcher.key}|${term.topologyKey}|${term.weight}`
    const groups = this.groups[kind]
    let group = groups.get(key)
    if (group === undefined) {
      group = { term, counts: new NodeCounts() }
      groups.set(key, group)
    }
    group.counts.add(nodeName, delta, topology)
    if (group.counts.total === 0) groups.delete(key)
  }
}
