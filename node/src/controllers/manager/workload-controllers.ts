/**
 * The ReplicaSet and Deployment controllers as the manager runs them: informer handlers that
 * queue the objects a change concerns, and a sync per key that feeds the pure reconcile functions
 * (replicaset.ts, deployment.ts) from the caches and executes their plans.
 *
 * Owner wiring (built from controller-wiring.ts), as kube-controller-manager does it:
 * - a ReplicaSet is queued when it changes, and when one of its pods changes (the pod's
 *   controller reference names it); an orphan pod queues every ReplicaSet of its namespace, one
 *   of which may adopt it;
 * - a Deployment is queued when it changes, when one of its ReplicaSets changes, and when a pod of
 *   one of its ReplicaSets changes (pod → controlling ReplicaSet → controlling Deployment), since
 *   the Deployment counts available pods itself.
 *
 * Each sync first checks its expectations: until the writes of the previous plan for the object
 * are visible in the caches, the object is not reconciled again (the informer event that makes
 * them visible queues it).
 */
import type { Random } from '../../../../lib/random.ts'
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { reconcileDeployment } from '../deployment.ts'
import { controllerRefOf, metadataOf, nameOf, stringAt, uidOf } from '../object-fields.ts'
import { reconcileReplicaSet } from '../replicaset.ts'
import { controllerKeyOf, controllerOf, executeExpecting, expectationsOver, objectToSync, onDependentChange, queueControllerOnDependentChange, queueOwnObjects } from './controller-wiring.ts'
import type { Expectations } from './expectations.ts'
import { cacheKeyOf } from './informer.ts'
import type { PlanExecutor } from './plan-executor.ts'
import { BY_CONTROLLER, BY_NAMESPACE, ORPHANS_BY_NAMESPACE, type SharedInformers } from './shared-informers.ts'
import type { Timers } from '../../../../lib/timers.ts'
import { WorkQueue } from './work-queue.ts'

/** What the workload controllers share. */
export interface WorkloadContext {
  readonly informers: SharedInformers
  readonly executor: PlanExecutor
  readonly timers: Timers
  /** Names new pods; seeded in simulations. */
  readonly random: Random
  /** How long a controller waits to see its own writes before reconciling anyway. */
  readonly expectationsTimeoutMs: number
}

export class ReplicaSetController {
  readonly queue: WorkQueue
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  constructor(context: WorkloadContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    this.expectations = expectationsOver([], context.informers, context.expectationsTimeoutMs)
    queueOwnObjects(context.informers.replicaSets, this.queue, this.expectations)
    onDependentChange(context.informers.pods, (pod) => this.podChanged(pod))
  }

  /** Queues the ReplicaSet that controls `pod`, or, for an orphan, every one that might adopt it. */
  private podChanged(pod: JsonObject): void {
    const { replicaSets } = this.context.informers
    if (controllerRefOf(pod) === undefined) {
      // An orphan: any ReplicaSet of its namespace might adopt it.
      for (const replicaSet of replicaSets.byIndex(BY_NAMESPACE, stringAt(metadataOf(pod)['namespace']))) this.queue.add(cacheKeyOf(replicaSet))
      return
    }
    const key = controllerKeyOf(pod, 'ReplicaSet', replicaSets)
    if (key !== undefined) this.queue.add(key)
  }

  /** Reconciles one ReplicaSet; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { informers, timers, random } = this.context
    const replicaSet = objectToSync(informers.replicaSets, key, this.expectations, this.queue, timers.monotonicMs())
    if (replicaSet === undefined) return
    const pods = informers.pods.byIndex(BY_CONTROLLER, uidOf(replicaSet))
    const orphanPods = informers.pods.byIndex(ORPHANS_BY_NAMESPACE, stringAt(metadataOf(replicaSet)['namespace']))
    const plan = reconcileReplicaSet(replicaSet, pods, timers.realtimeMs(), random, { orphanPods })
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}

export class DeploymentController {
  readonly queue: WorkQueue
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  constructor(context: WorkloadContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    this.expectations = expectationsOver([], context.informers, context.expectationsTimeoutMs)
    const { deployments, replicaSets, pods } = context.informers
    queueOwnObjects(deployments, this.queue, this.expectations)
    queueControllerOnDependentChange(replicaSets, 'Deployment', deployments, this.queue)
    pods.addHandlers({
      onAdd: (pod) => this.podChanged(pod),
      onUpdate: (_previous, pod) => this.podChanged(pod),
      onDelete: (pod) => this.podChanged(pod),
    })
  }

  /** Queues the Deployment that controls the ReplicaSet that controls `pod`. */
  private podChanged(pod: JsonObject): void {
    const replicaSet = controllerOf(pod, 'ReplicaSet', this.context.informers.replicaSets)
    const key = replicaSet === undefined ? undefined : controllerKeyOf(replicaSet, 'Deployment', this.context.informers.deployments)
    if (key !== undefined) this.queue.add(key)
  }

  /** Reconciles one Deployment; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { informers, timers } = this.context
    const deployment = objectToSync(informers.deployments, key, this.expectations, this.queue, timers.monotonicMs())
    if (deployment === undefined) return
    const namespace = stringAt(metadataOf(deployment)['namespace'])
    const uid = uidOf(deployment)
    const controlled = informers.replicaSets.byIndex(BY_CONTROLLER, uid)
    const podsByReplicaSet = new Map<string, JsonObject[]>()
    for (const replicaSet of controlled) podsByReplicaSet.set(uidOf(replicaSet), informers.pods.byIndex(BY_CONTROLLER, uidOf(replicaSet)))
    const foreignReplicaSetNames = new Set(
      informers.replicaSets
        .byIndex(BY_NAMESPACE, namespace)
        .filter((replicaSet) => controllerRefOf(replicaSet)?.['uid'] !== uid)
        .map(nameOf),
    )
    const plan = reconcileDeployment(deployment, controlled, podsByReplicaSet, timers.realtimeMs(), { foreignReplicaSetNames })
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}

