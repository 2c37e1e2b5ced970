/**
 * The garbage collector on the leader: ownerReferences kept true whatever happened to the DELETE
 * that should have followed them up. The API collects dependents inside the request that deleted
 * their owner (../../api/server/deletion.ts); this controller finishes what such a request left
 * undone because its node died, and catches objects created with references to owners that do
 * not exist. The decisions are pure (planOwnerReferences, planDependents in
 * ../../api/server/garbage-collection.ts); the writes go through the API's Deletion over the
 * manager's fenced store.
 *
 * It watches every stored resource but Events (Kubernetes ignores them too), reusing the shared
 * informers where they exist, with an index of objects by the uids their ownerReferences name.
 * Keys are `<group>/<resource>|<namespace>/<name>`. An object is queued when it is added or its
 * ownerReferences change; when it is deleted, its dependents are queued, and so are its owners
 * that wait for it in a foreground deletion; an object marked for deletion with the `orphan` or
 * `foregroundDeletion` finalizer is queued to finish that deletion.
 *
 * What a sync does with an object:
 * - marked with `orphan`: its dependents lose their references to it, then the finalizer goes;
 * - marked with `foregroundDeletion`: the foreground cascade continues (dependents marked and
 *   deleted, the finalizer removed once no blocking dependent is left);
 * - otherwise, with ownerReferences: each owner is solid, dangling or waiting; an object all of
 *   whose owners are solid in the cache is left alone without a read. Otherwise nothing is decided
 *   on the cache: the object is read again from the store, and every owner not solid in the cache
 *   is read from the store (a 404 or another uid is "gone"; an owner the informer has not seen
 *   yet is found there). The delete carries the object's uid and resourceVersion, so an object
 *   whose references changed since the read is not deleted for the old ones.
 */
import { BUILTIN_REGISTRY } from '../../api/discovery/resources.ts'
import { canonicalEqual, type JsonObject, type JsonValue } from '../../api/machinery/canonical.ts'
import { ApiError } from '../../api/machinery/status.ts'
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER, finalizersOf, isBeingDeleted } from '../../api/server/deletion-state.ts'
import { Deletion } from '../../api/server/deletion.ts'
import { identityOf, ownerReferencesOf, planOwnerReferences, type OwnerState } from '../../api/server/garbage-collection.ts'
import type { ObjectStore, ResourceRef } from '../../api/server/object-store.ts'
import { storedResources } from '../../api/server/resource-refs.ts'
import type { Timers } from '../../../../lib/timers.ts'
import { listAt, metadataOf, namespaceOf, objectAt, stringAt } from '../object-fields.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import type { SharedInformers } from './shared-informers.ts'
import { WorkQueue } from './work-queue.ts'

/** Index of objects by the uids of their owners (a name of this module's own). */
const BY_OWNER_UID = 'garbage-collector/owner-uid'

export interface GarbageCollectorOptions {
  readonly informers: Pick<SharedInformers, 'informerFor'>
  /** The manager's (fenced) store: its own informers, live reads and every write. */
  readonly objects: ObjectStore
  readonly timers: Timers
  readonly log: (line: string) => void
  /** The resources to watch (default: every stored built-in resource but Events). */
  readonly resources?: readonly ResourceRef[]
}

/** True for the resources the collector ignores, as kube-controller-manager's does (Events). */
function isIgnored(resource: ResourceRef): boolean {
  return resource.resource === 'events' && (resource.group === '' || resource.group === 'events.k8s.io')
}

function resourceKeyOf(resource: ResourceRef): string {
  return `${resource.group}/${resource.resource}`
}

/** The group of an apiVersion (`apps/v1` → `apps`, `v1` → core ''). */
function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/')
  return slash < 0 ? '' : apiVersion.slice(0, slash)
}

/** An ownerReferences entry with what it takes to find the owner. */
interface OwnerPointer {
  readonly uid: string
  readonly group: string
  readonly kind: string
  readonly name: string
}

function ownerPointersOf(object: JsonObject): OwnerPointer[] {
  return listAt(metadataOf(object)['ownerReferences']).map(objectAt).flatMap((reference) => {
    const uid = stringAt(reference['uid'])
    if (uid === '') return []
    return [{ uid, group: groupOf(stringAt(reference['apiVersion'])), kind: stringAt(reference['kind']), name: stringAt(reference['name']) }]
  })
}

