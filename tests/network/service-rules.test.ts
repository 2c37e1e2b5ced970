/**
 * The service proxy's desired ruleset (pure): ClusterIP balancing over ready endpoints, NodePort,
 * LoadBalancer ingress IPs, ClientIP affinity, externalTrafficPolicy Local, Services without endpoints, the sync batch's
 * deletions, determinism; and the ServiceProxy loop's debounce and change detection against a
 * recording target with simulated time.
 */
import t from 'tap'
import { TimersSim } from '../../lib/timers.ts'
import { ServiceProxy, type RulesetTarget } from '../../network/src/service-proxy/service-proxy.ts'
import {
  AFFINITY_TIMEOUT_DEFAULT_SECONDS,
  endpointsForPort,
  existingObjectsOf,
  serviceRules,
  syncBatch,
  type DesiredRuleset,
  type KubeObject,
  type RuleSpec,
} from '../../network/src/service-proxy/service-rules.ts'

const NODE = { name: 'n1', nodeIps: ['192.168.7.1'] }

function service(name: string, spec: Record<string, unknown>): KubeObject {
  return { metadata: { namespace: 'default', name }, spec }
}

interface EndpointInput {
  readonly ip: string
  readonly ready?: boolean
  readonly serving?: boolean
  readonly terminating?: boolean
  readonly node?: string
}

function slice(serviceName: string, endpoints: readonly EndpointInput[], port = 8080, portName = 'http', sliceName = `${serviceName}-x1`): KubeObject {
  return {
    metadata: { namespace: 'default', name: sliceName, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      ...(e.node === undefined ? {} : { nodeName: e.node }),
    })),
  }
}

function web(extra: Record<string, unknown> = {}): KubeObject {
  return service('web', { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...extra })
}

/** The element list of a set or map in the desired ruleset. */
function elementsOf(desired: DesiredRuleset, name: string): readonly unknown[] {
  const set = desired.sets.find((s) => s.name === name)
  if (set === undefined) throw new Error(`no set ${name}`)
  return set.elements ?? []
}

function rulesOf(desired: DesiredRuleset, chainPrefix: string): RuleSpec[] {
  return desired.rules.filter((rule) => rule.chain.startsWith(chainPrefix))
}

/** The chains a numgen vmap picks from, in the rule of `chain`. */
function numgenTargets(rule: RuleSpec): { mod: number; targets: string[] } {
  const vmap = (rule.expr[0] as { vmap: { key: { numgen: { mod: number } }; data: { set: [number, { goto: { target: string } }][] } } }).vmap
  return { mod: vmap.key.numgen.mod, targets: vmap.data.set.map(([, verdict]) => verdict.goto.target) }
}

function dnatTargets(desired: DesiredRuleset): string[] {
  return desired.rules.flatMap((rule) => rule.expr.flatMap((e) => {
    const dnat = (e as { dnat?: { addr: string; port: number } }).dnat
    return dnat === undefined ? [] : [`${dnat.addr}:${dnat.port}`]
  })).sort()
}

t.test('ClusterIP: DNAT with numgen over the ready endpoints only', async (t) => {
  const desired = serviceRules({
    services: [web()],
    endpointSlices: [slice('web', [{ ip: '10.244.1.3' }, { ip: '10.244.1.20' }, { ip: '10.244.1.4', ready: false, serving: true }, { ip: '10.244.1.5', ready: false, serving: true, terminating: true }])],
    node: NODE,
  })
  t.same(dnatTargets(desired), ['10.244.1.20:8080', '10.244.1.3:8080'], 'serving-but-not-ready and terminating endpoints are left out')
  const [entry] = elementsOf(desired, 'service-ips') as [unknown, { goto: { target: string } }][]
  t.ok(entry, 'the VIP is in the service-ips map')
  t.same(entry?.[0], { concat: ['10.96.0.10', 'tcp', 80] })
  const serviceChain = entry?.[1].goto.target ?? ''
  const [balance] = desired.rules.filter((rule) => rule.chain === serviceChain)
  t.ok(balance, 'the service chain balances')
  const { mod, targets } = numgenTargets(balance as RuleSpec)
  t.equal(mod, 2)
  t.equal(targets.length, 2)
  t.ok(targets[0]?.includes('10.244.1.3/8080') && targets[1]?.includes('10.244.1.20/8080'), 'endpoints in numeric address order')
  t.same(elementsOf(desired, 'no-endpoint-services'), [])
  // Hairpin: each endpoint chain marks traffic from the endpoint itself for masquerade.
  const endpointRules = rulesOf(desired, 'endpoint-')
  t.ok(endpointRules.some((rule) => JSON.stringify(rule.expr).includes('"right":"10.244.1.3"') && JSON.stringify(rule.expr).includes('"mangle"')), 'hairpin mark')
  t.ok(desired.rules.some((rule) => rule.chain === 'nat-postrouting' && JSON.stringify(rule.expr).includes('masquerade')), 'postrouting masquerades marked traffic')
})

