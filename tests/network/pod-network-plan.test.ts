// Goal: the pod network's pure parts decide correctly — the overlay planner (host-gw routes;
// vxlan neighbour, FDB and onlink routes; conflicts left out with a reason), the diff that
// withdraws gone peers and rewrites changed ones, per-node pod IPAM (gateway and broadcast never
// handed out, stable per pod, persisted across restarts, never a duplicate, exhaustion as a named
// error), and the gossip service (announcements program peers; silence withdraws them).
// Method: plain calls; the service runs over in-memory gossip, simulated timers and a recording
// iproute2, so nothing touches the machine's network.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { TimersSim } from '../../lib/timers.ts'
import { GossipNetworkMemory } from '../../network/src/sim/gossip-memory.ts'
import { Iproute2, type IpExec } from '../../network/src/pod-network/ip.ts'
import { diffOverlay, planOverlay, vtepAddressOf, vtepMacFor, type OverlayAnnouncement } from '../../network/src/pod-network/overlay.ts'
import { PodCidrTooSmallError, PodIpam, PodSubnetExhaustedError } from '../../network/src/pod-network/pod-ipam.ts'
import { decodeAnnouncement, EXPIRY_INTERVALS, OVERLAY_TOPIC, PodNetwork } from '../../network/src/pod-network/pod-network.ts'
import { hostInterfaceName } from '../../network/src/pod-network/bridge-plumbing.ts'

function node(index: number, backend: OverlayAnnouncement['backend'] = 'vxlan', podCidr = `10.244.${index}.0/24`): OverlayAnnouncement {
  const underlayIp = `10.250.0.${index}`
  return { node: `h${index}`, backend, podCidr, underlayIp, vtepMac: vtepMacFor(underlayIp) }
}

function temporaryDirectory(t: { teardown(fn: () => void): void }): string {
  const directory = mkdtempSync(join(tmpdir(), 'flotilla-pod-network-'))
  t.teardown(() => rmSync(directory, { recursive: true, force: true }))
  return directory
}

t.test('VTEP MACs and addresses are derived, not random', async (t) => {
  t.equal(vtepMacFor('10.250.0.3'), '0e:00:0a:fa:00:03')
  t.equal(vtepMacFor('192.168.1.254'), '0e:00:c0:a8:01:fe')
  t.equal(vtepAddressOf('10.244.7.0/24'), '10.244.7.0')
  t.throws(() => vtepMacFor('not-an-ip'), { name: 'OverlayError' })
  t.match(hostInterfaceName('0b0c6a3e-1c1e-4d7f-9a1e-2f9a8f3c1d00'), /^vfl[0-9a-f]{12}$/, 'host veth names fit in 15 characters')
  t.not(hostInterfaceName('a'), hostInterfaceName('b'))
})

t.test('host-gw: one route per peer via its underlay address', async (t) => {
  const plan = planOverlay(node(1, 'host-gw'), [node(2, 'host-gw'), node(3, 'host-gw'), node(1, 'host-gw')], 'eth0')
  t.same(plan.routes, [
    { dst: '10.244.2.0/24', via: '10.250.0.2', dev: 'eth0', onlink: false },
    { dst: '10.244.3.0/24', via: '10.250.0.3', dev: 'eth0', onlink: false },
  ], 'itself is not a peer')
  t.same(plan.fdb, [])
  t.same(plan.neighbours, [])
  t.same(plan.conflicts, [])
})

t.test('vxlan: neighbour, FDB entry and onlink route per peer', async (t) => {
  const plan = planOverlay(node(1), [node(3), node(2)], 'eth0')
  t.same(plan.neighbours, [{ ip: '10.244.2.0', mac: '0e:00:0a:fa:00:02' }, { ip: '10.244.3.0', mac: '0e:00:0a:fa:00:03' }], 'peers in name order')
  t.same(plan.fdb, [{ mac: '0e:00:0a:fa:00:02', dst: '10.250.0.2' }, { mac: '0e:00:0a:fa:00:03', dst: '10.250.0.3' }])
  t.same(plan.routes, [
    { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'flannel.1', onlink: true },
    { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'flannel.1', onlink: true },
  ])
})

