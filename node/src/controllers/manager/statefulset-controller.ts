/**
 * The StatefulSet controller as the manager runs it: its own informers for StatefulSets,
 * ControllerRevisions and PersistentVolumeClaims (pods come from the shared informers), handlers
 * that queue the set a change concerns, and a sync per key that feeds reconcileStatefulSet from
 * the caches and executes its plan, with expectations (wiring: controller-wiring.ts).
 *
 * The session starts the informers (`start`) before the runner and stops them with the session.
 */
import type { ObjectStore, ResourceRef } from '../../api/server/object-store.ts'
import { metadataOf, nameOf, stringAt, uidOf } from '../object-fields.ts'
import { reconcileStatefulSet, PERSISTENT_VOLUME_CLAIMS, STATEFUL_SETS } from '../statefulset.ts'
import { CONTROLLER_REVISIONS } from '../statefulset-revisions.ts'
import { controllerUidOf, executeExpecting, expectationsOver, objectToSync, queueControllerOnDependentChange, queueOwnObjects } from './controller-wiring.ts'
import type { Expectations } from './expectations.ts'
import { Informer } from './informer.ts'
import { BY_CONTROLLER, BY_NAMESPACE } from './shared-informers.ts'
import type { WorkloadContext } from './workload-controllers.ts'
import { WorkQueue } from './work-queue.ts'

export class StatefulSetController {
  readonly queue: WorkQueue
  readonly statefulSets: Informer
  readonly revisions: Informer
  readonly claims: Informer
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  constructor(context: WorkloadContext, objects: ObjectStore, log: (line: string) => void) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    const informer = (resource: ResourceRef): Informer => new Informer({ objects, timers: context.timers, log, resource })
    this.statefulSets = informer(STATEFUL_SETS)
    this.revisions = informer(CONTROLLER_REVISIONS)
    this.claims = informer(PERSISTENT_VOLUME_CLAIMS)
    this.revisions.addIndex(BY_CONTROLLER, controllerUidOf)
    this.claims.addIndex(BY_NAMESPACE, (claim) => [stringAt(metadataOf(claim)['namespace'])])
    this.expectations = expectationsOver([this.statefulSets, this.revisions, this.claims], context.informers, context.expectationsTimeoutMs)
    queueOwnObjects(this.statefulSets, this.queue, this.expectations)
    for (const dependents of [context.informers.pods, this.revisions]) queueControllerOnDependentChange(dependents, STATEFUL_SETS.kind, this.statefulSets, this.queue)
  }

  /** Lists and watches the controller's own resources. */
  async start(): Promise<void> {
    await Promise.all([this.statefulSets.start(), this.revisions.start(), this.claims.start()])
  }

  stop(): void {
    for (const informer of [this.statefulSets, this.revisions, this.claims]) informer.stop()
  }

  /** Reconciles one StatefulSet; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { informers, timers } = this.context
    const set = objectToSync(this.statefulSets, key, this.expectations, this.queue, timers.monotonicMs())
    if (set === undefined) return
    const namespace = stringAt(metadataOf(set)['namespace'])
    const claimNames = new Set(this.claims.byIndex(BY_NAMESPACE, namespace).map(nameOf))
    const plan = reconcileStatefulSet(
      set,
      { pods: informers.pods.byIndex(BY_CONTROLLER, uidOf(set)), revisions: this.revisions.byIndex(BY_CONTROLLER, uidOf(set)), claimNames },
      timers.realtimeMs(),
    )
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}
