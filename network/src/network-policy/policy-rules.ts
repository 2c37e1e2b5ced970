/**
 * The NetworkPolicy enforcer's desired nftables ruleset for one node, computed from
 * NetworkPolicies, Pods and Namespaces (pure: no I/O, no clock, no randomness; the same input
 * gives byte-identical output).
 *
 * Everything lives in one table of our own, `inet flotilla-policy`:
 *
 *   forward (filter hook forward, priority 0, policy accept)
 *       ct state established,related accept
 *       ip saddr vmap @egress-pods         local egress-isolated pod  → jump egress-<group>
 *       ip daddr vmap @ingress-pods        local ingress-isolated pod → jump ingress-<group>
 *   ingress-<group> / egress-<group>       one line per allowed (peers, port) of every policy of
 *                                          the group, each ending in `return`; then `drop`
 *   peers-…   (ipv4_addr, interval)        the addresses a rule's from/to allow
 *   named-…   (ipv4_addr . proto . port)   a rule's named ports, resolved per destination pod
 *
 * A group is the set of policies that select a pod in one direction: pods selected by the same
 * policies share a chain, so the rule count grows with policies and groups, not pods², and the
 * per-pod cost is one map element. `return` leaves the group chain for the base chain, which goes
 * on to the other direction's check: traffic between two isolated pods on this node passes only
 * when the source's egress AND the destination's ingress allow it.
 *
 * Kubernetes semantics (networking.k8s.io/v1): a pod is isolated for ingress (egress) when any
 * policy selecting it has Ingress (Egress) in policyTypes, and then accepts only what the union of
 * those policies' rules allows; a policy without rules for a direction it isolates denies all. In
 * a rule, an absent or empty from/to means every peer and absent or empty ports every port. A peer
 * with podSelector alone means pods of the policy's namespace, namespaceSelector alone every pod of
 * the matching namespaces, both the matching pods of the matching namespaces; ipBlock is a CIDR
 * minus its excepts. A named port resolves against the destination pod's container ports (for
 * ingress the selected pod, for egress each peer pod); a name that resolves nowhere allows nothing.
 *
 * Enforcement points: only pods of THIS node, on the forward hook. Pod traffic crosses the node's
 * bridge (with bridge-nf on, bridged pod-to-pod traffic on one node also passes ip forward) or is
 * routed to another node; either way the source node checks egress and the destination node
 * ingress. Traffic from or to the node itself (kubelet probes, host processes, cluster DNS on the
 * pod gateway) uses input/output and is never filtered, as Kubernetes requires. Service VIPs are
 * DNAT'd in prerouting, before forward, so policies see the real destination pod.
 *
 * Not covered (deliberately): IPv6 (IPv6 packets pass: every match here is `ip`, which an inet
 * table applies to IPv4 only, and ipBlocks with IPv6 CIDRs are ignored), hostNetwork pods (never
 * selected, never peers, as in Kubernetes implementations), and pods that finished (Succeeded or
 * Failed), whose addresses may already belong to new pods.
 */
import { assert } from '../../../lib/assert.ts'
import { DADDR, DPORT, equals, isPort, L4PROTO, protocolOf, SADDR, shortHash, type L4Protocol } from '../nft/expressions.ts'
import { compareStrings, listAt, objectAt, stringAt } from '../nft/json-values.ts'
import { ipv4CidrRange, ipv4Number, ipv4Text, mergeRanges, subtractRanges, type Ipv4Range } from './ipv4-ranges.ts'
import { labelsOf, selectorMatches, type Labels } from './label-match.ts'
import {
  existingObjectsOf,
  NO_EXISTING_OBJECTS,
  tableSyncBatch,
  type ChainSpec,
  type DesiredRuleset as TableRuleset,
  type ExistingObjects,
  type NftCommand,
  type NftTable,
  type RuleSpec,
  type StaticSetSpec,
} from '../nft/ruleset.ts'

export { NO_EXISTING_OBJECTS } from '../nft/ruleset.ts'
export type { ChainSpec, ExistingObjects, NftCommand, RuleSpec } from '../nft/ruleset.ts'

/** Every set the planner writes has its elements (it has no dynamic sets). */
export type SetSpec = StaticSetSpec

/** The whole desired content of our table, sorted. */
export interface DesiredRuleset extends TableRuleset {
  readonly sets: readonly SetSpec[]
}

