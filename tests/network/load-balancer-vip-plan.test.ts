// Goal: every node picks the same announcer for each LoadBalancer address, from alive, not
// NotReady, not excluded nodes (for externalTrafficPolicy Local, only nodes with a ready local
// endpoint); rendezvous hashing moves only the addresses of a node that goes away; and the
// announcer adds /32s with its label on the interface holding the underlay address, sends
// gratuitous ARP, removes what it no longer should hold, and cleans up on stop.
// Method: the pure planner over hand-made objects (50 services, node removal and addition); the
// VipAnnouncer against a fake `ip` that keeps an address table, with simulated time.
import t from 'tap'
import { TimersSim } from '../../lib/timers.ts'
import { Iproute2, IpCommandError, type IpExec } from '../../network/src/pod-network/ip.ts'
import { VipAnnouncer } from '../../network/src/load-balancer/vip-announcer.ts'
import { EXCLUDE_FROM_LOAD_BALANCERS_LABEL, planVipAssignments, rendezvousChoice, vipsFor, type KubeObject } from '../../network/src/load-balancer/vip-plan.ts'

function node(name: string, ready: 'True' | 'False' | 'Unknown' = 'True', labels: Record<string, string> = {}): KubeObject {
  return { metadata: { name, labels }, status: { conditions: [{ type: 'Ready', status: ready }] } }
}

function loadBalancer(name: string, ips: readonly string[], extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { namespace: 'default', name }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', ...extra }, status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } }
}

