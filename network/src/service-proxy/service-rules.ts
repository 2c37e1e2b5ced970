/**
 * The service proxy's desired nftables ruleset, computed from Services and EndpointSlices (pure:
 * no I/O, no clock, no randomness; the same input gives byte-identical output).
 *
 * Everything lives in one table of our own, `ip flotilla-proxy`, in the shape of kube-proxy's
 * nftables mode (verified on this machine kind: research/testbed.md §3.5):
 *
 *   nat-prerouting / nat-output (dstnat)   jump services
 *   services        ip daddr . meta l4proto . th dport vmap @service-ips  (ClusterIP; LoadBalancer IP → external-<id>)
 *                   ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
 *   service-<id>    affinity checks; numgen random mod N vmap { i : goto endpoint-<id>__<ep> }
 *   external-<id>   NodePort and LoadBalancer entry: Cluster → mark for masquerade, goto service-<id>;
 *                   Local → numgen over this node's endpoints only (source kept)
 *   endpoint-...    ip saddr <ep> mark (hairpin); update @affinity set; dnat to <ep>:<port>
 *   nat-postrouting (srcnat)               meta mark & 0x4000 → clear it, masquerade
 *   filter-input / filter-forward / filter-output (priority -110, before DNAT)
 *                   ct state new: VIPs and NodePorts without endpoints → reject (icmp port-unreachable)
 *
 * Reject cannot live in the nat chains (nftables only allows it on input/forward/output paths), so
 * Services without endpoints are left out of the DNAT maps and caught by the filter chains, as in
 * kube-proxy.
 *
 * Endpoint choice per service port: the READY endpoints of the Service's IPv4 slices (conditions
 * `ready` unset counts as ready, as the EndpointSlice API says; terminating endpoints are never
 * ready). Serving-but-not-ready endpoints are excluded. Only when no endpoint is ready are the
 * endpoints that are serving AND terminating used (kube-proxy's ProxyTerminatingEndpoints), so
 * a rolling update of the last pod does not black-hole traffic while it drains.
 *
 * LoadBalancer Services: the IPv4 addresses in status.loadBalancer.ingress (the pool addresses the
 * leader allocated, network/src/load-balancer/) go into @service-ips like ClusterIPs, on every node,
 * but through the Service's external chain, as NodePorts do: externalTrafficPolicy Cluster marks
 * for masquerade (so replies come back through the node that received the packet, which matters
 * when the client is outside the cluster) and balances over all endpoints; Local balances over
 * this node's endpoints only and keeps the client's address, and a node without one rejects. Only
 * the node that announces the address receives outside traffic for it (vip-announcer.ts); the
 * others DNAT their own pods' and processes' traffic to it.
 *
 * Not covered here (deliberately): externalIPs, internalTrafficPolicy, IPv6, the "local traffic
 * to an eTP=Local NodePort or LoadBalancer IP counts as cluster traffic" short-cut, and conntrack
 * flushing for UDP.
 */
import { assert } from '../../../lib/assert.ts'
import { DADDR, DPORT, equals, isPort, L4PROTO, MARK, protocolOf, SADDR, shortHash } from '../nft/expressions.ts'
import { compareStrings, listAt, objectAt, stringAt } from '../nft/json-values.ts'
import {
  existingObjectsOf as existingTableObjectsOf,
  NO_EXISTING_OBJECTS,
  tableSyncBatch,
  type ChainSpec,
  type DesiredRuleset,
  type ExistingObjects,
  type NftCommand,
  type NftTable,
  type RuleSpec,
  type SetSpec,
} from '../nft/ruleset.ts'

export { NO_EXISTING_OBJECTS } from '../nft/ruleset.ts'
export type { ChainSpec, DesiredRuleset, ExistingObjects, NftCommand, RuleSpec, SetSpec } from '../nft/ruleset.ts'

