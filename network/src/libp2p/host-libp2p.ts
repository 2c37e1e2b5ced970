/**
 * The libp2p node every Flotilla daemon runs: TCP, Noise, yamux, identify, ping and gossipsub,
 * plus the cluster's admission rules. TransportLibp2p (Raft frames) and GossipLibp2p ride on it.
 *
 * Admission has two gates:
 * - The join secret. Its HMAC is the Noise handshake prologue, which both sides mix into the
 *   handshake hash, so a peer with another secret (or none) fails the handshake's first
 *   authenticated message and is refused within milliseconds, in either direction. No extra
 *   cipher layer is involved (libp2p's pnet was rejected: see /work/shared/research/p2p.md §2.2).
 *   The secret must be high-entropy random bytes: a prober can test guesses offline against one
 *   handshake.
 * - The allow-list (`isAllowed`, fed from Raft membership): checked once the remote peer id is
 *   authenticated, on inbound and outbound connections, and before dialing. `recheckAllowList()`
 *   closes connections to peers that have since been removed.
 * Both refusals are logged and reported to `onEvent` listeners as 'refused' events.
 *
 * Peers stay connected through libp2p's KEEP_ALIVE tag: when a tagged peer disconnects (it
 * restarted, the network blipped), libp2p redials it with backoff. Peers are tagged when they are
 * kept (`keep`, which TransportLibp2p calls for every Raft peer), dialed through `dial`, listed
 * for bootstrap, or discovered by mDNS. libp2p drops the tag after its retries run out
 * (`peer:reconnect-failure`); the host then tags the peer again and keeps redialing it itself,
 * with a capped, jittered backoff, for as long as the peer is known. The peer store lives in
 * memory, so after this daemon restarts it relies on bootstrap, mDNS and `keep` to find peers.
 *
 * mDNS only discovers; the host dials what it discovers. It announces this node's peer id and
 * addresses to the whole LAN segment, so it is off unless asked for (and must stay off in tests).
 */
import { createHmac } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import type { GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import {
  KEEP_ALIVE,
  type ConnectionEncrypter,
  type Libp2p,
  type MessageStream,
  type PeerId as Libp2pPeerId,
  type PrivateKey,
} from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { assert } from '../../../lib/assert.ts'
import { FlotillaError, InvalidConfigError } from '../../../lib/errors.ts'
import { randomFromEntropy, type Random } from '../../../lib/random.ts'
import { cancelAddressManagerDebounce, captureGossipsubHeartbeat, letClosedHandlesGo } from './stop-quirks.ts'
import {
  gossipsubService,
  resolveGossipConfig,
  type GossipLibp2pConfig,
  type ResolvedGossipConfig,
} from './gossip-libp2p.ts'
import { jitteredBackoffMs } from '../backoff.ts'

/** `dial` could not connect to a peer (unreachable, refused, wrong peer id, timed out). */
export class PeerDialError extends FlotillaError {
  override name = 'PeerDialError'
}

/** Starting libp2p failed (an address could not be listened on, a module failed to start). */
export class HostStartError extends FlotillaError {
  override name = 'HostStartError'
}

export interface Libp2pHostConfig {
  /** This machine's identity (see identity.ts); the peer id derives from it. */
  readonly privateKey: PrivateKey
  /** Multiaddrs to listen on, such as `/ip4/0.0.0.0/tcp/4001`; port 0 picks a free port. */
  readonly listen: readonly string[]
  /** The cluster's join secret: at least 32 random bytes, the same on every member. */
  readonly joinSecret: Uint8Array
  /** Peers to dial at start, each a multiaddr ending in `/p2p/<peer id>`. */
  readonly bootstrap?: readonly string[]
  /** Discover peers on the local segment with mDNS and dial them. Default false (see the module comment). */
  readonly mdns?: boolean
  /** mDNS service name; nodes of different clusters on one LAN can use different ones. */
  readonly mdnsServiceTag?: string
  /**
   * The allow-list: whether an authenticated peer may connect (membership). Called on every
   * connection and dial, from libp2p's event dispatch, so it must be quick and must not throw.
   * Default: everyone who knows the join secret.
   */
  readonly isAllowed?: (peerId: string) => boolean
  /** Receives one line per notable event: refusals, failing redials. */
  readonly log?: (line: string) => void
  /** Jitter for the host's own redial backoff. */
  readonly random?: Random
  /** Budget for one dial, TCP connect plus handshakes. Default 2500 ms. */
  readonly dialTimeoutMs?: number
  /** Gossipsub settings; see GossipLibp2pConfig. */
  readonly gossip?: GossipLibp2pConfig
}

/** Why and where a connection was refused. */
export interface HostRefusal {
  /** Inbound: the remote dialed us. Outbound: we dialed it. */
  readonly direction: 'inbound' | 'outbound'
  /** 'handshake': Noise failed, normally a wrong or missing join secret. 'allow-list': isAllowed said no. */
  readonly stage: 'handshake' | 'allow-list'
  /** The remote multiaddr, when known. */
  readonly remoteAddress: string | undefined
  /** The remote peer id; known for allow-list refusals only (a failed handshake proves nothing). */
  readonly remotePeerId: string | undefined
  readonly reason: string
}

export type HostEvent =
  | { readonly type: 'peer:connect'; readonly peerId: string }
  | { readonly type: 'peer:disconnect'; readonly peerId: string }
  | { readonly type: 'refused'; readonly refusal: HostRefusal }

/** Called synchronously from libp2p's event dispatch: must be quick and must not throw. */
export type HostEventListener = (event: HostEvent) => void

/** The services every host runs; the transport and gossip reach them through `libp2p`. */
export interface HostServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
}

