/**
 * API benchmark: the Kubernetes API of three real Flotilla daemons against the equivalent store
 * operations on a three-member etcd 3.4, in one run on one machine (see bench/README.md).
 *
 *   node bench/api-bench.ts [--quick] [--duration-s 8] [--warmup-s 1] [--only flotilla|etcd]
 *                           [--watchers 1000] [--fanout-writes 100]
 *
 * For each system in turn (a fresh cluster each, stopped before the next) it measures create,
 * get, list (1 000 objects), update (with resourceVersion) and a 70/30 read/write mix, each at 1
 * and 32 requests in flight spread over all members (bench/api-workloads.ts); then the watch
 * fan-out to 1 000 watchers and the members' memory with them open (bench/api-fanout.ts). Prints
 * tables with ratios (above 1 = Flotilla better), the issue's p99 < 100 ms goal as a sentence per
 * workload, and writes bench/results/api-<timestamp>.json. Exit code 1 when a system could not
 * be measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { COMMON_BENCH_OPTIONS, commonBenchOptions, integerOption, type SystemName } from './bench-options.ts'
import { EtcdApiTarget } from './api-etcd.ts'
import { measureFanOut, type FanOutOptions, type FanOutResult } from './api-fanout.ts'
import { FlotillaApiTarget } from './api-flotilla.ts'
import type { ApiTarget } from './api-targets.ts'
import {
  CONCURRENCY_LEVELS,
  LIST_OBJECT_COUNT,
  runApiWorkloads,
  WORKLOAD_KINDS,
  workloadName,
  type ApiWorkloadKind,
  type ApiWorkloadResult,
} from './api-workloads.ts'
import { REPO_ROOT } from './flotilla-cluster.ts'
import { describeError } from './load.ts'
import { installCleanupHandlers } from './processes.ts'
import { formatTables, ratio, type Better, type ComparisonRow } from './report.ts'
import type { WorkloadTiming } from './workloads.ts'


/** The issue's goal for the API on a 3-node cluster on this machine (Kubernetes' own SLO is 1 s). */
const P99_GOAL_MS = 100

/** Watches opened at once during the fan-out set-up. */
const WATCH_OPEN_CONCURRENCY = 50

/** One write's event may take this long to reach every watcher; later receipts count as missed. */
const DELIVERY_DEADLINE_MS = 10_000

/** Said in the output and the results file, because the two paths do very different work. */
const PATH_NOTE =
  'Not like for like: a Flotilla request goes through TLS, bearer-token authentication, JSON decoding, ' +
  'admission (defaulting and validation), canonicalisation and encoding the object back, on top of the ' +
  'replicated store; the etcd peer does only the store operation (plain-HTTP JSON gateway, no TLS, no auth). ' +
  'The ratio is the price of the whole API path against a bare store.'

interface BenchOptions {
  readonly systems: readonly SystemName[]
  readonly timing: WorkloadTiming
  readonly fanOut: FanOutOptions
  readonly quick: boolean
}

const USAGE = `usage: node bench/api-bench.ts [options]
  --duration-s N       measured seconds per workload (default 8; 2 with --quick)
  --warmup-s N         warm-up seconds per workload (default 1; 0.5 with --quick)
  --watchers N         watches open during the fan-out (default 1000)
  --fanout-writes N    writes whose delivery to every watcher is timed (default 100; 10 with --quick)
  --quick              shorter runs (smoke run, a few minutes)
  --only SYSTEM        flotilla or etcd (default: both, Flotilla first)`

