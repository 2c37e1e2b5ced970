/**
 * The Transport (see ../transport.ts) over a Libp2pHost: Raft frames on the libp2p protocol
 * `/flotilla/raft/1.0.0`, encrypted and authenticated by Noise, admitted by the join secret.
 *
 * Ids: the transport's ids are application node ids (Raft ids), not libp2p peer ids. `setPeers`
 * maps each node id to a multiaddr ending in `/p2p/<peer id>`; dialing that address proves, through
 * Noise, that the far end holds that peer's key.
 *
 * Streams are one-way and long-lived, as connections are in TransportTcp: each transport opens one
 * outbound stream per peer, lazily on the first frame, and sends its frames only on it; it receives
 * frames only on streams peers opened to it. The first frame in each direction is a hello. The
 * dialer's names itself and the node it meant to reach; the acceptor checks it (the target is this
 * node; the sender's node id, when known here, belongs to the libp2p peer id that authenticated the
 * connection) and answers with its own hello, carrying a refusal reason when it refuses. Only then
 * does the dialer send frames. A stream that breaks is reopened after a jittered exponential
 * backoff, keeping the frames still queued.
 *
 * Wire format: frames with an unsigned varint length prefix (framing.ts). Small frames queued in
 * one burst go out in one `send` (a batch of up to about 64 KiB), because libp2p's cost is per
 * write (a yamux frame, an AEAD seal and a syscall), not per byte. Backpressure: when `send`
 * returns false, nothing more is written until the stream's 'drain' event (never `onDrain()`,
 * which only works once in @libp2p/utils 7.4.1).
 *
 * Bulk rate limit: frames larger than `bulkFrameBytesMin` (64 KiB: snapshot chunks, large appends)
 * pass through a per-peer token bucket (`bulkBytesPerSecondMax`, 32 MiB/s by default), so a
 * snapshot transfer cannot fill the connection and starve heartbeats, nor delay libp2p's own
 * connection-monitor pings into false failures. Small frames bypass the bucket.
 *
 * Ordering, and the one exception to the Transport contract's per-peer order: frames leave in the
 * order they were sent, except that while a bulk frame waits for tokens, small frames sent after it
 * may overtake it (bulk frames never overtake anything, and small frames keep their order among
 * themselves, as bulk frames do among themselves). Without this, a leader pipelining 1 MiB appends
 * would hold its heartbeats back for as long as the bucket needs, which can exceed an election
 * timeout. Raft tolerates the reordering: every message carries its term and log position, and a
 * follower rejects an append that does not fit, which the leader answers by probing.
 *
 * No duplicates: a frame leaves the queue when it is handed to the stream and is never sent again.
 * When a stream breaks, whatever libp2p still buffered for it is lost (Raft retries).
 */
import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { assert } from '../../../lib/assert.ts'
import { ClockOs, type Clock } from '../../../lib/clock.ts'
import { FlotillaError, InvalidConfigError } from '../../../lib/errors.ts'
import type { Random } from '../../../lib/random.ts'
import type { FrameHandler, PeerId, Transport, TransportStats } from '../transport.ts'
import { encodeFrameHeader, Fifo, FrameDecoder } from './framing.ts'
import { parsePeerMultiaddr, type Libp2pHost } from './host-libp2p.ts'
import { TokenBucket } from './token-bucket.ts'
import { jitteredBackoffMs } from '../backoff.ts'

/** The libp2p protocol id of Raft frames. */
export const RAFT_PROTOCOL = '/flotilla/raft/1.0.0'

/** A stream's peer broke the protocol: bad hello, wrong target, unexpected data. */
export class HandshakeError extends FlotillaError {
  override name = 'HandshakeError'
}

