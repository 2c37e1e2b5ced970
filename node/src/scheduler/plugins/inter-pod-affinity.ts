/**
 * InterPodAffinity: where a pod may and would like to go relative to pods already placed.
 *
 * A term names pods (namespaces + label selector) and a topology key; "pod B is in the same domain
 * as node N" means B's node has the same value for that key as N.
 *
 * Filter, in kube-scheduler's order:
 * 1. required affinity: N must carry every term's key, and each term's domain on N must hold a
 *    pod that matches all the terms, unless no such pod exists anywhere and the pod matches its
 *    own terms (the first pod of a group that attracts itself);
 * 2. required anti-affinity: no domain of N may hold a pod matching one of the terms;
 * 3. existing pods' required anti-affinity: no pod in a domain of N may have a term the pod matches.
 *
 * Score: for each placed pod P, add a term's weight to every node in P's domain when P matches a
 * preferred affinity term of the pod (subtract for anti-affinity), and likewise for P's own
 * preferred terms that match the pod; P's required affinity terms that match the pod count with
 * the profile's hardPodAffinityWeight. Min–max normalized.
 *
 * Counts come from the snapshot's memoized per-node tables and term groups, so the cost per pod is
 * O(nodes × terms), not O(placed pods).
 */
import { minMaxNormalizeScore, rejection, type FilterPlugin, type ScorePlugin } from '../framework.ts'
import type { TermKind } from '../existing-term-index.ts'
import type { NodeCounts } from '../node-counts.ts'
import { allOfMatcher } from '../pod-matcher.ts'
import type { AffinityTerm, PodInfo } from '../pod-info.ts'
import type { ClusterSnapshot } from '../snapshot.ts'

/** The reason when the pod's required affinity cannot be met on the node. */
export const REASON_AFFINITY_RULES = "node(s) didn't match pod affinity rules"
/** The reason when the pod's required anti-affinity excludes the node. */
export const REASON_ANTI_AFFINITY_RULES = "node(s) didn't match pod anti-affinity rules"
/** The reason when a placed pod's required anti-affinity excludes the node. */
export const REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

const REJECTED_AFFINITY = rejection('InterPodAffinity', 'UnschedulableAndUnresolvable', REASON_AFFINITY_RULES)
const REJECTED_ANTI_AFFINITY = rejection('InterPodAffinity', 'Unschedulable', REASON_ANTI_AFFINITY_RULES)
const REJECTED_EXISTING_ANTI_AFFINITY = rejection('InterPodAffinity', 'Unschedulable', REASON_EXISTING_ANTI_AFFINITY)

/**
 * Domains that count, as (topology key, live per-domain counts) pairs: a node is concerned when
 * its value for one of the keys has a count. Read during one scheduling cycle only.
 */
type DomainSets = Array<readonly [string, ReadonlyMap<string, number>]>

function concerns(domains: DomainSets, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, counts] of domains) {
    const value = labels[key]
    if (value !== undefined && counts.has(value)) return true
  }
  return false
}

export const interPodAffinityFilterPlugin: FilterPlugin = {
  name: 'InterPodAffinity',
  preFilter(pod, snapshot) {
    const required = pod.affinity?.requiredAffinity ?? []
    const requiredAnti = pod.affinity?.requiredAntiAffinity ?? []
    const existingAnti = !snapshot.existingTerms.isEmpty('requiredAntiAffinity')
    if (required.length === 0 && requiredAnti.length === 0 && !existingAnti) return undefined

    const existingForbidden: DomainSets = []
    for (const group of snapshot.existingTerms.groupsOf('requiredAntiAffinity')) {
      if (!group.term.matcher.matches(pod, snapshot.namespaceLabels)) continue
      existingForbidden.push([group.term.topologyKey, group.counts.domains(group.term.topologyKey, snapshot)])
    }
    const antiForbidden: DomainSets = requiredAnti.map((term) => [term.topologyKey, snapshot.matchingPodCounts(term.matcher).counts.domains(term.topologyKey, snapshot)])
    const affinity = requiredAffinityCheck(pod, snapshot, required)

    return (node) => {
      if (!affinity(node.labels)) return REJECTED_AFFINITY
      if (antiForbidden.length > 0 && concerns(antiForbidden, node.labels)) return REJECTED_ANTI_AFFINITY
      if (existingForbidden.length > 0 && concerns(existingForbidden, node.labels)) return REJECTED_EXISTING_ANTI_AFFINITY
      return undefined
    }
  },
}

/** The per-node check for the pod's required affinity terms (step 1 of the module comment). */
function requiredAffinityCheck(pod: PodInfo, snapshot: ClusterSnapshot, terms: readonly AffinityTerm[]): (labels: Readonly<Record<string, string>>) => boolean {
  if (terms.length === 0) return () => true
  const all = allOfMatcher(terms.map((term) => term.matcher))
  const counts = snapshot.matchingPodCounts(all).counts
  // Per term, the domains holding a pod that matches all the terms.
  const allowed = terms.map((term) => counts.domains(term.topologyKey, snapshot))
  const noMatchAnywhere = allowed.every((domains) => domains.size === 0)
  const firstOfItsKind = noMatchAnywhere && all.matches(pod, snapshot.namespaceLabels)
  return (labels) => {
    let podsExist = true
    for (let i = 0; i < terms.length; i++) {
      const value = labels[(terms[i] as AffinityTerm).topologyKey]
      if (value === undefined) return false
      if (!(allowed[i] as ReadonlyMap<string, number>).has(value)) podsExist = false
    }
    return podsExist || firstOfItsKind
  }
}

/** The InterPodAffinity score plugin; `hardPodAffinityWeight` weighs placed pods' required terms. */
export function interPodAffinityScorePlugin(hardPodAffinityWeight: number): ScorePlugin {
  return {
    name: 'InterPodAffinity',
    preScore(pod, snapshot) {
      // Each contribution scores every node in a domain by weight × pods counted there. They are
      // summed per node rather than merged into one table, which would copy a map per pod.
      const contributions: Array<readonly [string, ReadonlyMap<string, number>, number]> = []
      const add = (topologyKey: string, counts: NodeCounts, weight: number): void => {
        if (weight !== 0) contributions.push([topologyKey, counts.domains(topologyKey, snapshot), weight])
      }
      // The pod's own preferences, over the placed pods they match.
      for (const term of pod.affinity?.preferredAffinity ?? []) add(term.topologyKey, snapshot.matchingPodCounts(term.matcher).counts, term.weight)
      for (const term of pod.affinity?.preferredAntiAffinity ?? []) add(term.topologyKey, snapshot.matchingPodCounts(term.matcher).counts, -term.weight)
      // Placed pods' terms that match the pod.
      const existing: Array<[TermKind, number]> = [['preferredAffinity', 1], ['preferredAntiAffinity', -1], ['requiredAffinity', 0]]
      for (const [kind, sign] of existing) {
        for (const group of snapshot.existingTerms.groupsOf(kind)) {
          if (!group.term.matcher.matches(pod, snapshot.namespaceLabels)) continue
          add(group.term.topologyKey, group.counts, sign === 0 ? hardPodAffinityWeight : sign * group.term.weight)
        }
      }
      if (contributions.length === 0) return undefined
      return {
        score(node) {
          let total = 0
          for (const [key, counts, weight] of contributions) {
            const value = node.labels[key]
            if (value !== undefined) total += weight * (counts.get(value) ?? 0)
          }
          return total
        },
        normalize: minMaxNormalizeScore,
      }
    },
  }
}
