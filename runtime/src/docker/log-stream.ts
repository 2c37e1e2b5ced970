/**
 * Turns Docker's log stream into `kubectl logs` text. The runtime always asks Docker for
 * timestamps, because they are what makes `sinceMs` exact: Docker's own `since` has whole-second
 * resolution, so entries from the same second before `sinceMs` are dropped here. The prefix is then
 * kept (Docker's fixed nine-digit form, which kubectl prints as is) or stripped.
 */
import { PassThrough, Writable, type Readable } from 'node:stream'

import { ByteLimiter, msFromRfc3339 } from '../log-lines.ts'
import { FrameParser } from './frames.ts'

export interface LogStreamOptions {
  /** The container has a tty: the stream is raw text, not frames. */
  readonly tty: boolean
  readonly timestamps: boolean
  readonly sinceMs?: number
  readonly limitBytes?: number
}

/**
 * One Readable of log text from Docker's stream (requested with `timestamps: true`). Ending or
 * destroying the returned stream destroys the source, so a followed log stops on the engine too.
 */
export function dockerLogStream(source: NodeJS.ReadableStream, options: LogStreamOptions): Readable {
  const text = new PassThrough()
  const sourceStream = source as Readable
  const stopSource = (): void => {
    if (typeof sourceStream.destroy === 'function') sourceStream.destroy()
  }
  const emitEntry = (entry: Buffer): void => {
    const output = logEntryOutput(entry, options)
    if (output !== undefined && !text.writableEnded) text.write(output)
  }
  const sink = options.tty ? new LineSplitter(emitEntry) : new FrameParser((_stream, payload) => emitEntry(payload))
  const finish = (): void => {
    if (!text.writableEnded) text.end()
  }
  sink.on('finish', finish)
  sink.on('error', (error) => text.destroy(error))
  sourceStream.on('error', (error) => text.destroy(error))
  sourceStream.on('close', finish)
  sourceStream.pipe(sink)
  text.on('close', stopSource)

  if (options.limitBytes === undefined) return text
  const limited = new ByteLimiter(options.limitBytes, () => {
    stopSource()
    text.destroy()
  })
  limited.on('close', stopSource)
  text.on('error', (error) => limited.destroy(error))
  return text.pipe(limited)
}

/**
 * The text for one log entry (`<timestamp> <message>`), or undefined when `sinceMs` filters it
 * out. Entries without a parseable timestamp are kept whole: losing output is worse than showing
 * a malformed prefix.
 */
export function logEntryOutput(entry: Buffer, options: { readonly timestamps: boolean; readonly sinceMs?: number }): Buffer | undefined {
  const space = entry.indexOf(0x20)
  const timeMs = space > 0 ? msFromRfc3339(entry.subarray(0, space).toString('latin1')) : undefined
  if (timeMs === undefined) return entry
  if (options.sinceMs !== undefined && timeMs < options.sinceMs) return undefined
  return options.timestamps ? entry : entry.subarray(space + 1)
}

/** Calls `onLine` with each newline-terminated line (and a final unterminated one at the end). */
class LineSplitter extends Writable {
  private partial: Buffer = Buffer.alloc(0)
  private readonly onLine: (line: Buffer) => void

  constructor(onLine: (line: Buffer) => void) {
    super()
    this.onLine = onLine
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let data = this.partial.length === 0 ? chunk : Buffer.concat([this.partial, chunk])
    for (let newline = data.indexOf(0x0a); newline >= 0; newline = data.indexOf(0x0a)) {
      this.onLine(data.subarray(0, newline + 1))
      data = data.subarray(newline + 1)
    }
    this.partial = data
    callback()
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.partial.length > 0) this.onLine(this.partial)
    this.partial = Buffer.alloc(0)
    callback()
  }
}
