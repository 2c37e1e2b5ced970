/**
 * The plan vocabulary every controller speaks. A controller is a pure function from observed
 * objects (and the time, and a seeded Random where it names things) to a Plan: the writes that
 * move the world toward the desired state, plus when to look again. Executing a plan is the job of
 * the controller manager on the Raft leader, which fences each write with its leader term so that
 * a deposed leader's plans cannot land.
 *
 * Five actions, deliberately few so that every controller (ReplicaSet, Deployment, and later
 * StatefulSet, DaemonSet, Job, the garbage collector) shares one executor:
 *
 *   create        POST an object (the controller chose its name)
 *   update        PUT an object; `metadata.resourceVersion` in it is the precondition
 *   updateStatus  PUT the status subresource; same precondition rule
 *   delete        DELETE an object with a uid precondition (never someone's namesake)
 *   event         record a core/v1 Event (best effort)
 *
 * Execution contract (what the executor must do, and what controllers may rely on):
 * - Actions run in order. The first failed write (conflict, not found, already exists, ...)
 *   aborts the rest of the plan, and the object is reconciled again from fresh observations.
 *   Controllers place each event right after the write it reports, so an event is never recorded
 *   for a write that did not happen.
 * - Event failures are logged and skipped: an event is a report, not state.
 * - Chained writes: when an action targets an object that an earlier action of the same plan
 *   wrote, the executor applies it against the resourceVersion that earlier write returned. The
 *   first write's precondition guards the whole chain; this is how a controller updates an
 *   object's metadata and then its status in one plan.
 * - Expectations: the controller must not be run for the same object again until the writes of
 *   its previous plan are visible in its inputs (client-go calls this "expectations"). Otherwise a
 *   ReplicaSet would create its missing pods twice.
 * - `requeueAfterMs` asks for another reconcile after that long even if nothing changes (time-based
 *   work: minReadySeconds, progress deadlines); absent means "only when something changes".
 *
 * Plans are idempotent in intent: reconciling the same observations again yields the same writes
 * (up to generated names), and a world in its desired state yields no writes at all.
 */
import { assert } from '../../../lib/assert.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import type { ResourceRef } from '../api/server/object-store.ts'

export type { ResourceRef }

/** Pods: core/v1. */
export const PODS: ResourceRef = { group: '', resource: 'pods', kind: 'Pod', apiVersion: 'v1', namespaced: true }
/** ReplicaSets: apps/v1. */
export const REPLICA_SETS: ResourceRef = { group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', apiVersion: 'apps/v1', namespaced: true }
/** Deployments: apps/v1. */
export const DEPLOYMENTS: ResourceRef = { group: 'apps', resource: 'deployments', kind: 'Deployment', apiVersion: 'apps/v1', namespaced: true }
/** Events: core/v1 (kubectl describe and get events read this group, not events.k8s.io). */
export const EVENTS: ResourceRef = { group: '', resource: 'events', kind: 'Event', apiVersion: 'v1', namespaced: true }

/** Create `object` (its `metadata.name` is set) in `namespace`. */
export interface CreateAction {
  readonly type: 'create'
  readonly resource: ResourceRef
  readonly namespace: string
  readonly object: JsonObject
}

/** Replace the object; `object.metadata.resourceVersion` is the precondition (see chained writes). */
export interface UpdateAction {
  readonly type: 'update'
  readonly resource: ResourceRef
  readonly namespace: string
  readonly name: string
  readonly object: JsonObject
}

/** Replace the object's status through the status subresource; same precondition rule. */
export interface UpdateStatusAction {
  readonly type: 'updateStatus'
  readonly resource: ResourceRef
  readonly namespace: string
  readonly name: string
  readonly object: JsonObject
}

/** Delete the object if its uid is still `uid` (a recreated namesake is left alone). */
export interface DeleteAction {
  readonly type: 'delete'
  readonly resource: ResourceRef
  readonly namespace: string
  readonly name: string
  readonly uid: string
}

/** Record a core/v1 Event object (built by events.ts). */
export interface EventAction {
  readonly type: 'event'
  readonly event: JsonObject
}

export type Action = CreateAction | UpdateAction | UpdateStatusAction | DeleteAction | EventAction

/** What a reconcile decided: writes in order, and an optional wake-up. */
export interface Plan {
  readonly actions: readonly Action[]
  /** Reconcile again after this many milliseconds even without changes; absent: only on change. */
  readonly requeueAfterMs?: number
}

/**
 * Accumulates a plan. Controllers add writes in execution order and offer wake-up times; the
 * earliest offered wake-up wins.
 */
export class PlanBuilder {
  private readonly actions: Action[] = []
  private requeueAfterMs: number | undefined

  add(action: Action): this {
    this.actions.push(action)
    return this
  }

  /** Offers a wake-up `delayMs` from now (clamped at 0); the plan keeps the earliest. */
  requeueAfter(delayMs: number): this {
    assert(Number.isFinite(delayMs), `requeue delay must be finite, got ${delayMs}`)
    const clamped = Math.max(0, Math.ceil(delayMs))
    if (this.requeueAfterMs === undefined || clamped < this.requeueAfterMs) this.requeueAfterMs = clamped
    return this
  }

  /** How many actions so far (events included). */
  get size(): number {
    return this.actions.length
  }

  build(): Plan {
    return this.requeueAfterMs === undefined ? { actions: [...this.actions] } : { actions: [...this.actions], requeueAfterMs: this.requeueAfterMs }
  }
}

/** The writes of a plan (everything but events): empty means the world is as desired. */
export function planWrites(plan: Plan): Action[] {
  return plan.actions.filter((action) => action.type !== 'event')
}