export const POLICY_TABLE = 'flotilla-policy'
export const POLICY_FAMILY = 'inet'
export const POLICY_NFT_TABLE: NftTable = { family: POLICY_FAMILY, name: POLICY_TABLE }

export const INGRESS_PODS_MAP = 'ingress-pods'
export const EGRESS_PODS_MAP = 'egress-pods'
const FORWARD_CHAIN = 'forward'
/** The label every namespace carries with its own name (Kubernetes 1.21+ sets it; so do we). */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name'
/** Readable parts of set names are cut here; the hash keeps them unique. */
const NAME_READABLE_MAX = 120

/** A Kubernetes object as parsed JSON (NetworkPolicy, Pod, Namespace). */
export type KubeObject = Readonly<Record<string, unknown>>

export interface PolicyRulesInput {
  readonly policies: readonly KubeObject[]
  readonly pods: readonly KubeObject[]
  readonly namespaces: readonly KubeObject[]
  /** The node whose pods are enforced here (Pod `spec.nodeName`). */
  readonly nodeName: string
}

// ---------------------------------------------------------------------------------------------
// Reading the objects

type Direction = 'ingress' | 'egress'

interface PodFacts {
  readonly namespace: string
  readonly name: string
  readonly labels: Labels
  readonly ip: string
  readonly address: number
  readonly nodeName: string
  /** `name/protocol` → container port numbers. */
  readonly namedPorts: ReadonlyMap<string, readonly number[]>
}

/** One entry of a rule's `ports`: a number or range, a name, or (neither) every port. */
type PortSpec =
  | { readonly protocol: L4Protocol; readonly kind: 'number'; readonly first: number; readonly last: number }
  | { readonly protocol: L4Protocol; readonly kind: 'name'; readonly name: string }
  | { readonly protocol: L4Protocol; readonly kind: 'any' }

type PeerSpec =
  | { readonly kind: 'pods'; readonly podSelector: unknown; readonly namespaceSelector: unknown }
  | { readonly kind: 'ipBlock'; readonly allowed: readonly Ipv4Range[] }

interface RuleFacts {
  /** undefined: every peer. */
  readonly peers: readonly PeerSpec[] | undefined
  /** Empty: every port. */
  readonly ports: readonly PortSpec[]
}

interface PolicyFacts {
  /** `namespace/name`. */
  readonly id: string
  readonly namespace: string
  readonly podSelector: unknown
  /** Rules per isolated direction; a direction the policy does not isolate is absent. */
  readonly rules: Readonly<Partial<Record<Direction, readonly RuleFacts[]>>>
}

/** Pods that take part: IPv4 address, not hostNetwork, not finished. */
function podFactsOf(pod: KubeObject): PodFacts | undefined {
  const metadata = objectAt(pod['metadata'])
  const spec = objectAt(pod['spec'])
  const status = objectAt(pod['status'])
  const ip = stringAt(status['podIP'])
  const address = ipv4Number(ip)
  const phase = status['phase']
  if (address === undefined || spec['hostNetwork'] === true || phase === 'Succeeded' || phase === 'Failed') return undefined
  const namedPorts = new Map<string, number[]>()
  for (const container of listAt(spec['containers']).map(objectAt)) {
    for (const port of listAt(container['ports']).map(objectAt)) {
      const name = stringAt(port['name'])
      const protocol = protocolOf(port['protocol'])
      if (name === '' || protocol === undefined || !isPort(port['containerPort'])) continue
      const key = `${name}/${protocol}`
      namedPorts.set(key, [...(namedPorts.get(key) ?? []), port['containerPort']])
    }
  }
  return {
    namespace: stringAt(metadata['namespace']) || 'default',
    name: stringAt(metadata['name']),
    labels: labelsOf(metadata['labels']),
    ip,
    address,
    nodeName: stringAt(spec['nodeName']),
    namedPorts,
  }
}

function portSpecOf(value: unknown): PortSpec | undefined {
  const port = objectAt(value)
  const protocol = protocolOf(port['protocol'])
  if (protocol === undefined) return undefined
  const number = port['port']
  if (typeof number === 'string' && number !== '') return { protocol, kind: 'name', name: number }
  if (number === undefined || number === null) return { protocol, kind: 'any' }
  if (!isPort(number)) return undefined
  const endPort = port['endPort']
  return { protocol, kind: 'number', first: number, last: isPort(endPort) && endPort > number ? endPort : number }
}

