/**
 * The Endpoints controller as the manager runs it (the decisions are ../endpoints.ts's).
 *
 * Wiring, as kube-controller-manager's endpoints controller does it: a Service is queued when it
 * changes, when its Endpoints change (someone edited or deleted them), and when a pod its
 * selector matches (before or after the pod's change) is added, changed or deleted. The key is
 * the Service's `namespace/name`, which is also its Endpoints' key.
 *
 * It watches Services and Endpoints with informers of its own (the shared informers do not carry
 * them); `informers` lists them so the session starts and stops them with the shared ones.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ObjectStore, ResourceRef } from '../../api/server/object-store.ts'
import { ENDPOINTS, SERVICES, podMatchesService, reconcileEndpoints, serviceSelectorOf } from '../endpoints.ts'
import { namespaceOf } from '../object-fields.ts'
import { Expectations } from './expectations.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import type { PlanExecutor } from './plan-executor.ts'
import type { SharedInformers } from './shared-informers.ts'
import type { Timers } from './timers.ts'
import { WorkQueue } from './work-queue.ts'

/** Index of services and pods by namespace (names of this module, so no shared index clashes). */
const SERVICES_BY_NAMESPACE = 'endpoints-controller/namespace'
/** Index of the shared pod informer by namespace, used by the Endpoints, quota and HPA controllers. */
export const PODS_BY_NAMESPACE = 'pods-by-namespace'

/** Adds PODS_BY_NAMESPACE to the pod informer (idempotent; before it starts). */
export function indexPodsByNamespace(pods: Informer): void {
  pods.addIndex(PODS_BY_NAMESPACE, (pod) => [namespaceOf(pod)])
}

export interface EndpointsControllerContext {
  readonly informers: SharedInformers
  readonly executor: PlanExecutor
  readonly timers: Timers
  /** The manager's (fenced) store, for this controller's own informers. */
  readonly objects: ObjectStore
  readonly log: (line: string) => void
  readonly expectationsTimeoutMs: number
}

export class EndpointsController {
  readonly queue: WorkQueue
  /** The informers this controller owns (start them before its workers, stop them with it). */
  readonly informers: readonly Informer[]
  private readonly services: Informer
  private readonly endpoints: Informer
  private readonly context: EndpointsControllerContext
  private readonly expectations: Expectations

  constructor(context: EndpointsControllerContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    const own = (resource: ResourceRef): Informer => new Informer({ objects: context.objects, resource, timers: context.timers, log: context.log })
    this.services = own(SERVICES)
    this.endpoints = own(ENDPOINTS)
    this.informers = [this.services, this.endpoints]
    this.expectations = new Expectations(
      (resource) => (resource.group === '' && resource.resource === ENDPOINTS.resource ? this.endpoints : context.informers.informerFor(resource)),
      context.expectationsTimeoutMs,
    )
    this.services.addIndex(SERVICES_BY_NAMESPACE, (service) => [namespaceOf(service)])
    indexPodsByNamespace(context.informers.pods)
    this.services.addHandlers({
      onAdd: (service) => this.queue.add(cacheKeyOf(service)),
      onUpdate: (_previous, service) => this.queue.add(cacheKeyOf(service)),
      onDelete: (service) => this.queue.add(cacheKeyOf(service)),
    })
    this.endpoints.addHandlers({
      onAdd: (endpoints) => this.queue.add(cacheKeyOf(endpoints)),
      onUpdate: (_previous, endpoints) => this.queue.add(cacheKeyOf(endpoints)),
      onDelete: (endpoints) => this.queue.add(cacheKeyOf(endpoints)),
    })
    context.informers.pods.addHandlers({
      onAdd: (pod) => this.podChanged(pod, undefined),
      onUpdate: (previous, pod) => this.podChanged(pod, previous),
      onDelete: (pod) => this.podChanged(pod, undefined),
    })
  }

  /** Queues the services that select the pod now or selected it before. */
  private podChanged(pod: JsonObject, previous: JsonObject | undefined): void {
    for (const service of this.services.byIndex(SERVICES_BY_NAMESPACE, namespaceOf(pod))) {
      const selector = serviceSelectorOf(service)
      if (selector === undefined) continue
      const matchesNow = podMatchesService(pod, selector)
      const matchedBefore = previous !== undefined && podMatchesService(previous, selector)
      if (matchesNow || matchedBefore) this.queue.add(cacheKeyOf(service))
    }
  }

  /** Reconciles the Endpoints of one service key; throws when a write failed (retried). */
  async sync(key: string): Promise<void> {
    const { timers, executor, informers } = this.context
    if (!this.expectations.satisfied(key, timers.monotonicMs())) {
      this.queue.addAfter(key, this.expectations.remainingMs(key, timers.monotonicMs()))
      return
    }
    const service = this.services.getByKey(key)
    const endpoints = this.endpoints.getByKey(key)
    const namespace = key.includes('/') ? key.slice(0, key.indexOf('/')) : ''
    const pods = service === undefined ? [] : informers.pods.byIndex(PODS_BY_NAMESPACE, namespace)
    const plan = reconcileEndpoints(service, endpoints, pods)
    if (plan.actions.length === 0) return
    const result = await executor.execute(plan)
    this.expectations.expect(key, result.expectations, timers.monotonicMs())
    if (!result.completed && result.error !== undefined) throw result.error
  }
}
