/**
 * Binary encoding of Raft messages for the transports, and the shape checks shared with the
 * LevelDB log store.
 *
 * The format is MessagePack (msgpackr) of the plain objects in types.ts: maps with the field names
 * as keys, `Uint8Array` as MessagePack `bin`. Decoding trusts nothing: the bytes come from the
 * network, so every field is checked for presence and type, and the result is rebuilt from the
 * checked fields only (unknown fields are dropped). Anything that does not fit throws
 * MalformedMessageError; the transport drops such a message and may drop the connection.
 */
import { Packr } from 'msgpackr'
import { FlotillaError } from '../../lib/errors.ts'
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  SnapshotMeta,
} from './types.ts'

/** Bytes that are not a well-formed encoding of the expected value. */
export class MalformedMessageError extends FlotillaError {
  override name = 'MalformedMessageError'
}

/**
 * `useRecords: false` keeps the encoding self-describing (no msgpackr record extension, whose
 * structure table would make every message depend on earlier ones). `copyBuffers: true` makes
 * decoded `bin` fields own their bytes instead of pointing into the input, which a transport may
 * reuse and which would otherwise be kept alive by every entry decoded from it.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true })

/** MessagePack bytes of a plain value (objects, arrays, strings, numbers, booleans, Uint8Array). */
export function encodeMsgpack(value: unknown): Uint8Array {
  return packr.pack(value)
}

/**
 * Decodes exactly one MessagePack value that fills all of `bytes`. `what` names the value in the
 * error message. Byte strings in the result are plain Uint8Array copies.
 */
export function decodeMsgpack(bytes: Uint8Array, what: string): unknown {
  if (bytes.byteLength === 0) throw new MalformedMessageError(`${what}: empty input`)
  // A Buffer input would make msgpackr return Buffers (it slices with the input's own species);
  // a plain view over the same memory makes the copies plain Uint8Arrays.
  const plain = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    return packr.unpack(plain)
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new MalformedMessageError(`${what}: not valid MessagePack (${reason})`, { cause: error })
  }
}

/** Encodes a message for the wire. */
export function encodeMessage(message: Message): Uint8Array {
  return encodeMsgpack(message)
}

/** Decodes and validates a message from the wire; throws MalformedMessageError on anything else. */
export function decodeMessage(bytes: Uint8Array): Message {
  return readMessage(decodeMsgpack(bytes, 'message'), 'message')
}

// Shape checks. Each takes the value and a path that names it in error messages.