export interface TransportLibp2pConfig {
  /** This node's Raft id, announced in hellos. */
  readonly localId: PeerId
  /** A started host; the transport registers its protocol on it and leaves its lifecycle alone. */
  readonly host: Libp2pHost
  /** Jitter for reconnect delays. */
  readonly random: Random
  /** Time for the bulk token buckets. Default: the OS clock. */
  readonly clock?: Clock
  /** Receives one line per notable event (refused hellos, failing peers). */
  readonly log?: (line: string) => void
  /** Largest frame sent or accepted. Default 16 MiB. */
  readonly frameBytesMax?: number
  /** Bound on the bytes queued for one peer. Default 64 MiB. */
  readonly queueBytesMax?: number
  /** Bound on the frames queued for one peer. Default 10,000. */
  readonly queueFramesMax?: number
  /** First reconnect delay (before jitter). Default 20 ms. */
  readonly reconnectDelayMsMin?: number
  /** Ceiling of the exponential reconnect delay. Default 1000 ms. */
  readonly reconnectDelayMsMax?: number
  /** Time allowed to open a stream and exchange hellos, and for an accepted stream to say hello. Default 5 s. */
  readonly handshakeTimeoutMs?: number
  /** Frames larger than this are bulk and rate-limited. Default 64 KiB. */
  readonly bulkFrameBytesMin?: number
  /** Rate limit of bulk frames, per peer. Default 32 MiB/s. */
  readonly bulkBytesPerSecondMax?: number
  /** Bulk bytes that may go at once after an idle period, per peer. Default 1 MiB. */
  readonly bulkBurstBytes?: number
  /** Bound on accepted streams open at once (peers, plus strangers not yet past hello). Default 1024. */
  readonly inboundStreamsMax?: number
}

interface ResolvedConfig {
  readonly frameBytesMax: number
  readonly queueBytesMax: number
  readonly queueFramesMax: number
  readonly reconnectDelayMsMin: number
  readonly reconnectDelayMsMax: number
  readonly handshakeTimeoutMs: number
  readonly bulkFrameBytesMin: number
  readonly bulkBytesPerSecondMax: number
  readonly bulkBurstBytes: number
  readonly inboundStreamsMax: number
}

const KIB = 1024
const MIB = 1024 * KIB
/** Hellos are tiny, and a stream that has not said hello is unauthenticated at the Raft level. */
const HELLO_BYTES_MAX = 4096
const HELLO_PREFIX = 'flotilla-raft/1 hello '
/** Bound on node ids, in UTF-8 bytes. */
const NAME_BYTES_MAX = 256
/** A batch of small frames is closed once it reaches this size. */
const BATCH_BYTES_TARGET = 64 * KIB
/** Streams of this protocol per connection: one from each side, plus overlap while reopening. */
const PROTOCOL_STREAMS_PER_CONNECTION_MAX = 8

function resolveConfig(config: TransportLibp2pConfig): ResolvedConfig {
  const resolved: ResolvedConfig = {
    frameBytesMax: config.frameBytesMax ?? 16 * MIB,
    queueBytesMax: config.queueBytesMax ?? 64 * MIB,
    queueFramesMax: config.queueFramesMax ?? 10_000,
    reconnectDelayMsMin: config.reconnectDelayMsMin ?? 20,
    reconnectDelayMsMax: config.reconnectDelayMsMax ?? 1000,
    handshakeTimeoutMs: config.handshakeTimeoutMs ?? 5000,
    bulkFrameBytesMin: config.bulkFrameBytesMin ?? 64 * KIB,
    bulkBytesPerSecondMax: config.bulkBytesPerSecondMax ?? 32 * MIB,
    bulkBurstBytes: config.bulkBurstBytes ?? MIB,
    inboundStreamsMax: config.inboundStreamsMax ?? 1024,
  }
  if (!isValidName(config.localId)) throw new InvalidConfigError(`localId must be 1 to ${NAME_BYTES_MAX} bytes`)
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidConfigError(`${key} must be a positive integer, got ${value}`)
    }
  }
  if (resolved.frameBytesMax > resolved.queueBytesMax) {
    throw new InvalidConfigError('frameBytesMax must not exceed queueBytesMax: such a frame could never be queued')
  }
  if (resolved.reconnectDelayMsMin > resolved.reconnectDelayMsMax) {
    throw new InvalidConfigError('reconnectDelayMsMin must not exceed reconnectDelayMsMax')
  }
  return resolved
}

