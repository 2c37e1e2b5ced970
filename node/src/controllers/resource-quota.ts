/**
 * ResourceQuota accounting, pure: what one object uses of the names a quota can limit, which
 * objects a quota counts (its scopes), and the status the quota controller writes
 * (`status.hard` = `spec.hard`, `status.used` for every hard name), as Kubernetes' quota
 * evaluators (pkg/quota/v1/evaluator/core) count them:
 *
 *   pods, count/pods                      pods that are not finished (Succeeded/Failed) and not being deleted
 *   requests.cpu|memory (and cpu|memory), limits.cpu|memory
 *                                         the sums over those pods: max(sum of containers, largest init container)
 *   services, services.nodeports, services.loadbalancers
 *   configmaps, secrets, persistentvolumeclaims (+ requests.storage), replicationcontrollers, resourcequotas
 *   count/<resource>[.<group>]            any registered resource, by object count
 *
 * Scopes (BestEffort, NotBestEffort, Terminating, NotTerminating) narrow a quota to pods; a scoped
 * quota counts nothing else. The same functions serve the admission check
 * (resource-quota-admission.ts) and the controller (manager/resource-quota-controller.ts).
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import { Quantity } from '../api/machinery/quantity.ts'
import { quantityOf } from '../api/server/kinds/resource-lists.ts'
import { equalIgnoringNullFields, isBeingDeleted, listAt, namespaceOf, objectAt, specOf, statusOf, stringAt } from './object-fields.ts'
import { PlanBuilder, type Plan, type ResourceRef } from './plan.ts'
import { podPhase } from './pods.ts'

/** ResourceQuotas: core/v1. */
export const RESOURCE_QUOTAS: ResourceRef = { group: '', resource: 'resourcequotas', kind: 'ResourceQuota', apiVersion: 'v1', namespaced: true }

/** A resource by group and plural name, as quotas name them (`count/deployments.apps`). */
export interface GroupResource {
  readonly group: string
  readonly resource: string
}

/** Usage: resource name → amount. */
export type Usage = Map<string, Quantity>

/** `group/resource` as a map key. */
export function groupResourceKey(groupResource: GroupResource): string {
  return `${groupResource.group}/${groupResource.resource}`
}

/** The object-count name of a resource: `count/pods`, `count/deployments.apps`. */
export function objectCountName(groupResource: GroupResource): string {
  return groupResource.group === '' ? `count/${groupResource.resource}` : `count/${groupResource.resource}.${groupResource.group}`
}

/** The resource a `count/…` name counts, or undefined for other names. */
function countedResource(name: string): GroupResource | undefined {
  if (!name.startsWith('count/')) return undefined
  const rest = name.slice('count/'.length)
  const dot = rest.indexOf('.')
  return dot < 0 ? { group: '', resource: rest } : { group: rest.slice(dot + 1), resource: rest.slice(0, dot) }
}

/** The legacy names of core resources that count objects (`pods` = `count/pods`). */
const LEGACY_COUNT_NAMES: Readonly<Record<string, string>> = {
  pods: 'pods',
  services: 'services',
  configmaps: 'configmaps',
  secrets: 'secrets',
  persistentvolumeclaims: 'persistentvolumeclaims',
  replicationcontrollers: 'replicationcontrollers',
  resourcequotas: 'resourcequotas',
}

const POD_COMPUTE = ['cpu', 'memory'] as const

/** The resources whose objects a quota with these hard names must see to compute its usage. */
export function resourcesCountedBy(hardNames: Iterable<string>): GroupResource[] {
  const found = new Map<string, GroupResource>()
  const add = (groupResource: GroupResource): void => void found.set(groupResourceKey(groupResource), groupResource)
  for (const name of hardNames) {
    const counted = countedResource(name)
    if (counted !== undefined) add(counted)
    else if (LEGACY_COUNT_NAMES[name] !== undefined) add({ group: '', resource: name })
    else if (name.startsWith('services.')) add({ group: '', resource: 'services' })
    else if (name === 'requests.storage') add({ group: '', resource: 'persistentvolumeclaims' })
    else if (name.startsWith('requests.') || name.startsWith('limits.') || name === 'cpu' || name === 'memory') add({ group: '', resource: 'pods' })
  }
  return [...found.values()].sort((a, b) => (groupResourceKey(a) < groupResourceKey(b) ? -1 : 1))
}

