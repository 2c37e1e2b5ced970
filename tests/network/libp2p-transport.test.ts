/**
 * The transport compliance suite against TransportLibp2p, then the libp2p-only behaviour: the
 * bulk path (rate-limited large frames) next to a stream of small frames, bounded queues, and
 * hello checks (wrong target node, node id claimed by another peer). Hosts listen on 127.0.0.1
 * only, and mDNS stays off.
 */
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import t, { type Test } from 'tap'
import { InvalidConfigError } from '../../lib/errors.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { Libp2pHost } from '../../network/src/libp2p/host-libp2p.ts'
import { TransportLibp2p, type TransportLibp2pConfig } from '../../network/src/libp2p/transport-libp2p.ts'
import type { FrameHandler, PeerId, Transport, TransportStats } from '../../network/src/transport.ts'
import { record, seqFrame, seqOf, transportCompliance, waitFor } from '../compliance/transport.compliance.ts'

const LOOPBACK = '/ip4/127.0.0.1/tcp/'
const text = new TextEncoder()

/** A transport with its own host; stopping it stops both, as a daemon shutting down does. */
class HostedTransport implements Transport {
  readonly transport: TransportLibp2p
  readonly host: Libp2pHost

  constructor(transport: TransportLibp2p, host: Libp2pHost) {
    this.transport = transport
    this.host = host
  }

  get localId(): PeerId {
    return this.transport.localId
  }

  start(): Promise<void> {
    return this.transport.start()
  }

  async stop(): Promise<void> {
    await this.transport.stop()
    await this.host.stop()
  }

  send(to: PeerId, frame: Uint8Array): boolean {
    return this.transport.send(to, frame)
  }

  onFrame(handler: FrameHandler): void {
    this.transport.onFrame(handler)
  }

  setPeers(peers: ReadonlyMap<PeerId, string>): void {
    this.transport.setPeers(peers)
  }

  stats(): TransportStats {
    return this.transport.stats()
  }
}

interface Node {
  readonly transport: TransportLibp2p
  readonly host: Libp2pHost
  readonly address: string
  readonly logs: string[]
}

/** A started host and transport for `id` on 127.0.0.1, stopped when the test ends. */
async function node(
  t: Test,
  id: string,
  joinSecret: Uint8Array,
  overrides: Partial<TransportLibp2pConfig> = {},
  privateKey?: PrivateKey,
): Promise<Node> {
  const logs: string[] = []
  const host = new Libp2pHost({
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    listen: [`${LOOPBACK}0`],
    joinSecret,
    log: (line) => logs.push(line),
  })
  await host.start()
  const transport = new TransportLibp2p({
    localId: id,
    host,
    random: new RandomXoshiro(id.length),
    log: (line) => logs.push(line),
    ...overrides,
  })
  await transport.start()
  t.teardown(async () => {
    await transport.stop()
    await host.stop()
  })
  return { transport, host, address: host.multiaddrs()[0]!, logs }
}

function peersOf(nodes: Record<string, Node>): Map<string, string> {
  return new Map(Object.entries(nodes).map(([id, n]) => [id, n.address]))
}

