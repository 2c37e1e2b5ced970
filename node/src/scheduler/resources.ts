/**
 * Resource amounts for scheduling: what a pod requests and what a node can give.
 *
 * Amounts are plain numbers, not Quantity objects, because the filter and score loops compare them
 * millions of times: cpu in millicores, everything else in whole units (bytes for memory and
 * ephemeral storage, devices for extended resources). Quantities are parsed once, when a pod or
 * node enters the snapshot, with Kubernetes' rounding (`Quantity.toMilli`, `Quantity.value`, both
 * rounding up). Numbers stay exact up to 2^53, that is 8 PiB of memory.
 *
 * A pod's request follows k8s.io/component-helpers `PodRequests`: the sum over its containers, at
 * least the largest init container (with restartable "sidecar" init containers added to both
 * sides), plus `spec.overhead`. A container's missing request falls back to its limit, which is
 * what the API server's defaulting stores on a real cluster.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { parseQuantity } from '../api/machinery/quantity.ts'
import { objectAt, objectsAt, stringAt } from './json-access.ts'

export const RESOURCE_CPU = 'cpu'
export const RESOURCE_MEMORY = 'memory'
export const RESOURCE_EPHEMERAL_STORAGE = 'ephemeral-storage'
export const RESOURCE_PODS = 'pods'

/**
 * The cpu a container without a cpu request counts as when nodes are scored (not filtered), in
 * millicores: kube-scheduler's DefaultMilliCPURequest. Without it, LeastAllocated would stack every
 * BestEffort pod onto the same node because they all "request nothing".
 */
export const DEFAULT_NON_ZERO_MILLI_CPU = 100
/** The memory counterpart of DEFAULT_NON_ZERO_MILLI_CPU: 200 MiB (DefaultMemoryRequest). */
export const DEFAULT_NON_ZERO_MEMORY_BYTES = 200 * 1024 * 1024

/** An amount of each resource. Mutable: node totals are updated in place as pods come and go. */
export interface Resources {
  milliCpu: number
  memoryBytes: number
  ephemeralStorageBytes: number
  /** Extended resources (`nvidia.com/gpu`, `hugepages-2Mi`, …) by name; undefined when none. */
  scalar: Map<string, number> | undefined
}

/** A resource list (`requests`, `allocatable`) as name → amount in the units described above. */
export type ResourceAmounts = Map<string, number>

/** Zero of everything. */
export function emptyResources(): Resources {
  return { milliCpu: 0, memoryBytes: 0, ephemeralStorageBytes: 0, scalar: undefined }
}

/**
 * Parses a Kubernetes resource list (`{cpu: "250m", memory: "64Mi"}`). Values that are not
 * quantities are skipped: objects reach the scheduler after API validation, and a field that still
 * does not parse should not block scheduling of the rest of the pod.
 */
export function parseResourceList(list: JsonObject | undefined): ResourceAmounts {
  const amounts: ResourceAmounts = new Map()
  if (list === undefined) return amounts
  for (const [name, value] of Object.entries(list)) {
    const amount = amountOf(name, value)
    if (amount !== undefined) amounts.set(name, amount)
  }
  return amounts
}

function amountOf(name: string, value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  let quantity
  try {
    quantity = parseQuantity(String(value))
  } catch {
    return undefined
  }
  const amount = name === RESOURCE_CPU ? quantity.toMilli() : quantity.value()
  // Absurd quantities (beyond 2^53 units) saturate instead of losing precision silently.
  const clamped = amount > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(amount)
  return Math.max(0, clamped)
}

/** The pod's effective requests and the non-zero variant used for scoring. */
export interface PodRequests {
  readonly requests: Resources
  readonly nonZeroMilliCpu: number
  readonly nonZeroMemoryBytes: number
}

/** A pod's requests from its spec (see the module comment for the rules). */
export function podRequests(spec: JsonObject | undefined): PodRequests {
  const plain = podTotal(spec, containerRequests)
  const nonZero = podTotal(spec, nonZeroContainerRequests)
  return {
    requests: resourcesOf(plain),
    nonZeroMilliCpu: nonZero.get(RESOURCE_CPU) ?? 0,
    nonZeroMemoryBytes: nonZero.get(RESOURCE_MEMORY) ?? 0,
  }
}