function addTo(usage: Usage, name: string, amount: Quantity): void {
  const current = usage.get(name)
  usage.set(name, current === undefined ? amount : current.add(amount))
}

/** True when a pod counts at all: not finished and not being deleted. */
export function podCountsForQuota(pod: JsonObject): boolean {
  const phase = podPhase(pod)
  return phase !== 'Succeeded' && phase !== 'Failed' && !isBeingDeleted(pod)
}

/** The pod's effective `requests` or `limits` of one compute resource (undefined: none stated). */
function podCompute(pod: JsonObject, kind: 'requests' | 'limits', resource: string): Quantity | undefined {
  const spec = specOf(pod)
  let sum: Quantity | undefined
  for (const container of listAt(spec['containers'])) {
    const amount = quantityOf(objectAt(objectAt(objectAt(container)['resources'])[kind])[resource])
    if (amount !== undefined) sum = sum === undefined ? amount : sum.add(amount)
  }
  // Init containers run one at a time before the others: the largest of them is what counts
  // when it exceeds the sum of the app containers.
  for (const container of listAt(spec['initContainers'])) {
    const amount = quantityOf(objectAt(objectAt(objectAt(container)['resources'])[kind])[resource])
    if (amount !== undefined && (sum === undefined || amount.compare(sum) > 0)) sum = amount
  }
  return sum
}

/** True when no container of the pod states any request or limit (QoS class BestEffort). */
function isBestEffort(pod: JsonObject): boolean {
  const spec = specOf(pod)
  return [...listAt(spec['containers']), ...listAt(spec['initContainers'])].every((container) => {
    const resources = objectAt(objectAt(container)['resources'])
    return Object.keys(objectAt(resources['requests'])).length === 0 && Object.keys(objectAt(resources['limits'])).length === 0
  })
}

/** The names a pod uses, with amounts (empty when the pod does not count). */
export function podUsage(pod: JsonObject): Usage {
  const usage: Usage = new Map()
  if (!podCountsForQuota(pod)) return usage
  const one = Quantity.fromUnits(1)
  usage.set('pods', one)
  usage.set('count/pods', one)
  for (const resource of POD_COMPUTE) {
    const requests = podCompute(pod, 'requests', resource)
    if (requests !== undefined) {
      usage.set(`requests.${resource}`, requests)
      usage.set(resource, requests)
    }
    const limits = podCompute(pod, 'limits', resource)
    if (limits !== undefined) usage.set(`limits.${resource}`, limits)
  }
  return usage
}

/** The names one object of `groupResource` uses (its counts, and what its kind adds). */
export function objectUsage(groupResource: GroupResource, object: JsonObject): Usage {
  if (groupResource.group === '' && groupResource.resource === 'pods') return podUsage(object)
  const usage: Usage = new Map()
  const one = Quantity.fromUnits(1)
  usage.set(objectCountName(groupResource), one)
  if (groupResource.group !== '') return usage
  const legacy = LEGACY_COUNT_NAMES[groupResource.resource]
  if (legacy !== undefined) usage.set(legacy, one)
  if (groupResource.resource === 'services') {
    const spec = specOf(object)
    const type = stringAt(spec['type'], 'ClusterIP')
    const nodePorts = listAt(spec['ports']).filter((port) => isJsonObject(port) && typeof port['nodePort'] === 'number').length
    if (type === 'NodePort' || type === 'LoadBalancer') usage.set('services.nodeports', Quantity.fromUnits(nodePorts))
    else usage.set('services.nodeports', Quantity.fromUnits(0))
    usage.set('services.loadbalancers', Quantity.fromUnits(type === 'LoadBalancer' ? 1 : 0))
  }
  if (groupResource.resource === 'persistentvolumeclaims') {
    const storage = quantityOf(objectAt(objectAt(specOf(object)['resources'])['requests'])['storage'])
    if (storage !== undefined) usage.set('requests.storage', storage)
  }
  return usage
}