function peerSpecOf(value: unknown): PeerSpec | undefined {
  const peer = objectAt(value)
  const block = peer['ipBlock']
  if (block !== undefined && block !== null) {
    const range = ipv4CidrRange(stringAt(objectAt(block)['cidr']))
    // An IPv6 block allows no IPv4 address (and IPv6 is not filtered at all, see the module comment).
    if (range === undefined) return { kind: 'ipBlock', allowed: [] }
    const holes = listAt(objectAt(block)['except']).flatMap((except) => ipv4CidrRange(stringAt(except)) ?? [])
    return { kind: 'ipBlock', allowed: subtractRanges(range, holes) }
  }
  const podSelector = peer['podSelector'] ?? undefined
  const namespaceSelector = peer['namespaceSelector'] ?? undefined
  if (podSelector === undefined && namespaceSelector === undefined) return undefined
  return { kind: 'pods', podSelector, namespaceSelector }
}

function ruleFactsOf(value: unknown, peersKey: 'from' | 'to'): RuleFacts {
  const rule = objectAt(value)
  const peerList = listAt(rule[peersKey])
  // A peer or port this planner cannot read allows nothing rather than everything.
  const peers = peerList.length === 0 ? undefined : peerList.map((peer) => peerSpecOf(peer) ?? { kind: 'ipBlock' as const, allowed: [] })
  const portList = listAt(rule['ports'])
  const ports = portList.map((port) => portSpecOf(port) ?? { protocol: 'tcp' as const, kind: 'name' as const, name: '' })
  return { peers, ports }
}

function policyFactsOf(policy: KubeObject): PolicyFacts {
  const metadata = objectAt(policy['metadata'])
  const spec = objectAt(policy['spec'])
  const namespace = stringAt(metadata['namespace']) || 'default'
  const listedTypes = listAt(spec['policyTypes'])
  // The API defaults policyTypes; an object written before that default reads the same way.
  const types = listedTypes.length > 0 ? listedTypes : listAt(spec['egress']).length > 0 ? ['Ingress', 'Egress'] : ['Ingress']
  const rules: Partial<Record<Direction, readonly RuleFacts[]>> = {}
  if (types.includes('Ingress')) rules.ingress = listAt(spec['ingress']).map((rule) => ruleFactsOf(rule, 'from'))
  if (types.includes('Egress')) rules.egress = listAt(spec['egress']).map((rule) => ruleFactsOf(rule, 'to'))
  return { id: `${namespace}/${stringAt(metadata['name'])}`, namespace, podSelector: spec['podSelector'] ?? {}, rules }
}

// ---------------------------------------------------------------------------------------------
// Selection

/** Everything the planner looks pods and namespaces up in. */
interface Cluster {
  readonly pods: readonly PodFacts[]
  readonly namespaceLabels: ReadonlyMap<string, Labels>
}

function namespaceLabelsOf(cluster: Cluster, namespace: string): Labels {
  return cluster.namespaceLabels.get(namespace) ?? { [NAMESPACE_NAME_LABEL]: namespace }
}

function policySelects(policy: PolicyFacts, pod: PodFacts): boolean {
  return pod.namespace === policy.namespace && selectorMatches(policy.podSelector, pod.labels)
}

function peerSelects(peer: PeerSpec & { kind: 'pods' }, policy: PolicyFacts, pod: PodFacts, cluster: Cluster): boolean {
  const inNamespace =
    peer.namespaceSelector === undefined ? pod.namespace === policy.namespace : selectorMatches(peer.namespaceSelector, namespaceLabelsOf(cluster, pod.namespace))
  return inNamespace && (peer.podSelector === undefined || selectorMatches(peer.podSelector, pod.labels))
}

/** The addresses a rule's peers allow, merged; undefined when the rule allows every peer. */
function peerRanges(rule: RuleFacts, policy: PolicyFacts, cluster: Cluster): Ipv4Range[] | undefined {
  if (rule.peers === undefined) return undefined
  const ranges: Ipv4Range[] = []
  for (const peer of rule.peers) {
    if (peer.kind === 'ipBlock') ranges.push(...peer.allowed)
    else for (const pod of cluster.pods) if (peerSelects(peer, policy, pod, cluster)) ranges.push({ first: pod.address, last: pod.address })
  }
  return mergeRanges(ranges)
}

