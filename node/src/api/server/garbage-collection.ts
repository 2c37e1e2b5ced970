/**
 * Garbage collection as a pure plan: given the owners being deleted, the propagation policy and a
 * snapshot of the objects that could depend on them, which dependents to delete, which to mark,
 * which to detach, and in which order. deletion.ts reads the snapshot and carries the plan out.
 * planOwnerReferences is the other direction, for the garbage-collector controller: given one
 * object and what is known of its owners, keep it, detach it from some, or delete it.
 *
 * Kubernetes' rules (the garbage collector of kube-controller-manager, run here synchronously):
 * - A dependent is an object with an `ownerReferences[]` entry whose `uid` is the owner's. A
 *   namespaced owner has dependents only in its own namespace; a cluster-scoped owner in every
 *   namespace and at cluster scope.
 * - Orphan: dependents lose their references to the owner and stay.
 * - Background (the owner is already gone): dependents are deleted, and theirs in turn once they
 *   are gone. A dependent still held by another owner that exists (a "solid" owner: present and
 *   not itself waiting in a foreground deletion) is not deleted; it only loses its references to
 *   the owners that go. A dependent with finalizers is marked; its own dependents wait until it
 *   really goes (then its deletion collects them).
 * - Foreground (the owner stays, marked, with the `foregroundDeletion` finalizer): every
 *   dependent is deleted in foreground too, depth first; an object with dependents of its own is
 *   marked with `foregroundDeletion` before them and finished after them. Finishing removes that
 *   finalizer once no dependent with `blockOwnerDeletion: true` is left (deletion.ts checks that
 *   when it runs the step), and the object goes if no other finalizer holds it.
 */
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER, finalizersOf, isBeingDeleted, mustMarkBeforeDeleting } from './deletion-state.ts'
import type { ResourceObject, ResourceRef } from './object-store.ts'

/** How a deletion treats the owner's dependents (DeleteOptions.propagationPolicy). */
export type PropagationPolicy = 'Orphan' | 'Background' | 'Foreground'

/** One object, by where it lives and its uid (a recreated object with the same name is another). */
export interface ObjectIdentity {
  readonly resource: ResourceRef
  /** Undefined for cluster-scoped objects. */
  readonly namespace: string | undefined
  readonly name: string
  readonly uid: string
}

/**
 * A step of the plan, in execution order:
 * - `delete`: delete the target (deletion.ts marks it instead if it has gained a finalizer);
 * - `mark`: mark the target for deletion, adding `foregroundDeletion` when `foreground`;
 * - `detach`: remove the target's ownerReferences to `ownerUids`;
 * - `finish-foreground`: remove the target's `foregroundDeletion` finalizer if no blocking
 *   dependent is left.
 */
export type GcStep =
  | { readonly op: 'delete'; readonly target: ObjectIdentity }
  | { readonly op: 'mark'; readonly target: ObjectIdentity; readonly foreground: boolean }
  | { readonly op: 'detach'; readonly target: ObjectIdentity; readonly ownerUids: readonly string[] }
  | { readonly op: 'finish-foreground'; readonly target: ObjectIdentity }

/** What to plan for. */
export interface GcInput {
  /**
   * Background: owners that are gone. Orphan: the owner about to go. Foreground: the root owner,
   * already marked (its own `finish-foreground` ends the plan).
   */
  readonly owners: readonly ObjectIdentity[]
  readonly policy: PropagationPolicy
  /** Every object that could depend on the owners or own their dependents (see scopeOf). */
  readonly objects: readonly ResourceObject[]
}

/** An ownerReferences entry, as far as collection cares. */
export interface OwnerReference {
  readonly uid: string
  readonly blockOwnerDeletion: boolean
}