type Fields = Readonly<Record<string, unknown>>

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`
  if (typeof value === 'object') return `an object (${Object.getPrototypeOf(value)?.constructor?.name ?? 'no prototype'})`
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  return `${typeof value} ${String(value)}`
}

function malformed(path: string, expected: string, value: unknown): MalformedMessageError {
  return new MalformedMessageError(`${path}: expected ${expected}, got ${describe(value)}`)
}

/** A plain object (not an array, byte string, Date, Map or other decoded extension type). */
export function expectObject(value: unknown, path: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(path, 'an object', value)
  const prototype: unknown = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) throw malformed(path, 'a plain object', value)
  return value as Fields
}

/** A non-negative safe integer: indexes, terms, offsets, sizes. */
export function expectUint(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(path, 'a non-negative safe integer', value)
  }
  return value
}

export function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string') throw malformed(path, 'a string', value)
  return value
}

export function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw malformed(path, 'a boolean', value)
  return value
}

/** A byte string, returned as a plain Uint8Array (a Buffer is re-viewed, not copied). */
export function expectBytes(value: unknown, path: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(path, 'a byte string', value)
  return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}

export function expectArray(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw malformed(path, 'an array', value)
  return value
}

function readNodeIds(value: unknown, path: string): NodeId[] {
  return expectArray(value, path).map((item, position) => expectString(item, `${path}[${position}]`))
}

export function readConfState(value: unknown, path: string): ConfState {
  const fields = expectObject(value, path)
  const confState: ConfState = {
    voters: readNodeIds(fields.voters, `${path}.voters`),
    learners: readNodeIds(fields.learners, `${path}.learners`),
  }
  if (fields.removed === undefined) return confState
  return { ...confState, removed: readNodeIds(fields.removed, `${path}.removed`) }
}

function readConfChange(value: unknown, path: string): ConfChange {
  const fields = expectObject(value, path)
  const type = fields.type
  if (type !== 'add-voter' && type !== 'add-learner' && type !== 'remove') {
    throw malformed(`${path}.type`, "'add-voter', 'add-learner' or 'remove'", type)
  }
  return { type, nodeId: expectString(fields.nodeId, `${path}.nodeId`) }
}

export function readEntry(value: unknown, path: string): Entry {
  const fields = expectObject(value, path)
  const term = expectUint(fields.term, `${path}.term`)
  const index = expectUint(fields.index, `${path}.index`)
  switch (fields.type) {
    case 'normal':
      if (fields.timeMs === undefined) return { type: 'normal', term, index, data: expectBytes(fields.data, `${path}.data`) }
      return { type: 'normal', term, index, data: expectBytes(fields.data, `${path}.data`), timeMs: expectUint(fields.timeMs, `${path}.timeMs`) }
    case 'conf':
      return { type: 'conf', term, index, change: readConfChange(fields.change, `${path}.change`) }
    default:
      throw malformed(`${path}.type`, "'normal' or 'conf'", fields.type)
  }
}

function readEntries(value: unknown, path: string): Entry[] {
  return expectArray(value, path).map((item, position) => readEntry(item, `${path}[${position}]`))
}

export function readHardState(value: unknown, path: string): HardState {
  const fields = expectObject(value, path)
  return {
    term: expectUint(fields.term, `${path}.term`),
    vote: expectString(fields.vote, `${path}.vote`),
    commit: expectUint(fields.commit, `${path}.commit`),
  }
}

export function readSnapshotMeta(value: unknown, path: string): SnapshotMeta {
  const fields = expectObject(value, path)
  return {
    index: expectUint(fields.index, `${path}.index`),
    term: expectUint(fields.term, `${path}.term`),
    confState: readConfState(fields.confState, `${path}.confState`),
  }
}

/** Checks every field a message of its `type` must have; the result holds only those fields. */
export function readMessage(value: unknown, path: string): Message {
  const fields = expectObject(value, path)
  const from = expectString(fields.from, `${path}.from`)
  const to = expectString(fields.to, `${path}.to`)
  const term = expectUint(fields.term, `${path}.term`)
  const uint = (name: string): number => expectUint(fields[name], `${path}.${name}`)
  const string = (name: string): string => expectString(fields[name], `${path}.${name}`)
  const boolean = (name: string): boolean => expectBoolean(fields[name], `${path}.${name}`)
  const type = fields.type
  switch (type) {
    case 'app':
      return {
        type,
        from,
        to,
        term,
        index: uint('index'),
        logTerm: uint('logTerm'),
        entries: readEntries(fields.entries, `${path}.entries`),
        commit: uint('commit'),
      }
    case 'app-resp':
      return {
        type,
        from,
        to,
        term,
        index: uint('index'),
        reject: boolean('reject'),
        rejectHint: uint('rejectHint'),
        logTerm: uint('logTerm'),
      }
    case 'vote':
    case 'pre-vote':
      return { type, from, to, term, index: uint('index'), logTerm: uint('logTerm'), transfer: boolean('transfer') }
    case 'vote-resp':
    case 'pre-vote-resp':
      return { type, from, to, term, reject: boolean('reject') }
    case 'heartbeat':
      return { type, from, to, term, commit: uint('commit'), context: string('context') }
    case 'heartbeat-resp':
    case 'read-index':
      return { type, from, to, term, context: string('context') }
    case 'snap':
      return {
        type,
        from,
        to,
        term,
        meta: readSnapshotMeta(fields.meta, `${path}.meta`),
        offset: uint('offset'),
        totalBytes: uint('totalBytes'),
        chunk: expectBytes(fields.chunk, `${path}.chunk`),
        done: boolean('done'),
      }
    case 'snap-resp':
      return { type, from, to, term, index: uint('index'), offset: uint('offset'), reject: boolean('reject') }
    case 'read-index-resp':
      return { type, from, to, term, index: uint('index'), context: string('context') }
    case 'prop':
      return { type, from, to, term, entries: readEntries(fields.entries, `${path}.entries`) }
    case 'transfer-leader':
      return { type, from, to, term, transferee: string('transferee') }
    case 'timeout-now':
      return { type, from, to, term }
    default:
      throw malformed(`${path}.type`, 'a known message type', type)
  }
}
