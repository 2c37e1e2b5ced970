/**
 * Pod CIDR allocation (kube-controller-manager's nodeipam "range allocator"): the leader gives
 * each Node without one a /24 of the cluster CIDR 10.244.0.0/14 (1,024 nodes: 10.244.0.0/24 up to
 * 10.247.255.0/24), the lowest one free, in
 * `spec.podCIDR` and `spec.podCIDRs`. The node agent takes its pods' IPs from it, so pod IPs are
 * unique across the cluster. Once set, a node's pod CIDR never changes (validation forbids it);
 * the range of a deleted Node is free again.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { listAt, specOf, stringAt } from '../object-fields.ts'

/** The cluster's pod network. */
export const CLUSTER_CIDR = '10.244.0.0/14'
/** /24 ranges in the /14: one per node. */
export const POD_CIDRS_MAX = 1024

/** The index-th /24 of the cluster CIDR. */
export function podCidrAt(index: number): string {
  return `10.${244 + (index >> 8)}.${index & 255}.0/24`
}

/** The pod CIDRs the nodes hold. */
export function podCidrsInUse(nodes: Iterable<JsonObject>): Set<string> {
  const used = new Set<string>()
  for (const node of nodes) {
    const spec = specOf(node)
    const podCidr = stringAt(spec['podCIDR'])
    if (podCidr !== '') used.add(podCidr)
    for (const cidr of listAt(spec['podCIDRs'])) if (typeof cidr === 'string') used.add(cidr)
  }
  return used
}

/**
 * Hands out the free /24s lowest first. One allocator serves one pass over the nodes: its cursor
 * only moves forward, so a pass costs O(nodes + ranges) however many nodes wait for a range.
 */
export class PodCidrAllocator {
  private readonly used: Set<string>
  private cursor = 0

  constructor(used: Set<string>) {
    this.used = used
  }

  /** The lowest free /24 (now taken), or undefined when all are taken. */
  next(): string | undefined {
    for (; this.cursor < POD_CIDRS_MAX; this.cursor++) {
      const cidr = podCidrAt(this.cursor)
      if (!this.used.has(cidr)) {
        this.used.add(cidr)
        return cidr
      }
    }
    return undefined
  }
}
