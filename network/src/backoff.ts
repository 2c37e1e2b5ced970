/** Reconnect delays shared by the transports. */
import type { Random } from '../../lib/random.ts'

/**
 * Exponential back-off with jitter: the ceiling doubles from `minMs` with each failure up to
 * `maxMs`, and the delay is uniform in [ceiling/2, ceiling) so peers that failed together do not
 * redial in lockstep.
 */
export function jitteredBackoffMs(failures: number, minMs: number, maxMs: number, random: Random): number {
  const ceilingMs = Math.min(maxMs, minMs * 2 ** Math.min(failures, 30))
  return ceilingMs / 2 + (random.float() * ceilingMs) / 2
}