export const PROXY_TABLE = 'flotilla-proxy'
export const PROXY_FAMILY = 'ip'
export const PROXY_NFT_TABLE: NftTable = { family: PROXY_FAMILY, name: PROXY_TABLE }

/** The mark bit that asks nat-postrouting to masquerade (kube-proxy's 0x4000). */
export const MASQUERADE_MARK = 0x4000

/** kube-proxy's default ClientIP affinity timeout (3 hours). */
export const AFFINITY_TIMEOUT_DEFAULT_SECONDS = 10800

/** Map and set names in our table. */
export const SERVICE_IPS_MAP = 'service-ips'
export const SERVICE_NODEPORTS_MAP = 'service-nodeports'
export const NO_ENDPOINT_SERVICES_MAP = 'no-endpoint-services'
export const NO_ENDPOINT_NODEPORTS_MAP = 'no-endpoint-nodeports'
export const NODEPORT_IPS_SET = 'nodeport-ips'
const REJECT_CHAIN = 'reject-chain'
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'

/** A Kubernetes object as parsed JSON (Service, EndpointSlice). */
export type KubeObject = Readonly<Record<string, unknown>>

/** What the rules need to know about the node they run on. */
export interface NodeFacts {
  /** The node's name, matched against endpoints' `nodeName` for externalTrafficPolicy Local. */
  readonly name: string
  /** The IPv4 addresses on which NodePorts answer. */
  readonly nodeIps: readonly string[]
}

export interface ServiceRulesInput {
  readonly services: readonly KubeObject[]
  readonly endpointSlices: readonly KubeObject[]
  readonly node: NodeFacts
}

/** An endpoint a service port balances over. */
export interface ServiceEndpoint {
  readonly ip: string
  readonly port: number
  readonly nodeName: string | undefined
}

// ---------------------------------------------------------------------------------------------
// Reading Services and EndpointSlices

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

function isIpv4(text: string): boolean {
  return IPV4.test(text)
}

/** IPv4 addresses as numbers compare numerically, so 10.0.0.9 sorts before 10.0.0.10. */
function ipv4Number(ip: string): number {
  return ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0)
}

function compareEndpoints(a: ServiceEndpoint, b: ServiceEndpoint): number {
  return ipv4Number(a.ip) - ipv4Number(b.ip) || a.port - b.port
}

/**
 * The endpoints a service port balances over (sorted, deduplicated): ready ones, or, when none is
 * ready, the serving terminating ones (see the module comment). `portName` and `protocol` pick the
 * slice port, as kube-proxy matches them.
 */
export function endpointsForPort(slices: readonly KubeObject[], portName: string, protocol: string): ServiceEndpoint[] {
  const ready = new Map<string, ServiceEndpoint>()
  const terminating = new Map<string, ServiceEndpoint>()
  for (const slice of slices) {
    if (slice['addressType'] !== 'IPv4') continue
    const slicePort = listAt(slice['ports']).map(objectAt).find((p) => stringAt(p['name']) === portName && protocolOf(p['protocol']) === protocol)
    if (slicePort === undefined || !isPort(slicePort['port'])) continue
    const port = slicePort['port']
    for (const endpoint of listAt(slice['endpoints']).map(objectAt)) {
      const conditions = objectAt(endpoint['conditions'])
      // The API's contract: an unset `ready`/`serving` means true, an unset `terminating` false.
      const isTerminating = conditions['terminating'] === true
      const isReady = conditions['ready'] !== false && !isTerminating
      const isServing = conditions['serving'] !== false
      const nodeName = stringAt(endpoint['nodeName'])
      for (const address of listAt(endpoint['addresses']).map(stringAt).filter(isIpv4)) {
        const entry: ServiceEndpoint = { ip: address, port, nodeName: nodeName === '' ? undefined : nodeName }
        const key = `${address}:${port}`
        if (isReady) ready.set(key, entry)
        else if (isServing && isTerminating) terminating.set(key, entry)
      }
    }
  }
  const chosen = ready.size > 0 ? ready : terminating
  return [...chosen.values()].sort(compareEndpoints)
}

