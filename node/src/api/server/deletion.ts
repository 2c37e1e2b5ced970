/**
 * DELETE semantics (research/k8s-api.md §2): finalizers, propagation policies, and what follows
 * the disappearance of an object (garbage collection of its dependents, owners waiting in a
 * foreground deletion, namespaces waiting to be empty).
 *
 * Kubernetes runs the follow-ups asynchronously in kube-controller-manager (garbage collector,
 * namespace controller). Flotilla runs them in the request that made an object vanish, before it
 * answers: the effects are visible as soon as the client hears back, and nothing is left to a
 * loop that might not run. The plan is pure (garbage-collection.ts); this module reads the
 * snapshot it needs and carries the plan out. Steps that race with other writers are checked
 * again when they run (uid preconditions, re-reads), and a step that finds its target gone or
 * replaced is skipped.
 *
 * The follow-ups are best effort: the deletion the client asked for has happened when they run,
 * so their failures are logged, not returned. An object whose collection failed keeps a dangling
 * ownerReference, and a node that dies mid-way leaves the rest undone: the garbage-collector and
 * namespace controllers on the Raft leader (controllers/manager/) finish such work with the same
 * methods (`cascadeForeground`, `releaseOrphans`, `detachOwners`, `finishNamespaceIfTerminating`).
 *
 * Pods are deleted gracefully (deletion-state.ts decideDeletion): a pod bound to a node stays
 * Terminating until its node agent deletes it with a grace period of 0, or the pod garbage
 * collector force-deletes it when its node is gone.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { ApiError } from '../machinery/status.ts'
import {
  FOREGROUND_FINALIZER,
  NAMESPACE_FINALIZER,
  ORPHAN_FINALIZER,
  decideDeletion,
  finalizersOf,
  isBeingDeleted,
  isReadyToVanish,
  markedForDeletion,
  namespaceFinalizersOf,
  withDeletionMark,
  withoutFinalizer,
} from './deletion-state.ts'
import type { DeleteRequestOptions } from './delete-options.ts'
import { blockingDependents, identityOf, ownerReferencesOf, planDependents, scopeOf, type GcStep, type ObjectIdentity, type PropagationPolicy } from './garbage-collection.ts'
import { checkPreconditions, metadataOf, type ObjectStore, type Preconditions, type ResourceObject, type ResourceRef } from './object-store.ts'
import { checkNamespaceDeletable, isNamespaceResource } from './namespace-lifecycle.ts'
import { NAMESPACES } from './resource-refs.ts'

/** What a DELETE did. */
export interface DeleteOutcome {
  /** The object as it was deleted, or as marked when it stays until its finalizers have run. */
  readonly object: JsonObject
  /** True when the object is gone (in a dry run: would be). */
  readonly deleted: boolean
}

/** Rounds of follow-ups (objects vanishing make owners and namespaces finish, which vanish…). */
const FOLLOW_UP_ROUNDS_MAX = 64
/** Retries of a delete that lost a race with a concurrent write to the same object. */
const DELETE_RETRIES_MAX = 8

export interface DeletionOptions {
  readonly objects: ObjectStore
  /** Every stored resource (resource-refs.ts storedResources). */
  readonly resources: readonly ResourceRef[]
  /** Where failed follow-ups are reported. */
  readonly log: (line: string) => void
}

export class Deletion {
  private readonly objects: ObjectStore
  private readonly resources: readonly ResourceRef[]
  private readonly namespacedResources: readonly ResourceRef[]
  private readonly log: (line: string) => void
  /** Namespaces being finished now, and whether another request asked again meanwhile. */
  private readonly namespacesFinishing = new Map<string, { again: boolean }>()

  constructor(options: DeletionOptions) {
    this.objects = options.objects
    this.resources = options.resources
    this.namespacedResources = options.resources.filter((resource) => resource.namespaced)
    this.log = options.log
  }

