/**
 * Docker's stats document reduced to the two figures the kubelet reports (pure).
 */
import { msFromRfc3339 } from '../log-lines.ts'
import type { ContainerStats } from '../runtime.ts'

/** The parts of `GET /containers/{id}/stats` we read; cgroup v1 and v2 name the cache differently. */
export interface DockerStatsDocument {
  readonly read?: string
  readonly cpu_stats?: { readonly cpu_usage?: { readonly total_usage?: number } }
  readonly memory_stats?: {
    readonly usage?: number
    readonly stats?: { readonly total_inactive_file?: number; readonly inactive_file?: number }
  }
}

/**
 * Cumulative CPU nanoseconds and the working set: memory usage minus inactive file cache, floored
 * at zero (the kubelet's and cAdvisor's definition; page cache the kernel can drop at once is not
 * pressure).
 */
export function containerStatsFrom(document: DockerStatsDocument, fallbackTimeMs: number): ContainerStats {
  const usageBytes = document.memory_stats?.usage ?? 0
  const cache = document.memory_stats?.stats
  const inactiveFileBytes = cache?.total_inactive_file ?? cache?.inactive_file ?? 0
  return {
    timestampMs: msFromRfc3339(document.read) ?? fallbackTimeMs,
    cpuUsageCoreNanoSeconds: document.cpu_stats?.cpu_usage?.total_usage ?? 0,
    memoryWorkingSetBytes: Math.max(0, usageBytes - inactiveFileBytes),
  }
}
