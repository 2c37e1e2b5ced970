/**
 * Gossip (see ../gossip.ts) over @libp2p/gossipsub 17 on a Libp2pHost. (@chainsafe/libp2p-gossipsub
 * 14 does not work with libp2p 3: it connects, then delivers nothing, silently.)
 *
 * Settings, for clusters of 3 to about 20 nodes (see /work/shared/research/p2p.md §2.5):
 * - D=4, Dlo=2, Dhi=8: the defaults (6/4/12) assume large networks; here every peer ends up in
 *   the mesh and a publish is one hop, since floodPublish sends to every topic peer anyway.
 * - a 700 ms heartbeat (default 1 s), so a new node joins the mesh quickly;
 * - StrictSign: every message carries the publisher's peer id and signature, so `from` is the
 *   origin and cannot be forged by a forwarding peer;
 * - allowPublishToZeroTopicPeers: a lone node, or one that starts first, can publish without an
 *   error (gossip is best-effort anyway);
 * - ignoreDuplicatePublishError, and maxInboundDataLength set explicitly: gossipsub otherwise
 *   decodes with a 4 MiB cap of its own, and drops larger RPCs without telling the sender.
 */
import { gossipsub, TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { PeerId as Libp2pPeerId } from '@libp2p/interface'
import { InvalidConfigError } from '../../../lib/errors.ts'
import {
  GossipPayloadTooLargeError,
  GossipPublishError,
  type Gossip,
  type GossipHandler,
  type GossipValidator,
  type GossipVerdict,
} from '../gossip.ts'
import type { Libp2pHost } from './host-libp2p.ts'

export interface GossipLibp2pConfig {
  /** Largest payload published or accepted. Default 1 MiB. */
  readonly payloadBytesMax?: number
  /** When set, only these topics are subscribed to, accepted and relayed. */
  readonly allowedTopics?: readonly string[]
  /** Gossipsub heartbeat (mesh maintenance, gossip emission). Default 700 ms. */
  readonly heartbeatIntervalMs?: number
}

export interface ResolvedGossipConfig {
  readonly payloadBytesMax: number
  readonly allowedTopics: readonly string[] | undefined
  readonly heartbeatIntervalMs: number
}

const MIB = 1024 * 1024
/** Room for the RPC envelope around a payload: topic, sender, sequence number, signature, key. */
const RPC_OVERHEAD_BYTES = 64 * 1024

/** Fills defaults and checks ranges. Throws InvalidConfigError. */
export function resolveGossipConfig(config: GossipLibp2pConfig): ResolvedGossipConfig {
  const resolved = {
    payloadBytesMax: config.payloadBytesMax ?? MIB,
    allowedTopics: config.allowedTopics,
    heartbeatIntervalMs: config.heartbeatIntervalMs ?? 700,
  }
  for (const key of ['payloadBytesMax', 'heartbeatIntervalMs'] as const) {
    if (!Number.isSafeInteger(resolved[key]) || resolved[key] <= 0) {
      throw new InvalidConfigError(`gossip ${key} must be a positive integer, got ${resolved[key]}`)
    }
  }
  return resolved
}

/** The gossipsub service factory a Libp2pHost installs as `pubsub`. */
export function gossipsubService(config: ResolvedGossipConfig): ReturnType<typeof gossipsub> {
  return gossipsub({
    D: 4,
    Dlo: 2,
    Dhi: 8,
    Dout: 1,
    heartbeatInterval: config.heartbeatIntervalMs,
    floodPublish: true,
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    globalSignaturePolicy: 'StrictSign',
    fallbackToFloodsub: false,
    emitSelf: false,
    maxInboundDataLength: config.payloadBytesMax + RPC_OVERHEAD_BYTES,
    ...(config.allowedTopics === undefined ? {} : { allowedTopics: [...config.allowedTopics] }),
  })
}

const VERDICTS: Record<GossipVerdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
}

/** See the module comment; the contract is in ../gossip.ts. */
export class GossipLibp2p implements Gossip {
  readonly localId: string
  private readonly host: Libp2pHost
  private readonly pubsub: GossipSub
  private readonly payloadBytesMax: number
  private readonly handlers = new Map<string, GossipHandler>()
  private readonly validators = new Set<string>()
  private readonly onMessage: (event: CustomEvent<Message>) => void
  private closed = false

  /** Attaches to the pubsub service of a running host. */
  constructor(host: Libp2pHost) {
    this.host = host
    this.localId = host.peerId
    this.pubsub = host.libp2p.services.pubsub
    this.payloadBytesMax = host.gossipSettings.payloadBytesMax
    this.onMessage = (event) => this.deliver(event.detail)
    this.pubsub.addEventListener('message', this.onMessage)
  }

  subscribe(topic: string, handler: GossipHandler): void {
    if (this.closed) return
    const subscribed = this.handlers.has(topic)
    this.handlers.set(topic, handler)
    if (!subscribed) this.pubsub.subscribe(topic)
  }

  unsubscribe(topic: string): void {
    if (!this.handlers.delete(topic) || this.closed) return
    this.pubsub.unsubscribe(topic)
  }

  setValidator(topic: string, validator: GossipValidator | undefined): void {
    if (this.closed) return
    if (validator === undefined) {
      if (this.validators.delete(topic)) this.pubsub.topicValidators.delete(topic)
      return
    }
    this.validators.add(topic)
    this.pubsub.topicValidators.set(topic, (_propagator: Libp2pPeerId, message: Message) => {
      // Unsigned messages cannot occur under StrictSign; refuse them should a peer send one.
      if (message.type !== 'signed') return TopicValidatorResult.Reject
      return VERDICTS[validator(message.from.toString(), message.data)]
    })
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    if (data.byteLength > this.payloadBytesMax) {
      throw new GossipPayloadTooLargeError(
        `gossip payload of ${data.byteLength} bytes exceeds the limit of ${this.payloadBytesMax}`,
      )
    }
    if (this.closed || !this.host.running) throw new GossipPublishError(`${this.localId}: gossip is stopped`)
    try {
      await this.pubsub.publish(topic, data)
    } catch (error) {
      throw new GossipPublishError(`cannot publish on '${topic}': ${(error as Error).message}`, { cause: error })
    }
  }

  /** Peer ids known to be subscribed to `topic` (for diagnostics and readiness checks). */
  subscribers(topic: string): string[] {
    if (this.closed || !this.host.running) return []
    return this.pubsub.getSubscribers(topic).map((peerId) => peerId.toString())
  }

  /** Detaches from the host: unsubscribes every topic and removes validators. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.pubsub.removeEventListener('message', this.onMessage)
    if (this.host.running) {
      for (const topic of this.handlers.keys()) this.pubsub.unsubscribe(topic)
      for (const topic of this.validators) this.pubsub.topicValidators.delete(topic)
    }
    this.handlers.clear()
    this.validators.clear()
  }

  private deliver(message: Message): void {
    // maxInboundDataLength leaves room for the envelope, so the payload bound is checked here.
    if (message.type !== 'signed' || message.data.byteLength > this.payloadBytesMax) return
    const handler = this.handlers.get(message.topic)
    if (handler === undefined) return
    handler(message.from.toString(), message.data)
  }
}
