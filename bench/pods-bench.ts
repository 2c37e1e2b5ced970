/**
 * Pod startup benchmark (issue 6): how fast a Deployment's pods become Running on one Flotilla
 * node with the Docker runtime, against `docker service create --replicas N` on a one-node Docker
 * Swarm on the same engine, in the same run.
 *
 *   ./run bench pods [--sizes 1,50,100] [--runs 1] [--only flotilla|swarm]
 *
 * For each run and each size N, Flotilla first and then Swarm (interleaved, so that both see
 * about the same load on this shared machine): create N replicas of a busybox `sleep 3600`, take
 * every replica's time from the create request to Running (pods-flotilla.ts, pods-swarm.ts), tear
 * everything down and wait until no container is left. Prints per size p50/p99/max startup, the
 * time to all Running and the rate (replicas / that time) for both, with the ratio of the rates
 * (above 1 = Flotilla faster); with --runs K each figure is the median over the K runs. Writes
 * bench/results/pods-<timestamp>.json. Judges nothing; exit 1 only when something could not be
 * measured (the other figures are still printed and written), 2 for a bad command line.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../lib/errors.ts'
import { integerOption } from './bench-options.ts'
import { REPO_ROOT } from './flotilla-cluster.ts'
import { describeError } from './load.ts'
import { FlotillaPodsPath } from './pods-flotilla.ts'
import { compareSizes, formatPodsTable, formatRunDetails } from './pods-report.ts'
import { summarize, SYSTEMS, type PodsSystem, type StartupSample } from './pods-shape.ts'
import { SwarmPodsPath } from './pods-swarm.ts'
import { installCleanupHandlers } from './processes.ts'

const USAGE = `usage: ./run bench pods [--sizes 1,50,100] [--runs 1] [--only flotilla|swarm]
  --sizes   replica counts, comma-separated (each 1..110: one node takes 110 pods)
  --runs    runs per size; the table shows the median of each figure over the runs
  --only    measure one system`

/** A node's pod capacity (node-registration.ts): a larger size could never be all Running. */
const MAX_REPLICAS = 110
const MAX_RUNS = 50

interface Options {
  readonly sizes: readonly number[]
  readonly runs: number
  readonly systems: readonly PodsSystem[]
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sizes: { type: 'string', default: '1,50,100' },
      runs: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const sizes = (values.sizes ?? '').split(',').map((text) => integerOption(text.trim(), 0, 1, MAX_REPLICAS, '--sizes'))
  if (sizes.length === 0) throw new InvalidConfigError('--sizes needs at least one size')
  const only = values.only
  if (only !== undefined && !(SYSTEMS as readonly string[]).includes(only)) throw new InvalidConfigError(`--only must be one of ${SYSTEMS.join(', ')}, got "${only}"`)
  return {
    sizes,
    runs: integerOption(values.runs, 1, 1, MAX_RUNS, '--runs'),
    systems: only === undefined ? SYSTEMS : [only as PodsSystem],
  }
}

/** What each system's side is: its description once started, or why it could not start. */
interface SideOutcome {
  info?: object
  error?: string
}

