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
import type { ResourceRef } from '../../api/server/object-store.ts'
import { ENDPOINTS, SERVICES, podMatchesService, reconcileEndpoints, serviceSelectorOf } from '../endpoints.ts'
import { namespaceOf } from '../object-fields.ts'
import { executeExpecting, expectationsOver, expectationsPending, indexPodsByNamespace, PODS_BY_NAMESPACE, queueOwnObjects, type OwnInformersContext } from './controller-wiring.ts'
import type { Expectations } from './expectations.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import { WorkQueue } from './work-queue.ts'

/** Index of services by namespace (a name of this module's own, so that no other index clashes). */
const SERVICES_BY_NAMESPACE = 'endpoints-controller/namespace'

export class EndpointsController {
  readonly queue: WorkQueue
  /** The informers this controller owns (start them before its workers, stop them with it). */
  readonly informers: readonly Informer[]
  private readonly services: Informer
  private readonly endpoints: Informer
  private readonly context: OwnInformersContext
  private readonly expectations: Expectations

  constructor(context: OwnInformersContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    const own = (resource: ResourceRef): Informer => new Informer({ objects: context.objects, resource, timers: context.timers, log: context.log })
    this.services = own(SERVICES)
    this.endpoints = own(ENDPOINTS)
    this.informers = [this.services, this.endpoints]
    // Only Endpoints are written. A deleted Service does not end its key (its Endpoints may still
    // have to be deleted), so its expectations are kept, and neither informer forgets them.
    this.expectations = expectationsOver([this.endpoints], context.informers, context.expectationsTimeoutMs)
    this.services.addIndex(SERVICES_BY_NAMESPACE, (service) => [namespaceOf(service)])
    indexPodsByNamespace(context.informers.pods)
    queueOwnObjects(this.services, this.queue)
    queueOwnObjects(this.endpoints, this.queue)
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
    const { timers, informers } = this.context
    if (expectationsPending(this.expectations, this.queue, key, timers.monotonicMs())) return
    const service = this.services.getByKey(key)
    const endpoints = this.endpoints.getByKey(key)
    const namespace = key.includes('/') ? key.slice(0, key.indexOf('/')) : ''
    const pods = service === undefined ? [] : informers.pods.byIndex(PODS_BY_NAMESPACE, namespace)
    const plan = reconcileEndpoints(service, endpoints, pods)
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}
