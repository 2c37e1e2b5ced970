/**
 * The Gossip contract (network/src/gossip.ts) against GossipMemory and GossipLibp2p, then
 * libp2p-only behaviour: forwarding through a node in the middle keeps the origin as `from`.
 * Hosts listen on 127.0.0.1 only, and mDNS stays off.
 */
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import t, { type Test } from 'tap'
import { GossipPayloadTooLargeError, type Gossip } from '../../network/src/gossip.ts'
import { GossipLibp2p } from '../../network/src/libp2p/gossip-libp2p.ts'
import { Libp2pHost } from '../../network/src/libp2p/host-libp2p.ts'
import { GossipNetworkMemory, type GossipMemory } from '../../network/src/sim/gossip-memory.ts'
import { waitFor } from '../compliance/transport.compliance.ts'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
const TOPIC = 'flotilla/test/v1'
const text = new TextEncoder()
const untext = new TextDecoder()

interface GossipHarness {
  /** `count` started nodes, all connected to each other. */
  make(count: number): Promise<Gossip[]>
  /** Resolves once each of `nodes` knows that each of `subscribers` (but itself) is subscribed to `topic`. */
  ready(nodes: readonly Gossip[], subscribers: readonly Gossip[], topic: string): Promise<void>
  teardown(): Promise<void>
}

interface Delivery {
  readonly from: string
  readonly text: string
}

function listen(node: Gossip, topic = TOPIC): Delivery[] {
  const got: Delivery[] = []
  node.subscribe(topic, (from, data) => got.push({ from, text: untext.decode(data) }))
  return got
}

function gossipContract(t: Test, name: string, setup: () => GossipHarness): void {
  const run = (title: string, body: (t: Test, h: GossipHarness) => Promise<void>): void => {
    t.test(`${name}: ${title}`, async (t) => {
      const harness = setup()
      t.teardown(() => harness.teardown())
      await body(t, harness)
    })
  }

  run('a publish reaches every other subscriber, with the publisher as from', async (t, h) => {
    const [a, b, c] = await h.make(3)
    const [atA, atB, atC] = [listen(a!), listen(b!), listen(c!)]
    await h.ready([a!, b!, c!], [a!, b!, c!], TOPIC)
    await a!.publish(TOPIC, text.encode('hello from a'))
    await waitFor('b and c got the message', () => atB.length === 1 && atC.length === 1)
    t.same(atB, [{ from: a!.localId, text: 'hello from a' }])
    t.same(atC, [{ from: a!.localId, text: 'hello from a' }])
    await c!.publish(TOPIC, text.encode('hello from c'))
    await waitFor('a and b got it', () => atA.length === 1 && atB.length === 2)
    t.same(atA, [{ from: c!.localId, text: 'hello from c' }], 'a got only c’s message, not its own')
  })

  run('validators drop what they reject or ignore, at their own node', async (t, h) => {
    const [a, b, c] = await h.make(3)
    const [atB, atC] = [listen(b!), listen(c!)]
    c!.setValidator(TOPIC, (_from, data) => {
      const body = untext.decode(data)
      return body.startsWith('bad') ? 'reject' : body.startsWith('meh') ? 'ignore' : 'accept'
    })
    await h.ready([a!, b!, c!], [b!, c!], TOPIC)
    await a!.publish(TOPIC, text.encode('bad one'))
    await a!.publish(TOPIC, text.encode('meh one'))
    await a!.publish(TOPIC, text.encode('good one'))
    await waitFor('b got all three', () => atB.length === 3)
    await waitFor('c got the good one', () => atC.length === 1)
    t.same(atC.map((d) => d.text), ['good one'])
    c!.setValidator(TOPIC, undefined)
    await a!.publish(TOPIC, text.encode('bad but unvalidated'))
    await waitFor('c got it once the validator is gone', () => atC.length === 2)
  })

  run('unsubscribe stops delivery', async (t, h) => {
    const [a, b, c] = await h.make(3)
    const [atB, atC] = [listen(b!), listen(c!)]
    await h.ready([a!, b!, c!], [b!, c!], TOPIC)
    b!.unsubscribe(TOPIC)
    await a!.publish(TOPIC, text.encode('one'))
    await waitFor('c got it', () => atC.length === 1)
    await a!.publish(TOPIC, text.encode('two'))
    await waitFor('c got the second', () => atC.length === 2)
    t.same(atB, [], 'b got nothing after unsubscribing')
  })

  run('payloads over the bound are refused', async (t, h) => {
    const [a] = await h.make(1)
    await t.rejects(a!.publish(TOPIC, new Uint8Array(1024 * 1024 + 1)), GossipPayloadTooLargeError)
    await a!.publish('nobody/listens', text.encode('fine with zero subscribers'))
  })
}

