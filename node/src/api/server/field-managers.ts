/**
 * The field manager of a write request, for `metadata.managedFields` (machinery/managed-fields.ts):
 * the `fieldManager` and `force` query parameters checked as kube-apiserver checks its
 * Create/Update/PatchOptions, and the recorder that every write that is not a server-side apply
 * runs on the object it is about to store.
 */
import type { IncomingMessage } from 'node:http'
import type { JsonObject } from '../machinery/canonical.ts'
import { fieldForbidden } from '../machinery/field-errors.ts'
import { fieldManagerErrors, recordUpdate } from '../machinery/managed-fields.ts'
import { invalid } from '../machinery/status.ts'
import type { ResourceRef } from './object-store.ts'
import { booleanParameter } from './request-options.ts'

/** The options kind a verb's query parameters decode into, named in its 422 messages. */
export type WriteOptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions'

/** The group of the options kinds (`PatchOptions.meta.k8s.io "" is invalid: …`). */
const OPTIONS_GROUP = 'meta.k8s.io'

/**
 * The `fieldManager` of a create, update or non-apply patch: undefined when absent (the manager
 * then comes from the User-Agent), and `force`, which only apply may set.
 * @throws ApiError 422 Invalid naming `optionsKind` when fieldManager is too long or unprintable,
 *   or when a non-apply patch sets force.
 */
export function updateManagerOf(url: URL, optionsKind: WriteOptionsKind): string | undefined {
  const manager = url.searchParams.get('fieldManager') ?? undefined
  const errors = fieldManagerErrors(manager, { apply: false })
  // Kubernetes refuses any value here, false included: force means something only to apply.
  if (optionsKind === 'PatchOptions' && url.searchParams.has('force')) {
    errors.push(fieldForbidden('force', 'may not be specified for non-apply patch'))
  }
  if (errors.length > 0) throw invalid({ group: OPTIONS_GROUP, kind: optionsKind }, '', errors)
  return manager === '' ? undefined : manager
}

/**
 * The `fieldManager` and `force` of a server-side apply.
 * @throws ApiError 422 `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is
 *   required for apply patch` (and the other fieldManager rules); 400 when force is not a boolean.
 */
export function applyManagerOf(url: URL): { readonly manager: string; readonly force: boolean } {
  const manager = url.searchParams.get('fieldManager') ?? ''
  const errors = fieldManagerErrors(manager, { apply: true })
  if (errors.length > 0) throw invalid({ group: OPTIONS_GROUP, kind: 'PatchOptions' }, '', errors)
  return { manager, force: booleanParameter(url, 'force') }
}

/**
 * Records a write's changes in the next object's managedFields: `(previous, next) => next` with
 * them (previous undefined for a create). Pure once built; it reads the clock when called.
 */
export type UpdateRecorder = (previous: JsonObject | undefined, next: JsonObject) => JsonObject

/** The recorder of one write request through `resource` (or its `subresource`). */
export function updateRecorder(
  request: IncomingMessage,
  resource: ResourceRef,
  manager: string | undefined,
  nowIso: () => string,
  subresource?: 'status' | 'scale' | 'finalize',
): UpdateRecorder {
  const userAgent = request.headers['user-agent']
  return (previous, next) => recordUpdate({ previous, next, manager, userAgent, nowIso: nowIso(), apiVersion: resource.apiVersion, subresource })
}