t.test('endpoint conditions: terminating endpoints serve only when none is ready', async (t) => {
  const onlyTerminating = [slice('web', [{ ip: '10.244.1.5', ready: false, serving: true, terminating: true }, { ip: '10.244.1.6', ready: false, serving: false, terminating: true }])]
  t.same(endpointsForPort(onlyTerminating, 'http', 'tcp').map((e) => e.ip), ['10.244.1.5'], 'serving terminating endpoint used as a fallback')
  const mixed = [slice('web', [{ ip: '10.244.1.5', ready: false, serving: true, terminating: true }, { ip: '10.244.1.7' }])]
  t.same(endpointsForPort(mixed, 'http', 'tcp').map((e) => e.ip), ['10.244.1.7'])
  const unset = [{ ...slice('web', []), endpoints: [{ addresses: ['10.244.1.8'] }] }]
  t.same(endpointsForPort(unset, 'http', 'tcp').map((e) => e.ip), ['10.244.1.8'], 'unset conditions mean ready')
  t.same(endpointsForPort(mixed, 'other', 'tcp'), [], 'a port name the slice lacks has no endpoints')
  t.same(endpointsForPort([{ ...mixed[0], addressType: 'IPv6' }], 'http', 'tcp'), [], 'IPv6 slices are ignored')
})

t.test('no endpoints: no DNAT, the VIP is rejected in the filter chains', async (t) => {
  const desired = serviceRules({ services: [web()], endpointSlices: [slice('web', [{ ip: '10.244.1.4', ready: false, serving: false }])], node: NODE })
  t.same(elementsOf(desired, 'service-ips'), [])
  t.same(elementsOf(desired, 'no-endpoint-services'), [[{ concat: ['10.96.0.10', 'tcp', 80] }, { goto: { target: 'reject-chain' } }]])
  t.same(desired.rules.filter((rule) => rule.chain === 'reject-chain').map((rule) => rule.expr), [[{ reject: { type: 'icmp', expr: 'port-unreachable' } }]])
  t.same(dnatTargets(desired), [])
})

t.test('headless and ExternalName Services get no rules', async (t) => {
  const desired = serviceRules({
    services: [web({ clusterIP: 'None' }), service('ext', { type: 'ExternalName', externalName: 'example.com' })],
    endpointSlices: [slice('web', [{ ip: '10.244.1.3' }])],
    node: NODE,
  })
  t.same(elementsOf(desired, 'service-ips'), [])
  t.same(elementsOf(desired, 'no-endpoint-services'), [])
  t.same(dnatTargets(desired), [])
})

