/**
 * Kubernetes objects in the revisioned store. One key per object:
 *
 *   /registry/<group|core>/<resource>/<namespace|_cluster>/<name>   → canonical JSON of the object
 *
 * `metadata.resourceVersion` is never stored: it is the key's modRevision, so it is always exactly
 * the store revision of the object's last write, and list/watch resource versions are store
 * revisions too (as in kine and etcd-backed Kubernetes). Creates and updates are compare-and-swap
 * writes on the key, so concurrent writers get a 409 Conflict rather than a lost update.
 */
import { randomUUID } from 'node:crypto'
import { alreadyExists, conflict, notFound, type GroupResource } from '../machinery/status.ts'
import { canonicalEqual, dropNulls, isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import type { KeyValue, StoreCommand, StoreResult } from '../../store/commands.ts'
import type { WatchRequest } from '../../store/watch-hub.ts'

/** What the object store needs from the replicated store (the daemon wires Raft + RevisionedStore). */
export interface ObjectBackend {
  /** Resolves once local reads reflect every write committed before the call (ReadIndex). */
  readBarrier(): Promise<void>
  get(key: string): KeyValue | undefined
  range(prefix: string): { readonly items: readonly KeyValue[]; readonly revision: number }
  write(command: StoreCommand): Promise<StoreResult>
  watch(request: WatchRequest): () => void
}

/** Where a resource's objects live. */
export interface ResourceRef extends GroupResource {
  readonly kind: string
  readonly apiVersion: string
  readonly namespaced: boolean
}

export interface StoredObject {
  readonly object: JsonObject
  readonly modRevision: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const CLUSTER_SCOPE = '_cluster'

export function collectionPrefix(resource: ResourceRef, namespace: string | undefined): string {
  const base = `/registry/${resource.group === '' ? 'core' : resource.group}/${resource.resource}/`
  if (!resource.namespaced) return `${base}${CLUSTER_SCOPE}/`
  return namespace === undefined ? base : `${base}${namespace}/`
}

export function objectKey(resource: ResourceRef, namespace: string | undefined, name: string): string {
  return `${collectionPrefix(resource, resource.namespaced ? namespace : undefined)}${name}`
}

/** The object as clients see it: stored JSON plus kind, apiVersion and resourceVersion. */
export function decodeObject(resource: ResourceRef, item: KeyValue): JsonObject {
  const object = JSON.parse(decoder.decode(item.value)) as JsonObject
  const metadata = metadataOf(object)
  return { ...object, kind: resource.kind, apiVersion: resource.apiVersion, metadata: { ...metadata, resourceVersion: String(item.modRevision) } }
}

/** An object's `metadata`, or an empty object when it has none. */
export function metadataOf(object: JsonObject): JsonObject {
  return isJsonObject(object['metadata']) ? object['metadata'] : {}
}

/** The stored form: canonical (no nulls), without kind/apiVersion/resourceVersion. */
function encodeForStorage(object: JsonObject): Uint8Array {
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = dropNulls(object)
  const { resourceVersion: _resourceVersion, ...metadata } = metadataOf(rest as JsonObject)
  return encoder.encode(JSON.stringify({ ...rest, metadata }))
}

export class ObjectStore {
  private readonly backend: ObjectBackend
  private readonly nowIso: () => string

  constructor(backend: ObjectBackend, options: { nowIso?: () => string } = {}) {
    this.backend = backend
    this.nowIso = options.nowIso ?? (() => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'))
  }

  async get(resource: ResourceRef, namespace: string | undefined, name: string): Promise<JsonObject> {
    await this.backend.readBarrier()
    const item = this.backend.get(objectKey(resource, namespace, name))
    if (item === undefined) throw notFound(resource, name)
    return decodeObject(resource, item)
  }

  /** Every object under the namespace (all namespaces when undefined), and the list's revision. */
  async list(resource: ResourceRef, namespace: string | undefined): Promise<{ items: JsonObject[]; revision: number }> {
    await this.backend.readBarrier()
    const result = this.backend.range(collectionPrefix(resource, namespace))
    return { items: result.items.map((item) => decodeObject(resource, item)), revision: result.revision }
  }

  /**
   * Creates `object`; the server owns uid, creationTimestamp, generation and resourceVersion.
   * With `dryRun` nothing is written and the object is returned as it would be stored.
   */
  async create(resource: ResourceRef, namespace: string | undefined, object: JsonObject, options: { dryRun?: boolean } = {}): Promise<JsonObject> {
    const metadata = metadataOf(object)
    const name = String(metadata['name'])
    const stored: JsonObject = {
      ...object,
      metadata: {
        ...metadata,
        ...(resource.namespaced ? { namespace: namespace ?? 'default' } : {}),
        uid: randomUUID(),
        creationTimestamp: this.nowIso(),
        generation: 1,
      },
    }
    if (resource.namespaced === false) delete (stored['metadata'] as JsonObject)['namespace']
    const key = objectKey(resource, namespace, name)
    if (options.dryRun === true) {
      if (this.backend.get(key) !== undefined) throw alreadyExists(resource, name)
      return { ...stored, kind: resource.kind, apiVersion: resource.apiVersion }
    }
    const value = encodeForStorage(stored)
    const result = await this.backend.write({ op: 'put', key, value, ifModRevision: 0 })
    if (!result.ok) throw alreadyExists(resource, name)
    return decodeObject(resource, { key, value, createRevision: result.revision, modRevision: result.revision, version: 1 })
  }

  /**
   * Replaces an object. A resourceVersion in the new object must match the stored one (409
   * otherwise); identity fields are kept from the stored object; generation moves only when
   * `spec` changes.
   */
  async update(resource: ResourceRef, namespace: string | undefined, name: string, object: JsonObject, options: { dryRun?: boolean; keepStatus?: boolean } = {}): Promise<JsonObject> {
    const key = objectKey(resource, namespace, name)
    await this.backend.readBarrier()
    const current = this.backend.get(key)
    if (current === undefined) throw notFound(resource, name)
    const currentObject = decodeObject(resource, current)
    const currentMetadata = metadataOf(currentObject)
    const metadata = metadataOf(object)
    const requestedVersion = metadata['resourceVersion']
    if (requestedVersion !== undefined && requestedVersion !== null && String(requestedVersion) !== String(current.modRevision)) {
      throw conflict(resource, name)
    }
    const specChanged = !canonicalEqual((object['spec'] ?? null) as JsonValue, (currentObject['spec'] ?? null) as JsonValue)
    const generation = Number(currentMetadata['generation'] ?? 1) + (specChanged ? 1 : 0)
    const next: JsonObject = {
      ...object,
      // Resources with a status subresource take status only through it.
      ...(options.keepStatus === true ? { status: currentObject['status'] ?? null } : {}),
      metadata: {
        ...metadata,
        name,
        ...(resource.namespaced ? { namespace: currentMetadata['namespace'] ?? namespace ?? 'default' } : {}),
        uid: currentMetadata['uid'] ?? null,
        creationTimestamp: currentMetadata['creationTimestamp'] ?? null,
        generation,
      },
    }
    if (options.dryRun === true) return { ...next, kind: resource.kind, apiVersion: resource.apiVersion, metadata: { ...metadataOf(next), resourceVersion: String(current.modRevision) } }
    const value = encodeForStorage(next)
    const result = await this.backend.write({ op: 'put', key, value, ifModRevision: current.modRevision })
    if (!result.ok) throw conflict(resource, name)
    return decodeObject(resource, { key, value, createRevision: current.createRevision, modRevision: result.revision, version: current.version + 1 })
  }

  /** Deletes an object (optionally only at `resourceVersion`) and returns it as it was. */
  async delete(resource: ResourceRef, namespace: string | undefined, name: string, options: { dryRun?: boolean; uid?: string } = {}): Promise<JsonObject> {
    const key = objectKey(resource, namespace, name)
    await this.backend.readBarrier()
    const current = this.backend.get(key)
    if (current === undefined) throw notFound(resource, name)
    const object = decodeObject(resource, current)
    if (options.uid !== undefined && metadataOf(object)['uid'] !== options.uid) {
      throw conflict(resource, name, `Precondition failed: UID in precondition: ${options.uid}, UID in object meta: ${String(metadataOf(object)['uid'])}`)
    }
    if (options.dryRun === true) return object
    const result = await this.backend.write({ op: 'delete', key, ifModRevision: current.modRevision })
    if (!result.ok) throw conflict(resource, name)
    return object
  }

  /**
   * Watches a collection from `fromRevision` (exclusive of older history): ADDED, MODIFIED and
   * DELETED events in revision order. Returns a cancel function.
   */
  watch(
    resource: ResourceRef,
    namespace: string | undefined,
    fromRevision: number,
    onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: JsonObject) => void,
    onError: (error: Error) => void,
  ): () => void {
    return this.backend.watch({
      prefix: collectionPrefix(resource, namespace),
      fromRevision,
      onEvent: (event) => {
        if (event.type === 'delete') {
          const previous = event.prevValue
          if (previous === undefined) return
          const object = decodeObject(resource, { key: event.key, value: previous, createRevision: 0, modRevision: event.modRevision, version: 0 })
          onEvent('DELETED', object)
          return
        }
        const object = decodeObject(resource, { key: event.key, value: event.value!, createRevision: event.createRevision, modRevision: event.modRevision, version: event.version })
        onEvent(event.version === 1 ? 'ADDED' : 'MODIFIED', object)
      },
      onError,
    })
  }
}
