/**
 * An in-process network for tests: `NetworkMemory` mints `TransportMemory` endpoints that deliver
 * frames to each other asynchronously, in order per link, through partitions, isolation and
 * seeded per-link loss. Everything lives in the NetworkMemory object (no module state), so tests
 * can run several networks side by side.
 *
 * Delivery runs in setImmediate batches, never synchronously inside `send`: callers see the same
 * re-entrancy as with a real network, and ping-pong between handlers cannot starve timers and I/O
 * the way a microtask loop would. All in-flight frames share one FIFO, so for a given sequence of
 * calls and a given seed, the order of deliveries and losses is the same on every run.
 *
 * Addresses given to `setPeers` are ignored: frames are routed by peer id, to whichever endpoint
 * for that id is running when the frame is delivered (a restarted peer is a new endpoint).
 */
import { assert } from '../../../lib/assert.ts'
import { InvalidConfigError } from '../../../lib/errors.ts'
import type { Random } from '../../../lib/random.ts'
import type { FrameHandler, PeerId, Transport, TransportStats } from '../transport.ts'

export interface NetworkMemoryConfig {
  /** Decides per-link losses (`setDropProbability`); seed it to replay a run. */
  readonly random: Random
  /** Bound on frames in flight on one directed link; `send` returns false beyond it. Default 10,000. */
  readonly queueFramesMax?: number
  /** Bound on bytes in flight on one directed link. Default 64 MiB. */
  readonly queueBytesMax?: number
  /** Largest frame `send` accepts. Default 16 MiB, as over TCP. */
  readonly frameBytesMax?: number
}

/** Counters for the whole network. */
export interface NetworkMemoryStats {
  /** Frames handed to a receiver. */
  readonly deliveredFrames: number
  /** Frames lost in flight: partition, isolation, random drop, or nobody running at the target. */
  readonly lostFrames: number
  /** Frames sent and not yet delivered or lost. */
  readonly inFlightFrames: number
}

const MIB = 1024 * 1024

/** One endpoint's state, shared by its TransportMemory facade and the network. */
interface EndpointState {
  readonly id: PeerId
  phase: 'new' | 'running' | 'stopped'
  handler: FrameHandler | undefined
  peers: ReadonlySet<PeerId>
  /** Frames and bytes in flight from this endpoint, per target: the per-link bound. */
  readonly inFlightByTarget: Map<PeerId, { frames: number; bytes: number }>
  queuedBytes: number
  sentFrames: number
  droppedFrames: number
  receivedFrames: number
}

interface InFlight {
  readonly from: EndpointState
  readonly to: PeerId
  readonly frame: Uint8Array
}

/** What a TransportMemory asks of its network. */
interface Wire {
  /** Puts a frame on the link, or returns false when the link is full. */
  submit(from: EndpointState, to: PeerId, frame: Uint8Array): boolean
  /** The endpoint stopped. */
  stopped(endpoint: EndpointState): void
}

/** A simulated network of TransportMemory endpoints; see the module comment. */
export class NetworkMemory {
  private readonly random: Random
  private readonly queueFramesMax: number
  private readonly queueBytesMax: number
  readonly frameBytesMax: number
  /** The endpoint minted last for each id, unless it stopped. */
  private readonly endpoints = new Map<PeerId, EndpointState>()
  private inFlight: (InFlight | undefined)[] = []
  private inFlightHead = 0
  private drainHandle: NodeJS.Immediate | undefined
  /** Directed links that are cut, keyed by linkKey. */
  private readonly cuts = new Set<string>()
  private readonly isolated = new Set<PeerId>()
  private readonly dropProbabilities = new Map<string, number>()
  private deliveredFrames = 0
  private lostFrames = 0
  private readonly wire: Wire = {
    submit: (from, to, frame) => this.submit(from, to, frame),
    stopped: (endpoint) => this.stopped(endpoint),
  }