const NOISE_PROLOGUE_LABEL = 'flotilla/noise-prologue/v1'
const JOIN_SECRET_BYTES_MIN = 32
const DEFAULT_MDNS_SERVICE_TAG = '_flotilla._udp.local'
const MIB = 1024 * 1024
/**
 * The yamux window grows to 16 MiB per stream, while a stream buffers at most 4 MiB by default
 * before it resets itself; a stream that is read slower than the window allows would then die.
 */
const STREAM_READ_BUFFER_BYTES_MAX = 32 * MIB
/**
 * The connection monitor pings every peer and aborts connections whose ping times out. It must
 * stay well above the queueing delay a bulk transfer adds on a shared connection, or it aborts
 * healthy connections (measured: a 1 s / 500 ms setting did, every time). Raft's own timeouts,
 * not this, drive failover; the monitor only cleans up dead connections. Each ping opens a new
 * stream (multistream-select over Noise and yamux), so at a 2 s interval it was a large share of
 * an idle daemon's CPU; every 10 s is enough.
 */
const CONNECTION_MONITOR = { pingInterval: 10_000, pingTimeout: { minTimeout: 3000, maxTimeout: 10_000 } }
/** libp2p's default of 5 connections per second per remote host is hit by restarts and local clusters. */
const INBOUND_CONNECTIONS_PER_SECOND_PER_HOST_MAX = 100
/** libp2p's own redial of KEEP_ALIVE peers: 5 tries from 500 ms, doubling (about 15 s in all). */
const RECONNECT = { reconnectRetries: 5, reconnectRetryInterval: 500, reconnectBackoffFactor: 2 }
/**
 * The host's own redial after libp2p gave up: from 2 s, doubling, capped at 5 s, jittered. The
 * cap bounds how long a healed partition stays split (the chaos suite measures it): a dial to a
 * known member every few seconds is cheap next to minutes of a node marked NotReady.
 */
const REDIAL_DELAY_MS_MIN = 2000
const REDIAL_DELAY_MS_MAX = 5000

/** Stops a libp2p node and waits until it holds nothing in the event loop (see stop-quirks.ts). */
async function stopNode(node: Libp2p<HostServices>): Promise<void> {
  const clearHeartbeat = captureGossipsubHeartbeat(node.services.pubsub)
  // libp2p closes each connection gracefully and waits up to 500 ms for its 'close' event, which
  // never comes for a connection the peer is closing at the same moment (a cluster shutting down,
  // tests): stop() then takes half a second. Aborting first costs nothing a stopping node needs,
  // and peers see the reset at once instead of a late close.
  for (const connection of node.getConnections()) connection.abort(new FlotillaError('host stopping'))
  try {
    await node.stop()
  } finally {
    clearHeartbeat()
    cancelAddressManagerDebounce(node)
    await letClosedHandlesGo()
  }
}

/** The Noise prologue that binds the join secret into every handshake. */
export function noisePrologue(joinSecret: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', joinSecret).update(NOISE_PROLOGUE_LABEL).digest())
}

