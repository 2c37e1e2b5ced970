/**
 * The agent's resource sampler: what metrics-server would scrape from a kubelet, measured by the
 * node itself and published as one record per node (api/server/node-metrics-store.ts), so that
 * every daemon serves `metrics.k8s.io` and the HPA reads usage from its local replica.
 *
 * Every `periodMs` (default 15 s, metrics-server's resolution) a pass:
 *
 * 1. lists the runtime's running containers and reads their stats (cumulative CPU time and the
 *    working set), a bounded number at a time;
 * 2. turns CPU counters into rates against the previous pass's reading of the same container id:
 *    rate = ΔcpuTime / Δt, in nanocores. A container seen for the first time, or under a new id
 *    (a restart is a new container), has no rate until the next pass;
 * 3. groups containers by pod; a pod is reported only when each of its running containers has a
 *    rate, because a partial sum would make the HPA under-read the pod;
 * 4. measures the node: from `readNodeStats` (the host's /proc on a real node, proc-stats.ts),
 *    else as the sum of its containers (hollow nodes share one host, whose /proc says nothing
 *    about any one of them);
 * 5. publishes the record. The first pass after `start` only takes readings; the publisher decides
 *    whether an unchanged record needs a write.
 *
 * `start()` first withdraws the record an earlier run of this node left behind: it describes
 * containers this process has not sampled.
 */
import { assert } from '../../../lib/assert.ts'
import type { Timer, Timers } from '../../../lib/timers.ts'
import { NotFoundError, NotRunningError, type ContainerRuntime, type ContainerStats, type ContainerStatus } from '../../../runtime/src/runtime.ts'
import type { ContainerUsage, NodeMetricsRecord, PodUsageEntry, ResourceUsage } from '../api/server/node-metrics-store.ts'
import type { NodeStatsReader, NodeStatsSample } from './proc-stats.ts'

/** metrics-server's default resolution. */
export const METRICS_PERIOD_MS_DEFAULT = 15_000
/** Stats requests in flight at once: Docker answers each in tens of milliseconds, so a node of 100 containers takes well under a second. */
const STATS_CONCURRENCY_DEFAULT = 8

export interface MetricsSamplerOptions {
  readonly runtime: ContainerRuntime
  readonly nodeName: string
  /** Stores a record (NodeMetricsWriter.publish); a rejection is logged and the next pass publishes again. */
  readonly publish: (record: NodeMetricsRecord) => Promise<unknown>
  /** Removes this node's stored record (NodeMetricsWriter.withdraw); `start` calls it first. */
  readonly withdraw?: () => Promise<void>
  readonly timers: Timers
  readonly log: (line: string) => void
  /** Time between passes (default 15 s). */
  readonly periodMs?: number
  /** The whole node's counters; without it the node's usage is the sum of its containers'. */
  readonly readNodeStats?: NodeStatsReader
  /** Stats requests in flight at once (default 8). */
  readonly statsConcurrency?: number
}

/** A cumulative CPU reading. */
interface CpuReading {
  readonly timestampMs: number
  readonly cpuNs: number
}

/** A running container with what this pass read of it. */
interface Sampled {
  readonly container: ContainerStatus
  /** Undefined when the stats could not be read. */
  readonly stats: ContainerStats | undefined
  /** Undefined on the first reading of this id. */
  readonly cpuNanoCores: number | undefined
}

export class MetricsSampler {
  readonly nodeName: string
  readonly periodMs: number
  private readonly options: MetricsSamplerOptions
  private readonly statsConcurrency: number
  /** Last CPU reading per container id (only ids running at the last pass). */
  private containerReadings = new Map<string, CpuReading>()
  private nodeReading: CpuReading | undefined
  /** Monotonic time of the last pass; undefined before the first. */
  private lastPassMonotonicMs: number | undefined
  private pass: Promise<NodeMetricsRecord | undefined> | undefined
  private timer: Timer | undefined
  private started = false
  private stopped = false

  constructor(options: MetricsSamplerOptions) {
    this.options = options
    this.nodeName = options.nodeName
    this.periodMs = options.periodMs ?? METRICS_PERIOD_MS_DEFAULT
    this.statsConcurrency = options.statsConcurrency ?? STATS_CONCURRENCY_DEFAULT
    assert(Number.isSafeInteger(this.periodMs) && this.periodMs > 0, `the metrics period must be a positive whole number of ms, not ${this.periodMs}`)
    assert(this.statsConcurrency >= 1, `stats concurrency must be at least 1, not ${this.statsConcurrency}`)
  }

