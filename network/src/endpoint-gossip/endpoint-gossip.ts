/**
 * Endpoint readiness spread by gossip, the way the pod network spreads its overlay
 * announcements (pod-network/pod-network.ts): each node publishes a report of its pods
 * (endpoint-reports.ts) on ENDPOINTS_TOPIC at once when they change — after a short debounce, so
 * a burst of pod updates costs one message — and again every announce interval; every node keeps
 * the latest report of each peer by sequence number and takes a peer whose reports stop for
 * EXPIRY_INTERVALS intervals as gone.
 *
 * Gossip, not Raft: the data plane keeps following pods while the cluster has no quorum, and a
 * lost or late report costs nothing but one more interval of the previous state.
 */
import { assert } from '../../../lib/assert.ts'
import type { Timer, Timers } from '../../../lib/timers.ts'
import type { Gossip, GossipVerdict } from '../gossip.ts'
import { decodeReport, encodeReport, nextSequence, sameReportContent, samePodReport, type EndpointReport, type PodReport, type ReportRejection } from './endpoint-reports.ts'

export const ENDPOINTS_TOPIC = 'flotilla/endpoints/1'
/** Re-announcements keep receivers fresh; one second bounds how stale a lost change can stay. */
export const ANNOUNCE_INTERVAL_MS_DEFAULT = 1000
/** A node not heard for this many intervals is gone (three lost messages in a row, as the overlay). */
export const EXPIRY_INTERVALS = 3
/** Pod updates within this window are published together. */
export const PUBLISH_DEBOUNCE_MS_DEFAULT = 50
/**
 * After a start the agent is still finding its pods (adopting running ones), so until then the
 * node's reports are marked incomplete and no peer takes a missing pod for gone.
 */
export const WARM_UP_MS_DEFAULT = 5000
/** Nodes remembered at most; beyond it the longest-silent gone node is forgotten. */
export const NODES_MAX = 10_000

export interface EndpointReportPublisherOptions {
  readonly nodeName: string
  readonly gossip: Gossip
  readonly timers: Timers
  readonly log: (line: string) => void
  readonly announceIntervalMs?: number
  readonly debounceMs?: number
  readonly warmUpMs?: number
}

/** Publishes this node's pods; see the module comment. */
export class EndpointReportPublisher {
  private readonly options: EndpointReportPublisherOptions
  private readonly intervalMs: number
  private readonly debounceMs: number
  private readonly pods = new Map<string, PodReport>()
  private sequence = 0
  private complete = false
  private announceTimer: Timer | undefined
  private debounceTimer: Timer | undefined
  private warmUpTimer: Timer | undefined
  private started = false
  private stopped = false
  /** Reports handed to the gossip. */
  publishedReports = 0
  /** Publishes the gossip refused (no peers yet, stopped): the next round tries again. */
  failedPublishes = 0

  constructor(options: EndpointReportPublisherOptions) {
    this.options = options
    this.intervalMs = options.announceIntervalMs ?? ANNOUNCE_INTERVAL_MS_DEFAULT
    this.debounceMs = options.debounceMs ?? PUBLISH_DEBOUNCE_MS_DEFAULT
    assert(this.intervalMs > 0 && this.debounceMs >= 0, 'announce interval and debounce must be positive')
  }

  /** This node's report as it stands (its sequence is the last one published). */
  current(): EndpointReport {
    const pods = [...this.pods.values()].sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0))
    return { node: this.options.nodeName, sequence: this.sequence, complete: this.complete, pods }
  }

  /** Records a pod's state; returns true when that changed the report (a publish is then due). */
  setPod(pod: PodReport): boolean {
    if (samePodReport(pod, this.pods.get(pod.uid))) return false
    this.pods.set(pod.uid, pod)
    this.changed()
    return true
  }

  /** Forgets a pod; returns true when it was in the report. */
  removePod(uid: string): boolean {
    if (!this.pods.delete(uid)) return false
    this.changed()
    return true
  }

  /** Marks the report complete now, before the warm-up ends (the agent has seen every pod). */
  markComplete(): boolean {
    this.warmUpTimer?.cancel()
    if (this.complete) return false
    this.complete = true
    this.changed()
    return true
  }

  /** Announces now and every interval; the report turns complete after the warm-up. */
  start(): void {
    assert(!this.started, 'an endpoint report publisher is started once')
    this.started = true
    const warmUpMs = this.options.warmUpMs ?? WARM_UP_MS_DEFAULT
    if (!this.complete) this.warmUpTimer = this.options.timers.after(warmUpMs, () => void this.markComplete())
    this.announce()
  }

  stop(): void {
    this.stopped = true
    this.announceTimer?.cancel()
    this.debounceTimer?.cancel()
    this.warmUpTimer?.cancel()
  }

  private changed(): void {
    if (!this.started || this.stopped || this.debounceTimer !== undefined) return
    this.debounceTimer = this.options.timers.after(this.debounceMs, () => {
      this.debounceTimer = undefined
      this.announce()
    })
  }

  /** Publishes the report and schedules the next re-announcement a full interval later. */
  private announce(): void {
    if (this.stopped) return
    this.announceTimer?.cancel()
    this.sequence = nextSequence(this.sequence, this.options.timers.realtimeMs())
    const data = encodeReport(this.current())
    this.publishedReports++
    this.options.gossip.publish(ENDPOINTS_TOPIC, data).catch(() => {
      // No subscriber reachable yet (a lone node) or the gossip is stopping: the next round retries.
      this.failedPublishes++
    })
    this.announceTimer = this.options.timers.after(this.intervalMs, () => this.announce())
  }
}

