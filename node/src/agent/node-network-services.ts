/**
 * The per-node network services of issue 7 that follow the cluster's objects: the nftables
 * service proxy (Services + EndpointSlices → one `nft -j` batch per change), the NetworkPolicy
 * enforcer (NetworkPolicies + Pods + Namespaces → one batch for this node's pods) and the cluster
 * DNS server (Services, EndpointSlices, Pods → records). All three read this node's own informers
 * over the replicated store, so each node keeps serving from what it last saw even while the
 * cluster has no Raft quorum.
 *
 * Only daemons that own their machine's (or emulated host's) network run these: they write the
 * node's nftables and listen on the node's pod gateway address. Test clusters that share one
 * machine do not.
 */
import { ClusterRecords } from '../../../network/src/dns/cluster-records.ts'
import { DnsServer } from '../../../network/src/dns/dns-server.ts'
import { nftPolicyTarget, PolicyEnforcer } from '../../../network/src/network-policy/policy-enforcer.ts'
import { ServiceProxy, nftTarget } from '../../../network/src/service-proxy/service-proxy.ts'
import type { EndpointGossipService } from '../../../network/src/endpoint-gossip/endpoint-gossip-service.ts'
import type { Timers } from '../../../lib/timers.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import type { ObjectStore, ResourceRef } from '../api/server/object-store.ts'
import { Informer } from '../controllers/manager/informer.ts'
import { nameOf, namespaceOf } from '../controllers/object-fields.ts'
import { PODS } from '../controllers/plan.ts'

