/**
 * The DaemonSet controller as the manager runs it: its own informers for DaemonSets and
 * ControllerRevisions (pods and nodes come from the shared informers), handlers that queue the
 * DaemonSet a change concerns — every DaemonSet when a node comes, goes or changes, since any of
 * them may now (not) belong there — and a sync per key that feeds reconcileDaemonSet from the
 * caches and executes its plan, with expectations (wiring: controller-wiring.ts).
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ObjectStore, ResourceRef } from '../../api/server/object-store.ts'
import { DAEMON_SETS, reconcileDaemonSet } from '../daemonset.ts'
import { equalIgnoringNullFields, labelsOf, specOf, uidOf } from '../object-fields.ts'
import { CONTROLLER_REVISIONS } from '../statefulset-revisions.ts'
import { controllerUidOf, executeExpecting, expectationsOver, objectToSync, queueControllerOnDependentChange, queueOwnObjects } from './controller-wiring.ts'
import type { Expectations } from './expectations.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import { BY_CONTROLLER } from './shared-informers.ts'
import type { WorkloadContext } from './workload-controllers.ts'
import { WorkQueue } from './work-queue.ts'

/** True when a node change can change which DaemonSets belong on it (labels, taints, deletion). */
function nodeEligibilityChanged(previous: JsonObject, node: JsonObject): boolean {
  return !equalIgnoringNullFields(labelsOf(previous), labelsOf(node)) || !equalIgnoringNullFields(specOf(previous)['taints'], specOf(node)['taints'])
}

export class DaemonSetController {
  readonly queue: WorkQueue
  readonly daemonSets: Informer
  readonly revisions: Informer
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  constructor(context: WorkloadContext, objects: ObjectStore, log: (line: string) => void) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    const informer = (resource: ResourceRef): Informer => new Informer({ objects, timers: context.timers, log, resource })
    this.daemonSets = informer(DAEMON_SETS)
    this.revisions = informer(CONTROLLER_REVISIONS)
    this.revisions.addIndex(BY_CONTROLLER, controllerUidOf)
    this.expectations = expectationsOver([this.daemonSets, this.revisions], context.informers, context.expectationsTimeoutMs)
    queueOwnObjects(this.daemonSets, this.queue, this.expectations)
    for (const dependents of [context.informers.pods, this.revisions]) queueControllerOnDependentChange(dependents, DAEMON_SETS.kind, this.daemonSets, this.queue)
    const everyDaemonSet = (): void => {
      for (const daemonSet of this.daemonSets.list()) this.queue.add(cacheKeyOf(daemonSet))
    }
    context.informers.nodes.addHandlers({
      onAdd: everyDaemonSet,
      onUpdate: (previous, node) => {
        if (nodeEligibilityChanged(previous, node)) everyDaemonSet()
      },
      onDelete: everyDaemonSet,
    })
  }

  /** Lists and watches the controller's own resources. */
  async start(): Promise<void> {
    await Promise.all([this.daemonSets.start(), this.revisions.start()])
  }

  stop(): void {
    for (const informer of [this.daemonSets, this.revisions]) informer.stop()
  }

  /** Reconciles one DaemonSet; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { informers, timers, random } = this.context
    const daemonSet = objectToSync(this.daemonSets, key, this.expectations, this.queue, timers.monotonicMs())
    if (daemonSet === undefined) return
    const observed = { nodes: informers.nodes.list(), pods: informers.pods.byIndex(BY_CONTROLLER, uidOf(daemonSet)), revisions: this.revisions.byIndex(BY_CONTROLLER, uidOf(daemonSet)) }
    const plan = reconcileDaemonSet(daemonSet, observed, timers.realtimeMs(), random)
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}