transportCompliance(t, 'libp2p', async () => {
  const random = new RandomXoshiro(3)
  const joinSecret = randomBytes(32)
  // A restarted peer comes back with the same key on the same port, so the survivors must notice
  // the broken stream and reopen one to the same address: the real reconnect path.
  const keyById = new Map<string, PrivateKey>()
  const addressById = new Map<string, string>()
  const made: HostedTransport[] = []
  return {
    async make(id) {
      const privateKey = keyById.get(id) ?? (await generateKeyPair('Ed25519'))
      keyById.set(id, privateKey)
      const port = addressById.get(id)?.match(/\/tcp\/(\d+)\//)?.[1] ?? '0'
      const host = new Libp2pHost({ privateKey, listen: [`${LOOPBACK}${port}`], joinSecret })
      await host.start()
      const hosted = new HostedTransport(new TransportLibp2p({ localId: id, host, random }), host)
      await hosted.start()
      addressById.set(id, host.multiaddrs()[0]!)
      made.push(hosted)
      return hosted
    },
    connect(transports) {
      const peers = new Map(transports.map((transport) => [transport.localId, addressById.get(transport.localId)!]))
      for (const transport of transports) transport.setPeers(peers)
    },
    async teardown() {
      await Promise.all(made.map((transport) => transport.stop()))
    },
  }
})

// libp2p only ---------------------------------------------------------------------------------

t.test('libp2p: a 1 MiB frame takes the bulk path while small frames flow, intact and in order', async (t) => {
  const secret = randomBytes(32)
  const a = await node(t, 'a', secret)
  const b = await node(t, 'b', secret)
  const atB = record(b.transport)
  a.transport.setPeers(peersOf({ b }))
  b.transport.setPeers(peersOf({ a }))

  const random = new RandomXoshiro(7)
  const bigBytes = 1024 * 1024
  const bigs = Array.from({ length: 3 }, (_, i) => {
    const frame = new Uint8Array(bigBytes)
    const words = new Uint32Array(frame.buffer)
    for (let w = 0; w < words.length; w++) words[w] = random.uint32()
    frame[0] = 0xff // marks a bulk frame; small frames start with a zero byte (seq < 2^24)
    frame[1] = i
    return frame
  })
  const expected = bigs.map((frame) => new Uint8Array(frame))
  const smallCount = 5000
  const startMs = performance.now()
  let seq = 0
  let accepted = 0
  for (let round = 0; round < bigs.length; round++) {
    t.ok(a.transport.send('b', bigs[round]!), `bulk frame ${round} accepted`)
    for (let i = 0; i < smallCount / bigs.length; i++) if (a.transport.send('b', seqFrame(seq++, 64))) accepted++
  }
  t.equal(accepted, seq, 'every small frame accepted')
  await waitFor('every frame at b', () => atB.length === seq + bigs.length)
  const elapsedMs = performance.now() - startMs
  const smallSeqs = atB.filter((r) => r.frame[0] !== 0xff).map((r) => seqOf(r.frame))
  t.same(smallSeqs, Array.from({ length: seq }, (_, i) => i), 'small frames complete and in order')
  const received = atB.filter((r) => r.frame[0] === 0xff)
  t.equal(received.length, bigs.length)
  for (let i = 0; i < received.length; i++) {
    t.equal(received[i]!.frame[1], i, `bulk frame ${i} in order among bulk frames`)
    t.ok(Buffer.from(received[i]!.frame).equals(Buffer.from(expected[i]!)), `bulk frame ${i} intact`)
  }
  t.equal(a.transport.stats().queuedBytes, 0)
  t.comment(`${bigs.length} × 1 MiB + ${seq} × 64 B delivered in ${elapsedMs.toFixed(0)} ms`)
})

t.test('libp2p: the bulk token bucket paces large frames, and small frames overtake a waiting one', async (t) => {
  const secret = randomBytes(32)
  // 4 MiB/s with a 256 KiB burst: the second and third 1 MiB frames must wait about 250 ms each.
  const a = await node(t, 'a', secret, { bulkBytesPerSecondMax: 4 * 1024 * 1024, bulkBurstBytes: 256 * 1024 })
  const b = await node(t, 'b', secret)
  const atB = record(b.transport)
  a.transport.setPeers(peersOf({ b }))
  t.ok(a.transport.send('b', text.encode('warm up')))
  await waitFor('the stream is open', () => atB.length === 1)

  const arrivalMs: number[] = []
  b.transport.onFrame((from, frame) => {
    atB.push({ from, frame })
    if (frame.byteLength > 1000) arrivalMs.push(performance.now())
  })
  const startMs = performance.now()
  for (let i = 0; i < 3; i++) t.ok(a.transport.send('b', new Uint8Array(1024 * 1024).fill(i + 1)))
  t.ok(a.transport.send('b', text.encode('small after the bulk frames')))
  await waitFor('all frames at b', () => atB.length === 5)
  const order = atB.slice(1).map((r) => (r.frame.byteLength > 1000 ? `bulk${r.frame[0]}` : 'small'))
  t.same(order.filter((o) => o !== 'small'), ['bulk1', 'bulk2', 'bulk3'], 'bulk frames in order')
  const overtook = order.indexOf('small') < order.indexOf('bulk3')
  t.ok(overtook, `the small frame overtook a waiting bulk frame: ${order.join(' ')}`)
  const spanMs = arrivalMs[2]! - startMs
  t.ok(spanMs >= 400, `three 1 MiB frames at 4 MiB/s took ${spanMs.toFixed(0)} ms (≥ 400 expected)`)
})

t.test('libp2p: a full queue for an unreachable peer refuses sends', async (t) => {
  const secret = randomBytes(32)
  const a = await node(t, 'a', secret, { queueFramesMax: 5, frameBytesMax: 1024, queueBytesMax: 4096 })
  // A peer id nobody listens for, at a port nobody listens on.
  const ghostKey = await generateKeyPair('Ed25519')
  const ghostHost = new Libp2pHost({ privateKey: ghostKey, listen: [`${LOOPBACK}0`], joinSecret: secret })
  await ghostHost.start()
  const ghost = ghostHost.multiaddrs()[0]!
  await ghostHost.stop()
  a.transport.setPeers(new Map([['ghost', ghost]]))
  for (let i = 0; i < 5; i++) t.ok(a.transport.send('ghost', seqFrame(i, 100)), `frame ${i} queued`)
  t.notOk(a.transport.send('ghost', seqFrame(5, 100)), 'the sixth frame is over queueFramesMax')
  t.notOk(a.transport.send('ghost', new Uint8Array(2048)), 'over frameBytesMax')
  t.same(a.transport.stats(), { sentFrames: 0, droppedFrames: 2, receivedFrames: 0, queuedBytes: 500 })
  await waitFor('a logged the failing peer', () => a.logs.some((line) => /stream to ghost .* failed/.test(line)))
})

t.test('libp2p: hellos are checked against the address book', async (t) => {
  const secret = randomBytes(32)
  const a = await node(t, 'a', secret)
  const b = await node(t, 'b', secret)
  const c = await node(t, 'c', secret)
  const atB = record(b.transport)

  // a believes b's address belongs to node 'x': b refuses, since it is not 'x'.
  a.transport.setPeers(new Map([['x', b.address]]))
  t.ok(a.transport.send('x', text.encode('misaddressed')))
  const misaddressed = /refused stream from 'a'.*meant to reach node 'x'/
  await waitFor('b refused the stream', () => b.logs.some((line) => misaddressed.test(line)))
  await waitFor('a logged the refusal', () => a.logs.some((line) => /refused by x|answered as 'b'/.test(line)))

  // b knows node 'a' as a's peer id; c claiming to be 'a' is refused.
  b.transport.setPeers(peersOf({ a }))
  c.transport.setPeers(new Map([['b', b.address]]))
  // c's transport calls itself 'c'; to claim 'a' it needs a transport with that id on c's host.
  await c.transport.stop()
  const impostor = new TransportLibp2p({ localId: 'a', host: c.host, random: new RandomXoshiro(1) })
  await impostor.start()
  t.teardown(() => impostor.stop())
  impostor.setPeers(new Map([['b', b.address]]))
  t.ok(impostor.send('b', text.encode('forged')))
  const impersonation = /node 'a' is peer .* but the stream comes from peer/
  await waitFor('b refused the impostor', () => b.logs.some((line) => impersonation.test(line)))
  t.equal(atB.length, 0, 'nothing delivered')
})

t.test('libp2p: a transport whose host stopped first queues frames quietly until it stops', async (t) => {
  const secret = randomBytes(32)
  const a = await node(t, 'a', secret)
  const b = await node(t, 'b', secret)
  const atB = record(b.transport)
  a.transport.setPeers(peersOf({ b }))
  t.ok(a.transport.send('b', text.encode('before')))
  await waitFor('the frame at b', () => atB.length === 1)
  await a.host.stop()
  await waitFor('a noticed the stream is gone', () => a.logs.some((line) => /stream to b .* lost/.test(line)))
  t.ok(a.transport.send('b', text.encode('after')), 'queued, not thrown')
  await a.transport.stop()
  t.equal(a.transport.stats().queuedBytes, 0)
})

t.test('libp2p: setPeers needs peer ids in the addresses', async (t) => {
  const secret = randomBytes(32)
  const a = await node(t, 'a', secret)
  t.throws(() => a.transport.setPeers(new Map([['b', '/ip4/127.0.0.1/tcp/4001']])), InvalidConfigError)
  t.throws(() => a.transport.setPeers(new Map([['b', 'localhost:4001']])), InvalidConfigError)
  const host = a.host
  t.throws(() => new TransportLibp2p({ localId: '', host, random: new RandomXoshiro(0) }), InvalidConfigError)
  t.throws(
    () =>
      new TransportLibp2p({ localId: 'z', host, random: new RandomXoshiro(0), frameBytesMax: 2048, queueBytesMax: 1024 }),
    InvalidConfigError,
  )
})