  /**
   * DELETE of one object. An object with finalizers (or deleted in foreground) is marked and
   * stays; any other is removed, and its dependents are collected as the policy says.
   * @throws ApiError 404 when it does not exist, 409 when a precondition does not hold.
   */
  async delete(resource: ResourceRef, namespace: string | undefined, name: string, options: DeleteRequestOptions): Promise<DeleteOutcome> {
    if (isNamespaceResource(resource)) return this.deleteNamespace(name, options)
    const current = await this.objects.get(resource, namespace, name)
    checkPreconditions(resource, name, current, options.preconditions)
    const identity = identityOf(resource, current)
    const preconditions: Preconditions = { ...options.preconditions, uid: identity.uid }
    const foreground = options.propagationPolicy === 'Foreground'
    const mark = { foreground, gracePeriodSeconds: options.gracePeriodSeconds, preconditions }
    if (options.dryRun) return this.deleteOrMark(identity, { ...mark, dryRun: true })
    if (options.propagationPolicy === 'Orphan') {
      // Dependents are released first, so a failure leaves the owner in place for a retry.
      const snapshot = await this.objects.listMany(this.resources, scopeOf(identity))
      await this.run(planDependents({ owners: [identity], policy: 'Orphan', objects: snapshot }), snapshot, new Set())
    }
    const outcome = await this.deleteOrMark(identity, { ...mark, dryRun: false })
    if (outcome.deleted) await this.afterVanished([{ resource, object: outcome.object }])
    else if (foreground) await this.cascadeForeground(identity)
    return outcome
  }

  /**
   * deletecollection: each of `items` (listed and selected by the caller) deleted as `delete`
   * would, with the collection work batched: one orphaning pass before and one follow-up pass
   * after, instead of one per object. Objects that went meanwhile are skipped. Returns what each
   * delete returned (the object as deleted or as marked).
   */
  async deleteCollection(resource: ResourceRef, items: readonly JsonObject[], options: DeleteRequestOptions): Promise<JsonObject[]> {
    const identities = items.map((item) => identityOf(resource, item))
    if (!options.dryRun && options.propagationPolicy === 'Orphan') {
      for (const [scope, group] of groupByScope(items.map((object) => ({ resource, object })))) {
        const snapshot = await this.objects.listMany(this.resources, scope)
        const owners = group.map(({ object }) => identityOf(resource, object))
        await this.run(planDependents({ owners, policy: 'Orphan', objects: snapshot }), snapshot, new Set())
      }
    }
    const results: JsonObject[] = []
    const vanished: ResourceObject[] = []
    const foregroundRoots: ObjectIdentity[] = []
    const foreground = options.propagationPolicy === 'Foreground'
    for (const identity of identities) {
      const preconditions: Preconditions = { ...options.preconditions, uid: identity.uid }
      let outcome: DeleteOutcome
      try {
        outcome =
          isNamespaceResource(resource)
            ? await this.deleteNamespace(identity.name, { ...options, preconditions })
            : await this.deleteOrMark(identity, { foreground, gracePeriodSeconds: options.gracePeriodSeconds, preconditions, dryRun: options.dryRun })
      } catch (error) {
        // Deleted (or replaced) since the list: not part of this collection any more.
        if (error instanceof ApiError && (error.code === 404 || (error.code === 409 && options.preconditions.uid === undefined))) continue
        throw error
      }
      results.push(outcome.object)
      if (options.dryRun) continue
      if (outcome.deleted) vanished.push({ resource, object: outcome.object })
      else if (foreground) foregroundRoots.push(identity)
    }
    if (vanished.length > 0) await this.afterVanished(vanished)
    for (const root of foregroundRoots) await this.cascadeForeground(root)
    return results
  }

  /**
   * Follow-ups once objects are gone, by whatever path (DELETE, an update that removed the last
   * finalizer): their dependents are collected in background, owners waiting in a foreground
   * deletion for them finish, and terminating namespaces they were in are finished. Never throws.
   */
  async afterVanished(gone: readonly ResourceObject[]): Promise<void> {
    try {
      await this.followUp(gone)
    } catch (error) {
      this.log(`garbage collection after deleting ${gone.length} object(s) failed: ${(error as Error).stack ?? String(error)}`)
    }
  }