t.test('NodePort (Cluster): on the node IPs, masqueraded, over every endpoint', async (t) => {
  const desired = serviceRules({
    services: [web({ type: 'NodePort', externalTrafficPolicy: 'Cluster', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] })],
    endpointSlices: [slice('web', [{ ip: '10.244.1.3', node: 'n1' }, { ip: '10.244.2.3', node: 'n2' }])],
    node: { name: 'n1', nodeIps: ['192.168.7.2', '192.168.7.1', 'fe80::1'] },
  })
  t.same(elementsOf(desired, 'nodeport-ips'), ['192.168.7.1', '192.168.7.2'], 'IPv4 node addresses, sorted')
  const [entry] = elementsOf(desired, 'service-nodeports') as [unknown, { goto: { target: string } }][]
  t.same(entry?.[0], { concat: ['tcp', 30080] })
  const external = desired.rules.filter((rule) => rule.chain === entry?.[1].goto.target)
  t.equal(external.length, 2)
  t.match(JSON.stringify(external[0]?.expr), /"mangle".*16384/, 'external traffic is marked for masquerade')
  t.match(JSON.stringify(external[1]?.expr), /"goto":\{"target":"service-/, 'then balanced like the ClusterIP')
  t.equal(elementsOf(desired, 'service-ips').length, 1, 'the ClusterIP still works')
})

t.test('NodePort with externalTrafficPolicy Local: only local endpoints, no masquerade', async (t) => {
  const spec = { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] }
  const slices = [slice('web', [{ ip: '10.244.1.3', node: 'n1' }, { ip: '10.244.2.3', node: 'n2' }])]
  const onN1 = serviceRules({ services: [web(spec)], endpointSlices: slices, node: NODE })
  const [entry] = elementsOf(onN1, 'service-nodeports') as [unknown, { goto: { target: string } }][]
  const external = onN1.rules.filter((rule) => rule.chain === entry?.[1].goto.target)
  t.equal(external.length, 1)
  const { mod, targets } = numgenTargets(external[0] as RuleSpec)
  t.equal(mod, 1)
  t.match(targets[0], /10\.244\.1\.3\/8080$/)
  t.notMatch(JSON.stringify(external), /mangle/, 'no masquerade mark: the pod sees the client address')
  // The ClusterIP still balances over both.
  const clusterChain = (elementsOf(onN1, 'service-ips')[0] as [unknown, { goto: { target: string } }])[1].goto.target
  t.equal(numgenTargets(onN1.rules.find((rule) => rule.chain === clusterChain) as RuleSpec).mod, 2)

  const onN3 = serviceRules({ services: [web(spec)], endpointSlices: slices, node: { name: 'n3', nodeIps: ['192.168.7.3'] } })
  t.same(elementsOf(onN3, 'service-nodeports'), [])
  t.same(elementsOf(onN3, 'no-endpoint-nodeports'), [[{ concat: ['tcp', 30080] }, { goto: { target: 'reject-chain' } }]], 'no local endpoint: rejected')
})

/** A LoadBalancer Service `web` with NodePort 30080 and `ingressIps` in its status. */
function loadBalancer(ingressIps: readonly string[], extra: Record<string, unknown> = {}): KubeObject {
  return {
    ...web({ type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }], ...extra }),
    status: { loadBalancer: { ingress: ingressIps.map((ip) => ({ ip })) } },
  }
}

/** The service-ips entries of `desired` as `ip:port → target chain`. */
function serviceIpTargets(desired: DesiredRuleset): Map<string, string> {
  const entries = elementsOf(desired, 'service-ips') as [{ concat: [string, string, number] }, { goto: { target: string } }][]
  return new Map(entries.map(([key, verdict]) => [`${key.concat[0]}:${key.concat[2]}`, verdict.goto.target]))
}

t.test('LoadBalancer (Cluster): the ingress IP enters the external chain, masqueraded, over every endpoint', async (t) => {
  const slices = [slice('web', [{ ip: '10.244.1.3', node: 'n1' }, { ip: '10.244.2.3', node: 'n2' }])]
  for (const node of [NODE, { name: 'n3', nodeIps: ['192.168.7.3'] }]) {
    const desired = serviceRules({ services: [loadBalancer(['10.250.0.200'])], endpointSlices: slices, node })
    const targets = serviceIpTargets(desired)
    t.same([...targets.keys()].sort(), ['10.250.0.200:80', '10.96.0.10:80'], `${node.name}: the ClusterIP and the LoadBalancer IP`)
    const externalChain = targets.get('10.250.0.200:80') ?? ''
    t.match(externalChain, /^external-/, `${node.name}: the LoadBalancer IP goes through the external chain`)
    const nodePort = (elementsOf(desired, 'service-nodeports') as [unknown, { goto: { target: string } }][])[0]
    t.equal(nodePort?.[1].goto.target, externalChain, `${node.name}: the same chain as the NodePort`)
    const external = desired.rules.filter((rule) => rule.chain === externalChain)
    t.match(JSON.stringify(external[0]?.expr), /"mangle".*16384/, `${node.name}: marked for masquerade`)
    t.same(external[1]?.expr, [{ goto: { target: targets.get('10.96.0.10:80') } }], `${node.name}: then balanced like the ClusterIP`)
  }
})

