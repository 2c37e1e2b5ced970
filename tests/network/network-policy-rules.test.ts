// Goal: NetworkPolicy (networking.k8s.io/v1) is served like on kube-apiserver (discovered with the
// short name netpol, defaulted, validated with Kubernetes' field paths, printed as NAME
// POD-SELECTOR AGE), and the planner's nftables ruleset enforces Kubernetes' semantics exactly:
// isolation per direction, the union of the selecting policies' rules, pod/namespace/ipBlock
// peers, numeric, ranged and named ports, both directions between two isolated pods, only this
// node's pods, replies always allowed; with a rule count that does not grow with pods².
// Method: a table of scenarios, each a cluster plus flows whose verdict is computed by a small
// interpreter of the planner's nft JSON (the same JSON the netns test hands to the kernel); then
// the sync batch, the enforcer over simulated time with a recording target, and the API over
// defaulting/validation and an ApiHandler on an in-process store driven over HTTP on 127.0.0.1.
import t, { type Test } from 'tap'
import { TimersSim } from '../../lib/timers.ts'
import { PolicyEnforcer, type PolicyRulesetTarget } from '../../network/src/network-policy/policy-enforcer.ts'
import { policyRules, policySyncBatch, POLICY_TABLE, type DesiredRuleset, type KubeObject } from '../../network/src/network-policy/policy-rules.ts'
import { ipv4CidrRange, mergeRanges, subtractRanges } from '../../network/src/network-policy/ipv4-ranges.ts'
import { buildTable } from '../../node/src/api/server/table-columns.ts'
import { ApiHarness } from '../api/server/api-harness.ts'
import { accepted, defaulted, refused, type Loose } from '../api/server/kinds-fixtures.ts'

// ---------------------------------------------------------------------------------------------
// An interpreter of the subset of nft JSON the planner writes

interface Packet {
  readonly src: string
  readonly dst: string
  readonly protocol: 'tcp' | 'udp' | 'sctp'
  readonly dport: number
  readonly state: 'new' | 'established'
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0)
}

function valueOf(expression: Loose, packet: Packet): unknown {
  if (expression.ct?.key === 'state') return packet.state
  if (expression.payload?.field === 'saddr') return packet.src
  if (expression.payload?.field === 'daddr') return packet.dst
  if (expression.meta?.key === 'l4proto') return packet.protocol
  if (expression.payload?.field === 'dport') return packet.dport
  if (expression.concat !== undefined) return expression.concat.map((part: Loose) => valueOf(part, packet))
  throw new Error(`the interpreter does not know ${JSON.stringify(expression)}`)
}

/** True when `value` equals `element` (an address, a number, a range, a concatenation). */
function elementMatches(value: unknown, element: Loose): boolean {
  if (Array.isArray(value)) return Array.isArray(element?.concat) && value.every((part, i) => elementMatches(part, element.concat[i]))
  if (element?.range !== undefined) {
    const [first, last] = element.range
    if (typeof value === 'number') return first <= value && value <= last
    return ipNumber(first) <= ipNumber(String(value)) && ipNumber(String(value)) <= ipNumber(last)
  }
  return value === element
}

function setElements(desired: DesiredRuleset, reference: string): readonly Loose[] {
  const set = desired.sets.find((candidate) => `@${candidate.name}` === reference)
  if (set === undefined) throw new Error(`no set ${reference}`)
  return set.elements
}

type Outcome = 'accept' | 'drop' | 'return' | 'next'

function runChain(desired: DesiredRuleset, chain: string, packet: Packet, depth = 0): 'accept' | 'drop' | 'return' {
  if (depth > 8) throw new Error('chain loop')
  for (const rule of desired.rules.filter((candidate) => candidate.chain === chain)) {
    const outcome = runRule(desired, rule.expr as Loose[], packet, depth)
    if (outcome !== 'next') return outcome
  }
  return 'return'
}

