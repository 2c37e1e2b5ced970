/**
 * NodeResourcesFit.
 *
 * Filter: the node must have room for one more pod (`Too many pods`) and, for each resource the
 * pod requests a non-zero amount of, allocatable − requested ≥ the pod's request
 * (`Insufficient cpu`, `Insufficient memory`, `Insufficient nvidia.com/gpu`, …). A node can fail
 * on several resources at once; each counts in the summary message.
 *
 * Score, with the strategy of the scheduler profile:
 * - LeastAllocated (the default) prefers the emptiest nodes, spreading load:
 *   (allocatable − requested) × 100 / allocatable per resource;
 * - MostAllocated prefers the fullest nodes that still fit, bin-packing:
 *   requested × 100 / allocatable per resource;
 * averaged with the resource weights (cpu 1, memory 1 by default). "Requested" includes the pod
 * and uses the non-zero requests (100m cpu, 200Mi memory for containers without requests), so
 * that BestEffort pods spread too. Resources a node has none of are left out of its average.
 */
import { MAX_NODE_SCORE, rejection, type FilterPlugin, type Rejection, type ScorePlugin } from '../framework.ts'
import type { NodeInfo } from '../node-info.ts'
import type { PodInfo } from '../pod-info.ts'
import { RESOURCE_CPU, RESOURCE_EPHEMERAL_STORAGE, RESOURCE_MEMORY, RESOURCE_PODS, resourceAmount } from '../resources.ts'

/** The reason when the node has no room for another pod. */
export const REASON_TOO_MANY_PODS = 'Too many pods'

/** The reason when a resource is short: `Insufficient cpu`. */
export function insufficientReason(resource: string): string {
  return `Insufficient ${resource}`
}

/** One resource the node is short of. */
export interface InsufficientResource {
  readonly resource: string
  readonly requested: number
  readonly used: number
  readonly capacity: number
}

/** The resources the node lacks for the pod, in the order pods, cpu, memory, storage, extended. */
export function insufficientResources(pod: PodInfo, node: NodeInfo): InsufficientResource[] {
  const short: InsufficientResource[] = []
  if (node.pods.size + 1 > node.allocatablePods) {
    short.push({ resource: RESOURCE_PODS, requested: 1, used: node.pods.size, capacity: node.allocatablePods })
  }
  if (pod.zeroRequest) return short
  const names = [RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_EPHEMERAL_STORAGE, ...[...(pod.requests.scalar?.keys() ?? [])].sort()]
  for (const resource of names) {
    const requested = resourceAmount(pod.requests, resource)
    if (requested <= 0) continue
    const used = resourceAmount(node.requested, resource)
    const capacity = resourceAmount(node.allocatable, resource)
    if (requested > capacity - used) short.push({ resource, requested, used, capacity })
  }
  return short
}

export const nodeResourcesFitFilterPlugin: FilterPlugin = {
  name: 'NodeResourcesFit',
  preFilter(pod) {
    const rejections = new Map<string, Rejection>()
    const { milliCpu, memoryBytes, ephemeralStorageBytes } = pod.requests
    const simple = pod.requests.scalar === undefined
    return (node) => {
      // The common case in a few comparisons, without allocating; the full check only on failure.
      if (node.pods.size + 1 <= node.allocatablePods && simple) {
        const free = node.allocatable
        const used = node.requested
        if (
          (milliCpu <= 0 || milliCpu <= free.milliCpu - used.milliCpu) &&
          (memoryBytes <= 0 || memoryBytes <= free.memoryBytes - used.memoryBytes) &&
          (ephemeralStorageBytes <= 0 || ephemeralStorageBytes <= free.ephemeralStorageBytes - used.ephemeralStorageBytes)
        ) {
          return undefined
        }
      }
      const short = insufficientResources(pod, node)
      if (short.length === 0) return undefined
      const reasons = short.map((item) => (item.resource === RESOURCE_PODS ? REASON_TOO_MANY_PODS : insufficientReason(item.resource)))
      const key = reasons.join('\n')
      let rejected = rejections.get(key)
      if (rejected === undefined) {
        rejected = rejection('NodeResourcesFit', 'Unschedulable', ...reasons)
        rejections.set(key, rejected)
      }
      return rejected
    }
  },
}

/** How NodeResourcesFit scores: spread (LeastAllocated) or bin-pack (MostAllocated). */
export type ScoringStrategy = 'LeastAllocated' | 'MostAllocated'

/** A resource and its weight in the NodeResourcesFit score. */
export interface ResourceWeight {
  readonly name: string
  readonly weight: number
}

/** The NodeResourcesFit score plugin for a strategy and resource weights. */
export function nodeResourcesFitScorePlugin(strategy: ScoringStrategy, resources: readonly ResourceWeight[]): ScorePlugin {
  const resourceScore = strategy === 'MostAllocated' ? mostAllocatedScore : leastAllocatedScore
  const cpuWeight = resources.find((resource) => resource.name === RESOURCE_CPU)?.weight ?? 0
  const memoryWeight = resources.find((resource) => resource.name === RESOURCE_MEMORY)?.weight ?? 0
  const others = resources.filter((resource) => resource.name !== RESOURCE_CPU && resource.name !== RESOURCE_MEMORY)
  return {
    name: 'NodeResourcesFit',
    preScore(pod) {
      return {
        score(node) {
          // cpu and memory inline (the hot path); other resources through the generic lookup.
          let total = 0
          let weightSum = 0
          const cpuCapacity = node.allocatable.milliCpu
          if (cpuWeight > 0 && cpuCapacity > 0) {
            total += resourceScore(node.nonZeroRequestedMilliCpu + pod.nonZeroMilliCpu, cpuCapacity) * cpuWeight
            weightSum += cpuWeight
          }
          const memoryCapacity = node.allocatable.memoryBytes
          if (memoryWeight > 0 && memoryCapacity > 0) {
            total += resourceScore(node.nonZeroRequestedMemoryBytes + pod.nonZeroMemoryBytes, memoryCapacity) * memoryWeight
            weightSum += memoryWeight
          }
          for (const { name, weight } of others) {
            const capacity = resourceAmount(node.allocatable, name)
            if (capacity === 0) continue
            total += resourceScore(resourceAmount(node.requested, name) + resourceAmount(pod.requests, name), capacity) * weight
            weightSum += weight
          }
          return weightSum === 0 ? 0 : Math.trunc(total / weightSum)
        },
      }
    },
  }
}

/** kube's leastRequestedScore: the free share in [0, 100], 0 when over capacity. */
export function leastAllocatedScore(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0
  return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity)
}

/** kube's mostRequestedScore: the used share in [0, 100], capped at 100 when over capacity. */
export function mostAllocatedScore(requested: number, capacity: number): number {
  if (capacity === 0) return 0
  return Math.trunc((Math.min(requested, capacity) * MAX_NODE_SCORE) / capacity)
}
