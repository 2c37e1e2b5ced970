/**
 * exec and attach sessions between a client and an ExecSession, over either transport:
 *
 *   SPDY/3.1 (kubectl ≤ 1.29, and 1.30+ as fallback): the client opens one stream per purpose,
 *   named by its `streamtype` header: `error`, `stdin`, `stdout`, `stderr` (not with a tty) and
 *   `resize` (tty only). The session starts once all the expected streams are open.
 *   WebSocket (client-node, kubectl ≥ 1.30): channels 0 stdin, 1 stdout, 2 stderr, 3 error,
 *   4 resize (websocket-channels.ts).
 *
 * Output is copied until the process's streams end, then the outcome is written on the error
 * stream as a metav1.Status (remotecommand v4), which is what makes kubectl exit with the
 * command's exit code:
 *
 *   {"metadata":{},"status":"Success"}
 *   {"metadata":{},"status":"Failure","reason":"NonZeroExitCode","message":"command terminated with
 *    non-zero exit code: error executing command [sh -c exit 3], exit code 3",
 *    "details":{"causes":[{"reason":"ExitCode","message":"3"}]}}
 *
 * A provider that fails to start the session sends its error the same way (kubectl prints the
 * message and exits 1). Resize messages are JSON objects `{"Width":80,"Height":24}`, one after
 * the other.
 */
import type { Duplex, Readable, Writable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import { FlotillaError } from '../../../../lib/errors.ts'
import { RuntimeError, type ExecSession } from '../../../../runtime/src/runtime.ts'
import { ApiError, UNEXPECTED_ERROR_MESSAGE, internalError } from '../machinery/status.ts'
import { SpdySession, type SpdyStream } from './spdy-session.ts'
import type { ChannelWebSocket } from './websocket-channels.ts'

/** How long the client may take to open all its SPDY streams (the kubelet's default). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000
/**
 * After the outcome is sent over SPDY, how long the client has to close the connection before
 * the server closes it. The client closes first on purpose: spdystream drops the frames it has
 * read but not yet handled when the connection ends under it, which could lose the last output.
 */
export const SPDY_FINISH_GRACE_MS = 10_000
/** The longest resize message kept while waiting for its end. */
const RESIZE_MESSAGE_BYTES_MAX = 4096

/** WebSocket channel numbers of remotecommand. */
export const EXEC_CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const

/** The streams a client asked for (query parameters stdin, stdout, stderr, tty). */
export interface RemoteCommandOptions {
  readonly stdin: boolean
  readonly stdout: boolean
  /** Never together with tty: a terminal merges stderr into stdout. */
  readonly stderr: boolean
  readonly tty: boolean
}

/** The outcome written on the error stream: a metav1.Status (our Status objects are ones too). */
export interface RemoteCommandStatus {
  readonly metadata: Readonly<Record<string, never>>
  readonly status: 'Success' | 'Failure'
  readonly message?: string
  readonly reason?: string
  readonly details?: { readonly causes?: readonly { readonly reason?: string; readonly message?: string }[] }
}

/** The client's end of an exec or attach session, whichever transport carries it. */
export interface RemoteCommandClient {
  /** What the client types (absent when it did not ask for stdin). */
  readonly stdin: Readable | undefined
  readonly stdout: Writable | undefined
  readonly stderr: Writable | undefined
  /** Terminal size messages (tty only). */
  readonly resize: Readable | undefined
  /** Writes the outcome on the error stream and winds the connection down. */
  finish(status: RemoteCommandStatus): Promise<void>
  /** Settles when the connection is gone, whoever closed it. */
  readonly gone: Promise<void>
}

/** The Status of a finished exec: Success, or NonZeroExitCode with the code as a cause. */
export function execOutcome(command: readonly string[], exitCode: number): RemoteCommandStatus {
  if (exitCode === 0) return { metadata: {}, status: 'Success' }
  // kubectl parses the cause as an 8-bit unsigned number; anything else is not an exit code.
  if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) return internalError(`command ${goList(command)} ended with exit status ${exitCode}`).toStatus()
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command ${goList(command)}, exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  }
}

/** The Status of a finished attach: the kubelet reports Success whatever the container's exit. */
export function attachOutcome(): RemoteCommandStatus {
  return { metadata: {}, status: 'Success' }
}

