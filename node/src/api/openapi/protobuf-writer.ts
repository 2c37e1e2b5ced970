/**
 * A minimal protocol-buffers writer (proto3 wire format): varints, length-delimited fields
 * (strings, bytes, nested messages) and booleans. Enough to encode the gnostic OpenAPI v2
 * document; it knows nothing about schemas — callers pass field numbers.
 *
 * Wire format: every field is a key `(fieldNumber << 3) | wireType` as a varint, then the value.
 * Wire type 0 = varint, 2 = length-delimited (varint byte length, then the bytes).
 *
 * Proto3 semantics the callers rely on: a field left at its default (0, false, "", empty message
 * omitted) is simply not written, and a repeated field is the same key written once per element.
 */
import { assert } from '../../../../lib/assert.ts'

const WIRE_VARINT = 0
const WIRE_LENGTH_DELIMITED = 2
const FIELD_NUMBER_MAX = 536_870_911 // 2^29 - 1

const utf8 = new TextEncoder()

/** Encodes `value` (a non-negative safe integer) as a base-128 varint. */
export function encodeVarint(value: number): Uint8Array {
  assert(Number.isSafeInteger(value) && value >= 0, `varint must be a non-negative safe integer, got ${value}`)
  const bytes: number[] = []
  let rest = value
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  bytes.push(rest)
  return Uint8Array.from(bytes)
}

/**
 * Accumulates one message's fields in order. Nested messages are encoded by a child writer and
 * copied in with their byte length, so no back-patching is needed.
 */
export class ProtobufWriter {
  private readonly chunks: Uint8Array[] = []
  private lengthBytes = 0

  /** A varint field (int32/int64/uint32/uint64/enum with non-negative values). Skips 0. */
  uint(fieldNumber: number, value: number): this {
    if (value === 0) return this
    this.key(fieldNumber, WIRE_VARINT)
    this.push(encodeVarint(value))
    return this
  }

  /** A bool field. Skips false. */
  bool(fieldNumber: number, value: boolean): this {
    return this.uint(fieldNumber, value ? 1 : 0)
  }

  /** A string field (UTF-8). Skips "". */
  string(fieldNumber: number, value: string): this {
    if (value === '') return this
    return this.bytes(fieldNumber, utf8.encode(value))
  }

  /** A repeated string field: one key per element, empty strings included (they are elements). */
  strings(fieldNumber: number, values: readonly string[]): this {
    for (const value of values) this.lengthDelimited(fieldNumber, utf8.encode(value))
    return this
  }

  /** A bytes field. Skips an empty value. */
  bytes(fieldNumber: number, value: Uint8Array): this {
    if (value.byteLength === 0) return this
    return this.lengthDelimited(fieldNumber, value)
  }

  /**
   * A nested message field: `encode` fills a fresh writer. The field is written even when the
   * nested message is empty, because presence of a message field is meaningful (for example a
   * oneof member, or `Any{}` standing for an empty object).
   */
  message(fieldNumber: number, encode: (writer: ProtobufWriter) => void): this {
    const child = new ProtobufWriter()
    encode(child)
    return this.lengthDelimited(fieldNumber, child.finish())
  }

  /** The encoded message. The writer can keep being used; later fields are appended. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.lengthBytes)
    let offset = 0
    for (const chunk of this.chunks) {
      out.set(chunk, offset)
      offset += chunk.byteLength
    }
    return out
  }

  private lengthDelimited(fieldNumber: number, value: Uint8Array): this {
    this.key(fieldNumber, WIRE_LENGTH_DELIMITED)
    this.push(encodeVarint(value.byteLength))
    this.push(value)
    return this
  }

  private key(fieldNumber: number, wireType: number): void {
    assert(Number.isInteger(fieldNumber) && fieldNumber >= 1 && fieldNumber <= FIELD_NUMBER_MAX, `bad protobuf field number ${fieldNumber}`)
    this.push(encodeVarint(fieldNumber * 8 + wireType))
  }

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk)
    this.lengthBytes += chunk.byteLength
  }
}
