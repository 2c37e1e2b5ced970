/**
 * The command-line options the etcd-compared benchmarks share (raft, store, api): measured and
 * warm-up windows, --quick, --only flotilla|etcd and --help, plus the bounded number parsers
 * their own options use.
 */
import { InvalidConfigError } from '../lib/errors.ts'

export type SystemName = 'flotilla' | 'etcd'

/** The shared option declarations; spread them into parseArgs next to a benchmark's own. */
export const COMMON_BENCH_OPTIONS = {
  'duration-s': { type: 'string' },
  'warmup-s': { type: 'string' },
  quick: { type: 'boolean', default: false },
  only: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const

export interface CommonBenchOptions {
  readonly quick: boolean
  readonly systems: readonly SystemName[]
  readonly warmupMs: number
  readonly measureMs: number
}

/**
 * Reads the shared options from parsed `values`; prints `usage` and exits on --help. The measured
 * window defaults to 8 s, or `quickMeasureS` with --quick.
 */
export function commonBenchOptions(
  values: { readonly 'duration-s'?: string | undefined; readonly 'warmup-s'?: string | undefined; readonly quick?: boolean | undefined; readonly only?: string | undefined; readonly help?: boolean | undefined },
  usage: string,
  quickMeasureS: number,
): CommonBenchOptions {
  if (values.help === true) {
    process.stdout.write(`${usage}\n`)
    process.exit(0)
  }
  const quick = values.quick === true
  const only = values.only
  if (only !== undefined && only !== 'flotilla' && only !== 'etcd') {
    throw new InvalidConfigError(`--only must be flotilla or etcd, got ${only}`)
  }
  return {
    quick,
    systems: only === undefined ? ['flotilla', 'etcd'] : [only],
    warmupMs: 1000 * numberOption(values['warmup-s'], quick ? 0.5 : 1, 0, 60, '--warmup-s'),
    measureMs: 1000 * numberOption(values['duration-s'], quick ? quickMeasureS : 8, 0.1, 600, '--duration-s'),
  }
}

/** `text` as a number in [min, max], or undefined when the option was not given. */
export function optionalNumberOption(text: string | undefined, min: number, max: number, flag: string): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InvalidConfigError(`${flag} must be a number in [${min}, ${max}], got ${text}`)
  }
  return value
}

/** `text` as a number in [min, max], or `fallback` when the option was not given. */
export function numberOption(text: string | undefined, fallback: number, min: number, max: number, flag: string): number {
  return optionalNumberOption(text, min, max, flag) ?? fallback
}

/** As numberOption, and the value must be an integer. */
export function integerOption(text: string | undefined, fallback: number, min: number, max: number, flag: string): number {
  const value = numberOption(text, fallback, min, max, flag)
  if (!Number.isInteger(value)) throw new InvalidConfigError(`${flag} must be an integer, got ${text}`)
  return value
}
