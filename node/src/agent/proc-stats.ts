/**
 * The whole machine's CPU and memory use, from Linux's /proc, for the node figures of
 * `kubectl top nodes` on a real node:
 *
 * - CPU: the first line of /proc/stat counts the time every CPU spent in each state since boot, in
 *   USER_HZ ticks. Busy time is everything but idle and iowait (guest time is already inside user
 *   time, so it is not added again). The sampler turns two readings into a rate.
 * - Memory: MemTotal − MemAvailable from /proc/meminfo (kB), the memory the kernel cannot hand
 *   out without swapping: the closest machine-wide figure to a working set.
 *
 * Files are read through an injected reader so tests feed fixed text.
 */
import { readFile } from 'node:fs/promises'
import { FlotillaError } from '../../../lib/errors.ts'

/** The /proc text did not have the expected shape (not Linux, or a format we do not know). */
export class ProcStatsError extends FlotillaError {
  override name = 'ProcStatsError'
}

/** One reading of a node's counters. */
export interface NodeStatsSample {
  /** When the counters were read (wall clock, ms since the epoch). */
  readonly timestampMs: number
  /** CPU time used by everything on the machine since boot, in core-nanoseconds. */
  readonly cpuUsageCoreNanoSeconds: number
  readonly memoryWorkingSetBytes: number
}

/** Reads the node's counters once. */
export type NodeStatsReader = () => Promise<NodeStatsSample>

/**
 * Ticks per second of /proc/stat. The kernel exports times in USER_HZ, which is 100 on every
 * architecture Linux userland sees (the internal HZ may differ; the ABI does not).
 */
export const USER_HZ = 100
const NANOSECONDS_PER_SECOND = 1_000_000_000
/** /proc/stat's cpu fields after the label: user nice system idle iowait irq softirq steal [guest guest_nice]. */
const IDLE_FIELD = 3
const IOWAIT_FIELD = 4
const COUNTED_FIELDS = 8

/** Busy CPU time since boot, in core-nanoseconds, from /proc/stat's aggregate `cpu` line. */
export function procStatCpuNanoseconds(text: string, userHz = USER_HZ): number {
  const line = text.split('\n').find((candidate) => /^cpu\s/.test(candidate))
  if (line === undefined) throw new ProcStatsError('/proc/stat has no aggregate "cpu" line')
  const fields = line.trim().split(/\s+/).slice(1).map(Number)
  if (fields.length < IOWAIT_FIELD + 1 || fields.some((field) => !Number.isSafeInteger(field) || field < 0)) {
    throw new ProcStatsError(`/proc/stat cpu line not understood: ${JSON.stringify(line)}`)
  }
  let busyTicks = 0
  for (const [index, ticks] of fields.slice(0, COUNTED_FIELDS).entries()) if (index !== IDLE_FIELD && index !== IOWAIT_FIELD) busyTicks += ticks
  return Math.round((busyTicks * NANOSECONDS_PER_SECOND) / userHz)
}

/** MemTotal − MemAvailable, in bytes, from /proc/meminfo. */
export function procMeminfoWorkingSetBytes(text: string): number {
  const kilobytes = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)
    if (match === null) throw new ProcStatsError(`/proc/meminfo has no ${field} line`)
    return Number(match[1])
  }
  return Math.max(0, kilobytes('MemTotal') - kilobytes('MemAvailable')) * 1024
}

export interface ProcStatsOptions {
  /** Reads a file as text (default: node:fs). */
  readonly readText?: (path: string) => Promise<string>
  /** Wall clock, ms (default Date.now). */
  readonly nowMs?: () => number
  /** Where /proc is mounted (default `/proc`). */
  readonly procRoot?: string
}

/** A NodeStatsReader over /proc/stat and /proc/meminfo. */
export function procNodeStatsReader(options: ProcStatsOptions = {}): NodeStatsReader {
  const readText = options.readText ?? ((path: string) => readFile(path, 'utf8'))
  const nowMs = options.nowMs ?? (() => Date.now())
  const root = options.procRoot ?? '/proc'
  return async () => {
    const [stat, meminfo] = await Promise.all([readText(`${root}/stat`), readText(`${root}/meminfo`)])
    return { timestampMs: nowMs(), cpuUsageCoreNanoSeconds: procStatCpuNanoseconds(stat), memoryWorkingSetBytes: procMeminfoWorkingSetBytes(meminfo) }
  }
}
