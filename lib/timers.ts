/**
 * Time for the controller manager, the agents, the runtimes and everything they schedule: a Clock plus
 * one-shot timers, injected so that simulations drive time themselves. `TimersOs` is the
 * operating system's; `TimersSim` moves only when told to and runs due timers in order, which is
 * what lets a seeded simulation of a 100-node cluster replay exactly.
 */
import { assert } from './assert.ts'
import { ClockOs, type Clock } from './clock.ts'

/** A scheduled callback; cancelling a timer that already ran is a no-op. */
export interface Timer {
  cancel(): void
}

/** A clock that can also call back later. */
export interface Timers extends Clock {
  /** Calls `callback` once, `delayMs` from now (at the next turn for 0 or less). */
  after(delayMs: number, callback: () => void): Timer
}

/**
 * Shifts the wall clock of every TimersOs in the process, for the chaos lab's clock-skew fault
 * (a daemon restarted with it set). Only the wall clock moves: timeouts and timers run on the
 * monotonic clock, exactly as a host whose NTP is wrong still counts seconds correctly.
 */
export const CLOCK_SKEW_ENV = 'FLOTILLA_CLOCK_SKEW_MS'

function clockSkewFromEnvMs(): number {
  const text = typeof process === 'undefined' ? undefined : process.env[CLOCK_SKEW_ENV]
  if (text === undefined || text === '') return 0
  const skewMs = Number(text)
  assert(Number.isFinite(skewMs), `${CLOCK_SKEW_ENV} must be a number of milliseconds, got "${text}"`)
  return skewMs
}

/** The operating system's clocks and timers. Timers do not keep the process alive. */
export class TimersOs implements Timers {
  private readonly clock = new ClockOs()
  /** Added to the wall clock only (see CLOCK_SKEW_ENV); 0 unless the environment asks. */
  readonly realtimeSkewMs: number

  constructor(options: { readonly realtimeSkewMs?: number } = {}) {
    this.realtimeSkewMs = options.realtimeSkewMs ?? clockSkewFromEnvMs()
  }

  monotonicMs(): number {
    return this.clock.monotonicMs()
  }

  realtimeMs(): number {
    return this.clock.realtimeMs() + this.realtimeSkewMs
  }

  after(delayMs: number, callback: () => void): Timer {
    const handle = setTimeout(callback, Math.max(0, delayMs))
    handle.unref()
    return { cancel: () => clearTimeout(handle) }
  }
}

interface SimTimer {
  readonly dueMs: number
  /** Creation order: timers due at the same time run in the order they were set. */
  readonly sequence: number
  readonly callback: () => void
  cancelled: boolean
}

function runsBefore(a: SimTimer, b: SimTimer): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.sequence < b.sequence)
}

/**
 * Simulated time. `advance` moves the clock forward, running every timer that falls due on the
 * way at its own due time (the clock reads the due time while its callback runs); timers set by
 * a callback run in the same advance when they fall due within it.
 */
export class TimersSim implements Timers {
  private nowMs: number
  private readonly epochMs: number
  private sequence = 0
  /** Pending timers as a binary min-heap by (due time, sequence); cancelled ones are skipped. */
  private readonly heap: SimTimer[] = []

  /** `epochMs` is the wall-clock time at monotonic 0 (a fixed date keeps timestamps replayable). */
  constructor(options: { startMs?: number; epochMs?: number } = {}) {
    this.nowMs = options.startMs ?? 0
    this.epochMs = options.epochMs ?? 1_700_000_000_000
  }

  monotonicMs(): number {
    return this.nowMs
  }

  realtimeMs(): number {
    return this.epochMs + this.nowMs
  }

  after(delayMs: number, callback: () => void): Timer {
    const timer: SimTimer = { dueMs: this.nowMs + Math.max(0, delayMs), sequence: this.sequence++, callback, cancelled: false }
    this.push(timer)
    return { cancel: () => void (timer.cancelled = true) }
  }

  /** When the next timer falls due, or undefined when none is pending. */
  nextDueMs(): number | undefined {
    this.dropCancelled()
    return this.heap[0]?.dueMs
  }

  /** Moves the clock `ms` forward, running the timers that fall due, earliest first. */
  advance(ms: number): void {
    assert(ms >= 0, `time only moves forward, not by ${ms} ms`)
    const targetMs = this.nowMs + ms
    for (;;) {
      this.dropCancelled()
      const next = this.heap[0]
      if (next === undefined || next.dueMs > targetMs) break
      this.pop()
      this.nowMs = Math.max(this.nowMs, next.dueMs)
      next.callback()
    }
    this.nowMs = targetMs
  }

  private dropCancelled(): void {
    while (this.heap[0]?.cancelled === true) this.pop()
  }

  private push(timer: SimTimer): void {
    const heap = this.heap
    heap.push(timer)
    let index = heap.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!runsBefore(heap[index] as SimTimer, heap[parent] as SimTimer)) break
      ;[heap[index], heap[parent]] = [heap[parent] as SimTimer, heap[index] as SimTimer]
      index = parent
    }
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop()
    if (last === undefined || heap.length === 0) return
    heap[0] = last
    let index = 0
    for (;;) {
      const left = index * 2 + 1
      const right = left + 1
      let smallest = index
      if (left < heap.length && runsBefore(heap[left] as SimTimer, heap[smallest] as SimTimer)) smallest = left
      if (right < heap.length && runsBefore(heap[right] as SimTimer, heap[smallest] as SimTimer)) smallest = right
      if (smallest === index) return
      ;[heap[index], heap[smallest]] = [heap[smallest] as SimTimer, heap[index] as SimTimer]
      index = smallest
    }
  }
}
