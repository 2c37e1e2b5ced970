/**
 * The Transport over plain TCP (node:net), for demos and benchmarks on 127.0.0.1. There is no
 * encryption and no authentication beyond a cluster name: see the contract in ../transport.ts.
 *
 * Connections are one-way. Each transport dials one long-lived outbound connection per peer, on
 * the first frame for it, and sends its frames only on that connection; it receives frames only on
 * the connections peers dialed to it. So there is never a race over which of two connections
 * between a pair to keep, and the order of frames on a link is the order of one TCP stream.
 *
 * Wire format: frames, each a 4-byte big-endian payload length then the payload. The first frame
 * in each direction is a hello (see encodeHello). The dialer sends its hello, the acceptor checks
 * it and answers with its own, and the dialer checks that the answer comes from the cluster and
 * peer id it meant to reach. Only then does the dialer send frames; the acceptor sends nothing
 * after its hello.
 *
 * No duplicates: a frame leaves the send queue when it is written to the socket and is never
 * written again. When a connection breaks, whatever Node and the kernel still buffered for it is
 * lost (Raft retries), while frames still in the queue wait for the next connection.
 */
import * as net from 'node:net'
import { assert } from '../../../lib/assert.ts'
import { FlotillaError, InvalidConfigError } from '../../../lib/errors.ts'
import type { Random } from '../../../lib/random.ts'
import type { FrameHandler, PeerId, Transport, TransportStats } from '../transport.ts'
import { jitteredBackoffMs } from '../backoff.ts'

/** Listening failed in `start` (address in use, no permission, bad host). */
export class TransportListenError extends FlotillaError {
  override name = 'TransportListenError'
}

/** A connection's peer broke the protocol: bad hello, wrong cluster or id, unexpected data. */
export class HandshakeError extends FlotillaError {
  override name = 'HandshakeError'
}

/** A length prefix announced a frame larger than this side accepts. */
export class FrameTooLargeError extends FlotillaError {
  override name = 'FrameTooLargeError'
}

/** A `host:port` pair; IPv6 hosts are written in brackets (`[::1]:7000`) in address strings. */
export interface SocketAddress {
  readonly host: string
  readonly port: number
}

export interface TransportTcpConfig {
  readonly localId: PeerId
  /** Peers refuse connections from a different cluster name: a guard against miswiring. */
  readonly clusterName: string
  /** Where to accept connections; port 0 picks a free port (see `address()`). */
  readonly listen: SocketAddress
  /** Jitter for reconnect delays. */
  readonly random: Random
  /** Receives one line per notable event (refused handshakes, failing peers). */
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
  /** Time allowed to connect and exchange hellos before a connection is dropped. Default 5 s. */
  readonly handshakeTimeoutMs?: number
  /** Bound on accepted connections open at once (peers, plus strangers not yet past hello). Default 1024. */
  readonly inboundConnectionsMax?: number
}

const MIB = 1024 * 1024
const FRAME_HEADER_BYTES = 4
/** The largest length a 4-byte prefix can carry. */
const FRAME_BYTES_LIMIT = 0xffff_ffff
/**
 * Hellos are tiny, and a connection that has not said hello yet is unauthenticated: allocating
 * more than this for it would let garbage (an HTTP request reads as a 1 GiB length) cost memory.
 */
const HELLO_BYTES_MAX = 4096
const HELLO_PREFIX = 'flotilla-transport/1 hello '
/** Bound on peer ids and cluster names, in UTF-8 bytes. */
const NAME_BYTES_MAX = 256
/** Frames up to this size are copied into one batch buffer, so a burst costs few syscalls. */
const COALESCE_FRAME_BYTES_MAX = 16 * 1024
const COALESCE_BATCH_BYTES_MAX = 64 * 1024
/** TCP keepalive finds inbound connections whose dialer vanished without a FIN. */
const KEEPALIVE_DELAY_MS = 10_000

/** Parses `host:port` or `[v6host]:port`. Throws InvalidConfigError. */
export function parseAddress(address: string): SocketAddress {
  const colon = address.lastIndexOf(':')
  if (colon <= 0) throw new InvalidConfigError(`peer address '${address}' is not host:port`)
  let host = address.slice(0, colon)
  const portText = address.slice(colon + 1)
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  const port = Number(portText)
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65_535 || host === '') {
    throw new InvalidConfigError(`peer address '${address}' is not host:port`)
  }
  return { host, port }
}

/** Formats a SocketAddress the way parseAddress reads it. */
export function formatAddress(address: SocketAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
}