  /** Withdraws the old record, then samples now and every `periodMs` until `stop`. */
  start(): void {
    assert(!this.started, `the metrics sampler of ${this.nodeName} was started twice`)
    this.started = true
    void this.begin()
  }

  /** Stops sampling; a pass under way finishes (and may still publish). */
  stop(): void {
    this.stopped = true
    this.timer?.cancel()
  }

  /**
   * Takes one reading of every running container (and the node) and publishes the record when
   * the previous pass gives rates. Resolves with the published record, or undefined on the first
   * pass. A call while a pass runs joins that pass.
   * @throws what the runtime or the publisher throws (nothing is published then).
   */
  sampleOnce(): Promise<NodeMetricsRecord | undefined> {
    this.pass ??= this.runPass().finally(() => (this.pass = undefined))
    return this.pass
  }

  private async begin(): Promise<void> {
    try {
      await this.options.withdraw?.()
    } catch (error) {
      // Harmless: the first record this run publishes replaces the old one anyway.
      this.options.log(`metrics of node ${this.nodeName}: the previous record was not withdrawn: ${(error as Error).message}`)
    }
    await this.loop()
  }

  private async loop(): Promise<void> {
    if (this.stopped) return
    const startedMs = this.options.timers.monotonicMs()
    try {
      await this.sampleOnce()
    } catch (error) {
      this.options.log(`metrics of node ${this.nodeName} not sampled: ${(error as Error).message}`)
    }
    if (this.stopped) return
    // Passes start a period apart (not a period after the previous one ended), so slow stats
    // calls do not stretch the window.
    const elapsedMs = this.options.timers.monotonicMs() - startedMs
    this.timer = this.options.timers.after(Math.max(0, this.periodMs - elapsedMs), () => void this.loop())
  }

  private async runPass(): Promise<NodeMetricsRecord | undefined> {
    const timers = this.options.timers
    const passMonotonicMs = timers.monotonicMs()
    // Records hold whole milliseconds; the OS monotonic clock has fractions.
    const timestampMs = Math.round(timers.realtimeMs())
    const running = (await this.options.runtime.listContainers()).filter((container) => container.state === 'running')
    const sampled = await this.sampleContainers(running)
    const nodeSample = await this.readNodeStats()

    const previousPassMs = this.lastPassMonotonicMs
    this.lastPassMonotonicMs = passMonotonicMs
    const nodeUsage = this.nodeUsage(sampled, nodeSample)
    if (previousPassMs === undefined) return undefined
    const windowMs = Math.round(passMonotonicMs - previousPassMs)
    assert(windowMs >= 0, 'monotonic time went backwards')

    const record: NodeMetricsRecord = {
      node: this.nodeName,
      timestampMs,
      windowMs,
      periodMs: this.periodMs,
      ...(nodeUsage === undefined ? {} : { usage: nodeUsage }),
      pods: podEntries(sampled),
    }
    await this.options.publish(record)
    return record
  }

