/**
 * The informer wiring the manager's controllers have in common, as kube-controller-manager's
 * controllers do it:
 *
 * - a controller queues its own object (`namespace/name`) when it is added or updated, and when it
 *   is deleted forgets the object's expectations and queues it once more, so that the sync sees it
 *   gone (`queueOwnObjects`);
 * - a dependent (a pod, a ControllerRevision, a Job) that changes queues the object its controller
 *   reference names, and, when an update moved the reference, the previous controller too, which
 *   has lost it (`queueControllerOnDependentChange`, built on `onDependentChange`);
 * - expectations look a written resource up in the controller's own informers first, then in the
 *   shared ones (`expectationsOver`);
 * - a sync waits for its expectations (`objectToSync`, `expectationsPending`) and records the
 *   writes of the plan it executes as the next ones (`executeExpecting`).
 *
 * Only the controller reference (owner reference with `controller: true`) counts, and only when
 * the cached owner has the uid it names: a reference to a deleted and recreated owner of the same
 * name queues nothing.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ObjectStore } from '../../api/server/object-store.ts'
import { controllerRefOf, metadataOf, namespaceOf, stringAt, uidOf } from '../object-fields.ts'
import type { Plan } from '../plan.ts'
import { Expectations } from './expectations.ts'
import { cacheKeyOf, type Informer } from './informer.ts'
import type { PlanExecutor } from './plan-executor.ts'
import type { SharedInformers } from './shared-informers.ts'
import type { Timers } from '../../../../lib/timers.ts'
import type { WorkQueue } from './work-queue.ts'

/**
 * What a controller that watches resources of its own (beyond the shared informers) takes from
 * the manager's session.
 */
export interface OwnInformersContext {
  readonly informers: SharedInformers
  readonly executor: PlanExecutor
  readonly timers: Timers
  /** The manager's (fenced) store: the controller's own informers, and any reads it makes. */
  readonly objects: ObjectStore
  readonly log: (line: string) => void
  /** How long the controller waits to see its own writes before reconciling anyway. */
  readonly expectationsTimeoutMs: number
}

/** Index of the shared pod informer by namespace, used by the Endpoints, quota and HPA controllers. */
export const PODS_BY_NAMESPACE = 'pods-by-namespace'

/** Adds PODS_BY_NAMESPACE to the pod informer (idempotent; before it starts). */
export function indexPodsByNamespace(pods: Informer): void {
  pods.addIndex(PODS_BY_NAMESPACE, (pod) => [namespaceOf(pod)])
}

/** The uid of an object's controller, as an index value (none for an object without one). */
export function controllerUidOf(object: JsonObject): readonly string[] {
  const uid = controllerRefOf(object)?.['uid']
  return typeof uid === 'string' ? [uid] : []
}

/** The cached object of `kind` in `owners` that `object`'s controller reference names, with that uid. */
export function controllerOf(object: JsonObject, kind: string, owners: Informer): JsonObject | undefined {
  const reference = controllerRefOf(object)
  if (reference === undefined || reference['kind'] !== kind) return undefined
  const owner = owners.get(stringAt(metadataOf(object)['namespace']), stringAt(reference['name']))
  return owner !== undefined && uidOf(owner) === reference['uid'] ? owner : undefined
}

/** The queue key of the object controllerOf finds, if any. */
export function controllerKeyOf(object: JsonObject, kind: string, owners: Informer): string | undefined {
  const owner = controllerOf(object, kind, owners)
  return owner === undefined ? undefined : cacheKeyOf(owner)
}

/**
 * Queues each object of `informer` when it is added, updated or deleted. With `expectations`, a
 * deleted object's expectations are forgotten first: nothing it waited for will matter any more.
 */
export function queueOwnObjects(informer: Informer, queue: WorkQueue, expectations?: Expectations): void {
  informer.addHandlers({
    onAdd: (object) => queue.add(cacheKeyOf(object)),
    onUpdate: (_previous, object) => queue.add(cacheKeyOf(object)),
    onDelete: (object) => {
      expectations?.forget(cacheKeyOf(object))
      queue.add(cacheKeyOf(object))
    },
  })
}

/**
 * Calls `changed` with each dependent that is added, updated or deleted, and, when an update
 * changed the dependent's controller reference (by uid), with its previous version as well.
 */
export function onDependentChange(dependents: Informer, changed: (dependent: JsonObject) => void): void {
  dependents.addHandlers({
    onAdd: changed,
    onUpdate: (previous, dependent) => {
      changed(dependent)
      if (controllerRefOf(previous)?.['uid'] !== controllerRefOf(dependent)?.['uid']) changed(previous)
    },
    onDelete: changed,
  })
}

/**
 * Queues the `ownerKind` object of `owners` that controls a dependent when the dependent changes
 * (and the previous controller when the change moved the controller reference).
 */
export function queueControllerOnDependentChange(dependents: Informer, ownerKind: string, owners: Informer, queue: WorkQueue): void {
  onDependentChange(dependents, (dependent) => {
    const key = controllerKeyOf(dependent, ownerKind, owners)
    if (key !== undefined) queue.add(key)
  })
}

/**
 * Expectations that look a written resource up in `ownInformers` first and in `shared` after (a
 * resource neither watches has nothing to wait for).
 */
export function expectationsOver(ownInformers: readonly Informer[], shared: Pick<SharedInformers, 'informerFor'>, timeoutMs: number): Expectations {
  return new Expectations(
    (resource) => ownInformers.find((informer) => informer.resource.group === resource.group && informer.resource.resource === resource.resource) ?? shared.informerFor(resource),
    timeoutMs,
  )
}

/**
 * True when `key`'s last plan has writes not yet visible in the caches; the key is then queued
 * again for when its expectations time out (the informer event that makes the writes visible
 * queues it sooner), and the caller must not reconcile it now.
 */
export function expectationsPending(expectations: Expectations, queue: WorkQueue, key: string, nowMs: number): boolean {
  if (expectations.satisfied(key, nowMs)) return false
  queue.addAfter(key, expectations.remainingMs(key, nowMs))
  return true
}

/**
 * The cached object of `owners` that `key` names, when it is to be reconciled now: undefined when
 * the object is gone (its expectations are then forgotten: nothing it waited for matters any more)
 * or when its expectations are pending (see expectationsPending: it is queued again).
 */
export function objectToSync(owners: Informer, key: string, expectations: Expectations, queue: WorkQueue, nowMs: number): JsonObject | undefined {
  const object = owners.getByKey(key)
  if (object === undefined) {
    expectations.forget(key)
    return undefined
  }
  return expectationsPending(expectations, queue, key, nowMs) ? undefined : object
}

/**
 * Executes `plan` for `key` (nothing when it has no actions) and records the writes that landed
 * as `key`'s expectations; throws the first failure of a plan that did not complete, so that the
 * runner retries the key with back-off.
 */
export async function executeExpecting(
  context: { readonly executor: PlanExecutor; readonly timers: Timers },
  expectations: Expectations,
  key: string,
  plan: Plan,
): Promise<void> {
  if (plan.actions.length === 0) return
  const result = await context.executor.execute(plan)
  expectations.expect(key, result.expectations, context.timers.monotonicMs())
  if (!result.completed && result.error !== undefined) throw result.error
}