interface Hello {
  readonly from: PeerId
  readonly to: PeerId
  /** In an acceptor's answer: why it refuses the stream. */
  readonly refused?: string
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

function isValidName(id: string): boolean {
  return id !== '' && utf8Encoder.encode(id).byteLength <= NAME_BYTES_MAX
}

/** A hello is readable text: a versioned prefix, then JSON. */
function encodeHello(hello: Hello): Uint8Array {
  const payload = utf8Encoder.encode(HELLO_PREFIX + JSON.stringify(hello))
  const header = encodeFrameHeader(payload.byteLength)
  const frame = new Uint8Array(header.byteLength + payload.byteLength)
  frame.set(header)
  frame.set(payload, header.byteLength)
  return frame
}

/** Parses a hello frame. Throws HandshakeError when it is not one. */
function decodeHello(frame: Uint8Array): Hello {
  let fields: unknown
  try {
    const text = utf8Decoder.decode(frame)
    if (!text.startsWith(HELLO_PREFIX)) throw new HandshakeError('not a Flotilla Raft hello')
    fields = JSON.parse(text.slice(HELLO_PREFIX.length))
  } catch (error) {
    if (error instanceof HandshakeError) throw error
    throw new HandshakeError('not a Flotilla Raft hello', { cause: error })
  }
  if (typeof fields !== 'object' || fields === null) throw new HandshakeError('malformed hello')
  const { from, to, refused } = fields as { from?: unknown; to?: unknown; refused?: unknown }
  if (typeof from !== 'string' || typeof to !== 'string' || !isValidName(from)) {
    throw new HandshakeError('malformed hello')
  }
  if (refused !== undefined && typeof refused !== 'string') throw new HandshakeError('malformed hello')
  return refused === undefined ? { from, to } : { from, to, refused }
}

/** The chunks of a stream 'message' event's data. */
function chunksOf(data: Uint8Array | Uint8ArrayList): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data
}

interface Queued {
  readonly frame: Uint8Array
  /** Position in the order of `send` calls to this peer. */
  readonly seq: number
}

/**
 * The outbound side of one peer. `idle`: no stream and none wanted yet. `backoff`: waiting for
 * the reconnect timer. `dialing`: libp2p is connecting and negotiating the protocol. `greeting`:
 * the stream is open and our hello sent; waiting for the answer. `open`: frames flow.
 */
interface PeerLink {
  readonly id: PeerId
  address: Multiaddr
  addressText: string
  /** The libp2p peer id in `address`. */
  peerId: string
  /** Frames up to bulkFrameBytesMin, and larger ones; see the module comment on ordering. */
  readonly small: Fifo<Queued>
  readonly bulk: Fifo<Queued>
  queuedFrames: number
  queuedBytes: number
  nextSeq: number
  readonly bucket: TokenBucket
  state: 'idle' | 'backoff' | 'dialing' | 'greeting' | 'open'
  stream: Stream | undefined
  /** Cancels the dial in progress; identifies it, so a superseded dial's outcome is ignored. */
  dial: AbortController | undefined
  /** Bounds dialing plus greeting. */
  handshakeTimer: ReturnType<typeof setTimeout> | undefined
  /** The stream asked us to wait for 'drain'. */
  blocked: boolean
  flushScheduled: boolean
  /** A bulk frame waits for tokens; the timer flushes when they are there. */
  tokenTimer: ReturnType<typeof setTimeout> | undefined
  failures: number
  reconnectTimer: ReturnType<typeof setTimeout> | undefined
}