t.test('LoadBalancer with externalTrafficPolicy Local: local endpoints only; a node without one rejects', async (t) => {
  const services = [loadBalancer(['10.250.0.200'], { externalTrafficPolicy: 'Local' })]
  const slices = [slice('web', [{ ip: '10.244.1.3', node: 'n1' }, { ip: '10.244.2.3', node: 'n2' }])]
  const onN1 = serviceRules({ services, endpointSlices: slices, node: NODE })
  const externalChain = serviceIpTargets(onN1).get('10.250.0.200:80') ?? ''
  const external = onN1.rules.filter((rule) => rule.chain === externalChain)
  t.equal(external.length, 1)
  const { mod, targets } = numgenTargets(external[0] as RuleSpec)
  t.same([mod, targets.length], [1, 1])
  t.match(targets[0], /10\.244\.1\.3\/8080$/, 'only the endpoint on n1')
  t.notMatch(JSON.stringify(external), /mangle/, 'no masquerade: the pod sees the client address')

  const onN3 = serviceRules({ services, endpointSlices: slices, node: { name: 'n3', nodeIps: ['192.168.7.3'] } })
  t.notOk(serviceIpTargets(onN3).has('10.250.0.200:80'), 'n3 has no local endpoint: no DNAT for the LoadBalancer IP')
  t.same(elementsOf(onN3, 'no-endpoint-services'), [[{ concat: ['10.250.0.200', 'tcp', 80] }, { goto: { target: 'reject-chain' } }]], 'it is rejected instead')
  t.ok(serviceIpTargets(onN3).has('10.96.0.10:80'), 'the ClusterIP still balances over every endpoint')
})

t.test('LoadBalancer: pending, without endpoints, without node ports, and non-LoadBalancer statuses', async (t) => {
  const slices = [slice('web', [{ ip: '10.244.1.3', node: 'n1' }])]
  const pending = serviceRules({ services: [loadBalancer([])], endpointSlices: slices, node: NODE })
  t.same([...serviceIpTargets(pending).keys()], ['10.96.0.10:80'], 'a pending Service has only its ClusterIP')

  const empty = serviceRules({ services: [loadBalancer(['10.250.0.200'])], endpointSlices: [], node: NODE })
  t.same(elementsOf(empty, 'service-ips'), [])
  t.same(
    (elementsOf(empty, 'no-endpoint-services') as [{ concat: unknown[] }, unknown][]).map(([key]) => key.concat[0]).sort(),
    ['10.250.0.200', '10.96.0.10'],
    'without endpoints both the ClusterIP and the LoadBalancer IP are rejected',
  )

  const noNodePorts = serviceRules({ services: [loadBalancer(['10.250.0.201', '10.250.0.200', 'fd00::1'], { allocateLoadBalancerNodePorts: false, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] })], endpointSlices: slices, node: NODE })
  t.same([...serviceIpTargets(noNodePorts).keys()], ['10.96.0.10:80', '10.250.0.200:80', '10.250.0.201:80'], 'every IPv4 ingress IP, sorted, without a NodePort')
  t.same(elementsOf(noNodePorts, 'service-nodeports'), [])

  const stale = serviceRules({ services: [{ ...loadBalancer(['10.250.0.200']), spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } }], endpointSlices: slices, node: NODE })
  t.same([...serviceIpTargets(stale).keys()], ['10.96.0.10:80'], 'an ingress IP left on a Service that is no longer a LoadBalancer is ignored')
})