/** The object's ownerReferences with a uid. */
export function ownerReferencesOf(object: JsonObject): OwnerReference[] {
  const metadata = isJsonObject(object['metadata']) ? object['metadata'] : {}
  const references = Array.isArray(metadata['ownerReferences']) ? metadata['ownerReferences'] : []
  return references.flatMap((reference) =>
    isJsonObject(reference) && typeof reference['uid'] === 'string' ? [{ uid: reference['uid'], blockOwnerDeletion: reference['blockOwnerDeletion'] === true }] : [],
  )
}

/** The identity of an object of `resource`. */
export function identityOf(resource: ResourceRef, object: JsonObject): ObjectIdentity {
  const metadata = isJsonObject(object['metadata']) ? object['metadata'] : {}
  return {
    resource,
    namespace: resource.namespaced && typeof metadata['namespace'] === 'string' ? metadata['namespace'] : undefined,
    name: String(metadata['name'] ?? ''),
    uid: String(metadata['uid'] ?? ''),
  }
}

/**
 * The namespace whose objects (with every cluster-scoped object) hold all possible dependents of
 * `owner`, and their dependents in turn; undefined (everything) for a cluster-scoped owner.
 */
export function scopeOf(owner: ObjectIdentity): string | undefined {
  return owner.namespace
}

/** True when `dependent` refers to `owner` and may (a namespaced owner only has dependents beside it). */
function dependsOn(dependent: ObjectIdentity, references: readonly OwnerReference[], owner: ObjectIdentity): boolean {
  if (owner.namespace !== undefined && dependent.namespace !== owner.namespace) return false
  return references.some((reference) => reference.uid === owner.uid)
}

interface Candidate {
  readonly identity: ObjectIdentity
  readonly object: JsonObject
  readonly references: readonly OwnerReference[]
}

function candidatesOf(objects: readonly ResourceObject[]): Candidate[] {
  const candidates = objects.map(({ resource, object }) => ({ identity: identityOf(resource, object), object, references: ownerReferencesOf(object) }))
  // A fixed order makes the plan a function of the snapshot alone, whatever order it was read in.
  return candidates.sort((a, b) => keyOf(a.identity).localeCompare(keyOf(b.identity)))
}

function keyOf(identity: ObjectIdentity): string {
  return `${identity.resource.group}/${identity.resource.resource}/${identity.namespace ?? ''}/${identity.name}`
}

/**
 * The plan for the dependents of `input.owners` (see the module comment). Objects reachable twice
 * (several owners, cycles of references) are planned once.
 */
export function planDependents(input: GcInput): GcStep[] {
  const candidates = candidatesOf(input.objects)
  switch (input.policy) {
    case 'Orphan':
      return planOrphan(input.owners, candidates)
    case 'Background':
      return planBackground(input.owners, candidates)
    case 'Foreground':
      return planForeground(input.owners, candidates)
  }
}

function planOrphan(owners: readonly ObjectIdentity[], candidates: readonly Candidate[]): GcStep[] {
  const steps: GcStep[] = []
  for (const candidate of candidates) {
    const ownerUids = owners.filter((owner) => dependsOn(candidate.identity, candidate.references, owner)).map((owner) => owner.uid)
    if (ownerUids.length > 0) steps.push({ op: 'detach', target: candidate.identity, ownerUids })
  }
  return steps
}

/** Uids of owners that keep dependents alive: present, not going, not waiting in a foreground deletion. */
function solidUids(candidates: readonly Candidate[], going: ReadonlySet<string>): Set<string> {
  const solid = new Set<string>()
  for (const { identity, object } of candidates) {
    if (going.has(identity.uid)) continue
    if (isBeingDeleted(object) && finalizersOf(object).includes(FOREGROUND_FINALIZER)) continue
    solid.add(identity.uid)
  }
  return solid
}

/**
 * Grows the set of going objects to a fixed point: a candidate goes when it depends on a going
 * object, has no solid owner left, and `goesWith` says it goes (Background: only objects without
 * finalizers go on; Foreground: all of them). Growing `going` only removes solid owners, so the
 * loop ends after at most one pass per candidate.
 */