t.test('peers that overlap, run another backend or announce nonsense are left out with a reason', async (t) => {
  const plan = planOverlay(node(1), [
    { ...node(2), podCidr: '10.244.1.128/25' },
    node(3),
    { ...node(4), podCidr: '10.244.3.0/24' },
    node(5, 'host-gw'),
    { ...node(6), underlayIp: '10.250.0.1' },
    node(7),
  ], 'eth0')
  t.same(plan.routes.map((route) => route.dst), ['10.244.3.0/24', '10.244.7.0/24'], 'only the clean peers are routed')
  t.equal(plan.conflicts.length, 4)
  t.match(plan.conflicts[0], /node h2: pod CIDR 10\.244\.1\.128\/25 overlaps this node's 10\.244\.1\.0\/24/)
  t.match(plan.conflicts[1], /node h4: pod CIDR 10\.244\.3\.0\/24 overlaps node h3's/, 'the first (by name) of two overlapping peers wins')
  t.match(plan.conflicts[2], /node h5: runs the host-gw overlay, this node vxlan/)
  t.match(plan.conflicts[3], /node h6: unusable underlay address/)
})

t.test('the diff deletes what is gone and rewrites only what changed', async (t) => {
  const before = planOverlay(node(1), [node(2), node(3)], 'eth0')
  const moved = { ...node(3), underlayIp: '10.250.0.33', vtepMac: vtepMacFor('10.250.0.33') }
  const after = planOverlay(node(1), [moved, node(4)], 'eth0')
  const diff = diffOverlay(before, after)
  t.same(diff.remove.routes.map((route) => route.dst), ['10.244.2.0/24'], 'the departed peer\'s route goes')
  t.same(diff.remove.neighbours.map((entry) => entry.ip), ['10.244.2.0'])
  t.same(diff.remove.fdb.map((entry) => entry.mac), ['0e:00:0a:fa:00:02', '0e:00:0a:fa:00:03'], 'FDB entries are keyed by MAC: the moved peer\'s old MAC goes too')
  t.same(diff.add.routes.map((route) => route.dst), ['10.244.4.0/24'], 'an unchanged route is not rewritten')
  t.same(diff.add.fdb, [{ mac: '0e:00:0a:fa:00:21', dst: '10.250.0.33' }, { mac: '0e:00:0a:fa:00:04', dst: '10.250.0.4' }])
  t.same(diff.add.neighbours, [{ ip: '10.244.3.0', mac: '0e:00:0a:fa:00:21' }, { ip: '10.244.4.0', mac: '0e:00:0a:fa:00:04' }], 'a changed neighbour is replaced in place')
  const same = diffOverlay(after, planOverlay(node(1), [node(4), moved], 'eth0'))
  t.same(same, { remove: { routes: [], fdb: [], neighbours: [] }, add: { routes: [], fdb: [], neighbours: [] } }, 'the same peers in another order change nothing')
})

t.test('pod IPAM', async (t) => {
  t.test('hands out .2 onwards, the same address per pod, and reuses a released one last', async (t) => {
    const stateFile = join(temporaryDirectory(t), 'ipam.json')
    const ipam = new PodIpam({ podCidr: '10.244.5.0/24', stateFile })
    t.equal(ipam.gateway, '10.244.5.1')
    t.equal(ipam.capacity, 253)
    t.equal(ipam.allocate('a'), '10.244.5.2')
    t.equal(ipam.allocate('b'), '10.244.5.3')
    t.equal(ipam.allocate('a'), '10.244.5.2', 'a pod asking again keeps its address')
    ipam.release('a')
    t.equal(ipam.ipOf('a'), undefined)
    t.equal(ipam.allocate('c'), '10.244.5.4', 'the next address, not the one just released')
    ipam.release('never-allocated')
  })

  t.test('allocations survive a restart and are never handed out twice', async (t) => {
    const stateFile = join(temporaryDirectory(t), 'sub', 'ipam.json')
    const first = new PodIpam({ podCidr: '10.244.6.0/29', stateFile })
    const addresses = ['p1', 'p2', 'p3'].map((uid) => first.allocate(uid))
    first.release('p2')
    const second = new PodIpam({ podCidr: '10.244.6.0/29', stateFile })
    t.same(second.allocations(), new Map([['p1', addresses[0]], ['p3', addresses[2]]]), 'the restarted IPAM knows the live pods')
    const more = ['p4', 'p5', 'p6'].map((uid) => second.allocate(uid))
    t.same(more, ['10.244.6.5', '10.244.6.6', '10.244.6.3'], 'it continues after the last address, wrapping to the freed one; never .7 (broadcast)')
    const all = [...second.allocations().values()]
    t.equal(new Set(all).size, all.length, 'no address belongs to two pods')
    t.throws(() => second.allocate('p7'), PodSubnetExhaustedError)
    t.throws(() => second.allocate('p7'), { message: /no pod address left in 10\.244\.6\.0\/29: all 5 addresses are in use/ })
    second.release('p1')
    t.equal(second.allocate('p7'), '10.244.6.2', 'a released address is usable again')
  })

  t.test('a state file for another CIDR or a corrupt one starts afresh; duplicates are dropped', async (t) => {
    const directory = temporaryDirectory(t)
    const stateFile = join(directory, 'ipam.json')
    const lines: string[] = []
    writeFileSync(stateFile, JSON.stringify({ podCidr: '10.244.9.0/24', last: '10.244.9.7', allocations: { x: '10.244.9.7' } }))
    t.same(new PodIpam({ podCidr: '10.244.8.0/24', stateFile, log: (line) => lines.push(line) }).allocations(), new Map())
    t.match(lines.join('\n'), /is for 10\.244\.9\.0\/24, not 10\.244\.8\.0\/24/)
    writeFileSync(stateFile, JSON.stringify({ podCidr: '10.244.8.0/24', last: '10.244.8.3', allocations: { x: '10.244.8.3', y: '10.244.8.3', z: '10.244.8.1', w: '10.244.9.4' } }))
    const ipam = new PodIpam({ podCidr: '10.244.8.0/24', stateFile, log: (line) => lines.push(line) })
    t.same(ipam.allocations(), new Map([['x', '10.244.8.3']]), 'the duplicate, the gateway and the foreign address are dropped')
    t.equal(ipam.allocate('v'), '10.244.8.4')
    writeFileSync(stateFile, '{not json')
    t.same(new PodIpam({ podCidr: '10.244.8.0/24', stateFile, log: (line) => lines.push(line) }).allocations(), new Map())
  })

  t.test('bad CIDRs are named errors', async (t) => {
    const stateFile = join(temporaryDirectory(t), 'ipam.json')
    t.throws(() => new PodIpam({ podCidr: '10.244.1.0/31', stateFile }), PodCidrTooSmallError)
    t.throws(() => new PodIpam({ podCidr: '10.244.1.5/24', stateFile }), { name: 'InvalidConfigError', message: /host bits set/ })
    t.throws(() => new PodIpam({ podCidr: 'nonsense', stateFile }), { name: 'InvalidConfigError' })
  })
})

t.test('announcements are validated', async (t) => {
  const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
  t.same(decodeAnnouncement(encode(node(2))), node(2))
  t.equal(decodeAnnouncement(new TextEncoder().encode('{')), undefined)
  t.equal(decodeAnnouncement(encode({ ...node(2), backend: 'ipip' })), undefined)
  t.equal(decodeAnnouncement(encode({ ...node(2), podCidr: '10.244.2.1/24' })), undefined)
  t.equal(decodeAnnouncement(encode({ ...node(2), vtepMac: 'zz' })), undefined)
  t.equal(decodeAnnouncement(encode({ ...node(2), node: '' })), undefined)
})

/**
 * A recording iproute2 with just enough state: `ip -j addr show` shows the underlay, links the
 * code created in the host namespace (the bridge, a veth's host end) show up in `ip -j link show`,
 * and every other `show` shows nothing.
 */
function recordingIproute(underlayIp: string): { iproute: Iproute2; commands: string[] } {
  const commands: string[] = []
  const hostLinks = new Set<string>()
  const exec: IpExec = async (tool, args, target) => {
    const line = `${target?.netnsPath === undefined ? '' : `[${target.netnsPath}] `}${tool} ${args.join(' ')}`
    commands.push(line)
    if (line === 'ip -j addr show') return JSON.stringify([{ ifname: 'lo', mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] }, { ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: underlayIp, prefixlen: 24 }] }])
    const [verb, action, name] = args
    if (tool === 'ip' && verb === 'link' && action === 'add') {
      const peer = args.indexOf('peer')
      if (peer >= 0) hostLinks.add(args[peer + 2]!)
      else if (target?.netnsPath === undefined) hostLinks.add(name!)
    }
    if (tool === 'ip' && verb === 'link' && action === 'del') hostLinks.delete(name!)
    if (line.startsWith('ip -j link show dev ')) {
      const device = args[4]!
      return hostLinks.has(device) ? JSON.stringify([{ ifname: device, ifindex: 9, mtu: 1500 }]) : ''
    }
    return ''
  }
  return { iproute: new Iproute2(exec), commands }
}