  private async followUp(initial: readonly ResourceObject[]): Promise<void> {
    let pending = [...initial]
    const namespaces = new Set<string>()
    for (let round = 0; pending.length > 0; round++) {
      if (round >= FOLLOW_UP_ROUNDS_MAX) {
        this.log(`garbage collection stopped after ${FOLLOW_UP_ROUNDS_MAX} rounds with ${pending.length} object(s) left to follow up`)
        break
      }
      const next: ResourceObject[] = []
      for (const [scope, group] of groupByScope(pending)) {
        const snapshot = await this.objects.listMany(this.resources, scope)
        const owners = group.map(({ resource, object }) => identityOf(resource, object))
        const gone = new Set(owners.map((owner) => owner.uid))
        const vanished = await this.run(planDependents({ owners, policy: 'Background', objects: snapshot }), snapshot, gone)
        vanished.push(...(await this.finishForegroundOwners(snapshot, gone)))
        next.push(...vanished)
        for (const { resource, object } of [...group, ...vanished]) {
          const objectNamespace = metadataOf(object)['namespace']
          if (resource.namespaced && typeof objectNamespace === 'string') namespaces.add(objectNamespace)
        }
      }
      pending = next
    }
    for (const namespace of namespaces) await this.finishNamespaceIfTerminating(namespace)
  }

  /**
   * Removes `target`'s ownerReferences to `ownerUids` (uid precondition; nothing when it has none
   * of them). @throws ApiError 404/409 when the target went or was replaced.
   */
  async detachOwners(target: ObjectIdentity, ownerUids: readonly string[]): Promise<void> {
    const owners = new Set(ownerUids)
    await this.objects.guaranteedUpdate(target.resource, target.namespace, target.name, (object) => withoutOwnerReferences(object, owners), { preconditions: { uid: target.uid } })
  }

  /**
   * Finishes an owner deleted with propagationPolicy Orphan through the `orphan` finalizer (how
   * kube-apiserver records it): its dependents lose their references to it, then the finalizer
   * goes (and the owner with it when nothing else holds it). Never throws for races: a dependent
   * that changed meanwhile is detached from a fresh read; failures are logged and left to a retry.
   * @returns true when the finalizer was removed (or is gone with the owner).
   */
  async releaseOrphans(owner: ObjectIdentity): Promise<boolean> {
    try {
      const snapshot = await this.objects.listMany(this.resources, scopeOf(owner))
      await this.run(planDependents({ owners: [owner], policy: 'Orphan', objects: snapshot }), snapshot, new Set())
      const after = await this.objects.listMany(this.resources, scopeOf(owner))
      const left = planDependents({ owners: [owner], policy: 'Orphan', objects: after })
      if (left.length > 0) return false
      const result = await this.objects.guaranteedUpdate(owner.resource, owner.namespace, owner.name, (object) => (finalizersOf(object).includes(ORPHAN_FINALIZER) ? withoutFinalizer(object, ORPHAN_FINALIZER) : undefined), {
        preconditions: { uid: owner.uid },
      })
      if (isReadyToVanish(owner.resource, result)) await this.afterVanished([{ resource: owner.resource, object: result }])
      return true
    } catch (error) {
      if (error instanceof ApiError && (error.code === 404 || error.code === 409)) return true
      this.log(`releasing the dependents of ${owner.resource.resource} ${owner.name} failed: ${(error as Error).message}`)
      return false
    }
  }

  /**
   * Marks the root's dependents for a foreground deletion, deletes them, and finishes what it can
   * (the root loses `foregroundDeletion` once no blocking dependent is left). Idempotent: run
   * again on a root whose deletion was interrupted, it continues from the store's state.
   */
  async cascadeForeground(root: ObjectIdentity): Promise<void> {
    try {
      const snapshot = await this.objects.listMany(this.resources, scopeOf(root))
      const vanished = await this.run(planDependents({ owners: [root], policy: 'Foreground', objects: snapshot }), snapshot, new Set())
      if (vanished.length > 0) await this.followUp(vanished)
    } catch (error) {
      this.log(`foreground deletion of ${root.resource.resource} ${root.name} failed: ${(error as Error).stack ?? String(error)}`)
    }
  }

