/**
 * Admission of a written object: the kind's defaults are filled in, then the kind's validation
 * runs (kinds.ts); an object that breaks a rule is refused with 422 Invalid and its field causes.
 */
import type { JsonObject } from '../machinery/canonical.ts'
import { invalid } from '../machinery/status.ts'
import { applyDefaults, validateKind } from './kinds.ts'
import { metadataOf, type ResourceRef } from './object-store.ts'

/**
 * The defaulted object. `old` is the stored object on update, for the defaults and rules that
 * depend on it (immutable fields, allocated values kept).
 * @throws ApiError 422 Invalid when the defaulted object breaks its kind's rules.
 */
export function admit(resource: ResourceRef, object: JsonObject, old?: JsonObject): JsonObject {
  const defaulted = applyDefaults(resource.kind, object, old)
  const errors = validateKind(resource.kind, defaulted, old)
  if (errors.length > 0) throw invalid({ group: resource.group, kind: resource.kind }, String(metadataOf(defaulted)['name'] ?? ''), errors)
  return defaulted
}
