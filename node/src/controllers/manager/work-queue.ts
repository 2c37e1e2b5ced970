/**
 * The controllers' work queue, with client-go's workqueue semantics:
 *
 * - De-duplication: a key added while it waits is queued once; a key added while a worker
 *   processes it is queued again only after `done`, so one key is never processed by two workers
 *   at once and a change that arrives mid-reconcile is never lost.
 * - Delayed adds (`addAfter`): the key is added when the delay passes; of several pending delays
 *   for one key the earliest wins (a later wake-up cannot postpone an earlier one).
 * - Per-key back-off (`addRateLimited`): failures of one key delay its retries exponentially,
 *   from `baseDelayMs` doubling up to `maxDelayMs`; `forget` resets the key after a success.
 *
 * Keys are strings (`namespace/name`). Time comes from the injected Timers.
 */
import { assert } from '../../../../lib/assert.ts'
import type { Timer, Timers } from '../../../../lib/timers.ts'

export interface WorkQueueOptions {
  readonly timers: Timers
  /** First retry delay after a failure (client-go: 5 ms). */
  readonly baseDelayMs?: number
  /** Longest retry delay (client-go: 1000 s; controllers here want to recover within seconds). */
  readonly maxDelayMs?: number
}

const BASE_DELAY_MS_DEFAULT = 50
const MAX_DELAY_MS_DEFAULT = 30_000

export class WorkQueue {
  private readonly timers: Timers
  private readonly baseDelayMs: number
  private readonly maxDelayMs: number
  /** Keys ready for a worker, in order; each also in `dirty`. */
  private ready: string[] = []
  private readyHead = 0
  /** Keys waiting for a worker or re-added while processed. */
  private readonly dirty = new Set<string>()
  private readonly processing = new Set<string>()
  /** Pending delayed adds: the earliest due time per key and its timer. */
  private readonly delayed = new Map<string, { dueMs: number; timer: Timer }>()
  private readonly failures = new Map<string, number>()
  private readonly waiters: Array<(key: string | undefined) => void> = []
  private shuttingDown = false

  constructor(options: WorkQueueOptions) {
    this.timers = options.timers
    this.baseDelayMs = options.baseDelayMs ?? BASE_DELAY_MS_DEFAULT
    this.maxDelayMs = options.maxDelayMs ?? MAX_DELAY_MS_DEFAULT
  }

  /** Queues `key` unless it is already waiting. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return
    this.dirty.add(key)
    if (this.processing.has(key)) return
    const waiter = this.waiters.shift()
    if (waiter !== undefined) {
      this.dirty.delete(key)
      this.processing.add(key)
      waiter(key)
      return
    }
    this.ready.push(key)
  }

  /** Queues `key` after `delayMs` (at once for 0 or less). */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return
    if (delayMs <= 0) return this.add(key)
    const dueMs = this.timers.monotonicMs() + delayMs
    const pending = this.delayed.get(key)
    if (pending !== undefined) {
      if (pending.dueMs <= dueMs) return
      pending.timer.cancel()
    }
    const timer = this.timers.after(delayMs, () => {
      this.delayed.delete(key)
      this.add(key)
    })
    this.delayed.set(key, { dueMs, timer })
  }

  /** Queues `key` after its back-off, which doubles with each failure since the last `forget`. */
  addRateLimited(key: string): number {
    const failures = this.failures.get(key) ?? 0
    this.failures.set(key, failures + 1)
    const delayMs = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(failures, 30))
    this.addAfter(key, delayMs)
    return delayMs
  }

  /** Ends the back-off of `key` (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key)
  }

  /** How many failures `key` has had since its last `forget`. */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0
  }

  /**
   * The next key to process, waiting for one if needed; undefined once the queue shuts down. The
   * caller must call `done(key)` when it has finished with it.
   */
  next(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined)
    const key = this.takeReady()
    if (key !== undefined) return Promise.resolve(key)
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Marks `key` processed; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    assert(this.processing.has(key), `done(${key}) without next()`)
    this.processing.delete(key)
    if (!this.dirty.has(key) || this.shuttingDown) return
    this.dirty.delete(key)
    this.add(key)
  }

  /** Keys ready now (not counting delayed ones or those being processed). */
  get length(): number {
    return this.ready.length - this.readyHead
  }

  /** True when no key is ready or being processed (delayed adds may still be pending). */
  get idle(): boolean {
    return this.length === 0 && this.processing.size === 0
  }

  /** Stops the queue: waiting workers get undefined, pending delays are cancelled. */
  shutDown(): void {
    this.shuttingDown = true
    for (const { timer } of this.delayed.values()) timer.cancel()
    this.delayed.clear()
    this.ready = []
    this.readyHead = 0
    this.dirty.clear()
    for (const waiter of this.waiters.splice(0)) waiter(undefined)
  }

  private takeReady(): string | undefined {
    if (this.readyHead >= this.ready.length) return undefined
    const key = this.ready[this.readyHead++] as string
    // Compact the array once the consumed prefix dominates, so the queue does not grow forever.
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead)
      this.readyHead = 0
    }
    this.dirty.delete(key)
    this.processing.add(key)
    return key
  }
}
