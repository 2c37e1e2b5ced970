/**
 * The in-process API the controllers, the scheduler and the node agent write through: the same
 * rules as an HTTP request to any node, without HTTP. Creates and updates are defaulted and
 * validated by the kind's admission (admission.ts), creates need an active namespace
 * (namespace-lifecycle.ts), status writes change only `status` (as `/status` does), and deletes
 * follow DELETE semantics (finalizers, garbage collection of dependents: deletion.ts).
 *
 * Every write carries a precondition, so a writer acting on a stale view gets a 409 Conflict
 * instead of overwriting a newer object: updates and status writes need the resourceVersion they
 * were computed from (`metadata.resourceVersion` of the object passed), deletes the uid.
 */
import { BUILTIN_REGISTRY } from '../../api/discovery/resources.ts'
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { admit } from '../../api/server/admission.ts'
import { admitDefaultStorageClass } from '../../api/server/default-storage-class.ts'
import { Deletion } from '../../api/server/deletion.ts'
import { requireActiveNamespace } from '../../api/server/namespace-lifecycle.ts'
import { metadataOf, type ObjectStore, type ResourceRef } from '../../api/server/object-store.ts'
import { storedResources } from '../../api/server/resource-refs.ts'
import { assert } from '../../../../lib/assert.ts'
import { isJsonObject, type JsonValue } from '../../api/machinery/canonical.ts'
import { ApiError } from '../../api/machinery/status.ts'
import { PODS as PODS_RESOURCE } from '../plan.ts'

export class ObjectClient {
  readonly objects: ObjectStore
  private readonly deletion: Deletion

  constructor(objects: ObjectStore, options: { log: (line: string) => void }) {
    this.objects = objects
    this.deletion = new Deletion({ objects, resources: storedResources(BUILTIN_REGISTRY), log: options.log })
  }

  get(resource: ResourceRef, namespace: string | undefined, name: string): Promise<JsonObject> {
    return this.objects.get(resource, namespace, name)
  }

  /** POST: creates `object` (named) after admission; namespaced objects need an active namespace. */
  async create(resource: ResourceRef, namespace: string | undefined, object: JsonObject): Promise<JsonObject> {
    const admitted = await admitDefaultStorageClass(this.objects, resource, admit(resource, object))
    if (resource.namespaced) await requireActiveNamespace(this.objects, namespace ?? 'default', resource, String(metadataOf(object)['name'] ?? ''))
    return this.objects.create(resource, resource.namespaced ? (namespace ?? 'default') : undefined, admitted)
  }

  /**
   * PUT on the main resource: everything but `status` (kept as stored), after admission.
   * @throws ApiError 409 when the object changed since `object.metadata.resourceVersion`.
   */
  update(resource: ResourceRef, namespace: string | undefined, name: string, object: JsonObject): Promise<JsonObject> {
    const resourceVersion = expectedVersion(object)
    return this.objects.guaranteedUpdate(resource, namespace, name, (current) => admit(resource, { ...object, status: current['status'] ?? null }, current), {
      preconditions: { resourceVersion },
    })
  }

  /**
   * PUT on `/status`: only `status` changes.
   * @throws ApiError 409 when the object changed since `object.metadata.resourceVersion`.
   */
  updateStatus(resource: ResourceRef, namespace: string | undefined, name: string, object: JsonObject): Promise<JsonObject> {
    const resourceVersion = expectedVersion(object)
    return this.objects.guaranteedUpdate(resource, namespace, name, (current) => ({ ...current, status: object['status'] ?? null }), { preconditions: { resourceVersion } })
  }

  /**
   * Writes spec and status together, after admission: what a pod's `/binding` does (spec.nodeName
   * and the PodScheduled condition in one write).
   * @throws ApiError 409 when the object changed since `object.metadata.resourceVersion`.
   */
  replace(resource: ResourceRef, namespace: string | undefined, name: string, object: JsonObject): Promise<JsonObject> {
    const resourceVersion = expectedVersion(object)
    return this.objects.guaranteedUpdate(resource, namespace, name, (current) => admit(resource, object, current), { preconditions: { resourceVersion } })
  }

  /**
   * POST `pods/<name>/binding`: the scheduler's write. Like kube-apiserver's binding storage it
   * changes only `spec.nodeName` and the PodScheduled condition of a pod that has no node yet, and
   * does not run the pod's admission again (the pod was validated when created; a binding cannot
   * make it invalid). `bound` is the pod as the scheduler built it (scheduling-writes.ts).
   * @throws ApiError 409 when the pod changed since `bound.metadata.resourceVersion`, or already
   *   has a node.
   */
  bind(namespace: string, name: string, bound: JsonObject): Promise<JsonObject> {
    const resourceVersion = expectedVersion(bound)
    const nodeName = objectAt(bound['spec'])['nodeName']
    assert(typeof nodeName === 'string' && nodeName !== '', 'a binding names its node')
    return this.objects.guaranteedUpdate(
      PODS_RESOURCE,
      namespace,
      name,
      (current) => {
        const currentNode = objectAt(current['spec'])['nodeName']
        if (typeof currentNode === 'string' && currentNode !== '') throw conflictWithMessage(PODS_RESOURCE, name, `pod ${name} is already assigned to node "${currentNode}"`)
        return { ...current, spec: { ...objectAt(current['spec']), nodeName }, status: bound['status'] ?? current['status'] ?? null }
      },
      { preconditions: { resourceVersion } },
    )
  }

  /**
   * DELETE with a uid precondition (background propagation: dependents are collected). A pod
   * bound to a node is marked Terminating for its grace period unless `gracePeriodSeconds` is 0
   * (what its node agent sends once the containers stopped).
   * @returns whether the object is gone (false: marked, waiting for its finalizers), and the
   *   object as deleted or as marked.
   */
  delete(resource: ResourceRef, namespace: string | undefined, name: string, uid: string, options: { gracePeriodSeconds?: number } = {}): Promise<{ deleted: boolean; object: JsonObject }> {
    return this.deletion.delete(resource, namespace, name, { dryRun: false, propagationPolicy: 'Background', gracePeriodSeconds: options.gracePeriodSeconds, preconditions: { uid } })
  }
}

function objectAt(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

/** A 409 Conflict Status with kube-apiserver's message for the case. */
function conflictWithMessage(resource: ResourceRef, name: string, message: string): ApiError {
  return new ApiError({ code: 409, reason: 'Conflict', message: `Operation cannot be fulfilled on ${resource.resource} "${name}": ${message}`, details: { name, group: resource.group, kind: resource.resource } })
}

function expectedVersion(object: JsonObject): string {
  const resourceVersion = metadataOf(object)['resourceVersion']
  assert(typeof resourceVersion === 'string' && resourceVersion !== '', 'controller writes name the resourceVersion they were computed from')
  return resourceVersion
}