t.test('the service announces itself, programs what it hears and withdraws silent nodes', async (t) => {
  const timers = new TimersSim()
  const gossip = new GossipNetworkMemory()
  const directory = temporaryDirectory(t)
  const intervalMs = 1000
  const make = (index: number) => {
    const recording = recordingIproute(`10.250.0.${index}`)
    const lines: string[] = []
    const endpoint = gossip.endpoint(`peer-${index}`)
    const network = new PodNetwork({ nodeName: `h${index}`, gossip: endpoint, dataDirectory: join(directory, `h${index}`), timers, log: (line) => lines.push(line), announceIntervalMs: intervalMs, iproute: recording.iproute, hostNetnsPid: 4242 })
    return { network, endpoint, lines, ...recording }
  }
  const settle = async (...networks: PodNetwork[]): Promise<void> => {
    for (let round = 0; round < 5; round++) {
      await new Promise((resolve) => setImmediate(resolve))
      for (const network of networks) await network.settled()
    }
  }
  const a = make(1)
  const b = make(2)
  await a.network.start({ podCidr: '10.244.1.0/24', underlayIp: '10.250.0.1', backend: 'vxlan' })
  await b.network.start({ podCidr: '10.244.2.0/24', underlayIp: '10.250.0.2', backend: 'vxlan' })
  t.teardown(() => {
    a.network.stop()
    b.network.stop()
  })
  t.ok(b.commands.includes('ip link add cbr0 mtu 1450 type bridge'), 'the bridge gets the VXLAN MTU (1500 - 50)')
  t.ok(b.commands.includes('ip addr replace 10.244.2.1/24 dev cbr0'), 'the bridge holds the pod CIDR\'s gateway')
  t.ok(b.commands.includes('ip route replace 10.96.0.0/12 dev cbr0'), 'the service CIDR is routed onto the bridge')
  t.ok(b.commands.includes('ip link add flannel.1 address 0e:00:0a:fa:00:02 type vxlan id 1 local 10.250.0.2 dev eth0 dstport 8472 nolearning'), 'flannel.1 with VNI 1, port 8472 and the fixed MAC')
  t.ok(b.commands.includes('ip addr replace 10.244.2.0/32 dev flannel.1'))

  timers.advance(intervalMs)
  await settle(a.network, b.network)
  t.same(b.network.livePeers(), [node(1, 'vxlan')], 'h2 heard h1')
  t.same(a.network.livePeers(), [node(2, 'vxlan')], 'h1 heard h2')
  for (const command of ['ip neigh replace 10.244.1.0 lladdr 0e:00:0a:fa:00:01 dev flannel.1 nud permanent', 'bridge fdb replace 0e:00:0a:fa:00:01 dev flannel.1 dst 10.250.0.1', 'ip route replace 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink']) {
    t.ok(b.commands.includes(command), `h2 ran: ${command}`)
  }
  const programmed = b.commands.length
  timers.advance(intervalMs)
  await settle(a.network, b.network)
  t.same(b.commands.slice(programmed).filter((command) => !command.includes('-j')), [], 'a repeated announcement changes nothing in the kernel')

  // h1 falls silent (died): h2 withdraws it after EXPIRY_INTERVALS intervals, not before.
  a.network.stop()
  timers.advance(EXPIRY_INTERVALS * intervalMs - 1)
  await settle(b.network)
  t.equal(b.network.livePeers().length, 1, 'still there within the expiry window')
  for (let step = 0; step < 2; step++) {
    timers.advance(intervalMs)
    await settle(b.network)
  }
  t.same(b.network.livePeers(), [], 'withdrawn after the expiry window')
  for (const command of ['ip route del 10.244.1.0/24', 'bridge fdb del 0e:00:0a:fa:00:01 dev flannel.1', 'ip neigh del 10.244.1.0 dev flannel.1']) {
    t.ok(b.commands.includes(command), `h2 ran: ${command}`)
  }
  t.match(b.lines.join('\n'), /withdrawing node h1 \(10\.244\.1\.0\/24\)/)

  // Malformed gossip is rejected by the validator and never programmed.
  const stranger = gossip.endpoint('stranger')
  await stranger.publish(OVERLAY_TOPIC, new TextEncoder().encode('{"node":"evil"}'))
  await settle(b.network)
  t.same(b.network.livePeers(), [], 'a malformed announcement is dropped')
})

