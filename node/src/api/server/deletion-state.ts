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
 * Pods are deleted gracefully as well (kube-apiserver's CheckGracefulDelete): DELETE of a pod bound
 * to a node marks it with `deletionTimestamp` = now + grace and `deletionGracePeriodSeconds` =
 * grace, and it stays (Terminating) until its node agent has stopped its containers and deletes
 * it again with a grace period of 0.
 *
 * Invariant the object store keeps: a stored object with a deletionTimestamp has a finalizer or a
 * pending grace period (deletionGracePeriodSeconds > 0, pods only). So an object returned by a
 * write that is marked and has neither is gone.
 */
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import type { GroupResource } from '../machinery/status.ts'

/** Held by an owner deleted with propagationPolicy Foreground until its blocking dependents are gone. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion'
/** The namespace controller's finalizer in a Namespace's `spec.finalizers`. */
export const NAMESPACE_FINALIZER = 'kubernetes'
/** Held by an owner deleted with propagationPolicy Orphan until its dependents are released. */
export const ORPHAN_FINALIZER = 'orphan'
/** A pod's grace period when neither the DELETE nor `spec.terminationGracePeriodSeconds` gives one. */
export const POD_GRACE_PERIOD_SECONDS_DEFAULT = 30

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

/** True for resources whose DELETE is graceful (kube-apiserver: strategies with CheckGracefulDelete): pods. */
export function deletesGracefully(resource: GroupResource): boolean {
  return resource.group === '' && resource.resource === 'pods'
}

/** `metadata.deletionGracePeriodSeconds`, or 0 when unset. */
export function deletionGracePeriodSecondsOf(object: JsonObject): number {
  const seconds = metadataOf(object)['deletionGracePeriodSeconds']
  return typeof seconds === 'number' && seconds > 0 ? seconds : 0
}

/**
 * True when the object is marked for deletion and nothing holds it any more: no finalizers (and,
 * for a Namespace, no `spec.finalizers`), and no grace period still running (a Terminating pod
 * stays until its agent deletes it with grace 0: kube-apiserver's ShouldDeleteDuringUpdate).
 * Such an object is deleted instead of stored.
 */
export function isReadyToVanish(resource: GroupResource, object: JsonObject): boolean {
  if (!isBeingDeleted(object) || finalizersOf(object).length > 0) return false
  if (deletesGracefully(resource) && deletionGracePeriodSecondsOf(object) > 0) return false
  return !isNamespaceResource(resource) || namespaceFinalizersOf(object).length === 0
}

/**
 * The grace period a DELETE gives a pod (kube-apiserver's pod strategy CheckGracefulDelete): the
 * one asked for, else `spec.terminationGracePeriodSeconds`, else 30; but 0 for a pod no node runs
 * (unbound) and for a pod whose containers have all finished (phase Succeeded or Failed).
 */
export function podGracePeriodSeconds(pod: JsonObject, requestedSeconds: number | undefined): number {
  const spec = isJsonObject(pod['spec']) ? pod['spec'] : {}
  const status = isJsonObject(pod['status']) ? pod['status'] : {}
  const nodeName = spec['nodeName']
  if (typeof nodeName !== 'string' || nodeName === '') return 0
  if (status['phase'] === 'Succeeded' || status['phase'] === 'Failed') return 0
  const fromSpec = spec['terminationGracePeriodSeconds']
  const seconds = requestedSeconds ?? (typeof fromSpec === 'number' ? fromSpec : POD_GRACE_PERIOD_SECONDS_DEFAULT)
  // A negative period means "as short as possible but not forced": 1 s, as kube-apiserver has it.
  return seconds < 0 ? 1 : seconds
}

/** What a DELETE does to an object (decideDeletion). */
export type DeletionDecision =
  /** Remove it now: nothing must run first. */
  | { readonly kind: 'remove' }
  /** Write it marked: these deletion fields, these finalizers added; it stays. */
  | { readonly kind: 'mark'; readonly deletionTimestamp: string; readonly deletionGracePeriodSeconds: number; readonly addFinalizers: readonly string[] }
  /** Leave it as it is: its deletion is already under way and this DELETE changes nothing. */
  | { readonly kind: 'unchanged' }

/** What decideDeletion needs besides the object. */
export interface DeletionRequest {
  /** Now, as an RFC 3339 time with whole seconds. */
  readonly nowIso: string
  /** DeleteOptions.gracePeriodSeconds (undefined: the resource's default). */
  readonly gracePeriodSeconds: number | undefined
  /** Whether the deletion is a foreground one (the owner waits for its dependents). */
  readonly foreground: boolean
}

/** `iso` moved by `seconds`, in the same format (whole seconds, `Z`). */
function isoPlusSeconds(iso: string, seconds: number): string {
  const epochMs = Date.parse(iso)
  if (!Number.isFinite(epochMs)) return iso
  return new Date(epochMs + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * What DELETE does to `object` of `resource`, as kube-apiserver's BeforeDelete and the generic
 * store decide it:
 * - an object that is not being deleted goes at once, unless it has finalizers, the deletion is a
 *   foreground one, or (pods) it gets a grace period: then it is marked. A pod's mark is
 *   `deletionTimestamp` = now + grace (when its agent must be done) and the grace period;
 *   anything else is marked now (the grace period asked for is recorded);
 * - a pod already Terminating may only have its grace period shortened: the deletionTimestamp
 *   moves earlier by the difference; shortened to 0 (or a mark without a running grace period
 *   left, after a failed delete) and with no finalizer, it goes at once;
 * - otherwise a second DELETE changes nothing, except adding `foregroundDeletion` when a
 *   foreground deletion asks for it.
 */
export function decideDeletion(resource: GroupResource, object: JsonObject, request: DeletionRequest): DeletionDecision {
  const foregroundMissing = request.foreground && !finalizersOf(object).includes(FOREGROUND_FINALIZER)
  const addFinalizers = foregroundMissing ? [FOREGROUND_FINALIZER] : []
  const holds = mustMarkBeforeDeleting(resource, object) || foregroundMissing
  const metadata = metadataOf(object)
  if (!deletesGracefully(resource)) {
    if (isBeingDeleted(object)) return foregroundMissing ? { kind: 'mark', deletionTimestamp: String(metadata['deletionTimestamp']), deletionGracePeriodSeconds: deletionGracePeriodSecondsOf(object), addFinalizers } : { kind: 'unchanged' }
    if (!holds) return { kind: 'remove' }
    return { kind: 'mark', deletionTimestamp: request.nowIso, deletionGracePeriodSeconds: request.gracePeriodSeconds ?? 0, addFinalizers }
  }
  if (!isBeingDeleted(object)) {
    const graceSeconds = podGracePeriodSeconds(object, request.gracePeriodSeconds)
    if (graceSeconds === 0 && !holds) return { kind: 'remove' }
    return { kind: 'mark', deletionTimestamp: isoPlusSeconds(request.nowIso, graceSeconds), deletionGracePeriodSeconds: graceSeconds, addFinalizers }
  }
  const currentSeconds = deletionGracePeriodSecondsOf(object)
  const currentTimestamp = String(metadata['deletionTimestamp'])
  let graceSeconds = currentSeconds
  let deletionTimestamp = currentTimestamp
  const requested = request.gracePeriodSeconds === undefined ? undefined : Math.max(0, request.gracePeriodSeconds)
  if (requested !== undefined && requested < currentSeconds) {
    graceSeconds = requested
    deletionTimestamp = isoPlusSeconds(currentTimestamp, requested - currentSeconds)
  }
  if (graceSeconds === 0 && !holds) return { kind: 'remove' }
  if (graceSeconds === currentSeconds && !foregroundMissing) return { kind: 'unchanged' }
  return { kind: 'mark', deletionTimestamp, deletionGracePeriodSeconds: graceSeconds, addFinalizers }
}

/** The object with the deletion fields and finalizers of a `mark` decision. */
export function withDeletionMark(object: JsonObject, decision: Extract<DeletionDecision, { kind: 'mark' }>): JsonObject {
  const metadata = metadataOf(object)
  const finalizers = finalizersOf(object)
  for (const finalizer of decision.addFinalizers) if (!finalizers.includes(finalizer)) finalizers.push(finalizer)
  return {
    ...object,
    metadata: { ...metadata, deletionTimestamp: decision.deletionTimestamp, deletionGracePeriodSeconds: decision.deletionGracePeriodSeconds, ...(finalizers.length > 0 ? { finalizers } : {}) },
  }
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
