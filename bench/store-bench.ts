/**
 * Store benchmark: five real Flotilla daemons (init + 4 joins, libp2p on 127.0.0.1) against a
 * five-member etcd 3.4 on the same machine, through each system's HTTP API (see bench/README.md).
 *
 *   node bench/store-bench.ts [--quick] [--duration-s 8] [--warmup-s 1] [--only flotilla|etcd]
 *                             [--idle-settle-s 10] [--idle-window-s 10]
 *
 * For each system in turn (a fresh cluster each, stopped before the next) it measures, with
 * 256-byte values: sequential puts to the leader; 64 puts in flight spread over all members;
 * 64 compare-and-swap clients (read-modify-write on one key each, retried on conflict); 64
 * linearizable reads in flight over all members; the members' CPU per committed write; and, after
 * the load and an idle pause, each member's RSS and CPU over an idle window. Prints tables with
 * Flotilla/etcd ratios (above 1 = Flotilla better) and writes bench/results/store-<timestamp>.json.
 * Exit code 1 when a system could not be measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { FlotillaError } from '../lib/errors.ts'
import { COMMON_BENCH_OPTIONS, commonBenchOptions, numberOption, type SystemName } from './bench-options.ts'
import { EtcdCluster } from './etcd-cluster.ts'
import { REPO_ROOT } from './flotilla-cluster.ts'
import { FlotillaDaemons } from './flotilla-daemons.ts'
import { describeError, measureCpu, readMemoryMiB, runLoad, type CpuMeter, type CpuReport, type LoadResult } from './load.ts'
import { installCleanupHandlers, sleep } from './processes.ts'
import { formatTables, ratio, type Better, type ComparisonRow } from './report.ts'
import { EtcdTarget, FlotillaTarget, type StoreTarget } from './store-targets.ts'
import {
  benchKey,
  formatProgress,
  makeValue,
  MissingKeyError,
  PUT_KEY_COUNT,
  READ_KEY_COUNT,
  summarizeCpu,
  VALUE_BYTES,
  type CpuSummary,
  type WorkloadTiming,
} from './workloads.ts'


/** Members per system, as the issue asks. */
const MEMBER_COUNT = 5
/** Requests in flight for the concurrent workloads; also the number of CAS clients (one key each). */
const CONCURRENCY = 64
/** A CAS client gives up on one read-modify-write after this many conflicts in a row. */
const MAX_CAS_ATTEMPTS = 20
/** Upper bound on the request rate, used only to size a run's maxOps. */
const MAX_PLAUSIBLE_OPS_PER_SECOND = 100_000
/** Deadline for leader agreement between workloads. */
const LEADER_DEADLINE_MS = 20_000

/** Goals stated in the issue for one idle daemon; printed next to the figures, not judged. */
const IDLE_GOALS = { rssMiB: 120, cpuPercent: 1 }

interface BenchOptions {
  readonly systems: readonly SystemName[]
  readonly warmupMs: number
  readonly measureMs: number
  readonly idleSettleMs: number
  readonly idleWindowMs: number
  readonly quick: boolean
}

const USAGE = `usage: node bench/store-bench.ts [options]
  --duration-s N       measured seconds per workload (default 8; 3 with --quick)
  --warmup-s N         warm-up seconds per workload (default 1; 0.5 with --quick)
  --idle-settle-s N    idle pause after the load before the idle window (default 10; 5 with --quick)
  --idle-window-s N    idle CPU window (default 10; 5 with --quick)
  --quick              all of the above shortened (smoke run, about 70 s)
  --only SYSTEM        flotilla or etcd (default: both, Flotilla first)`