function isWaitingForDependents(object: JsonObject): boolean {
  return isBeingDeleted(object) && finalizersOf(object).includes(FOREGROUND_FINALIZER)
}

export class GarbageCollectorController {
  readonly queue: WorkQueue
  /** The informers this controller owns (start them before its workers, stop them with it). */
  readonly informers: readonly Informer[]
  private readonly options: GarbageCollectorOptions
  private readonly deletion: Deletion
  /** Every watched resource's informer, own or shared, by `group/resource`. */
  private readonly watched = new Map<string, Informer>()

  constructor(options: GarbageCollectorOptions) {
    this.options = options
    this.queue = new WorkQueue({ timers: options.timers })
    const resources = (options.resources ?? storedResources(BUILTIN_REGISTRY)).filter((resource) => !isIgnored(resource))
    this.deletion = new Deletion({ objects: options.objects, resources: storedResources(BUILTIN_REGISTRY), log: options.log })
    const own: Informer[] = []
    for (const resource of resources) {
      let informer = options.informers.informerFor(resource)
      if (informer === undefined) {
        informer = new Informer({ objects: options.objects, resource, timers: options.timers, log: options.log })
        own.push(informer)
      }
      this.watched.set(resourceKeyOf(resource), informer)
    }
    this.informers = own
    for (const informer of this.watched.values()) this.watch(informer)
  }

  private watch(informer: Informer): void {
    const resource = informer.resource
    const queue = (object: JsonObject): void => this.queue.add(`${resourceKeyOf(resource)}|${cacheKeyOf(object)}`)
    informer.addIndex(BY_OWNER_UID, (object) => [...new Set(ownerReferencesOf(object).map((reference) => reference.uid))])
    const finishing = (object: JsonObject): boolean => isBeingDeleted(object) && (finalizersOf(object).includes(ORPHAN_FINALIZER) || finalizersOf(object).includes(FOREGROUND_FINALIZER))
    informer.addHandlers({
      onAdd: (object) => {
        if (ownerReferencesOf(object).length > 0 || finishing(object)) queue(object)
      },
      onUpdate: (previous, object) => {
        const referencesChanged = !canonicalEqual((metadataOf(previous)['ownerReferences'] ?? null) as JsonValue, (metadataOf(object)['ownerReferences'] ?? null) as JsonValue)
        const deletionChanged = isBeingDeleted(previous) !== isBeingDeleted(object) || !canonicalEqual(finalizersOf(previous), finalizersOf(object))
        if (referencesChanged || (deletionChanged && (finishing(object) || ownerReferencesOf(object).length > 0))) queue(object)
      },
      onDelete: (object) => this.vanished(object),
    })
  }

  /** An object went: its dependents may dangle now, and owners waiting for it may finish. */
  private vanished(object: JsonObject): void {
    const uid = stringAt(metadataOf(object)['uid'])
    for (const [resourceKey, informer] of this.watched) {
      for (const dependent of informer.byIndex(BY_OWNER_UID, uid)) this.queue.add(`${resourceKey}|${cacheKeyOf(dependent)}`)
    }
    for (const pointer of ownerPointersOf(object)) {
      const found = this.cachedOwner(pointer, object)
      if (found !== undefined && isWaitingForDependents(found.owner)) this.queue.add(`${resourceKeyOf(found.informer.resource)}|${cacheKeyOf(found.owner)}`)
    }
  }

  /** The informer of the owner's kind (undefined: a kind this collector does not know). */
  private ownerInformer(pointer: OwnerPointer): Informer | undefined {
    for (const informer of this.watched.values()) if (informer.resource.group === pointer.group && informer.resource.kind === pointer.kind) return informer
    return undefined
  }

  /** The namespace the owner lives in, seen from the dependent (undefined: cluster scope). */
  private ownerNamespace(informer: Informer, dependent: JsonObject): string | undefined {
    return informer.resource.namespaced ? namespaceOf(dependent) : undefined
  }

  private cachedOwner(pointer: OwnerPointer, dependent: JsonObject): { informer: Informer; owner: JsonObject } | undefined {
    const informer = this.ownerInformer(pointer)
    if (informer === undefined) return undefined
    const owner = informer.get(this.ownerNamespace(informer, dependent), pointer.name)
    return owner === undefined || stringAt(metadataOf(owner)['uid']) !== pointer.uid ? undefined : { informer, owner }
  }

