/**
 * The HPA's PodMetricsSource over the node agents' records in the replicated store
 * (api/server/node-metrics-store.ts): a pod's usage is the sum of its containers', CPU in
 * millicores rounded up per container (the HPA's metrics client sums `MilliValue()`s), memory in
 * bytes.
 *
 * Reads are synchronous, from the local replica (the controllers run on the Raft leader, whose
 * replica is current). An index by namespace/name is rebuilt at most every `refreshMs`, so an
 * HPA pass over a thousand pods reads the store once rather than a thousand times; records
 * change only every agent period (15 s), so a second of caching loses nothing. Stale records
 * are left out, and when two fresh records name one pod (it was recreated on another node), the
 * newer sample wins.
 */
import { NodeMetricsReader } from '../api/server/node-metrics-store.ts'
import type { ObjectBackend } from '../api/server/object-store.ts'
import type { PodMetricsSource, PodUsage } from './hpa-metrics.ts'

const REFRESH_MS_DEFAULT = 1000
const NANOCORES_PER_MILLICORE = 1_000_000

export interface StoredPodMetricsOptions {
  readonly backend: ObjectBackend
  /** Wall clock, ms (the records' timestamps are wall clock; staleness is judged by it). */
  readonly nowMs: () => number
  /** How long an index serves before the store is read again (default 1 s). */
  readonly refreshMs?: number
}

export class StoredPodMetrics implements PodMetricsSource {
  private readonly reader: NodeMetricsReader
  private readonly nowMs: () => number
  private readonly refreshMs: number
  private index: Map<string, { usage: PodUsage; timestampMs: number }> = new Map()
  private indexedAtMs: number | undefined

  constructor(options: StoredPodMetricsOptions) {
    this.nowMs = options.nowMs
    this.refreshMs = options.refreshMs ?? REFRESH_MS_DEFAULT
    this.reader = new NodeMetricsReader({ backend: options.backend, nowMs: options.nowMs })
  }

  podUsage(namespace: string, podName: string): PodUsage | undefined {
    const nowMs = this.nowMs()
    if (this.indexedAtMs === undefined || nowMs - this.indexedAtMs >= this.refreshMs || nowMs < this.indexedAtMs) this.rebuild(nowMs)
    return this.index.get(`${namespace}/${podName}`)?.usage
  }

  private rebuild(nowMs: number): void {
    const index = new Map<string, { usage: PodUsage; timestampMs: number }>()
    for (const record of this.reader.fresh().values()) {
      for (const pod of record.pods) {
        const key = `${pod.namespace}/${pod.name}`
        const existing = index.get(key)
        if (existing !== undefined && existing.timestampMs >= record.timestampMs) continue
        let cpuMillicores = 0
        let memoryBytes = 0
        for (const container of pod.containers) {
          cpuMillicores += Math.ceil(container.cpuNanoCores / NANOCORES_PER_MILLICORE)
          memoryBytes += container.memoryBytes
        }
        index.set(key, { usage: { cpuMillicores, memoryBytes }, timestampMs: record.timestampMs })
      }
    }
    this.index = index
    this.indexedAtMs = nowMs
  }
}