  /**
   * Carries out a plan against the snapshot it was made from. `gone` collects the uids of objects
   * that vanished (and starts with those known gone); returns the objects that vanished.
   */
  private async run(steps: readonly GcStep[], snapshot: readonly ResourceObject[], gone: Set<string>): Promise<ResourceObject[]> {
    const vanished: ResourceObject[] = []
    for (const step of steps) {
      const target = step.target
      try {
        const object = await this.runStep(step, snapshot, gone)
        if (object !== undefined) {
          gone.add(target.uid)
          vanished.push({ resource: target.resource, object })
        }
      } catch (error) {
        // The target went or was replaced since the snapshot: someone else did the work.
        if (error instanceof ApiError && (error.code === 404 || error.code === 409)) continue
        this.log(`garbage collection step ${step.op} on ${target.resource.resource} ${target.namespace ?? ''}/${target.name} failed: ${(error as Error).message}`)
      }
    }
    return vanished
  }

  /** One step; returns the object when the step made it vanish. */
  private async runStep(step: GcStep, snapshot: readonly ResourceObject[], gone: ReadonlySet<string>): Promise<JsonObject | undefined> {
    const { resource, namespace, name, uid } = step.target
    const preconditions: Preconditions = { uid }
    switch (step.op) {
      case 'delete':
      case 'mark': {
        const foreground = step.op === 'mark' && step.foreground
        // The resource's default grace period, as the garbage collector's DELETE has it: pods
        // collected with their owner terminate gracefully.
        const outcome = await this.deleteOrMark(step.target, { foreground, gracePeriodSeconds: undefined, preconditions, dryRun: false })
        return outcome.deleted ? outcome.object : undefined
      }
      case 'detach': {
        const owners = new Set(step.ownerUids)
        await this.objects.guaranteedUpdate(resource, namespace, name, (object) => withoutOwnerReferences(object, owners), { preconditions })
        return undefined
      }
      case 'finish-foreground': {
        if (blockingDependents(step.target, snapshot, gone).length > 0) return undefined
        const result = await this.objects.guaranteedUpdate(resource, namespace, name, (object) => (finalizersOf(object).includes(FOREGROUND_FINALIZER) ? withoutFinalizer(object, FOREGROUND_FINALIZER) : undefined), { preconditions })
        return isReadyToVanish(resource, result) ? result : undefined
      }
    }
  }

  /**
   * Owners in the snapshot waiting in a foreground deletion with no blocking dependent left lose
   * their `foregroundDeletion` finalizer, bottom up (an owner that vanishes may free its own
   * owner). Returns the owners that vanished.
   */
  private async finishForegroundOwners(snapshot: readonly ResourceObject[], gone: Set<string>): Promise<ResourceObject[]> {
    const waiting = snapshot.filter(({ object }) => isBeingDeleted(object) && finalizersOf(object).includes(FOREGROUND_FINALIZER))
    const vanished: ResourceObject[] = []
    const finished = new Set<string>()
    for (let progress = true; progress; ) {
      progress = false
      const steps: GcStep[] = waiting
        .map(({ resource, object }) => identityOf(resource, object))
        .filter((identity) => !gone.has(identity.uid) && !finished.has(identity.uid) && blockingDependents(identity, snapshot, gone).length === 0)
        .map((target) => ({ op: 'finish-foreground', target }))
      for (const step of steps) finished.add(step.target.uid)
      const done = await this.run(steps, snapshot, gone)
      vanished.push(...done)
      progress = done.length > 0
    }
    return vanished
  }

