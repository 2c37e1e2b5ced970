/**
 * The throughput and latency workloads, run the same way against any BenchCluster:
 * - put-seq-1: one client, sequential puts to the leader.
 * - put-c64-leader, put-c256-leader: 64 or 256 puts in flight to the leader.
 * - range-lin-c64-all: 64 linearizable reads in flight, spread over all members, over 1 000
 *   preloaded keys.
 * Every workload also reports the members' CPU per operation (summed over the three processes)
 * and how busy the rest of the machine was, because this shared machine is noisy.
 */
import { FlotillaError } from '../lib/errors.ts'
import type { BenchCluster } from './cluster.ts'
import { measureCpu, runLoad, type CpuMeter, type CpuReport, type LoadResult } from './load.ts'

/** Value size of every put. */
export const VALUE_BYTES = 256
/** Puts cycle over this many keys. */
export const PUT_KEY_COUNT = 10_000
/** Reads go to this many preloaded keys. */
export const READ_KEY_COUNT = 1_000

/** Upper bound on the request rate, used only to size a run's maxOps. */
const MAX_PLAUSIBLE_OPS_PER_SECOND = 200_000

/** A read found no value under a key that was preloaded. */
export class MissingKeyError extends FlotillaError {
  override name = 'MissingKeyError'
}

export interface CpuSummary {
  /** CPU of the three members over the measured window. */
  readonly serversCpuMs: number
  /** serversCpuMs divided by the operations completed in the window. */
  readonly serversCpuMsPerOp: number
  /** Members' CPU as a share of the whole machine's capacity (all cores). */
  readonly serversMachinePercent: number
  /** The load generator's CPU as a share of the machine. */
  readonly clientMachinePercent: number
  /** Everything else on the machine (other jobs) as a share of the machine: noise indicator. */
  readonly othersMachinePercent: number
}

export interface WorkloadResult extends LoadResult {
  readonly workload: string
  readonly concurrency: number
  readonly cpu: CpuSummary
}

export interface WorkloadTiming {
  readonly warmupMs: number
  readonly measureMs: number
}

export type WorkloadName = 'put-seq-1' | 'put-c64-leader' | 'put-c256-leader' | 'range-lin-c64-all'

export const WORKLOAD_NAMES: readonly WorkloadName[] = ['put-seq-1', 'put-c64-leader', 'put-c256-leader', 'range-lin-c64-all']

/** Keys are fixed-width so every system stores the same number of bytes. */
export function benchKey(prefix: string, n: number): string {
  return `${prefix}-${n.toString().padStart(8, '0')}`
}

/** A 256-byte value, deterministic so runs are comparable. */
export function makeValue(): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES)
  for (let k = 0; k < VALUE_BYTES; k++) value[k] = 0x20 + ((k * 31) % 95)
  return value
}

/** Runs the four workloads in order and returns their results. `progress` receives one line each. */
export async function runWorkloads(
  cluster: BenchCluster,
  timing: WorkloadTiming,
  progress: (line: string) => void,
): Promise<Record<WorkloadName, WorkloadResult>> {
  const value = makeValue()
  const putKeys = Array.from({ length: PUT_KEY_COUNT }, (_, n) => benchKey('bench', n))
  const readKeys = Array.from({ length: READ_KEY_COUNT }, (_, n) => benchKey('read', n))
  const report = (result: WorkloadResult): WorkloadResult => {
    progress(formatProgress(cluster.system, result))
    return result
  }

  let leader = (await cluster.waitForLeader(10_000)).member
  const putToLeader = (i: number): Promise<void> => cluster.put(leader, putKeys[i % PUT_KEY_COUNT] ?? '', value)

  const seq = report(await measured(cluster, 'put-seq-1', 1, timing, putToLeader))
  leader = (await cluster.waitForLeader(10_000)).member
  const c64 = report(await measured(cluster, 'put-c64-leader', 64, timing, putToLeader))
  leader = (await cluster.waitForLeader(10_000)).member
  const c256 = report(await measured(cluster, 'put-c256-leader', 256, timing, putToLeader))

  leader = (await cluster.waitForLeader(10_000)).member
  await preload(cluster, leader, readKeys, value)
  const reads = report(
    await measured(cluster, 'range-lin-c64-all', 64, timing, async (i) => {
      const key = readKeys[i % READ_KEY_COUNT] ?? ''
      const found = await cluster.get(i % cluster.memberCount, key, { linearizable: true })
      if (found === undefined) throw new MissingKeyError(`${cluster.system}: preloaded key ${key} not found`)
    }),
  )
  return { 'put-seq-1': seq, 'put-c64-leader': c64, 'put-c256-leader': c256, 'range-lin-c64-all': reads }
}