  /**
   * The owner's state from the cache alone: solid or waiting when the cache holds it (with its
   * uid), unknown when it does not (which proves nothing). Unknown kinds, and namespaced owners of
   * cluster-scoped objects, are solid: they cannot be looked up, so they are never taken for gone.
   */
  private cachedState(pointer: OwnerPointer, dependent: JsonObject, dependentNamespaced: boolean): OwnerState | 'unknown' {
    const informer = this.ownerInformer(pointer)
    if (informer === undefined || (informer.resource.namespaced && !dependentNamespaced)) return 'solid'
    const found = this.cachedOwner(pointer, dependent)
    if (found === undefined) return 'unknown'
    return isWaitingForDependents(found.owner) ? 'waiting' : 'solid'
  }

  /** The owner's state from the store (a live read). */
  private async liveState(pointer: OwnerPointer, dependent: JsonObject): Promise<OwnerState> {
    const informer = this.ownerInformer(pointer)
    if (informer === undefined) return 'solid'
    try {
      const owner = await this.options.objects.get(informer.resource, this.ownerNamespace(informer, dependent), pointer.name)
      if (stringAt(metadataOf(owner)['uid']) !== pointer.uid) return 'dangling'
      return isWaitingForDependents(owner) ? 'waiting' : 'solid'
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return 'dangling'
      throw error
    }
  }

  private hasDependents(uid: string): boolean {
    for (const informer of this.watched.values()) if (informer.byIndex(BY_OWNER_UID, uid).length > 0) return true
    return false
  }

  /** Settles one object; throws to be retried with back-off. */
  async sync(key: string): Promise<void> {
    const separator = key.indexOf('|')
    const informer = this.watched.get(key.slice(0, separator))
    const cached = informer?.getByKey(key.slice(separator + 1))
    if (informer === undefined || cached === undefined) return
    const resource = informer.resource
    const identity = identityOf(resource, cached)
    if (isBeingDeleted(cached)) {
      if (finalizersOf(cached).includes(ORPHAN_FINALIZER)) {
        if (!(await this.deletion.releaseOrphans(identity))) throw new Error(`the dependents of ${key} could not all be released yet`)
      } else if (finalizersOf(cached).includes(FOREGROUND_FINALIZER)) await this.deletion.cascadeForeground(identity)
      return
    }
    const pointers = ownerPointersOf(cached)
    if (pointers.length === 0) return
    if (pointers.every((pointer) => this.cachedState(pointer, cached, resource.namespaced) === 'solid')) return
    // Something looks gone or waiting in the cache: decide on the store's state, never the cache's.
    let live: JsonObject
    try {
      live = await this.options.objects.get(resource, identity.namespace, identity.name)
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return
      throw error
    }
    if (stringAt(metadataOf(live)['uid']) !== identity.uid || isBeingDeleted(live)) return
    const owners: Array<{ uid: string; state: OwnerState }> = []
    for (const pointer of ownerPointersOf(live)) {
      const fromCache = this.cachedState(pointer, live, resource.namespaced)
      owners.push({ uid: pointer.uid, state: fromCache === 'solid' ? 'solid' : await this.liveState(pointer, live) })
    }
    const action = planOwnerReferences({ owners, hasDependents: this.hasDependents(identity.uid), finalizers: finalizersOf(live) })
    const where = `${resource.resource} ${identity.namespace === undefined ? '' : `${identity.namespace}/`}${identity.name}`
    try {
      if (action.op === 'detach') {
        await this.deletion.detachOwners(identity, action.ownerUids)
        this.options.log(`garbage-collector: removed ownerReferences to ${action.ownerUids.join(', ')} from ${where}`)
      } else if (action.op === 'delete') {
        const resourceVersion = stringAt(metadataOf(live)['resourceVersion'])
        await this.deletion.delete(resource, identity.namespace, identity.name, {
          dryRun: false,
          propagationPolicy: action.policy,
          gracePeriodSeconds: undefined,
          preconditions: { uid: identity.uid, resourceVersion },
        })
        this.options.log(`garbage-collector: deleted ${where} (${action.policy}): no owner left`)
      }
    } catch (error) {
      // Gone meanwhile: nothing to collect. A conflict (it changed) is retried from a fresh read.
      if (error instanceof ApiError && error.code === 404) return
      throw error
    }
  }
}

