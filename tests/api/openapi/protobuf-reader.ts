/**
 * A tiny protobuf reader for tests: decodes one message level into fields (varint or
 * length-delimited), independent of the writer under test. Fails loudly on malformed input
 * (truncation, unsupported wire types), so a test that decodes the whole tree proves the
 * encoding is well formed.
 */

export interface Field {
  readonly number: number
  readonly wireType: 0 | 2
  /** The varint value (wire type 0). */
  readonly varint: bigint
  /** The payload (wire type 2). */
  readonly bytes: Uint8Array
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function readVarint(bytes: Uint8Array, start: number): [bigint, number] {
  let value = 0n
  let shift = 0n
  let offset = start
  for (;;) {
    const byte = bytes[offset]
    if (byte === undefined) throw new Error(`truncated varint at byte ${start}`)
    offset++
    value |= BigInt(byte & 0x7f) << shift
    if ((byte & 0x80) === 0) return [value, offset]
    shift += 7n
    if (shift > 63n) throw new Error(`varint too long at byte ${start}`)
  }
}

/** All fields of one message, in wire order. */
export function decodeFields(bytes: Uint8Array): Field[] {
  const fields: Field[] = []
  let offset = 0
  while (offset < bytes.byteLength) {
    const [key, afterKey] = readVarint(bytes, offset)
    const number = Number(key >> 3n)
    const wireType = Number(key & 7n)
    if (number < 1) throw new Error(`field number 0 at byte ${offset}`)
    if (wireType === 0) {
      const [varint, next] = readVarint(bytes, afterKey)
      fields.push({ number, wireType: 0, varint, bytes: new Uint8Array() })
      offset = next
    } else if (wireType === 2) {
      const [length, start] = readVarint(bytes, afterKey)
      const end = start + Number(length)
      if (end > bytes.byteLength) throw new Error(`length-delimited field ${number} overruns the message (${end} > ${bytes.byteLength})`)
      fields.push({ number, wireType: 2, varint: 0n, bytes: bytes.subarray(start, end) })
      offset = end
    } else {
      throw new Error(`unsupported wire type ${wireType} for field ${number} at byte ${offset}`)
    }
  }
  return fields
}

/** A decoded message with accessors by field number. */
export class Message {
  readonly fields: Field[]

  constructor(bytes: Uint8Array) {
    this.fields = decodeFields(bytes)
  }

  all(number: number): Field[] {
    return this.fields.filter((field) => field.number === number)
  }

  /** The last occurrence of a singular field (proto3 semantics), or undefined. */
  one(number: number): Field | undefined {
    return this.all(number).at(-1)
  }

  string(number: number): string {
    const field = this.one(number)
    return field === undefined ? '' : utf8.decode(field.bytes)
  }

  strings(number: number): string[] {
    return this.all(number).map((field) => utf8.decode(field.bytes))
  }

  bool(number: number): boolean {
    return (this.one(number)?.varint ?? 0n) !== 0n
  }

  message(number: number): Message | undefined {
    const field = this.one(number)
    return field === undefined ? undefined : new Message(field.bytes)
  }

  messages(number: number): Message[] {
    return this.all(number).map((field) => new Message(field.bytes))
  }
}
