/**
 * Frames on a libp2p stream: an unsigned LEB128 varint payload length (the libp2p convention,
 * as in `lpStream`), then the payload. The decoder is incremental, so it accepts the stream's
 * `message` events as they come, whatever their boundaries.
 */
import { encode as encodeVarint, encodingLength } from 'uint8-varint'
import { FlotillaError } from '../../../lib/errors.ts'

/** A length prefix announced a frame larger than this side accepts. */
export class FrameTooLargeError extends FlotillaError {
  override name = 'FrameTooLargeError'
}

/** The bytes on a stream are not well-formed frames (a varint longer than any allowed length). */
export class FrameFormatError extends FlotillaError {
  override name = 'FrameFormatError'
}

/** Five varint bytes carry 35 bits, more than any frame size we allow. */
const VARINT_BYTES_MAX = 5

/** The varint length prefix for a payload of `payloadBytes`. */
export function encodeFrameHeader(payloadBytes: number): Uint8Array {
  return encodeVarint(payloadBytes)
}

/** Bytes the header of a `payloadBytes` frame takes. */
export function frameHeaderBytes(payloadBytes: number): number {
  return encodingLength(payloadBytes)
}

/**
 * Splits a byte stream into length-prefixed frames. Each frame is copied once, into its own
 * buffer: handing out views of received chunks instead would let one retained small frame (a log
 * entry kept by Raft) pin a whole chunk of the stream.
 */
export class FrameDecoder {
  /** The largest frame accepted; raise it once the peer has said hello. */
  frameBytesMax: number
  private lengthBytes = 0
  private lengthValue = 0
  private frame: Uint8Array | undefined
  private frameFilledBytes = 0

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax
  }

  /**
   * Consumes `chunk`, calling `onFrame` for each complete frame; stops early, discarding the
   * rest, when `onFrame` returns false. Throws FrameTooLargeError or FrameFormatError; the
   * decoder is unusable afterwards (the stream should be aborted).
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => boolean): boolean {
    let offset = 0
    while (offset < chunk.byteLength) {
      if (this.frame === undefined) {
        const byte = chunk[offset++]!
        // Multiplication rather than shifts: the fifth byte would overflow a 32-bit shift.
        this.lengthValue += (byte & 0x7f) * 2 ** (7 * this.lengthBytes)
        this.lengthBytes++
        if ((byte & 0x80) !== 0) {
          if (this.lengthBytes >= VARINT_BYTES_MAX) throw new FrameFormatError('frame length varint is too long')
          continue
        }
        const payloadBytes = this.lengthValue
        this.lengthBytes = 0
        this.lengthValue = 0
        if (payloadBytes > this.frameBytesMax) {
          throw new FrameTooLargeError(`frame of ${payloadBytes} bytes exceeds the limit of ${this.frameBytesMax}`)
        }
        this.frame = new Uint8Array(payloadBytes)
        this.frameFilledBytes = 0
        if (payloadBytes > 0) continue
      } else {
        const take = Math.min(this.frame.byteLength - this.frameFilledBytes, chunk.byteLength - offset)
        this.frame.set(chunk.subarray(offset, offset + take), this.frameFilledBytes)
        this.frameFilledBytes += take
        offset += take
        if (this.frameFilledBytes < this.frame.byteLength) continue
      }
      const complete = this.frame
      this.frame = undefined
      if (!onFrame(complete)) return false
    }
    return true
  }
}

/** A FIFO of items with O(1) push and shift. */
export class Fifo<T> {
  private items: (T | undefined)[] = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  /** The item `index` places behind the head, or undefined past the end. */
  peek(index = 0): T | undefined {
    return index < this.length ? this.items[this.head + index] : undefined
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head++
    // Compacting once the dead prefix outweighs the live part keeps shift amortized O(1).
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  clear(): void {
    this.items = []
    this.head = 0
  }
}
