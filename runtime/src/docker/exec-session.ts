/**
 * An ExecSession over a hijacked Docker connection (exec start or container attach): the engine
 * sends framed stdout/stderr (raw bytes with a tty) and reads stdin from the same socket. Ending
 * stdin half-closes the socket, which the engine turns into EOF on the process's stdin while its
 * output keeps flowing back.
 */
import { PassThrough, Writable, type Duplex } from 'node:stream'

import type { ExecSession } from '../runtime.ts'
import { demultiplex } from './frames.ts'

/** A shell's "cannot execute": what `exitCode` settles to when the real code cannot be learned. */
export const EXIT_CODE_UNKNOWN = 126

export interface HijackedSessionOptions {
  readonly socket: Duplex
  readonly tty: boolean
  /** Offer a stdin stream (the process was started with its stdin attached). */
  readonly stdin: boolean
  /** Learns the exit code once the output has ended. */
  readonly exitCode: () => Promise<number>
  readonly resize: (size: { readonly width: number; readonly height: number }) => Promise<void>
}

export function hijackedSession(options: HijackedSessionOptions): ExecSession {
  const { socket } = options
  let stdout: PassThrough
  let stderr: PassThrough | undefined
  if (options.tty) {
    stdout = new PassThrough()
    socket.on('error', () => stdout.end())
    socket.on('close', () => stdout.end())
    socket.pipe(stdout)
  } else {
    const streams = demultiplex(socket)
    stdout = streams.stdout
    stderr = streams.stderr
  }
  const outputEnded = new Promise<void>((resolve) => {
    socket.once('close', () => resolve())
    socket.once('end', () => resolve())
  })
  const exitCode = outputEnded.then(options.exitCode).catch(() => EXIT_CODE_UNKNOWN)
  const session: { -readonly [K in keyof ExecSession]: ExecSession[K] } = {
    stdout,
    resize: options.resize,
    exitCode,
    close: () => socket.destroy(),
  }
  if (stderr !== undefined) session.stderr = stderr
  if (options.stdin) session.stdin = socketStdin(socket)
  return session
}

/** A Writable into the socket whose end half-closes it (EOF for the process, output still read). */
function socketStdin(socket: Duplex): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (socket.destroyed || socket.writableEnded) return callback()
      socket.write(chunk, () => callback())
    },
    final(callback) {
      if (!socket.destroyed && !socket.writableEnded) socket.end()
      callback()
    },
  })
}
