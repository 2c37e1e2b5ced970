/**
 * Gossip: best-effort broadcast of small messages (endpoint and subnet announcements, health
 * hints) to every node subscribed to a topic. Anything that must be agreed on goes through Raft
 * instead; gossip carries what can be lost, repeated or seen late.
 *
 * Implementations:
 * - `GossipLibp2p` (libp2p/gossip-libp2p.ts): gossipsub over the libp2p host; messages are signed
 *   with the sender's peer key and forwarded through a mesh.
 * - `GossipMemory` (sim/gossip-memory.ts): in-process, for tests and the simulator.
 *
 * The contract:
 * - Delivery is best-effort: a message reaches the subscribers that are connected (directly or
 *   through other subscribers) while it circulates. Nothing is retried or stored for latecomers;
 *   publishers re-announce state periodically instead.
 * - There is no ordering between messages, even from one publisher.
 * - A subscriber sees each message at most once; two publishes of identical bytes are two
 *   messages. A publisher does not receive its own messages.
 * - `from` identifies the publisher (the origin, not the neighbour that forwarded the message).
 *   In GossipLibp2p it is the publisher's libp2p peer id, proven by the message signature, so a
 *   payload that names its own origin can be checked against it. Mapping peer ids to node ids is
 *   the caller's business (the membership knows both).
 * - A topic's validator runs on every received message before delivery, and before the message is
 *   forwarded: 'reject' drops it and counts against the neighbour that sent it, 'ignore' drops it
 *   quietly, 'accept' lets it through. Validators and handlers run synchronously: they must be
 *   quick and must not throw.
 * - Payloads are bounded (`payloadBytesMax`, 1 MiB by default): `publish` rejects larger ones,
 *   and receivers drop them.
 */
import { FlotillaError } from '../../lib/errors.ts'

/** Called for every message received on a subscribed topic, with the publisher's id. */
export type GossipHandler = (from: string, data: Uint8Array) => void

/** A validator's decision about one received message; see the contract above. */
export type GossipVerdict = 'accept' | 'ignore' | 'reject'

/** Decides whether a received message is delivered and forwarded. */
export type GossipValidator = (from: string, data: Uint8Array) => GossipVerdict

/** `publish` got a payload over the bound. */
export class GossipPayloadTooLargeError extends FlotillaError {
  override name = 'GossipPayloadTooLargeError'
}

/** `publish` could not hand the message to the network: the gossip is stopped or the topic is not allowed. */
export class GossipPublishError extends FlotillaError {
  override name = 'GossipPublishError'
}

/** Topic-based best-effort broadcast; see the module comment for the contract. */
export interface Gossip {
  /** This node's identity as subscribers see it in `from`. */
  readonly localId: string

  /** Subscribes to `topic`, replacing the handler if already subscribed. */
  subscribe(topic: string, handler: GossipHandler): void

  /** Stops delivery for `topic` and tells peers. No effect when not subscribed. */
  unsubscribe(topic: string): void

  /**
   * Sets (or with undefined removes) the validator for received messages on `topic`. A
   * validator works whether or not this node is subscribed: nodes forward for others.
   */
  setValidator(topic: string, validator: GossipValidator | undefined): void

  /**
   * Sends `data` to the topic's subscribers. Resolves once the message is handed to the network,
   * even when no subscriber is known yet (then nobody gets it). Rejects with
   * GossipPayloadTooLargeError or GossipPublishError, never for a peer's failure.
   * Ownership of `data` passes to the gossip: the caller must not mutate it afterwards.
   */
  publish(topic: string, data: Uint8Array): Promise<void>
}
