/**
 * Durations in Go's notation, as kubectl's `--timeout` and `--request-timeout` take them: `30s`,
 * `5m`, `1h30m`, `250ms`, `1.5h`. A bare number means seconds (kubectl accepts `--request-timeout
 * 30`), and `0` means "no limit" to the callers that say so.
 */
import { KubectlUsageError } from './errors.ts'

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Milliseconds in `text`.
 * @throws KubectlUsageError naming `flag` when the text is not a duration.
 */
export function parseDurationMs(flag: string, text: string): number {
  const trimmed = text.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  const pattern = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy
  let total = 0
  let consumed = 0
  for (const match of trimmed.matchAll(pattern)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!
    consumed += match[0].length
  }
  if (trimmed === '' || consumed !== trimmed.length) {
    throw new KubectlUsageError(`invalid argument "${text}" for "--${flag}" flag: expected a duration such as 30s, 5m or 1h`)
  }
  return total
}

/** A duration as kubectl prints one in messages: `5m0s`, `30s`, `1h0m0s`. */
export function formatDurationMs(ms: number): string {
  const totalSeconds = Math.round(ms / 1000)
  const hours = Math.floor(totalSeconds / 3600)
  const minutes = Math.floor((totalSeconds % 3600) / 60)
  const seconds = totalSeconds % 60
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`
  if (minutes > 0) return `${minutes}m${seconds}s`
  return `${seconds}s`
}

/**
 * An age as kubectl prints it (k8s.io/apimachinery/pkg/util/duration.HumanDuration): `45s`,
 * `5m2s`, `12m`, `3h20m`, `10h`, `2d3h`, `40d`, `2y10d`. Slightly negative ages (clock skew)
 * read `0s`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000)
  if (seconds < -1) return '<invalid>'
  if (seconds < 0) return '0s'
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.trunc(seconds / 60)
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.trunc(minutes / 60)
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`
  if (hours < 48) return `${hours}h`
  const days = Math.trunc(hours / 24)
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`
  if (hours < 24 * 365 * 2) return `${days}d`
  const years = Math.trunc(days / 365)
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`
  return `${years}y`
}
