/**
 * The deletion state of an object, as pure functions over its JSON: finalizers, the deletion
 * timestamp, and when a marked object may finally vanish.
 *
 * Kubernetes deletes in two steps when something must happen first. DELETE on an object with
 * `metadata.finalizers` only marks it (`deletionTimestamp`, `deletionGracePeriodSeconds`) and
 * keeps it; whoever owns a finalizer does its work and removes the finalizer with an update; the
 * update that removes the last one deletes the object. Namespaces have a second list,
 * `spec.finalizers` (the `kubernetes` finalizer of the namespace controller), and vanish only when
 * both lists are empty.
 *
 * Invariant the object store keeps: a stored object with a deletionTimestamp always has a
 * finalizer. So an object returned by a write that is marked and has none is gone.
 */
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import type { GroupResource } from '../machinery/status.ts'

/** Held by an owner deleted with propagationPolicy Foreground until its blocking dependents are gone. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion'
/** The namespace controller's finalizer in a Namespace's `spec.finalizers`. */
export const NAMESPACE_FINALIZER = 'kubernetes'

function metadataOf(object: JsonObject): JsonObject {
  return isJsonObject(object['metadata']) ? object['metadata'] : {}
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []
}

/** `metadata.finalizers`, or empty. */
export function finalizersOf(object: JsonObject): string[] {
  return stringList(metadataOf(object)['finalizers'])
}

/** A Namespace's `spec.finalizers`, or empty. */
export function namespaceFinalizersOf(object: JsonObject): string[] {
  const spec = object['spec']
  return isJsonObject(spec) ? stringList(spec['finalizers']) : []
}

/** True once DELETE has marked the object (it has a deletionTimestamp). */
export function isBeingDeleted(object: JsonObject): boolean {
  const timestamp = metadataOf(object)['deletionTimestamp']
  return typeof timestamp === 'string' && timestamp !== ''
}

/** True for the core Namespace resource (whose `spec.finalizers` also hold it). */
export function isNamespaceResource(resource: GroupResource): boolean {
  return resource.group === '' && resource.resource === 'namespaces'
}

/**
 * True when the object is marked for deletion and nothing holds it any more: no finalizers (and,
 * for a Namespace, no `spec.finalizers`). Such an object is deleted instead of stored.
 */
export function isReadyToVanish(resource: GroupResource, object: JsonObject): boolean {
  if (!isBeingDeleted(object) || finalizersOf(object).length > 0) return false
  return !isNamespaceResource(resource) || namespaceFinalizersOf(object).length === 0
}

/** True when DELETE must mark the object instead of removing it (it has finalizers to run). */
export function mustMarkBeforeDeleting(resource: GroupResource, object: JsonObject): boolean {
  return finalizersOf(object).length > 0 || (isNamespaceResource(resource) && namespaceFinalizersOf(object).length > 0)
}

/**
 * The object marked for deletion: `deletionTimestamp` (kept when already set, since a deletion
 * cannot be restarted), `deletionGracePeriodSeconds`, and the extra finalizers appended once.
 */
export function markedForDeletion(object: JsonObject, mark: { readonly nowIso: string; readonly gracePeriodSeconds: number; readonly addFinalizers?: readonly string[] }): JsonObject {
  const metadata = metadataOf(object)
  const finalizers = finalizersOf(object)
  for (const finalizer of mark.addFinalizers ?? []) if (!finalizers.includes(finalizer)) finalizers.push(finalizer)
  return {
    ...object,
    metadata: {
      ...metadata,
      deletionTimestamp: isBeingDeleted(object) ? (metadata['deletionTimestamp'] ?? null) : mark.nowIso,
      deletionGracePeriodSeconds: isBeingDeleted(object) ? (metadata['deletionGracePeriodSeconds'] ?? mark.gracePeriodSeconds) : mark.gracePeriodSeconds,
      ...(finalizers.length > 0 ? { finalizers } : {}),
    },
  }
}

/** The object without `finalizer` in `metadata.finalizers` (the field goes when it empties). */
export function withoutFinalizer(object: JsonObject, finalizer: string): JsonObject {
  const { finalizers: _finalizers, ...metadata } = metadataOf(object)
  const remaining = finalizersOf(object).filter((item) => item !== finalizer)
  return { ...object, metadata: remaining.length > 0 ? { ...metadata, finalizers: remaining } : metadata }
}

/** Finalizers in `next` that `current` does not have (forbidden while an object is being deleted). */
export function addedFinalizers(current: JsonObject, next: JsonObject): string[] {
  const before = new Set(finalizersOf(current))
  return finalizersOf(next).filter((finalizer) => !before.has(finalizer))
}