  /** Throws InvalidConfigError for non-positive bounds. */
  constructor(config: NetworkMemoryConfig) {
    this.random = config.random
    this.queueFramesMax = config.queueFramesMax ?? 10_000
    this.queueBytesMax = config.queueBytesMax ?? 64 * MIB
    this.frameBytesMax = config.frameBytesMax ?? 16 * MIB
    for (const [key, value] of [
      ['queueFramesMax', this.queueFramesMax],
      ['queueBytesMax', this.queueBytesMax],
      ['frameBytesMax', this.frameBytesMax],
    ] as const) {
      if (!Number.isSafeInteger(value) || value <= 0) {
        throw new InvalidConfigError(`${key} must be a positive integer, got ${value}`)
      }
    }
  }

  /**
   * A new endpoint for `id`. The previous endpoint for the same id must have been stopped: two
   * live incarnations of one peer would be a bug in the test.
   */
  endpoint(id: PeerId): TransportMemory {
    assert(id !== '', 'peer id must not be empty')
    assert(!this.endpoints.has(id), `an endpoint for '${id}' is still live; stop it first`)
    const state: EndpointState = {
      id,
      phase: 'new',
      handler: undefined,
      peers: new Set(),
      inFlightByTarget: new Map(),
      queuedBytes: 0,
      sentFrames: 0,
      droppedFrames: 0,
      receivedFrames: 0,
    }
    this.endpoints.set(id, state)
    return new TransportMemory(state, this.wire, this.frameBytesMax)
  }

  /** Cuts both directions between `a` and `b` until `heal()`. Frames in flight are lost. */
  partition(a: PeerId, b: PeerId): void {
    this.cuts.add(linkKey(a, b))
    this.cuts.add(linkKey(b, a))
  }

  /** Cuts every link to and from `id` until `heal()`. */
  isolate(id: PeerId): void {
    this.isolated.add(id)
  }

  /** Undoes every partition and isolation. Drop probabilities stay. */
  heal(): void {
    this.cuts.clear()
    this.isolated.clear()
  }

  /** Loses each frame on the directed link `from` → `to` with `probability`, decided on delivery. */
  setDropProbability(from: PeerId, to: PeerId, probability: number): void {
    assert(probability >= 0 && probability <= 1, `drop probability ${probability} is outside [0, 1]`)
    if (probability === 0) this.dropProbabilities.delete(linkKey(from, to))
    else this.dropProbabilities.set(linkKey(from, to), probability)
  }

  stats(): NetworkMemoryStats {
    return {
      deliveredFrames: this.deliveredFrames,
      lostFrames: this.lostFrames,
      inFlightFrames: this.inFlight.length - this.inFlightHead,
    }
  }

  private submit(from: EndpointState, to: PeerId, frame: Uint8Array): boolean {
    let load = from.inFlightByTarget.get(to)
    if (load === undefined) {
      load = { frames: 0, bytes: 0 }
      from.inFlightByTarget.set(to, load)
    }
    if (load.frames >= this.queueFramesMax || load.bytes + frame.byteLength > this.queueBytesMax) return false
    load.frames++
    load.bytes += frame.byteLength
    from.queuedBytes += frame.byteLength
    this.inFlight.push({ from, to, frame })
    this.drainHandle ??= setImmediate(() => this.drain())
    return true
  }

  /** Delivers the frames in flight when the batch starts; frames sent by handlers wait a turn. */
  private drain(): void {
    this.drainHandle = undefined
    const end = this.inFlight.length
    while (this.inFlightHead < end) {
      const item = this.inFlight[this.inFlightHead]
      assert(item !== undefined, 'in-flight queue hole')
      this.inFlight[this.inFlightHead] = undefined
      this.inFlightHead++
      this.unload(item)
      this.deliverOrLose(item)
    }
    this.inFlight = this.inFlight.slice(this.inFlightHead)
    this.inFlightHead = 0
    if (this.inFlight.length > 0) this.drainHandle ??= setImmediate(() => this.drain())
  }