/** See the module comment and the contract in ../transport.ts. */
export class TransportLibp2p implements Transport {
  readonly localId: PeerId
  private readonly config: ResolvedConfig
  private readonly host: Libp2pHost
  private readonly random: Random
  private readonly clock: Clock
  private readonly log: (line: string) => void
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new'
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private handler: FrameHandler | undefined
  private readonly links = new Map<PeerId, PeerLink>()
  /** The newest inbound stream from each node that said hello. */
  private readonly inboundById = new Map<PeerId, Stream>()
  /** Every accepted stream, so stop() can close it, with its hello timer. */
  private readonly inbound = new Map<Stream, ReturnType<typeof setTimeout> | undefined>()
  private sentFrames = 0
  private droppedFrames = 0
  private receivedFrames = 0

  /** Throws InvalidConfigError for out-of-range settings. */
  constructor(config: TransportLibp2pConfig) {
    this.config = resolveConfig(config)
    this.localId = config.localId
    this.host = config.host
    this.random = config.random
    this.clock = config.clock ?? new ClockOs()
    this.log = config.log ?? (() => {})
  }

  /** Registers the protocol handler on the (running) host. */
  start(): Promise<void> {
    assert(this.phase === 'new', `start() on a transport that is ${this.phase}`)
    assert(this.host.running, 'TransportLibp2p needs a running host')
    this.phase = 'starting'
    this.starting = this.register()
    return this.starting
  }

  private async register(): Promise<void> {
    await this.host.libp2p.handle(RAFT_PROTOCOL, (stream, connection) => this.accept(stream, connection), {
      maxInboundStreams: PROTOCOL_STREAMS_PER_CONNECTION_MAX,
      maxOutboundStreams: PROTOCOL_STREAMS_PER_CONNECTION_MAX,
    })
    if (this.phase === 'starting') this.phase = 'running'
  }

  /** Closes every stream of this transport, drops queued frames and cancels every timer. The host keeps running. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    if (this.starting !== undefined) await this.starting.catch(() => {})
    this.phase = 'stopped'
    for (const link of this.links.values()) this.discardLink(link)
    this.links.clear()
    for (const [stream, helloTimer] of this.inbound) {
      clearTimeout(helloTimer)
      stream.abort(new FlotillaError('transport stopped'))
    }
    this.inbound.clear()
    this.inboundById.clear()
    if (this.host.running) await this.host.libp2p.unhandle(RAFT_PROTOCOL).catch(() => {})
  }

  send(to: PeerId, frame: Uint8Array): boolean {
    const link = this.links.get(to)
    if (this.phase !== 'running' || link === undefined) return this.drop()
    if (frame.byteLength > this.config.frameBytesMax) {
      this.log(`${this.localId}: dropped a frame of ${frame.byteLength} bytes to ${to}: over frameBytesMax`)
      return this.drop()
    }
    if (
      link.queuedFrames >= this.config.queueFramesMax ||
      link.queuedBytes + frame.byteLength > this.config.queueBytesMax
    ) {
      return this.drop()
    }
    const queued = { frame, seq: link.nextSeq++ }
    if (frame.byteLength > this.config.bulkFrameBytesMin) link.bulk.push(queued)
    else link.small.push(queued)
    link.queuedFrames++
    link.queuedBytes += frame.byteLength
    if (link.state === 'idle') this.dial(link)
    else if (link.state === 'open') this.scheduleFlush(link)
    return true
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler
  }

  /**
   * Peers are node id → multiaddr ending in `/p2p/<peer id>`. Each is also kept by the host
   * (KEEP_ALIVE), and peers removed here are released. Throws InvalidConfigError for an address
   * without a peer id, changing nothing.
   */
  setPeers(peers: ReadonlyMap<PeerId, string>): void {
    const wanted = new Map<PeerId, { address: Multiaddr; peerId: string; text: string }>()
    for (const [id, text] of peers) {
      if (id !== this.localId) wanted.set(id, { ...parsePeerMultiaddr(text), text })
    }
    for (const link of this.links.values()) {
      if (wanted.has(link.id)) continue
      this.links.delete(link.id)
      this.discardLink(link)
      if (![...wanted.values()].some((peer) => peer.peerId === link.peerId)) this.host.release(link.peerId)
    }
    for (const [id, peer] of wanted) {
      this.host.keep(peer.text)
      const link = this.links.get(id)
      if (link === undefined) {
        this.links.set(id, this.newLink(id, peer.address, peer.peerId, peer.text))
      } else if (!link.address.equals(peer.address)) {
        link.address = peer.address
        link.addressText = peer.text
        link.peerId = peer.peerId
        // Reconnect at the new address with the queue intact, after the shortest backoff.
        link.failures = 0
        this.breakLink(link, new FlotillaError(`peer moved to ${peer.text}`))
      }
    }
  }