function runRule(desired: DesiredRuleset, expressions: readonly Loose[], packet: Packet, depth: number): Outcome {
  for (const expression of expressions) {
    if (expression.match !== undefined) {
      const { op, left, right } = expression.match
      const value = valueOf(left, packet)
      const matched =
        typeof right === 'string' && right.startsWith('@')
          ? setElements(desired, right).some((element) => elementMatches(value, element))
          : op === 'in' && Array.isArray(right)
            ? right.includes(value)
            : elementMatches(value, right)
      if (!matched) return 'next'
    } else if (expression.vmap !== undefined) {
      const value = valueOf(expression.vmap.key, packet)
      const entry = setElements(desired, expression.vmap.data).find((element) => elementMatches(value, element[0]))
      if (entry === undefined) return 'next'
      const result = runChain(desired, entry[1].jump.target, packet, depth + 1)
      if (result !== 'return') return result
      return 'next'
    } else if ('accept' in expression) return 'accept'
    else if ('drop' in expression) return 'drop'
    else if ('return' in expression) return 'return'
    else throw new Error(`the interpreter does not know ${JSON.stringify(expression)}`)
  }
  return 'next'
}

/** What the forward hook does with `packet` (the base chain's policy is accept). */
function verdictOf(desired: DesiredRuleset, packet: Packet): 'accept' | 'drop' {
  const result = runChain(desired, 'forward', packet)
  return result === 'drop' ? 'drop' : 'accept'
}

// ---------------------------------------------------------------------------------------------
// A cluster of two nodes

interface PodFixture {
  readonly namespace: string
  readonly labels: Record<string, string>
  readonly node: string
  readonly ip: string
  readonly ports?: readonly Loose[]
  readonly phase?: string
  readonly hostNetwork?: boolean
}

const PODS: Record<string, PodFixture> = {
  'web-1': { namespace: 'default', labels: { app: 'web' }, node: 'n1', ip: '10.0.1.10', ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] },
  'web-2': { namespace: 'default', labels: { app: 'web' }, node: 'n2', ip: '10.0.2.10', ports: [{ name: 'http', containerPort: 9090 }] },
  'client-yes': { namespace: 'default', labels: { access: 'yes' }, node: 'n1', ip: '10.0.1.20' },
  'client-no': { namespace: 'default', labels: {}, node: 'n1', ip: '10.0.1.21' },
  'other-yes': { namespace: 'other', labels: { access: 'yes' }, node: 'n2', ip: '10.0.2.20' },
  'prod-db': { namespace: 'prod', labels: { app: 'db' }, node: 'n1', ip: '10.0.1.30', ports: [{ name: 'pg', containerPort: 5432 }] },
  finished: { namespace: 'default', labels: { app: 'web', access: 'yes' }, node: 'n1', ip: '10.0.1.99', phase: 'Succeeded' },
  'host-agent': { namespace: 'default', labels: { app: 'web' }, node: 'n1', ip: '192.168.0.1', hostNetwork: true },
}

const EXTERNAL = '192.168.50.5'

function podObject(name: string, fixture: PodFixture): KubeObject {
  return {
    metadata: { namespace: fixture.namespace, name, labels: fixture.labels },
    spec: { nodeName: fixture.node, hostNetwork: fixture.hostNetwork ?? false, containers: [{ name: 'main', ports: fixture.ports ?? [] }] },
    status: { podIP: fixture.ip, phase: fixture.phase ?? 'Running' },
  }
}

const POD_OBJECTS = Object.entries(PODS).map(([name, fixture]) => podObject(name, fixture))
/** `prod` has no Namespace object: it is matched by its kubernetes.io/metadata.name label only. */
const NAMESPACE_OBJECTS: KubeObject[] = [{ metadata: { name: 'default' } }, { metadata: { name: 'other', labels: { team: 'other' } } }]

function policy(name: string, spec: Loose, namespace = 'default'): KubeObject {
  return { metadata: { namespace, name }, spec }
}

const ipOf = (endpoint: string): string => PODS[endpoint]?.ip ?? endpoint

interface Flow {
  readonly from: string
  readonly to: string
  readonly port?: number
  readonly protocol?: Packet['protocol']
  readonly state?: Packet['state']
  readonly expect: 'accept' | 'drop'
}

interface Scenario {
  readonly name: string
  readonly policies: readonly KubeObject[]
  readonly node?: string
  readonly flows: readonly Flow[]
}