function inRanges(address: number, ranges: readonly Ipv4Range[] | undefined): boolean {
  return ranges === undefined || ranges.some((range) => range.first <= address && address <= range.last)
}

// ---------------------------------------------------------------------------------------------
// Names and expressions

/** `<prefix>-<hash>-<readable>`; the readable part keeps only characters nft names allow. */
function objectName(prefix: string, id: string): string {
  const readable = id.replace(/[^A-Za-z0-9._-]/g, '.').slice(0, NAME_READABLE_MAX)
  return `${prefix}-${shortHash(id)}-${readable}`
}

function rangeElement(range: Ipv4Range): unknown {
  return range.first === range.last ? ipv4Text(range.first) : { range: [ipv4Text(range.first), ipv4Text(range.last)] }
}

// ---------------------------------------------------------------------------------------------
// The ruleset

/** One rule of one policy in one direction, as sets and chain lines (shared by every group). */
interface PlannedRule {
  readonly lines: readonly (readonly unknown[])[]
  readonly sets: readonly SetSpec[]
}

/**
 * The lines of rule `index` of `policy` in `direction`. `targets` are the local pods the policy
 * selects (ingress named ports resolve against them); every line ends in `return`.
 */
function planRule(policy: PolicyFacts, direction: Direction, index: number, rule: RuleFacts, targets: readonly PodFacts[], cluster: Cluster): PlannedRule {
  const id = `${policy.id}/${direction}/${index}`
  const sets: SetSpec[] = []
  const ranges = peerRanges(rule, policy, cluster)
  const peerMatch: unknown[] = []
  if (ranges !== undefined) {
    const name = objectName('peers', id)
    sets.push({ name, kind: 'set', type: 'ipv4_addr', interval: true, elements: ranges.map(rangeElement) })
    peerMatch.push(equals(direction === 'ingress' ? SADDR : DADDR, `@${name}`))
  }
  const accept = { return: null }
  if (rule.ports.length === 0) return { lines: [[...peerMatch, accept]], sets }

  const lines: unknown[][] = []
  const named: string[] = []
  for (const port of rule.ports) {
    if (port.kind === 'any') lines.push([...peerMatch, equals(L4PROTO, port.protocol), accept])
    else if (port.kind === 'number') {
      const dport = port.first === port.last ? port.first : { range: [port.first, port.last] }
      lines.push([...peerMatch, equals(L4PROTO, port.protocol), equals(DPORT, dport), accept])
    } else named.push(`${port.name}/${port.protocol}`)
  }
  if (named.length > 0) {
    // Ingress: the destination is one of the selected local pods. Egress: any peer pod.
    const destinations = direction === 'ingress' ? targets : cluster.pods.filter((pod) => inRanges(pod.address, ranges))
    const elements = new Map<string, unknown>()
    for (const pod of destinations) {
      for (const key of named) {
        const protocol = key.slice(key.lastIndexOf('/') + 1)
        for (const number of pod.namedPorts.get(key) ?? []) elements.set(`${pod.ip}/${protocol}/${number}`, { concat: [pod.ip, protocol, number] })
      }
    }
    const name = objectName('named', id)
    const sorted = [...elements.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, element]) => element)
    sets.push({ name, kind: 'set', type: ['ipv4_addr', 'inet_proto', 'inet_service'], interval: false, elements: sorted })
    lines.push([...peerMatch, equals({ concat: [DADDR, L4PROTO, DPORT] }, `@${name}`), accept])
  }
  return { lines, sets }
}

