/**
 * A closed-loop load generator and a CPU meter.
 *
 * runLoad keeps `concurrency` requests in flight: each worker sends its next request as soon as the
 * previous one settles. The callers' request functions use node:http with one keep-alive Agent per
 * member (bench/http.ts), so each in-flight request owns one reused socket. A run is a warm-up
 * followed by a measured window; only requests that complete inside the window count, and the
 * rate is divided by the window's actual length. Runs are bounded both by time and by `maxOps`.
 *
 * measureCpu reads utime + stime of the cluster members from /proc/<pid>/stat, so a run can report
 * the servers' CPU per operation, which is steadier than ops/s on a shared machine.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { assert } from '../lib/assert.ts'
import { FlotillaError } from '../lib/errors.ts'

/** The largest number of requests one run may send (the latency buffer is sized by it). */
export const MAX_OPS_LIMIT = 10_000_000

export interface LoadOptions {
  /** Sends request number `i` (0, 1, 2, … across all workers) and settles when it is answered. */
  readonly request: (i: number) => Promise<void>
  readonly concurrency: number
  /** Length of the measured window. */
  readonly durationMs: number
  /** Requests completing before the window opens are not counted. */
  readonly warmupMs: number
  /** No more than this many requests are sent, warm-up included. */
  readonly maxOps: number
  /** Called when the measured window opens (to start a CPU meter). */
  readonly onMeasureStart?: () => void
  /** Called when the measured window closes, before in-flight requests drain. */
  readonly onMeasureEnd?: () => void
}

export interface LatencySummaryMs {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

export interface LoadResult {
  /** Requests that succeeded inside the measured window. */
  readonly ops: number
  readonly opsPerSecond: number
  readonly latencyMs: LatencySummaryMs
  /** Requests that failed inside the measured window. */
  readonly errors: number
  /** The first failure of the run (warm-up included), for diagnosis. */
  readonly firstError?: string
  /** Actual length of the measured window. */
  readonly windowMs: number
}

/** Runs a closed-loop load and returns throughput and latency over the measured window. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { request, concurrency, durationMs, warmupMs, maxOps } = options
  assert(Number.isInteger(concurrency) && concurrency >= 1, `concurrency must be >= 1, got ${concurrency}`)
  assert(durationMs > 0 && warmupMs >= 0, `bad durations: warm-up ${warmupMs} ms, window ${durationMs} ms`)
  assert(Number.isInteger(maxOps) && maxOps >= 1 && maxOps <= MAX_OPS_LIMIT, `maxOps out of range: ${maxOps}`)

  const latenciesMs = new Float64Array(maxOps)
  let issued = 0
  let ops = 0
  let errors = 0
  let firstError: string | undefined
  let windowStartMs = Number.POSITIVE_INFINITY
  let windowEndMs = Number.POSITIVE_INFINITY
  let stopped = false

  const openWindow = (): void => {
    windowStartMs = performance.now()
    options.onMeasureStart?.()
    endTimer = setTimeout(closeWindow, durationMs)
  }
  const closeWindow = (): void => {
    if (stopped) return
    stopped = true
    windowEndMs = performance.now()
    options.onMeasureEnd?.()
  }
  let endTimer: NodeJS.Timeout | undefined
  const startTimer = warmupMs > 0 ? setTimeout(openWindow, warmupMs) : undefined
  if (warmupMs === 0) openWindow()

  const worker = async (): Promise<void> => {
    // Bounded: every iteration consumes one of maxOps request numbers.
    while (!stopped && issued < maxOps) {
      const i = issued++
      const sentMs = performance.now()
      let failure: unknown
      try {
        await request(i)
      } catch (error) {
        failure = error
        firstError ??= describeError(error)
      }
      const doneMs = performance.now()
      if (doneMs < windowStartMs || stopped) continue
      if (failure === undefined) latenciesMs[ops++] = doneMs - sentMs
      else errors++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))

  clearTimeout(startTimer)
  if (windowStartMs === Number.POSITIVE_INFINITY) openWindow() // maxOps ran out during warm-up
  clearTimeout(endTimer)
  closeWindow() // no-op when the timer already closed it
  const windowMs = Math.max(windowEndMs - windowStartMs, 1e-3)
  return {
    ops,
    opsPerSecond: (ops * 1000) / windowMs,
    latencyMs: summarizeLatencies(latenciesMs.subarray(0, ops)),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    windowMs,
  }
}

/** p50, p90, p99 (nearest rank) and max; zeros for an empty sample. Sorts `samplesMs` in place. */
export function summarizeLatencies(samplesMs: Float64Array): LatencySummaryMs {
  if (samplesMs.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 }
  samplesMs.sort()
  return {
    p50: nearestRank(samplesMs, 0.5),
    p90: nearestRank(samplesMs, 0.9),
    p99: nearestRank(samplesMs, 0.99),
    max: samplesMs[samplesMs.length - 1] ?? 0,
  }
}

function nearestRank(sorted: Float64Array, quantile: number): number {
  const rank = Math.ceil(quantile * sorted.length)
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] ?? 0
}