  /**
   * Deletes the object now when nothing must run first, else marks it (deletion-state.ts
   * decideDeletion: finalizers, a foreground deletion, a pod's grace period). A second DELETE of a
   * marked object changes nothing but a pod's shorter grace period (or a missing
   * `foregroundDeletion`). A delete that races with a write retries from a fresh read.
   */
  private async deleteOrMark(
    identity: ObjectIdentity,
    options: { foreground: boolean; gracePeriodSeconds: number | undefined; preconditions: Preconditions; dryRun: boolean },
  ): Promise<DeleteOutcome> {
    const { resource, namespace, name } = identity
    for (let attempt = 1; ; attempt++) {
      const current = await this.objects.get(resource, namespace, name)
      checkPreconditions(resource, name, current, options.preconditions)
      const decision = decideDeletion(resource, current, { nowIso: this.objects.now(), gracePeriodSeconds: options.gracePeriodSeconds, foreground: options.foreground })
      if (decision.kind === 'unchanged') return { object: current, deleted: false }
      try {
        if (decision.kind === 'mark') {
          // Marked from the version just read, so the decision holds for what is written.
          const version = String(metadataOf(current)['resourceVersion'])
          const marked = await this.objects.guaranteedUpdate(resource, namespace, name, (object) => withDeletionMark(object, decision), {
            dryRun: options.dryRun,
            preconditions: { ...options.preconditions, resourceVersion: version },
          })
          return { object: marked, deleted: isReadyToVanish(resource, marked) }
        }
        const version = String(metadataOf(current)['resourceVersion'])
        const deleted = await this.objects.delete(resource, namespace, name, { dryRun: options.dryRun, preconditions: { ...options.preconditions, resourceVersion: version } })
        return { object: deleted, deleted: true }
      } catch (error) {
        // Changed between the read and the write (it may have gained a finalizer): read again.
        if (!(error instanceof ApiError) || error.code !== 409 || attempt >= DELETE_RETRIES_MAX) throw error
      }
    }
  }

  /**
   * DELETE of a namespace: it turns Terminating (deletionTimestamp, `status.phase: Terminating`),
   * its contents are deleted, and it goes once empty (namespace-lifecycle: the `kubernetes`
   * finalizer is removed then). Objects whose finalizers have not run keep it Terminating; it
   * finishes when the last of them goes.
   */
  private async deleteNamespace(name: string, options: DeleteRequestOptions): Promise<DeleteOutcome> {
    checkNamespaceDeletable(name)
    const current = await this.objects.get(NAMESPACES, undefined, name)
    checkPreconditions(NAMESPACES, name, current, options.preconditions)
    const uid = String(metadataOf(current)['uid'])
    const marked = await this.objects.guaranteedUpdate(
      NAMESPACES,
      undefined,
      name,
      (object) => {
        const next = markedForDeletion(object, { nowIso: this.objects.now(), gracePeriodSeconds: options.gracePeriodSeconds ?? 0 })
        // A namespace stored without the finalizer (written before namespaces got it on create)
        // gets it now: its contents go before it does, whatever its history.
        const finalizers = namespaceFinalizersOf(object)
        const spec = { ...objectAt(object['spec']), finalizers: finalizers.includes(NAMESPACE_FINALIZER) ? finalizers : [...finalizers, NAMESPACE_FINALIZER] }
        return { ...next, spec, status: { ...objectAt(object['status']), phase: 'Terminating' } }
      },
      { dryRun: options.dryRun, preconditions: { ...options.preconditions, uid } },
    )
    if (options.dryRun) return { object: marked, deleted: isReadyToVanish(NAMESPACES, marked) }
    await this.finishNamespace(name)
    return { object: marked, deleted: false }
  }

  /** Empties and finishes the namespace if it is Terminating (nothing otherwise). Throws on store failures. */
  async finishNamespaceIfTerminating(name: string): Promise<void> {
    const namespace = await this.objects.get(NAMESPACES, undefined, name).catch((error: unknown) => {
      if (error instanceof ApiError && error.code === 404) return undefined
      throw error
    })
    if (namespace !== undefined && isBeingDeleted(namespace)) await this.finishNamespace(name)
  }