/**
 * The Status for a provider's failure: an ApiError as it is, the message of our own and the
 * runtime's named errors (written for operators), and a fixed text for anything else, whose
 * details go to the log only.
 */
export function failureOutcome(error: unknown, log: (line: string) => void): RemoteCommandStatus {
  if (error instanceof ApiError) return error.toStatus()
  if (error instanceof FlotillaError || error instanceof RuntimeError) return internalError(error.message).toStatus()
  log(`streaming: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  return internalError(UNEXPECTED_ERROR_MESSAGE).toStatus()
}

/** A Go-formatted string slice, as kubelet messages show commands: `[sh -c exit 3]`. */
function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`
}

/**
 * Runs one session: starts it, connects the streams, waits for the output to end and the exit
 * code, and sends the outcome. Returns when the session is over or the client has gone (the
 * session is then closed). Never rejects.
 */
export async function runRemoteCommand(
  client: RemoteCommandClient,
  start: () => Promise<ExecSession>,
  outcome: (exitCode: number) => RemoteCommandStatus,
  log: (line: string) => void,
): Promise<void> {
  let session: ExecSession
  try {
    session = await start()
  } catch (error) {
    client.stdin?.resume()
    client.resize?.resume()
    await client.finish(failureOutcome(error, log))
    return
  }
  forwardStdin(client.stdin, session.stdin)
  if (client.resize !== undefined) readResizes(client.resize, (size) => void session.resize(size).catch(() => undefined))
  const done = Promise.all([session.exitCode, copyOutput(session.stdout, client.stdout), session.stderr === undefined ? undefined : copyOutput(session.stderr, client.stderr)])
  const ended = await Promise.race([done.then(([exitCode]) => ({ exitCode })), client.gone.then(() => undefined)])
  if (ended === undefined) {
    session.close()
    return
  }
  await client.finish(outcome(ended.exitCode))
}

/**
 * Copies the client's stdin into the process; the client's end of input (FIN, v5 close) ends
 * the process's stdin. A process that stops reading is not an error for the client: the rest of
 * its input is drained, and the client's stream is never torn down from here (kubectl would log
 * a reset stream as an error).
 */
function forwardStdin(from: Readable | undefined, to: Writable | undefined): void {
  if (from === undefined) {
    to?.end()
    return
  }
  if (to === undefined) {
    from.resume()
    return
  }
  to.on('error', () => {
    from.unpipe(to)
    from.resume()
  })
  from.pipe(to)
}

/** Copies a process output to the client's stream and ends it; discards it when the client did not ask for it. */
async function copyOutput(source: Readable, destination: Writable | undefined): Promise<void> {
  if (destination === undefined) {
    source.resume()
    await finished(source).catch(() => undefined)
    return
  }
  await pipeline(source, destination).catch(() => undefined)
}

/** Calls `onSize` for every complete `{"Width":…,"Height":…}` object read from `stream` (any letter case). */
export function readResizes(stream: Readable, onSize: (size: { width: number; height: number }) => void): void {
  const splitter = new JsonObjectSplitter(RESIZE_MESSAGE_BYTES_MAX)
  stream.on('data', (chunk: Buffer) => {
    for (const text of splitter.push(chunk.toString('utf8'))) {
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        continue
      }
      if (typeof value !== 'object' || value === null) continue
      // Go decodes JSON field names case-insensitively, and client-node sends `width`/`height`.
      const fields = new Map(Object.entries(value).map(([key, field]) => [key.toLowerCase(), field as unknown]))
      const width = fields.get('width')
      const height = fields.get('height')
      if (isDimension(width) && isDimension(height)) onSize({ width, height })
    }
  })
  stream.on('error', () => undefined)
}

function isDimension(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff
}

/**
 * Cuts a stream of concatenated JSON objects (newlines optional) into one text per object;
 * anything between objects is skipped.
 */
export class JsonObjectSplitter {
  private readonly bytesMax: number
  private current = ''
  private depth = 0
  private inString = false
  private escaped = false

  constructor(bytesMax: number) {
    this.bytesMax = bytesMax
  }

