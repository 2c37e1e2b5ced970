/**
 * Per-node counts of the pods that satisfy a PodMatcher, memoized by the matcher's key and kept
 * current as pods are placed and removed.
 *
 * Topology spread and inter-pod affinity both ask "how many pods matching this selector are on
 * each node (or in each zone)?" for every pod they schedule. Scanning every pod each time costs
 * O(pods) per pod, O(pods²) for a Deployment. Here the first question for a matcher scans once;
 * afterwards every pod added or removed updates each memoized table in O(tables), and the question
 * is a lookup. Tables are evicted least-recently-used beyond `maxEntries`, so memory stays bounded
 * however many distinct selectors pass through; an evicted table is rebuilt by one scan when
 * asked for again.
 */
import { NodeCounts, type TopologyView } from './node-counts.ts'
import type { NamespaceLabelsLookup, PodMatcher } from './pod-matcher.ts'
import type { PodInfo } from './pod-info.ts'

/** One memoized table. */
export interface PodCountTable {
  readonly matcher: PodMatcher
  readonly counts: NodeCounts
}

/** Default bound on memoized tables: far more than the selectors one scheduling batch uses. */
export const MATCHING_POD_COUNTS_MAX_DEFAULT = 256

/** The memo; owned by one ClusterSnapshot, which reports every placed pod change to it. */
export class MatchingPodCounts {
  private readonly tables = new Map<string, PodCountTable>()
  private readonly maxEntries: number

  constructor(maxEntries = MATCHING_POD_COUNTS_MAX_DEFAULT) {
    this.maxEntries = maxEntries
  }

  /** The table for `matcher`, built from `placedPods` by one scan when it is not memoized. */
  table(matcher: PodMatcher, placedPods: Iterable<PodInfo>, namespaceLabels: NamespaceLabelsLookup, topology: TopologyView): PodCountTable {
    const existing = this.tables.get(matcher.key)
    if (existing !== undefined) {
      // Re-insert to mark it most recently used (Map iteration order is insertion order).
      this.tables.delete(matcher.key)
      this.tables.set(matcher.key, existing)
      return existing
    }
    const table: PodCountTable = { matcher, counts: new NodeCounts() }
    for (const pod of placedPods) {
      if (matcher.matches(pod, namespaceLabels)) table.counts.add(pod.nodeName, 1, topology)
    }
    this.tables.set(matcher.key, table)
    if (this.tables.size > this.maxEntries) {
      const oldest = this.tables.keys().next().value
      if (oldest !== undefined) this.tables.delete(oldest)
    }
    return table
  }

  /** Reports a pod placed (+1) or removed (−1) so that every memoized table stays exact. */
  podChanged(pod: PodInfo, delta: 1 | -1, namespaceLabels: NamespaceLabelsLookup, topology: TopologyView): void {
    for (const table of this.tables.values()) {
      if (table.matcher.matches(pod, namespaceLabels)) table.counts.add(pod.nodeName, delta, topology)
    }
  }

  /** Drops the tables whose matchers read namespace labels (they changed). */
  namespaceLabelsChanged(): void {
    for (const [key, table] of this.tables) if (table.matcher.readsNamespaceLabels) this.tables.delete(key)
  }

  /** How many tables are memoized (for tests of the bound). */
  get size(): number {
    return this.tables.size
  }
}
