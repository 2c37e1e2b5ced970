/**
 * The Namespace lifecycle rules of kube-apiserver that are not defaulting or validation: a new
 * namespace is Active and carries the `kubernetes` finalizer (so deleting it empties it first),
 * clients change neither through the main resource, nothing new may be created in a namespace
 * that is missing (404) or being terminated (403 Forbidden), and the namespaces the system relies
 * on cannot be deleted (403).
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { ApiError, forbidden, notFound, type GroupResource } from '../machinery/status.ts'
import { NAMESPACE_FINALIZER, isBeingDeleted, isNamespaceResource, namespaceFinalizersOf } from './deletion-state.ts'
import type { ObjectStore } from './object-store.ts'
import { NAMESPACES } from './resource-refs.ts'

export { isNamespaceResource }

function objectAt(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

/** Namespaces kube-apiserver never deletes (the NamespaceLifecycle admission plugin's "immortal" ones). */
const UNDELETABLE_NAMESPACES: ReadonlySet<string> = new Set(['default', 'kube-system', 'kube-public'])

/**
 * Refuses to delete a namespace the system relies on.
 * @throws ApiError 403 Forbidden for default, kube-system and kube-public.
 */
export function checkNamespaceDeletable(name: string): void {
  if (UNDELETABLE_NAMESPACES.has(name)) throw forbidden(NAMESPACES, name, 'this namespace may not be deleted')
}

/** A namespace as created: `spec.finalizers` holds `kubernetes`, `status.phase` is Active. */
export function prepareNamespaceForCreate(namespace: JsonObject): JsonObject {
  const finalizers = namespaceFinalizersOf(namespace)
  return {
    ...namespace,
    spec: { ...objectAt(namespace['spec']), finalizers: finalizers.includes(NAMESPACE_FINALIZER) ? finalizers : [...finalizers, NAMESPACE_FINALIZER] },
    status: { phase: 'Active' },
  }
}

/**
 * A namespace update through the main resource: `spec.finalizers` change only through
 * `/finalize`, `status` only through `/status`, so both are kept from the stored namespace.
 */
export function prepareNamespaceForUpdate(current: JsonObject, next: JsonObject): JsonObject {
  return { ...next, spec: { ...objectAt(next['spec']), finalizers: namespaceFinalizersOf(current) }, status: current['status'] ?? null }
}

/**
 * Allows creating `name` of `resource` in `namespace` only when the namespace exists and is not
 * terminating, as the NamespaceLifecycle admission plugin does.
 * @throws ApiError 404 for a missing namespace, 403 for a terminating one.
 */
export async function requireActiveNamespace(objects: ObjectStore, namespace: string, resource: GroupResource, name: string): Promise<void> {
  let object: JsonObject
  try {
    object = await objects.get(NAMESPACES, undefined, namespace)
  } catch (error) {
    if (error instanceof ApiError && error.code === 404) throw notFound(NAMESPACES, namespace)
    throw error
  }
  const phase = objectAt(object['status'])['phase']
  if (isBeingDeleted(object) || phase === 'Terminating') {
    throw forbidden(resource, name, `unable to create new content in namespace ${namespace} because it is being terminated`)
  }
}