const SERVICES: ResourceRef = { group: '', resource: 'services', kind: 'Service', apiVersion: 'v1', namespaced: true }
const ENDPOINT_SLICES: ResourceRef = { group: 'discovery.k8s.io', resource: 'endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', namespaced: true }
const NETWORK_POLICIES: ResourceRef = { group: 'networking.k8s.io', resource: 'networkpolicies', kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', namespaced: true }
const NAMESPACES: ResourceRef = { group: '', resource: 'namespaces', kind: 'Namespace', apiVersion: 'v1', namespaced: false }

/** How long DNS waits after a change before rebuilding its records, so a burst costs one rebuild. */
const DNS_REBUILD_DELAY_MS = 50

export interface NodeNetworkServicesOptions {
  readonly nodeName: string
  /** The addresses NodePorts answer on (the node's underlay address). */
  readonly nodeIps: readonly string[]
  readonly objects: ObjectStore
  readonly timers: Timers
  readonly log: (line: string) => void
  /** Where DNS listens (the pod gateway address pods are given as their nameserver); none: no DNS. */
  readonly dnsAddress?: { readonly host: string; readonly port: number }
  readonly clusterDomain?: string
  /** Endpoint readiness from gossip (endpoint-gossip-service.ts): slices pass through its `adjust`. */
  readonly endpointGossip?: EndpointGossipService
}

export class NodeNetworkServices {
  private readonly options: NodeNetworkServicesOptions
  private readonly services: Informer
  private readonly slices: Informer
  private readonly pods: Informer
  private readonly policies: Informer
  private readonly namespaces: Informer
  private readonly proxy: ServiceProxy
  private readonly enforcer: PolicyEnforcer
  private dns: DnsServer | undefined
  private rebuildPending = false
  private started = false
  private unsubscribeGossip: (() => void) | undefined
  private stopped = false

  constructor(options: NodeNetworkServicesOptions) {
    this.options = options
    const { objects, timers, log } = options
    this.services = new Informer({ objects, resource: SERVICES, timers, log })
    this.slices = new Informer({ objects, resource: ENDPOINT_SLICES, timers, log })
    this.pods = new Informer({ objects, resource: PODS, timers, log })
    this.policies = new Informer({ objects, resource: NETWORK_POLICIES, timers, log })
    this.namespaces = new Informer({ objects, resource: NAMESPACES, timers, log })
    this.proxy = new ServiceProxy({
      node: { name: options.nodeName, nodeIps: options.nodeIps },
      timers,
      target: nftTarget(),
      onSync: (report) => {
        if (report.error !== undefined) log(`service proxy: sync failed: ${String(report.error)}`)
      },
    })
    this.enforcer = new PolicyEnforcer({
      nodeName: options.nodeName,
      timers,
      target: nftPolicyTarget(),
      onSync: (report) => {
        if (report.error !== undefined) log(`network policy: sync failed: ${String(report.error)}`)
      },
    })
    const proxyHandlers = (upsert: (object: JsonObject) => void, remove: (namespace: string, name: string) => void) => ({
      onAdd: (object: JsonObject) => upsert(object),
      onUpdate: (_previous: JsonObject, object: JsonObject) => upsert(object),
      onDelete: (object: JsonObject) => remove(namespaceOf(object), nameOf(object)),
    })
    this.services.addHandlers(proxyHandlers((object) => this.proxy.upsertService(object), (namespace, name) => this.proxy.removeService(namespace, name)))
    this.slices.addHandlers(proxyHandlers((object) => this.proxy.upsertEndpointSlice(this.adjusted(object)), (namespace, name) => this.proxy.removeEndpointSlice(namespace, name)))
    // Gossip said something new about the nodes' pods: feed the proxy (and DNS) the slices again.
    this.unsubscribeGossip = options.endpointGossip?.onChange(() => {
      if (!this.started || this.stopped) return
      this.proxy.setEndpointSlices(this.adjustedSlices())
      this.scheduleDnsRebuild()
    })
    this.policies.addHandlers(proxyHandlers((object) => this.enforcer.upsertPolicy(object), (namespace, name) => this.enforcer.removePolicy(namespace, name)))
    this.pods.addHandlers(proxyHandlers((object) => this.enforcer.upsertPod(object), (namespace, name) => this.enforcer.removePod(namespace, name)))
    this.namespaces.addHandlers(proxyHandlers((object) => this.enforcer.upsertNamespace(object), (_namespace, name) => this.enforcer.removeNamespace(name)))
    const changed = { onAdd: () => this.scheduleDnsRebuild(), onUpdate: () => this.scheduleDnsRebuild(), onDelete: () => this.scheduleDnsRebuild() }
    for (const informer of [this.services, this.slices, this.pods]) informer.addHandlers(changed)
  }

  /** Lists, then programs the proxy and the policy enforcer and starts DNS. */
  async start(): Promise<void> {
    await Promise.all([this.services.start(), this.slices.start(), this.pods.start(), this.policies.start(), this.namespaces.start()])
    if (this.stopped) return
    this.proxy.setServices(this.services.list())
    this.proxy.setEndpointSlices(this.adjustedSlices())
    this.started = true
    this.proxy.start()
    this.enforcer.setPolicies(this.policies.list())
    this.enforcer.setPods(this.pods.list())
    this.enforcer.setNamespaces(this.namespaces.list())
    this.enforcer.start()
    const address = this.options.dnsAddress
    if (address !== undefined) {
      this.dns = new DnsServer({ host: address.host, port: address.port, records: this.records(), timers: this.options.timers })
      await this.dns.start()
      this.options.log(`cluster DNS on ${address.host}:${address.port}`)
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.unsubscribeGossip?.()
    await Promise.all([this.proxy.stop(), this.enforcer.stop()])
    for (const informer of [this.services, this.slices, this.pods, this.policies, this.namespaces]) informer.stop()
    await this.dns?.stop()
  }

  private records(): ClusterRecords {
    return new ClusterRecords({
      services: this.services.list(),
      endpointSlices: this.adjustedSlices(),
      pods: this.pods.list(),
      serial: Math.max(this.services.revision, this.slices.revision, this.pods.revision) % 2 ** 32,
      ...(this.options.clusterDomain !== undefined ? { clusterDomain: this.options.clusterDomain } : {}),
    })
  }

  /** Every slice, with endpoint conditions as the nodes report them (gossip), when wired. */
  private adjustedSlices(): JsonObject[] {
    const slices = this.slices.list()
    return this.options.endpointGossip?.adjust(slices, this.services.list()) ?? slices
  }

  private adjusted(slice: JsonObject): JsonObject {
    return this.options.endpointGossip?.adjust([slice], this.services.list())[0] ?? slice
  }

  private scheduleDnsRebuild(): void {
    if (this.rebuildPending || this.dns === undefined) return
    this.rebuildPending = true
    this.options.timers.after(DNS_REBUILD_DELAY_MS, () => {
      this.rebuildPending = false
      if (!this.stopped) this.dns?.setRecords(this.records())
    })
  }
}