  /** Reads the stats of every container, `statsConcurrency` at a time, and remembers the readings. */
  private async sampleContainers(running: readonly ContainerStatus[]): Promise<Sampled[]> {
    const results: Sampled[] = []
    const next = new Map<string, CpuReading>()
    let index = 0
    const worker = async (): Promise<void> => {
      for (let container = running[index++]; container !== undefined; container = running[index++]) {
        const stats = await this.readStats(container)
        if (stats === 'exited') continue
        let cpuNanoCores: number | undefined
        if (stats !== undefined) {
          const reading = { timestampMs: stats.timestampMs, cpuNs: stats.cpuUsageCoreNanoSeconds }
          cpuNanoCores = rateOf(this.containerReadings.get(container.id), reading)
          next.set(container.id, reading)
        }
        results.push({ container, stats, cpuNanoCores })
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.statsConcurrency, running.length) }, worker))
    // Readings of containers that are gone are dropped here, so the map never outgrows the node.
    this.containerReadings = next
    return results
  }

  /** The node's counters from `readNodeStats`; undefined without a reader or when it fails (logged). */
  private async readNodeStats(): Promise<NodeStatsSample | undefined> {
    if (this.options.readNodeStats === undefined) return undefined
    try {
      return await this.options.readNodeStats()
    } catch (error) {
      // The pods' figures do not depend on the node's: publish them without a node usage.
      this.options.log(`metrics of node ${this.nodeName}: node counters not read: ${(error as Error).message}`)
      this.nodeReading = undefined
      return undefined
    }
  }

  /** The container's stats; `exited` when it stopped since the listing, undefined on other failures. */
  private async readStats(container: ContainerStatus): Promise<ContainerStats | 'exited' | undefined> {
    try {
      return await this.options.runtime.stats(container.id)
    } catch (error) {
      if (error instanceof NotRunningError || error instanceof NotFoundError) return 'exited'
      this.options.log(`metrics of node ${this.nodeName}: stats of container ${container.name} of pod ${container.pod.namespace}/${container.pod.name} not read: ${(error as Error).message}`)
      return undefined
    }
  }

  /** The node's usage for this pass (and the reading it keeps for the next). */
  private nodeUsage(sampled: readonly Sampled[], nodeSample: NodeStatsSample | undefined): ResourceUsage | undefined {
    if (this.options.readNodeStats !== undefined) {
      if (nodeSample === undefined) return undefined
      const reading = { timestampMs: nodeSample.timestampMs, cpuNs: nodeSample.cpuUsageCoreNanoSeconds }
      const cpuNanoCores = rateOf(this.nodeReading, reading)
      this.nodeReading = reading
      return cpuNanoCores === undefined ? undefined : { cpuNanoCores, memoryBytes: nodeSample.memoryWorkingSetBytes }
    }
    let cpuNanoCores = 0
    let memoryBytes = 0
    for (const { stats, cpuNanoCores: rate } of sampled) {
      if (stats === undefined || rate === undefined) continue
      cpuNanoCores += rate
      memoryBytes += stats.memoryWorkingSetBytes
    }
    return { cpuNanoCores, memoryBytes }
  }
}

/** Nanocores between two cumulative readings; undefined without an earlier, lower reading. */
export function rateOf(previous: CpuReading | undefined, current: CpuReading): number | undefined {
  if (previous === undefined) return undefined
  const elapsedMs = current.timestampMs - previous.timestampMs
  const usedNs = current.cpuNs - previous.cpuNs
  // A clock that stepped back or a counter that went down (not the same container after all)
  // gives no rate rather than a wrong one.
  if (elapsedMs <= 0 || usedNs < 0) return undefined
  return Math.round((usedNs * 1000) / elapsedMs)
}

/** The pods whose running containers all have rates, sorted, with containers sorted by name. */
function podEntries(sampled: readonly Sampled[]): PodUsageEntry[] {
  const byUid = new Map<string, { pod: ContainerStatus['pod']; containers: Map<string, { attempt: number; usage: ContainerUsage | undefined }> }>()
  for (const { container, stats, cpuNanoCores } of sampled) {
    let entry = byUid.get(container.pod.uid)
    if (entry === undefined) {
      entry = { pod: container.pod, containers: new Map() }
      byUid.set(container.pod.uid, entry)
    }
    // Two running instances of one name happen only for an instant during a restart: the newer counts.
    const existing = entry.containers.get(container.name)
    if (existing !== undefined && existing.attempt > container.attempt) continue
    const usage = stats === undefined || cpuNanoCores === undefined ? undefined : { name: container.name, cpuNanoCores, memoryBytes: stats.memoryWorkingSetBytes }
    entry.containers.set(container.name, { attempt: container.attempt, usage })
  }
  const pods: PodUsageEntry[] = []
  for (const { pod, containers } of byUid.values()) {
    const usages = [...containers.values()].map((container) => container.usage)
    if (usages.some((usage) => usage === undefined)) continue
    const complete = usages as ContainerUsage[]
    pods.push({ namespace: pod.namespace, name: pod.name, uid: pod.uid, containers: complete.sort((a, b) => compareText(a.name, b.name)) })
  }
  return pods.sort((a, b) => compareText(a.namespace, b.namespace) || compareText(a.name, b.name) || compareText(a.uid, b.uid))
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