function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...COMMON_BENCH_OPTIONS,
      'idle-settle-s': { type: 'string' },
      'idle-window-s': { type: 'string' },
    },
    strict: true,
  })
  const common = commonBenchOptions(values, USAGE, 3)
  return {
    systems: common.systems,
    warmupMs: common.warmupMs,
    measureMs: common.measureMs,
    idleSettleMs: 1000 * numberOption(values['idle-settle-s'], common.quick ? 5 : 10, 0, 600, '--idle-settle-s'),
    idleWindowMs: 1000 * numberOption(values['idle-window-s'], common.quick ? 5 : 10, 1, 600, '--idle-window-s'),
    quick: common.quick,
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

type StoreWorkloadName = 'put-seq-1-leader' | 'put-c64-all' | 'cas-c64-all' | 'range-lin-c64-all'

const STORE_WORKLOADS: readonly StoreWorkloadName[] = ['put-seq-1-leader', 'put-c64-all', 'cas-c64-all', 'range-lin-c64-all']

const WORKLOAD_TITLES: Record<StoreWorkloadName, string> = {
  'put-seq-1-leader': 'sequential put, 1 client -> leader',
  'put-c64-all': 'put throughput, 64 in flight over all 5 members',
  'cas-c64-all': 'CAS: 64 clients, read + put-if-modRevision on own key, over all 5 members',
  'range-lin-c64-all': 'linearizable get, 64 in flight over all 5 members, 1 000 keys',
}

interface StoreWorkloadResult extends LoadResult {
  readonly workload: StoreWorkloadName
  readonly concurrency: number
  readonly cpu: CpuSummary
}

interface CasStats {
  /** Successful read-modify-writes over the whole run (warm-up and drain included). */
  readonly successes: number
  /** Conflicts over the whole run; each was retried. */
  readonly conflicts: number
  /** Conflicts inside the measured window. */
  readonly conflictsInWindow: number
  /** Sum of the counters stored in the CAS keys after the run (should equal `successes`). */
  readonly counterSum: number
}

/** The value a CAS client writes: its counter, padded to VALUE_BYTES. */
function casValue(counter: number): Uint8Array {
  const text = `counter=${counter.toString().padStart(12, '0')};`
  return Buffer.from(text.padEnd(VALUE_BYTES, '.'), 'utf8')
}

function casCounter(value: Uint8Array): number {
  const match = /^counter=(\d{12});/.exec(Buffer.from(value).toString('utf8'))
  if (match === null) throw new FlotillaError(`CAS value is not a counter: ${Buffer.from(value).toString('utf8').slice(0, 40)}`)
  return Number(match[1])
}

interface RunHooks {
  readonly onMeasureStart?: () => void
  readonly onMeasureEnd?: () => void
}

/** One closed-loop run with the members' CPU metered over the measured window. */
async function measured(
  target: StoreTarget,
  workload: StoreWorkloadName,
  concurrency: number,
  timing: WorkloadTiming,
  request: (i: number) => Promise<void>,
  hooks: RunHooks = {},
): Promise<StoreWorkloadResult> {
  let meter: CpuMeter | undefined
  let report: CpuReport | undefined
  const pids = target.memberPids()
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
  const r: StoreWorkloadResult = { workload, concurrency, ...result, cpu: summarizeCpu(report, result.ops) }
  log(formatProgress(target.system, r))
  return r
}

/** Writes every key once (64 in flight, to `member`); throws if any write fails. */
async function preload(target: StoreTarget, member: number, keys: readonly string[], value: Uint8Array): Promise<void> {
  const result = await runLoad({
    request: (i) => target.put(member, keys[i] ?? '', value),
    concurrency: CONCURRENCY,
    warmupMs: 0,
    durationMs: 60_000,
    maxOps: keys.length,
  })
  if (result.ops !== keys.length) {
    throw new FlotillaError(
      `${target.system}: preloading ${keys.length} keys wrote only ${result.ops} (${result.errors} errors; first: ${result.firstError})`,
    )
  }
}

interface WorkloadsResult {
  readonly workloads: Record<StoreWorkloadName, StoreWorkloadResult>
  readonly cas: CasStats
}

async function runStoreWorkloads(target: StoreTarget, timing: WorkloadTiming): Promise<WorkloadsResult> {
  const n = target.memberCount
  const value = makeValue()
  const putKeys = Array.from({ length: PUT_KEY_COUNT }, (_, k) => benchKey('bench', k))
  const readKeys = Array.from({ length: READ_KEY_COUNT }, (_, k) => benchKey('read', k))
  const casKeys = Array.from({ length: CONCURRENCY }, (_, k) => benchKey('cas', k))

  let leader = await target.leader(LEADER_DEADLINE_MS)
  const seq = await measured(target, 'put-seq-1-leader', 1, timing, (i) => target.put(leader, putKeys[i % PUT_KEY_COUNT] ?? '', value))

  leader = await target.leader(LEADER_DEADLINE_MS)
  const c64 = await measured(target, 'put-c64-all', CONCURRENCY, timing, (i) =>
    target.put(i % n, putKeys[i % PUT_KEY_COUNT] ?? '', value),
  )

  // CAS: a client is a slot (one key); a request borrows a free slot, so each key has at most one
  // read-modify-write in flight. Request i goes to member i % n, so a key is usually read on a
  // different member than the one its last write went through: a stale read shows as a conflict.
  leader = await target.leader(LEADER_DEADLINE_MS)
  const freeSlots = Array.from({ length: CONCURRENCY }, (_, k) => CONCURRENCY - 1 - k)
  let successes = 0
  let conflicts = 0
  let conflictsInWindow = 0
  let windowOpen = false
  const cas = await measured(
    target,
    'cas-c64-all',
    CONCURRENCY,
    timing,
    async (i) => {
      const slot = freeSlots.pop()
      if (slot === undefined) throw new FlotillaError('no free CAS slot (more requests in flight than clients)')
      try {
        const member = i % n
        const key = casKeys[slot] ?? ''
        for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
          const current = await target.get(member, key)
          const counter = current === undefined ? 0 : casCounter(current.value)
          const result = await target.putIfModRevision(member, key, casValue(counter + 1), current?.modRevision ?? 0)
          if (result.ok) {
            successes++
            return
          }
          conflicts++
          if (windowOpen) conflictsInWindow++
        }
        throw new FlotillaError(`${target.system}: CAS on ${key} conflicted ${MAX_CAS_ATTEMPTS} times in a row`)
      } finally {
        freeSlots.push(slot)
      }
    },
    { onMeasureStart: () => (windowOpen = true), onMeasureEnd: () => (windowOpen = false) },
  )
  leader = await target.leader(LEADER_DEADLINE_MS)
  let counterSum = 0
  for (const key of casKeys) {
    const stored = await target.get(leader, key)
    counterSum += stored === undefined ? 0 : casCounter(stored.value)
  }
  if (counterSum !== successes) {
    log(`[${target.system}] CAS counter check: stored counters sum to ${counterSum}, ${successes} CAS acknowledged`)
  }

  leader = await target.leader(LEADER_DEADLINE_MS)
  await preload(target, leader, readKeys, value)
  const reads = await measured(target, 'range-lin-c64-all', CONCURRENCY, timing, async (i) => {
    const key = readKeys[i % READ_KEY_COUNT] ?? ''
    const found = await target.get(i % n, key)
    if (found === undefined) throw new MissingKeyError(`${target.system}: preloaded key ${key} not found`)
  })

  return {
    workloads: { 'put-seq-1-leader': seq, 'put-c64-all': c64, 'cas-c64-all': cas, 'range-lin-c64-all': reads },
    cas: { successes, conflicts, conflictsInWindow, counterSum },
  }
}