t.test('sessionAffinity ClientIP: a dynamic set per endpoint, checked before the random choice', async (t) => {
  const slices = [slice('web', [{ ip: '10.244.1.3' }, { ip: '10.244.1.4' }])]
  const desired = serviceRules({ services: [web({ sessionAffinity: 'ClientIP' })], endpointSlices: slices, node: NODE })
  const affinitySets = desired.sets.filter((set) => set.name.startsWith('affinity-'))
  t.equal(affinitySets.length, 2)
  t.ok(affinitySets.every((set) => set.timeoutSeconds === AFFINITY_TIMEOUT_DEFAULT_SECONDS && set.elements === undefined), 'default 10800 s, elements owned by the data path')
  const clusterChain = (elementsOf(desired, 'service-ips')[0] as [unknown, { goto: { target: string } }])[1].goto.target
  const serviceRulesOfChain = desired.rules.filter((rule) => rule.chain === clusterChain)
  t.equal(serviceRulesOfChain.length, 3, 'two affinity lookups, then numgen')
  t.match(JSON.stringify(serviceRulesOfChain[0]?.expr), /"right":"@affinity-.*"goto"/)
  t.ok(rulesOf(desired, 'endpoint-').some((rule) => JSON.stringify(rule.expr).includes('"op":"update"')), 'endpoint chains record the client')

  const custom = serviceRules({ services: [web({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })], endpointSlices: slices, node: NODE })
  t.ok(custom.sets.filter((set) => set.name.startsWith('affinity-')).every((set) => set.timeoutSeconds === 60 && set.name.endsWith('-60s')), 'timeoutSeconds honoured (and part of the name)')

  // A sync never re-declares or flushes an affinity set that exists, so affinity survives syncs.
  const existing = { chains: [], sets: affinitySets.map((set) => set.name), maps: [] }
  const batch = JSON.stringify(syncBatch(desired, existing))
  for (const set of affinitySets) t.notOk(batch.includes(`"name":"${set.name}"`), `${set.name} left alone`)
  t.ok(JSON.stringify(syncBatch(desired)).includes(`"name":"${affinitySets[0]?.name}"`), 'declared when absent')
})

t.test('the sync batch: one flush-and-rebuild of our table, stale objects deleted', async (t) => {
  const desired = serviceRules({ services: [web()], endpointSlices: [slice('web', [{ ip: '10.244.1.3' }])], node: NODE })
  const batch = syncBatch(desired, { chains: ['endpoint-OLD-default/web/tcp/http__10.244.1.9/8080', 'services'], sets: ['affinity-OLD-10800s'], maps: ['service-ips'] })
  t.same(batch.nftables.slice(0, 2), [{ add: { table: { family: 'ip', name: 'flotilla-proxy' } } }, { flush: { table: { family: 'ip', name: 'flotilla-proxy' } } }])
  t.same(batch.nftables.slice(-2), [
    { delete: { chain: { family: 'ip', table: 'flotilla-proxy', name: 'endpoint-OLD-default/web/tcp/http__10.244.1.9/8080' } } },
    { delete: { set: { family: 'ip', table: 'flotilla-proxy', name: 'affinity-OLD-10800s' } } },
  ])
  const tables = new Set(batch.nftables.map((command) => JSON.stringify(command).match(/"table":"([^"]+)"/)?.[1] ?? JSON.stringify(command).match(/"name":"(flotilla-proxy)"/)?.[1]))
  t.same([...tables], ['flotilla-proxy'], 'only our table is ever named')
  t.ok(batch.nftables.some((command) => JSON.stringify(command) === JSON.stringify({ flush: { map: { family: 'ip', table: 'flotilla-proxy', name: 'service-ips' } } })), 'owned maps are flushed and refilled')
})

t.test('existingObjectsOf reads names from an nft -j listing', async (t) => {
  const listing = {
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'ip', name: 'flotilla-proxy', handle: 1 } },
      { chain: { family: 'ip', table: 'flotilla-proxy', name: 'services', handle: 2 } },
      { set: { family: 'ip', table: 'flotilla-proxy', name: 'nodeport-ips', handle: 3 } },
      { map: { family: 'ip', table: 'flotilla-proxy', name: 'service-ips', handle: 4 } },
      { rule: { family: 'ip', table: 'flotilla-proxy', chain: 'services', expr: [] } },
    ],
  }
  t.same(existingObjectsOf(listing), { chains: ['services'], sets: ['nodeport-ips'], maps: ['service-ips'] })
})

