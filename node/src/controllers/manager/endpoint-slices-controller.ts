/**
 * The EndpointSlice controller as the manager runs it (the decisions are ../endpoint-slices.ts's).
 *
 * Wiring, as kube-controller-manager's endpointslice controller does it: a Service is queued when
 * it changes; when one of the slices managed for it changes (someone edited or deleted one: the
 * slice's `kubernetes.io/service-name` label names the Service); when a pod its selector matches
 * (before or after the pod's change) is added, changed or deleted; and when a node's zone label
 * appears or changes, for the services of the pods on that node (endpoints carry the zone). The
 * key is the Service's `namespace/name`.
 *
 * It watches Services and EndpointSlices with informers of its own (the shared informers do not
 * carry them); `informers` lists them so the session starts and stops them with the shared ones.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ResourceRef } from '../../api/server/object-store.ts'
import type { Random } from '../../../../lib/random.ts'
import { SERVICES, podMatchesService, serviceSelectorOf } from '../endpoints.ts'
import { ENDPOINT_SLICES, ZONE_LABEL, reconcileEndpointSlices, serviceKeyOfSlice } from '../endpoint-slices.ts'
import { labelsOf, namespaceOf } from '../object-fields.ts'
import { executeExpecting, expectationsOver, expectationsPending, indexPodsByNamespace, PODS_BY_NAMESPACE, type OwnInformersContext } from './controller-wiring.ts'
import type { Expectations } from './expectations.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import { BY_NODE } from './shared-informers.ts'
import { WorkQueue } from './work-queue.ts'

/** Index of services by namespace (a name of this module's own, so that no other index clashes). */
const SERVICES_BY_NAMESPACE = 'endpointslice-controller/namespace'
/** Index of managed slices by the `namespace/name` of their service. */
const SLICES_BY_SERVICE = 'endpointslice-controller/service'

/** What the controller takes from the session: the own-informers context and names for slices. */
export interface EndpointSliceControllerContext extends OwnInformersContext {
  readonly random: Random
  /** Endpoints per slice (default 100, kube-controller-manager's `--max-endpoints-per-slice`). */
  readonly endpointsPerSliceMax?: number
}

export class EndpointSliceController {
  readonly queue: WorkQueue
  /** The informers this controller owns (start them before its workers, stop them with it). */
  readonly informers: readonly Informer[]
  private readonly services: Informer
  private readonly slices: Informer
  private readonly context: EndpointSliceControllerContext
  private readonly expectations: Expectations

  constructor(context: EndpointSliceControllerContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    const own = (resource: ResourceRef): Informer => new Informer({ objects: context.objects, resource, timers: context.timers, log: context.log })
    this.services = own(SERVICES)
    this.slices = own(ENDPOINT_SLICES)
    this.informers = [this.services, this.slices]
    // Only slices are written. A deleted Service does not end its key (its slices may still have
    // to be deleted), so its expectations are kept.
    this.expectations = expectationsOver([this.slices], context.informers, context.expectationsTimeoutMs)
    this.services.addIndex(SERVICES_BY_NAMESPACE, (service) => [namespaceOf(service)])
    this.slices.addIndex(SLICES_BY_SERVICE, (slice) => {
      const key = serviceKeyOfSlice(slice)
      return key === undefined ? [] : [key]
    })
    indexPodsByNamespace(context.informers.pods)
    this.services.addHandlers({
      onAdd: (service) => this.queue.add(cacheKeyOf(service)),
      onUpdate: (_previous, service) => this.queue.add(cacheKeyOf(service)),
      onDelete: (service) => this.queue.add(cacheKeyOf(service)),
    })
    this.slices.addHandlers({
      onAdd: (slice) => this.sliceChanged(slice),
      onUpdate: (previous, slice) => {
        this.sliceChanged(slice)
        this.sliceChanged(previous)
      },
      onDelete: (slice) => this.sliceChanged(slice),
    })
    context.informers.pods.addHandlers({
      onAdd: (pod) => this.podChanged(pod, undefined),
      onUpdate: (previous, pod) => this.podChanged(pod, previous),
      onDelete: (pod) => this.podChanged(pod, undefined),
    })
    context.informers.nodes.addHandlers({
      onAdd: (node) => this.nodeZoneChanged(node, undefined),
      onUpdate: (previous, node) => this.nodeZoneChanged(node, previous),
    })
  }

  private sliceChanged(slice: JsonObject): void {
    const key = serviceKeyOfSlice(slice)
    if (key !== undefined) this.queue.add(key)
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

  /** A node's zone feeds its pods' endpoints: queue their services when it appears or changes. */
  private nodeZoneChanged(node: JsonObject, previous: JsonObject | undefined): void {
    const zone = labelsOf(node)[ZONE_LABEL]
    if (zone === (previous === undefined ? undefined : labelsOf(previous)[ZONE_LABEL])) return
    const nodeName = cacheKeyOf(node)
    for (const pod of this.context.informers.pods.byIndex(BY_NODE, nodeName)) this.podChanged(pod, undefined)
  }

  /** Reconciles the slices of one service key; throws when a write failed (retried). */
  async sync(key: string): Promise<void> {
    const { timers, informers } = this.context
    if (expectationsPending(this.expectations, this.queue, key, timers.monotonicMs())) return
    const service = this.services.getByKey(key)
    const namespace = key.includes('/') ? key.slice(0, key.indexOf('/')) : ''
    const plan = reconcileEndpointSlices({
      service,
      slices: this.slices.byIndex(SLICES_BY_SERVICE, key),
      pods: service === undefined ? [] : informers.pods.byIndex(PODS_BY_NAMESPACE, namespace),
      zoneOfNode: (nodeName) => {
        const node = informers.nodes.get(undefined, nodeName)
        return node === undefined ? undefined : labelsOf(node)[ZONE_LABEL]
      },
      random: this.context.random,
      ...(this.context.endpointsPerSliceMax !== undefined ? { endpointsPerSliceMax: this.context.endpointsPerSliceMax } : {}),
    })
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}
