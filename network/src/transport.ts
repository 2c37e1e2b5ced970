/**
 * The message transport between Raft peers, at the level of bytes: a frame is an opaque
 * Uint8Array, so network/ does not depend on the consensus types (the node encodes messages with
 * msgpackr before handing them here).
 *
 * Implementations:
 * - `TransportTcp` (tcp/transport-tcp.ts): plain TCP, meant for 127.0.0.1 in demos and benchmarks.
 *   It has no encryption and no real authentication.
 * - `TransportMemory` (sim/transport-memory.ts): in-process, with partitions and seeded loss, for
 *   tests.
 * - Later, libp2p with Noise behind this same interface; that one authenticates peers by key.
 *
 * The contract, which tests/compliance/transport.compliance.ts checks against every
 * implementation:
 * - Delivery is best-effort. A frame may be lost (full queue, unknown peer, broken connection,
 *   partition); Raft retries on its own, so the transport never retries a frame it may already
 *   have handed to the network.
 * - Frames from one sender to one receiver arrive in the order they were sent, if they arrive:
 *   the receiver sees an ordered subsequence of what was sent.
 * - The TCP implementation never introduces duplicates.
 * - The sender id given to `onFrame` handlers is only as trustworthy as the handshake. Over plain
 *   TCP it is whatever id the other end announced, checked for nothing but the cluster name; any
 *   process that can reach the port can claim any id. Noise (later) binds ids to keys.
 * - Ownership of a frame passes to the transport at `send`: the caller must not mutate it
 *   afterwards. A received frame belongs to the handler.
 */

/** A peer's id, as used by Raft (see consensus/src/types.ts `NodeId`). */
export type PeerId = string

/** Called for every frame that arrives, with the sender's id as announced in the handshake. */
export type FrameHandler = (from: PeerId, frame: Uint8Array) => void

/** Counters since the transport was created. */
export interface TransportStats {
  /** Frames accepted by `send` and passed on: written to a socket (TCP), put on a link (memory). */
  readonly sentFrames: number
  /**
   * Frames this transport discarded knowingly: refused by `send` (unknown peer, full queue,
   * oversize, not running) or left in a queue when a peer was removed or the transport stopped.
   * Frames lost on the network after being sent are not counted here.
   */
  readonly droppedFrames: number
  /** Frames delivered to the `onFrame` handler. */
  readonly receivedFrames: number
  /**
   * Bytes of frame payload held in this transport's bounded queues right now: waiting for a
   * connection or for the socket to drain (TCP), or in flight on simulated links (memory).
   */
  readonly queuedBytes: number
}

/** Best-effort, ordered-per-peer frame delivery between peers identified by id. */
export interface Transport {
  /** This endpoint's peer id, announced to others in the handshake. */
  readonly localId: PeerId

  /** Starts accepting frames (listening, for network implementations). Called once. */
  start(): Promise<void>

  /**
   * Closes every connection and listener, discards queued frames and cancels every timer.
   * Resolves once sockets are closed, so the process can exit. Idempotent; the transport cannot
   * be started again (make a new one: that is a new incarnation of the peer).
   */
  stop(): Promise<void>

  /**
   * Queues `frame` for `to` and returns at once. Returns false when the frame was dropped right
   * away: the peer is unknown (not in the last `setPeers`), its bounded queue is full, the frame
   * is larger than the transport allows, or the transport is not running. Returning true promises
   * nothing about delivery. Never throws for network reasons, and never blocks.
   */
  send(to: PeerId, frame: Uint8Array): boolean

  /**
   * Sets the handler for received frames, replacing any previous one. Frames that arrive while
   * no handler is set are discarded, so set it before `start`. The handler runs synchronously on
   * the transport's delivery path: it should be quick, and it must not throw.
   */
  onFrame(handler: FrameHandler): void

  /**
   * Replaces the set of peers: id → address (`host:port`; implementations may ignore it). Can
   * be called at any time. New peers are connected lazily, on the first `send`; removed peers are
   * disconnected and their queued frames dropped; a peer whose address changed is reconnected
   * at the new address, keeping its queue. An entry for `localId` is ignored.
   */
  setPeers(peers: ReadonlyMap<PeerId, string>): void

  /** Counters and queue occupancy; see TransportStats. */
  stats(): TransportStats
}
