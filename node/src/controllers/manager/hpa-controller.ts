/**
 * The HorizontalPodAutoscaler controller as the manager runs it (the decisions are ../hpa.ts's).
 *
 * Every autoscaler is evaluated every HPA_SYNC_PERIOD_MS (15 s, as kube-controller-manager), and
 * at once when it is created or its spec changes (a new generation); its own status writes do not
 * trigger an evaluation. The scale target is read from the store at each evaluation (what a GET
 * of its `/scale` subresource returns: spec.replicas, the selector, status.replicas), the pods
 * from the shared informer, the usage from the PodMetricsSource when the manager has one.
 *
 * The stabilisation and rate-limit history lives here, per autoscaler, as Kubernetes keeps it in
 * the controller's memory: a new leader starts with an empty history.
 */
import { ApiError } from '../../api/machinery/status.ts'
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { EMPTY_HPA_HISTORY, HORIZONTAL_POD_AUTOSCALERS, HPA_SYNC_PERIOD_MS, reconcileHorizontalPodAutoscaler, SCALE_TARGETS, type HpaHistory } from '../hpa.ts'
import type { PodMetricsSource } from '../hpa-metrics.ts'
import { generationOf, namespaceOf, objectAt, specOf, stringAt } from '../object-fields.ts'
import { indexPodsByNamespace, PODS_BY_NAMESPACE, type OwnInformersContext } from './controller-wiring.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import { WorkQueue } from './work-queue.ts'

/**
 * The autoscaler keeps no expectations (it reads its scale target from the store, not from a
 * cache, and runs on its own period), so it has no expectations timeout.
 */
export interface HpaControllerContext extends Omit<OwnInformersContext, 'expectationsTimeoutMs'> {
  /** Pod usage; undefined when the cluster has no metrics pipeline (autoscalers then say so). */
  readonly metrics: PodMetricsSource | undefined
}

interface Evaluated {
  readonly atMs: number
  readonly generation: number
}

export class HorizontalPodAutoscalerController {
  readonly queue: WorkQueue
  /** The informers this controller owns (start them before its workers, stop them with it). */
  readonly informers: readonly Informer[]
  private readonly autoscalers: Informer
  private readonly context: HpaControllerContext
  private readonly histories = new Map<string, HpaHistory>()
  private readonly evaluated = new Map<string, Evaluated>()

  constructor(context: HpaControllerContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    this.autoscalers = new Informer({ objects: context.objects, resource: HORIZONTAL_POD_AUTOSCALERS, timers: context.timers, log: context.log })
    this.informers = [this.autoscalers]
    indexPodsByNamespace(context.informers.pods)
    this.autoscalers.addHandlers({
      onAdd: (autoscaler) => this.queue.add(cacheKeyOf(autoscaler)),
      onUpdate: (previous, autoscaler) => {
        if (generationOf(previous) !== generationOf(autoscaler)) this.queue.add(cacheKeyOf(autoscaler))
      },
      onDelete: (autoscaler) => {
        this.histories.delete(cacheKeyOf(autoscaler))
        this.evaluated.delete(cacheKeyOf(autoscaler))
      },
    })
  }

  /** The scale target of `autoscaler`, read now, or why it cannot be. */
  private async readTarget(autoscaler: JsonObject): Promise<{ target?: JsonObject; error?: string }> {
    const reference = objectAt(specOf(autoscaler)['scaleTargetRef'])
    const kind = stringAt(reference['kind'])
    const name = stringAt(reference['name'])
    const ref = SCALE_TARGETS.get(kind)
    if (ref === undefined) return { error: `the server could not find the requested resource (kind ${kind} has no scale subresource Flotilla can use)` }
    try {
      return { target: await this.context.objects.get(ref, namespaceOf(autoscaler), name) }
    } catch (error) {
      if (error instanceof ApiError) return { error: error.message }
      throw error
    }
  }

  /** Evaluates one autoscaler; throws when a write failed (retried with back-off). */
  async sync(key: string): Promise<void> {
    const { timers, executor, informers } = this.context
    const autoscaler = this.autoscalers.getByKey(key)
    if (autoscaler === undefined) return
    const nowMs = timers.monotonicMs()
    const last = this.evaluated.get(key)
    if (last !== undefined && last.generation === generationOf(autoscaler) && nowMs - last.atMs < HPA_SYNC_PERIOD_MS) {
      // Woken early (a spec change already evaluated it): keep the 15-s rhythm.
      this.queue.addAfter(key, last.atMs + HPA_SYNC_PERIOD_MS - nowMs)
      return
    }
    this.evaluated.set(key, { atMs: nowMs, generation: generationOf(autoscaler) })
    this.queue.addAfter(key, HPA_SYNC_PERIOD_MS)
    const { target, error } = await this.readTarget(autoscaler)
    const result = reconcileHorizontalPodAutoscaler({
      autoscaler,
      target,
      ...(error !== undefined ? { targetError: error } : {}),
      pods: informers.pods.byIndex(PODS_BY_NAMESPACE, namespaceOf(autoscaler)),
      metrics: this.context.metrics,
      history: this.histories.get(key) ?? EMPTY_HPA_HISTORY,
      nowMs: timers.realtimeMs(),
    })
    if (result.plan.actions.length === 0) {
      this.histories.set(key, result.history)
      return
    }
    const outcome = await executor.execute(result.plan)
    if (outcome.completed) this.histories.set(key, result.history)
    else {
      // Evaluate again soon (after the runner's back-off), not in 15 s.
      this.evaluated.delete(key)
      if (outcome.error !== undefined) throw outcome.error
    }
  }
}
