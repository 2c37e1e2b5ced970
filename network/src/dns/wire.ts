/**
 * The DNS wire format (RFC 1035, 2782, 3596, 6891), pure: messages to bytes and back, with name
 * compression on output and strict bounds checks on input. Only what a cluster DNS server needs:
 * A, AAAA, CNAME, PTR, SRV and SOA are decoded; any other type keeps its rdata as raw bytes.
 *
 * Names are dotted strings without the trailing dot (the root is ''). A label byte that is not a
 * printable ASCII character, or is a dot or a backslash, appears as `\DDD` (decimal, as in zone
 * files), so every wire name has exactly one string form and back.
 *
 * Input is hostile by assumption: every read is bounds-checked, compression pointers must point
 * strictly backwards (so they cannot loop), names stay within 255 octets and labels within 63, and
 * every failure is a DnsFormatError, never a RangeError out of a DataView.
 */
import { isIP } from 'node:net'
import { FlotillaError } from '../../../lib/errors.ts'
import { assert } from '../../../lib/assert.ts'

/** Resource record types used here (IANA numbers). */
export const RR_TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const
/** Response codes. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const
/** The Internet class; the only one served. */
export const CLASS_IN = 1
/** The standard query opcode; others are answered NOTIMP. */
export const OPCODE_QUERY = 0
/** Size of the fixed header. */
export const HEADER_BYTES = 12
/** The UDP payload limit for a client that does not announce EDNS0 (RFC 1035 §4.2.1). */
export const UDP_PAYLOAD_BYTES_CLASSIC = 512
/** Names are at most 255 octets on the wire, labels at most 63 (RFC 1035 §2.3.4). */
const NAME_BYTES_MAX = 255
const LABEL_BYTES_MAX = 63
/** Compression pointers can only address the first 16 KiB of a message. */
const POINTER_OFFSET_MAX = 0x3fff

/** Input that is not a well-formed DNS message. `id` is the message ID when the header was readable. */
export class DnsFormatError extends FlotillaError {
  override name = 'DnsFormatError'
  readonly id: number | undefined

  constructor(message: string, id: number | undefined) {
    super(message)
    this.id = id
  }
}

export interface DnsHeader {
  readonly id: number
  /** True for a response. */
  readonly qr: boolean
  readonly opcode: number
  /** Authoritative answer. */
  readonly aa: boolean
  /** Truncated: the answer did not fit; ask again over TCP. */
  readonly tc: boolean
  /** Recursion desired (copied from the query into the response). */
  readonly rd: boolean
  /** Recursion available. */
  readonly ra: boolean
  readonly ad: boolean
  readonly cd: boolean
  /** The low 4 bits of the response code (EDNS carries the high bits, unused here). */
  readonly rcode: number
}

export interface DnsQuestion {
  readonly name: string
  readonly type: number
  readonly class: number
}

/** Record data by type; `raw` keeps the rdata bytes of types this module does not decode. */
export type RecordData =
  | { readonly kind: 'A'; readonly address: string }
  | { readonly kind: 'AAAA'; readonly address: string }
  | { readonly kind: 'CNAME'; readonly target: string }
  | { readonly kind: 'PTR'; readonly target: string }
  | { readonly kind: 'SRV'; readonly priority: number; readonly weight: number; readonly port: number; readonly target: string }
  | {
      readonly kind: 'SOA'
      readonly primary: string
      readonly mailbox: string
      readonly serial: number
      readonly refreshSeconds: number
      readonly retrySeconds: number
      readonly expireSeconds: number
      readonly minimumSeconds: number
    }
  | { readonly kind: 'raw'; readonly type: number; readonly bytes: Uint8Array }

export interface ResourceRecord {
  readonly name: string
  readonly class: number
  readonly ttlSeconds: number
  readonly data: RecordData
}

/** The EDNS0 OPT pseudo-record, lifted out of the additional section. */
export interface Edns {
  /** The largest UDP payload the sender can receive. */
  readonly udpPayloadBytes: number
  readonly version: number
  /** The DNSSEC OK bit. */
  readonly dnssecOk: boolean
}

export interface DnsMessage {
  readonly header: DnsHeader
  readonly questions: readonly DnsQuestion[]
  readonly answers: readonly ResourceRecord[]
  readonly authorities: readonly ResourceRecord[]
  /** Additional records without the OPT record (see `edns`). */
  readonly additionals: readonly ResourceRecord[]
  readonly edns?: Edns
}

/** A parsed message plus where each record's TTL sits in the input (to age cached bytes in place). */
export interface ParsedMessage {
  readonly message: DnsMessage
  /** Byte offsets of the 32-bit TTL of every record except OPT. */
  readonly ttlOffsets: readonly number[]
}

