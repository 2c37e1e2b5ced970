/**
 * Polling with a deadline: the one way Flotilla waits for a condition it cannot subscribe to
 * (tests, the demo, the daemon waiting for replication). Never a fixed sleep standing in for
 * readiness.
 */
import { TimeoutError } from './errors.ts'

/**
 * Calls `probe` until it returns a value other than undefined and resolves with it; probes at
 * least once, then every `intervalMs`. Throws TimeoutError naming `what` after `timeoutMs`.
 */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>, intervalMs = 20): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new TimeoutError(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
