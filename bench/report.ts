/**
 * Side-by-side tables of Flotilla against etcd.
 *
 * Every ratio is oriented so that **above 1 means Flotilla is better**: throughput is
 * Flotilla/etcd; latency, CPU per operation and failover time are etcd/Flotilla.
 */
import type { FailoverResult } from './failover.ts'
import { WORKLOAD_NAMES, type WorkloadName, type WorkloadResult } from './workloads.ts'

/** What one system produced; `error` when it could not be measured. */
export interface SystemResults {
  readonly system: string
  readonly version?: string
  readonly notes?: readonly string[]
  readonly workloads?: Partial<Record<WorkloadName, WorkloadResult>>
  readonly failover?: FailoverResult
  readonly error?: string
}

/** Which direction of a metric is better. */
export type Better = 'higher' | 'lower' | 'none'

export interface ComparisonRow {
  readonly table: string
  readonly metric: string
  readonly better: Better
  readonly flotilla: number | undefined
  readonly etcd: number | undefined
  /** Above 1: Flotilla better. Undefined when a side is missing or zero. */
  readonly ratio: number | undefined
}

const WORKLOAD_TITLES: Record<WorkloadName, string> = {
  'put-seq-1': 'sequential put, 1 client -> leader',
  'put-c64-leader': 'put throughput, 64 in flight -> leader',
  'put-c256-leader': 'put throughput, 256 in flight -> leader',
  'range-lin-c64-all': 'linearizable get, 64 in flight over all members, 1 000 keys',
}

/** Rows of every table, in print order. */
export function compare(flotilla: SystemResults | undefined, etcd: SystemResults | undefined): ComparisonRow[] {
  const rows: ComparisonRow[] = []
  const add = (table: string, metric: string, better: Better, pick: (s: SystemResults) => number | undefined): void => {
    const f = flotilla === undefined ? undefined : pick(flotilla)
    const e = etcd === undefined ? undefined : pick(etcd)
    rows.push({ table, metric, better, flotilla: f, etcd: e, ratio: ratio(better, f, e) })
  }
  for (const name of WORKLOAD_NAMES) {
    const table = `${name}: ${WORKLOAD_TITLES[name]}`
    add(table, 'ops/s', 'higher', (s) => s.workloads?.[name]?.opsPerSecond)
    add(table, 'p50 ms', 'lower', (s) => s.workloads?.[name]?.latencyMs.p50)
    add(table, 'p99 ms', 'lower', (s) => s.workloads?.[name]?.latencyMs.p99)
    add(table, 'max ms', 'lower', (s) => s.workloads?.[name]?.latencyMs.max)
    add(table, 'CPU ms/op, 3 members', 'lower', (s) => s.workloads?.[name]?.cpu.serversCpuMsPerOp)
    add(table, 'errors', 'none', (s) => s.workloads?.[name]?.errors)
    add(table, 'other jobs, % machine', 'none', (s) => s.workloads?.[name]?.cpu.othersMachinePercent)
  }
  const cpuTable = 'cpu-per-write: CPU ms per committed write, summed over 3 members (put-c64-leader window)'
  add(cpuTable, 'CPU ms/write', 'lower', (s) => s.workloads?.['put-c64-leader']?.cpu.serversCpuMsPerOp)
  add(cpuTable, 'members, % machine', 'none', (s) => s.workloads?.['put-c64-leader']?.cpu.serversMachinePercent)
  const failoverTable = 'failover: SIGKILL leader -> first successful put sent after the kill'
  add(failoverTable, 'median ms', 'lower', (s) => s.failover?.medianMs)
  add(failoverTable, 'min ms', 'lower', (s) => s.failover?.minMs)
  add(failoverTable, 'max ms', 'lower', (s) => s.failover?.maxMs)
  add(failoverTable, 'rounds', 'none', (s) => s.failover?.rounds.length)
  return rows
}

export function ratio(better: Better, flotilla: number | undefined, etcd: number | undefined): number | undefined {
  if (better === 'none' || flotilla === undefined || etcd === undefined || flotilla <= 0 || etcd <= 0) return undefined
  return better === 'higher' ? flotilla / etcd : etcd / flotilla
}

/** The tables as text, one per workload. */
export function formatTables(rows: readonly ComparisonRow[]): string {
  const lines: string[] = [
    'ratio: above 1 = Flotilla better (throughput Flotilla/etcd; latency, CPU, failover etcd/Flotilla)',
  ]
  let table = ''
  for (const row of rows) {
    if (row.table !== table) {
      table = row.table
      lines.push('', table, `  ${pad('', 24)}${padLeft('Flotilla', 12)}${padLeft('etcd', 12)}${padLeft('ratio', 10)}`)
    }
    const ratioText = row.ratio === undefined ? '-' : `${row.ratio.toFixed(2)}x`
    const hint = row.better === 'none' ? '' : `  (${row.better} is better)`
    lines.push(
      `  ${pad(row.metric, 24)}${padLeft(formatNumber(row.flotilla), 12)}${padLeft(formatNumber(row.etcd), 12)}` +
        `${padLeft(ratioText, 10)}${hint}`,
    )
  }
  return lines.join('\n')
}

function formatNumber(value: number | undefined): string {
  if (value === undefined) return '-'
  if (Number.isInteger(value)) return String(value)
  const magnitude = Math.abs(value)
  if (magnitude >= 100) return value.toFixed(0)
  if (magnitude >= 1) return value.toFixed(2)
  return value.toFixed(3)
}

function pad(text: string, width: number): string {
  return text.padEnd(width)
}

function padLeft(text: string, width: number): string {
  return text.padStart(width)
}