/** One port of one Service, with everything the rules need. */
interface ServicePort {
  /** `namespace/name/protocol/portName-or-port`, unique per service port. */
  readonly id: string
  readonly clusterIP: string | undefined
  readonly protocol: 'tcp' | 'udp' | 'sctp'
  readonly port: number
  readonly nodePort: number | undefined
  /** status.loadBalancer.ingress IPv4 addresses of a LoadBalancer Service (sorted, distinct). */
  readonly loadBalancerIps: readonly string[]
  readonly localOnly: boolean
  readonly affinityTimeoutSeconds: number | undefined
  readonly endpoints: readonly ServiceEndpoint[]
}

function servicePortsOf(service: KubeObject, slicesByService: ReadonlyMap<string, KubeObject[]>): ServicePort[] {
  const metadata = objectAt(service['metadata'])
  const spec = objectAt(service['spec'])
  const namespace = stringAt(metadata['namespace']) || 'default'
  const name = stringAt(metadata['name'])
  const type = stringAt(spec['type']) || 'ClusterIP'
  if (name === '' || type === 'ExternalName') return []
  const clusterIPText = stringAt(spec['clusterIP'])
  const clusterIP = isIpv4(clusterIPText) ? clusterIPText : undefined
  const exposesNodePorts = type === 'NodePort' || type === 'LoadBalancer'
  const affinity = spec['sessionAffinity'] === 'ClientIP'
  const configuredTimeout = objectAt(objectAt(spec['sessionAffinityConfig'])['clientIP'])['timeoutSeconds']
  const affinityTimeoutSeconds = !affinity
    ? undefined
    : typeof configuredTimeout === 'number' && Number.isInteger(configuredTimeout) && configuredTimeout > 0
      ? configuredTimeout
      : AFFINITY_TIMEOUT_DEFAULT_SECONDS
  const slices = slicesByService.get(`${namespace}/${name}`) ?? []
  const loadBalancerIps = type !== 'LoadBalancer' ? [] : [...new Set(listAt(objectAt(objectAt(service['status'])['loadBalancer'])['ingress']).map((entry) => stringAt(objectAt(entry)['ip'])).filter(isIpv4))].sort((a, b) => ipv4Number(a) - ipv4Number(b))
  const ports: ServicePort[] = []
  for (const raw of listAt(spec['ports']).map(objectAt)) {
    const protocol = protocolOf(raw['protocol'])
    const port = raw['port']
    if (protocol === undefined || !isPort(port)) continue
    const portName = stringAt(raw['name'])
    const nodePort = exposesNodePorts && isPort(raw['nodePort']) ? raw['nodePort'] : undefined
    if (clusterIP === undefined && nodePort === undefined && loadBalancerIps.length === 0) continue
    ports.push({
      id: `${namespace}/${name}/${protocol}/${portName === '' ? String(port) : portName}`,
      clusterIP,
      protocol,
      port,
      nodePort,
      loadBalancerIps,
      localOnly: exposesNodePorts && spec['externalTrafficPolicy'] === 'Local',
      affinityTimeoutSeconds,
      endpoints: endpointsForPort(slices, portName, protocol),
    })
  }
  return ports
}

// ---------------------------------------------------------------------------------------------
// Names

function serviceChainName(port: ServicePort): string {
  return `service-${shortHash(port.id)}-${port.id}`
}

function externalChainName(port: ServicePort): string {
  return `external-${shortHash(port.id)}-${port.id}`
}

function endpointChainName(port: ServicePort, endpoint: ServiceEndpoint): string {
  const id = `${port.id}__${endpoint.ip}/${endpoint.port}`
  return `endpoint-${shortHash(id)}-${id}`
}

/**
 * The affinity set of one endpoint of one service port. The timeout is part of the name because
 * nftables refuses to re-add a set with a different timeout: a changed timeout makes a new set.
 */