function growGoing(owners: readonly ObjectIdentity[], candidates: readonly Candidate[], goesWith: (candidate: Candidate) => boolean): Map<string, ObjectIdentity> {
  const going = new Map<string, ObjectIdentity>(owners.map((owner) => [owner.uid, owner]))
  for (let changed = true; changed; ) {
    changed = false
    const solid = solidUids(candidates, new Set(going.keys()))
    for (const candidate of candidates) {
      if (going.has(candidate.identity.uid) || !goesWith(candidate)) continue
      const goingOwners = [...going.values()].filter((owner) => dependsOn(candidate.identity, candidate.references, owner))
      if (goingOwners.length === 0 || candidate.references.some((reference) => solid.has(reference.uid))) continue
      going.set(candidate.identity.uid, candidate.identity)
      changed = true
    }
  }
  return going
}

/** Steps for dependents of going objects that stay: detach (solid owner elsewhere) or mark (finalizers). */
function stayingSteps(candidates: readonly Candidate[], going: ReadonlyMap<string, ObjectIdentity>): GcStep[] {
  const steps: GcStep[] = []
  const solid = solidUids(candidates, new Set(going.keys()))
  for (const candidate of candidates) {
    if (going.has(candidate.identity.uid)) continue
    const ownerUids = [...going.values()].filter((owner) => dependsOn(candidate.identity, candidate.references, owner)).map((owner) => owner.uid)
    if (ownerUids.length === 0) continue
    if (candidate.references.some((reference) => solid.has(reference.uid))) steps.push({ op: 'detach', target: candidate.identity, ownerUids })
    else if (!isBeingDeleted(candidate.object)) steps.push({ op: 'mark', target: candidate.identity, foreground: false })
  }
  return steps
}

function planBackground(owners: readonly ObjectIdentity[], candidates: readonly Candidate[]): GcStep[] {
  const going = growGoing(owners, candidates, (candidate) => !mustMarkBeforeDeleting(candidate.identity.resource, candidate.object))
  const ownerUids = new Set(owners.map((owner) => owner.uid))
  const steps: GcStep[] = []
  // Breadth first from the owners, so an object goes before what depends on it, as the collector does.
  const order = breadthFirst(owners, candidates, going)
  for (const identity of order) if (!ownerUids.has(identity.uid)) steps.push({ op: 'delete', target: identity })
  return [...steps, ...stayingSteps(candidates, going)]
}

/** The going objects reachable from `roots`, breadth first, each once. */
function breadthFirst(roots: readonly ObjectIdentity[], candidates: readonly Candidate[], going: ReadonlyMap<string, ObjectIdentity>): ObjectIdentity[] {
  const seen = new Set(roots.map((root) => root.uid))
  const order: ObjectIdentity[] = [...roots]
  for (let index = 0; index < order.length; index++) {
    const owner = order[index]!
    for (const candidate of candidates) {
      if (seen.has(candidate.identity.uid) || !going.has(candidate.identity.uid)) continue
      if (!dependsOn(candidate.identity, candidate.references, owner)) continue
      seen.add(candidate.identity.uid)
      order.push(candidate.identity)
    }
  }
  return order
}

function planForeground(owners: readonly ObjectIdentity[], candidates: readonly Candidate[]): GcStep[] {
  const going = growGoing(owners, candidates, () => true)
  const byUid = new Map(candidates.map((candidate) => [candidate.identity.uid, candidate]))
  const childrenOf = (owner: ObjectIdentity): ObjectIdentity[] =>
    candidates
      .filter((candidate) => going.has(candidate.identity.uid) && candidate.identity.uid !== owner.uid && dependsOn(candidate.identity, candidate.references, owner))
      .map((candidate) => candidate.identity)
  const steps: GcStep[] = []
  const visited = new Set(owners.map((owner) => owner.uid))
  // Depth first: an object with dependents is marked before them and finished after them; one
  // without is deleted (or marked, when its own finalizers must run first).
  const visit = (identity: ObjectIdentity): void => {
    visited.add(identity.uid)
    const children = childrenOf(identity)
    if (children.length === 0) {
      const object = byUid.get(identity.uid)?.object
      steps.push(object !== undefined && mustMarkBeforeDeleting(identity.resource, object) ? { op: 'mark', target: identity, foreground: false } : { op: 'delete', target: identity })
      return
    }
    steps.push({ op: 'mark', target: identity, foreground: true })
    for (const child of children) if (!visited.has(child.uid)) visit(child)
    steps.push({ op: 'finish-foreground', target: identity })
  }
  for (const owner of owners) {
    for (const child of childrenOf(owner)) if (!visited.has(child.uid)) visit(child)
    steps.push({ op: 'finish-foreground', target: owner })
  }
  return [...steps, ...stayingSteps(candidates, going)]
}