/** One line describing a failure. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return String(error)
}

// ---------------------------------------------------------------------------------------------
// CPU accounting
// ---------------------------------------------------------------------------------------------

/** /proc/<pid>/stat could not be read or parsed (the process may have exited). */
export class ProcStatError extends FlotillaError {
  override name = 'ProcStatError'
}

export interface CpuReport {
  /** utime + stime summed over the measured pids. */
  readonly serversCpuMs: number
  readonly perPidCpuMs: Readonly<Record<number, number>>
  /** CPU used by this (load generator) process over the same interval. */
  readonly clientCpuMs: number
  /** CPU used by the whole machine (all cores, all processes) over the same interval. */
  readonly machineBusyMs: number
  readonly machineCores: number
  readonly wallMs: number
}

export interface CpuMeter {
  /** Reads the counters again and reports the difference since measureCpu. */
  stop(): CpuReport
}

/**
 * Starts measuring CPU time of `pids` (utime + stime from /proc/<pid>/stat, in ms), of this process
 * and of the whole machine. Call stop() on the returned meter to get the differences.
 */
export function measureCpu(pids: readonly number[]): CpuMeter {
  const startWallMs = performance.now()
  const startPidMs = pids.map(readProcessCpuMs)
  const startClient = process.cpuUsage()
  const startMachine = readMachineCpuMs()
  return {
    stop(): CpuReport {
      const perPidCpuMs: Record<number, number> = {}
      let serversCpuMs = 0
      pids.forEach((pid, k) => {
        const usedMs = readProcessCpuMs(pid) - (startPidMs[k] ?? 0)
        perPidCpuMs[pid] = usedMs
        serversCpuMs += usedMs
      })
      const client = process.cpuUsage(startClient)
      const machine = readMachineCpuMs()
      return {
        serversCpuMs,
        perPidCpuMs,
        clientCpuMs: (client.user + client.system) / 1000,
        machineBusyMs: machine.busyMs - startMachine.busyMs,
        machineCores: machine.cores,
        wallMs: performance.now() - startWallMs,
      }
    },
  }
}

let clockTicksPerSecond: number | undefined

/** USER_HZ, the unit of /proc CPU counters (100 on every common Linux build). */
function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      const parsed = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10)
      clockTicksPerSecond = Number.isFinite(parsed) && parsed > 0 ? parsed : 100
    } catch {
      clockTicksPerSecond = 100
    }
  }
  return clockTicksPerSecond
}

/** utime + stime of one process (all its threads), in ms. */
export function readProcessCpuMs(pid: number): number {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (error) {
    throw new ProcStatError(`cannot read /proc/${pid}/stat`, { cause: error })
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new ProcStatError(`bad /proc/${pid}/stat: ${text}`)
  return ((utime + stime) * 1000) / ticksPerSecond()
}

/** Resident memory of one process, in MiB. */
export interface MemoryMiB {
  /** VmRSS. */
  readonly rss: number
  /** VmHWM: the peak RSS since the process started. */
  readonly peak: number
}

/** VmRSS and VmHWM of a process from /proc/<pid>/status, in MiB. */
export function readMemoryMiB(pid: number): MemoryMiB {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch (error) {
    throw new ProcStatError(`cannot read /proc/${pid}/status`, { cause: error })
  }
  const field = (name: string): number => {
    const kB = Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1])
    if (!Number.isFinite(kB)) throw new ProcStatError(`/proc/${pid}/status has no ${name}`)
    return kB / 1024
  }
  return { rss: field('VmRSS'), peak: field('VmHWM') }
}

/** Busy time (everything but idle and iowait) summed over all cores, from /proc/stat. */
function readMachineCpuMs(): { busyMs: number; cores: number } {
  const text = readFileSync('/proc/stat', 'utf8')
  const lines = text.split('\n')
  const total = (lines[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const busyTicks = total.slice(0, 8).reduce((sum, value, k) => (k === 3 || k === 4 ? sum : sum + value), 0)
  const cores = lines.filter((line) => /^cpu\d+ /.test(line)).length
  return { busyMs: (busyTicks * 1000) / ticksPerSecond(), cores }
}