t.test('pods get addresses and veths through the service; teardown frees them', async (t) => {
  const timers = new TimersSim()
  const directory = temporaryDirectory(t)
  const recording = recordingIproute('10.250.0.3')
  const network = new PodNetwork({ nodeName: 'h3', gossip: new GossipNetworkMemory().endpoint('h3'), dataDirectory: directory, timers, log: () => {}, iproute: recording.iproute, hostNetnsPid: 4242 })
  const pod = { uid: 'uid-1', name: 'web', namespace: 'default' }
  await t.rejects(network.setUpPod(pod, { netnsPath: '/proc/1/ns/net' }), { name: 'PodNetworkError', message: /not started/ })
  await network.start({ podCidr: '10.244.3.0/24', underlayIp: '10.250.0.3', backend: 'host-gw' })
  t.teardown(() => network.stop())
  t.ok(recording.commands.includes('ip link add cbr0 mtu 1500 type bridge'), 'host-gw pods get the full underlay MTU')
  await t.rejects(network.setUpPod(pod, {}), { name: 'PodNetworkError', message: /no network namespace/ })
  const veth = hostInterfaceName('uid-1')
  const ip = await network.setUpPod(pod, { netnsPath: '/proc/77/ns/net' })
  t.equal(ip, '10.244.3.2')
  for (const command of [
    `[/proc/77/ns/net] ip link add eth0 mtu 1500 type veth peer name ${veth} mtu 1500 netns 4242`,
    '[/proc/77/ns/net] ip addr replace 10.244.3.2/24 dev eth0',
    '[/proc/77/ns/net] ip route replace default via 10.244.3.1 dev eth0',
    `ip link set ${veth} master cbr0`,
    `bridge link set dev ${veth} hairpin on`,
  ]) t.ok(recording.commands.includes(command), `ran: ${command}`)
  t.equal(network.podIpOf('uid-1'), '10.244.3.2')
  await network.tearDownPod('uid-1')
  t.ok(recording.commands.includes(`ip link del ${veth}`), 'teardown removes a leftover veth')
  t.equal(network.podIpOf('uid-1'), undefined, 'and frees the address')
})

t.test('start refuses bad configuration with clear errors', async (t) => {
  const make = () => new PodNetwork({ nodeName: 'h9', gossip: new GossipNetworkMemory().endpoint('h9'), dataDirectory: temporaryDirectory(t), timers: new TimersSim(), log: () => {}, iproute: recordingIproute('10.250.0.9').iproute })
  await t.rejects(make().start({ podCidr: '10.99.0.0/24', underlayIp: '10.250.0.9', backend: 'vxlan' }), { name: 'OverlayError', message: /10\.99\.0\.0\/24 is not inside the cluster's pod network 10\.244\.0\.0\/14/ })
  await t.rejects(make().start({ podCidr: '10.244.9.0/24', underlayIp: '10.250.0.8', backend: 'vxlan' }), { name: 'OverlayError', message: /no interface holds the underlay address 10\.250\.0\.8/ })
  await t.rejects(make().start({ podCidr: '10.244.9.0/24', underlayIp: '10.250.0.9', backend: 'ipip' as 'vxlan' }), { name: 'OverlayError', message: /host-gw or vxlan/ })
  await t.rejects(make().start({ podCidr: '10.244.9.0/33', underlayIp: '10.250.0.9', backend: 'vxlan' }), { name: 'InvalidConfigError' })
})
