/**
 * Pod CIDR allocation (kube-controller-manager's nodeipam "range allocator"): the leader gives
 * each Node without one a /24 of the cluster CIDR 10.244.0.0/16, the lowest one free, in
 * `spec.podCIDR` and `spec.podCIDRs`. The node agent takes its pods' IPs from it, so pod IPs are
 * unique across the cluster. Once set, a node's pod CIDR never changes (validation forbids it);
 * the range of a deleted Node is free again.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { listAt, specOf, stringAt } from '../object-fields.ts'

/** The cluster's pod network. */
export const CLUSTER_CIDR_PREFIX = '10.244.'
/** /24 ranges in the /16: one per node. */
export const POD_CIDRS_MAX = 256

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

/** The lowest free /24, or undefined when all are taken. */
export function nextPodCidr(used: ReadonlySet<string>): string | undefined {
  for (let index = 0; index < POD_CIDRS_MAX; index++) {
    const cidr = `${CLUSTER_CIDR_PREFIX}${index}.0/24`
    if (!used.has(cidr)) return cidr
  }
  return undefined
}