/**
 * The dependents that still block `owner`'s foreground deletion: objects in `objects` with an
 * ownerReference to it that has `blockOwnerDeletion: true`, except those in `gone`.
 */
export function blockingDependents(owner: ObjectIdentity, objects: readonly ResourceObject[], gone: ReadonlySet<string> = new Set()): ObjectIdentity[] {
  return candidatesOf(objects)
    .filter((candidate) => !gone.has(candidate.identity.uid) && candidate.identity.uid !== owner.uid)
    .filter((candidate) => dependsOn(candidate.identity, candidate.references.filter((reference) => reference.blockOwnerDeletion), owner))
    .map((candidate) => candidate.identity)
}

/**
 * What is known of one owner of an object the garbage collector looks at:
 * - `solid`: it exists with the uid the reference names and is not waiting in a foreground
 *   deletion (or it cannot be looked up: an unknown kind is never taken for gone);
 * - `dangling`: it is gone, or the name now holds another object (another uid);
 * - `waiting`: it exists but is being deleted in foreground, waiting for its dependents.
 */
export type OwnerState = 'solid' | 'dangling' | 'waiting'

/** What the collector does with an object, given the state of its owners (planOwnerReferences). */
export type OwnerReferencesAction =
  | { readonly op: 'keep' }
  | { readonly op: 'detach'; readonly ownerUids: readonly string[] }
  | { readonly op: 'delete'; readonly policy: PropagationPolicy }

/**
 * The garbage collector's decision for one object from its owners' states (kube-controller-
 * manager's attemptToDeleteItem):
 * - no owner, or only solid ones: keep it;
 * - a solid owner and others dangling or waiting: it stays (the solid owner holds it) but loses
 *   its references to the others, so that they neither dangle nor block a foreground deletion;
 * - no solid owner and one waiting in a foreground deletion, while the object has dependents of
 *   its own: delete it in foreground too, so that the wait propagates down;
 * - no solid owner otherwise: delete it, honouring a propagation it already asked for through its
 *   finalizers (`orphan`, `foregroundDeletion`), else in background.
 */
export function planOwnerReferences(input: {
  readonly owners: ReadonlyArray<{ readonly uid: string; readonly state: OwnerState }>
  readonly hasDependents: boolean
  readonly finalizers: readonly string[]
}): OwnerReferencesAction {
  if (input.owners.length === 0) return { op: 'keep' }
  const notSolid = input.owners.filter((owner) => owner.state !== 'solid').map((owner) => owner.uid)
  if (notSolid.length === 0) return { op: 'keep' }
  if (input.owners.some((owner) => owner.state === 'solid')) return { op: 'detach', ownerUids: [...new Set(notSolid)] }
  if (input.owners.some((owner) => owner.state === 'waiting') && input.hasDependents) return { op: 'delete', policy: 'Foreground' }
  if (input.finalizers.includes(ORPHAN_FINALIZER)) return { op: 'delete', policy: 'Orphan' }
  if (input.finalizers.includes(FOREGROUND_FINALIZER)) return { op: 'delete', policy: 'Foreground' }
  return { op: 'delete', policy: 'Background' }
}
