/**
 * Liveness from gossip heartbeats: when each node was last heard from, on this node's monotonic
 * clock. Only the leader acts on it (declares a node dead); every node keeps the table so a new
 * leader starts with a warm view.
 */

export interface LivenessInfo {
  readonly alive: boolean
  /** 0 while alive; otherwise how long since the node was last heard from (or since we started). */
  readonly deadForMs: number
}

export class LivenessTable {
  private readonly lastSeenMs = new Map<string, number>()
  private readonly startedMs: number
  /** A node silent for longer than this is considered down. */
  readonly aliveWindowMs: number

  constructor(options: { nowMs: number; aliveWindowMs: number }) {
    this.startedMs = options.nowMs
    this.aliveWindowMs = options.aliveWindowMs
  }

  /** Records a heartbeat (or any other proof of life) from `nodeId`. */
  heard(nodeId: string, nowMs: number): void {
    this.lastSeenMs.set(nodeId, Math.max(this.lastSeenMs.get(nodeId) ?? 0, nowMs))
  }

  /** A node never heard from counts from our own start, so a fresh table declares nobody dead. */
  view(nodeId: string, nowMs: number): LivenessInfo {
    const silentMs = this.silentForMs(nodeId, nowMs)
    return silentMs <= this.aliveWindowMs ? { alive: true, deadForMs: 0 } : { alive: false, deadForMs: silentMs }
  }

  /** How long `nodeId` has been silent (a node never heard from: since our own start). */
  silentForMs(nodeId: string, nowMs: number): number {
    return nowMs - (this.lastSeenMs.get(nodeId) ?? this.startedMs)
  }

  forget(nodeId: string): void {
    this.lastSeenMs.delete(nodeId)
  }
}
