/**
 * A hollow container's log: what its main process printed, one entry per line with the simulated
 * time it was printed, bounded like Docker's rotated json-file log. Readers get `kubectl logs`
 * text (tail, since, timestamps, byte limit) and followers get new lines until the container
 * exits.
 */
import { PassThrough, type Readable } from 'node:stream'

import { ByteLimiter, rfc3339NanoFromMs } from '../log-lines.ts'
import type { LogOptions } from '../runtime.ts'

export type OutputStream = 'stdout' | 'stderr'

interface LogEntry {
  readonly timeMs: number
  readonly stream: OutputStream
  readonly line: Buffer
}

/** Entries and bytes kept; the oldest go first (Docker keeps max-size × max-file = 20 MiB). */
const ENTRIES_MAX = 10_000
const BYTES_MAX = 10 * 1024 * 1024

export class LogBuffer {
  private entries: LogEntry[] = []
  private bytes = 0
  private readonly partial: Record<OutputStream, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }
  private readonly followers = new Set<{ entry(entry: LogEntry): void; end(): void }>()
  private readonly outputListeners = new Set<(stream: OutputStream, data: Buffer) => void>()
  private closed = false

  /** Records output; complete lines become entries at `timeMs`. */
  append(stream: OutputStream, data: Buffer, timeMs: number): void {
    if (this.closed || data.length === 0) return
    for (const listener of this.outputListeners) listener(stream, data)
    let pending = this.partial[stream].length === 0 ? data : Buffer.concat([this.partial[stream], data])
    for (let newline = pending.indexOf(0x0a); newline >= 0; newline = pending.indexOf(0x0a)) {
      this.push({ timeMs, stream, line: pending.subarray(0, newline + 1) })
      pending = pending.subarray(newline + 1)
    }
    this.partial[stream] = pending
  }

  /** The process exited: unterminated output becomes a last entry and followers end. */
  close(timeMs: number): void {
    if (this.closed) return
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream].length > 0) this.push({ timeMs, stream, line: this.partial[stream] })
      this.partial[stream] = Buffer.alloc(0)
    }
    this.closed = true
    for (const follower of this.followers) follower.end()
    this.followers.clear()
    this.outputListeners.clear()
  }

  /** Raw output as it is printed, until `unsubscribe` or the process exits (attach). */
  subscribe(listener: (stream: OutputStream, data: Buffer) => void): () => void {
    if (this.closed) return () => undefined
    this.outputListeners.add(listener)
    return () => this.outputListeners.delete(listener)
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** The log as `kubectl logs` prints it. */
  read(options: LogOptions): Readable {
    const output = new PassThrough()
    const render = (entry: LogEntry): Buffer =>
      options.timestamps === true ? Buffer.concat([Buffer.from(`${rfc3339NanoFromMs(entry.timeMs)} `), entry.line]) : entry.line
    let selected = options.sinceMs === undefined ? this.entries : this.entries.filter((entry) => entry.timeMs >= (options.sinceMs as number))
    if (options.tailLines !== undefined) selected = options.tailLines <= 0 ? [] : selected.slice(-Math.floor(options.tailLines))
    for (const entry of selected) output.write(render(entry))
    let stopFollowing = (): void => undefined
    if (options.follow === true && !this.closed) {
      const follower = { entry: (entry: LogEntry) => output.write(render(entry)), end: () => output.end() }
      this.followers.add(follower)
      stopFollowing = () => this.followers.delete(follower)
      output.on('close', stopFollowing)
    } else output.end()
    if (options.limitBytes === undefined) return output
    const limited = new ByteLimiter(options.limitBytes, () => {
      stopFollowing()
      output.destroy()
    })
    return output.pipe(limited)
  }

  private push(entry: LogEntry): void {
    this.entries.push(entry)
    this.bytes += entry.line.length
    for (const follower of this.followers) follower.entry(entry)
    if (this.entries.length > ENTRIES_MAX || this.bytes > BYTES_MAX) {
      let drop = 0
      while (drop < this.entries.length - 1 && (this.entries.length - drop > ENTRIES_MAX || this.bytes > BYTES_MAX)) {
        this.bytes -= (this.entries[drop] as LogEntry).line.length
        drop++
      }
      this.entries = this.entries.slice(drop)
    }
  }
}
