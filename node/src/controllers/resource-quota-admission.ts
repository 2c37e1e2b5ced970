/**
 * The ResourceQuota admission check, pure: would creating `object` take a namespace over one of
 * its quotas? The API server's create path calls it after defaulting and validation and before
 * the write, and answers 403 Forbidden with the returned text (`pods "x" is forbidden: <text>`),
 * as Kubernetes' ResourceQuota admission plugin does. Its messages are Kubernetes':
 *
 *   exceeded quota: <quota>, requested: pods=1, used: pods=2, limited: pods=2
 *   failed quota: <quota>: must specify limits.cpu,requests.cpu
 *   status unknown for quota: <quota>, resources: pods
 *
 * Only the names the new object uses and the quota limits are checked (creating a ConfigMap is
 * not refused because pods are over quota). Quotas are checked in name order; the first refusal
 * is the answer.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { Quantity } from '../api/machinery/quantity.ts'
import { quantityOf } from '../api/server/kinds/resource-lists.ts'
import { listAt, nameOf, namespaceOf, objectAt, specOf, statusOf } from './object-fields.ts'
import { hardOf, objectUsage, quotaCounts, type GroupResource, type Usage } from './resource-quota.ts'

export interface QuotaAdmissionInput {
  /** The resource being created (`{ group: '', resource: 'pods' }`). */
  readonly resource: GroupResource
  /** The new object, defaulted (its namespace set). */
  readonly object: JsonObject
  /** The ResourceQuotas of the object's namespace. */
  readonly quotas: readonly JsonObject[]
  /**
   * The live usage of a quota (resource-quota.ts `quotaUsage` over the store's objects). When
   * absent, the quota's `status.used` is trusted, as Kubernetes' admission plugin does.
   */
  readonly usedOf?: (quota: JsonObject) => Usage
}

/** Compute names whose presence a quota demands of every container of a pod. */
const CONTAINER_CONSTRAINED = ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory', 'cpu', 'memory'] as const

/** The names a pod's containers leave unset although `hard` limits them (sorted). */
function missingPodResources(pod: JsonObject, hard: Usage): string[] {
  const missing = new Set<string>()
  for (const name of CONTAINER_CONSTRAINED) {
    if (!hard.has(name)) continue
    const [kind, resource] = name.includes('.') ? (name.split('.') as [string, string]) : ['requests', name]
    for (const container of listAt(specOf(pod)['containers'])) {
      const amount = objectAt(objectAt(objectAt(container)['resources'])[kind])[resource]
      if (amount === undefined || amount === null) missing.add(name)
    }
  }
  return [...missing].sort()
}

function statusUsed(quota: JsonObject): Usage {
  const used: Usage = new Map()
  for (const [name, value] of Object.entries(objectAt(statusOf(quota)['used']))) {
    const amount = quantityOf(value)
    if (amount !== undefined) used.set(name, amount)
  }
  return used
}

/** `a=1,b=2Gi`, names sorted (Kubernetes' `prettyPrint`). */
function formatList(names: readonly string[], amounts: Usage): string {
  return names.map((name) => `${name}=${(amounts.get(name) ?? Quantity.fromUnits(0)).toString()}`).join(',')
}

/**
 * The reason to refuse creating `input.object`, or undefined when every quota admits it.
 */
export function quotaAdmissionError(input: QuotaAdmissionInput): string | undefined {
  const isPod = input.resource.group === '' && input.resource.resource === 'pods'
  const quotas = [...input.quotas].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0))
  const requested = objectUsage(input.resource, input.object)
  for (const quota of quotas) {
    // The quotas given are the namespace's, whatever the new object's metadata says (a POST body
    // may leave its namespace to the URL).
    const object = { ...input.object, metadata: { ...objectAt(input.object['metadata']), namespace: namespaceOf(quota) } }
    if (!quotaCounts(quota, input.resource, object)) continue
    const hard = hardOf(quota)
    const names = [...requested.keys()].filter((name) => hard.has(name)).sort()
    if (isPod) {
      const missing = missingPodResources(input.object, hard)
      if (missing.length > 0) return `failed quota: ${nameOf(quota)}: must specify ${missing.join(',')}`
    }
    if (names.length === 0) continue
    const used = input.usedOf?.(quota) ?? statusUsed(quota)
    const unknown = names.filter((name) => !used.has(name))
    if (unknown.length > 0) return `status unknown for quota: ${nameOf(quota)}, resources: ${unknown.join(',')}`
    const exceeded = names.filter((name) => {
      const after = (used.get(name) as Quantity).add(requested.get(name) as Quantity)
      return after.compare(hard.get(name) as Quantity) > 0
    })
    if (exceeded.length > 0) {
      return `exceeded quota: ${nameOf(quota)}, requested: ${formatList(exceeded, requested)}, used: ${formatList(exceeded, used)}, limited: ${formatList(exceeded, hard)}`
    }
  }
  return undefined
}
