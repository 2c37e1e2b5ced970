/**
 * Time as an injected dependency. The Raft core never reads a clock (it counts ticks); the shells
 * around it read time through a Clock so that tests can drive it.
 */

/** A source of time. */
export interface Clock {
  /** Milliseconds on a monotonic clock; never goes backwards. */
  monotonicMs(): number
  /** Milliseconds since the Unix epoch (wall clock; may jump). */
  realtimeMs(): number
}

/** The operating system's clocks. */
export class ClockOs implements Clock {
  private lastMonotonicMs = 0

  monotonicMs(): number {
    // performance.now() is monotonic by specification; the guard documents and enforces it.
    const nowMs = performance.now()
    this.lastMonotonicMs = Math.max(this.lastMonotonicMs, nowMs)
    return this.lastMonotonicMs
  }

  realtimeMs(): number {
    return Date.now()
  }
}

/** A clock that only moves when told to; for tests and the simulator. */
export class ClockSim implements Clock {
  private nowMs: number

  constructor(startMs = 0) {
    this.nowMs = startMs
  }

  monotonicMs(): number {
    return this.nowMs
  }

  realtimeMs(): number {
    return 1_700_000_000_000 + this.nowMs
  }

  advance(ms: number): void {
    this.nowMs += ms
  }
}
