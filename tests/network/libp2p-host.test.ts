/**
 * Libp2pHost and the peer key file: admission by join secret (refused fast, and logged), the
 * allow-list gater, bootstrap, redial of kept peers after a restart, and a peer id that survives
 * restarts. All hosts listen on 127.0.0.1, and mDNS stays off (it would multicast on the LAN).
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import t, { type Test } from 'tap'
import { InvalidConfigError } from '../../lib/errors.ts'
import {
  HostStartError,
  Libp2pHost,
  PeerDialError,
  type HostEvent,
  type Libp2pHostConfig,
} from '../../network/src/libp2p/host-libp2p.ts'
import { loadOrCreatePeerKey, PeerKeyError } from '../../network/src/libp2p/identity.ts'
import { waitFor } from '../compliance/transport.compliance.ts'

const LOOPBACK = '/ip4/127.0.0.1/tcp/'

interface Started {
  readonly host: Libp2pHost
  readonly logs: string[]
  readonly events: HostEvent[]
  readonly address: string
}

async function started(t: Test, config: Partial<Libp2pHostConfig> & { joinSecret: Uint8Array }): Promise<Started> {
  const logs: string[] = []
  const events: HostEvent[] = []
  const host = new Libp2pHost({
    privateKey: config.privateKey ?? (await generateKeyPair('Ed25519')),
    listen: [`${LOOPBACK}0`],
    log: (line) => logs.push(line),
    ...config,
  })
  host.onEvent((event) => events.push(event))
  t.teardown(() => host.stop())
  await host.start()
  return { host, logs, events, address: host.multiaddrs()[0]! }
}

function refusals(node: Started, stage: 'handshake' | 'allow-list'): HostEvent[] {
  return node.events.filter((event) => event.type === 'refused' && event.refusal.stage === stage)
}

t.test('a host with the wrong join secret is refused within milliseconds, in both directions', async (t) => {
  const secret = randomBytes(32)
  const member = await started(t, { joinSecret: secret })
  const intruder = await started(t, { joinSecret: randomBytes(32) })
  // One good handshake first, so the measurement below is not the process's first (JIT) one.
  const friend = await started(t, { joinSecret: secret })
  await friend.host.dial(member.address)

  const startMs = performance.now()
  await t.rejects(intruder.host.dial(member.address), PeerDialError, 'the intruder cannot connect')
  const dialMs = performance.now() - startMs
  await waitFor('the member logged the refusal', () => refusals(member, 'handshake').length > 0, 1000)
  const refusedMs = performance.now() - startMs
  t.comment(
    `intruder's dial failed after ${dialMs.toFixed(1)} ms; ` +
      `the member reported the refusal after ${refusedMs.toFixed(1)} ms`,
  )
  t.ok(refusedMs < 1000, `refused in ${refusedMs.toFixed(1)} ms (bound: 1000 ms)`)
  const logged = /refused connection from a peer at \/ip4\/127\.0\.0\.1\/tcp\/\d+.*Noise handshake failed/
  t.match(member.logs.join('\n'), logged)
  t.equal(refusals(intruder, 'handshake').length, 1, 'the intruder saw its own handshake fail')

  const reverseStartMs = performance.now()
  await t.rejects(member.host.dial(intruder.address), PeerDialError, 'and the member cannot connect to it')
  t.comment(`member → intruder refused after ${(performance.now() - reverseStartMs).toFixed(1)} ms`)
  t.same(member.host.connectedPeers(), [friend.host.peerId], 'the member is connected to its friend only')
  t.same(intruder.host.connectedPeers(), [])
  t.ok(member.host.stats().refusedHandshakes >= 2)
})

t.test('hosts with the same secret connect and report connect and disconnect', async (t) => {
  const secret = randomBytes(32)
  const a = await started(t, { joinSecret: secret })
  const b = await started(t, { joinSecret: secret })
  await a.host.dial(b.address)
  const [aId, bId] = [a.host.peerId, b.host.peerId]
  await waitFor('both see it', () => a.host.connectedPeers().includes(bId) && b.host.connectedPeers().includes(aId))
  await waitFor('a reported the connect', () => a.events.some((e) => e.type === 'peer:connect' && e.peerId === bId))
  await b.host.stop()
  await waitFor('a reported the disconnect', () => a.events.some((e) => e.type === 'peer:disconnect' && e.peerId === bId))
  t.same(refusals(a, 'handshake'), [])
})

t.test('the allow-list refuses a peer that is not allowed, in both directions', async (t) => {
  const secret = randomBytes(32)
  const outsider = await started(t, { joinSecret: secret })
  const friend = await started(t, { joinSecret: secret })
  let allowed = new Set([friend.host.peerId])
  const gated = await started(t, { joinSecret: secret, isAllowed: (peerId) => allowed.has(peerId) })

  await friend.host.dial(gated.address)
  await waitFor('an allowed peer connects', () => gated.host.connectedPeers().includes(friend.host.peerId))

  // The outsider knows the secret but is not a member: the gater refuses it once authenticated.
  await outsider.host.dial(gated.address).catch(() => {})
  await waitFor('the gated host refused the outsider', () =>
    refusals(gated, 'allow-list').some((e) => e.type === 'refused' && e.refusal.remotePeerId === outsider.host.peerId),
  )
  await waitFor('no connection stays up', () => !gated.host.connectedPeers().includes(outsider.host.peerId))
  t.match(gated.logs.join('\n'), new RegExp(`refused connection from ${outsider.host.peerId}.*not on the allow-list`))
  await t.rejects(gated.host.dial(outsider.address), PeerDialError, 'and the gated host does not dial it')

  // Removing a member closes its existing connection.
  allowed = new Set()
  await gated.host.recheckAllowList()
  await waitFor('the removed peer is disconnected', () => gated.host.connectedPeers().length === 0)
  t.ok(gated.host.stats().refusedByAllowList >= 2)
})

t.test('bootstrap peers are dialed at start', async (t) => {
  const secret = randomBytes(32)
  const seed = await started(t, { joinSecret: secret })
  // A node's own address in the list is skipped, so one list can serve the whole cluster.
  const selfKey = await generateKeyPair('Ed25519')
  const selfHost = new Libp2pHost({ privateKey: selfKey, listen: [`${LOOPBACK}0`], joinSecret: secret })
  const selfAddress = `${LOOPBACK}1/p2p/${selfHost.peerId}`
  const joiner = await started(t, { joinSecret: secret, privateKey: selfKey, bootstrap: [seed.address, selfAddress] })
  await waitFor('the joiner connected to the seed', () => joiner.host.connectedPeers().includes(seed.host.peerId))
  t.same(joiner.host.connectedPeers(), [seed.host.peerId])
})

t.test('a kept peer is redialed after it restarts', async (t) => {
  const secret = randomBytes(32)
  const a = await started(t, { joinSecret: secret })
  const bKey = await generateKeyPair('Ed25519')
  const b1 = await started(t, { joinSecret: secret, privateKey: bKey })
  a.host.keep(b1.address)
  await a.host.dial(b1.address)
  await b1.host.stop()
  await waitFor('a noticed b went away', () => !a.host.connectedPeers().includes(b1.host.peerId))
  const port = b1.address.match(/\/tcp\/(\d+)\//)![1]
  const startMs = performance.now()
  const b2 = await started(t, { joinSecret: secret, privateKey: bKey, listen: [`${LOOPBACK}${port}`] })
  await waitFor('a redialed b by itself', () => a.host.connectedPeers().includes(b2.host.peerId), 10_000)
  t.pass('a reconnected to the restarted b without being asked')
  t.comment(`reconnected ${(performance.now() - startMs).toFixed(0)} ms after the restart`)
})

t.test('a host that cannot listen fails to start with a named error and holds nothing', async (t) => {
  const secret = randomBytes(32)
  const first = await started(t, { joinSecret: secret })
  const port = first.address.match(/\/tcp\/(\d+)\//)![1]
  const privateKey = await generateKeyPair('Ed25519')
  const second = new Libp2pHost({ privateKey, listen: [`${LOOPBACK}${port}`], joinSecret: secret })
  await t.rejects(second.start(), HostStartError)
  t.notOk(second.running)
  await second.stop()
})

t.test('the host rejects bad configuration', async (t) => {
  const privateKey = await generateKeyPair('Ed25519')
  const base = { privateKey, listen: [`${LOOPBACK}0`], joinSecret: randomBytes(32) }
  t.throws(() => new Libp2pHost({ ...base, joinSecret: randomBytes(16) }), InvalidConfigError, 'short secret')
  t.throws(() => new Libp2pHost({ ...base, listen: [] }), InvalidConfigError, 'nothing to listen on')
  t.throws(() => new Libp2pHost({ ...base, listen: ['127.0.0.1:4001'] }), InvalidConfigError, 'not a multiaddr')
  const noPeerId = `${LOOPBACK}4001`
  t.throws(() => new Libp2pHost({ ...base, bootstrap: [noPeerId] }), InvalidConfigError, 'bootstrap without /p2p/')
})

// Identity ------------------------------------------------------------------------------------

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-peer-key-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function rawKey(key: PrivateKey): string {
  return Buffer.from(key.raw).toString('hex')
}

t.test('the peer key is created once, mode 0600, and keeps the peer id across restarts', async (t) => {
  const path = join(await tempDir(t), 'peer.key')
  const first = await loadOrCreatePeerKey(path)
  t.equal(first.type, 'Ed25519')
  t.equal((await stat(path)).mode & 0o777, 0o600, 'file mode 0600')
  const bytes = await readFile(path)

  const secret = randomBytes(32)
  const host1 = new Libp2pHost({ privateKey: first, listen: [`${LOOPBACK}0`], joinSecret: secret })
  await host1.start()
  const peerId = host1.peerId
  await host1.stop()
  const second = await loadOrCreatePeerKey(path)
  t.equal(rawKey(second), rawKey(first), 'the same key is read back')
  t.ok((await readFile(path)).equals(bytes), 'the file is not rewritten')
  const host2 = new Libp2pHost({ privateKey: second, listen: [`${LOOPBACK}0`], joinSecret: secret })
  await host2.start()
  t.equal(host2.peerId, peerId, 'same peer id after a restart')
  await host2.stop()

  // Processes racing to create the key agree on one.
  const racePath = join(await tempDir(t), 'race.key')
  const raced = await Promise.all([1, 2, 3].map(() => loadOrCreatePeerKey(racePath)))
  t.equal(new Set(raced.map(rawKey)).size, 1, 'concurrent creators end up with the same key')
})

t.test('a key file with loose permissions or garbage is refused with a clear error', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'peer.key')
  await loadOrCreatePeerKey(path)
  await chmod(path, 0o644)
  await t.rejects(loadOrCreatePeerKey(path), { name: 'PeerKeyError', message: /mode 0644.*must be 0600.*chmod 600/ })

  const garbage = join(dir, 'garbage.key')
  await writeFile(garbage, 'not a key at all', { mode: 0o600 })
  await t.rejects(loadOrCreatePeerKey(garbage), PeerKeyError)
  await t.rejects(loadOrCreatePeerKey(garbage), { message: /not a libp2p private key/ })

  const secp = join(dir, 'secp.key')
  const { privateKeyToProtobuf } = await import('@libp2p/crypto/keys')
  await writeFile(secp, privateKeyToProtobuf(await generateKeyPair('secp256k1')), { mode: 0o600 })
  await t.rejects(loadOrCreatePeerKey(secp), { name: 'PeerKeyError', message: /secp256k1 key; Flotilla uses Ed25519/ })

  await t.rejects(loadOrCreatePeerKey(dir), { name: 'PeerKeyError', message: /not a regular file/ })
})