  stats(): TransportStats {
    let queuedBytes = 0
    for (const link of this.links.values()) queuedBytes += link.queuedBytes
    return {
      sentFrames: this.sentFrames,
      droppedFrames: this.droppedFrames,
      receivedFrames: this.receivedFrames,
      queuedBytes,
    }
  }

  private newLink(id: PeerId, address: Multiaddr, peerId: string, addressText: string): PeerLink {
    return {
      id,
      address,
      addressText,
      peerId,
      small: new Fifo(),
      bulk: new Fifo(),
      queuedFrames: 0,
      queuedBytes: 0,
      nextSeq: 0,
      bucket: new TokenBucket(this.config.bulkBytesPerSecondMax, this.config.bulkBurstBytes, this.clock),
      state: 'idle',
      stream: undefined,
      dial: undefined,
      handshakeTimer: undefined,
      blocked: false,
      flushScheduled: false,
      tokenTimer: undefined,
      failures: 0,
      reconnectTimer: undefined,
    }
  }

  private drop(): false {
    this.droppedFrames++
    return false
  }

  private isCurrent(link: PeerLink): boolean {
    return this.phase === 'running' && this.links.get(link.id) === link
  }

  /** Detaches a link that is going away: its queue is dropped, its stream and timers end. */
  private discardLink(link: PeerLink): void {
    clearTimeout(link.reconnectTimer)
    link.reconnectTimer = undefined
    this.droppedFrames += link.queuedFrames
    link.small.clear()
    link.bulk.clear()
    link.queuedFrames = 0
    link.queuedBytes = 0
    this.breakLink(link, new FlotillaError('peer removed'))
  }

  /**
   * Ends the link's dial or stream. A current link then reconnects through the usual failure
   * path (the stream's close handler), or at once for a dial in progress.
   */
  private breakLink(link: PeerLink, reason: Error): void {
    clearTimeout(link.tokenTimer)
    link.tokenTimer = undefined
    if (link.state === 'dialing') {
      const dial = link.dial
      this.endHandshake(link)
      link.state = 'idle'
      dial?.abort(reason)
      if (this.isCurrent(link) && link.queuedFrames > 0) this.dial(link)
      return
    }
    // abort() dispatches 'close' synchronously, which runs outboundClosed.
    link.stream?.abort(reason)
  }

  private endHandshake(link: PeerLink): void {
    clearTimeout(link.handshakeTimer)
    link.handshakeTimer = undefined
    link.dial = undefined
  }

  // Outbound ---------------------------------------------------------------------------------

  private dial(link: PeerLink): void {
    assert(link.state === 'idle' || link.state === 'backoff', `dial from state ${link.state}`)
    assert(link.stream === undefined, 'dial with a stream still attached')
    if (!this.host.running) {
      // The host was stopped under a running transport (shutdown order): nothing can be dialed,
      // and frames wait, within their bounds, until the transport is stopped too.
      link.state = 'idle'
      return
    }
    const dial = new AbortController()
    link.state = 'dialing'
    link.dial = dial
    link.handshakeTimer = setTimeout(() => {
      const error = new HandshakeError(`no stream and hello within ${this.config.handshakeTimeoutMs} ms`)
      if (link.dial === dial) dial.abort(error)
      else link.stream?.abort(error)
    }, this.config.handshakeTimeoutMs)
    this.host.libp2p.dialProtocol(link.address, RAFT_PROTOCOL, { signal: dial.signal }).then(
      (stream) => this.streamOpened(link, dial, stream),
      (error: Error) => this.dialFailed(link, dial, error),
    )
  }

