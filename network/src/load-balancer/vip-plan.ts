/**
 * Which node announces each LoadBalancer address (pure: every node computes the same answer from
 * the same objects and the same liveness view, with no coordination and no Raft round trip, so
 * failover takes as long as gossip takes to call a node dead).
 *
 * For each LoadBalancer Service with ingress IPs (its status, written by the leader's allocator),
 * the eligible nodes are those that
 *   - are alive by this node's gossip view (`isAlive`),
 *   - have a Ready condition that is not False (Unknown counts: a node just registered, or one the
 *     leader has not judged yet; liveness already rules out silent ones),
 *   - are not being deleted and do not carry the `node.kubernetes.io/exclude-from-external-load-balancers` label,
 *   - and, for externalTrafficPolicy Local, have a ready endpoint of the Service (a node without
 *     one would only reject the traffic).
 * Among them the announcer is chosen by rendezvous (highest-random-weight) hashing of the Service
 * key `namespace/name` with each node name: removing a node moves only the addresses it announced,
 * adding one takes over only the addresses for which it scores highest.
 *
 * Two Services showing the same address (a manual status edit; the allocator never does it) are
 * announced once, for the Service whose key sorts first.
 */
import { createHash } from 'node:crypto'

/** A Kubernetes object as parsed JSON (Service, Node, EndpointSlice). */
export type KubeObject = Readonly<Record<string, unknown>>

export const EXCLUDE_FROM_LOAD_BALANCERS_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers'
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'

export interface VipPlanInput {
  readonly services: readonly KubeObject[]
  readonly nodes: readonly KubeObject[]
  readonly endpointSlices: readonly KubeObject[]
  /** This node's gossip view of whether `nodeName` is alive (its own node: always). */
  readonly isAlive: (nodeName: string) => boolean
}

/** One address and who announces it. */
export interface VipAssignment {
  readonly ip: string
  /** `namespace/name` of the Service. */
  readonly service: string
  /** The announcing node; undefined when no node is eligible (nobody announces). */
  readonly node: string | undefined
}

function objectAt(value: unknown): KubeObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as KubeObject) : {}
}

function listAt(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : []
}

function stringAt(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

function keyOf(object: KubeObject): string {
  const metadata = objectAt(object['metadata'])
  return `${stringAt(metadata['namespace']) || 'default'}/${stringAt(metadata['name'])}`
}

/**
 * The rendezvous weight of `node` for `key`: the first 48 bits of SHA-256 over both. A strong
 * hash, not FNV: weights of one key across nodes must be independent, or one node would win
 * nearly every key.
 */
export function rendezvousWeight(key: string, node: string): number {
  return createHash('sha256').update(key).update('\0').update(node).digest().readUIntBE(0, 6)
}

/** The candidate with the highest weight for `key` (ties: the smaller name), or undefined. */
export function rendezvousChoice(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestWeight = -1
  for (const node of candidates) {
    const weight = rendezvousWeight(key, node)
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && node < best)) {
      best = node
      bestWeight = weight
    }
  }
  return best
}

/** The IPv4 ingress addresses of a LoadBalancer Service (none for other types). */
export function loadBalancerIpsOf(service: KubeObject): string[] {
  if (objectAt(service['spec'])['type'] !== 'LoadBalancer') return []
  const ingress = listAt(objectAt(objectAt(service['status'])['loadBalancer'])['ingress'])
  return [...new Set(ingress.map((entry) => stringAt(objectAt(entry)['ip'])).filter((ip) => IPV4.test(ip)))]
}

function isReadyNotFalse(node: KubeObject): boolean {
  const ready = listAt(objectAt(node['status'])['conditions']).map(objectAt).find((condition) => condition['type'] === 'Ready')
  return ready?.['status'] !== 'False'
}

/** Names of the nodes that may announce anything (alive, not NotReady, not excluded). */
export function eligibleNodes(nodes: readonly KubeObject[], isAlive: (nodeName: string) => boolean): string[] {
  return nodes
    .filter((node) => {
      const metadata = objectAt(node['metadata'])
      const name = stringAt(metadata['name'])
      if (name === '' || (metadata['deletionTimestamp'] !== undefined && metadata['deletionTimestamp'] !== null)) return false
      if (EXCLUDE_FROM_LOAD_BALANCERS_LABEL in objectAt(metadata['labels'])) return false
      return isReadyNotFalse(node) && isAlive(name)
    })
    .map((node) => stringAt(objectAt(node['metadata'])['name']))
    .sort()
}

/** Nodes with a ready (not terminating) IPv4 endpoint, per Service key. */
function nodesWithReadyEndpoints(slices: readonly KubeObject[]): Map<string, Set<string>> {
  const byService = new Map<string, Set<string>>()
  for (const slice of slices) {
    if (slice['addressType'] !== 'IPv4') continue
    const metadata = objectAt(slice['metadata'])
    const service = stringAt(objectAt(metadata['labels'])[SERVICE_NAME_LABEL])
    if (service === '') continue
    const key = `${stringAt(metadata['namespace']) || 'default'}/${service}`
    for (const endpoint of listAt(slice['endpoints']).map(objectAt)) {
      const conditions = objectAt(endpoint['conditions'])
      // The EndpointSlice API: unset `ready` means ready; terminating endpoints are never ready.
      const ready = conditions['ready'] !== false && conditions['terminating'] !== true
      const nodeName = stringAt(endpoint['nodeName'])
      if (!ready || nodeName === '') continue
      const nodes = byService.get(key) ?? new Set<string>()
      nodes.add(nodeName)
      byService.set(key, nodes)
    }
  }
  return byService
}

/** Every LoadBalancer address and its announcer, sorted by address. */
export function planVipAssignments(input: VipPlanInput): VipAssignment[] {
  const eligible = eligibleNodes(input.nodes, input.isAlive)
  const localNodes = nodesWithReadyEndpoints(input.endpointSlices)
  const byIp = new Map<string, VipAssignment>()
  const services = [...input.services].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))
  for (const service of services) {
    const key = keyOf(service)
    const local = objectAt(service['spec'])['externalTrafficPolicy'] === 'Local'
    const withEndpoints = localNodes.get(key)
    const candidates = local ? eligible.filter((node) => withEndpoints?.has(node) === true) : eligible
    const node = rendezvousChoice(key, candidates)
    for (const ip of loadBalancerIpsOf(service)) if (!byIp.has(ip)) byIp.set(ip, { ip, service: key, node })
  }
  return [...byIp.values()].sort((a, b) => compareIpv4(a.ip, b.ip))
}

/** The addresses `nodeName` must hold now, sorted. */
export function vipsFor(nodeName: string, assignments: readonly VipAssignment[]): string[] {
  return assignments.filter((assignment) => assignment.node === nodeName).map((assignment) => assignment.ip)
}

function compareIpv4(a: string, b: string): number {
  const value = (ip: string): number => ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0)
  return value(a) - value(b)
}