function podTotal(spec: JsonObject | undefined, perContainer: (container: JsonObject) => ResourceAmounts): ResourceAmounts {
  const total: ResourceAmounts = new Map()
  for (const container of objectsAt(spec, 'containers')) addInto(total, perContainer(container))
  // Sidecars (restartPolicy Always) keep running next to the app containers, so they add to the
  // total; each ordinary init container runs alone, next to the sidecars started before it.
  const sidecars: ResourceAmounts = new Map()
  const initPeak: ResourceAmounts = new Map()
  for (const container of objectsAt(spec, 'initContainers')) {
    const amounts = perContainer(container)
    let running: ResourceAmounts
    if (stringAt(container, 'restartPolicy') === 'Always') {
      addInto(total, amounts)
      addInto(sidecars, amounts)
      running = sidecars
    } else {
      running = new Map(amounts)
      addInto(running, sidecars)
    }
    maxInto(initPeak, running)
  }
  maxInto(total, initPeak)
  addInto(total, parseResourceList(objectAt(spec, 'overhead')))
  return total
}

function containerRequests(container: JsonObject): ResourceAmounts {
  const resources = objectAt(container, 'resources')
  const requests = parseResourceList(objectAt(resources, 'requests'))
  const limits = parseResourceList(objectAt(resources, 'limits'))
  for (const [name, limit] of limits) if (!requests.has(name)) requests.set(name, limit)
  return requests
}

function nonZeroContainerRequests(container: JsonObject): ResourceAmounts {
  const requests = containerRequests(container)
  if (!requests.has(RESOURCE_CPU)) requests.set(RESOURCE_CPU, DEFAULT_NON_ZERO_MILLI_CPU)
  if (!requests.has(RESOURCE_MEMORY)) requests.set(RESOURCE_MEMORY, DEFAULT_NON_ZERO_MEMORY_BYTES)
  return requests
}

function addInto(target: ResourceAmounts, amounts: ResourceAmounts): void {
  for (const [name, amount] of amounts) target.set(name, (target.get(name) ?? 0) + amount)
}

function maxInto(target: ResourceAmounts, amounts: ResourceAmounts): void {
  for (const [name, amount] of amounts) target.set(name, Math.max(target.get(name) ?? 0, amount))
}

/** Converts a parsed resource list into a Resources record (the `pods` entry is not included). */
export function resourcesOf(amounts: ResourceAmounts): Resources {
  const resources = emptyResources()
  for (const [name, amount] of amounts) {
    switch (name) {
      case RESOURCE_CPU:
        resources.milliCpu = amount
        break
      case RESOURCE_MEMORY:
        resources.memoryBytes = amount
        break
      case RESOURCE_EPHEMERAL_STORAGE:
        resources.ephemeralStorageBytes = amount
        break
      case RESOURCE_PODS:
        break
      default:
        resources.scalar ??= new Map()
        resources.scalar.set(name, amount)
    }
  }
  return resources
}

/** Adds `amount × sign` to `target` in place (sign −1 removes a pod's requests from a node). */
export function addResources(target: Resources, amount: Resources, sign: 1 | -1): void {
  target.milliCpu += sign * amount.milliCpu
  target.memoryBytes += sign * amount.memoryBytes
  target.ephemeralStorageBytes += sign * amount.ephemeralStorageBytes
  if (amount.scalar === undefined) return
  target.scalar ??= new Map()
  for (const [name, value] of amount.scalar) {
    const next = (target.scalar.get(name) ?? 0) + sign * value
    if (next === 0) target.scalar.delete(name)
    else target.scalar.set(name, next)
  }
}

/** True when the pod requests nothing at all (a BestEffort pod, or one whose requests are all 0). */
export function isZeroRequest(resources: Resources): boolean {
  if (resources.milliCpu !== 0 || resources.memoryBytes !== 0 || resources.ephemeralStorageBytes !== 0) return false
  if (resources.scalar === undefined) return true
  for (const value of resources.scalar.values()) if (value !== 0) return false
  return true
}

/** What a node offers: `status.allocatable`, each resource falling back to `status.capacity`. */
export interface NodeAllocatable {
  readonly resources: Resources
  /** How many pods the node accepts; 0 when the node declares no `pods` resource, as in Kubernetes. */
  readonly pods: number
}

/** A node's allocatable resources. */
export function nodeAllocatable(node: JsonObject): NodeAllocatable {
  const status = objectAt(node, 'status')
  const amounts = parseResourceList(objectAt(status, 'capacity'))
  const allocatable = objectAt(status, 'allocatable')
  for (const [name, amount] of parseResourceList(allocatable)) amounts.set(name, amount)
  return { resources: resourcesOf(amounts), pods: amounts.get(RESOURCE_PODS) ?? 0 }
}

/** The amount of a named resource in `resources` (cpu in millicores). */
export function resourceAmount(resources: Resources, name: string): number {
  switch (name) {
    case RESOURCE_CPU:
      return resources.milliCpu
    case RESOURCE_MEMORY:
      return resources.memoryBytes
    case RESOURCE_EPHEMERAL_STORAGE:
      return resources.ephemeralStorageBytes
    default:
      return resources.scalar?.get(name) ?? 0
  }
}