// ---------------------------------------------------------------------------------------------
// Idle footprint
// ---------------------------------------------------------------------------------------------

interface MemberFootprint {
  readonly label: string
  readonly pid: number
  readonly leader: boolean
  /** Right after the cluster was ready, before any load. */
  readonly rssAtStartMiB: number
  /** At the end of the idle window. */
  readonly rssIdleMiB: number
  readonly peakRssMiB: number
  /** utime + stime over the idle window, as a percentage of one core. */
  readonly idleCpuPercent: number
}

interface IdleFootprint {
  readonly settleMs: number
  readonly windowMs: number
  readonly members: readonly MemberFootprint[]
  readonly maxRssMiB: number
  readonly totalRssMiB: number
  readonly maxCpuPercent: number
  readonly totalCpuPercent: number
  /** Everything else on the machine during the idle window, % of the whole machine. */
  readonly othersMachinePercent: number
}

async function measureIdle(
  target: StoreTarget,
  rssAtStart: ReadonlyMap<number, number>,
  settleMs: number,
  windowMs: number,
): Promise<IdleFootprint> {
  log(`[${target.system}] idle: ${settleMs / 1000} s pause, then a ${windowMs / 1000} s window`)
  await sleep(settleMs)
  const pids = target.memberPids()
  const labels = target.labels()
  if (pids.length !== labels.length) throw new FlotillaError(`${target.system}: only ${pids.length} members running`)
  const meter = measureCpu(pids)
  await sleep(windowMs)
  const cpu = meter.stop()
  const leader = await target.leader(LEADER_DEADLINE_MS)
  const members = pids.map((pid, k): MemberFootprint => {
    const memory = readMemoryMiB(pid)
    return {
      label: labels[k] ?? String(k),
      pid,
      leader: k === leader,
      rssAtStartMiB: rssAtStart.get(pid) ?? 0,
      rssIdleMiB: memory.rss,
      peakRssMiB: memory.peak,
      idleCpuPercent: (100 * (cpu.perPidCpuMs[pid] ?? 0)) / cpu.wallMs,
    }
  })
  const idleCpu = summarizeCpu(cpu, 0)
  return {
    settleMs,
    windowMs,
    members,
    maxRssMiB: Math.max(...members.map((m) => m.rssIdleMiB)),
    totalRssMiB: members.reduce((sum, m) => sum + m.rssIdleMiB, 0),
    maxCpuPercent: Math.max(...members.map((m) => m.idleCpuPercent)),
    totalCpuPercent: members.reduce((sum, m) => sum + m.idleCpuPercent, 0),
    othersMachinePercent: idleCpu.othersMachinePercent,
  }
}

