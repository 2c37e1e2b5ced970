/**
 * A byte-rate limiter that lets one item through whenever the bucket is not in debt, then charges
 * its full size, possibly into debt. Charging after the fact lets items larger than the burst
 * (a 4 MiB snapshot chunk with a 1 MiB burst) pass at all, while the long-run rate stays exact:
 * the debt must be repaid before the next item goes.
 */
import { assert } from '../../../lib/assert.ts'
import type { Clock } from '../../../lib/clock.ts'

export class TokenBucket {
  private readonly bytesPerSecond: number
  private readonly burstBytes: number
  private readonly clock: Clock
  /** Bytes that may go now; negative while in debt. */
  private tokens: number
  private refilledAtMs: number

  /** Starts full. */
  constructor(bytesPerSecond: number, burstBytes: number, clock: Clock) {
    assert(bytesPerSecond > 0 && burstBytes > 0, 'a token bucket needs a positive rate and burst')
    this.bytesPerSecond = bytesPerSecond
    this.burstBytes = burstBytes
    this.clock = clock
    this.tokens = burstBytes
    this.refilledAtMs = clock.monotonicMs()
  }

  /** Charges `bytes` and returns true when the bucket is not in debt; otherwise returns false. */
  tryTake(bytes: number): boolean {
    this.refill()
    if (this.tokens < 0) return false
    this.tokens -= bytes
    return true
  }

  /** Milliseconds until `tryTake` can succeed; 0 when it can now. */
  waitMs(): number {
    this.refill()
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond)
  }

  private refill(): void {
    const nowMs = this.clock.monotonicMs()
    const elapsedMs = nowMs - this.refilledAtMs
    this.refilledAtMs = nowMs
    this.tokens = Math.min(this.burstBytes, this.tokens + (elapsedMs * this.bytesPerSecond) / 1000)
  }
}
