/**
 * ResourceQuotas (core/v1): hard limits on resource names a quota can count, with valid
 * non-negative quantities (whole numbers for object counts), and known scopes
 * (`ValidateResourceQuota`).
 */
import { isJsonObject, type JsonObject } from '../../machinery/canonical.ts'
import { fieldInvalid, type FieldError } from '../../machinery/field-errors.ts'
import { qualifiedNameErrors } from '../../machinery/names.ts'
import { messagesAsErrors } from './field-checks.ts'
import { keyPath, listAt, objectAt, sortedKeys, stringAt } from './json-access.ts'
import { canonicalizeQuantities, resourceQuantityErrors } from './resource-lists.ts'

/** Names a quota can count without a domain prefix. */
const QUOTA_RESOURCES: readonly string[] = [
  'pods', 'services', 'replicationcontrollers', 'resourcequotas', 'secrets', 'configmaps', 'persistentvolumeclaims', 'services.nodeports',
  'services.loadbalancers', 'requests.cpu', 'requests.memory', 'requests.storage', 'requests.ephemeral-storage', 'limits.cpu', 'limits.memory',
  'limits.ephemeral-storage', 'cpu', 'memory', 'ephemeral-storage',
]
const QUOTA_SCOPES: readonly string[] = ['Terminating', 'NotTerminating', 'BestEffort', 'NotBestEffort', 'PriorityClass', 'CrossNamespacePodAffinity']

/** Fills a ResourceQuota's defaults in place: quantities in canonical form. */
export function defaultResourceQuota(quota: JsonObject): void {
  canonicalizeQuantities(objectAt(quota['spec'])['hard'])
  if (isJsonObject(quota['status'])) {
    canonicalizeQuantities(quota['status']['hard'])
    canonicalizeQuantities(quota['status']['used'])
  }
}

/** A resource name a quota may limit (`ValidateResourceQuotaResourceName`). */
function quotaResourceNameErrors(name: string, path: string): FieldError[] {
  const errors = messagesAsErrors(qualifiedNameErrors(name), path, name)
  if (errors.length > 0 || name.includes('/')) return errors
  const hugePages = name.startsWith('hugepages-') || name.startsWith('requests.hugepages-')
  return QUOTA_RESOURCES.includes(name) || hugePages ? [] : [fieldInvalid(path, name, 'must be a standard resource for quota')]
}

/** Problems of a ResourceQuota. */
export function resourceQuotaErrors(quota: JsonObject): FieldError[] {
  const spec = objectAt(quota['spec'])
  const hard = objectAt(spec['hard'])
  const errors: FieldError[] = []
  for (const name of sortedKeys(hard)) {
    const path = keyPath('spec.hard', name)
    errors.push(...quotaResourceNameErrors(name, path), ...resourceQuantityErrors(name, hard[name], path))
  }
  const scopes = listAt(spec['scopes'])
  if (scopes.some((scope) => !QUOTA_SCOPES.includes(stringAt(scope)))) errors.push(fieldInvalid('spec.scopes', scopes, 'unsupported scope'))
  return errors
}
