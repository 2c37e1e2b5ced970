/**
 * Runs one controller's workers over its work queue: each worker takes a key, syncs it, and on
 * failure puts it back with the key's back-off (work-queue.ts), on success forgets the back-off.
 * A failure that means "this manager must stop" (fenced out, stopped) is handed to `onFatal`
 * instead of being retried.
 */
import type { WorkQueue } from './work-queue.ts'

export interface ControllerRunnerOptions {
  /** For log lines: `replicaset-controller`. */
  readonly name: string
  readonly queue: WorkQueue
  /** Keys processed at once (each key by one worker at a time). */
  readonly workers: number
  /** Reconciles one key; throws to retry it with back-off. */
  readonly sync: (key: string) => Promise<void>
  /** True for errors that end the manager rather than the attempt. */
  readonly isFatal: (error: Error) => boolean
  readonly onFatal: (error: Error) => void
  readonly log: (line: string) => void
}

export class ControllerRunner {
  readonly name: string
  private readonly options: ControllerRunnerOptions
  private busyWorkers = 0
  private stopped = false

  constructor(options: ControllerRunnerOptions) {
    this.name = options.name
    this.options = options
  }

  start(): void {
    for (let worker = 0; worker < this.options.workers; worker++) void this.work()
  }

  /** Stops taking keys; a sync under way finishes (its writes are fenced, see fence.ts). */
  stop(): void {
    this.stopped = true
    this.options.queue.shutDown()
  }

  /** True when no worker is syncing and no key is ready. */
  get idle(): boolean {
    return this.busyWorkers === 0 && this.options.queue.length === 0
  }

  private async work(): Promise<void> {
    const { queue, sync, log } = this.options
    for (;;) {
      const key = await queue.next()
      if (key === undefined || this.stopped) return
      this.busyWorkers++
      try {
        await sync(key)
        queue.forget(key)
      } catch (error) {
        if (this.options.isFatal(error as Error)) this.options.onFatal(error as Error)
        else if (!this.stopped) {
          const delayMs = queue.addRateLimited(key)
          // Conflicts are routine (a cache a write behind); log the others, and repeated conflicts.
          if (!isConflict(error) || queue.failuresOf(key) > 5) log(`${this.name}: ${key}: ${(error as Error).message}; retrying in ${delayMs} ms`)
        }
      } finally {
        this.busyWorkers--
        queue.done(key)
      }
    }
  }
}

function isConflict(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 409
}