  /**
   * Deletes what is left in a terminating namespace, and the namespace once nothing is left. Runs
   * once at a time per namespace; a request that arrives meanwhile makes the running one go again.
   */
  private async finishNamespace(name: string): Promise<void> {
    const running = this.namespacesFinishing.get(name)
    if (running !== undefined) {
      running.again = true
      return
    }
    const state = { again: true }
    this.namespacesFinishing.set(name, state)
    try {
      for (let round = 0; state.again && round < FOLLOW_UP_ROUNDS_MAX; round++) {
        state.again = false
        if (await this.finishNamespaceOnce(name)) state.again = true
      }
    } finally {
      this.namespacesFinishing.delete(name)
    }
  }

  /** One pass; true when objects created meanwhile (not being deleted) call for another. */
  private async finishNamespaceOnce(name: string): Promise<boolean> {
    // Only a namespace being deleted is emptied (a concurrent pass may have removed it already).
    const namespace = await this.objects.get(NAMESPACES, undefined, name).catch((error: unknown) => {
      if (error instanceof ApiError && error.code === 404) return undefined
      throw error
    })
    if (namespace === undefined || !isBeingDeleted(namespace)) return false
    const contents = await this.objects.listMany(this.namespacedResources, name)
    // Everything in the namespace goes, so there is nothing to collect: no background plan.
    const steps: GcStep[] = contents.filter(({ object }) => !isBeingDeleted(object)).map(({ resource, object }) => ({ op: 'delete', target: identityOf(resource, object) }))
    const gone = new Set<string>()
    await this.run(steps, contents, gone)
    const snapshot = await this.objects.listMany(this.resources, name)
    await this.finishForegroundOwners(snapshot, gone)
    const remaining = await this.objects.listMany(this.namespacedResources, name)
    // Objects that are not being deleted were created before the namespace turned Terminating
    // but written after the pass listed its contents: go again. Marked ones wait for finalizers.
    if (remaining.length > 0) return remaining.some(({ object }) => !isBeingDeleted(object))
    const withoutKubernetes = (object: JsonObject): JsonObject | undefined => {
      const finalizers = namespaceFinalizersOf(object)
      if (!isBeingDeleted(object) || !finalizers.includes(NAMESPACE_FINALIZER)) return undefined
      return { ...object, spec: { ...objectAt(object['spec']), finalizers: finalizers.filter((item) => item !== NAMESPACE_FINALIZER) } }
    }
    await this.objects.guaranteedUpdate(NAMESPACES, undefined, name, withoutKubernetes).catch((error: unknown) => {
      // Gone already: another node finished it.
      if (!(error instanceof ApiError) || error.code !== 404) throw error
    })
    return false
  }
}

function objectAt(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

/** The object without its ownerReferences to `ownerUids` (undefined when it has none). */
function withoutOwnerReferences(object: JsonObject, ownerUids: ReadonlySet<string>): JsonObject | undefined {
  const metadata = metadataOf(object)
  const references = Array.isArray(metadata['ownerReferences']) ? metadata['ownerReferences'] : []
  if (!ownerReferencesOf(object).some((reference) => ownerUids.has(reference.uid))) return undefined
  const kept = references.filter((reference) => !ownerReferencesOf({ metadata: { ownerReferences: [reference] } }).some((parsed) => ownerUids.has(parsed.uid)))
  const { ownerReferences: _references, ...rest } = metadata
  return { ...object, metadata: kept.length > 0 ? { ...rest, ownerReferences: kept } : rest }
}

/** Objects grouped by the scope their dependents live in (a namespace, or undefined for all). */
function groupByScope(objects: readonly ResourceObject[]): Map<string | undefined, ResourceObject[]> {
  const groups = new Map<string | undefined, ResourceObject[]>()
  for (const item of objects) {
    const scope = scopeOf(identityOf(item.resource, item.object))
    const group = groups.get(scope) ?? []
    group.push(item)
    groups.set(scope, group)
  }
  return groups
}

export type { PropagationPolicy }
