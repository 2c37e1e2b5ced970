/**
 * A pod's quality-of-service class (`status.qosClass`), computed from its containers' cpu and
 * memory requests and limits exactly as kubelet and the API server compute it (`GetPodQOS`):
 *
 * - BestEffort: no container requests or limits cpu or memory;
 * - Guaranteed: every container has cpu and memory limits, and the pod's summed requests equal
 *   its summed limits for both;
 * - Burstable: anything in between.
 *
 * The class decides eviction order under node pressure, so it is fixed when the pod is created.
 */
import type { JsonObject } from '../../machinery/canonical.ts'
import type { Quantity } from '../../machinery/quantity.ts'
import { objectAt, objectsAt } from './json-access.ts'
import { quantityOf } from './resource-lists.ts'

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort'

const QOS_RESOURCES: readonly string[] = ['cpu', 'memory']

/** Adds the positive cpu/memory quantities of `list` into `totals`; returns the names it found. */
function accumulate(list: JsonObject, totals: Map<string, Quantity>): Set<string> {
  const found = new Set<string>()
  for (const name of QOS_RESOURCES) {
    const quantity = quantityOf(list[name])
    if (quantity === undefined || quantity.nanos <= 0n) continue
    found.add(name)
    const total = totals.get(name)
    totals.set(name, total === undefined ? quantity : total.add(quantity))
  }
  return found
}

/** The QoS class of a pod spec. */
export function qosClassOf(spec: JsonObject): QosClass {
  const requests = new Map<string, Quantity>()
  const limits = new Map<string, Quantity>()
  let guaranteed = true
  for (const container of [...objectsAt(spec['containers']), ...objectsAt(spec['initContainers'])]) {
    const resources = objectAt(container['resources'])
    accumulate(objectAt(resources['requests']), requests)
    const limited = accumulate(objectAt(resources['limits']), limits)
    if (!QOS_RESOURCES.every((name) => limited.has(name))) guaranteed = false
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort'
  for (const [name, request] of requests) {
    const limit = limits.get(name)
    if (limit === undefined || !limit.equals(request)) guaranteed = false
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable'
}