gossipContract(t, 'memory', () => {
  const network = new GossipNetworkMemory()
  const made: GossipMemory[] = []
  return {
    async make(count) {
      for (let i = 0; i < count; i++) made.push(network.endpoint(`node-${made.length}`))
      return made.slice(-count)
    },
    async ready() {},
    async teardown() {
      for (const node of made) node.stop()
    },
  }
})

/** Started hosts with a GossipLibp2p each, connected as `links` says (index pairs). */
async function libp2pNodes(
  count: number,
  links: readonly [number, number][],
  stopAll: (() => Promise<void>)[],
  hosts: Libp2pHost[] = [],
): Promise<GossipLibp2p[]> {
  const secret = randomBytes(32)
  for (let i = 0; i < count; i++) {
    const privateKey = await generateKeyPair('Ed25519')
    const host = new Libp2pHost({ privateKey, listen: [LOOPBACK], joinSecret: secret })
    await host.start()
    stopAll.push(() => host.stop())
    hosts.push(host)
  }
  for (const [from, to] of links) await hosts[from]!.dial(hosts[to]!.multiaddrs()[0]!)
  return hosts.map((host) => {
    const gossip = new GossipLibp2p(host)
    stopAll.unshift(async () => gossip.close())
    return gossip
  })
}

function fullMesh(count: number): [number, number][] {
  const links: [number, number][] = []
  for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) links.push([i, j])
  return links
}

gossipContract(t, 'libp2p', () => {
  const stopAll: (() => Promise<void>)[] = []
  return {
    make: (count) => libp2pNodes(count, fullMesh(count), stopAll),
    async ready(nodes, subscribers, topic) {
      await waitFor('subscriptions known everywhere', () =>
        nodes.every((node) => {
          const known = new Set((node as GossipLibp2p).subscribers(topic))
          return subscribers.every((other) => other === node || known.has(other.localId))
        }),
      )
    },
    async teardown() {
      for (const stop of stopAll) await stop()
    },
  }
})

t.test('libp2p: a message forwarded through the middle node keeps its origin', async (t) => {
  const stopAll: (() => Promise<void>)[] = []
  t.teardown(async () => {
    for (const stop of stopAll) await stop()
  })
  // a - b - c in a line: a and c are not connected.
  const hosts: Libp2pHost[] = []
  const [a, b, c] = await libp2pNodes(3, [[0, 1], [1, 2]], stopAll, hosts)
  const [atB, atC] = [listen(b!), listen(c!)]
  listen(a!)
  await waitFor('b knows both subscriptions', () => b!.subscribers(TOPIC).length === 2)
  // Gossip is best-effort and b joins the mesh on a heartbeat, so publish until c has one.
  const startMs = performance.now()
  for (let n = 0; atC.length === 0; n++) {
    if (performance.now() - startMs > 10_000) throw new Error('nothing reached c through b')
    await a!.publish(TOPIC, text.encode(`via b ${n}`))
    await waitFor('b got it', () => atB.length > n)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(atC[0]!.from, a!.localId, 'from is the origin, not the forwarding node')
  t.notOk(hosts[0]!.connectedPeers().includes(c!.localId), 'a and c are still not connected')
  t.match(atC[0]!.text, /^via b \d+$/)
  t.comment(`first message through b after ${(performance.now() - startMs).toFixed(0)} ms`)
})
