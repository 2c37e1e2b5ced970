/**
 * The pod startup benchmark's shared shapes (issue 6): what one measurement of one size produces
 * on either system, how its figures are computed from the per-pod startup times, the median over
 * runs, and the deadline a size gets.
 *
 * "Startup" of a pod (Flotilla) or a task (Swarm) is the time from the create request (the
 * Deployment's POST; `docker service create` being started) to the moment it is Running with its
 * container running. "All running" is the largest of those; the rate is replicas / all running.
 */
import { TimeoutError } from '../lib/errors.ts'
import { assert } from '../lib/assert.ts'
import { summarizeLatencies } from './load.ts'

export const SYSTEMS = ['flotilla', 'swarm'] as const
export type PodsSystem = (typeof SYSTEMS)[number]

/** A size did not finish (start or tear down) before its deadline. */
export class PodsDeadlineError extends TimeoutError {
  override name = 'PodsDeadlineError'
}

/** The figures of one size, from its per-pod startup times. */
export interface StartupFigures {
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** From the create request to the last of the replicas Running (= maxMs). */
  readonly allRunningMs: number
  /** replicas / allRunningMs, per second. */
  readonly perSecond: number
}

/** One measurement: one size, one run, one system. */
export interface StartupSample extends Partial<StartupFigures> {
  readonly system: PodsSystem
  readonly replicas: number
  /** 1-based run number. */
  readonly run: number
  /** Every replica's startup, ms from the create request, ascending. */
  readonly startupMs: readonly number[]
  /** How long the create request itself took (Flotilla: the POST; Swarm: the CLI), ms. */
  readonly createRequestMs?: number
  /** From the delete request until every container of the size was gone, ms. */
  readonly teardownMs?: number
  /** The machine's 1-minute load average when the size started. */
  readonly loadAverage1m: number
  /** Set when the size could not be measured; figures may then be missing or partial. */
  readonly error?: string
}

/** The median over the runs of one size and system: each figure is its own median. */
export interface StartupSummary extends Partial<StartupFigures> {
  readonly system: PodsSystem
  readonly replicas: number
  /** Runs that saw every replica start (the medians are over these; a failed teardown after that still counts). */
  readonly measuredRuns: number
  readonly runs: number
  /** The first error among the runs. */
  readonly error?: string
}

/**
 * The deadline for one size's startup, and separately for its teardown: 120 s and 2 s per
 * replica. Swarm here starts about 3 tasks/s, so 100 replicas need about 35 s of it.
 */
export function sizeDeadlineMs(replicas: number): number {
  return 120_000 + 2_000 * replicas
}

/** The figures of a size whose every replica started; `startupMs` need not be sorted. */
export function startupFigures(startupMs: readonly number[]): StartupFigures {
  assert(startupMs.length > 0, 'startupFigures needs at least one startup time')
  const summary = summarizeLatencies(Float64Array.from(startupMs))
  return { p50Ms: summary.p50, p99Ms: summary.p99, maxMs: summary.max, allRunningMs: summary.max, perSecond: startupMs.length / (summary.max / 1000) }
}

/** A sample: figures when all `replicas` started, else the error (and what did start). */
export function sampleOf<Base extends Omit<StartupSample, 'startupMs' | keyof StartupFigures>>(base: Base, startupMs: readonly number[]): Base & StartupSample {
  const sorted = [...startupMs].sort((a, b) => a - b)
  const complete = base.error === undefined && sorted.length >= base.replicas
  return { ...base, startupMs: sorted, ...(complete ? startupFigures(sorted.slice(0, base.replicas)) : {}) }
}

/** The median of each figure over the runs that saw every replica start. */
export function summarize(system: PodsSystem, replicas: number, samples: readonly StartupSample[]): StartupSummary {
  const measured = samples.filter((s) => s.allRunningMs !== undefined)
  const firstError = samples.find((s) => s.error !== undefined)?.error
  const base = { system, replicas, measuredRuns: measured.length, runs: samples.length, ...(firstError === undefined ? {} : { error: firstError }) }
  if (measured.length === 0) return base
  const pick = (figure: keyof StartupFigures): number => median(measured.map((s) => s[figure] ?? Number.NaN))
  return { ...base, p50Ms: pick('p50Ms'), p99Ms: pick('p99Ms'), maxMs: pick('maxMs'), allRunningMs: pick('allRunningMs'), perSecond: pick('perSecond') }
}

/** The median (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  assert(values.length > 0, 'median of nothing')
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2
}