  private unload(item: InFlight): void {
    const load = item.from.inFlightByTarget.get(item.to)
    assert(load !== undefined, 'in-flight frame without link load')
    load.frames--
    load.bytes -= item.frame.byteLength
    item.from.queuedBytes -= item.frame.byteLength
    if (load.frames === 0) item.from.inFlightByTarget.delete(item.to)
  }

  private deliverOrLose(item: InFlight): void {
    const { from, to, frame } = item
    // A stopped sender, or one that removed the target from its peers, discarded the frame the
    // way TCP discards its queue and closes the connection.
    if (from.phase !== 'running' || !from.peers.has(to)) {
      from.droppedFrames++
      return
    }
    const target = this.endpoints.get(to)
    const key = linkKey(from.id, to)
    const probability = this.dropProbabilities.get(key) ?? 0
    if (
      target === undefined ||
      target.phase !== 'running' ||
      this.isolated.has(from.id) ||
      this.isolated.has(to) ||
      this.cuts.has(key) ||
      (probability > 0 && this.random.chance(probability))
    ) {
      this.lostFrames++
      return
    }
    this.deliveredFrames++
    const handler = target.handler
    if (handler === undefined) return
    target.receivedFrames++
    handler(from.id, frame)
  }

  private stopped(endpoint: EndpointState): void {
    if (this.endpoints.get(endpoint.id) === endpoint) this.endpoints.delete(endpoint.id)
    // With nobody left running, nothing in flight can be delivered: cancel the pending batch
    // so a stopped network holds no handles.
    if (![...this.endpoints.values()].some((state) => state.phase === 'running') && this.drainHandle) {
      clearImmediate(this.drainHandle)
      this.drainHandle = undefined
      for (let i = this.inFlightHead; i < this.inFlight.length; i++) {
        const item = this.inFlight[i]
        assert(item !== undefined, 'in-flight queue hole')
        this.unload(item)
        item.from.droppedFrames++
      }
      this.inFlight = []
      this.inFlightHead = 0
    }
  }
}

function linkKey(from: PeerId, to: PeerId): string {
  return `${from}\u0000${to}`
}

/**
 * One peer on a NetworkMemory; obtain it from `NetworkMemory.endpoint(id)`. Follows the
 * Transport contract: a frame is copied on `send`, so neither side can corrupt the other's
 * bytes by mutating them, as over a real network.
 */
export class TransportMemory implements Transport {
  readonly localId: PeerId
  private readonly state: EndpointState
  private readonly wire: Wire
  private readonly frameBytesMax: number

  /** Internal: use NetworkMemory.endpoint(). */
  constructor(state: EndpointState, wire: Wire, frameBytesMax: number) {
    this.state = state
    this.wire = wire
    this.frameBytesMax = frameBytesMax
    this.localId = state.id
  }

  async start(): Promise<void> {
    assert(this.state.phase === 'new', `start() on a transport that is ${this.state.phase}`)
    this.state.phase = 'running'
  }

  async stop(): Promise<void> {
    if (this.state.phase === 'stopped') return
    this.state.phase = 'stopped'
    this.wire.stopped(this.state)
  }

  send(to: PeerId, frame: Uint8Array): boolean {
    const state = this.state
    if (state.phase !== 'running' || !state.peers.has(to) || frame.byteLength > this.frameBytesMax) {
      state.droppedFrames++
      return false
    }
    if (!this.wire.submit(state, to, new Uint8Array(frame))) {
      state.droppedFrames++
      return false
    }
    state.sentFrames++
    return true
  }

  onFrame(handler: FrameHandler): void {
    this.state.handler = handler
  }

  setPeers(peers: ReadonlyMap<PeerId, string>): void {
    this.state.peers = new Set([...peers.keys()].filter((id) => id !== this.localId))
  }

  stats(): TransportStats {
    const { sentFrames, droppedFrames, receivedFrames, queuedBytes } = this.state
    return { sentFrames, droppedFrames, receivedFrames, queuedBytes }
  }
}
