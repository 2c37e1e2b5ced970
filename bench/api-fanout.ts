/**
 * Watch fan-out: many watchers on one collection, spread over all members, and how long a write
 * takes to reach every one of them.
 *
 * Method: list the (empty) watch collection for its revision, open `watchers` watches from that
 * revision (watcher w on member w mod n, `openConcurrency` being opened at a time), then make
 * `writes` creates one after another, write k through member k mod n. After each write the
 * benchmark waits until every watcher has its event (or `deliveryDeadlineMs` passes) before the
 * next, so the figures are one write's fan-out, not a queue. For each (write, watcher) pair two
 * delays are taken on this process's monotonic clock, to the arrival of the chunk that carries the
 * watcher's event: from the write's acknowledgement (its response arriving; negative when the
 * event came first, which is common because a server can stream events before it answers the
 * write), and from the moment the write was sent (always positive). Every watcher runs in this
 * one load-generator process, so on a small machine the client's own TLS and JSON work is part of
 * the delays (the client's CPU is reported).
 *
 * Also measured: each member's RSS before the watches and with them open after the writes, and
 * the members' CPU per write over the write phase.
 */
import type { LineStream } from './http.ts'
import { describeError, measureCpu, readMemoryMiB, summarizeLatencies, type LatencySummaryMs } from './load.ts'
import { benchKey, summarizeCpu, type CpuSummary } from './workloads.ts'
import { WorkloadSetupError } from './api-workloads.ts'
import type { ApiTarget } from './api-targets.ts'

const WATCH_COLLECTION = 'api-bench-watch'

export interface FanOutOptions {
  readonly watchers: number
  readonly writes: number
  /** How long one write's event may take to reach every watcher before the rest count as missed. */
  readonly deliveryDeadlineMs: number
  /** Watches being opened at once. */
  readonly openConcurrency: number
}

export interface MemberMemory {
  readonly pid: number
  readonly rssBeforeMiB: number
  readonly rssWithWatchersMiB: number
}

export interface FanOutResult {
  readonly watchersRequested: number
  /** Watches that opened. */
  readonly watchers: number
  readonly openFailures: number
  readonly firstOpenError?: string
  /** From the first watch request to the last watch open. */
  readonly openMs: number
  readonly writes: number
  /** Send to acknowledgement of the writes. */
  readonly writeLatencyMs: LatencySummaryMs
  /** Acknowledgement to receipt, over every (write, watcher) pair that received its event. */
  readonly delayMs: LatencySummaryMs & { readonly min: number }
  /** Per write that reached every watcher: acknowledgement to the last watcher's receipt. */
  readonly allReceivedMs: LatencySummaryMs
  /** As delayMs, from the moment the write was sent. */
  readonly delayFromSendMs: LatencySummaryMs
  /** As allReceivedMs, from the moment the write was sent. */
  readonly allReceivedFromSendMs: LatencySummaryMs
  readonly writesReachingAll: number
  readonly receipts: number
  /** (write, watcher) pairs whose event did not arrive within the deadline. */
  readonly missed: number
  /** Receipts that arrived before the write's acknowledgement. */
  readonly beforeAck: number
  /** Watches that ended or failed before the benchmark closed them. */
  readonly endedWatches: number
  readonly firstWatchError?: string
  readonly memory: readonly MemberMemory[]
  /** Members' CPU over the write phase; serversCpuMsPerOp is per write (fanned out to every watcher). */
  readonly cpu: CpuSummary
}

/** Receipts of one write's event, one slot per watcher. */
interface Delivery {
  readonly receivedMs: Float64Array
  count: number
  sentMs: number
  ackMs: number
  onAll: (() => void) | undefined
}

/** Records when each watcher receives each expected event. */
class DeliveryTracker {
  /** Watcher numbers are 0..slots-1. */
  private readonly slots: number
  /** Watchers that opened: a write has reached all of them at this count. */
  private readonly watchers: number
  private readonly deliveries = new Map<string, Delivery>()

  constructor(slots: number, watchers: number) {
    this.slots = slots
    this.watchers = watchers
  }

