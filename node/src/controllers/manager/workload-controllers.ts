/**
 * The ReplicaSet and Deployment controllers as the manager runs them: informer handlers that
 * queue the objects a change concerns, and a sync per key that feeds the pure reconcile functions
 * (replicaset.ts, deployment.ts) from the caches and executes their plans.
 *
 * Owner wiring, as kube-controller-manager does it:
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
import { Expectations } from './expectations.ts'
import { cacheKeyOf, type Informer } from './informer.ts'
import type { PlanExecutor } from './plan-executor.ts'
import { BY_CONTROLLER, BY_NAMESPACE, ORPHANS_BY_NAMESPACE, type SharedInformers } from './shared-informers.ts'
import type { Timers } from './timers.ts'
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

/** The object `owner` that `object`'s controller reference names, if cached with that uid and kind. */
function controllerOf(object: JsonObject, kind: string, owners: Informer): JsonObject | undefined {
  const reference = controllerRefOf(object)
  if (reference === undefined || reference['kind'] !== kind) return undefined
  const owner = owners.get(stringAt(metadataOf(object)['namespace']), stringAt(reference['name']))
  return owner !== undefined && uidOf(owner) === reference['uid'] ? owner : undefined
}

export class ReplicaSetController {
  readonly queue: WorkQueue
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  constructor(context: WorkloadContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    this.expectations = new Expectations((resource) => context.informers.informerFor(resource), context.expectationsTimeoutMs)
    const { replicaSets, pods } = context.informers
    replicaSets.addHandlers({
      onAdd: (replicaSet) => this.queue.add(cacheKeyOf(replicaSet)),
      onUpdate: (_previous, replicaSet) => this.queue.add(cacheKeyOf(replicaSet)),
      onDelete: (replicaSet) => {
        this.expectations.forget(cacheKeyOf(replicaSet))
        this.queue.add(cacheKeyOf(replicaSet))
      },
    })
    pods.addHandlers({
      onAdd: (pod) => this.podChanged(pod),
      onUpdate: (previous, pod) => {
        this.podChanged(pod)
        if (controllerRefOf(previous)?.['uid'] !== controllerRefOf(pod)?.['uid']) this.podChanged(previous)
      },
      onDelete: (pod) => this.podChanged(pod),
    })
  }

  private podChanged(pod: JsonObject): void {
    const { replicaSets } = this.context.informers
    if (controllerRefOf(pod) === undefined) {
      // An orphan: any ReplicaSet of its namespace might adopt it.
      for (const replicaSet of replicaSets.byIndex(BY_NAMESPACE, stringAt(metadataOf(pod)['namespace']))) this.queue.add(cacheKeyOf(replicaSet))
      return
    }
    const owner = controllerOf(pod, 'ReplicaSet', replicaSets)
    if (owner !== undefined) this.queue.add(cacheKeyOf(owner))
  }

  /** Reconciles one ReplicaSet; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { informers, timers, executor, random } = this.context
    const replicaSet = informers.replicaSets.getByKey(key)
    if (replicaSet === undefined) {
      this.expectations.forget(key)
      return
    }
    if (!this.expectations.satisfied(key, timers.monotonicMs())) {
      this.queue.addAfter(key, this.expectations.remainingMs(key, timers.monotonicMs()))
      return
    }
    const pods = informers.pods.byIndex(BY_CONTROLLER, uidOf(replicaSet))
    const orphanPods = informers.pods.byIndex(ORPHANS_BY_NAMESPACE, stringAt(metadataOf(replicaSet)['namespace']))
    const plan = reconcileReplicaSet(replicaSet, pods, timers.realtimeMs(), random, { orphanPods })
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    if (plan.actions.length === 0) return
    const result = await executor.execute(plan)
    this.expectations.expect(key, result.expectations, timers.monotonicMs())
    if (!result.completed && result.error !== undefined) throw result.error
  }
}

export class DeploymentController {
  readonly queue: WorkQueue
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  constructor(context: WorkloadContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    this.expectations = new Expectations((resource) => context.informers.informerFor(resource), context.expectationsTimeoutMs)
    const { deployments, replicaSets, pods } = context.informers
    deployments.addHandlers({
      onAdd: (deployment) => this.queue.add(cacheKeyOf(deployment)),
      onUpdate: (_previous, deployment) => this.queue.add(cacheKeyOf(deployment)),
      onDelete: (deployment) => {
        this.expectations.forget(cacheKeyOf(deployment))
        this.queue.add(cacheKeyOf(deployment))
      },
    })
    replicaSets.addHandlers({
      onAdd: (replicaSet) => this.replicaSetChanged(replicaSet),
      onUpdate: (previous, replicaSet) => {
        this.replicaSetChanged(replicaSet)
        if (controllerRefOf(previous)?.['uid'] !== controllerRefOf(replicaSet)?.['uid']) this.replicaSetChanged(previous)
      },
      onDelete: (replicaSet) => this.replicaSetChanged(replicaSet),
    })
    pods.addHandlers({
      onAdd: (pod) => this.podChanged(pod),
      onUpdate: (_previous, pod) => this.podChanged(pod),
      onDelete: (pod) => this.podChanged(pod),
    })
  }

  private replicaSetChanged(replicaSet: JsonObject): void {
    const owner = controllerOf(replicaSet, 'Deployment', this.context.informers.deployments)
    if (owner !== undefined) this.queue.add(cacheKeyOf(owner))
  }

  private podChanged(pod: JsonObject): void {
    const replicaSet = controllerOf(pod, 'ReplicaSet', this.context.informers.replicaSets)
    if (replicaSet !== undefined) this.replicaSetChanged(replicaSet)
  }

  /** Reconciles one Deployment; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { informers, timers, executor } = this.context
    const deployment = informers.deployments.getByKey(key)
    if (deployment === undefined) {
      this.expectations.forget(key)
      return
    }
    if (!this.expectations.satisfied(key, timers.monotonicMs())) {
      this.queue.addAfter(key, this.expectations.remainingMs(key, timers.monotonicMs()))
      return
    }
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
    if (plan.actions.length === 0) return
    const result = await executor.execute(plan)
    this.expectations.expect(key, result.expectations, timers.monotonicMs())
    if (!result.completed && result.error !== undefined) throw result.error
  }
}