  push(chunk: string): string[] {
    const objects: string[] = []
    for (const character of chunk) {
      if (this.depth === 0) {
        if (character === '{') {
          this.depth = 1
          this.current = '{'
        }
        continue
      }
      this.current += character
      if (this.inString) {
        if (this.escaped) this.escaped = false
        else if (character === '\\') this.escaped = true
        else if (character === '"') this.inString = false
      } else if (character === '"') this.inString = true
      else if (character === '{') this.depth++
      else if (character === '}' && --this.depth === 0) {
        objects.push(this.current)
        this.current = ''
      }
      // An object that never ends is garbage; drop it rather than buffer without bound.
      if (this.current.length > this.bytesMax) this.reset()
    }
    return objects
  }

  private reset(): void {
    this.current = ''
    this.depth = 0
    this.inString = false
    this.escaped = false
  }
}

// -----------------------------------------------------------------------------------------------
// SPDY

/**
 * Serves a SPDY connection for one exec or attach: waits (at most STREAM_CREATION_TIMEOUT_MS)
 * for the streams `options` call for, refusing any other, and resolves with the client; resolves
 * undefined when the client went away or timed out first (after telling it so on the error
 * stream when there is one).
 */
export function openSpdyRemoteCommand(socket: Duplex, head: Buffer, options: RemoteCommandOptions, log: (line: string) => void): Promise<RemoteCommandClient | undefined> {
  const wanted = new Set(['error'])
  if (options.stdin) wanted.add('stdin')
  if (options.stdout) wanted.add('stdout')
  if (options.stderr && !options.tty) wanted.add('stderr')
  if (options.tty) wanted.add('resize')
  const streams = new Map<string, SpdyStream>()
  return new Promise<RemoteCommandClient | undefined>((resolve) => {
    let settled = false
    const settle = (client: RemoteCommandClient | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(client)
    }
    const session = new SpdySession(socket, head, {
      log,
      onStream: (stream) => {
        // A reset from the client ends the stream; it is not an error of the server.
        stream.on('error', () => undefined)
        const type = stream.header('streamtype') ?? ''
        if (settled || !wanted.has(type) || streams.has(type)) return false
        streams.set(type, stream)
        if (streams.size === wanted.size) settle(spdyClient(session, streams))
        return true
      },
    })
    const timer = setTimeout(() => {
      const client = spdyClient(session, streams)
      settle(undefined)
      if (streams.has('error')) void client.finish(internalError('timed out waiting for client to create streams').toStatus())
      else session.destroy()
    }, STREAM_CREATION_TIMEOUT_MS)
    void session.closed.then(() => settle(undefined))
  })
}

function spdyClient(session: SpdySession, streams: ReadonlyMap<string, SpdyStream>): RemoteCommandClient {
  return {
    stdin: streams.get('stdin'),
    stdout: streams.get('stdout'),
    stderr: streams.get('stderr'),
    resize: streams.get('resize'),
    gone: session.closed,
    finish: async (status) => {
      const error = streams.get('error')
      if (error !== undefined && !error.writableEnded) {
        error.end(JSON.stringify(status))
        await finished(error, { readable: false }).catch(() => undefined)
      }
      for (const stream of streams.values()) if (!stream.writableEnded) stream.end()
      session.finishWhenClientCloses(SPDY_FINISH_GRACE_MS)
    },
  }
}

// -----------------------------------------------------------------------------------------------
// WebSocket

/** The client of an exec or attach over an accepted channel WebSocket. */
export function webSocketRemoteCommand(channels: ChannelWebSocket, options: RemoteCommandOptions): RemoteCommandClient {
  return {
    stdin: options.stdin ? channels.reader(EXEC_CHANNEL.stdin) : undefined,
    stdout: options.stdout ? channels.writer(EXEC_CHANNEL.stdout) : undefined,
    stderr: options.stderr && !options.tty ? channels.writer(EXEC_CHANNEL.stderr) : undefined,
    resize: options.tty ? channels.reader(EXEC_CHANNEL.resize) : undefined,
    gone: channels.closed,
    finish: async (status) => {
      await new Promise<void>((resolve) => channels.send(EXEC_CHANNEL.error, Buffer.from(JSON.stringify(status)), () => resolve()))
      channels.close()
    },
  }
}