t.test('determinism: input order does not matter, unchanged input gives identical JSON', async (t) => {
  const services = [
    web({ sessionAffinity: 'ClientIP' }),
    service('api', { type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ name: 'b', port: 81, protocol: 'TCP', nodePort: 30081 }, { name: 'a', port: 53, protocol: 'UDP', nodePort: 30053 }] }),
  ]
  const slices = [
    slice('web', [{ ip: '10.244.1.30' }, { ip: '10.244.1.4' }, { ip: '10.244.2.3' }], 8080, 'http', 'web-a'),
    slice('web', [{ ip: '10.244.3.3' }], 8080, 'http', 'web-b'),
    { ...slice('api', [{ ip: '10.244.2.9' }, { ip: '10.244.1.9' }], 9090, 'b'), ports: [{ name: 'b', port: 9090, protocol: 'TCP' }, { name: 'a', port: 5353, protocol: 'UDP' }] },
  ]
  const one = JSON.stringify(syncBatch(serviceRules({ services, endpointSlices: slices, node: NODE })))
  const again = JSON.stringify(syncBatch(serviceRules({ services: [...services], endpointSlices: [...slices], node: NODE })))
  const reversed = JSON.stringify(syncBatch(serviceRules({ services: [...services].reverse(), endpointSlices: [...slices].reverse(), node: { ...NODE, nodeIps: [...NODE.nodeIps].reverse() } })))
  t.equal(again, one)
  t.equal(reversed, one)
  t.same(dnatTargets(serviceRules({ services, endpointSlices: slices, node: NODE })), ['10.244.1.30:8080', '10.244.1.4:8080', '10.244.1.9:5353', '10.244.1.9:9090', '10.244.2.3:8080', '10.244.2.9:5353', '10.244.2.9:9090', '10.244.3.3:8080'])
})

t.test('ServiceProxy: debounced, applies only changes, retries failures', async (t) => {
  const timers = new TimersSim()
  const applied: string[] = []
  let failNext = false
  const target: RulesetTarget = {
    readExisting: async () => ({ chains: [], sets: [], maps: [] }),
    apply: async (batch) => {
      if (failNext) {
        failNext = false
        throw new Error('refused')
      }
      applied.push(JSON.stringify(batch))
    },
  }
  const reports: { applied: boolean; error?: unknown }[] = []
  const proxy = new ServiceProxy({ node: NODE, timers, target, debounceMs: 100, retryMs: 1000, onSync: (report) => reports.push(report) })
  const settle = async (ms: number): Promise<void> => {
    timers.advance(ms)
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
  }
  proxy.start()
  proxy.setServices([web()])
  proxy.setEndpointSlices([slice('web', [{ ip: '10.244.1.3' }])])
  await settle(99)
  t.equal(applied.length, 0, 'nothing before the quiet period ends')
  await settle(1)
  t.equal(applied.length, 1, 'a burst of changes costs one apply')
  t.match(applied[0], /10\.244\.1\.3/)

  proxy.upsertService(web())
  await settle(100)
  t.equal(applied.length, 1, 'an unchanged ruleset is not applied again')
  t.equal(reports.at(-1)?.applied, false)

  failNext = true
  proxy.upsertEndpointSlice(slice('web', [{ ip: '10.244.1.4' }]))
  await settle(100)
  t.equal(applied.length, 1)
  t.ok(reports.at(-1)?.error instanceof Error, 'the failure is reported')
  await settle(1000)
  t.equal(applied.length, 2, 'retried')
  t.match(applied[1], /10\.244\.1\.4/)

  proxy.removeService('default', 'web')
  await proxy.stop()
  await settle(1000)
  t.equal(applied.length, 2, 'nothing after stop')
})