function formatIdle(system: string, idle: IdleFootprint): string {
  const lines = [
    `idle footprint, ${system}: ${idle.settleMs / 1000} s after the load, CPU over ${idle.windowMs / 1000} s ` +
      `(% of one core; * = leader; other jobs ${idle.othersMachinePercent.toFixed(0)}% of machine)`,
    `  ${'member'.padEnd(12)}${'pid'.padStart(8)}${'RSS start MiB'.padStart(15)}${'RSS idle MiB'.padStart(14)}` +
      `${'peak MiB'.padStart(10)}${'idle CPU %'.padStart(12)}`,
  ]
  for (const m of idle.members) {
    lines.push(
      `  ${(m.label + (m.leader ? ' *' : '')).padEnd(12)}${String(m.pid).padStart(8)}${m.rssAtStartMiB.toFixed(1).padStart(15)}` +
        `${m.rssIdleMiB.toFixed(1).padStart(14)}${m.peakRssMiB.toFixed(1).padStart(10)}${m.idleCpuPercent.toFixed(2).padStart(12)}`,
    )
  }
  lines.push(
    `  ${'max'.padEnd(12)}${''.padStart(8)}${Math.max(...idle.members.map((m) => m.rssAtStartMiB)).toFixed(1).padStart(15)}` +
      `${idle.maxRssMiB.toFixed(1).padStart(14)}${Math.max(...idle.members.map((m) => m.peakRssMiB)).toFixed(1).padStart(10)}` +
      `${idle.maxCpuPercent.toFixed(2).padStart(12)}`,
  )
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------------
// One system
// ---------------------------------------------------------------------------------------------

interface SystemResults {
  readonly system: string
  readonly version?: string
  readonly notes?: readonly string[]
  /** From spawning the first member to a ready cluster (for Flotilla: init, joins, all voters). */
  readonly readyMs?: number
  readonly workloads?: Record<StoreWorkloadName, StoreWorkloadResult>
  readonly cas?: CasStats
  readonly idle?: IdleFootprint
  readonly error?: string
}

async function startTarget(system: SystemName): Promise<{ target: StoreTarget; readyMs: number }> {
  const startMs = performance.now()
  if (system === 'etcd') {
    const cluster = await EtcdCluster.start({ memberCount: MEMBER_COUNT })
    return { target: new EtcdTarget(cluster), readyMs: performance.now() - startMs }
  }
  const daemons = await FlotillaDaemons.start()
  return { target: new FlotillaTarget(daemons), readyMs: daemons.formationMs }
}

async function benchSystem(system: SystemName, options: BenchOptions): Promise<SystemResults> {
  const display = system === 'etcd' ? 'etcd' : 'Flotilla'
  let target: StoreTarget | undefined
  try {
    log(`[${display}] starting ${MEMBER_COUNT} members on 127.0.0.1`)
    const started = await startTarget(system)
    target = started.target
    log(`[${display}] ready in ${(started.readyMs / 1000).toFixed(1)} s; ${target.version}; ${target.notes.join('; ')}`)
    const rssAtStart = new Map(target.memberPids().map((pid) => [pid, readMemoryMiB(pid).rss]))
    const { workloads, cas } = await runStoreWorkloads(target, { warmupMs: options.warmupMs, measureMs: options.measureMs })
    const idle = await measureIdle(target, rssAtStart, options.idleSettleMs, options.idleWindowMs)
    return { system: display, version: target.version, notes: target.notes, readyMs: started.readyMs, workloads, cas, idle }
  } catch (error) {
    log(`[${display}] NOT MEASURED: ${describeError(error)}`)
    return {
      system: display,
      ...(target === undefined ? {} : { version: target.version, notes: target.notes }),
      error: describeError(error),
    }
  } finally {
    await target?.stop()
  }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function compareStore(flotilla: SystemResults | undefined, etcd: SystemResults | undefined): ComparisonRow[] {
  const rows: ComparisonRow[] = []
  const add = (table: string, metric: string, better: Better, pick: (s: SystemResults) => number | undefined): void => {
    const f = flotilla === undefined ? undefined : pick(flotilla)
    const e = etcd === undefined ? undefined : pick(etcd)
    rows.push({ table, metric, better, flotilla: f, etcd: e, ratio: ratio(better, f, e) })
  }
  for (const name of STORE_WORKLOADS) {
    const table = `${name}: ${WORKLOAD_TITLES[name]}`
    add(table, name === 'cas-c64-all' ? 'successful CAS/s' : 'ops/s', 'higher', (s) => s.workloads?.[name].opsPerSecond)
    add(table, 'p50 ms', 'lower', (s) => s.workloads?.[name].latencyMs.p50)
    add(table, 'p99 ms', 'lower', (s) => s.workloads?.[name].latencyMs.p99)
    add(table, 'max ms', 'lower', (s) => s.workloads?.[name].latencyMs.max)
    add(table, `CPU ms/op, ${MEMBER_COUNT} members`, 'lower', (s) => s.workloads?.[name].cpu.serversCpuMsPerOp)
    if (name === 'cas-c64-all') {
      add(table, 'conflicts (window)', 'none', (s) => s.cas?.conflictsInWindow)
      add(table, 'CAS acked (whole run)', 'none', (s) => s.cas?.successes)
      add(table, 'stored counters sum', 'none', (s) => s.cas?.counterSum)
    }
    add(table, 'errors', 'none', (s) => s.workloads?.[name].errors)
    add(table, 'other jobs, % machine', 'none', (s) => s.workloads?.[name].cpu.othersMachinePercent)
  }
  const cpuTable = `cpu-per-write: CPU ms per committed write, summed over ${MEMBER_COUNT} members (put-c64-all window)`
  add(cpuTable, 'CPU ms/write', 'lower', (s) => s.workloads?.['put-c64-all'].cpu.serversCpuMsPerOp)
  add(cpuTable, 'members, % machine', 'none', (s) => s.workloads?.['put-c64-all'].cpu.serversMachinePercent)
  const idleTable = 'idle: per-member footprint after the load (details below)'
  add(idleTable, 'max RSS MiB', 'lower', (s) => s.idle?.maxRssMiB)
  add(idleTable, `total RSS MiB, ${MEMBER_COUNT} members`, 'lower', (s) => s.idle?.totalRssMiB)
  add(idleTable, 'max CPU % of a core', 'lower', (s) => s.idle?.maxCpuPercent)
  add(idleTable, 'total CPU % of a core', 'lower', (s) => s.idle?.totalCpuPercent)
  add(idleTable, 'ready after start, s', 'none', (s) => (s.readyMs === undefined ? undefined : s.readyMs / 1000))
  return rows
}

function formatGoals(flotilla: SystemResults | undefined): string {
  const idle = flotilla?.idle
  if (idle === undefined) return ''
  const overRss = idle.members.filter((m) => m.rssIdleMiB > IDLE_GOALS.rssMiB).length
  const overCpu = idle.members.filter((m) => m.idleCpuPercent >= IDLE_GOALS.cpuPercent).length
  return (
    `issue goals per idle daemon: RSS <= ${IDLE_GOALS.rssMiB} MB, CPU < ${IDLE_GOALS.cpuPercent} %. ` +
    `Flotilla: max RSS ${idle.maxRssMiB.toFixed(1)} MiB (${overRss} of ${idle.members.length} daemons above ${IDLE_GOALS.rssMiB}), ` +
    `max idle CPU ${idle.maxCpuPercent.toFixed(2)} % of a core (${overCpu} of ${idle.members.length} at or above ${IDLE_GOALS.cpuPercent} %).`
  )
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  installCleanupHandlers()
  // A backstop: whatever hangs, the run ends (and cleans up through the exit handler).
  const perSystemMs = 120_000 + 4 * (options.warmupMs + options.measureMs) * 3 + options.idleSettleMs + options.idleWindowMs
  const watchdog = setTimeout(() => {
    log(`store-bench: still running after ${(perSystemMs * options.systems.length) / 1000} s; giving up`)
    process.exit(3)
  }, perSystemMs * options.systems.length)
  watchdog.unref()

  const startedAt = new Date()
  const loadAverageStart = os.loadavg()
  log(
    `store-bench: ${options.systems.join(', ')}; ${MEMBER_COUNT} members each; ${VALUE_BYTES} B values; warm-up ` +
      `${options.warmupMs} ms + ${options.measureMs} ms per workload; idle ${options.idleSettleMs} ms + ` +
      `${options.idleWindowMs} ms; ${os.cpus().length} CPUs, load average ${loadAverageStart.map((l) => l.toFixed(2)).join(' ')}`,
  )

  const results: Partial<Record<SystemName, SystemResults>> = {}
  for (const system of options.systems) results[system] = await benchSystem(system, options)

  const rows = compareStore(results.flotilla, results.etcd)
  const out: string[] = ['', formatTables(rows)]
  for (const r of Object.values(results)) {
    if (r.idle !== undefined) out.push('', formatIdle(r.system, r.idle))
  }
  const goals = formatGoals(results.flotilla)
  if (goals !== '') out.push('', goals)
  for (const r of Object.values(results)) {
    if (r.error !== undefined) out.push('', `${r.system} was not measured: ${r.error}`)
  }
  process.stdout.write(`${out.join('\n')}\n`)

  const finishedAt = new Date()
  const resultsDir = path.join(REPO_ROOT, 'bench', 'results')
  mkdirSync(resultsDir, { recursive: true })
  const file = path.join(resultsDir, `store-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  const record = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    options,
    memberCount: MEMBER_COUNT,
    valueBytes: VALUE_BYTES,
    concurrency: CONCURRENCY,
    idleGoals: IDLE_GOALS,
    host: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.versions.node,
      loadAverageStart,
      loadAverageEnd: os.loadavg(),
    },
    systems: results,
    comparison: rows,
  }
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`)
  process.stdout.write(
    `\nresults: ${path.relative(process.cwd(), file)} (${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s)\n`,
  )
  if (Object.values(results).some((r) => r.error !== undefined)) process.exitCode = 1
}

try {
  await main()
} catch (error) {
  log(`store-bench: ${describeError(error)}`)
  process.exitCode = 2
}