/** The numeric type of record data. */
export function rrTypeOf(data: RecordData): number {
  return data.kind === 'raw' ? data.type : RR_TYPE[data.kind]
}

/** The conventional name of a type number (`TYPE65` for unknown ones). */
export function rrTypeName(type: number): string {
  for (const [name, value] of Object.entries(RR_TYPE)) if (value === type) return name
  return `TYPE${type}`
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  offset = 0
  readonly bytes: Uint8Array
  readonly id: number | undefined

  constructor(bytes: Uint8Array) {
    this.bytes = bytes
    this.id = bytes.length >= 2 ? ((bytes[0] as number) << 8) | (bytes[1] as number) : undefined
  }

  fail(message: string): never {
    throw new DnsFormatError(`${message} at byte ${this.offset}`, this.id)
  }

  need(count: number): void {
    if (this.offset + count > this.bytes.length) this.fail(`message ends early: needs ${count} more bytes`)
  }

  u8(): number {
    this.need(1)
    return this.bytes[this.offset++] as number
  }

  u16(): number {
    this.need(2)
    const value = ((this.bytes[this.offset] as number) << 8) | (this.bytes[this.offset + 1] as number)
    this.offset += 2
    return value
  }

  u32(): number {
    return this.u16() * 0x10000 + this.u16()
  }

  take(count: number): Uint8Array {
    this.need(count)
    const slice = this.bytes.slice(this.offset, this.offset + count)
    this.offset += count
    return slice
  }

  /** Reads a possibly compressed name; leaves the offset after its in-place part. */
  name(): string {
    const labels: string[] = []
    let position = this.offset
    let resumeAt: number | undefined
    let wireBytes = 1
    for (;;) {
      if (position >= this.bytes.length) this.fail('name runs past the end of the message')
      const length = this.bytes[position] as number
      if ((length & 0xc0) === 0xc0) {
        if (position + 1 >= this.bytes.length) this.fail('compression pointer runs past the end')
        const target = ((length & 0x3f) << 8) | (this.bytes[position + 1] as number)
        // Pointing strictly backwards makes every chain finite, so no loop counter is needed.
        if (target >= position) this.fail(`compression pointer ${target} does not point backwards`)
        resumeAt ??= position + 2
        position = target
        continue
      }
      if ((length & 0xc0) !== 0) this.fail(`unsupported label type 0x${length.toString(16)}`)
      if (length === 0) {
        this.offset = resumeAt ?? position + 1
        return labels.join('.')
      }
      wireBytes += length + 1
      if (wireBytes > NAME_BYTES_MAX) this.fail(`name longer than ${NAME_BYTES_MAX} bytes`)
      if (position + 1 + length > this.bytes.length) this.fail('label runs past the end of the message')
      labels.push(escapeLabel(this.bytes.subarray(position + 1, position + 1 + length)))
      position += 1 + length
    }
  }
}

function escapeLabel(bytes: Uint8Array): string {
  let text = ''
  for (const byte of bytes) {
    if (byte > 0x20 && byte < 0x7f && byte !== 0x2e && byte !== 0x5c) text += String.fromCharCode(byte)
    else text += `\\${byte.toString().padStart(3, '0')}`
  }
  return text
}

function decodeHeader(reader: Reader): { header: DnsHeader; counts: [number, number, number, number] } {
  if (reader.bytes.length < HEADER_BYTES) reader.fail(`message shorter than the ${HEADER_BYTES}-byte header`)
  const id = reader.u16()
  const flags = reader.u16()
  const header: DnsHeader = {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
  }
  return { header, counts: [reader.u16(), reader.u16(), reader.u16(), reader.u16()] }
}

/** Reads only the header; undefined when the input is shorter than one. */
export function peekHeader(bytes: Uint8Array): DnsHeader | undefined {
  if (bytes.length < HEADER_BYTES) return undefined
  return decodeHeader(new Reader(bytes)).header
}