const SCENARIOS: readonly Scenario[] = [
  // Isolation
  {
    name: 'no policies: every flow is allowed',
    policies: [],
    flows: [{ from: 'client-no', to: 'web-1', port: 8080, expect: 'accept' }, { from: EXTERNAL, to: 'prod-db', port: 5432, expect: 'accept' }],
  },
  {
    name: 'default deny ingress (empty podSelector, no rules) isolates every pod of its namespace only',
    policies: [policy('deny', { podSelector: {}, policyTypes: ['Ingress'] })],
    flows: [
      { from: 'client-yes', to: 'web-1', port: 8080, expect: 'drop' },
      { from: 'web-1', to: 'client-no', port: 80, expect: 'drop' },
      { from: 'client-no', to: 'prod-db', port: 5432, expect: 'accept' },
      { from: 'web-1', to: EXTERNAL, port: 443, expect: 'accept' },
    ],
  },
  {
    name: 'replies of allowed connections pass (ct state established)',
    policies: [policy('deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    flows: [{ from: 'web-1', to: 'client-no', port: 40000, state: 'established', expect: 'accept' }, { from: 'web-1', to: 'client-no', port: 80, expect: 'drop' }],
  },
  // Peers
  {
    name: 'podSelector alone: pods of the policy\'s namespace',
    policies: [policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { access: 'yes' } } }] }] })],
    flows: [
      { from: 'client-yes', to: 'web-1', port: 8080, expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 8080, expect: 'drop' },
      { from: 'other-yes', to: 'web-1', port: 8080, expect: 'drop' },
      { from: 'client-no', to: 'client-yes', port: 8080, expect: 'accept' },
    ],
  },
  {
    name: 'namespaceSelector alone: every pod of the matching namespaces',
    policies: [policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'other' } } }] }] })],
    flows: [{ from: 'other-yes', to: 'web-1', port: 8080, expect: 'accept' }, { from: 'client-yes', to: 'web-1', port: 8080, expect: 'drop' }],
  },
  {
    name: 'both selectors in one peer: matching pods of matching namespaces',
    policies: [policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { access: 'yes' } } }] }] })],
    flows: [
      { from: 'other-yes', to: 'web-1', port: 8080, expect: 'accept' },
      { from: 'client-yes', to: 'web-1', port: 8080, expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 8080, expect: 'drop' },
      { from: EXTERNAL, to: 'web-1', port: 8080, expect: 'drop' },
    ],
  },
  {
    name: 'a namespace without an object is matched by kubernetes.io/metadata.name; matchExpressions work',
    policies: [
      policy('db', { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } }, podSelector: { matchExpressions: [{ key: 'access', operator: 'Exists' }] } }] }] }, 'prod'),
    ],
    flows: [{ from: 'client-yes', to: 'prod-db', port: 5432, expect: 'accept' }, { from: 'client-no', to: 'prod-db', port: 5432, expect: 'drop' }, { from: 'other-yes', to: 'prod-db', port: 5432, expect: 'drop' }],
  },
  {
    name: 'ipBlock: the CIDR minus its excepts',
    policies: [policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.1.21/32', '10.0.2.0/24'] } }] }] })],
    flows: [
      { from: 'client-yes', to: 'web-1', port: 8080, expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 8080, expect: 'drop' },
      { from: 'other-yes', to: 'web-1', port: 8080, expect: 'drop' },
      { from: EXTERNAL, to: 'web-1', port: 8080, expect: 'drop' },
    ],
  },
  {
    name: 'finished and hostNetwork pods are neither peers nor selected',
    policies: [policy('web', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] })],
    flows: [{ from: 'finished', to: 'client-no', port: 80, expect: 'drop' }, { from: 'web-1', to: 'client-no', port: 80, expect: 'accept' }, { from: 'client-no', to: 'host-agent', port: 10250, expect: 'accept' }],
  },
  // Ports
  {
    name: 'empty from: every source, on the listed ports only',
    policies: [policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 8080 }] }] })],
    flows: [{ from: EXTERNAL, to: 'web-1', port: 8080, expect: 'accept' }, { from: EXTERNAL, to: 'web-1', port: 22, expect: 'drop' }, { from: EXTERNAL, to: 'web-1', port: 8080, protocol: 'udp', expect: 'drop' }],
  },
  {
    name: 'endPort ranges and protocol-only ports',
    policies: [policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 8000, endPort: 8100 }, { protocol: 'UDP' }] }] })],
    flows: [
      { from: 'client-no', to: 'web-1', port: 8000, expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 8100, expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 8101, expect: 'drop' },
      { from: 'client-no', to: 'web-1', port: 5353, protocol: 'udp', expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 5353, protocol: 'sctp', expect: 'drop' },
    ],
  },
  {
    name: 'named ports resolve against the destination pod (n1: web-1 http=8080, dns=53/UDP)',
    policies: [policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 'http' }, { protocol: 'UDP', port: 'dns' }, { protocol: 'TCP', port: 'nowhere' }] }] })],
    flows: [
      { from: 'client-no', to: 'web-1', port: 8080, expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 9090, expect: 'drop' },
      { from: 'client-no', to: 'web-1', port: 53, protocol: 'udp', expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 53, protocol: 'tcp', expect: 'drop' },
    ],
  },
  {
    name: 'named ports resolve against the destination pod (n2: web-2 http=9090)',
    node: 'n2',
    policies: [policy('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 'http' }] }] })],
    flows: [{ from: 'client-no', to: 'web-2', port: 9090, expect: 'accept' }, { from: 'client-no', to: 'web-2', port: 8080, expect: 'drop' }],
  },
  // Egress and both directions
  {
    name: 'egress: only to the prod database on its named port',
    policies: [
      policy('clients', { podSelector: { matchLabels: { access: 'yes' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prod' } }, podSelector: { matchLabels: { app: 'db' } } }], ports: [{ protocol: 'TCP', port: 'pg' }] }] }),
    ],
    flows: [
      { from: 'client-yes', to: 'prod-db', port: 5432, expect: 'accept' },
      { from: 'client-yes', to: 'prod-db', port: 5433, expect: 'drop' },
      { from: 'client-yes', to: 'web-1', port: 8080, expect: 'drop' },
      { from: 'client-yes', to: EXTERNAL, port: 443, expect: 'drop' },
      { from: 'client-no', to: 'web-1', port: 8080, expect: 'accept' },
    ],
  },
  {
    name: 'egress without policyTypes: the egress rules isolate egress too',
    policies: [policy('clients', { podSelector: { matchLabels: { access: 'yes' } }, egress: [{ to: [{ ipBlock: { cidr: '192.168.0.0/16' } }] }] })],
    flows: [{ from: 'client-yes', to: EXTERNAL, port: 443, expect: 'accept' }, { from: 'client-yes', to: 'web-1', port: 8080, expect: 'drop' }, { from: 'client-no', to: 'client-yes', port: 80, expect: 'drop' }],
  },
  {
    name: 'two isolated local pods: the source\'s egress AND the destination\'s ingress must allow',
    policies: [
      policy('web-deny', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] }),
      policy('clients-egress', { podSelector: { matchLabels: { access: 'yes' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'web' } } }] }] }),
    ],
    flows: [{ from: 'client-yes', to: 'web-1', port: 8080, expect: 'drop' }, { from: 'client-yes', to: 'client-no', port: 80, expect: 'drop' }],
  },
  {
    name: 'two isolated local pods: allowed when both sides allow',
    policies: [
      policy('web-allow', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { access: 'yes' } } }] }] }),
      policy('clients-egress', { podSelector: { matchLabels: { access: 'yes' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'web' } } }] }] }),
      policy('no-egress', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Egress'] }, 'prod'),
    ],
    flows: [{ from: 'client-yes', to: 'web-1', port: 8080, expect: 'accept' }, { from: 'prod-db', to: 'web-1', port: 8080, expect: 'drop' }],
  },
  {
    name: 'the union of every policy selecting a pod',
    policies: [
      policy('from-access', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { access: 'yes' } } }] }] }),
      policy('from-other', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'other' } } }] }] }),
    ],
    flows: [
      { from: 'client-yes', to: 'web-1', port: 8080, expect: 'accept' },
      { from: 'other-yes', to: 'web-1', port: 8080, expect: 'accept' },
      { from: 'client-no', to: 'web-1', port: 8080, expect: 'drop' },
      { from: 'client-yes', to: 'client-no', port: 80, expect: 'drop' },
      { from: 'other-yes', to: 'client-no', port: 80, expect: 'accept' },
    ],
  },
  {
    name: 'only this node\'s pods are enforced here (web-2 lives on n2)',
    policies: [policy('deny-web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] }), policy('deny-out', { podSelector: { matchLabels: { access: 'yes' } }, policyTypes: ['Egress'] })],
    flows: [{ from: 'client-no', to: 'web-2', port: 9090, expect: 'accept' }, { from: 'client-no', to: 'web-1', port: 8080, expect: 'drop' }, { from: 'client-yes', to: 'web-2', port: 9090, expect: 'drop' }],
  },
]

for (const scenario of SCENARIOS) {
  t.test(`policyRules: ${scenario.name}`, async (t) => {
    const desired = policyRules({ policies: scenario.policies, pods: POD_OBJECTS, namespaces: NAMESPACE_OBJECTS, nodeName: scenario.node ?? 'n1' })
    for (const flow of scenario.flows) {
      const packet: Packet = { src: ipOf(flow.from), dst: ipOf(flow.to), protocol: flow.protocol ?? 'tcp', dport: flow.port ?? 80, state: flow.state ?? 'new' }
      t.equal(verdictOf(desired, packet), flow.expect, `${flow.from} → ${flow.to}:${packet.dport}/${packet.protocol}${flow.state === 'established' ? ' (reply)' : ''}`)
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Shape of the ruleset

t.test('policyRules: the rule count does not grow with pods; pods sharing policies share a chain', async (t) => {
  const podsOn = (count: number): KubeObject[] =>
    Array.from({ length: count }, (_, i) => podObject(`web-${i}`, { namespace: 'default', labels: { app: 'web', shard: String(i % 2) }, node: i % 3 === 0 ? 'n2' : 'n1', ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}` }))
  const policies = [
    policy('deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy('shard-0', { podSelector: { matchLabels: { shard: '0' } }, ingress: [{ from: [{ podSelector: { matchLabels: { shard: '1' } } }], ports: [{ protocol: 'TCP', port: 80 }] }] }),
    policy('egress', { podSelector: {}, egress: [{ to: [{ podSelector: {} }] }], policyTypes: ['Egress'] }),
  ]
  const small = policyRules({ policies, pods: podsOn(30), namespaces: [], nodeName: 'n1' })
  const large = policyRules({ policies, pods: podsOn(600), namespaces: [], nodeName: 'n1' })
  t.equal(large.rules.length, small.rules.length, `rules: ${small.rules.length} for 30 pods, ${large.rules.length} for 600`)
  t.equal(large.chains.length, small.chains.length, 'chains: one per group of policies, not per pod')
  t.equal(large.chains.length, 1 + 1 + 2, 'forward, one egress group, two ingress groups (shard 0 and 1)')
  const ingressPods = large.sets.find((set) => set.name === 'ingress-pods')
  t.equal(ingressPods?.elements.length, 400, 'one map element per local pod')
  const everyPod = large.sets.find((set) => set.name.startsWith('peers-') && set.name.includes('egress'))
  t.same(everyPod?.elements, [{ range: ['10.1.0.1', '10.1.0.250'] }, { range: ['10.1.1.1', '10.1.1.250'] }, { range: ['10.1.2.1', '10.1.2.100'] }], 'peer sets hold merged ranges: consecutive addresses collapse')
})

t.test('policyRules: deterministic whatever the input order', async (t) => {
  const policies = SCENARIOS.flatMap((scenario) => scenario.policies).map((object, i) => ({ ...object, metadata: { ...(object['metadata'] as object), name: `p${i}` } }))
  const forward = policyRules({ policies, pods: POD_OBJECTS, namespaces: NAMESPACE_OBJECTS, nodeName: 'n1' })
  const reversed = policyRules({ policies: [...policies].reverse(), pods: [...POD_OBJECTS].reverse(), namespaces: [...NAMESPACE_OBJECTS].reverse(), nodeName: 'n1' })
  t.equal(JSON.stringify(reversed), JSON.stringify(forward))
})

t.test('policySyncBatch: one transaction in our own table that deletes what is no longer wanted', async (t) => {
  const desired = policyRules({ policies: [policy('deny', { podSelector: {} })], pods: POD_OBJECTS, namespaces: NAMESPACE_OBJECTS, nodeName: 'n1' })
  const batch = policySyncBatch(desired, { chains: ['forward', 'ingress-OLD0000'], sets: ['peers-OLD'], maps: ['ingress-pods'] })
  const tables = new Set(batch.nftables.map((command) => JSON.stringify(command).match(/"(?:table|name)":"(flotilla-[a-z]+)"/)?.[1]))
  t.same([...tables], [POLICY_TABLE], 'every command names inet flotilla-policy')
  t.same(batch.nftables.slice(0, 2), [{ add: { table: { family: 'inet', name: POLICY_TABLE } } }, { flush: { table: { family: 'inet', name: POLICY_TABLE } } }])
  const deletes = batch.nftables.filter((command) => 'delete' in command)
  t.same(deletes, [{ delete: { chain: { family: 'inet', table: POLICY_TABLE, name: 'ingress-OLD0000' } } }, { delete: { set: { family: 'inet', table: POLICY_TABLE, name: 'peers-OLD' } } }])
  const forward = batch.nftables.find((command) => JSON.stringify(command).includes('"hook":"forward"'))
  t.match(forward, { add: { chain: { name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } } }, 'the forward hook only: host traffic (input/output) is never filtered')
})

t.test('ipv4 ranges: CIDRs, except holes and merging', async (t) => {
  t.same(ipv4CidrRange('10.0.0.7/24'), { first: 167772160, last: 167772415 }, 'host bits are ignored')
  t.equal(ipv4CidrRange('fd00::/64'), undefined)
  const block = ipv4CidrRange('10.0.0.0/24')
  t.ok(block !== undefined)
  if (block === undefined) return
  t.same(subtractRanges(block, [{ first: block.first, last: block.first }, { first: block.last, last: block.last }]), [{ first: block.first + 1, last: block.last - 1 }])
  t.same(subtractRanges(block, [block]), [])
  t.same(mergeRanges([{ first: 4, last: 6 }, { first: 1, last: 2 }, { first: 3, last: 3 }, { first: 10, last: 12 }, { first: 11, last: 11 }]), [{ first: 1, last: 6 }, { first: 10, last: 12 }])
})

// ---------------------------------------------------------------------------------------------
// The enforcer

function recordingTarget(): PolicyRulesetTarget & { batches: Loose[]; failNext: number } {
  const target = {
    batches: [] as Loose[],
    failNext: 0,
    readExisting: async () => ({ chains: [], sets: [], maps: [] }),
    apply: async (batch: Loose) => {
      if (target.failNext > 0) {
        target.failNext--
        throw new Error('nft refused the batch')
      }
      target.batches.push(batch)
    },
  }
  return target
}

/** Runs simulated time until the enforcer's pending timers and the target's promises settle. */
async function settle(timers: TimersSim, ms: number): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += 10) {
    timers.advance(10)
    for (let i = 0; i < 5; i++) await Promise.resolve()
  }
}

t.test('PolicyEnforcer: debounced, applies only changes, retries a refused batch', async (t) => {
  const timers = new TimersSim()
  const target = recordingTarget()
  const reports: Loose[] = []
  const enforcer = new PolicyEnforcer({ nodeName: 'n1', timers, target, debounceMs: 50, retryMs: 200, onSync: (report) => reports.push(report) })
  enforcer.setPods(POD_OBJECTS)
  enforcer.setNamespaces(NAMESPACE_OBJECTS)
  enforcer.upsertPolicy(policy('deny', { podSelector: {}, policyTypes: ['Ingress'] }))
  enforcer.start()
  await settle(timers, 40)
  t.equal(target.batches.length, 0, 'nothing before the quiet period ends')
  await settle(timers, 40)
  t.equal(target.batches.length, 1, 'one batch for the whole burst')
  t.match(JSON.stringify(target.batches[0]), /ingress-pods/)

  enforcer.upsertPod(podObject('client-no', PODS['client-no'] as PodFixture))
  await settle(timers, 100)
  t.equal(target.batches.length, 1, 'an unchanged ruleset is not re-applied')
  t.equal(reports.at(-1)?.applied, false)

  target.failNext = 1
  enforcer.removePolicy('default', 'deny')
  await settle(timers, 100)
  t.ok(reports.at(-1)?.error instanceof Error, 'the refused batch is reported')
  t.equal(target.batches.length, 1)
  await settle(timers, 250)
  t.equal(target.batches.length, 2, 'and retried')
  t.notMatch(JSON.stringify(target.batches[1]), /10\.0\.1\.10/, 'without the policy no pod is isolated')
  await enforcer.stop()
})

// ---------------------------------------------------------------------------------------------
// The API

function netpol(spec: Loose, name = 'web'): Loose {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'default' }, spec }
}

t.test('defaults: podSelector, policyTypes from the rules, TCP ports', async (t) => {
  t.same(defaulted('NetworkPolicy', netpol({})).spec, { podSelector: {}, policyTypes: ['Ingress'] })
  const both = defaulted('NetworkPolicy', netpol({ podSelector: {}, ingress: [{ ports: [{ port: 80 }] }], egress: [{ ports: [{ port: 'dns', protocol: 'UDP' }] }] }))
  t.same(both.spec.policyTypes, ['Ingress', 'Egress'], 'Egress is added when there are egress rules')
  t.same(both.spec.ingress[0].ports, [{ port: 80, protocol: 'TCP' }])
  t.same(both.spec.egress[0].ports, [{ port: 'dns', protocol: 'UDP' }])
  t.same(defaulted('NetworkPolicy', netpol({ podSelector: {}, policyTypes: ['Egress'] })).spec.policyTypes, ['Egress'], 'listed types are kept')
  accepted(t, 'NetworkPolicy', netpol({ podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: {}, namespaceSelector: {} }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 8000, endPort: 9000 }, { port: 'http' }, { protocol: 'UDP' }] }] }))
})

t.test('validation: selectors, ports, peers, ipBlocks, policyTypes', async (t) => {
  const ingress = (rule: Loose): Loose => netpol({ podSelector: {}, ingress: [rule] })
  refused(t, 'NetworkPolicy', netpol({ podSelector: { matchLabels: { 'bad key!': 'x' } } }), { field: 'spec.podSelector.matchLabels', type: 'FieldValueInvalid' })
  refused(t, 'NetworkPolicy', ingress({ ports: [{ port: 0 }] }), { field: 'spec.ingress[0].ports[0].port', type: 'FieldValueInvalid', detail: 'must be between 1 and 65535, inclusive' })
  refused(t, 'NetworkPolicy', ingress({ ports: [{ port: 70000 }] }), { field: 'spec.ingress[0].ports[0].port', type: 'FieldValueInvalid', detail: 'between 1 and 65535' })
  refused(t, 'NetworkPolicy', ingress({ ports: [{ port: 'Not_A_Name' }] }), { field: 'spec.ingress[0].ports[0].port', type: 'FieldValueInvalid', detail: 'alpha-numeric' })
  refused(t, 'NetworkPolicy', ingress({ ports: [{ port: 'averyveryverylongname' }] }), { field: 'spec.ingress[0].ports[0].port', type: 'FieldValueInvalid', detail: 'no more than 15 characters' })
  refused(t, 'NetworkPolicy', ingress({ ports: [{ port: 'http', protocol: 'ICMP' }] }), { field: 'spec.ingress[0].ports[0].protocol', type: 'FieldValueNotSupported' })
  refused(t, 'NetworkPolicy', ingress({ ports: [{ port: 90, endPort: 80 }] }), { field: 'spec.ingress[0].ports[0].endPort', type: 'FieldValueInvalid', detail: 'must be greater than or equal to `port`' })
  refused(t, 'NetworkPolicy', ingress({ ports: [{ port: 'http', endPort: 80 }] }), { field: 'spec.ingress[0].ports[0].endPort', type: 'FieldValueInvalid', detail: 'may not be specified when `port` is non-numeric' })
  refused(t, 'NetworkPolicy', ingress({ ports: [{ endPort: 80 }] }), { field: 'spec.ingress[0].ports[0].endPort', type: 'FieldValueInvalid', detail: 'may not be specified when `port` is not specified' })
  refused(t, 'NetworkPolicy', ingress({ from: [{}] }), { field: 'spec.ingress[0].from[0]', type: 'FieldValueRequired', detail: 'must specify a peer' })
  refused(t, 'NetworkPolicy', ingress({ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }), { field: 'spec.ingress[0].from[0]', type: 'FieldValueForbidden', detail: 'may not specify both ipBlock and another peer' })
  refused(t, 'NetworkPolicy', ingress({ from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In' }] } }] }), { field: 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values', type: 'FieldValueRequired' })
  refused(t, 'NetworkPolicy', ingress({ from: [{ ipBlock: {} }] }), { field: 'spec.ingress[0].from[0].ipBlock.cidr', type: 'FieldValueRequired' })
  refused(t, 'NetworkPolicy', ingress({ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }), { field: 'spec.ingress[0].from[0].ipBlock.cidr', type: 'FieldValueInvalid', detail: 'must be a valid CIDR value' })
  refused(t, 'NetworkPolicy', ingress({ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }), { field: 'spec.ingress[0].from[0].ipBlock.except[0]', type: 'FieldValueInvalid', detail: 'must be a strict subset of `cidr`' })
  refused(t, 'NetworkPolicy', ingress({ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] } }] }), { field: 'spec.ingress[0].from[0].ipBlock.except[0]', type: 'FieldValueInvalid', detail: 'strict subset' })
  accepted(t, 'NetworkPolicy', ingress({ from: [{ ipBlock: { cidr: 'fd00::/48', except: ['fd00:0:0:1::/64'] } }] }), undefined, 'IPv6 blocks are valid')
  refused(t, 'NetworkPolicy', netpol({ podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: 'nope' } }] }] }), { field: 'spec.egress[0].to[0].ipBlock.cidr', type: 'FieldValueInvalid' })
  refused(t, 'NetworkPolicy', netpol({ podSelector: {}, policyTypes: ['Ingress', 'Sideways'] }), { field: 'spec.policyTypes[1]', type: 'FieldValueNotSupported', detail: 'supported values: "Ingress", "Egress"' })
  refused(t, 'NetworkPolicy', netpol({ podSelector: {}, policyTypes: ['Ingress', 'Egress', 'Ingress'] }), { field: 'spec.policyTypes', type: 'FieldValueInvalid', detail: 'may not specify more than two policyTypes' })
})

t.test('Table: NAME POD-SELECTOR AGE', async (t) => {
  const now = Date.parse('2024-01-01T00:10:00Z')
  const selecting = netpol({ podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] } })
  selecting.metadata.creationTimestamp = '2024-01-01T00:00:00Z'
  const table = buildTable('NetworkPolicy', [selecting, netpol({ podSelector: {} }, 'deny-all')], '1', now) as Loose
  t.same(table.columnDefinitions.map((column: Loose) => column.name), ['Name', 'Pod-Selector', 'Age'])
  t.same(table.rows[0].cells, ['web', 'app=web,tier in (a,b)', '10m'])
  t.same(table.rows[1].cells.slice(0, 2), ['deny-all', '<none>'], 'an empty selector prints <none>, as kubectl does')
})

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

t.test('over HTTP: discovery with netpol, create with defaults, 422 with causes, Table', async (t) => {
  const api = await harness(t)
  const groups = (await api.get('/apis')).json
  t.ok(groups.groups.some((group: Loose) => group.name === 'networking.k8s.io' && group.preferredVersion.groupVersion === 'networking.k8s.io/v1'), '/apis lists networking.k8s.io')
  const resources = (await api.get('/apis/networking.k8s.io/v1')).json
  t.same(resources.resources.map((resource: Loose) => [resource.name, resource.kind, resource.namespaced, resource.shortNames]), [['networkpolicies', 'NetworkPolicy', true, ['netpol']]])

  const path = '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies'
  const created = await api.post(path, netpol({ podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { access: 'yes' } } }], ports: [{ port: 8080 }] }] }))
  t.equal(created.status, 201, created.text)
  t.same(created.json.spec.policyTypes, ['Ingress'])
  t.same(created.json.spec.ingress[0].ports, [{ port: 8080, protocol: 'TCP' }])

  const bad = await api.post(path, netpol({ podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }], from: [{}] }] }, 'bad'))
  t.equal(bad.status, 422)
  t.equal(bad.json.details.group, 'networking.k8s.io')
  t.same(bad.json.details.causes.map((cause: Loose) => [cause.reason, cause.field]), [['FieldValueInvalid', 'spec.ingress[0].ports[0].endPort'], ['FieldValueRequired', 'spec.ingress[0].from[0]']])
  t.match(bad.json.message, /NetworkPolicy.networking.k8s.io "bad" is invalid/)

  const table = (await api.get(path, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' })).json
  t.same(table.rows.map((row: Loose) => row.cells.slice(0, 2)), [['web', 'app=web']])
})
