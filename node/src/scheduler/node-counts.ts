/**
 * NodeCounts: how many pods of some kind each node holds, and the same counts summed per topology
 * domain (per zone, per hostname, …) on demand.
 *
 * The per-domain sums are what spreading and inter-pod affinity really ask for. They are built on
 * first use for a topology key and then kept current as pods come and go, until any node's labels
 * change (the snapshot's `labelsVersion` moves), when they are rebuilt on the next use. So a pod of
 * a 10,000-replica Deployment reads its zone counts in O(zones), not O(nodes).
 */

/** What NodeCounts needs to know about nodes: their labels, and when any labels changed. */
export interface TopologyView {
  /** Changes whenever some node's labels change, appear or disappear. */
  readonly labelsVersion: number
  /** The labels of a node with a Node object; undefined for unknown or departed nodes. */
  labelsOf(nodeName: string): Readonly<Record<string, string>> | undefined
}

/** Pod counts per node and, lazily, per domain. */
export class NodeCounts {
  /** Node name → count; nodes with none are absent. */
  readonly perNode = new Map<string, number>()
  /** The sum over all nodes. */
  total = 0
  private readonly domainCounts = new Map<string, Map<string, number>>()
  private domainsVersion = -1

  /** Adds `delta` pods on `nodeName`. */
  add(nodeName: string, delta: number, topology: TopologyView): void {
    const count = (this.perNode.get(nodeName) ?? 0) + delta
    if (count > 0) this.perNode.set(nodeName, count)
    else this.perNode.delete(nodeName)
    this.total += delta
    if (this.domainsVersion !== topology.labelsVersion || this.domainCounts.size === 0) return
    const labels = topology.labelsOf(nodeName)
    if (labels === undefined) return
    for (const [key, counts] of this.domainCounts) {
      const value = labels[key]
      if (value !== undefined) addTo(counts, value, delta)
    }
  }

  /**
   * Counts per value of `topologyKey`, over nodes that carry the key (domains with no pod are
   * absent). The map is live: read it before the next change.
   */
  domains(topologyKey: string, topology: TopologyView): ReadonlyMap<string, number> {
    if (this.domainsVersion !== topology.labelsVersion) {
      this.domainCounts.clear()
      this.domainsVersion = topology.labelsVersion
    }
    let counts = this.domainCounts.get(topologyKey)
    if (counts === undefined) {
      counts = new Map()
      for (const [nodeName, count] of this.perNode) {
        const value = topology.labelsOf(nodeName)?.[topologyKey]
        if (value !== undefined) addTo(counts, value, count)
      }
      this.domainCounts.set(topologyKey, counts)
    }
    return counts
  }
}

function addTo(counts: Map<string, number>, key: string, delta: number): void {
  const count = (counts.get(key) ?? 0) + delta
  if (count > 0) counts.set(key, count)
  else counts.delete(key)
}
