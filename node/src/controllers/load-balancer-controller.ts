/**
 * The LoadBalancer address controller as the manager runs it on the leader (the decisions are
 * load-balancer.ts's): one pass over every Service allocates and releases pool addresses.
 *
 * Wiring: it watches Services and ConfigMaps with informers of its own. A pass is queued (one key,
 * so passes never overlap) when a Service is added, deleted, or changes its type, class,
 * loadBalancerIP or status, and when the pool ConfigMap changes. A pass waits until the Services
 * it wrote last time are in its cache (expectations): allocation derives "in use" from the cached
 * statuses, and a cache one write behind could hand the same address out twice.
 *
 * The warnings already reported (one per Service and cause) live here, in memory, as Kubernetes
 * controllers keep their event state: a new leader reports each pending Service once more.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import type { ResourceRef } from '../api/server/object-store.ts'
import { SERVICES } from './endpoints.ts'
import { isPoolConfigMap, reconcileLoadBalancers } from './load-balancer.ts'
import { specOf, statusOf, uidOf } from './object-fields.ts'
import { executeExpecting, expectationsOver, expectationsPending, type OwnInformersContext } from './manager/controller-wiring.ts'
import type { Expectations } from './manager/expectations.ts'
import { Informer } from './manager/informer.ts'
import { WorkQueue } from './manager/work-queue.ts'

export const CONFIG_MAPS: ResourceRef = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }

/** The single queue key: every pass looks at all Services. */
const PASS_KEY = 'load-balancers'

/** The fields of a Service a pass reads; other changes (labels, ports, selector) queue nothing. */
function allocationView(service: JsonObject): string {
  const spec = specOf(service)
  return JSON.stringify([spec['type'], spec['loadBalancerClass'], spec['loadBalancerIP'], statusOf(service)['loadBalancer']])
}

export class LoadBalancerController {
  readonly queue: WorkQueue
  /** The informers this controller owns (start them before its workers, stop them with it). */
  readonly informers: readonly Informer[]
  private readonly services: Informer
  private readonly configMaps: Informer
  private readonly context: OwnInformersContext
  private readonly expectations: Expectations
  private reported: ReadonlyMap<string, string> = new Map()

  constructor(context: OwnInformersContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    const own = (resource: ResourceRef): Informer => new Informer({ objects: context.objects, resource, timers: context.timers, log: context.log })
    this.services = own(SERVICES)
    this.configMaps = own(CONFIG_MAPS)
    this.informers = [this.services, this.configMaps]
    this.expectations = expectationsOver([this.services], context.informers, context.expectationsTimeoutMs)
    const pass = (): void => this.queue.add(PASS_KEY)
    this.services.addHandlers({
      onAdd: pass,
      onUpdate: (previous, service) => {
        if (allocationView(previous) !== allocationView(service)) pass()
      },
      onDelete: pass,
    })
    const poolChanged = (configMap: JsonObject): void => {
      if (isPoolConfigMap(configMap)) pass()
    }
    this.configMaps.addHandlers({ onAdd: poolChanged, onUpdate: (_previous, configMap) => poolChanged(configMap), onDelete: poolChanged })
  }

  /** One pass over all Services; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { timers } = this.context
    if (expectationsPending(this.expectations, this.queue, key, timers.monotonicMs())) return
    const services = this.services.list()
    const result = reconcileLoadBalancers({
      services,
      poolConfigMap: this.configMaps.list().find(isPoolConfigMap),
      reported: this.reported,
      nowMs: timers.realtimeMs(),
    })
    await executeExpecting(this.context, this.expectations, key, result.plan)
    // Only after the plan ran: a failed plan reports its warnings again on the retry.
    const alive = new Set(services.map(uidOf))
    this.reported = new Map([...result.reported].filter(([uid]) => alive.has(uid)))
  }
}