/** The `/p2p/<id>` component of a multiaddr, or undefined. */
export function peerIdOfMultiaddr(address: Multiaddr): string | undefined {
  return address.getComponents().findLast((component) => component.name === 'p2p')?.value
}

/** Parses a multiaddr that must name its peer. Throws InvalidConfigError. */
export function parsePeerMultiaddr(text: string): { readonly address: Multiaddr; readonly peerId: string } {
  let address: Multiaddr
  try {
    address = multiaddr(text)
  } catch (error) {
    throw new InvalidConfigError(`'${text}' is not a multiaddr`, { cause: error })
  }
  const peerId = peerIdOfMultiaddr(address)
  if (peerId === undefined) throw new InvalidConfigError(`multiaddr '${text}' does not end in /p2p/<peer id>`)
  try {
    peerIdFromString(peerId)
  } catch (error) {
    throw new InvalidConfigError(`multiaddr '${text}' has an invalid peer id`, { cause: error })
  }
  return { address, peerId }
}

interface KnownPeer {
  readonly peerId: Libp2pPeerId
  /** Where to reach it, when known; mDNS peers carry their addresses in the peer store instead. */
  address: Multiaddr | undefined
  redialTimer: ReturnType<typeof setTimeout> | undefined
  redialFailures: number
}

function newKnownPeer(peerId: Libp2pPeerId): KnownPeer {
  return { peerId, address: undefined, redialTimer: undefined, redialFailures: 0 }
}

/** See the module comment. */
export class Libp2pHost {
  private readonly config: Libp2pHostConfig
  private readonly gossipConfig: ResolvedGossipConfig
  private readonly log: (line: string) => void
  private readonly random: Random
  private readonly isAllowed: (peerId: string) => boolean
  private readonly listeners = new Set<HostEventListener>()
  private readonly known = new Map<string, KnownPeer>()
  private node: Libp2p<HostServices> | undefined
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new'
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private readonly localPeerId: string
  /** The bootstrap list without this node (one list can serve the whole cluster). */
  private readonly bootstrapList: string[]
  private refusedHandshakes = 0
  private refusedByAllowList = 0

  /** Throws InvalidConfigError for a bad setting (short secret, malformed multiaddr). */
  constructor(config: Libp2pHostConfig) {
    if (config.joinSecret.byteLength < JOIN_SECRET_BYTES_MIN) {
      throw new InvalidConfigError(`the join secret must be at least ${JOIN_SECRET_BYTES_MIN} random bytes`)
    }
    if (config.listen.length === 0) throw new InvalidConfigError('a host needs at least one listen address')
    for (const text of config.listen) {
      try {
        multiaddr(text)
      } catch (error) {
        throw new InvalidConfigError(`listen address '${text}' is not a multiaddr`, { cause: error })
      }
    }
    for (const text of config.bootstrap ?? []) parsePeerMultiaddr(text)
    const dialTimeoutMs = config.dialTimeoutMs ?? 2500
    if (!Number.isSafeInteger(dialTimeoutMs) || dialTimeoutMs <= 0) {
      throw new InvalidConfigError(`dialTimeoutMs must be a positive integer, got ${dialTimeoutMs}`)
    }
    this.config = config
    this.gossipConfig = resolveGossipConfig(config.gossip ?? {})
    this.log = config.log ?? (() => {})
    this.random = config.random ?? randomFromEntropy()
    this.isAllowed = config.isAllowed ?? (() => true)
    this.localPeerId = peerIdFromPrivateKey(config.privateKey).toString()
    this.bootstrapList = (config.bootstrap ?? []).filter((text) => parsePeerMultiaddr(text).peerId !== this.localPeerId)
    for (const text of this.bootstrapList) this.keep(text)
  }

  /** This node's libp2p peer id (derived from the private key). */
  get peerId(): string {
    return this.localPeerId
  }

  /** The running libp2p node, for the transport and gossip built on this host. */
  get libp2p(): Libp2p<HostServices> {
    assert(this.node !== undefined && this.phase === 'running', 'libp2p needs a running host')
    return this.node
  }

  /** The gossip settings the pubsub service was built with. */
  get gossipSettings(): ResolvedGossipConfig {
    return this.gossipConfig
  }

  get running(): boolean {
    return this.phase === 'running'
  }