export interface EndpointReportReceiverOptions {
  readonly nodeName: string
  readonly gossip: Gossip
  readonly timers: Timers
  readonly log: (line: string) => void
  readonly announceIntervalMs?: number
  /** Called after the fresh reports or the gone nodes changed (not for mere re-announcements). */
  readonly onChange: () => void
}

interface Heard {
  report: EndpointReport
  heardAtMs: number
  gone: boolean
}

/** Counters of what the receiver did with messages. */
export interface EndpointReceiverStats {
  accepted: number
  /** Older (or equal) sequence than the node's latest, while that one is fresh. */
  stale: number
  /** Reports naming this node (a spoof, or a misconfigured twin). */
  own: number
  /** New nodes refused because NODES_MAX nodes are fresh. */
  overflow: number
  rejected: Record<ReportRejection, number>
}

/** Keeps the latest report of every peer; see the module comment. */
export class EndpointReportReceiver {
  private readonly options: EndpointReportReceiverOptions
  private readonly intervalMs: number
  private readonly nodes = new Map<string, Heard>()
  private expiryTimer: Timer | undefined
  private started = false
  private stopped = false
  readonly stats: EndpointReceiverStats = { accepted: 0, stale: 0, own: 0, overflow: 0, rejected: { 'too-large': 0, 'not-json': 0, 'wrong-version': 0, malformed: 0 } }

  constructor(options: EndpointReportReceiverOptions) {
    this.options = options
    this.intervalMs = options.announceIntervalMs ?? ANNOUNCE_INTERVAL_MS_DEFAULT
    assert(this.intervalMs > 0, 'announce interval must be positive')
  }

  start(): void {
    assert(!this.started, 'an endpoint report receiver is started once')
    this.started = true
    // Malformed reports count against the neighbour that relayed them, and go no further.
    this.options.gossip.setValidator(ENDPOINTS_TOPIC, (_from, data): GossipVerdict => {
      const decoded = decodeReport(data)
      if (decoded.ok) return 'accept'
      this.stats.rejected[decoded.reason]++
      return 'reject'
    })
    this.options.gossip.subscribe(ENDPOINTS_TOPIC, (_from, data) => this.receive(data))
    this.scheduleExpiry()
  }

  stop(): void {
    this.stopped = true
    this.expiryTimer?.cancel()
    if (this.started) {
      this.options.gossip.unsubscribe(ENDPOINTS_TOPIC)
      this.options.gossip.setValidator(ENDPOINTS_TOPIC, undefined)
    }
  }

  /** The latest report of every node heard within the expiry, by node name. */
  fresh(): EndpointReport[] {
    return [...this.nodes.values()].filter((heard) => !heard.gone).map((heard) => heard.report)
  }

  /** Nodes that reported before and have fallen silent. */
  goneNodes(): Set<string> {
    return new Set([...this.nodes].filter(([, heard]) => heard.gone).map(([node]) => node))
  }

  /** Takes one message's bytes (the gossip handler). Never throws: bad input is dropped. */
  private receive(data: Uint8Array): void {
    if (this.stopped) return
    const decoded = decodeReport(data)
    // The validator in front has counted and rejected it already; this is only the type's due.
    if (!decoded.ok) return
    const report = decoded.report
    if (report.node === this.options.nodeName) {
      this.stats.own++
      return
    }
    const nowMs = this.options.timers.monotonicMs()
    const previous = this.nodes.get(report.node)
    // A lower sequence from a node still fresh is a late copy. From a node taken for gone it is
    // a restart whose wall clock went back: accept it rather than ignore the node for good.
    if (previous !== undefined && !previous.gone && report.sequence <= previous.report.sequence) {
      this.stats.stale++
      return
    }
    if (previous === undefined && !this.makeRoom()) {
      this.stats.overflow++
      return
    }
    this.stats.accepted++
    this.nodes.set(report.node, { report, heardAtMs: nowMs, gone: false })
    if (previous === undefined || previous.gone) this.options.log(`endpoint gossip: node ${report.node} reports ${report.pods.length} pods${previous === undefined ? '' : ' again'}`)
    if (previous === undefined || previous.gone || !sameReportContent(previous.report, report)) this.options.onChange()
  }

  /** Marks nodes silent for longer than the expiry as gone; true when any was. */
  expire(): boolean {
    const nowMs = this.options.timers.monotonicMs()
    let expired = false
    for (const [node, heard] of this.nodes) {
      if (heard.gone || nowMs - heard.heardAtMs <= EXPIRY_INTERVALS * this.intervalMs) continue
      heard.gone = true
      expired = true
      this.options.log(`endpoint gossip: node ${node} is silent for ${Math.round(nowMs - heard.heardAtMs)} ms; its endpoints are not ready`)
    }
    if (expired) this.options.onChange()
    return expired
  }

  /** Checks expiry four times an interval, so a silent node is gone within a quarter interval of its due time. */
  private scheduleExpiry(): void {
    if (this.stopped) return
    this.expiryTimer = this.options.timers.after(this.intervalMs / 4, () => {
      this.expire()
      this.scheduleExpiry()
    })
  }

  /** Room for one more node: false when NODES_MAX nodes are fresh. */
  private makeRoom(): boolean {
    if (this.nodes.size < NODES_MAX) return true
    let oldest: [string, Heard] | undefined
    for (const entry of this.nodes) if (entry[1].gone && (oldest === undefined || entry[1].heardAtMs < oldest[1].heardAtMs)) oldest = entry
    if (oldest === undefined) return false
    this.nodes.delete(oldest[0])
    return true
  }
}
