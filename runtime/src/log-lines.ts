/**
 * Pieces of `kubectl logs` semantics that both runtimes share: Docker's fixed-width RFC 3339
 * timestamps and the byte limit that ends a log stream early.
 */
import { Transform, type TransformCallback } from 'node:stream'

/** Docker's zero time, which it reports for a container that never started or never finished. */
export const DOCKER_ZERO_TIME = '0001-01-01T00:00:00Z'

/**
 * A wall-clock time as Docker prints log timestamps (`RFC3339NanoFixed`): always nine fractional
 * digits, UTC, e.g. `2026-11-23T10:00:00.123000000Z`. Milliseconds are all we have, so the last six
 * digits are zeros.
 */
export function rfc3339NanoFromMs(timeMs: number): string {
  const iso = new Date(timeMs).toISOString() // 2026-11-23T10:00:00.123Z
  return `${iso.slice(0, 23)}000000Z`
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/

/**
 * Milliseconds since the epoch for an RFC 3339 time with any number of fractional digits (Docker
 * prints up to nine, which `Date.parse` does not promise to accept). Docker's zero time and text
 * that is not a time give undefined.
 */
export function msFromRfc3339(text: string | undefined): number | undefined {
  if (text === undefined || text === '' || text === DOCKER_ZERO_TIME) return undefined
  const match = RFC3339.exec(text)
  if (match === null) return undefined
  const fraction = (match[2] ?? '').padEnd(3, '0').slice(0, 3)
  const ms = Date.parse(`${match[1]}.${fraction}${match[3]}`)
  // Years before 1970 only appear as Docker's "never" (zero time with a zone suffix).
  return Number.isNaN(ms) || ms < 0 ? undefined : ms
}

/**
 * Passes at most `limitBytes` bytes through, then ends the output and calls `onLimit` (to stop the
 * source, which would otherwise keep a followed log open).
 */
export class ByteLimiter extends Transform {
  private remainingBytes: number
  private readonly onLimit: () => void

  constructor(limitBytes: number, onLimit: () => void) {
    super()
    this.remainingBytes = Math.max(0, Math.floor(limitBytes))
    this.onLimit = onLimit
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.remainingBytes <= 0) return callback()
    const piece = chunk.length <= this.remainingBytes ? chunk : chunk.subarray(0, this.remainingBytes)
    this.remainingBytes -= piece.length
    this.push(piece)
    if (this.remainingBytes <= 0) {
      this.push(null)
      this.onLimit()
    }
    callback()
  }
}