async function main(): Promise<number> {
  installCleanupHandlers()
  const options = parseOptions(process.argv.slice(2))
  const loadAverageStart = os.loadavg()
  const startedAt = new Date()
  console.log(
    `pod startup benchmark: sizes ${options.sizes.join(', ')}, ${options.runs} run${options.runs === 1 ? '' : 's'}, systems ${options.systems.join(', ')}; ` +
      `Node ${process.version}; ${os.cpus().length} cores; load average ${formatLoad(loadAverageStart)}`,
  )

  const sides: Record<PodsSystem, SideOutcome> = { flotilla: {}, swarm: {} }
  let flotilla: FlotillaPodsPath | undefined
  let swarm: SwarmPodsPath | undefined
  const samples: StartupSample[] = []
  try {
    if (options.systems.includes('flotilla')) {
      console.log('== starting one Flotilla daemon with the Docker runtime ...')
      try {
        flotilla = await FlotillaPodsPath.start()
        sides.flotilla.info = flotilla.info
        console.log(`   node ${flotilla.info.nodeName} Ready after ${(flotilla.info.readyAfterMs / 1000).toFixed(1)} s`)
      } catch (error) {
        sides.flotilla.error = describeError(error)
        console.log(`   FAILED: ${sides.flotilla.error}`)
      }
    }
    if (options.systems.includes('swarm')) {
      console.log('== preparing Docker Swarm ...')
      try {
        swarm = await SwarmPodsPath.open()
        sides.swarm.info = swarm.info
      } catch (error) {
        sides.swarm.error = describeError(error)
        console.log(`   FAILED: ${sides.swarm.error}`)
      }
    }
    // A side whose teardown failed leaves pods or containers behind that would distort every later
    // size, so it measures nothing more.
    const broken = new Set<PodsSystem>()
    for (let run = 1; run <= options.runs; run++) {
      for (const replicas of options.sizes) {
        const paths: [PodsSystem, FlotillaPodsPath | SwarmPodsPath | undefined][] = [
          ['flotilla', flotilla],
          ['swarm', swarm],
        ]
        for (const [system, side] of paths) {
          if (side === undefined || broken.has(system)) continue
          process.stdout.write(`== run ${run}, ${replicas} replicas, ${system} (load ${formatLoad(os.loadavg().slice(0, 1))}) ... `)
          const sample = await side.measure(replicas, run)
          samples.push(sample)
          console.log(sample.allRunningMs === undefined ? `FAILED: ${sample.error}` : `all running in ${(sample.allRunningMs / 1000).toFixed(2)} s${sample.error === undefined ? '' : `; ${sample.error}`}`)
          if (sample.error?.includes('teardown:') === true) broken.add(system)
        }
      }
    }
  } finally {
    await flotilla?.stop().catch((error: unknown) => console.log(`Flotilla cleanup: ${describeError(error)}`))
    await swarm?.close().catch((error: unknown) => console.log(`Swarm cleanup: ${describeError(error)}`))
  }
  const loadAverageEnd = os.loadavg()

  const summaries = options.systems.flatMap((system) =>
    options.sizes.map((replicas) => summarize(system, replicas, samples.filter((s) => s.system === system && s.replicas === replicas))),
  )
  const comparison = compareSizes(options.sizes, summaries)
  console.log('')
  console.log(formatPodsTable(comparison, options.runs))
  console.log('')
  for (const system of options.systems) {
    const side = sides[system]
    const notes = (side.info as { notes?: readonly string[] } | undefined)?.notes ?? []
    for (const note of notes) console.log(`  [${system}] ${note}`)
    if (side.error !== undefined) console.log(`  [${system}] NOT MEASURED: ${side.error}`)
  }
  const swarmVersion = (sides.swarm.info as { version?: string } | undefined)?.version
  if (swarmVersion !== undefined) console.log(`  [swarm] Docker ${swarmVersion}, 1-node swarm on the same engine as Flotilla's node`)
  console.log('  goal of issue 6 (for reference, not judged here): rate >= 10x Swarm; p99 single-pod startup < 1 s')
  console.log('')
  console.log(formatRunDetails(samples))
  console.log(`\nload average at the start ${formatLoad(loadAverageStart)}, at the end ${formatLoad(loadAverageEnd)} (2 cores shared with other jobs: wall-clock figures include the neighbours)`)

  const file = path.join(REPO_ROOT, 'bench', 'results', `pods-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  mkdirSync(path.dirname(file), { recursive: true })
  const results = {
    benchmark: 'pods',
    startedAt: startedAt.toISOString(),
    options,
    node: process.version,
    cores: os.cpus().length,
    loadAverageStart,
    loadAverageEnd,
    flotilla: sides.flotilla,
    swarm: sides.swarm,
    comparison,
    samples,
  }
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`results: ${path.relative(REPO_ROOT, file)}`)

  const failed = Object.values(sides).some((side) => side.error !== undefined) || samples.some((s) => s.error !== undefined) || summaries.some((s) => s.measuredRuns < options.runs)
  if (failed) console.log('exit 1: something could not be measured (see NOT MEASURED / ERROR above)')
  return failed ? 1 : 0
}

function formatLoad(values: readonly number[]): string {
  return values.map((v) => v.toFixed(2)).join(' ')
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof InvalidConfigError ? `${error.message}\n${USAGE}` : error)
    process.exit(2)
  },
)