function decodeRecordData(reader: Reader, type: number, length: number): RecordData {
  const end = reader.offset + length
  reader.need(length)
  let data: RecordData
  switch (type) {
    case RR_TYPE.A:
      if (length !== 4) reader.fail(`A rdata of ${length} bytes`)
      data = { kind: 'A', address: Array.from(reader.take(4)).join('.') }
      break
    case RR_TYPE.AAAA:
      if (length !== 16) reader.fail(`AAAA rdata of ${length} bytes`)
      data = { kind: 'AAAA', address: formatIpv6(reader.take(16)) }
      break
    case RR_TYPE.CNAME:
    case RR_TYPE.PTR:
      data = { kind: type === RR_TYPE.CNAME ? 'CNAME' : 'PTR', target: reader.name() }
      break
    case RR_TYPE.SRV:
      data = { kind: 'SRV', priority: reader.u16(), weight: reader.u16(), port: reader.u16(), target: reader.name() }
      break
    case RR_TYPE.SOA:
      data = {
        kind: 'SOA',
        primary: reader.name(),
        mailbox: reader.name(),
        serial: reader.u32(),
        refreshSeconds: reader.u32(),
        retrySeconds: reader.u32(),
        expireSeconds: reader.u32(),
        minimumSeconds: reader.u32(),
      }
      break
    default:
      data = { kind: 'raw', type, bytes: reader.take(length) }
  }
  if (reader.offset !== end) reader.fail(`${rrTypeName(type)} rdata does not fill its ${length} bytes`)
  return data
}

/**
 * Parses a whole message. Throws DnsFormatError for anything malformed, including an OPT
 * record outside the additional section, twice, or with a non-root name. Bytes after the last
 * record are ignored, as most servers do.
 */