interface Hello {
  readonly clusterName: string
  readonly id: PeerId
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** A hello is readable text: a versioned prefix, then JSON with the cluster name and sender id. */
function encodeHello(hello: Hello): Uint8Array {
  return utf8Encoder.encode(HELLO_PREFIX + JSON.stringify({ cluster: hello.clusterName, id: hello.id }))
}

/** Parses a hello frame. Throws HandshakeError when it is not one. */
function decodeHello(frame: Uint8Array): Hello {
  let text: string
  let fields: unknown
  try {
    text = utf8Decoder.decode(frame)
    if (!text.startsWith(HELLO_PREFIX)) throw new HandshakeError('not a Flotilla transport hello')
    fields = JSON.parse(text.slice(HELLO_PREFIX.length))
  } catch (error) {
    if (error instanceof HandshakeError) throw error
    throw new HandshakeError('not a Flotilla transport hello', { cause: error })
  }
  if (typeof fields !== 'object' || fields === null) throw new HandshakeError('malformed hello')
  const { cluster, id } = fields as { cluster?: unknown; id?: unknown }
  if (typeof cluster !== 'string' || typeof id !== 'string' || !isValidName(id)) {
    throw new HandshakeError('malformed hello')
  }
  return { clusterName: cluster, id }
}

function isValidName(id: string): boolean {
  return id !== '' && utf8Encoder.encode(id).byteLength <= NAME_BYTES_MAX
}

function encodeHeader(payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  header.writeUInt32BE(payloadBytes, 0)
  return header
}

/**
 * Splits a byte stream into length-prefixed frames. Each frame is copied once, into its own
 * buffer: handing out views of socket chunks instead would let one retained small frame (a log
 * entry kept by Raft) pin a whole 64 KiB chunk.
 */
class FrameDecoder {
  /** The largest frame accepted; raise it once the peer has said hello. */
  frameBytesMax: number
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES)
  private headerBytes = 0
  private frame: Uint8Array | undefined
  private frameBytes = 0

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax
  }

  /**
   * Consumes `chunk`, calling `onFrame` for each complete frame; stops early, discarding the
   * rest, when `onFrame` returns false. Throws FrameTooLargeError on an oversize length prefix.
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => boolean): void {
    let offset = 0
    while (offset < chunk.byteLength) {
      if (this.frame === undefined) {
        const headerTake = Math.min(FRAME_HEADER_BYTES - this.headerBytes, chunk.byteLength - offset)
        this.header.set(chunk.subarray(offset, offset + headerTake), this.headerBytes)
        this.headerBytes += headerTake
        offset += headerTake
        if (this.headerBytes < FRAME_HEADER_BYTES) return
        this.headerBytes = 0
        const h = this.header
        const lengthBytes = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0
        if (lengthBytes > this.frameBytesMax) {
          throw new FrameTooLargeError(`frame of ${lengthBytes} bytes exceeds the limit of ${this.frameBytesMax}`)
        }
        this.frame = new Uint8Array(lengthBytes)
        this.frameBytes = 0
      }
      const take = Math.min(this.frame.byteLength - this.frameBytes, chunk.byteLength - offset)
      this.frame.set(chunk.subarray(offset, offset + take), this.frameBytes)
      this.frameBytes += take
      offset += take
      if (this.frameBytes === this.frame.byteLength) {
        const complete = this.frame
        this.frame = undefined
        if (!onFrame(complete)) return
      }
    }
  }
}

/** A FIFO of frames with O(1) push and shift, tracking the bytes it holds. */
class FrameQueue {
  private items: (Uint8Array | undefined)[] = []
  private head = 0
  bytes = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(frame: Uint8Array): void {
    this.items.push(frame)
    this.bytes += frame.byteLength
  }

  /** The frame `index` places behind the head, without removing it. */
  peek(index: number): Uint8Array {
    const frame = this.items[this.head + index]
    assert(frame !== undefined, `peek(${index}) past the end of a queue of ${this.length}`)
    return frame
  }

  shift(): Uint8Array {
    const frame = this.peek(0)
    this.items[this.head] = undefined
    this.head++
    this.bytes -= frame.byteLength
    // Compacting once the dead prefix outweighs the live part keeps shift amortized O(1).
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return frame
  }

  /** Empties the queue; returns how many frames were discarded. */
  clear(): number {
    const discarded = this.length
    this.items = []
    this.head = 0
    this.bytes = 0
    return discarded
  }
}