  /** Starts libp2p and listens. Throws HostStartError; a host that failed to start is stopped. */
  start(): Promise<void> {
    assert(this.phase === 'new', `start() on a host that is ${this.phase}`)
    this.phase = 'starting'
    this.starting = this.launch()
    return this.starting
  }

  private async launch(): Promise<void> {
    const config = this.config
    const dialTimeoutMs = config.dialTimeoutMs ?? 2500
    const bootstrapList = this.bootstrapList
    // No tagTTL for bootstrap peers: the documented `Infinity` is rejected by the peer store and
    // disables bootstrap silently; leaving it out keeps the tag forever.
    const peerDiscovery = [
      ...(config.mdns === true
        ? [mdns({ serviceTag: config.mdnsServiceTag ?? DEFAULT_MDNS_SERVICE_TAG, interval: 5000 })]
        : []),
      ...(bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList, timeout: 10 })] : []),
    ]
    let node: Libp2p<HostServices>
    try {
      node = await createLibp2p<HostServices>({
        start: false,
        privateKey: config.privateKey,
        addresses: { listen: [...config.listen] },
        transports: [tcp()],
        connectionEncrypters: [this.observedEncrypter(noise({ prologueBytes: noisePrologue(config.joinSecret) }))],
        streamMuxers: [yamux({ streamOptions: { maxReadBufferLength: STREAM_READ_BUFFER_BYTES_MAX } })],
        connectionGater: {
          denyDialPeer: (peerId) => this.deny('outbound', peerId, undefined),
          denyInboundEncryptedConnection: (peerId, connection) =>
            this.deny('inbound', peerId, connection.remoteAddr.toString()),
          denyOutboundEncryptedConnection: (peerId, connection) =>
            this.deny('outbound', peerId, connection.remoteAddr.toString()),
        },
        connectionManager: {
          dialTimeout: dialTimeoutMs,
          addressDialTimeout: dialTimeoutMs,
          inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND_PER_HOST_MAX,
          ...RECONNECT,
        },
        connectionMonitor: CONNECTION_MONITOR,
        peerDiscovery,
        services: {
          identify: identify(),
          ping: ping(),
          pubsub: gossipsubService(this.gossipConfig),
        },
      })
    } catch (error) {
      this.phase = 'stopped'
      throw new HostStartError('cannot create the libp2p node', { cause: error })
    }
    this.node = node
    this.listen(node)
    for (const peer of this.known.values()) this.tag(peer)
    try {
      await node.start()
    } catch (error) {
      this.phase = 'stopped'
      await stopNode(node).catch(() => {
        // The start error is the one worth reporting.
      })
      throw new HostStartError(`cannot start libp2p on ${config.listen.join(', ')}`, { cause: error })
    }
    if (this.phase === 'starting') this.phase = 'running'
  }

  /** Closes every connection and listener and cancels every timer. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    // A stop during start waits for the start to settle, so no node is left running.
    if (this.starting !== undefined) await this.starting.catch(() => {})
    this.phase = 'stopped'
    for (const peer of this.known.values()) {
      clearTimeout(peer.redialTimer)
      peer.redialTimer = undefined
    }
    if (this.node !== undefined) await stopNode(this.node)
  }

  /** The addresses peers can dial, each ending in `/p2p/<peer id>`. */
  multiaddrs(): string[] {
    const suffix = `/p2p/${this.peerId}`
    return this.libp2p.getMultiaddrs().map((address) => {
      const text = address.toString()
      return text.endsWith(suffix) ? text : text + suffix
    })
  }

  /** Peer ids with at least one open connection. */
  connectedPeers(): string[] {
    if (this.node === undefined || this.phase !== 'running') return []
    return this.node.getPeers().map((peerId) => peerId.toString())
  }

  /**
   * Connects to the peer at `address` (a multiaddr ending in `/p2p/<peer id>`) and keeps it
   * (see `keep`). Throws InvalidConfigError for a bad address, PeerDialError when the dial fails.
   */
  async dial(address: string, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const parsed = parsePeerMultiaddr(address)
    this.keep(address)
    try {
      await this.libp2p.dial(parsed.address, { signal: options.signal })
    } catch (error) {
      throw new PeerDialError(`cannot connect to ${address}: ${(error as Error).message}`, { cause: error })
    }
  }

  /**
   * Marks the peer at `address` (ending in `/p2p/<peer id>`) as one to stay connected to: its
   * address goes into the peer store and it is tagged KEEP_ALIVE. Does not dial by itself.
   * Throws InvalidConfigError for a bad address.
   */
  keep(address: string): void {
    const parsed = parsePeerMultiaddr(address)
    if (parsed.peerId === this.localPeerId) return
    const existing = this.known.get(parsed.peerId)
    if (existing !== undefined && existing.address?.equals(parsed.address) === true) return
    const peer = existing ?? newKnownPeer(peerIdFromString(parsed.peerId))
    peer.address = parsed.address
    this.known.set(parsed.peerId, peer)
    if (this.node !== undefined && this.phase !== 'stopped') this.tag(peer)
  }

  /** Undoes `keep`: the peer is no longer redialed. Existing connections stay open. */
  release(peerId: string): void {
    const peer = this.known.get(peerId)
    if (peer === undefined) return
    this.known.delete(peerId)
    clearTimeout(peer.redialTimer)
    const node = this.node
    if (node === undefined || this.phase === 'stopped') return
    node.peerStore.merge(peer.peerId, { tags: { [KEEP_ALIVE]: undefined } }).catch((error: Error) => {
      this.log(`${this.localPeerId}: cannot untag ${peerId}: ${error.message}`)
    })
  }

  /**
   * Closes every connection to `peerId`; a kept peer is then redialed as after any disconnect.
   * For connections that survived a network partition but whose protocol streams did not (gossip
   * silent on a connection that is still open): a fresh connection opens fresh streams.
   */
  async reconnect(peerId: string): Promise<void> {
    const node = this.node
    if (node === undefined || this.phase !== 'running') return
    await node.hangUp(peerIdFromString(peerId))
  }

  /** Closes connections to peers that `isAllowed` no longer admits (after a membership change). */
  async recheckAllowList(): Promise<void> {
    if (this.node === undefined || this.phase !== 'running') return
    const node = this.node
    const closing = node.getPeers().filter((peerId) => !this.isAllowed(peerId.toString()))
    for (const peerId of closing) this.log(`${this.localPeerId}: disconnecting ${peerId}: no longer allowed`)
    await Promise.all(closing.map((peerId) => node.hangUp(peerId).catch(() => {})))
  }

  /** Adds a listener for connection events; returns a function that removes it. */
  onEvent(listener: HostEventListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Refusal counters since start. */
  stats(): { readonly refusedHandshakes: number; readonly refusedByAllowList: number } {
    return { refusedHandshakes: this.refusedHandshakes, refusedByAllowList: this.refusedByAllowList }
  }

  private emit(event: HostEvent): void {
    for (const listener of this.listeners) listener(event)
  }

  private listen(node: Libp2p<HostServices>): void {
    // libp2p dispatches these through EventTarget, where a throw would become an uncaught
    // exception that kills the daemon; the bodies below only log and schedule.
    node.addEventListener('peer:connect', (event) => {
      const peerId = event.detail.toString()
      const peer = this.known.get(peerId)
      if (peer !== undefined) {
        clearTimeout(peer.redialTimer)
        peer.redialTimer = undefined
        peer.redialFailures = 0
      }
      this.emit({ type: 'peer:connect', peerId })
    })
    node.addEventListener('peer:disconnect', (event) => {
      this.emit({ type: 'peer:disconnect', peerId: event.detail.toString() })
    })
    node.addEventListener('peer:reconnect-failure', (event) => {
      const peer = this.known.get(event.detail.toString())
      if (peer === undefined || this.phase !== 'running') return
      this.log(`${this.localPeerId}: libp2p gave up redialing ${peer.peerId}; the host keeps trying`)
      this.tag(peer)
      this.scheduleRedial(peer)
    })
    node.addEventListener('peer:discovery', (event) => {
      const peerId = event.detail.id
      const id = peerId.toString()
      if (this.phase !== 'running' || id === this.localPeerId || !this.isAllowed(id)) return
      if (node.getConnections(peerId).length > 0) return
      // Discovered peers are kept like configured ones, so mDNS peers survive restarts too.
      let peer = this.known.get(id)
      if (peer === undefined) {
        peer = newKnownPeer(peerId)
        this.known.set(id, peer)
        this.tag(peer)
      }
      node.dial(peerId).catch((error: Error) => {
        this.log(`${this.localPeerId}: cannot dial discovered ${id}: ${error.message}`)
      })
    })
  }

  /** Tags a known peer KEEP_ALIVE and records its address. Asynchronous; failures are logged. */
  private tag(peer: KnownPeer): void {
    const node = this.node
    if (node === undefined) return
    const update = {
      tags: { [KEEP_ALIVE]: { value: 1 } },
      ...(peer.address === undefined ? {} : { multiaddrs: [peer.address] }),
    }
    node.peerStore.merge(peer.peerId, update).catch((error: Error) => {
      this.log(`${this.localPeerId}: cannot tag ${peer.peerId}: ${error.message}`)
    })
  }

  /** Redials a known peer after libp2p gave up, with capped exponential backoff and equal jitter. */
  private scheduleRedial(peer: KnownPeer): void {
    if (peer.redialTimer !== undefined) return
    const delayMs = jitteredBackoffMs(peer.redialFailures, REDIAL_DELAY_MS_MIN, REDIAL_DELAY_MS_MAX, this.random)
    peer.redialTimer = setTimeout(() => {
      peer.redialTimer = undefined
      const node = this.node
      if (node === undefined || this.phase !== 'running' || this.known.get(peer.peerId.toString()) !== peer) return
      if (node.getConnections(peer.peerId).length > 0) return
      const target = peer.address ?? peer.peerId
      node.dial(target).catch((error: Error) => {
        if (this.phase !== 'running' || this.known.get(peer.peerId.toString()) !== peer) return
        if (peer.redialFailures === 0) {
          this.log(`${this.localPeerId}: redial of ${peer.peerId} failed: ${error.message}`)
        }
        peer.redialFailures++
        this.scheduleRedial(peer)
      })
    }, delayMs)
  }

  /** The connection gater's verdict: true refuses. Logs and reports refusals. */
  private deny(direction: 'inbound' | 'outbound', peerId: Libp2pPeerId, remoteAddress: string | undefined): boolean {
    const id = peerId.toString()
    if (this.isAllowed(id)) return false
    this.refusedByAllowList++
    this.refused({ direction, stage: 'allow-list', remoteAddress, remotePeerId: id, reason: 'not on the allow-list' })
    return true
  }

  private refused(refusal: HostRefusal): void {
    const where = refusal.remoteAddress === undefined ? '' : ` at ${refusal.remoteAddress}`
    const who = refusal.remotePeerId ?? 'a peer'
    const verb = refusal.direction === 'inbound' ? 'refused connection from' : 'refused connection to'
    this.log(`${this.localPeerId}: ${verb} ${who}${where}: ${refusal.reason}`)
    this.emit({ type: 'refused', refusal })
  }

  /**
   * Wraps the Noise encrypter so that failed handshakes are seen: libp2p only writes them to its
   * debug log. The instance is patched rather than wrapped, so libp2p still sees its service
   * capabilities.
   */
  private observedEncrypter<F extends (components: never) => ConnectionEncrypter>(factory: F): F {
    const observed = (components: never): ConnectionEncrypter => {
      const encrypter = factory(components)
      const secureInbound = encrypter.secureInbound.bind(encrypter)
      const secureOutbound = encrypter.secureOutbound.bind(encrypter)
      encrypter.secureInbound = async (connection, options) => {
        try {
          return await secureInbound(connection, options)
        } catch (error) {
          this.handshakeFailed('inbound', connection, error)
          throw error
        }
      }
      encrypter.secureOutbound = async (connection, options) => {
        try {
          return await secureOutbound(connection, options)
        } catch (error) {
          this.handshakeFailed('outbound', connection, error)
          throw error
        }
      }
      return encrypter
    }
    return observed as F
  }

  private handshakeFailed(direction: 'inbound' | 'outbound', connection: MessageStream, error: unknown): void {
    if (this.phase !== 'running') return
    this.refusedHandshakes++
    const remoteAddress = (connection as { remoteAddr?: Multiaddr }).remoteAddr?.toString()
    const cause = error instanceof Error ? error.message : String(error)
    this.refused({
      direction,
      stage: 'handshake',
      remoteAddress,
      remotePeerId: undefined,
      reason: `Noise handshake failed (wrong or missing join secret?): ${cause}`,
    })
  }
}