  private dialFailed(link: PeerLink, dial: AbortController, error: Error): void {
    // A dial that was superseded (peer moved or removed, transport stopped) is not a failure.
    if (link.dial !== dial) return
    this.endHandshake(link)
    link.state = 'idle'
    if (!this.isCurrent(link)) return
    this.reportFailure(link, false, error)
    this.scheduleReconnect(link)
  }

  private streamOpened(link: PeerLink, dial: AbortController, stream: Stream): void {
    if (link.dial !== dial || !this.isCurrent(link)) {
      stream.abort(new FlotillaError('stream no longer wanted'))
      return
    }
    link.dial = undefined
    link.state = 'greeting'
    link.stream = stream
    const decoder = new FrameDecoder(HELLO_BYTES_MAX)
    let lastError: Error | undefined
    // Listener bodies never throw on network input: a throw in an EventTarget listener is an
    // uncaught exception that would kill the daemon.
    stream.addEventListener('message', (event) => {
      try {
        if (link.stream !== stream || link.state !== 'greeting') {
          throw new HandshakeError('data after the hello on an outbound stream')
        }
        for (const chunk of chunksOf(event.data)) {
          if (!decoder.push(chunk, (frame) => this.acceptAnswer(link, frame))) break
        }
      } catch (error) {
        if (!(error instanceof FlotillaError)) throw error
        lastError = error
        stream.abort(error)
      }
    })
    stream.addEventListener('drain', () => {
      if (link.stream !== stream) return
      link.blocked = false
      this.flush(link)
    })
    // The acceptor never closes its side while it wants frames; a half-close is a goodbye.
    stream.addEventListener('remoteCloseWrite', () => stream.abort(new FlotillaError('closed by the peer')))
    stream.addEventListener('close', (event) => this.outboundClosed(link, stream, lastError ?? event.error))
    try {
      stream.send(encodeHello({ from: this.localId, to: link.id }))
    } catch (error) {
      stream.abort(error as Error)
    }
  }

  /**
   * Checks the acceptor's answer and opens the link. Returns false to stop decoding: the
   * acceptor sends nothing after its hello. Throws HandshakeError.
   */
  private acceptAnswer(link: PeerLink, frame: Uint8Array): boolean {
    const hello = decodeHello(frame)
    if (hello.from !== link.id) throw new HandshakeError(`${link.addressText} answered as '${hello.from}'`)
    if (hello.refused !== undefined) throw new HandshakeError(`refused by ${link.id}: ${hello.refused}`)
    if (link.failures > 0) this.log(`${this.localId}: connected to ${link.id} after ${link.failures} failed attempts`)
    this.endHandshake(link)
    link.state = 'open'
    link.failures = 0
    this.flush(link)
    return false
  }

  private outboundClosed(link: PeerLink, stream: Stream, error: Error | undefined): void {
    if (link.stream !== stream) return
    const wasOpen = link.state === 'open'
    this.endHandshake(link)
    clearTimeout(link.tokenTimer)
    link.tokenTimer = undefined
    link.stream = undefined
    link.blocked = false
    link.state = 'idle'
    if (!this.isCurrent(link)) return
    this.reportFailure(link, wasOpen, error)
    this.scheduleReconnect(link)
  }

  /** One line per streak of failures, so an unreachable peer does not flood the log. */
  private reportFailure(link: PeerLink, wasOpen: boolean, error: Error | undefined): void {
    if (link.failures > 0) return
    const what = wasOpen ? 'lost' : 'failed'
    const why = error?.message ?? 'closed by the peer'
    this.log(`${this.localId}: stream to ${link.id} at ${link.addressText} ${what}: ${why}`)
  }

