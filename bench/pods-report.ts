/**
 * The pod startup benchmark's table: per size, Flotilla's and Swarm's startup percentiles, time to
 * all running and rate, side by side, and the ratio of the rates (bench/report.ts `ratio`: above 1
 * means Flotilla starts pods faster). The figures are the medians over the runs (pods-shape.ts).
 */
import { ratio } from './report.ts'
import type { PodsSystem, StartupSample, StartupSummary } from './pods-shape.ts'

/** One size's comparison, as printed and written to the results file. */
export interface PodsComparisonRow {
  readonly replicas: number
  readonly flotilla: StartupSummary | undefined
  readonly swarm: StartupSummary | undefined
  /** Flotilla pods/s over Swarm tasks/s; above 1 = Flotilla faster. */
  readonly rateRatio: number | undefined
}

export function compareSizes(sizes: readonly number[], summaries: readonly StartupSummary[]): PodsComparisonRow[] {
  return sizes.map((replicas) => {
    const find = (system: PodsSystem): StartupSummary | undefined => summaries.find((s) => s.system === system && s.replicas === replicas)
    const flotilla = find('flotilla')
    const swarm = find('swarm')
    return { replicas, flotilla, swarm, rateRatio: ratio('higher', flotilla?.perSecond, swarm?.perSecond) }
  })
}

const FIGURE_WIDTH = 8
const GAP = '   '

/** The side-by-side table; `runs` is the number of runs the medians are over. */
export function formatPodsTable(rows: readonly PodsComparisonRow[], runs: number): string {
  const side = ['p50 s', 'p99 s', 'max s', 'all s', '/s'].map((h) => h.padStart(FIGURE_WIDTH)).join('')
  const sideWidth = 5 * FIGURE_WIDTH
  const lines = [
    `Pod startup: create request -> Running${runs > 1 ? `, median of ${runs} runs` : ''} (all s = to every replica Running; /s = replicas / all s)`,
    `  ${''.padStart(8)}${GAP}${center('Flotilla (pods)', sideWidth)}${GAP}${center('Docker Swarm (tasks)', sideWidth)}${GAP}${'rate ratio'.padStart(10)}`,
    `  ${'replicas'.padStart(8)}${GAP}${side}${GAP}${side}${GAP}${'F/S'.padStart(10)}`,
  ]
  for (const row of rows) {
    lines.push(
      `  ${String(row.replicas).padStart(8)}${GAP}${figures(row.flotilla)}${GAP}${figures(row.swarm)}${GAP}` +
        `${(row.rateRatio === undefined ? '-' : `${row.rateRatio.toFixed(2)}x`).padStart(10)}`,
    )
  }
  lines.push('  rate ratio = Flotilla pods/s / Swarm tasks/s: above 1 = Flotilla starts them faster')
  for (const row of rows) {
    for (const summary of [row.flotilla, row.swarm]) {
      if (summary === undefined) continue
      const where = `  [${summary.system} ${summary.replicas}]`
      if (summary.runs === 0) lines.push(`${where} NOT MEASURED: the side did not start, or stopped after a failed teardown`)
      else if (summary.error === undefined) continue
      else if (summary.measuredRuns === 0) lines.push(`${where} NOT MEASURED: ${summary.error}`)
      else if (summary.measuredRuns < summary.runs) lines.push(`${where} ${summary.runs - summary.measuredRuns} of ${summary.runs} runs not measured: ${summary.error}`)
      else lines.push(`${where} ERROR after the measurement: ${summary.error}`)
    }
  }
  return lines.join('\n')
}

/** A sample with the extra figures either side may carry (pods-flotilla.ts, pods-swarm.ts). */
type RunDetails = StartupSample & {
  readonly daemonCpuMs?: number
  readonly createdMs?: readonly number[]
  readonly boundMs?: readonly number[]
  readonly detectedAllRunningMs?: number
}

/** Per-run details: load average, create request, teardown, daemon CPU, Swarm's poll detection. */
export function formatRunDetails(samples: readonly RunDetails[]): string {
  const lines = [
    'Runs (load = 1-min load average at the start of the size; create = the create request; teardown = delete -> no container left;',
    '      Flotilla: when the watch first showed the pods, and bound, first..last, from the POST)',
  ]
  for (const s of samples) {
    const parts = [
      `load ${s.loadAverage1m.toFixed(2)}`,
      `started ${s.startupMs.length}/${s.replicas}`,
      `all ${seconds(s.allRunningMs)} s`,
      `create ${seconds(s.createRequestMs)} s`,
      `teardown ${seconds(s.teardownMs)} s`,
    ]
    if (s.createdMs !== undefined && s.createdMs.length > 0) parts.push(`pods created ${seconds(s.createdMs[0])}..${seconds(s.createdMs.at(-1))} s`)
    if (s.boundMs !== undefined && s.boundMs.length > 0) parts.push(`bound ${seconds(s.boundMs[0])}..${seconds(s.boundMs.at(-1))} s`)
    if (s.startupMs.length > 0) parts.push(`first running ${seconds(s.startupMs[0])} s`)
    if (s.daemonCpuMs !== undefined) parts.push(`daemon CPU ${seconds(s.daemonCpuMs)} s`)
    if (s.detectedAllRunningMs !== undefined) parts.push(`poll saw all running at ${seconds(s.detectedAllRunningMs)} s`)
    if (s.error !== undefined) parts.push(`ERROR ${s.error}`)
    lines.push(`  ${s.system.padEnd(8)} ${String(s.replicas).padStart(4)} replicas, run ${s.run}: ${parts.join(', ')}`)
  }
  return lines.join('\n')
}

function figures(summary: StartupSummary | undefined): string {
  const cells = [summary?.p50Ms, summary?.p99Ms, summary?.maxMs, summary?.allRunningMs].map((ms) => seconds(ms))
  cells.push(summary?.perSecond === undefined ? '-' : formatRate(summary.perSecond))
  return cells.map((cell) => cell.padStart(FIGURE_WIDTH)).join('')
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '-' : (ms / 1000).toFixed(ms < 10_000 ? 3 : 2)
}

function formatRate(perSecond: number): string {
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2)
}

function center(text: string, width: number): string {
  const left = Math.max(0, Math.floor((width - text.length) / 2))
  return `${' '.repeat(left)}${text}`.padEnd(width)
}
