/**
 * Resource lists (`{cpu: 500m, memory: 1Gi}`): quantity parsing and canonical text, the resource
 * names containers and quotas may use, and the requests-versus-limits rules of
 * `ValidateResourceRequirements`.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { qualifiedNameErrors } from '../../machinery/names.ts'
import { InvalidQuantityError, Quantity } from '../../machinery/quantity.ts'
import { NEGATIVE_MESSAGE, NOT_INTEGER_MESSAGE, messagesAsErrors } from './field-checks.ts'
import { childPath, isSet, keyPath, objectAt, sortedKeys } from './json-access.ts'

/** The quantity a JSON value spells (`"500m"`, `2`), or undefined when it is not one. */
export function quantityOf(value: JsonValue | undefined): Quantity | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  try {
    return Quantity.parse(String(value))
  } catch (error) {
    if (error instanceof InvalidQuantityError) return undefined
    throw error
  }
}

/**
 * Rewrites every parseable quantity of a resource list in its canonical text, as the API server
 * does by decoding and re-encoding (`cpu: 0.5` is stored and shown as `500m`). Values that do not
 * parse are left alone for validation to report. Mutates `list`.
 */
export function canonicalizeQuantities(list: JsonValue | undefined): void {
  if (!isJsonObject(list)) return
  for (const key of Object.keys(list)) {
    const quantity = quantityOf(list[key])
    if (quantity !== undefined) list[key] = quantity.toString()
  }
}

/** A quantity that must parse and be ≥ 0 (`ValidateNonnegativeQuantity`). */
export function quantityErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (typeof value !== 'string' && typeof value !== 'number') return [fieldInvalid(path, value ?? null, 'must be a quantity')]
  try {
    const quantity = Quantity.parse(String(value))
    return quantity.nanos < 0n ? [fieldInvalid(path, quantity.toString(), NEGATIVE_MESSAGE)] : []
  } catch (error) {
    if (error instanceof InvalidQuantityError) return [fieldInvalid(path, value, error.message)]
    throw error
  }
}

/** A quantity that must parse and be > 0 (`ValidatePositiveQuantityValue`). */
export function positiveQuantityErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const errors = quantityErrors(value, path)
  if (errors.length > 0) return errors
  const quantity = quantityOf(value)
  return quantity !== undefined && quantity.nanos === 0n ? [fieldInvalid(path, quantity.toString(), 'must be greater than zero')] : []
}

const STANDARD_CONTAINER_RESOURCES: readonly string[] = ['cpu', 'memory', 'ephemeral-storage']
const HUGE_PAGES_PREFIX = 'hugepages-'

export function isHugePagesResource(name: string): boolean {
  return name.startsWith(HUGE_PAGES_PREFIX)
}

/** Kubernetes' own resources: unprefixed names and names under `kubernetes.io/`. */
function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes('kubernetes.io/')
}

/** Device-plugin resources such as `nvidia.com/gpu`. */
function isExtendedResource(name: string): boolean {
  if (isNativeResource(name) || name.startsWith('requests.')) return false
  return qualifiedNameErrors(`requests.${name}`).length === 0
}

/** Resources whose requests may be below their limits (not huge pages, not extended resources). */
function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !isHugePagesResource(name)
}

/** A resource name a container may request (`validateContainerResourceName`). */
export function containerResourceNameErrors(name: string, path: string): FieldError[] {
  const errors = messagesAsErrors(qualifiedNameErrors(name), path, name)
  if (errors.length > 0) return errors
  if (!name.includes('/')) {
    if (!STANDARD_CONTAINER_RESOURCES.includes(name) && !isHugePagesResource(name)) return [fieldInvalid(path, name, 'must be a standard resource for containers')]
  } else if (!isNativeResource(name) && !isExtendedResource(name)) {
    return [fieldInvalid(path, name, "doesn't follow extended resource name standard")]
  }
  return []
}

/** Names of resources counted as whole objects or units, whose quantities must be integers. */
const INTEGER_RESOURCES: readonly string[] = [
  'pods', 'services', 'replicationcontrollers', 'resourcequotas', 'secrets', 'configmaps', 'persistentvolumeclaims', 'services.nodeports', 'services.loadbalancers',
]

/** Quantity checks for one named resource (`ValidateResourceQuantityValue`). */
export function resourceQuantityErrors(name: string, value: JsonValue | undefined, path: string): FieldError[] {
  const errors = quantityErrors(value, path)
  if (errors.length > 0) return errors
  const quantity = quantityOf(value)
  const integral = INTEGER_RESOURCES.includes(name) || name.startsWith('count/') || isExtendedResource(name)
  if (quantity !== undefined && integral && quantity.nanos % 1_000_000_000n !== 0n) return [fieldInvalid(path, quantity.toString(), NOT_INTEGER_MESSAGE)]
  return []
}

/**
 * A container's `resources`: known names, valid quantities, requests ≤ limits (equal for huge
 * pages and extended resources, which cannot be overcommitted), and huge pages only together
 * with cpu or memory.
 */
export function resourceRequirementsErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const resources = objectAt(value)
  const limitsPath = childPath(path, 'limits')
  const requestsPath = childPath(path, 'requests')
  const limits = objectAt(resources['limits'])
  const requests = objectAt(resources['requests'])
  const errors: FieldError[] = []
  for (const field of ['limits', 'requests'] as const) {
    const listPath = childPath(path, field)
    const raw = resources[field]
    if (isSet(raw) && !isJsonObject(raw)) errors.push(fieldInvalid(listPath, raw, 'must be a map of quantities'))
    const list = objectAt(raw)
    for (const name of sortedKeys(list)) {
      errors.push(...containerResourceNameErrors(name, keyPath(listPath, name)), ...resourceQuantityErrors(name, list[name], keyPath(listPath, name)))
    }
  }
  for (const name of sortedKeys(requests)) errors.push(...requestWithinLimitErrors(name, requests, limits, requestsPath, limitsPath))
  const names = [...Object.keys(limits), ...Object.keys(requests)]
  if (names.some(isHugePagesResource) && !names.some((name) => name === 'cpu' || name === 'memory')) errors.push(fieldForbidden(path, 'HugePages require cpu or memory'))
  return errors
}

function requestWithinLimitErrors(name: string, requests: JsonObject, limits: JsonObject, requestsPath: string, limitsPath: string): FieldError[] {
  const request = quantityOf(requests[name])
  const limit = quantityOf(limits[name])
  if (request === undefined) return []
  if (limit === undefined) {
    if (isOvercommitAllowed(name) || isSet(limits[name])) return []
    return [fieldRequired(limitsPath, 'Limit must be set for non overcommitable resources')]
  }
  if (!isOvercommitAllowed(name) && request.compare(limit) !== 0) return [fieldInvalid(requestsPath, request.toString(), `must be equal to ${name} limit of ${limit.toString()}`)]
  if (request.compare(limit) > 0) return [fieldInvalid(requestsPath, request.toString(), `must be less than or equal to ${name} limit of ${limit.toString()}`)]
  return []
}