  /**
   * Exponential backoff with "equal jitter": the delay is drawn from the upper half of the
   * current ceiling, so peers that lost each other at the same moment do not redial in lockstep,
   * yet a flapping peer is never retried sooner than half the ceiling.
   */
  private scheduleReconnect(link: PeerLink): void {
    const { reconnectDelayMsMin, reconnectDelayMsMax } = this.config
    const delayMs = jitteredBackoffMs(link.failures, reconnectDelayMsMin, reconnectDelayMsMax, this.random)
    link.failures++
    link.state = 'backoff'
    link.reconnectTimer = setTimeout(() => {
      link.reconnectTimer = undefined
      if (!this.isCurrent(link) || link.state !== 'backoff') return
      // Dialing stays lazy: with nothing queued, the next send dials.
      if (link.queuedFrames > 0) this.dial(link)
      else link.state = 'idle'
    }, delayMs)
  }

  /** Coalesces the sends of one synchronous burst into one flush. */
  private scheduleFlush(link: PeerLink): void {
    if (link.flushScheduled || link.blocked) return
    link.flushScheduled = true
    queueMicrotask(() => {
      link.flushScheduled = false
      this.flush(link)
    })
  }

  /**
   * Writes queued frames until the queues are empty, the stream asks us to wait for 'drain', or
   * only bulk frames waiting for tokens are left. See the module comment for the order.
   */
  private flush(link: PeerLink): void {
    const stream = link.stream
    if (!this.isCurrent(link) || link.state !== 'open' || link.blocked || stream === undefined) return
    let bulkWaits = false
    try {
      while (!link.blocked && link.stream === stream) {
        const bulk = link.bulk.peek()
        const small = link.small.peek()
        if (bulk !== undefined && !bulkWaits && (small === undefined || bulk.seq < small.seq)) {
          if (link.bucket.tryTake(bulk.frame.byteLength)) {
            this.dequeue(link, link.bulk)
            this.write(link, stream, new Uint8ArrayList(encodeFrameHeader(bulk.frame.byteLength), bulk.frame), 1)
          } else {
            bulkWaits = true
            this.armTokenTimer(link)
          }
          continue
        }
        if (small === undefined) break
        // Small frames up to the bulk head in send order, or past it while it waits for tokens.
        const seqLimit = bulk === undefined || bulkWaits ? Infinity : bulk.seq
        const batch = new Uint8ArrayList()
        let frames = 0
        for (let next = link.small.peek(); next !== undefined; next = link.small.peek()) {
          if (next.seq > seqLimit || batch.byteLength >= BATCH_BYTES_TARGET) break
          this.dequeue(link, link.small)
          batch.append(encodeFrameHeader(next.frame.byteLength))
          batch.append(next.frame)
          frames++
        }
        this.write(link, stream, batch, frames)
      }
    } catch (error) {
      // send() throws on a stream that closed under us; its close handler takes over from here.
      stream.abort(error as Error)
    }
  }

  private dequeue(link: PeerLink, lane: Fifo<Queued>): void {
    const queued = lane.shift()
    assert(queued !== undefined, 'dequeue from an empty lane')
    link.queuedFrames--
    link.queuedBytes -= queued.frame.byteLength
  }

  private write(link: PeerLink, stream: Stream, data: Uint8ArrayList, frames: number): void {
    this.sentFrames += frames
    // false: the data is buffered, but nothing more should be written until 'drain'.
    if (!stream.send(data)) link.blocked = true
  }

  private armTokenTimer(link: PeerLink): void {
    if (link.tokenTimer !== undefined) return
    link.tokenTimer = setTimeout(() => {
      link.tokenTimer = undefined
      this.flush(link)
    }, Math.max(1, link.bucket.waitMs()))
  }

  // Inbound ----------------------------------------------------------------------------------