/**
 * The outbound side of one peer. `idle`: no connection and none wanted yet. `backoff`: waiting
 * for the reconnect timer. `connecting`: TCP connect and hello exchange in progress. `open`:
 * frames flow.
 */
interface PeerLink {
  readonly id: PeerId
  address: SocketAddress
  readonly queue: FrameQueue
  state: 'idle' | 'backoff' | 'connecting' | 'open'
  socket: net.Socket | undefined
  /** socket.write() returned false: wait for 'drain' before writing more. */
  blocked: boolean
  flushScheduled: boolean
  /** Connections that failed since the last one that opened; drives the backoff. */
  failures: number
  reconnectTimer: NodeJS.Timeout | undefined
}

interface ResolvedConfig {
  readonly clusterName: string
  readonly listen: SocketAddress
  readonly frameBytesMax: number
  readonly queueBytesMax: number
  readonly queueFramesMax: number
  readonly reconnectDelayMsMin: number
  readonly reconnectDelayMsMax: number
  readonly handshakeTimeoutMs: number
  readonly inboundConnectionsMax: number
}

function resolveConfig(config: TransportTcpConfig): ResolvedConfig {
  const resolved: ResolvedConfig = {
    clusterName: config.clusterName,
    listen: config.listen,
    frameBytesMax: config.frameBytesMax ?? 16 * MIB,
    queueBytesMax: config.queueBytesMax ?? 64 * MIB,
    queueFramesMax: config.queueFramesMax ?? 10_000,
    reconnectDelayMsMin: config.reconnectDelayMsMin ?? 20,
    reconnectDelayMsMax: config.reconnectDelayMsMax ?? 1000,
    handshakeTimeoutMs: config.handshakeTimeoutMs ?? 5000,
    inboundConnectionsMax: config.inboundConnectionsMax ?? 1024,
  }
  if (!isValidName(config.localId)) {
    throw new InvalidConfigError(`localId must be 1 to ${NAME_BYTES_MAX} bytes`)
  }
  // Both names travel in the hello, which must stay under HELLO_BYTES_MAX.
  if (!isValidName(resolved.clusterName)) {
    throw new InvalidConfigError(`clusterName must be 1 to ${NAME_BYTES_MAX} bytes`)
  }
  const positive = [
    'frameBytesMax',
    'queueBytesMax',
    'queueFramesMax',
    'reconnectDelayMsMin',
    'reconnectDelayMsMax',
    'handshakeTimeoutMs',
    'inboundConnectionsMax',
  ] as const
  for (const key of positive) {
    if (!Number.isSafeInteger(resolved[key]) || resolved[key] <= 0) {
      throw new InvalidConfigError(`${key} must be a positive integer, got ${resolved[key]}`)
    }
  }
  if (resolved.frameBytesMax > FRAME_BYTES_LIMIT) {
    throw new InvalidConfigError(`frameBytesMax must fit the 4-byte length prefix`)
  }
  if (resolved.frameBytesMax > resolved.queueBytesMax) {
    throw new InvalidConfigError('frameBytesMax must not exceed queueBytesMax: such a frame could never be queued')
  }
  if (resolved.reconnectDelayMsMin > resolved.reconnectDelayMsMax) {
    throw new InvalidConfigError('reconnectDelayMsMin must not exceed reconnectDelayMsMax')
  }
  const port = resolved.listen.port
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidConfigError(`listen port must be in [0, 65535], got ${port}`)
  }
  return resolved
}

/** See the module comment and the contract in ../transport.ts. */
export class TransportTcp implements Transport {
  readonly localId: PeerId
  private readonly config: ResolvedConfig
  private readonly random: Random
  private readonly log: (line: string) => void
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new'
  private server: net.Server | undefined
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private handler: FrameHandler | undefined
  private readonly links = new Map<PeerId, PeerLink>()
  /** The newest inbound connection from each peer that said hello. */
  private readonly inboundById = new Map<PeerId, net.Socket>()
  /** Every live socket, in both directions, and a promise of its 'close'; stop() awaits them. */
  private readonly sockets = new Map<net.Socket, Promise<void>>()
  private sentFrames = 0
  private droppedFrames = 0
  private receivedFrames = 0

  /** Throws InvalidConfigError for out-of-range settings. */
  constructor(config: TransportTcpConfig) {
    this.config = resolveConfig(config)
    this.localId = config.localId
    this.random = config.random
    this.log = config.log ?? (() => {})
  }

