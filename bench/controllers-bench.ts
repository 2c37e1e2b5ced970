/**
 * Controllers benchmark (issue 5): scheduling throughput with hollow nodes, and the time from a
 * large Deployment's apply to all its pods bound, with Docker Swarm measured in the same run.
 *
 *   ./run bench controllers [--quick] [--full] [--nodes 1000] [--replicas 10000] [--daemons 1|3]
 *       [--only inprocess|raft|swarm] [--seed 1]
 *
 * Defaults: 1,000 hollow nodes (8 cpu, 32Gi, 110 pods, 3 zones) and one Deployment of 10,000
 * replicas (100m cpu, 128Mi). `--quick`: 100 nodes and 1,000 replicas. Swarm gets 100 tasks, and
 * also 1,000 with `--full`.
 *
 * Paths (controllers-inprocess.ts, controllers-daemon.ts, controllers-swarm.ts):
 *   1. in process: ObjectStore over MemoryObjectBackend + ControllerManager, real timers, each run
 *      in its own child process; once from the Deployment, once "scheduler only" (the pods
 *      pre-created as pending Pod objects, the clock starting with the manager);
 *   2. through Raft: real daemon(s) with --runtime none, everything through the Kubernetes API;
 *   3. peer: Docker Swarm on the local engine.
 * Prints tables and writes bench/results/controllers-<timestamp>.json. Judges nothing. Exit code
 * 1 when a Flotilla path failed or the peer could not be measured (the other figures are still
 * printed and written).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { benchThroughDaemons } from './controllers-daemon.ts'
import { benchInProcessIsolated } from './controllers-inprocess.ts'
import { comparePeer, formatPathsTable, formatPeerTable } from './controllers-report.ts'
import type { ControllersPathResult } from './controllers-shape.ts'
import { benchSwarm, type SwarmResult } from './controllers-swarm.ts'
import { REPO_ROOT } from './flotilla-cluster.ts'
import { installCleanupHandlers } from './processes.ts'

const PATHS = ['inprocess', 'raft', 'swarm'] as const
type PathName = (typeof PATHS)[number]

/** How long Swarm may take to run one service's tasks. */
const SWARM_DEADLINE_MS = 600_000

interface Options {
  readonly nodes: number
  readonly replicas: number
  readonly daemons: number
  readonly seed: number
  readonly swarmSizes: readonly number[]
  readonly paths: readonly PathName[]
  readonly quick: boolean
}

/** Thrown for a bad command line. */
export class UsageError extends Error {
  override name = 'UsageError'
}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value <= 0) throw new UsageError(`--${flag} must be a positive whole number, got "${text}"`)
  return value
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      nodes: { type: 'string' },
      replicas: { type: 'string' },
      daemons: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      only: { type: 'string' },
    },
  })
  const quick = values.quick === true
  const daemons = positiveInteger('daemons', values.daemons ?? '1')
  if (daemons !== 1 && daemons !== 3) throw new UsageError(`--daemons must be 1 or 3, got ${daemons}`)
  const only = values.only
  if (only !== undefined && !(PATHS as readonly string[]).includes(only)) throw new UsageError(`--only must be one of ${PATHS.join(', ')}, got "${only}"`)
  return {
    nodes: positiveInteger('nodes', values.nodes ?? (quick ? '100' : '1000')),
    replicas: positiveInteger('replicas', values.replicas ?? (quick ? '1000' : '10000')),
    daemons,
    seed: positiveInteger('seed', values.seed ?? '1'),
    swarmSizes: values.full === true ? [100, 1000] : [100],
    paths: only === undefined ? PATHS : [only as PathName],
    quick,
  }
}

async function main(): Promise<number> {
  installCleanupHandlers()
  const options = parseOptions(process.argv.slice(2))
  const loadAverageStart = os.loadavg()
  const startedAt = new Date()
  console.log(
    `controllers benchmark: ${options.nodes} hollow nodes, a ${options.replicas}-replica Deployment; paths ${options.paths.join(', ')}; ` +
      `Node ${process.version}; ${os.cpus().length} cores; load average ${loadAverageStart.map((v) => v.toFixed(2)).join(' ')}`,
  )
  const results: ControllersPathResult[] = []
  if (options.paths.includes('inprocess')) {
    console.log('\n== in process ...')
    results.push(await benchInProcessIsolated({ nodes: options.nodes, replicas: options.replicas, seed: options.seed }))
    console.log('== in process, scheduler only ...')
    results.push(await benchInProcessIsolated({ nodes: options.nodes, replicas: options.replicas, seed: options.seed, schedulerOnly: true }))
  }
  if (options.paths.includes('raft')) {
    console.log(`== through Raft (${options.daemons} daemon${options.daemons === 1 ? '' : 's'}) ...`)
    results.push(await benchThroughDaemons({ nodes: options.nodes, replicas: options.replicas, daemons: options.daemons }))
  }
  let swarm: SwarmResult | undefined
  if (options.paths.includes('swarm')) {
    console.log(`== Docker Swarm (${options.swarmSizes.join(', ')} tasks) ...`)
    swarm = await benchSwarm(options.swarmSizes, SWARM_DEADLINE_MS)
  }
  const loadAverageEnd = os.loadavg()

  console.log('')
  if (results.length > 0) console.log(formatPathsTable(results))
  if (swarm !== undefined) console.log(`\n${formatPeerTable(results, swarm)}`)
  console.log(`\nload average at the end: ${loadAverageEnd.map((v) => v.toFixed(2)).join(' ')} (2 cores shared with other jobs: wall-clock rates include the neighbours)`)

  const file = path.join(REPO_ROOT, 'bench', 'results', `controllers-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        benchmark: 'controllers',
        startedAt: startedAt.toISOString(),
        options,
        node: process.version,
        cores: os.cpus().length,
        loadAverageStart,
        loadAverageEnd,
        flotilla: results,
        swarm,
        peerComparison: swarm === undefined ? [] : comparePeer(results, swarm),
      },
      null,
      2,
    )}\n`,
  )
  console.log(`results: ${path.relative(REPO_ROOT, file)}`)
  const flotillaFailed = results.some((r) => r.error !== undefined)
  const peerFailed = swarm !== undefined && (swarm.error !== undefined || swarm.services.some((s) => s.error !== undefined))
  if (peerFailed) console.log('exit 1: the peer (Docker Swarm) could not be measured')
  if (flotillaFailed) console.log('exit 1: a Flotilla path failed (see NOT MEASURED above)')
  return flotillaFailed || peerFailed ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error instanceof UsageError ? error.message : error)
    process.exit(2)
  },
)