/**
 * True when `quota` counts `object` of `groupResource`: same namespace, and every scope holds.
 * Scopes concern pods only, so a scoped quota counts no other kind.
 */
export function quotaCounts(quota: JsonObject, groupResource: GroupResource, object: JsonObject): boolean {
  if (namespaceOf(quota) !== namespaceOf(object)) return false
  const scopes = listAt(specOf(quota)['scopes']).filter((scope): scope is string => typeof scope === 'string')
  if (scopes.length === 0) return true
  if (groupResource.group !== '' || groupResource.resource !== 'pods') return false
  const terminating = typeof specOf(object)['activeDeadlineSeconds'] === 'number'
  return scopes.every((scope) => {
    switch (scope) {
      case 'Terminating':
        return terminating
      case 'NotTerminating':
        return !terminating
      case 'BestEffort':
        return isBestEffort(object)
      case 'NotBestEffort':
        return !isBestEffort(object)
      default:
        // PriorityClass and cross-namespace affinity scopes need selectors Flotilla does not read.
        return true
    }
  })
}

/** The hard limits of a quota's spec, parsed (names whose values do not parse are skipped). */
export function hardOf(quota: JsonObject): Usage {
  const hard: Usage = new Map()
  for (const [name, value] of Object.entries(objectAt(specOf(quota)['hard']))) {
    const amount = quantityOf(value)
    if (amount !== undefined) hard.set(name, amount)
  }
  return hard
}

/**
 * What `quota` has used of each of its hard names, over the objects of the resources it counts
 * (`objectsOf` returns those of one resource, any namespace; undefined for a resource that does
 * not exist, which then counts zero). Every hard name gets a value, zero when nothing uses it.
 */
export function quotaUsage(quota: JsonObject, objectsOf: (groupResource: GroupResource) => readonly JsonObject[] | undefined): Usage {
  const hard = hardOf(quota)
  const used: Usage = new Map()
  for (const groupResource of resourcesCountedBy(hard.keys())) {
    for (const object of objectsOf(groupResource) ?? []) {
      if (!quotaCounts(quota, groupResource, object)) continue
      for (const [name, amount] of objectUsage(groupResource, object)) if (hard.has(name)) addTo(used, name, amount)
    }
  }
  for (const [name, limit] of hard) if (!used.has(name)) used.set(name, new Quantity(0n, limit.format))
  return used
}

/** A usage as a resource list of canonical quantity texts, names sorted. */
export function usageAsResourceList(usage: Usage): JsonObject {
  const list: JsonObject = {}
  for (const name of [...usage.keys()].sort()) list[name] = (usage.get(name) as Quantity).toString()
  return list
}

/** True when two resource lists name the same amounts (texts may differ: `1000m` = `1`). */
function sameAmounts(a: JsonObject, b: JsonObject): boolean {
  const keysA = Object.keys(a).sort()
  const keysB = Object.keys(b).sort()
  if (!equalIgnoringNullFields(keysA, keysB)) return false
  return keysA.every((key) => {
    const left = quantityOf(a[key])
    const right = quantityOf(b[key])
    return left !== undefined && right !== undefined ? left.equals(right) : a[key] === b[key]
  })
}

/**
 * Reconciles one quota: writes `status.hard` (= `spec.hard`) and `status.used` when they differ
 * from what is stored; otherwise nothing.
 */
export function reconcileResourceQuota(quota: JsonObject, objectsOf: (groupResource: GroupResource) => readonly JsonObject[] | undefined): Plan {
  const plan = new PlanBuilder()
  if (isBeingDeleted(quota)) return plan.build()
  const hard = objectAt(specOf(quota)['hard'])
  const used = usageAsResourceList(quotaUsage(quota, objectsOf))
  const status = statusOf(quota)
  if (sameAmounts(objectAt(status['hard']), hard) && sameAmounts(objectAt(status['used']), used)) return plan.build()
  plan.add({
    type: 'updateStatus',
    resource: RESOURCE_QUOTAS,
    namespace: namespaceOf(quota),
    name: String(objectAt(quota['metadata'])['name'] ?? ''),
    object: { ...quota, status: { hard: { ...hard }, used } },
  })
  return plan.build()
}