  /** Listens on `listen`. Throws TransportListenError; a transport that failed to start is stopped. */
  start(): Promise<void> {
    assert(this.phase === 'new', `start() on a transport that is ${this.phase}`)
    this.phase = 'starting'
    this.starting = this.listen()
    return this.starting
  }

  private async listen(): Promise<void> {
    const server = net.createServer(
      { noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS },
      (socket) => this.accept(socket),
    )
    server.maxConnections = this.config.inboundConnectionsMax
    const { host, port } = this.config.listen
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ host, port }, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } catch (error) {
      this.phase = 'stopped'
      throw new TransportListenError(`${this.localId}: cannot listen on ${formatAddress({ host, port })}`, {
        cause: error,
      })
    }
    // Errors after listening (accept failures such as EMFILE) do not stop the server.
    server.on('error', (error) => this.log(`${this.localId}: listener error: ${error.message}`))
    this.server = server
    if (this.phase === 'starting') this.phase = 'running'
  }

  /** The address actually listened on (with the chosen port when `listen.port` was 0). */
  address(): SocketAddress {
    const bound = this.server?.address()
    assert(typeof bound === 'object' && bound !== null, 'address() needs a started transport')
    return { host: bound.address, port: bound.port }
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    // A stop during start waits for the listen to settle, so no server is left listening.
    if (this.starting !== undefined) await this.starting.catch(() => {})
    this.phase = 'stopped'
    for (const link of this.links.values()) this.discardLink(link)
    this.links.clear()
    this.inboundById.clear()
    const closed = [...this.sockets.values()]
    for (const socket of this.sockets.keys()) socket.destroy()
    const server = this.server
    if (server?.listening) closed.push(new Promise((resolve) => server.close(() => resolve())))
    await Promise.all(closed)
    // Sockets emit 'close' once libuv has released them, but a server emits it a tick early:
    // libuv frees the listening handle in the next close-callbacks phase. Two check phases
    // (immediates) later that phase has run, wherever in the loop we are now, so stop() resolves
    // with nothing of ours left in the event loop.
    if (server !== undefined) {
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve))
    }
  }

  send(to: PeerId, frame: Uint8Array): boolean {
    const link = this.links.get(to)
    if (this.phase !== 'running' || link === undefined) return this.drop()
    if (frame.byteLength > this.config.frameBytesMax) {
      this.log(`${this.localId}: dropped a frame of ${frame.byteLength} bytes to ${to}: over frameBytesMax`)
      return this.drop()
    }
    const queue = link.queue
    if (queue.length >= this.config.queueFramesMax || queue.bytes + frame.byteLength > this.config.queueBytesMax) {
      return this.drop()
    }
    queue.push(frame)
    if (link.state === 'idle') this.dial(link)
    else if (link.state === 'open') this.scheduleFlush(link)
    return true
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler
  }

  /** Throws InvalidConfigError for an address that is not `host:port`, changing nothing. */
  setPeers(peers: ReadonlyMap<PeerId, string>): void {
    const wanted = new Map<PeerId, SocketAddress>()
    for (const [id, address] of peers) {
      if (id !== this.localId) wanted.set(id, parseAddress(address))
    }
    for (const link of this.links.values()) {
      if (!wanted.has(link.id)) {
        this.links.delete(link.id)
        this.discardLink(link)
      }
    }
    for (const [id, address] of wanted) {
      const link = this.links.get(id)
      if (link === undefined) {
        this.links.set(id, {
          id,
          address,
          queue: new FrameQueue(),
          state: 'idle',
          socket: undefined,
          blocked: false,
          flushScheduled: false,
          failures: 0,
          reconnectTimer: undefined,
        })
      } else if (link.address.host !== address.host || link.address.port !== address.port) {
        link.address = address
        // The close handler redials (after the shortest backoff) with the queue intact.
        link.failures = 0
        link.socket?.destroy(new FlotillaError(`peer moved to ${formatAddress(address)}`))
      }
    }
  }

  stats(): TransportStats {
    let queuedBytes = 0
    for (const link of this.links.values()) queuedBytes += link.queue.bytes
    return {
      sentFrames: this.sentFrames,
      droppedFrames: this.droppedFrames,
      receivedFrames: this.receivedFrames,
      queuedBytes,
    }
  }

  private drop(): false {
    this.droppedFrames++
    return false
  }

  /** Registers a socket so stop() can close it and wait for it. */
  private track(socket: net.Socket): void {
    this.sockets.set(
      socket,
      new Promise((resolve) =>
        socket.once('close', () => {
          this.sockets.delete(socket)
          resolve()
        }),
      ),
    )
  }

  /** Detaches a link that is going away: its queue is dropped, its connection and timer end. */
  private discardLink(link: PeerLink): void {
    clearTimeout(link.reconnectTimer)
    link.reconnectTimer = undefined
    this.droppedFrames += link.queue.clear()
    link.socket?.destroy()
  }

  private isCurrent(link: PeerLink): boolean {
    return this.phase === 'running' && this.links.get(link.id) === link
  }

  // Outbound ---------------------------------------------------------------------------------

  private dial(link: PeerLink): void {
    assert(link.state === 'idle' || link.state === 'backoff', `dial from state ${link.state}`)
    assert(link.socket === undefined, 'dial with a socket still attached')
    const { host, port } = link.address
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_DELAY_MS,
    })
    this.track(socket)
    socket.setNoDelay(true)
    link.state = 'connecting'
    link.socket = socket
    // Covers both the TCP connect and the hello exchange; cleared once the link opens.
    socket.setTimeout(this.config.handshakeTimeoutMs)
    const decoder = new FrameDecoder(HELLO_BYTES_MAX)
    let lastError: Error | undefined

    socket.on('connect', () => {
      const hello = encodeHello({ clusterName: this.config.clusterName, id: this.localId })
      socket.write(encodeHeader(hello.byteLength))
      socket.write(hello)
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        if (link.socket !== socket || link.state !== 'connecting') {
          throw new HandshakeError('data after the hello on an outbound connection')
        }
        decoder.push(chunk, (frame) => this.acceptHelloReply(link, socket, frame))
      } catch (error) {
        if (!(error instanceof FlotillaError)) throw error
        lastError = error
        socket.destroy()
      }
    })
    socket.on('drain', () => {
      if (link.socket !== socket) return
      link.blocked = false
      this.flush(link)
    })
    socket.on('timeout', () => {
      lastError = new HandshakeError(`no hello within ${this.config.handshakeTimeoutMs} ms`)
      socket.destroy()
    })
    socket.on('error', (error) => {
      lastError = error
    })
    socket.on('close', () => this.outboundClosed(link, socket, lastError))
  }

  /**
   * Checks the acceptor's hello and opens the link. Returns false to stop decoding: the acceptor
   * sends nothing after its hello. Throws HandshakeError.
   */
  private acceptHelloReply(link: PeerLink, socket: net.Socket, frame: Uint8Array): boolean {
    const hello = decodeHello(frame)
    if (hello.clusterName !== this.config.clusterName) {
      throw new HandshakeError(
        `peer at ${formatAddress(link.address)} is in cluster '${hello.clusterName}', ` +
          `this node is in '${this.config.clusterName}'`,
      )
    }
    if (hello.id !== link.id) {
      throw new HandshakeError(`address ${formatAddress(link.address)} answered as '${hello.id}'`)
    }
    if (link.failures > 0) this.log(`${this.localId}: connected to ${link.id} after ${link.failures} failed attempts`)
    link.state = 'open'
    link.failures = 0
    socket.setTimeout(0)
    this.flush(link)
    return false
  }

  private outboundClosed(link: PeerLink, socket: net.Socket, error: Error | undefined): void {
    if (link.socket !== socket) return
    const wasOpen = link.state === 'open'
    link.socket = undefined
    link.blocked = false
    link.state = 'idle'
    if (!this.isCurrent(link)) return
    // One line per streak of failures, so an unreachable peer does not flood the log.
    if (link.failures === 0) {
      const what = wasOpen ? 'lost' : 'failed'
      const why = error?.message ?? 'closed by the peer'
      this.log(`${this.localId}: connection to ${link.id} at ${formatAddress(link.address)} ${what}: ${why}`)
    }
    this.scheduleReconnect(link)
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
      if (!this.isCurrent(link)) return
      // Dialing stays lazy: with nothing queued, the next send dials.
      if (link.queue.length > 0) this.dial(link)
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

  /** Writes queued frames until the queue is empty or the socket asks us to wait for 'drain'. */
  private flush(link: PeerLink): void {
    const socket = link.socket
    if (!this.isCurrent(link) || link.state !== 'open' || link.blocked) return
    if (socket === undefined || socket.destroyed) return
    const queue = link.queue
    let writable = true
    socket.cork()
    while (writable && queue.length > 0) {
      const first = queue.peek(0)
      if (first.byteLength > COALESCE_FRAME_BYTES_MAX) {
        queue.shift()
        socket.write(encodeHeader(first.byteLength))
        writable = socket.write(first)
        this.sentFrames++
        continue
      }
      let count = 0
      let batchBytes = 0
      while (count < queue.length) {
        const frameBytes = queue.peek(count).byteLength
        if (frameBytes > COALESCE_FRAME_BYTES_MAX) break
        if (batchBytes + FRAME_HEADER_BYTES + frameBytes > COALESCE_BATCH_BYTES_MAX) break
        batchBytes += FRAME_HEADER_BYTES + frameBytes
        count++
      }
      const batch = Buffer.allocUnsafe(batchBytes)
      let offset = 0
      for (let i = 0; i < count; i++) {
        const frame = queue.shift()
        batch.writeUInt32BE(frame.byteLength, offset)
        batch.set(frame, offset + FRAME_HEADER_BYTES)
        offset += FRAME_HEADER_BYTES + frame.byteLength
      }
      writable = socket.write(batch)
      this.sentFrames += count
    }
    socket.uncork()
    if (!writable) link.blocked = true
  }

  // Inbound ----------------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.phase !== 'running') {
      socket.destroy()
      return
    }
    this.track(socket)
    socket.setNoDelay(true)
    socket.setTimeout(this.config.handshakeTimeoutMs)
    const remote = formatAddress({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 })
    const decoder = new FrameDecoder(HELLO_BYTES_MAX)
    let state: 'hello' | 'open' | 'refused' = 'hello'
    let peerId: PeerId | undefined

    const onFrame = (frame: Uint8Array): boolean => {
      if (state === 'hello') {
        peerId = this.acceptHello(socket, frame, remote)
        if (peerId === undefined) {
          state = 'refused'
          return false
        }
        state = 'open'
        decoder.frameBytesMax = this.config.frameBytesMax
        return true
      }
      assert(peerId !== undefined, 'an open inbound connection has a peer id')
      this.deliver(peerId, frame)
      // The handler may have stopped the transport, which destroyed this socket.
      return !socket.destroyed
    }
    socket.on('data', (chunk: Buffer) => {
      if (state === 'refused') return
      try {
        decoder.push(chunk, onFrame)
      } catch (error) {
        if (!(error instanceof FlotillaError)) throw error
        this.log(`${this.localId}: closing connection from ${peerId ?? remote}: ${error.message}`)
        socket.destroy()
      }
    })
    socket.on('timeout', () => {
      this.log(`${this.localId}: closing connection from ${remote}: no hello within ${this.config.handshakeTimeoutMs} ms`)
      socket.destroy()
    })
    // Resets and aborts from peers are routine; 'close' follows and is all that matters.
    socket.on('error', () => {})
    socket.on('close', () => {
      if (peerId !== undefined && this.inboundById.get(peerId) === socket) this.inboundById.delete(peerId)
    })
  }

  /**
   * Checks a dialer's hello and answers with ours. Returns the peer id, or undefined when the
   * connection is refused (then it is closing). Throws HandshakeError for a malformed hello.
   */
  private acceptHello(socket: net.Socket, frame: Uint8Array, remote: string): PeerId | undefined {
    const hello = decodeHello(frame)
    // The answer goes out even on a refusal, so the dialer can log why it was refused.
    const reply = encodeHello({ clusterName: this.config.clusterName, id: this.localId })
    socket.write(encodeHeader(reply.byteLength))
    socket.write(reply)
    let refusal: string | undefined
    if (hello.clusterName !== this.config.clusterName) {
      refusal = `it is in cluster '${hello.clusterName}', this node is in '${this.config.clusterName}'`
    } else if (hello.id === this.localId) {
      refusal = 'it claims this node’s own id'
    }
    if (refusal !== undefined) {
      this.log(`${this.localId}: refused connection from '${hello.id}' at ${remote}: ${refusal}`)
      // end() rather than destroy(), so the answer is flushed first; the handshake timeout
      // still destroys the socket if the dialer never closes its side.
      socket.end()
      return undefined
    }
    // An older connection from the same peer is a reconnect whose break this side has not seen
    // yet. Closing it means nothing it still holds is delivered after frames from the new one,
    // which keeps frames from the peer in order.
    this.inboundById.get(hello.id)?.destroy()
    this.inboundById.set(hello.id, socket)
    socket.setTimeout(0)
    return hello.id
  }

  private deliver(from: PeerId, frame: Uint8Array): void {
    const handler = this.handler
    if (handler === undefined || this.phase !== 'running') return
    this.receivedFrames++
    handler(from, frame)
  }
}