/** Callbacks at the edges of a run's measured window (to count only what happens inside it). */
export interface MeasureHooks {
  readonly onMeasureStart?: () => void
  readonly onMeasureEnd?: () => void
}

/**
 * One load run with the members' CPU metered over the measured window. Any system with member
 * processes will do: only `memberPids` is used.
 */
export async function measured(
  cluster: Pick<BenchCluster, 'memberPids'>,
  workload: string,
  concurrency: number,
  timing: WorkloadTiming,
  request: (i: number) => Promise<void>,
  hooks: MeasureHooks = {},
): Promise<WorkloadResult> {
  let meter: CpuMeter | undefined
  let report: CpuReport | undefined
  const pids = cluster.memberPids()
  const result = await runLoad({
    request,
    concurrency,
    warmupMs: timing.warmupMs,
    durationMs: timing.measureMs,
    maxOps: Math.ceil(((timing.warmupMs + timing.measureMs) / 1000) * MAX_PLAUSIBLE_OPS_PER_SECOND),
    onMeasureStart: () => {
      meter = measureCpu(pids)
      hooks.onMeasureStart?.()
    },
    onMeasureEnd: () => {
      report = meter?.stop()
      hooks.onMeasureEnd?.()
    },
  })
  return { workload, concurrency, ...result, cpu: summarizeCpu(report, result.ops) }
}

/** Writes every read key once (64 in flight, to the leader); throws if any write fails. */
async function preload(cluster: BenchCluster, leader: number, keys: readonly string[], value: Uint8Array): Promise<void> {
  const result = await runLoad({
    request: (i) => cluster.put(leader, keys[i] ?? '', value),
    concurrency: 64,
    warmupMs: 0,
    durationMs: 60_000,
    maxOps: keys.length,
  })
  if (result.ops !== keys.length) {
    throw new FlotillaError(
      `${cluster.system}: preloading ${keys.length} keys wrote only ${result.ops} (${result.errors} errors; first: ${result.firstError})`,
    )
  }
}

export function summarizeCpu(report: CpuReport | undefined, ops: number): CpuSummary {
  if (report === undefined) {
    return { serversCpuMs: 0, serversCpuMsPerOp: 0, serversMachinePercent: 0, clientMachinePercent: 0, othersMachinePercent: 0 }
  }
  const capacityMs = Math.max(report.wallMs * report.machineCores, 1e-3)
  const othersMs = Math.max(report.machineBusyMs - report.serversCpuMs - report.clientCpuMs, 0)
  return {
    serversCpuMs: report.serversCpuMs,
    serversCpuMsPerOp: ops > 0 ? report.serversCpuMs / ops : 0,
    serversMachinePercent: (100 * report.serversCpuMs) / capacityMs,
    clientMachinePercent: (100 * report.clientCpuMs) / capacityMs,
    othersMachinePercent: (100 * othersMs) / capacityMs,
  }
}

export function formatProgress(system: string, r: WorkloadResult): string {
  const errors = r.errors > 0 ? `, ${r.errors} errors (first: ${r.firstError})` : ''
  return (
    `[${system}] ${r.workload}: ${r.opsPerSecond.toFixed(0)} ops/s, p50 ${r.latencyMs.p50.toFixed(2)} ms, ` +
    `p99 ${r.latencyMs.p99.toFixed(2)} ms, CPU ${r.cpu.serversCpuMsPerOp.toFixed(3)} ms/op ` +
    `(servers ${r.cpu.serversMachinePercent.toFixed(0)}% / client ${r.cpu.clientMachinePercent.toFixed(0)}% / ` +
    `others ${r.cpu.othersMachinePercent.toFixed(0)}% of machine)${errors}`
  )
}
