/**
 * An in-process Gossip for tests and the simulator: `GossipNetworkMemory` mints `GossipMemory`
 * endpoints that deliver each published message to every other running endpoint subscribed to
 * the topic, unless one of the two is isolated. The contract is the one in ../gossip.ts.
 *
 * Delivery runs in a setImmediate batch, never synchronously inside `publish`, so callers see the
 * same re-entrancy as with a real network. Deliveries happen in publish order (a real network
 * makes no such promise; tests must not rely on it). There is no mesh: a message goes straight
 * from the publisher to each subscriber, so a validator's verdict only affects its own endpoint.
 */
import { assert } from '../../../lib/assert.ts'
import {
  GossipPayloadTooLargeError,
  GossipPublishError,
  type Gossip,
  type GossipHandler,
  type GossipValidator,
} from '../gossip.ts'

export interface GossipNetworkMemoryConfig {
  /** Largest payload `publish` accepts. Default 1 MiB, as in GossipLibp2p. */
  readonly payloadBytesMax?: number
  /** Bound on messages published and not yet delivered, network-wide; beyond it publishes are lost. Default 100,000. */
  readonly pendingMessagesMax?: number
}

interface Pending {
  readonly from: GossipMemory
  readonly topic: string
  readonly data: Uint8Array
}

const MIB = 1024 * 1024

/** A simulated gossip network; see the module comment. */
export class GossipNetworkMemory {
  readonly payloadBytesMax: number
  private readonly pendingMessagesMax: number
  private readonly endpoints = new Set<GossipMemory>()
  private readonly isolated = new Set<string>()
  private pending: Pending[] = []
  private flushScheduled = false
  /** Messages dropped because the pending bound was reached. */
  lostMessages = 0

  constructor(config: GossipNetworkMemoryConfig = {}) {
    this.payloadBytesMax = config.payloadBytesMax ?? MIB
    this.pendingMessagesMax = config.pendingMessagesMax ?? 100_000
  }

  /** A new running endpoint for `id`. Ids need not be unique (a restarted node is a new endpoint). */
  endpoint(id: string): GossipMemory {
    const endpoint = new GossipMemory(id, this)
    this.endpoints.add(endpoint)
    return endpoint
  }

  /** Cuts (or with false restores) every endpoint with `id` off from all others. */
  isolate(id: string, isolated = true): void {
    if (isolated) this.isolated.add(id)
    else this.isolated.delete(id)
  }

  /** @internal Called by GossipMemory.publish. */
  submit(from: GossipMemory, topic: string, data: Uint8Array): void {
    if (this.pending.length >= this.pendingMessagesMax) {
      this.lostMessages++
      return
    }
    this.pending.push({ from, topic, data })
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => this.flush())
  }

  /** @internal Called by GossipMemory.stop. */
  remove(endpoint: GossipMemory): void {
    this.endpoints.delete(endpoint)
  }

  private flush(): void {
    this.flushScheduled = false
    const batch = this.pending
    this.pending = []
    for (const message of batch) {
      if (this.isolated.has(message.from.localId)) continue
      for (const endpoint of this.endpoints) {
        if (endpoint === message.from || this.isolated.has(endpoint.localId)) continue
        endpoint.receive(message.from.localId, message.topic, message.data)
      }
    }
  }
}

/** One node's view of a GossipNetworkMemory. */
export class GossipMemory implements Gossip {
  readonly localId: string
  private readonly network: GossipNetworkMemory
  private readonly handlers = new Map<string, GossipHandler>()
  private readonly validators = new Map<string, GossipValidator>()
  private running = true
  /** Messages received on subscribed topics, whatever the validator said. */
  receivedMessages = 0

  /** Use GossipNetworkMemory.endpoint. */
  constructor(localId: string, network: GossipNetworkMemory) {
    assert(localId !== '', 'a gossip endpoint needs an id')
    this.localId = localId
    this.network = network
  }

  subscribe(topic: string, handler: GossipHandler): void {
    this.handlers.set(topic, handler)
  }

  unsubscribe(topic: string): void {
    this.handlers.delete(topic)
  }

  setValidator(topic: string, validator: GossipValidator | undefined): void {
    if (validator === undefined) this.validators.delete(topic)
    else this.validators.set(topic, validator)
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    if (!this.running) throw new GossipPublishError(`${this.localId}: gossip is stopped`)
    if (data.byteLength > this.network.payloadBytesMax) {
      throw new GossipPayloadTooLargeError(
        `gossip payload of ${data.byteLength} bytes exceeds the limit of ${this.network.payloadBytesMax}`,
      )
    }
    this.network.submit(this, topic, data)
  }

  /** Stops receiving and publishing; idempotent. */
  stop(): void {
    this.running = false
    this.handlers.clear()
    this.network.remove(this)
  }

  /** @internal Called by the network for each message on any topic. */
  receive(from: string, topic: string, data: Uint8Array): void {
    const handler = this.handlers.get(topic)
    if (handler === undefined || !this.running) return
    this.receivedMessages++
    const verdict = this.validators.get(topic)?.(from, data) ?? 'accept'
    if (verdict !== 'accept') return
    // Each subscriber gets its own copy, as over a real network.
    handler(from, new Uint8Array(data))
  }
}
