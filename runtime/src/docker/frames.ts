/**
 * Docker's multiplexed stream format (`stdcopy`): logs, attach and exec of a container without a
 * tty arrive as frames of an 8-byte header (stream type, three zero bytes, big-endian payload
 * length) followed by the payload. With a tty there is no framing: the bytes are the terminal's.
 */
import { PassThrough, Writable, type Readable } from 'node:stream'

import { RuntimeError } from '../runtime.ts'

export type FrameStream = 'stdin' | 'stdout' | 'stderr'

const STREAM_BY_TYPE: readonly FrameStream[] = ['stdin', 'stdout', 'stderr']
const HEADER_BYTES = 8
/** Docker writes at most 32 KiB per frame today; anything far beyond means we lost framing. */
const FRAME_PAYLOAD_BYTES_MAX = 16 * 1024 * 1024

/** Thrown (as a stream error) when the bytes are not Docker frames. */
export class FrameFormatError extends RuntimeError {
  override name = 'FrameFormatError'
}

/**
 * Splits a byte stream into frames, calling `onFrame` once per complete frame in order. A frame may
 * arrive across many chunks and a chunk may hold many frames.
 */
export class FrameParser extends Writable {
  private buffered: Buffer = Buffer.alloc(0)
  private readonly onFrame: (stream: FrameStream, payload: Buffer) => void

  constructor(onFrame: (stream: FrameStream, payload: Buffer) => void) {
    super()
    this.onFrame = onFrame
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk])
    try {
      this.drainFrames()
      callback()
    } catch (error) {
      callback(error as Error)
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    // A stream cut inside a frame (the container died mid-write) loses only that partial frame.
    this.buffered = Buffer.alloc(0)
    callback()
  }

  private drainFrames(): void {
    for (;;) {
      if (this.buffered.length < HEADER_BYTES) return
      const stream = STREAM_BY_TYPE[this.buffered.readUInt8(0)]
      const payloadBytes = this.buffered.readUInt32BE(4)
      if (stream === undefined || payloadBytes > FRAME_PAYLOAD_BYTES_MAX) {
        throw new FrameFormatError(`Cannot demultiplex Docker stream: bad frame header ${this.buffered.subarray(0, HEADER_BYTES).toString('hex')}`)
      }
      if (this.buffered.length < HEADER_BYTES + payloadBytes) return
      const payload = this.buffered.subarray(HEADER_BYTES, HEADER_BYTES + payloadBytes)
      this.buffered = this.buffered.subarray(HEADER_BYTES + payloadBytes)
      this.onFrame(stream, payload)
    }
  }
}

/**
 * Demultiplexes a framed stream into separate stdout and stderr streams that end when the source
 * ends. Errors of the source end both outputs (a broken exec connection is the end of its output).
 */
export function demultiplex(source: Readable | NodeJS.ReadableStream): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const parser = new FrameParser((stream, payload) => {
    if (stream === 'stderr') stderr.write(payload)
    else stdout.write(payload)
  })
  const finish = (): void => {
    stdout.end()
    stderr.end()
  }
  parser.on('finish', finish)
  parser.on('error', finish)
  source.on('error', finish)
  source.on('close', finish)
  source.pipe(parser)
  return { stdout, stderr }
}