function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...COMMON_BENCH_OPTIONS,
      watchers: { type: 'string' },
      'fanout-writes': { type: 'string' },
    },
    strict: true,
  })
  const common = commonBenchOptions(values, USAGE, 2)
  return {
    systems: common.systems,
    timing: { warmupMs: common.warmupMs, measureMs: common.measureMs },
    fanOut: {
      watchers: integerOption(values.watchers, 1000, 1, 10_000, '--watchers'),
      writes: integerOption(values['fanout-writes'], common.quick ? 10 : 100, 1, 10_000, '--fanout-writes'),
      deliveryDeadlineMs: DELIVERY_DEADLINE_MS,
      openConcurrency: WATCH_OPEN_CONCURRENCY,
    },
    quick: common.quick,
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

// ---------------------------------------------------------------------------------------------
// One system
// ---------------------------------------------------------------------------------------------

interface SystemResults {
  readonly system: string
  readonly version?: string
  readonly notes?: readonly string[]
  /** From spawning the first member to a cluster serving requests. */
  readonly readyMs?: number
  readonly workloads?: readonly ApiWorkloadResult[]
  readonly fanOut?: FanOutResult
  readonly error?: string
}

async function startTarget(system: SystemName): Promise<{ target: ApiTarget; readyMs: number }> {
  const startMs = performance.now()
  const target = system === 'etcd' ? await EtcdApiTarget.start() : await FlotillaApiTarget.start()
  return { target, readyMs: performance.now() - startMs }
}

async function benchSystem(system: SystemName, options: BenchOptions): Promise<SystemResults> {
  const display = system === 'etcd' ? 'etcd' : 'Flotilla'
  let target: ApiTarget | undefined
  let workloads: ApiWorkloadResult[] | undefined
  try {
    log(`[${display}] starting 3 members on 127.0.0.1`)
    const started = await startTarget(system)
    target = started.target
    log(`[${display}] ready in ${(started.readyMs / 1000).toFixed(1)} s; ${target.version}; ${target.notes.join('; ')}`)
    workloads = await runApiWorkloads(target, options.timing, log)
    const fanOut = await measureFanOut(target, options.fanOut, log)
    log(formatFanOutProgress(display, fanOut))
    return { system: display, version: target.version, notes: target.notes, readyMs: started.readyMs, workloads, fanOut }
  } catch (error) {
    log(`[${display}] NOT (fully) MEASURED: ${describeError(error)}`)
    return {
      system: display,
      ...(target === undefined ? {} : { version: target.version, notes: target.notes }),
      ...(workloads === undefined ? {} : { workloads }),
      error: describeError(error),
    }
  } finally {
    await target?.stop()
  }
}

function formatFanOutProgress(system: string, f: FanOutResult): string {
  return (
    `[${system}] fan-out: ${f.writes} writes to ${f.watchers} watchers: ack->event p50 ${f.delayMs.p50.toFixed(1)} ms, ` +
    `p99 ${f.delayMs.p99.toFixed(1)} ms; sent->all p50 ${f.allReceivedFromSendMs.p50.toFixed(1)} ms, ` +
    `max ${f.allReceivedFromSendMs.max.toFixed(1)} ms; ` +
    `${f.missed} missed, RSS with watchers ${f.memory.map((m) => m.rssWithWatchersMiB.toFixed(0)).join('/')} MiB`
  )
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const KIND_TITLES: Record<ApiWorkloadKind, string> = {
  create: 'create (POST; etcd: create-only txn)',
  get: 'get one object (GET; etcd: range on the key)',
  list: `list ${LIST_OBJECT_COUNT} objects (GET collection; etcd: prefix range)`,
  update: 'update own object at its resourceVersion (PUT; etcd: txn CAS)',
  mixed: 'mixed: 70 % get, 30 % update',
}

function workloadOf(results: SystemResults, name: string): ApiWorkloadResult | undefined {
  return results.workloads?.find((w) => w.workload === name)
}

function compareApi(flotilla: SystemResults | undefined, etcd: SystemResults | undefined): ComparisonRow[] {
  const rows: ComparisonRow[] = []
  const add = (table: string, metric: string, better: Better, pick: (s: SystemResults) => number | undefined): void => {
    const f = flotilla === undefined ? undefined : pick(flotilla)
    const e = etcd === undefined ? undefined : pick(etcd)
    rows.push({ table, metric, better, flotilla: f, etcd: e, ratio: ratio(better, f, e) })
  }
  for (const concurrency of CONCURRENCY_LEVELS) {
    for (const kind of WORKLOAD_KINDS) {
      const name = workloadName(kind, concurrency)
      const table = `${name}: ${KIND_TITLES[kind]}, ${concurrency} in flight over 3 members`
      const w = (s: SystemResults): ApiWorkloadResult | undefined => workloadOf(s, name)
      add(table, kind === 'update' ? 'successful updates/s' : 'ops/s', 'higher', (s) => w(s)?.opsPerSecond)
      add(table, 'p50 ms', 'lower', (s) => w(s)?.latencyMs.p50)
      add(table, 'p90 ms', 'lower', (s) => w(s)?.latencyMs.p90)
      add(table, 'p99 ms', 'lower', (s) => w(s)?.latencyMs.p99)
      add(table, 'max ms', 'lower', (s) => w(s)?.latencyMs.max)
      if (kind === 'mixed') {
        for (const verb of ['get', 'update'] as const) {
          add(table, `${verb} ops/s`, 'higher', (s) => w(s)?.verbs?.[verb].opsPerSecond)
          add(table, `${verb} p50 ms`, 'lower', (s) => w(s)?.verbs?.[verb].latencyMs.p50)
          add(table, `${verb} p99 ms`, 'lower', (s) => w(s)?.verbs?.[verb].latencyMs.p99)
        }
      }
      if (kind === 'update' || kind === 'mixed') add(table, '409 conflicts (retried)', 'none', (s) => w(s)?.conflicts)
      add(table, 'CPU ms/op, 3 members', 'lower', (s) => w(s)?.cpu.serversCpuMsPerOp)
      add(table, 'errors', 'none', (s) => w(s)?.errors)
      add(table, 'other jobs, % machine', 'none', (s) => w(s)?.cpu.othersMachinePercent)
    }
  }
  const watchers = flotilla?.fanOut?.watchersRequested ?? etcd?.fanOut?.watchersRequested ?? 0
  // The ack-based delays get no ratio: a server that streams events before it answers the write
  // shows negative delays, and a slower answer looks like faster delivery. Compare sent->event.
  const table =
    `fan-out: ${watchers} watches over 3 members, sequential creates; ack->event = write acknowledged -> ` +
    'a watcher has the event (negative: event first), sent->event = from sending the write, ->all = the last watcher'
  const f = (s: SystemResults): FanOutResult | undefined => s.fanOut
  add(table, 'watches open', 'none', (s) => f(s)?.watchers)
  add(table, 'open all, s', 'lower', (s) => ms2s(f(s)?.openMs))
  add(table, 'writes', 'none', (s) => f(s)?.writes)
  add(table, 'write p50 ms', 'lower', (s) => f(s)?.writeLatencyMs.p50)
  add(table, 'write max ms', 'lower', (s) => f(s)?.writeLatencyMs.max)
  add(table, 'ack->event p50 ms', 'none', (s) => f(s)?.delayMs.p50)
  add(table, 'ack->event p90 ms', 'none', (s) => f(s)?.delayMs.p90)
  add(table, 'ack->event p99 ms', 'none', (s) => f(s)?.delayMs.p99)
  add(table, 'ack->event max ms', 'none', (s) => f(s)?.delayMs.max)
  add(table, 'ack->all p50 ms', 'none', (s) => f(s)?.allReceivedMs.p50)
  add(table, 'ack->all max ms', 'none', (s) => f(s)?.allReceivedMs.max)
  add(table, 'sent->event p50 ms', 'lower', (s) => f(s)?.delayFromSendMs.p50)
  add(table, 'sent->event p99 ms', 'lower', (s) => f(s)?.delayFromSendMs.p99)
  add(table, 'sent->event max ms', 'lower', (s) => f(s)?.delayFromSendMs.max)
  add(table, 'sent->all p50 ms', 'lower', (s) => f(s)?.allReceivedFromSendMs.p50)
  add(table, 'sent->all p99 ms', 'lower', (s) => f(s)?.allReceivedFromSendMs.p99)
  add(table, 'sent->all max ms', 'lower', (s) => f(s)?.allReceivedFromSendMs.max)
  add(table, 'events missed', 'none', (s) => f(s)?.missed)
  add(table, 'events before ack', 'none', (s) => f(s)?.beforeAck)
  add(table, 'watches ended early', 'none', (s) => f(s)?.endedWatches)
  add(table, 'CPU ms/write, 3 members', 'lower', (s) => f(s)?.cpu.serversCpuMsPerOp)
  add(table, 'client, % machine', 'none', (s) => f(s)?.cpu.clientMachinePercent)
  add(table, 'other jobs, % machine', 'none', (s) => f(s)?.cpu.othersMachinePercent)
  add(table, 'RSS before, max MiB', 'lower', (s) => maxOf(f(s)?.memory.map((m) => m.rssBeforeMiB)))
  add(table, 'RSS watching, max MiB', 'lower', (s) => maxOf(f(s)?.memory.map((m) => m.rssWithWatchersMiB)))
  add(table, 'RSS watching, total MiB', 'lower', (s) => sumOf(f(s)?.memory.map((m) => m.rssWithWatchersMiB)))
  add(table, 'ready after start, s', 'none', (s) => ms2s(s.readyMs))
  return rows
}

function ms2s(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1000
}

function maxOf(values: readonly number[] | undefined): number | undefined {
  return values === undefined || values.length === 0 ? undefined : Math.max(...values)
}

function sumOf(values: readonly number[] | undefined): number | undefined {
  return values === undefined || values.length === 0 ? undefined : values.reduce((sum, v) => sum + v, 0)
}

/** The p99 goal, one line per Flotilla workload (and verb of the mix): figures, not a verdict. */
function formatGoal(flotilla: SystemResults | undefined): string {
  if (flotilla?.workloads === undefined) return ''
  const lines = [`issue goal: API p99 < ${P99_GOAL_MS} ms on a 3-node cluster on this machine (Kubernetes' SLO is 1 s). Flotilla:`]
  const line = (label: string, p99Ms: number): string =>
    `  ${label.padEnd(20)} p99 ${p99Ms.toFixed(1).padStart(8)} ms  ${p99Ms < P99_GOAL_MS ? 'below' : 'ABOVE'} ${P99_GOAL_MS} ms`
  for (const w of flotilla.workloads) {
    lines.push(line(w.workload, w.latencyMs.p99))
    if (w.verbs !== undefined) {
      for (const [verb, summary] of Object.entries(w.verbs)) lines.push(line(`  ${verb}`, summary.latencyMs.p99))
    }
  }
  return lines.join('\n')
}

function formatFanOutNotes(results: readonly SystemResults[]): string {
  const lines: string[] = []
  for (const r of results) {
    const f = r.fanOut
    if (f === undefined) continue
    const memory = f.memory.map((m) => `${m.rssBeforeMiB.toFixed(0)} -> ${m.rssWithWatchersMiB.toFixed(0)}`).join(', ')
    lines.push(`${r.system} members' RSS MiB before the watches -> with ${f.watchers} open: ${memory}`)
    if (f.openFailures > 0) lines.push(`${r.system}: ${f.openFailures} watches failed to open (first: ${f.firstOpenError})`)
    if (f.endedWatches > 0) lines.push(`${r.system}: ${f.endedWatches} watches ended early (first: ${f.firstWatchError})`)
  }
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  installCleanupHandlers()
  // A backstop: whatever hangs, the run ends (and cleans up through the exit handler).
  const runs = WORKLOAD_KINDS.length * CONCURRENCY_LEVELS.length
  const perSystemMs =
    180_000 + 2 * runs * (options.timing.warmupMs + options.timing.measureMs) + options.fanOut.writes * options.fanOut.deliveryDeadlineMs
  const watchdog = setTimeout(() => {
    log(`api-bench: still running after ${(perSystemMs * options.systems.length) / 1000} s; giving up`)
    process.exit(3)
  }, perSystemMs * options.systems.length)
  watchdog.unref()

  const startedAt = new Date()
  const loadAverageStart = os.loadavg()
  log(
    `api-bench: ${options.systems.join(', ')}; 3 members each; concurrency ${CONCURRENCY_LEVELS.join(' and ')}; warm-up ` +
      `${options.timing.warmupMs} ms + ${options.timing.measureMs} ms per workload; fan-out ${options.fanOut.watchers} watchers, ` +
      `${options.fanOut.writes} writes; ${os.cpus().length} CPUs, load average ${loadAverageStart.map((l) => l.toFixed(2)).join(' ')}`,
  )

  const results: Partial<Record<SystemName, SystemResults>> = {}
  for (const system of options.systems) results[system] = await benchSystem(system, options)

  const rows = compareApi(results.flotilla, results.etcd)
  const all = Object.values(results)
  const out: string[] = ['', PATH_NOTE, '', formatTables(rows)]
  const fanOutNotes = formatFanOutNotes(all)
  if (fanOutNotes !== '') out.push('', fanOutNotes)
  const goal = formatGoal(results.flotilla)
  if (goal !== '') out.push('', goal)
  for (const r of all) {
    if (r.error !== undefined) out.push('', `${r.system} was not (fully) measured: ${r.error}`)
  }
  if (options.quick) out.push('', 'quick run: short windows, few fan-out writes; a smoke test, not figures to quote.')
  process.stdout.write(`${out.join('\n')}\n`)

  const finishedAt = new Date()
  const resultsDir = path.join(REPO_ROOT, 'bench', 'results')
  mkdirSync(resultsDir, { recursive: true })
  const file = path.join(resultsDir, `api-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  const record = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    options,
    memberCount: 3,
    concurrencyLevels: CONCURRENCY_LEVELS,
    listObjectCount: LIST_OBJECT_COUNT,
    p99GoalMs: P99_GOAL_MS,
    pathNote: PATH_NOTE,
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
  if (all.some((r) => r.error !== undefined)) process.exitCode = 1
}

try {
  await main()
} catch (error) {
  log(`api-bench: ${describeError(error)}`)
  process.exitCode = 2
}