function clusterOf(input: PolicyRulesInput): Cluster {
  const namespaceLabels = new Map<string, Labels>()
  for (const namespace of input.namespaces) {
    const metadata = objectAt(namespace['metadata'])
    const name = stringAt(metadata['name'])
    if (name !== '') namespaceLabels.set(name, { ...labelsOf(metadata['labels']), [NAMESPACE_NAME_LABEL]: name })
  }
  const pods = input.pods.flatMap((pod) => podFactsOf(pod) ?? []).sort((a, b) => a.address - b.address || compareStrings(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`))
  return { pods, namespaceLabels }
}

/** The desired content of `inet flotilla-policy` for `input` (pure, sorted). */
export function policyRules(input: PolicyRulesInput): DesiredRuleset {
  const cluster = clusterOf(input)
  const policies = input.policies.map(policyFactsOf).sort((a, b) => compareStrings(a.id, b.id))
  const localPods = cluster.pods.filter((pod) => pod.nodeName === input.nodeName)

  const chains: ChainSpec[] = [{ name: FORWARD_CHAIN, hook: { type: 'filter', hook: 'forward', prio: 0 } }]
  const rules: RuleSpec[] = [
    { chain: FORWARD_CHAIN, expr: [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }] },
    // Egress first: a packet between two isolated local pods must pass both checks.
    { chain: FORWARD_CHAIN, expr: [{ vmap: { key: SADDR, data: `@${EGRESS_PODS_MAP}` } }] },
    { chain: FORWARD_CHAIN, expr: [{ vmap: { key: DADDR, data: `@${INGRESS_PODS_MAP}` } }] },
  ]
  const sets = new Map<string, SetSpec>()
  const podMaps: Record<Direction, unknown[]> = { ingress: [], egress: [] }

  for (const direction of ['egress', 'ingress'] as const) {
    /** Group key (policy ids) → the local pods the group's policies select. */
    const groups = new Map<string, { policies: PolicyFacts[]; pods: PodFacts[] }>()
    for (const pod of localPods) {
      const selecting = policies.filter((policy) => policy.rules[direction] !== undefined && policySelects(policy, pod))
      if (selecting.length === 0) continue
      const key = selecting.map((policy) => policy.id).join(',')
      const group = groups.get(key) ?? { policies: selecting, pods: [] }
      group.pods.push(pod)
      groups.set(key, group)
    }
    /** Each policy's rules are planned once per direction and shared by every group it is in. */
    const planned = new Map<string, PlannedRule[]>()
    const planPolicy = (policy: PolicyFacts): PlannedRule[] => {
      const cached = planned.get(policy.id)
      if (cached !== undefined) return cached
      // Ingress named ports resolve against every local pod the policy selects.
      const targets = localPods.filter((pod) => policySelects(policy, pod))
      const result = (policy.rules[direction] ?? []).map((rule, i) => planRule(policy, direction, i, rule, targets, cluster))
      planned.set(policy.id, result)
      return result
    }
    for (const [key, group] of [...groups.entries()].sort(([a], [b]) => compareStrings(a, b))) {
      assert(group.pods.length > 0 && group.policies.length > 0, 'a group has pods and policies')
      const chain = `${direction}-${shortHash(key)}`
      chains.push({ name: chain })
      for (const policy of group.policies) {
        for (const rule of planPolicy(policy)) {
          for (const set of rule.sets) sets.set(set.name, set)
          for (const line of rule.lines) rules.push({ chain, expr: line })
        }
      }
      rules.push({ chain, expr: [{ drop: null }] })
      for (const pod of group.pods) podMaps[direction].push([pod.ip, { jump: { target: chain } }])
    }
  }
  const podMapOf = (name: string, elements: unknown[]): SetSpec => ({ name, kind: 'map', type: 'ipv4_addr', interval: false, elements })
  const allSets = [podMapOf(EGRESS_PODS_MAP, podMaps.egress), podMapOf(INGRESS_PODS_MAP, podMaps.ingress), ...[...sets.values()].sort((a, b) => compareStrings(a.name, b.name))]
  return { chains, sets: dedupeMapKeys(allSets), rules }
}

/**
 * Keeps the first element per key of the pod maps: two local pods that report one address (a
 * stale pod next to its replacement) would otherwise make nft refuse the whole batch.
 */
function dedupeMapKeys(sets: readonly SetSpec[]): SetSpec[] {
  return sets.map((set) => {
    if (set.kind !== 'map') return set
    const seen = new Set<string>()
    const elements = set.elements.filter((element) => {
      const key = JSON.stringify((element as readonly unknown[])[0])
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
    return { ...set, elements }
  })
}

// ---------------------------------------------------------------------------------------------
// The batch

/**
 * The one `nft -j` batch that turns our table, whatever it holds (`existing`), into `desired`
 * (../nft/ruleset.ts): packets see either the old policy ruleset or the new one. Other tables are
 * never named.
 */
export function policySyncBatch(desired: TableRuleset, existing: ExistingObjects = NO_EXISTING_OBJECTS): { nftables: NftCommand[] } {
  return tableSyncBatch(POLICY_NFT_TABLE, desired, existing)
}

/** The objects of our table named in an `nft -j list table` answer. */
export function existingPolicyObjectsOf(listing: unknown): ExistingObjects {
  return existingObjectsOf(listing, POLICY_NFT_TABLE)
}