  private accept(stream: Stream, connection: Connection): void {
    if (this.phase !== 'running' || this.inbound.size >= this.config.inboundStreamsMax) {
      stream.abort(new FlotillaError(this.phase === 'running' ? 'too many inbound streams' : 'transport stopped'))
      return
    }
    const remotePeerId = connection.remotePeer.toString()
    const decoder = new FrameDecoder(HELLO_BYTES_MAX)
    let state: 'hello' | 'open' | 'refused' = 'hello'
    let nodeId: PeerId | undefined
    const helloTimer = setTimeout(() => {
      const why = `no hello within ${this.config.handshakeTimeoutMs} ms`
      this.log(`${this.localId}: closing stream from ${remotePeerId}: ${why}`)
      stream.abort(new HandshakeError('no hello'))
    }, this.config.handshakeTimeoutMs)
    this.inbound.set(stream, helloTimer)

    const onFrame = (frame: Uint8Array): boolean => {
      if (state === 'hello') {
        clearTimeout(helloTimer)
        this.inbound.set(stream, undefined)
        nodeId = this.acceptHello(stream, frame, remotePeerId)
        if (nodeId === undefined) {
          state = 'refused'
          return false
        }
        state = 'open'
        decoder.frameBytesMax = this.config.frameBytesMax
        return true
      }
      assert(nodeId !== undefined, 'an open inbound stream has a node id')
      this.deliver(nodeId, frame)
      // The handler may have stopped the transport, which aborted this stream.
      return stream.status === 'open'
    }
    stream.addEventListener('message', (event) => {
      if (state === 'refused') return
      try {
        for (const chunk of chunksOf(event.data)) if (!decoder.push(chunk, onFrame)) break
      } catch (error) {
        if (!(error instanceof FlotillaError)) throw error
        this.log(`${this.localId}: closing stream from ${nodeId ?? remotePeerId}: ${error.message}`)
        stream.abort(error)
      }
    })
    // The dialer closing its side means it is done with this stream.
    stream.addEventListener('remoteCloseWrite', () => stream.abort(new FlotillaError('closed by the peer')))
    stream.addEventListener('close', () => {
      clearTimeout(helloTimer)
      this.inbound.delete(stream)
      if (nodeId !== undefined && this.inboundById.get(nodeId) === stream) this.inboundById.delete(nodeId)
    })
  }

  /**
   * Checks a dialer's hello and answers it. Returns the node id, or undefined when the stream is
   * refused (then it is closing). Throws HandshakeError for a malformed hello.
   */
  private acceptHello(stream: Stream, frame: Uint8Array, remotePeerId: string): PeerId | undefined {
    const hello = decodeHello(frame)
    let refusal: string | undefined
    const expectedPeerId = this.links.get(hello.from)?.peerId
    if (hello.to !== this.localId) {
      refusal = `it meant to reach node '${hello.to}', this is node '${this.localId}'`
    } else if (hello.from === this.localId) {
      refusal = 'it claims this node’s own id'
    } else if (expectedPeerId !== undefined && expectedPeerId !== remotePeerId) {
      refusal = `node '${hello.from}' is peer ${expectedPeerId} here, but the stream comes from peer ${remotePeerId}`
    }
    // The answer goes out even on a refusal, so the dialer can log why it was refused.
    const answer = encodeHello({
      from: this.localId,
      to: hello.from,
      ...(refusal === undefined ? {} : { refused: refusal }),
    })
    try {
      stream.send(answer)
    } catch {
      return undefined
    }
    if (refusal !== undefined) {
      this.log(`${this.localId}: refused stream from '${hello.from}' (peer ${remotePeerId}): ${refusal}`)
      stream.abort(new HandshakeError(refusal))
      return undefined
    }
    // An older stream from the same node is a reconnect whose break this side has not seen yet.
    // Closing it means nothing it still holds is delivered after frames from the new one, which
    // keeps frames from the node in order.
    this.inboundById.get(hello.from)?.abort(new FlotillaError('replaced by a newer stream'))
    this.inboundById.set(hello.from, stream)
    return hello.from
  }

  private deliver(from: PeerId, frame: Uint8Array): void {
    const handler = this.handler
    if (handler === undefined || this.phase !== 'running') return
    this.receivedFrames++
    handler(from, frame)
  }
}