  /** Registers a write before it is sent, so an event arriving before the acknowledgement counts. */
  expect(name: string): Delivery {
    const delivery: Delivery = { receivedMs: new Float64Array(this.slots).fill(Number.NaN), count: 0, sentMs: Number.NaN, ackMs: Number.NaN, onAll: undefined }
    this.deliveries.set(name, delivery)
    return delivery
  }

  receive(watcher: number, name: string, receivedMs: number): void {
    const delivery = this.deliveries.get(name)
    // Only the benchmark writes here; an event for another name would be a stray duplicate.
    if (delivery === undefined || !Number.isNaN(delivery.receivedMs[watcher] ?? 0)) return
    delivery.receivedMs[watcher] = receivedMs
    delivery.count++
    if (delivery.count === this.watchers) delivery.onAll?.()
  }

  /** Resolves when every watcher has the event, or after `deadlineMs`. */
  waitAll(delivery: Delivery, deadlineMs: number): Promise<void> {
    if (delivery.count === this.watchers) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, deadlineMs)
      function done(): void {
        clearTimeout(timer)
        delivery.onAll = undefined
        resolve()
      }
      delivery.onAll = done
    })
  }

  all(): Delivery[] {
    return [...this.deliveries.values()]
  }
}

/** The benchmark's watches: which opened, which failed, which ended early. */
class WatchSet {
  /** Watcher numbers whose watch opened, in opening order. */
  readonly opened: number[] = []
  openFailures = 0
  firstOpenError: string | undefined
  endedWatches = 0
  firstWatchError: string | undefined
  private readonly streams: LineStream[] = []

  /**
   * Opens `options.watchers` watches from `afterRevision`, watcher w on member w mod n, at most
   * `options.openConcurrency` at a time. A watch that fails to open is counted, not retried.
   */
  async open(
    target: ApiTarget,
    options: FanOutOptions,
    afterRevision: number,
    onEvent: (watcher: number, name: string, receivedMs: number) => void,
  ): Promise<void> {
    let nextWatcher = 0
    const opener = async (): Promise<void> => {
      // Bounded: each iteration takes one watcher number.
      while (nextWatcher < options.watchers) {
        const watcher = nextWatcher++
        try {
          this.streams.push(
            await target.watch({
              member: watcher % target.memberCount,
              collection: WATCH_COLLECTION,
              afterRevision,
              onEvent: (name, receivedMs) => onEvent(watcher, name, receivedMs),
              onEnd: (error) => {
                this.endedWatches++
                this.firstWatchError ??= error === undefined ? 'ended by the server' : describeError(error)
              },
            }),
          )
          this.opened.push(watcher)
        } catch (error) {
          this.openFailures++
          this.firstOpenError ??= describeError(error)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(options.openConcurrency, options.watchers) }, opener))
  }

  close(): void {
    for (const stream of this.streams) stream.close()
  }
}

