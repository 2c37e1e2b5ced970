/**
 * Raft benchmark: Flotilla's replicated KV against etcd 3.4 on the same machine, both as three
 * members on 127.0.0.1 (see bench/README.md).
 *
 *   node bench/raft-bench.ts [--duration-s 8] [--warmup-s 1] [--quick] [--only flotilla|etcd]
 *                            [--failover-rounds 3] [--heartbeat-ms H] [--election-ms E]
 *
 * For each system in turn (a fresh cluster each, stopped afterwards) it runs the workloads of
 * workloads.ts and the failover rounds of failover.ts, prints one table per workload and writes
 * everything to bench/results/raft-<timestamp>.json. Exit code 1 when a system could not be
 * measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { COMMON_BENCH_OPTIONS, commonBenchOptions, numberOption, optionalNumberOption, type SystemName } from './bench-options.ts'
import type { BenchCluster } from './cluster.ts'
import { EtcdCluster } from './etcd-cluster.ts'
import { DEFAULT_FAILOVER_OPTIONS, runFailover } from './failover.ts'
import { FlotillaCluster, REPO_ROOT } from './flotilla-cluster.ts'
import { describeError } from './load.ts'
import { installCleanupHandlers } from './processes.ts'
import { compare, formatTables, type SystemResults } from './report.ts'
import { runWorkloads, VALUE_BYTES } from './workloads.ts'


interface BenchOptions {
  readonly systems: readonly SystemName[]
  readonly warmupMs: number
  readonly measureMs: number
  readonly failoverRounds: number
  readonly quick: boolean
  readonly heartbeatMs: number | undefined
  readonly electionMs: number | undefined
}

const USAGE = `usage: node bench/raft-bench.ts [options]
  --duration-s N       measured seconds per workload (default 8; 3 with --quick)
  --warmup-s N         warm-up seconds per workload (default 1; 0.5 with --quick)
  --quick              short runs and 1 failover round (smoke run)
  --only SYSTEM        flotilla or etcd (default: both, Flotilla first)
  --failover-rounds N  leader kills per system (default 3; 1 with --quick)
  --heartbeat-ms H     passed to the Flotilla replicas (default: theirs)
  --election-ms E      passed to the Flotilla replicas (default: theirs)`

function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...COMMON_BENCH_OPTIONS,
      'failover-rounds': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'election-ms': { type: 'string' },
    },
    strict: true,
  })
  const common = commonBenchOptions(values, USAGE, 3)
  return {
    systems: common.systems,
    warmupMs: common.warmupMs,
    measureMs: common.measureMs,
    failoverRounds: numberOption(values['failover-rounds'], common.quick ? 1 : 3, 0, 20, '--failover-rounds'),
    quick: common.quick,
    heartbeatMs: optionalNumberOption(values['heartbeat-ms'], 1, 10_000, '--heartbeat-ms'),
    electionMs: optionalNumberOption(values['election-ms'], 1, 60_000, '--election-ms'),
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

async function startCluster(system: SystemName, options: BenchOptions): Promise<BenchCluster> {
  if (system === 'etcd') return EtcdCluster.start()
  return FlotillaCluster.start({
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    ...(options.electionMs === undefined ? {} : { electionMs: options.electionMs }),
  })
}

/** Starts a fresh cluster, runs everything against it, stops it. Failures become `error`. */
async function benchSystem(system: SystemName, options: BenchOptions): Promise<SystemResults> {
  const display = system === 'etcd' ? 'etcd' : 'Flotilla'
  let cluster: BenchCluster | undefined
  try {
    log(`[${display}] starting 3 members on 127.0.0.1`)
    cluster = await startCluster(system, options)
    log(`[${display}] ${cluster.version}; ${cluster.notes.join('; ')}`)
    const workloads = await runWorkloads(cluster, { warmupMs: options.warmupMs, measureMs: options.measureMs }, log)
    const failover = await runFailover(cluster, { ...DEFAULT_FAILOVER_OPTIONS, rounds: options.failoverRounds }, log)
    return { system: display, version: cluster.version, notes: cluster.notes, workloads, failover }
  } catch (error) {
    log(`[${display}] NOT MEASURED: ${describeError(error)}`)
    return {
      system: display,
      ...(cluster === undefined ? {} : { version: cluster.version, notes: cluster.notes }),
      error: describeError(error),
    }
  } finally {
    await cluster?.stop()
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  installCleanupHandlers()
  const startedAt = new Date()
  const loadAverageStart = os.loadavg()
  log(
    `raft-bench: ${options.systems.join(', ')}; ${VALUE_BYTES} B values; warm-up ${options.warmupMs} ms + ` +
      `${options.measureMs} ms per workload; ${options.failoverRounds} failover round(s); ` +
      `${os.cpus().length} CPUs, load average ${loadAverageStart.map((l) => l.toFixed(2)).join(' ')}`,
  )

  const results: Partial<Record<SystemName, SystemResults>> = {}
  for (const system of options.systems) results[system] = await benchSystem(system, options)

  const rows = compare(results.flotilla, results.etcd)
  process.stdout.write(`\n${formatTables(rows)}\n`)
  for (const r of Object.values(results)) {
    if (r.error !== undefined) process.stdout.write(`\n${r.system} was not measured: ${r.error}\n`)
  }

  const finishedAt = new Date()
  const resultsDir = path.join(REPO_ROOT, 'bench', 'results')
  mkdirSync(resultsDir, { recursive: true })
  const file = path.join(resultsDir, `raft-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  const record = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    options,
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
  process.stdout.write(`\nresults: ${path.relative(process.cwd(), file)} (${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s)\n`)
  if (Object.values(results).some((r) => r.error !== undefined)) process.exitCode = 1
}

try {
  await main()
} catch (error) {
  log(`raft-bench: ${describeError(error)}`)
  process.exitCode = 2
}