function slice(service: string, endpoints: ReadonlyArray<{ node: string; ready?: boolean; terminating?: boolean }>): KubeObject {
  return {
    metadata: { namespace: 'default', name: `${service}-abc`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: endpoints.map((endpoint, i) => ({ addresses: [`10.244.0.${i + 2}`], nodeName: endpoint.node, conditions: { ready: endpoint.ready ?? true, terminating: endpoint.terminating ?? false } })),
  }
}

/** Advances simulated time, then lets the announcer's promises (fake `ip` calls) settle. */
async function step(timers: TimersSim, ms: number): Promise<void> {
  timers.advance(ms)
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

const ALL_ALIVE = (_nodeName: string): boolean => true
const NODES = ['h1', 'h2', 'h3', 'h4', 'h5'].map((name) => node(name))
const MANY = Array.from({ length: 50 }, (_, i) => loadBalancer(`svc-${i}`, [`10.250.1.${i + 1}`]))

t.test('every address gets one announcer, the same whatever the input order', async (t) => {
  const forward = planVipAssignments({ services: MANY, nodes: NODES, endpointSlices: [], isAlive: ALL_ALIVE })
  const backward = planVipAssignments({ services: [...MANY].reverse(), nodes: [...NODES].reverse(), endpointSlices: [], isAlive: ALL_ALIVE })
  t.same(forward, backward, 'deterministic')
  t.equal(forward.length, 50)
  t.ok(forward.every((assignment) => assignment.node !== undefined), 'all announced')
  const perNode = new Map<string, number>()
  for (const assignment of forward) perNode.set(assignment.node!, (perNode.get(assignment.node!) ?? 0) + 1)
  t.equal(perNode.size, 5, `spread over every node: ${JSON.stringify(Object.fromEntries(perNode))}`)
  const union = NODES.flatMap((entry) => vipsFor(String((entry['metadata'] as { name: string }).name), forward))
  t.equal(new Set(union).size, 50, 'vipsFor partitions the addresses')
})

t.test('rendezvous stability: a dead node\'s addresses move, nobody else\'s do', async (t) => {
  const before = planVipAssignments({ services: MANY, nodes: NODES, endpointSlices: [], isAlive: ALL_ALIVE })
  const after = planVipAssignments({ services: MANY, nodes: NODES, endpointSlices: [], isAlive: (name) => name !== 'h3' })
  const moved = after.filter((assignment, i) => assignment.node !== before[i]!.node)
  t.ok(moved.length > 0, 'h3 announced something')
  t.ok(moved.every((assignment, i) => before.find((entry) => entry.ip === assignment.ip)?.node === 'h3' && assignment.node !== 'h3' && i >= 0), 'only h3\'s addresses moved, to live nodes')
  t.equal(moved.length, before.filter((assignment) => assignment.node === 'h3').length, 'all of h3\'s addresses moved')
  const back = planVipAssignments({ services: MANY, nodes: NODES, endpointSlices: [], isAlive: ALL_ALIVE })
  t.same(back, before, 'h3 back: the same assignment as before')
  const withNew = planVipAssignments({ services: MANY, nodes: [...NODES, node('h6')], endpointSlices: [], isAlive: ALL_ALIVE })
  const taken = withNew.filter((assignment, i) => assignment.node !== before[i]!.node)
  t.ok(taken.every((assignment) => assignment.node === 'h6'), 'a new node only takes addresses over')
})

t.test('eligibility: alive, Ready not False, not excluded, not being deleted', async (t) => {
  const candidates = (nodes: readonly KubeObject[], isAlive: (name: string) => boolean = ALL_ALIVE): string | undefined =>
    planVipAssignments({ services: [loadBalancer('web', ['10.250.0.200'])], nodes, endpointSlices: [], isAlive })[0]?.node
  t.equal(candidates([node('h1', 'False'), node('h2', 'False')]), undefined, 'NotReady nodes never announce')
  t.equal(candidates([node('h1', 'False'), node('h2', 'Unknown')]), 'h2', 'Unknown counts (liveness decides)')
  t.equal(candidates([node('h1'), node('h2')], (name) => name === 'h2'), 'h2', 'a silent node does not announce')
  t.equal(candidates([node('h1', 'True', { [EXCLUDE_FROM_LOAD_BALANCERS_LABEL]: '' }), node('h2')]), 'h2', 'the exclusion label')
  t.equal(candidates([{ ...node('h1'), metadata: { name: 'h1', deletionTimestamp: '2026-01-01T00:00:00Z' } }, node('h2')]), 'h2', 'a node being deleted')
  t.equal(candidates([]), undefined, 'no nodes: nobody')
})

t.test('externalTrafficPolicy Local: only nodes with a ready local endpoint', async (t) => {
  const service = loadBalancer('web', ['10.250.0.200'], { externalTrafficPolicy: 'Local' })
  const plan = (slices: readonly KubeObject[], isAlive = ALL_ALIVE): string | undefined => planVipAssignments({ services: [service], nodes: NODES, endpointSlices: slices, isAlive })[0]?.node
  t.equal(plan([slice('web', [{ node: 'h4' }])]), 'h4', 'the only node with an endpoint')
  t.equal(plan([slice('web', [{ node: 'h4', ready: false }, { node: 'h2', terminating: true }])]), undefined, 'unready and terminating endpoints do not count')
  t.equal(plan([slice('web', [{ node: 'h4' }, { node: 'h2' }])], (name) => name !== 'h4'), 'h2', 'a dead node with an endpoint does not count')
  t.equal(plan([slice('other', [{ node: 'h4' }])]), undefined, 'another Service\'s endpoints do not count')
  t.equal(rendezvousChoice('default/web', ['h2', 'h4']), plan([slice('web', [{ node: 'h4' }, { node: 'h2' }])]), 'rendezvous over the local nodes')
})

t.test('only LoadBalancer IPv4 ingress; a shared address is announced once', async (t) => {
  const assignments = planVipAssignments({
    services: [
      loadBalancer('b', ['10.250.0.200']),
      loadBalancer('a', ['10.250.0.200', 'fd00::1', 'nonsense']),
      { ...loadBalancer('c', ['10.250.0.201']), spec: { type: 'ClusterIP' } },
    ],
    nodes: NODES,
    endpointSlices: [],
    isAlive: ALL_ALIVE,
  })
  t.same(assignments.map((assignment) => [assignment.ip, assignment.service]), [['10.250.0.200', 'default/a']])
})

/** A fake `ip`: one interface holding the underlay address, and the addresses added to it. */
function fakeIp(interfaceName: string, underlayIp: string): { exec: IpExec; addresses: Map<string, string | undefined>; calls: string[] } {
  const addresses = new Map<string, string | undefined>()
  const calls: string[] = []
  const exec: IpExec = async (_tool, args) => {
    calls.push(args.join(' '))
    if (args.join(' ').startsWith('-j -4 addr show')) {
      const addrInfo = [{ family: 'inet', local: underlayIp, prefixlen: 24, label: interfaceName }, ...[...addresses].map(([ip, label]) => ({ family: 'inet', local: ip, prefixlen: 32, ...(label === undefined ? {} : { label }) }))]
      return JSON.stringify([{ ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] }, { ifname: interfaceName, addr_info: addrInfo }].filter((entry) => !args.includes('dev') || entry.ifname === args[args.indexOf('dev') + 1]))
    }
    const [verb, action, cidr] = args
    const ip = String(cidr).replace(/\/32$/, '')
    if (verb === 'addr' && action === 'add') {
      if (addresses.has(ip)) throw new IpCommandError(['ip', ...args], 'exit code 2', 'RTNETLINK answers: File exists')
      addresses.set(ip, args.includes('label') ? args[args.indexOf('label') + 1] : undefined)
      return ''
    }
    if (verb === 'addr' && action === 'del') {
      if (!addresses.delete(ip)) throw new IpCommandError(['ip', ...args], 'exit code 2', 'RTNETLINK answers: Cannot assign requested address')
      return ''
    }
    throw new Error(`unexpected ip ${args.join(' ')}`)
  }
  return { exec, addresses, calls }
}

t.test('VipAnnouncer: adds, announces, removes, forgets foreign addresses, cleans up on stop', async (t) => {
  const timers = new TimersSim()
  const ip = fakeIp('eth0', '10.250.0.1')
  // A leftover of a previous run (labelled) and an operator's address (unlabelled, not ours).
  ip.addresses.set('10.250.0.209', 'eth0:lb')
  ip.addresses.set('10.250.0.99', undefined)
  const arps: string[] = []
  let services: KubeObject[] = [loadBalancer('web', ['10.250.0.200'])]
  let alive = new Set(['h1', 'h2'])
  const nodes = [node('h1'), node('h2')]
  const owner = rendezvousChoice('default/web', ['h1', 'h2'])
  const self = owner!
  const other = self === 'h1' ? 'h2' : 'h1'
  const log: string[] = []
  const announcer = new VipAnnouncer({
    nodeName: self,
    underlayIp: '10.250.0.1',
    timers,
    snapshot: () => ({ services, nodes, endpointSlices: [] }),
    isAlive: (name) => alive.has(name),
    log: (line) => log.push(line),
    ip: new Iproute2(ip.exec),
    gratuitousArp: async (interfaceName, vip) => void arps.push(`${interfaceName} ${vip}`),
  })
  const first = await announcer.reconcileNow()
  t.same([first.interfaceName, first.added, first.removed], ['eth0', ['10.250.0.200'], ['10.250.0.209']], 'the interface holding the underlay address; the leftover is removed')
  t.same([...ip.addresses].sort(), [['10.250.0.200', 'eth0:lb'], ['10.250.0.99', undefined]], 'labelled /32; the foreign address is untouched')
  t.same(arps, ['eth0 10.250.0.200'], 'gratuitous ARP once')
  const again = await announcer.reconcileNow()
  t.same([again.added, again.removed, arps.length], [[], [], 1], 'nothing to do: nothing done')

  // The other node dies: still ours. Then we are not the choice any more (the Service moved away).
  alive = new Set([self])
  t.same((await announcer.reconcileNow()).added, [])
  services = [{ ...services[0]!, spec: { type: 'ClusterIP' } }]
  t.same((await announcer.reconcileNow()).removed, ['10.250.0.200'], 'no longer a LoadBalancer: removed')
  services = [loadBalancer('web', ['10.250.0.200'], { externalTrafficPolicy: 'Local' })]
  t.same((await announcer.reconcileNow()).added, [], 'Local without a local endpoint: not announced')

  // Periodic reconcile: start() and the timer pick up a change without a call.
  services = [loadBalancer('web', ['10.250.0.201'])]
  alive = new Set([self, other])
  announcer.start()
  await step(timers, 1)
  for (let i = 0; i < 20 && !ip.addresses.has('10.250.0.201'); i++) await step(timers, 1000)
  t.ok(ip.addresses.has('10.250.0.201'), 'the periodic reconcile added the new address')
  // Someone removed it behind our back: it comes back within an interval.
  ip.addresses.delete('10.250.0.201')
  for (let i = 0; i < 20 && !ip.addresses.has('10.250.0.201'); i++) await step(timers, 500)
  t.ok(ip.addresses.has('10.250.0.201'), 'repaired')
  await announcer.stop()
  t.same([...ip.addresses.keys()], ['10.250.0.99'], 'stop removes ours, only ours')
  const calls = ip.calls.length
  await step(timers, 5000)
  t.equal(ip.calls.length, calls, 'nothing after stop')
  t.ok(log.some((line) => /announcing 10\.250\.0\.200 \(default\/web\) on eth0/.test(line)), 'announcements are logged')
})

t.test('VipAnnouncer: no interface holds the underlay address → an error report, no changes', async (t) => {
  const ip = fakeIp('eth0', '10.250.0.1')
  const announcer = new VipAnnouncer({
    nodeName: 'h1',
    underlayIp: '10.9.9.9',
    timers: new TimersSim(),
    snapshot: () => ({ services: [loadBalancer('web', ['10.250.0.200'])], nodes: [node('h1')], endpointSlices: [] }),
    isAlive: ALL_ALIVE,
    log: () => {},
    ip: new Iproute2(ip.exec),
    gratuitousArp: async () => {},
  })
  const report = await announcer.reconcileNow()
  t.match(String(report.error), /no interface holds the underlay address 10\.9\.9\.9/)
  t.equal(ip.addresses.size, 0)
  await announcer.stop()
})