/** Opens the watches, makes the writes, and measures delivery and the members' memory. */
export async function measureFanOut(target: ApiTarget, options: FanOutOptions, progress: (line: string) => void): Promise<FanOutResult> {
  await target.prepareCollection(WATCH_COLLECTION)
  await target.waitReady(20_000)
  const { revision } = await target.list(0, WATCH_COLLECTION)
  const pids = target.memberPids()
  const rssBefore = pids.map((pid) => readMemoryMiB(pid).rss)
  // Created once the watches are open; no event can arrive before the first write.
  let tracker: DeliveryTracker | undefined
  const watches = new WatchSet()
  try {
    const openStartMs = performance.now()
    await watches.open(target, options, revision, (watcher, name, receivedMs) => tracker?.receive(watcher, name, receivedMs))
    const openMs = performance.now() - openStartMs
    const failed = watches.openFailures > 0 ? `; ${watches.openFailures} failed (first: ${watches.firstOpenError})` : ''
    progress(`[${target.system}] fan-out: ${watches.opened.length} of ${options.watchers} watches open in ${(openMs / 1000).toFixed(1)} s${failed}`)
    if (watches.opened.length === 0) throw new WorkloadSetupError(`${target.system}: no watch opened (first error: ${watches.firstOpenError})`)
    // A watcher that failed to open never receives: deliveries count against the open ones only.
    tracker = new DeliveryTracker(options.watchers, watches.opened.length)
    const writeLatencies = new Float64Array(options.writes)
    const meter = measureCpu(pids)
    for (let k = 0; k < options.writes; k++) {
      const delivery = tracker.expect(benchKey('watched', k))
      delivery.sentMs = performance.now()
      await target.create(k % target.memberCount, WATCH_COLLECTION, benchKey('watched', k))
      delivery.ackMs = performance.now()
      writeLatencies[k] = delivery.ackMs - delivery.sentMs
      await tracker.waitAll(delivery, options.deliveryDeadlineMs)
    }
    const cpu = summarizeCpu(meter.stop(), options.writes)
    const memory = pids.map((pid, k): MemberMemory => ({ pid, rssBeforeMiB: rssBefore[k] ?? 0, rssWithWatchersMiB: readMemoryMiB(pid).rss }))
    return {
      ...summarizeDeliveries(tracker.all(), watches.opened),
      watchersRequested: options.watchers,
      watchers: watches.opened.length,
      openFailures: watches.openFailures,
      ...(watches.firstOpenError === undefined ? {} : { firstOpenError: watches.firstOpenError }),
      openMs,
      writes: options.writes,
      writeLatencyMs: summarizeLatencies(writeLatencies),
      endedWatches: watches.endedWatches,
      ...(watches.firstWatchError === undefined ? {} : { firstWatchError: watches.firstWatchError }),
      memory,
      cpu,
    }
  } finally {
    watches.close()
  }
}

type DeliveryFigures = Pick<
  FanOutResult,
  'delayMs' | 'allReceivedMs' | 'delayFromSendMs' | 'allReceivedFromSendMs' | 'writesReachingAll' | 'receipts' | 'missed' | 'beforeAck'
>

function summarizeDeliveries(deliveries: readonly Delivery[], openWatchers: readonly number[]): DeliveryFigures {
  const fromAck = delaysFrom(deliveries, openWatchers, (d) => d.ackMs)
  const fromSend = delaysFrom(deliveries, openWatchers, (d) => d.sentMs)
  let missed = 0
  for (const delivery of deliveries) missed += openWatchers.length - delivery.count
  return {
    delayMs: { ...summarizeLatencies(fromAck.delays), min: fromAck.delays[0] ?? 0 },
    allReceivedMs: summarizeLatencies(fromAck.lastDelays),
    delayFromSendMs: summarizeLatencies(fromSend.delays),
    allReceivedFromSendMs: summarizeLatencies(fromSend.lastDelays),
    writesReachingAll: fromAck.lastDelays.length,
    receipts: fromAck.delays.length,
    missed,
    beforeAck: fromAck.delays.filter((delayMs) => delayMs < 0).length,
  }
}

/**
 * Every receipt's delay after `reference(delivery)`, and per write that reached every watcher the
 * delay of the last receipt. Missing receipts are left out.
 */
function delaysFrom(
  deliveries: readonly Delivery[],
  openWatchers: readonly number[],
  reference: (delivery: Delivery) => number,
): { delays: Float64Array; lastDelays: Float64Array } {
  const delays: number[] = []
  const lastDelays: number[] = []
  for (const delivery of deliveries) {
    const referenceMs = reference(delivery)
    let lastMs = Number.NEGATIVE_INFINITY
    for (const watcher of openWatchers) {
      const receivedMs = delivery.receivedMs[watcher] ?? Number.NaN
      if (Number.isNaN(receivedMs)) continue
      delays.push(receivedMs - referenceMs)
      lastMs = Math.max(lastMs, receivedMs)
    }
    if (delivery.count === openWatchers.length) lastDelays.push(lastMs - referenceMs)
  }
  // summarizeLatencies sorts in place; callers read the minimum as element 0 afterwards.
  return { delays: Float64Array.from(delays), lastDelays: Float64Array.from(lastDelays) }
}