export function parseMessage(bytes: Uint8Array): ParsedMessage {
  const reader = new Reader(bytes)
  const { header, counts } = decodeHeader(reader)
  const [questionCount, answerCount, authorityCount, additionalCount] = counts
  const questions: DnsQuestion[] = []
  for (let index = 0; index < questionCount; index++) questions.push({ name: reader.name(), type: reader.u16(), class: reader.u16() })
  const ttlOffsets: number[] = []
  let edns: Edns | undefined
  const section = (count: number, allowOpt: boolean): ResourceRecord[] => {
    const records: ResourceRecord[] = []
    for (let index = 0; index < count; index++) {
      const name = reader.name()
      const type = reader.u16()
      const klass = reader.u16()
      const ttlOffset = reader.offset
      const ttlSeconds = reader.u32()
      const length = reader.u16()
      if (type === RR_TYPE.OPT) {
        if (!allowOpt) reader.fail('OPT record outside the additional section')
        if (edns !== undefined) reader.fail('more than one OPT record')
        if (name !== '') reader.fail('OPT record with a non-root name')
        reader.take(length) // Options (cookies, padding, …) are not used and not echoed.
        edns = { udpPayloadBytes: klass, version: (ttlSeconds >>> 16) & 0xff, dnssecOk: (ttlSeconds & 0x8000) !== 0 }
        continue
      }
      ttlOffsets.push(ttlOffset)
      records.push({ name, class: klass, ttlSeconds, data: decodeRecordData(reader, type, length) })
    }
    return records
  }
  const answers = section(answerCount, false)
  const authorities = section(authorityCount, false)
  const additionals = section(additionalCount, true)
  const message: DnsMessage = { header, questions, answers, authorities, additionals, ...(edns === undefined ? {} : { edns }) }
  return { message, ttlOffsets }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** A name given to the encoder that cannot be written (bad escape, label or name too long). */
export class DnsNameError extends FlotillaError {
  override name = 'DnsNameError'
}

/** Splits a name into label bytes, resolving `\DDD` and `\X` escapes. */
export function nameToLabels(name: string): Uint8Array[] {
  if (name === '' || name === '.') return []
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name
  const labels: Uint8Array[] = []
  let current: number[] = []
  let wireBytes = 1
  const finish = (): void => {
    if (current.length === 0) throw new DnsNameError(`empty label in ${JSON.stringify(name)}`)
    if (current.length > LABEL_BYTES_MAX) throw new DnsNameError(`label longer than ${LABEL_BYTES_MAX} bytes in ${JSON.stringify(name)}`)
    wireBytes += current.length + 1
    labels.push(Uint8Array.from(current))
    current = []
  }
  for (let index = 0; index < text.length; index++) {
    const char = text[index] as string
    if (char === '.') {
      finish()
    } else if (char === '\\') {
      const digits = text.slice(index + 1, index + 4)
      if (/^[0-9]{3}$/.test(digits) && Number(digits) <= 255) {
        current.push(Number(digits))
        index += 3
      } else if (index + 1 < text.length) {
        current.push(text.charCodeAt(index + 1) & 0xff)
        index += 1
      } else {
        throw new DnsNameError(`dangling escape in ${JSON.stringify(name)}`)
      }
    } else {
      const code = text.charCodeAt(index)
      if (code > 0xff) throw new DnsNameError(`non-ASCII character in ${JSON.stringify(name)}`)
      current.push(code)
    }
  }
  finish()
  if (wireBytes > NAME_BYTES_MAX) throw new DnsNameError(`name longer than ${NAME_BYTES_MAX} bytes: ${JSON.stringify(name)}`)
  return labels
}

/** Lower-cases ASCII letters only: DNS names compare case-insensitively (RFC 4343). */
export function canonicalName(name: string): string {
  const trimmed = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name
  return trimmed.replace(/[A-Z]/g, (letter) => letter.toLowerCase())
}

class Writer {
  private buffer = new Uint8Array(512)
  length = 0
  /** Canonical name suffix → offset where it was written, for compression. */
  private readonly suffixes = new Map<string, number>()

  private ensure(count: number): void {
    if (this.length + count <= this.buffer.length) return
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + count))
    grown.set(this.buffer.subarray(0, this.length))
    this.buffer = grown
  }

  u8(value: number): void {
    this.ensure(1)
    this.buffer[this.length++] = value & 0xff
  }

  u16(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xffff, `16-bit field out of range: ${value}`)
    this.u8(value >> 8)
    this.u8(value)
  }

  u32(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, `32-bit field out of range: ${value}`)
    this.u16(Math.floor(value / 0x10000))
    this.u16(value % 0x10000)
  }

  bytes(value: Uint8Array): void {
    this.ensure(value.length)
    this.buffer.set(value, this.length)
    this.length += value.length
  }

  setU16(offset: number, value: number): void {
    this.buffer[offset] = (value >> 8) & 0xff
    this.buffer[offset + 1] = value & 0xff
  }

  /** Writes a name, pointing at an earlier copy of its longest known suffix when `compress`. */
  name(name: string, compress: boolean): void {
    const labels = nameToLabels(name)
    const keys = labels.map((_, index) => labels.slice(index).map((label) => escapeLabel(label).toLowerCase()).join('.'))
    for (let index = 0; index < labels.length; index++) {
      const key = keys[index] as string
      const earlier = compress ? this.suffixes.get(key) : undefined
      if (earlier !== undefined) {
        this.u16(0xc000 | earlier)
        return
      }
      if (this.length <= POINTER_OFFSET_MAX && !this.suffixes.has(key)) this.suffixes.set(key, this.length)
      const label = labels[index] as Uint8Array
      this.u8(label.length)
      this.bytes(label)
    }
    this.u8(0)
  }

  result(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

function encodeFlags(header: DnsHeader): number {
  return (
    (header.qr ? 0x8000 : 0) |
    ((header.opcode & 0xf) << 11) |
    (header.aa ? 0x0400 : 0) |
    (header.tc ? 0x0200 : 0) |
    (header.rd ? 0x0100 : 0) |
    (header.ra ? 0x0080 : 0) |
    (header.ad ? 0x0020 : 0) |
    (header.cd ? 0x0010 : 0) |
    (header.rcode & 0xf)
  )
}

function writeRecord(writer: Writer, record: ResourceRecord): void {
  const { data } = record
  writer.name(record.name, true)
  writer.u16(rrTypeOf(data))
  writer.u16(record.class)
  writer.u32(record.ttlSeconds)
  const lengthAt = writer.length
  writer.u16(0)
  switch (data.kind) {
    case 'A':
      writer.bytes(ipv4ToBytes(data.address))
      break
    case 'AAAA':
      writer.bytes(ipv6ToBytes(data.address))
      break
    case 'CNAME':
    case 'PTR':
      writer.name(data.target, true)
      break
    case 'SRV':
      writer.u16(data.priority)
      writer.u16(data.weight)
      writer.u16(data.port)
      // RFC 2782: the SRV target is never compressed.
      writer.name(data.target, false)
      break
    case 'SOA':
      writer.name(data.primary, true)
      writer.name(data.mailbox, true)
      writer.u32(data.serial)
      writer.u32(data.refreshSeconds)
      writer.u32(data.retrySeconds)
      writer.u32(data.expireSeconds)
      writer.u32(data.minimumSeconds)
      break
    case 'raw':
      writer.bytes(data.bytes)
      break
  }
  writer.setU16(lengthAt, writer.length - lengthAt - 2)
}

function writeMessage(message: DnsMessage, includeRecords: boolean): Uint8Array {
  const writer = new Writer()
  const answers = includeRecords ? message.answers : []
  const authorities = includeRecords ? message.authorities : []
  const additionals = includeRecords ? message.additionals : []
  writer.u16(message.header.id)
  writer.u16(encodeFlags(message.header))
  writer.u16(message.questions.length)
  writer.u16(answers.length)
  writer.u16(authorities.length)
  writer.u16(additionals.length + (message.edns === undefined ? 0 : 1))
  for (const question of message.questions) {
    writer.name(question.name, true)
    writer.u16(question.type)
    writer.u16(question.class)
  }
  for (const record of [...answers, ...authorities, ...additionals]) writeRecord(writer, record)
  if (message.edns !== undefined) {
    writer.u8(0)
    writer.u16(RR_TYPE.OPT)
    writer.u16(message.edns.udpPayloadBytes)
    writer.u32(((message.edns.version & 0xff) << 16) | (message.edns.dnssecOk ? 0x8000 : 0))
    writer.u16(0)
  }
  return writer.result()
}

/**
 * Encodes a message. With `limitBytes` (the UDP payload the client accepts), a message that does
 * not fit is sent as header, question and OPT only, with TC set, so the client asks again over
 * TCP (RFC 2181 §9: a partial RRset would be worse than none).
 */
export function encodeMessage(message: DnsMessage, limitBytes?: number): Uint8Array {
  const full = writeMessage(message, true)
  if (limitBytes === undefined || full.length <= limitBytes) return full
  return writeMessage({ ...message, header: { ...message.header, tc: true } }, false)
}

/** The UDP payload a query's sender accepts: 512 without EDNS, else its announcement within [512, `serverMaxBytes`]. */
export function udpLimitBytes(query: DnsMessage, serverMaxBytes: number): number {
  if (query.edns === undefined) return UDP_PAYLOAD_BYTES_CLASSIC
  return Math.min(serverMaxBytes, Math.max(UDP_PAYLOAD_BYTES_CLASSIC, query.edns.udpPayloadBytes))
}

/** A response header for `query`: same ID, opcode, RD and CD; QR set. */
export function responseHeader(query: DnsHeader, fields: { rcode: number; aa?: boolean; ra?: boolean; tc?: boolean }): DnsHeader {
  return { id: query.id, qr: true, opcode: query.opcode, aa: fields.aa ?? false, tc: fields.tc ?? false, rd: query.rd, ra: fields.ra ?? false, ad: false, cd: query.cd, rcode: fields.rcode }
}

/**
 * A bare error response (FORMERR, SERVFAIL, NOTIMP, …) to raw query bytes, echoing the question
 * when it parses. Undefined when not even a header can be read, or the input is itself a response:
 * such packets are dropped, never answered (no reflection loops).
 */
export function errorResponseBytes(queryBytes: Uint8Array, rcode: number): Uint8Array | undefined {
  const header = peekHeader(queryBytes)
  if (header === undefined || header.qr) return undefined
  let questions: readonly DnsQuestion[] = []
  try {
    questions = parseMessage(queryBytes).message.questions.slice(0, 1)
  } catch {
    questions = []
  }
  return encodeMessage({ header: responseHeader(header, { rcode }), questions, answers: [], authorities: [], additionals: [] })
}

// ---------------------------------------------------------------------------------------------
// Addresses

function ipv4ToBytes(address: string): Uint8Array {
  if (isIP(address) !== 4) throw new DnsNameError(`not an IPv4 address: ${JSON.stringify(address)}`)
  return Uint8Array.from(address.split('.').map(Number))
}

function ipv6ToBytes(address: string): Uint8Array {
  if (isIP(address) !== 6) throw new DnsNameError(`not an IPv6 address: ${JSON.stringify(address)}`)
  let text = address.split('%')[0] as string
  const groups: number[] = []
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    const v4 = ipv4ToBytes(tail)
    text = `${text.slice(0, lastColon + 1)}${(((v4[0] as number) << 8) | (v4[1] as number)).toString(16)}:${(((v4[2] as number) << 8) | (v4[3] as number)).toString(16)}`
  }
  const [head, rest] = text.split('::') as [string, string | undefined]
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)))
  const front = parse(head)
  const back = rest === undefined ? [] : parse(rest)
  groups.push(...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back)
  const bytes = new Uint8Array(16)
  groups.forEach((group, index) => {
    bytes[index * 2] = group >> 8
    bytes[index * 2 + 1] = group & 0xff
  })
  return bytes
}

/** RFC 5952 text for 16 address bytes: lower case, longest run (≥ 2) of zero groups as `::`. */
function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = []
  for (let index = 0; index < 16; index += 2) groups.push(((bytes[index] as number) << 8) | (bytes[index + 1] as number))
  let bestStart = -1
  let bestLength = 1
  for (let start = 0; start < 8; ) {
    let end = start
    while (end < 8 && groups[end] === 0) end++
    if (end - start > bestLength) {
      bestStart = start
      bestLength = end - start
    }
    start = end === start ? start + 1 : end
  }
  const hex = groups.map((group) => group.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}
