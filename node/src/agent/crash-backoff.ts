/**
 * The crash-loop back-off of restarting containers, per (pod uid, container name), with the
 * kubelet's rules (its `flowcontrol.Backoff` as `doBackOff` uses it):
 *
 * - The first restart of an exited container happens at once and arms a back-off of `initialMs`
 *   counted from the exit (`finishedAt`). Each later restart doubles it, up to `maxMs`.
 * - A restart is held back while `now - finishedAt < backoff`: the container is shown waiting
 *   with reason CrashLoopBackOff and the message `back-off 20s restarting failed …`.
 * - A container that ran for long enough starts over: when the exit comes more than
 *   `resetAfterMs` (2 × max = 10 minutes by default) after the exit that last armed the
 *   back-off, the next restart is immediate again and the delay goes back to `initialMs`.
 *
 * Time is an input (epoch milliseconds), never read here, so simulations replay exactly. The
 * reads (`delayMs`, `remainingMs`) never change the state; only `recordRestart` does, and the
 * agent calls it when it really restarts an exited container.
 */
import { assert } from '../../../lib/assert.ts'

export interface CrashBackoffOptions {
  /** The first back-off (kubelet: 10 s; `--crash-backoff-initial-ms` and tests lower it). */
  readonly initialMs?: number
  /** The longest back-off (kubelet: 300 s). */
  readonly maxMs?: number
  /** An exit this long after the last one that armed the back-off resets it (default 2 × max). */
  readonly resetAfterMs?: number
  /** Entries kept at most; the least recently used go first (a limit on everything). */
  readonly entriesMax?: number
}

/** What the pure planner reads: when a restart of an exited container may happen. */
export interface CrashBackoffView {
  /**
   * Milliseconds left before the container that exited at `finishedAtMs` may restart (0: now),
   * and the back-off in force, for the CrashLoopBackOff message.
   */
  remainingMs(podUid: string, containerName: string, finishedAtMs: number, nowMs: number): { remainingMs: number; backoffMs: number }
}

export const CRASH_BACKOFF_INITIAL_MS_DEFAULT = 10_000
export const CRASH_BACKOFF_MAX_MS_DEFAULT = 300_000
const ENTRIES_MAX_DEFAULT = 10_000

interface Entry {
  /** The back-off armed by the last restart. */
  backoffMs: number
  /** The exit time (finishedAt) that armed it. */
  armedAtMs: number
}

export class CrashBackoff implements CrashBackoffView {
  readonly initialMs: number
  readonly maxMs: number
  readonly resetAfterMs: number
  private readonly entriesMax: number
  /** `uid/name` → entry, least recently used first. */
  private readonly entries = new Map<string, Entry>()

  constructor(options: CrashBackoffOptions = {}) {
    this.initialMs = options.initialMs ?? CRASH_BACKOFF_INITIAL_MS_DEFAULT
    this.maxMs = options.maxMs ?? CRASH_BACKOFF_MAX_MS_DEFAULT
    this.resetAfterMs = options.resetAfterMs ?? 2 * this.maxMs
    this.entriesMax = options.entriesMax ?? ENTRIES_MAX_DEFAULT
    assert(this.initialMs > 0 && this.maxMs >= this.initialMs, `crash back-off needs 0 < initial (${this.initialMs}) <= max (${this.maxMs})`)
    assert(this.resetAfterMs > 0 && this.entriesMax > 0, 'crash back-off reset time and entry limit must be positive')
  }

  remainingMs(podUid: string, containerName: string, finishedAtMs: number, nowMs: number): { remainingMs: number; backoffMs: number } {
    const entry = this.live(podUid, containerName, finishedAtMs)
    if (entry === undefined) return { remainingMs: 0, backoffMs: 0 }
    return { remainingMs: Math.max(0, finishedAtMs + entry.backoffMs - nowMs), backoffMs: entry.backoffMs }
  }

  /** Records a restart of the container that exited at `finishedAtMs`: arms or doubles its back-off. */
  recordRestart(podUid: string, containerName: string, finishedAtMs: number): void {
    const key = keyOf(podUid, containerName)
    const entry = this.live(podUid, containerName, finishedAtMs)
    const backoffMs = entry === undefined ? this.initialMs : Math.min(this.maxMs, entry.backoffMs * 2)
    this.entries.delete(key)
    this.entries.set(key, { backoffMs, armedAtMs: finishedAtMs })
    if (this.entries.size > this.entriesMax) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }

  /** Forgets every container of a pod (the pod is gone). */
  forgetPod(podUid: string): void {
    const prefix = `${podUid}/`
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key)
  }

  get size(): number {
    return this.entries.size
  }

  /** The entry still in force for an exit at `finishedAtMs`; an exit long after it resets it. */
  private live(podUid: string, containerName: string, finishedAtMs: number): Entry | undefined {
    const entry = this.entries.get(keyOf(podUid, containerName))
    if (entry === undefined || finishedAtMs - entry.armedAtMs > this.resetAfterMs) return undefined
    return entry
  }
}

function keyOf(podUid: string, containerName: string): string {
  return `${podUid}/${containerName}`
}

/** A back-off as the kubelet prints it in CrashLoopBackOff messages: `10s`, `2m40s`, `5m0s`, `200ms`. */
export function formatBackoff(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const totalSeconds = ms / 1000
  if (totalSeconds < 60) return `${Number.isInteger(totalSeconds) ? totalSeconds : totalSeconds.toFixed(3).replace(/0+$/, '')}s`
  const minutes = Math.floor(totalSeconds / 60)
  const seconds = totalSeconds - minutes * 60
  if (minutes < 60) return `${minutes}m${Number.isInteger(seconds) ? seconds : seconds.toFixed(3).replace(/0+$/, '')}s`
  const hours = Math.floor(minutes / 60)
  return `${hours}h${minutes - hours * 60}m${Math.round(seconds)}s`
}