function affinitySetName(port: ServicePort, endpoint: ServiceEndpoint, timeoutSeconds: number): string {
  const id = `${port.id}__${endpoint.ip}/${endpoint.port}`
  return `affinity-${shortHash(id)}-${timeoutSeconds}s`
}

// ---------------------------------------------------------------------------------------------
// Expressions

function gotoChain(target: string): unknown {
  return { goto: { target } }
}

function setMasqueradeMark(): unknown {
  return { mangle: { key: MARK, value: { '|': [MARK, MASQUERADE_MARK] } } }
}

function newConnection(): unknown {
  return { match: { op: 'in', left: { ct: { key: 'state' } }, right: 'new' } }
}

/** `numgen random mod N vmap { 0 : goto c0, … }` over `chains` (at least one). */
function randomChoice(chains: readonly string[]): unknown {
  assert(chains.length > 0, 'random choice over no chains')
  return {
    vmap: {
      key: { numgen: { mode: 'random', mod: chains.length, offset: 0 } },
      data: { set: chains.map((chain, i) => [i, gotoChain(chain)]) },
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The ruleset

const BASE_CHAINS: readonly ChainSpec[] = [
  { name: 'nat-prerouting', hook: { type: 'nat', hook: 'prerouting', prio: -100 } },
  // `priority dstnat` is not valid on the output hook in nft 1.0.6; -100 is the same number.
  { name: 'nat-output', hook: { type: 'nat', hook: 'output', prio: -100 } },
  { name: 'nat-postrouting', hook: { type: 'nat', hook: 'postrouting', prio: 100 } },
  // Before DNAT (-100), so the destination is still the VIP or NodePort.
  { name: 'filter-input', hook: { type: 'filter', hook: 'input', prio: -110 } },
  { name: 'filter-forward', hook: { type: 'filter', hook: 'forward', prio: -110 } },
  { name: 'filter-output', hook: { type: 'filter', hook: 'output', prio: -110 } },
]

function groupSlicesByService(slices: readonly KubeObject[]): Map<string, KubeObject[]> {
  const byService = new Map<string, KubeObject[]>()
  for (const slice of slices) {
    const metadata = objectAt(slice['metadata'])
    const service = stringAt(objectAt(metadata['labels'])[SERVICE_NAME_LABEL])
    if (service === '') continue
    const key = `${stringAt(metadata['namespace']) || 'default'}/${service}`
    const list = byService.get(key) ?? []
    list.push(slice)
    byService.set(key, list)
  }
  // Slices in name order, so which duplicate wins never depends on input order.
  for (const list of byService.values()) list.sort((a, b) => compareStrings(stringAt(objectAt(a['metadata'])['name']), stringAt(objectAt(b['metadata'])['name'])))
  return byService
}

/** The desired content of `ip flotilla-proxy` for `input` (pure, sorted). */
export function serviceRules(input: ServiceRulesInput): DesiredRuleset {
  const slicesByService = groupSlicesByService(input.endpointSlices)
  const ports = input.services.flatMap((service) => servicePortsOf(service, slicesByService)).sort((a, b) => compareStrings(a.id, b.id))
  const nodeIps = [...new Set(input.node.nodeIps.filter(isIpv4))].sort((a, b) => ipv4Number(a) - ipv4Number(b))

  const chains: ChainSpec[] = [...BASE_CHAINS, { name: 'services' }, { name: 'service-endpoints-check' }, { name: 'nodeport-endpoints-check' }, { name: REJECT_CHAIN }]
  const rules: RuleSpec[] = [
    { chain: 'nat-prerouting', expr: [{ jump: { target: 'services' } }] },
    { chain: 'nat-output', expr: [{ jump: { target: 'services' } }] },
    {
      chain: 'nat-postrouting',
      expr: [
        equals({ '&': [MARK, MASQUERADE_MARK] }, MASQUERADE_MARK),
        // Cleared first so a packet that is re-routed is not masqueraded twice.
        { mangle: { key: MARK, value: { '^': [MARK, MASQUERADE_MARK] } } },
        { masquerade: null },
      ],
    },
    { chain: 'filter-input', expr: [newConnection(), { jump: { target: 'nodeport-endpoints-check' } }] },
    { chain: 'filter-input', expr: [newConnection(), { jump: { target: 'service-endpoints-check' } }] },
    { chain: 'filter-forward', expr: [newConnection(), { jump: { target: 'service-endpoints-check' } }] },
    { chain: 'filter-output', expr: [newConnection(), { jump: { target: 'service-endpoints-check' } }] },
    {
      chain: 'service-endpoints-check',
      expr: [{ vmap: { key: { concat: [DADDR, L4PROTO, DPORT] }, data: `@${NO_ENDPOINT_SERVICES_MAP}` } }],
    },
    {
      chain: 'services',
      expr: [{ vmap: { key: { concat: [DADDR, L4PROTO, DPORT] }, data: `@${SERVICE_IPS_MAP}` } }],
    },
    { chain: REJECT_CHAIN, expr: [{ reject: { type: 'icmp', expr: 'port-unreachable' } }] },
  ]
  if (nodeIps.length > 0) {
    const nodePortMatch = equals(DADDR, `@${NODEPORT_IPS_SET}`)
    rules.push(
      { chain: 'nodeport-endpoints-check', expr: [nodePortMatch, { vmap: { key: { concat: [L4PROTO, DPORT] }, data: `@${NO_ENDPOINT_NODEPORTS_MAP}` } }] },
      { chain: 'services', expr: [nodePortMatch, { vmap: { key: { concat: [L4PROTO, DPORT] }, data: `@${SERVICE_NODEPORTS_MAP}` } }] },
    )
  }

  const serviceIps: unknown[] = []
  const serviceNodePorts: unknown[] = []
  const noEndpointServices: unknown[] = []
  const noEndpointNodePorts: unknown[] = []
  const affinitySets: SetSpec[] = []
  const serviceChains: ChainSpec[] = []

  for (const port of ports) {
    const endpointChains = port.endpoints.map((endpoint) => endpointChainName(port, endpoint))
    port.endpoints.forEach((endpoint, i) => {
      const chain = endpointChains[i]
      assert(chain !== undefined, 'an endpoint chain per endpoint')
      serviceChains.push({ name: chain })
      // Hairpin: a pod that reaches itself through the VIP must see the reply from the VIP.
      rules.push({ chain, expr: [equals(SADDR, endpoint.ip), setMasqueradeMark()] })
      if (port.affinityTimeoutSeconds !== undefined) {
        const set = affinitySetName(port, endpoint, port.affinityTimeoutSeconds)
        affinitySets.push({ name: set, kind: 'set', type: 'ipv4_addr', timeoutSeconds: port.affinityTimeoutSeconds })
        rules.push({ chain, expr: [{ set: { op: 'update', elem: SADDR, set: `@${set}` } }] })
      }
      rules.push({ chain, expr: [equals(L4PROTO, port.protocol), { dnat: { addr: endpoint.ip, port: endpoint.port } }] })
    })

    /** Rules of a chain that balances over `chosen` (indexes into port.endpoints), with affinity. */
    const balance = (chain: string, chosen: readonly number[]): void => {
      if (port.affinityTimeoutSeconds !== undefined) {
        for (const i of chosen) {
          const endpoint = port.endpoints[i]
          const target = endpointChains[i]
          assert(endpoint !== undefined && target !== undefined, 'chosen endpoints exist')
          rules.push({ chain, expr: [equals(SADDR, `@${affinitySetName(port, endpoint, port.affinityTimeoutSeconds)}`), gotoChain(target)] })
        }
      }
      rules.push({ chain, expr: [randomChoice(chosen.map((i) => endpointChains[i] ?? ''))] })
    }

    const all = port.endpoints.map((_, i) => i)
    const hasEndpoints = all.length > 0
    if (hasEndpoints) {
      const chain = serviceChainName(port)
      serviceChains.push({ name: chain })
      balance(chain, all)
      if (port.clusterIP !== undefined) serviceIps.push([{ concat: [port.clusterIP, port.protocol, port.port] }, gotoChain(chain)])
    } else if (port.clusterIP !== undefined) {
      noEndpointServices.push([{ concat: [port.clusterIP, port.protocol, port.port] }, gotoChain(REJECT_CHAIN)])
    }

    // The external chain: where NodePorts and LoadBalancer IPs enter (see the module comment).
    const exposedNodePort = port.nodePort !== undefined && nodeIps.length > 0 ? port.nodePort : undefined
    if (exposedNodePort !== undefined || port.loadBalancerIps.length > 0) {
      const nodePortKey = { concat: [port.protocol, exposedNodePort] }
      const loadBalancerKeys = port.loadBalancerIps.map((ip) => ({ concat: [ip, port.protocol, port.port] }))
      const local = all.filter((i) => port.endpoints[i]?.nodeName === input.node.name)
      const usable = port.localOnly ? local : all
      if (usable.length === 0) {
        if (exposedNodePort !== undefined) noEndpointNodePorts.push([nodePortKey, gotoChain(REJECT_CHAIN)])
        for (const key of loadBalancerKeys) noEndpointServices.push([key, gotoChain(REJECT_CHAIN)])
      } else {
        const chain = externalChainName(port)
        serviceChains.push({ name: chain })
        if (port.localOnly) {
          // Local: only this node's endpoints and no masquerade, so the pod sees the client's address.
          balance(chain, local)
        } else {
          rules.push({ chain, expr: [setMasqueradeMark()] })
          rules.push({ chain, expr: [gotoChain(serviceChainName(port))] })
        }
        if (exposedNodePort !== undefined) serviceNodePorts.push([nodePortKey, gotoChain(chain)])
        for (const key of loadBalancerKeys) serviceIps.push([key, gotoChain(chain)])
      }
    }
  }

  const sets: SetSpec[] = [
    { name: NO_ENDPOINT_NODEPORTS_MAP, kind: 'map', type: ['inet_proto', 'inet_service'], elements: noEndpointNodePorts },
    { name: NO_ENDPOINT_SERVICES_MAP, kind: 'map', type: ['ipv4_addr', 'inet_proto', 'inet_service'], elements: noEndpointServices },
    { name: NODEPORT_IPS_SET, kind: 'set', type: 'ipv4_addr', elements: nodeIps },
    { name: SERVICE_IPS_MAP, kind: 'map', type: ['ipv4_addr', 'inet_proto', 'inet_service'], elements: serviceIps },
    { name: SERVICE_NODEPORTS_MAP, kind: 'map', type: ['inet_proto', 'inet_service'], elements: serviceNodePorts },
    ...affinitySets.sort((a, b) => compareStrings(a.name, b.name)),
  ]
  return { chains: [...chains, ...serviceChains], sets, rules }
}

// ---------------------------------------------------------------------------------------------
// The batch

/**
 * The one `nft -j` batch that turns our table, whatever it holds (`existing`), into `desired`
 * (../nft/ruleset.ts). The dynamic affinity sets are declared only when absent and never
 * flushed, so ClientIP affinity survives unrelated syncs. Other tables are never named.
 */
export function syncBatch(desired: DesiredRuleset, existing: ExistingObjects = NO_EXISTING_OBJECTS): { nftables: NftCommand[] } {
  return tableSyncBatch(PROXY_NFT_TABLE, desired, existing)
}

/** The objects of our table named in an `nft -j list table` answer (the inverse of what syncBatch declares). */
export function existingObjectsOf(listing: unknown): ExistingObjects {
  return existingTableObjectsOf(listing, PROXY_NFT_TABLE)
}
