/**
 * Kubernetes objects in the revisioned store. One key per object:
 *
 *   /registry/<group|core>/<resource>/<namespace|_cluster>/<name>   → canonical JSON of the object
 *
 * `metadata.resourceVersion` is never stored: it is the key's modRevision, so it is always exactly
 * the store revision of the object's last write, and list/watch resource versions are store
 * revisions too (as in kine and etcd-backed Kubernetes). Creates and updates are compare-and-swap
 * writes on the key, so concurrent writers get a 409 Conflict rather than a lost update.
 *
 * The store owns the server's metadata rules every writer shares: uid, creationTimestamp and the
 * deletion fields cannot be changed by updates, generation moves when `spec` changes, a write
 * that changes nothing is not written (no new resourceVersion), and an update that leaves a
 * marked object without finalizers deletes it (deletion-state.ts).
 */
import { randomUUID } from 'node:crypto'
import { alreadyExists, conflict, notFound, type GroupResource } from '../machinery/status.ts'
import { canonicalEqual, canonicalJson, dropNulls, isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import type { KeyValue, StoreCommand, StoreResult } from '../../store/commands.ts'
import type { StoreEvent, WatchRequest } from '../../store/watch-hub.ts'
import { isBeingDeleted, isReadyToVanish } from './deletion-state.ts'

/** What the object store needs from the replicated store (the daemon wires Raft + RevisionedStore). */
export interface ObjectBackend {
  /** Resolves once local reads reflect every write committed before the call (ReadIndex). */
  readBarrier(): Promise<void>
  get(key: string): KeyValue | undefined
  /** Every object key under `prefix` (no page limit) and the store revision of the read. */
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

/** A server-owned key written with an object's create, if its modRevision still matches (0: absent). */
export interface KeyClaim {
  readonly key: string
  readonly value: Uint8Array
  readonly ifModRevision: number
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

/** The stored form: no nulls, without kind/apiVersion/resourceVersion. */
function storedForm(object: JsonObject): JsonObject {
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = dropNulls(object)
  const { resourceVersion: _resourceVersion, ...metadata } = metadataOf(rest as JsonObject)
  return { ...rest, metadata }
}

function encodeForStorage(object: JsonObject): Uint8Array {
  return encoder.encode(JSON.stringify(storedForm(object)))
}

/** Conditions a write or delete must meet (DeleteOptions.preconditions); 409 Conflict otherwise. */
export interface Preconditions {
  readonly uid?: string
  readonly resourceVersion?: string
}

/** Watch event types, as Kubernetes names them. */
export type ObjectEventType = 'ADDED' | 'MODIFIED' | 'DELETED'

/** An object together with the resource it belongs to (results of `listMany`). */
export interface ResourceObject {
  readonly resource: ResourceRef
  readonly object: JsonObject
}

/** How often `guaranteedUpdate` re-reads and retries after losing a compare-and-swap race. */
const CONFLICT_RETRIES_MAX = 8

/**
 * A key range that holds no object (keys are `/registry/<group>/…`, never a NUL after the
 * slash), read only for the store revision it reports.
 */
const EMPTY_RANGE_PREFIX = '/registry/\u0000/'

export class ObjectStore {
  private readonly backend: ObjectBackend
  private readonly nowIso: () => string
  /** Decoded events of shared watches, by the store's event (which every watcher shares). */
  private readonly sharedEvents = new WeakMap<StoreEvent, DecodedEvent>()

  constructor(backend: ObjectBackend, options: { nowIso?: () => string } = {}) {
    this.backend = backend
    this.nowIso = options.nowIso ?? (() => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'))
  }

  /** The current time as Kubernetes writes timestamps (RFC 3339, whole seconds). */
  now(): string {
    return this.nowIso()
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
   * The objects of several resources behind one read barrier: for namespaced resources those in
   * `namespace` (every namespace when undefined), for cluster-scoped ones all of them.
   */
  async listMany(resources: readonly ResourceRef[], namespace: string | undefined): Promise<ResourceObject[]> {
    await this.backend.readBarrier()
    const objects: ResourceObject[] = []
    for (const resource of resources) {
      for (const item of this.backend.range(collectionPrefix(resource, namespace)).items) objects.push({ resource, object: decodeObject(resource, item) })
    }
    return objects
  }

  /**
   * The revision of this node's replica now, without a read barrier: what a watch served from this
   * replica has seen once its pending events are delivered (watch bookmarks).
   */
  revision(): number {
    return this.backend.range(EMPTY_RANGE_PREFIX).revision
  }

  /**
   * What the watch history says about the objects of `collection` after `revision` and up to
   * `through` (with no collection: only whether it is compacted): 'compacted' when the history no longer
   * reaches back to `revision`, otherwise whether any of them changed. It never waits for new
   * writes: the history is replayed from microtasks, which all run before this resolves.
   */
  async historyAfter(
    collection: { readonly resource: ResourceRef; readonly namespace: string | undefined } | undefined,
    revision: number,
    through: number,
  ): Promise<'compacted' | 'changed' | 'unchanged'> {
    let verdict: 'compacted' | 'changed' | 'unchanged' = 'unchanged'
    let cancel: () => void
    try {
      cancel = this.backend.watch({
        prefix: collection === undefined ? EMPTY_RANGE_PREFIX : collectionPrefix(collection.resource, collection.namespace),
        fromRevision: revision + 1,
        onEvent: (event) => {
          if (event.modRevision <= through && verdict === 'unchanged') verdict = 'changed'
        },
        onError: (error) => {
          verdict = error.name === 'CompactedError' || error.name === 'WatchOverflowError' ? 'compacted' : 'changed'
        },
      })
    } catch (error) {
      // No watcher to spare (TooManyWatchersError): nothing is known, so assume a change.
      if (error instanceof Error && error.name === 'TooManyWatchersError') return 'changed'
      throw error
    }
    // The store reports a compacted start and replays history from microtasks queued by `watch`
    // (watch-hub.ts); they run before these continuations.
    await Promise.resolve()
    await Promise.resolve()
    cancel()
    return verdict
  }

  /**
   * Creates `object`; the server owns uid, creationTimestamp, generation and resourceVersion, and
   * a new object is never being deleted. With `dryRun` nothing is written and the object is
   * returned as it would be stored. `claims` are server-owned keys (allocations such as a
   * Service's cluster IP, service-ip-allocator.ts) written in the same transaction as the object,
   * each only if its key still has the expected modRevision; when one does not, nothing is
   * written and the create fails with 409 Conflict (the allocator retries).
   */
  async create(resource: ResourceRef, namespace: string | undefined, object: JsonObject, options: { dryRun?: boolean; claims?: readonly KeyClaim[] } = {}): Promise<JsonObject> {
    const { deletionTimestamp: _deletionTimestamp, deletionGracePeriodSeconds: _gracePeriod, ...metadata } = metadataOf(object)
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
      await this.backend.readBarrier()
      if (this.backend.get(key) !== undefined) throw alreadyExists(resource, name)
      return { ...dropNulls(stored), kind: resource.kind, apiVersion: resource.apiVersion }
    }
    const value = encodeForStorage(stored)
    const claims = options.claims ?? []
    if (claims.length > 0) {
      const result = await this.backend.write({
        op: 'txn',
        compares: [{ key, modRevision: 0 }, ...claims.map((claim) => ({ key: claim.key, modRevision: claim.ifModRevision }))],
        success: [{ op: 'put', key, value }, ...claims.map((claim) => ({ op: 'put' as const, key: claim.key, value: claim.value }))],
        failure: [],
      })
      if (!result.ok || !('succeeded' in result)) throw new Error(`store refused a create transaction: ${JSON.stringify(result)}`)
      if (!result.succeeded) throw this.backend.get(key) === undefined ? conflict(resource, name) : alreadyExists(resource, name)
      return decodeObject(resource, { key, value, createRevision: result.revision, modRevision: result.revision, version: 1 })
    }
    const result = await this.backend.write({ op: 'put', key, value, ifModRevision: 0 })
    if (!result.ok) throw alreadyExists(resource, name)
    return decodeObject(resource, { key, value, createRevision: result.revision, modRevision: result.revision, version: 1 })
  }

  /**
   * The server-owned keys under `prefix` (outside the object key space, e.g. allocation claims),
   * behind a read barrier.
   */
  async claimsUnder(prefix: string): Promise<readonly KeyValue[]> {
    await this.backend.readBarrier()
    return this.backend.range(prefix).items
  }

  /**
   * Replaces an object with what a client sent. A resourceVersion in the new object must match
   * the stored one (409 otherwise); uid, creationTimestamp and the deletion fields are kept from
   * the stored object; `keepStatus` keeps the stored status (resources with a status subresource
   * take status only through it). `prepare` gets that object and the stored one it replaces, and
   * returns what to store (the write's managedFields are recorded there, against the very object
   * the compare-and-swap checks). Returns the stored object; see `commit` for no-op and
   * finalizing writes.
   */
  async update(
    resource: ResourceRef,
    namespace: string | undefined,
    name: string,
    object: JsonObject,
    options: { dryRun?: boolean; keepStatus?: boolean; prepare?: (next: JsonObject, current: JsonObject) => JsonObject } = {},
  ): Promise<JsonObject> {
    const key = objectKey(resource, namespace, name)
    await this.backend.readBarrier()
    const current = this.backend.get(key)
    if (current === undefined) throw notFound(resource, name)
    const currentObject = decodeObject(resource, current)
    const requestedVersion = metadataOf(object)['resourceVersion']
    if (requestedVersion !== undefined && requestedVersion !== null && String(requestedVersion) !== String(current.modRevision)) {
      throw conflict(resource, name)
    }
    const currentMetadata = metadataOf(currentObject)
    const next: JsonObject = {
      ...object,
      ...(options.keepStatus === true ? { status: currentObject['status'] ?? null } : {}),
      metadata: {
        ...metadataOf(object),
        // Only DELETE sets the deletion fields, and a deletion cannot be undone.
        deletionTimestamp: currentMetadata['deletionTimestamp'] ?? null,
        deletionGracePeriodSeconds: currentMetadata['deletionGracePeriodSeconds'] ?? null,
      },
    }
    // The nulls above only mean "absent" (the stored form drops them); `prepare` must not read
    // them as fields the client set.
    const prepared = options.prepare === undefined ? next : options.prepare(dropNulls(next), currentObject)
    const result = await this.commit(resource, key, current, prepared, options.dryRun === true)
    if (result === 'conflict') throw conflict(resource, name)
    return result
  }

  /**
   * Server-side read-modify-write (Kubernetes' GuaranteedUpdate): `mutate` gets the current object
   * and returns the next one, or undefined to leave it as it is; a lost compare-and-swap race
   * re-reads and calls `mutate` again, at most CONFLICT_RETRIES_MAX times. Unlike `update`,
   * `mutate` may set the deletion fields (this is how DELETE marks objects). Preconditions are
   * checked against each object read. Returns the object as stored (see `commit`).
   */
  async guaranteedUpdate(
    resource: ResourceRef,
    namespace: string | undefined,
    name: string,
    mutate: (current: JsonObject) => JsonObject | undefined,
    options: { dryRun?: boolean; preconditions?: Preconditions } = {},
  ): Promise<JsonObject> {
    const key = objectKey(resource, namespace, name)
    for (let attempt = 0; ; attempt++) {
      await this.backend.readBarrier()
      const current = this.backend.get(key)
      if (current === undefined) throw notFound(resource, name)
      const currentObject = decodeObject(resource, current)
      checkPreconditions(resource, name, currentObject, options.preconditions)
      const next = mutate(currentObject)
      if (next === undefined) return currentObject
      const result = await this.commit(resource, key, current, next, options.dryRun === true)
      if (result !== 'conflict') return result
      if (attempt + 1 >= CONFLICT_RETRIES_MAX) throw conflict(resource, name)
    }
  }

  /**
   * Removes an object at once (no finalizers are consulted: deletion.ts decides when that is
   * right) and returns it as it was. Preconditions that do not hold are a 409.
   */
  async delete(resource: ResourceRef, namespace: string | undefined, name: string, options: { dryRun?: boolean; preconditions?: Preconditions } = {}): Promise<JsonObject> {
    const key = objectKey(resource, namespace, name)
    await this.backend.readBarrier()
    const current = this.backend.get(key)
    if (current === undefined) throw notFound(resource, name)
    const object = decodeObject(resource, current)
    checkPreconditions(resource, name, object, options.preconditions)
    if (options.dryRun === true) return object
    const result = await this.backend.write({ op: 'delete', key, ifModRevision: current.modRevision })
    if (!result.ok) throw conflict(resource, name)
    return object
  }

  /**
   * Writes `next` over `current` unless it changes nothing, with the identity fields of `current`
   * and the generation moved when `spec` changed or the deletion started. Outcomes:
   * - nothing changed: `current` is returned and nothing is written (no new resourceVersion);
   * - `next` is marked for deletion and holds no finalizer: the object is deleted, and `next`
   *   is returned with the revision of the delete (deletion-state.ts `isReadyToVanish`);
   * - otherwise `next` is stored and returned with its new resourceVersion.
   * 'conflict' when `current` is no longer the stored version.
   */
  private async commit(resource: ResourceRef, key: string, current: KeyValue, next: JsonObject, dryRun: boolean): Promise<JsonObject | 'conflict'> {
    // Decoded afresh: a caller's mutate may have changed the object it was given.
    const currentObject = decodeObject(resource, current)
    const currentMetadata = metadataOf(currentObject)
    const specChanged = !canonicalEqual((next['spec'] ?? null) as JsonValue, (currentObject['spec'] ?? null) as JsonValue)
    const deletionStarted = isBeingDeleted(next) && !isBeingDeleted(currentObject)
    const generation = Number(currentMetadata['generation'] ?? 1) + (specChanged || deletionStarted ? 1 : 0)
    const candidate: JsonObject = {
      ...next,
      metadata: {
        ...metadataOf(next),
        name: currentMetadata['name'] ?? null,
        ...(resource.namespaced ? { namespace: currentMetadata['namespace'] ?? null } : { namespace: null }),
        uid: currentMetadata['uid'] ?? null,
        creationTimestamp: currentMetadata['creationTimestamp'] ?? null,
        generation,
      },
    }
    const stored = storedForm(candidate)
    if (canonicalEqual(stored, storedForm(currentObject))) return currentObject
    const revisionNow = String(current.modRevision)
    if (isReadyToVanish(resource, stored)) {
      if (dryRun) return withResourceVersion(resource, stored, revisionNow)
      const result = await this.backend.write({ op: 'delete', key, ifModRevision: current.modRevision })
      if (!result.ok) return 'conflict'
      return withResourceVersion(resource, stored, String(result.revision))
    }
    if (dryRun) return withResourceVersion(resource, stored, revisionNow)
    const value = encoder.encode(JSON.stringify(stored))
    const result = await this.backend.write({ op: 'put', key, value, ifModRevision: current.modRevision })
    if (!result.ok) return 'conflict'
    return decodeObject(resource, { key, value, createRevision: current.createRevision, modRevision: result.revision, version: current.version + 1 })
  }

  /**
   * Watches a collection from `fromRevision` (exclusive of older history): ADDED, MODIFIED and
   * DELETED events in revision order, each with the object before the change when there was one
   * (DELETED: the object deleted; its resourceVersion is the revision of the delete). Returns a
   * cancel function. `onEvent` may return a promise to hold back the next event (backpressure);
   * a consumer that falls too far behind ends with a WatchOverflowError through `onError`.
   *
   * With `shared`, the objects are decoded once per store event for every shared watcher (the
   * API's watch streams, which may be thousands) and must be treated as immutable; otherwise each
   * watcher gets objects of its own (controllers' informers keep and hand them out).
   */
  watch(
    resource: ResourceRef,
    namespace: string | undefined,
    fromRevision: number,
    onEvent: (type: ObjectEventType, object: JsonObject, previous: JsonObject | undefined) => void | Promise<void>,
    onError: (error: Error) => void,
    options: { readonly shared?: boolean } = {},
  ): () => void {
    const decode = (event: StoreEvent): DecodedEvent => {
      if (options.shared !== true) return decodeEvent(resource, event)
      let decoded = this.sharedEvents.get(event)
      if (decoded === undefined) {
        decoded = decodeEvent(resource, event)
        this.sharedEvents.set(event, decoded)
      }
      return decoded
    }
    return this.backend.watch({
      prefix: collectionPrefix(resource, namespace),
      fromRevision,
      onEvent: (event) => {
        const { type, object, previous } = decode(event)
        if (type === undefined) return
        return onEvent(type, object, previous)
      },
      onError,
    })
  }
}

/** A store event as objects; `type` undefined for a delete of a key that held nothing. */
interface DecodedEvent {
  readonly type: ObjectEventType | undefined
  readonly object: JsonObject
  readonly previous: JsonObject | undefined
}

function decodeEvent(resource: ResourceRef, event: StoreEvent): DecodedEvent {
  const previous =
    event.prevValue === undefined ? undefined : decodeObject(resource, { key: event.key, value: event.prevValue, createRevision: 0, modRevision: event.modRevision, version: 0 })
  if (event.type === 'delete') return previous === undefined ? { type: undefined, object: {}, previous } : { type: 'DELETED', object: previous, previous }
  const object = decodeObject(resource, { key: event.key, value: event.value!, createRevision: event.createRevision, modRevision: event.modRevision, version: event.version })
  return { type: event.version === 1 ? 'ADDED' : 'MODIFIED', object, previous }
}

/** 409 Conflict unless the object has the uid and resourceVersion the preconditions name. */
export function checkPreconditions(resource: ResourceRef, name: string, object: JsonObject, preconditions: Preconditions | undefined): void {
  if (preconditions === undefined) return
  const metadata = metadataOf(object)
  if (preconditions.uid !== undefined && metadata['uid'] !== preconditions.uid) {
    throw conflict(resource, name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${String(metadata['uid'] ?? '')}`)
  }
  if (preconditions.resourceVersion !== undefined && String(metadata['resourceVersion']) !== preconditions.resourceVersion) {
    throw conflict(
      resource,
      name,
      `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${String(metadata['resourceVersion'] ?? '')}`,
    )
  }
}

function withResourceVersion(resource: ResourceRef, stored: JsonObject, resourceVersion: string): JsonObject {
  return { ...stored, kind: resource.kind, apiVersion: resource.apiVersion, metadata: { ...metadataOf(stored), resourceVersion } }
}
