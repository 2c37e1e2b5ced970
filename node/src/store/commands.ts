/**
 * The commands of the revisioned store and the results its state machine returns for them.
 *
 * Commands travel through the Raft log as MessagePack maps (msgpackr without records, so every
 * entry decodes on its own). Decoding trusts nothing: a command is checked field by field and
 * rebuilt from the checked fields only, and encoding runs the same checks, so a command that
 * encodes is exactly one that decodes. Bad input throws InvalidCommandError.
 *
 * Results are plain values handed to the proposer by `RaftNode.propose`: a failed compare-and-swap
 * or a compaction that is already done is a domain outcome (`ok: false` with a reason), never a
 * throw. A command that fails to decode inside the state machine (a buggy or newer client wrote
 * it) changes nothing and returns `{ ok: false, reason: 'invalid' }` on every replica alike.
 *
 * Revisions: the store revision starts at 0 and each command that changes at least one key takes
 * the next revision; every key it changes gets that revision as its modRevision (etcd semantics,
 * one revision per transaction). Commands that change nothing (a failed compare, deleting an
 * absent key, a compaction) do not take a revision.
 */
import {
  MalformedMessageError,
  decodeMsgpack,
  encodeMsgpack,
  expectArray,
  expectBytes,
  expectObject,
  expectString,
  expectUint,
} from '../../../consensus/src/codec.ts'
import { InvalidCommandError } from './errors.ts'

/** Longest key, in UTF-8 bytes. Kubernetes keys (prefix, namespace, name) stay far below. */
export const KEY_BYTES_MAX = 4096
/** Largest value, as etcd's default request limit (--max-request-bytes, 1.5 MiB). */
export const VALUE_BYTES_MAX = 1.5 * 1024 * 1024
/** Largest encoded command: one value at the limit plus room for keys and fields. */
export const COMMAND_BYTES_MAX = 2 * 1024 * 1024
/** Operations per transaction branch and compares per transaction, as etcd's --max-txn-ops. */
export const TXN_OPS_MAX = 128

/** In a `u` regular expression a paired surrogate is one code point, so this finds only lone ones. */
const LONE_SURROGATE = /\p{Cs}/u

/** Put `value` under `key`. With `ifModRevision`, only if the key's modRevision equals it (0: absent). */
export interface PutCommand {
  readonly op: 'put'
  readonly key: string
  readonly value: Uint8Array
  readonly ifModRevision?: number
}

/** Delete `key`. With `ifModRevision`, only if the key's modRevision equals it (0: absent). */
export interface DeleteCommand {
  readonly op: 'delete'
  readonly key: string
  readonly ifModRevision?: number
}

/** A transaction's condition: `key` has this modRevision (0: the key is absent). */
export interface TxnCompare {
  readonly key: string
  readonly modRevision: number
}

/** An operation inside a transaction branch; conditions belong in the compares. */
export type TxnOp = { readonly op: 'put'; readonly key: string; readonly value: Uint8Array } | { readonly op: 'delete'; readonly key: string }

/**
 * If every compare holds, run `success`, else `failure`, atomically, under one revision. A key may
 * appear at most once per branch (as in etcd), so each revision holds one event per key.
 */
export interface TxnCommand {
  readonly op: 'txn'
  readonly compares: readonly TxnCompare[]
  readonly success: readonly TxnOp[]
  readonly failure: readonly TxnOp[]
}

/** Drop the watch history at or below `revision` (on every replica). */
export interface CompactCommand {
  readonly op: 'compact'
  readonly revision: number
}

export type StoreCommand = PutCommand | DeleteCommand | TxnCommand | CompactCommand

/** A key with its value and revisions, as reads and results return it. */
export interface KeyValue {
  readonly key: string
  /** Shared with the store: treat as immutable. */
  readonly value: Uint8Array
  /** Revision of the put that created the key (since its last delete). */
  readonly createRevision: number
  /** Revision of the last put. */
  readonly modRevision: number
  /** Puts since creation: 1 after the creating put. */
  readonly version: number
}

/** A write took effect (or was a no-op, for deleting an absent key). */
export interface WriteApplied {
  readonly ok: true
  /** The store revision after the command: the command's own revision when it changed a key. */
  readonly revision: number
  /** The key as it was before, when it existed. */
  readonly previous?: KeyValue
}

/** The compare-and-swap condition did not hold; nothing changed. */
export interface WriteConflict {
  readonly ok: false
  readonly reason: 'conflict'
  /** The key's modRevision now (0: absent), to retry against. */
  readonly currentModRevision: number
  /** The store revision now. */
  readonly revision: number
}

export type PutResult = WriteApplied | WriteConflict
export type DeleteResult = WriteApplied | WriteConflict

export interface TxnResult {
  readonly ok: true
  /** The store revision after the transaction. */
  readonly revision: number
  /** Whether every compare held (so `success` ran). */
  readonly succeeded: boolean
  /** One per operation of the branch that ran, in order. */
  readonly results: ReadonlyArray<{ readonly previous?: KeyValue }>
}

export type CompactResult =
  | { readonly ok: true; readonly revision: number; readonly compactedRevision: number }
  /** Already compacted at or beyond the requested revision (etcd: ErrCompacted). */
  | { readonly ok: false; readonly reason: 'compacted'; readonly compactedRevision: number; readonly revision: number }
  /** The requested revision is beyond the store revision (etcd: ErrFutureRev). */
  | { readonly ok: false; readonly reason: 'future-revision'; readonly revision: number }

/** The entry did not decode to a valid command; nothing changed. */
export interface InvalidCommandResult {
  readonly ok: false
  readonly reason: 'invalid'
  readonly message: string
}

export type StoreResult = PutResult | DeleteResult | TxnResult | CompactResult | InvalidCommandResult

/** The result type `apply` returns for each command type. */
export type ResultOf<C extends StoreCommand> = C extends PutCommand
  ? PutResult
  : C extends DeleteCommand
    ? DeleteResult
    : C extends TxnCommand
      ? TxnResult
      : CompactResult

/** MessagePack bytes of a valid command; throws InvalidCommandError when it is not one. */
export function encodeCommand(command: StoreCommand): Uint8Array {
  const bytes = encodeMsgpack(checked(() => readCommand(command, 'command')))
  if (bytes.byteLength > COMMAND_BYTES_MAX) {
    throw new InvalidCommandError(`command: ${bytes.byteLength} bytes encoded, more than the ${COMMAND_BYTES_MAX} allowed`)
  }
  return bytes
}

/** The command in `bytes`, validated; throws InvalidCommandError on anything else. */
export function decodeCommand(bytes: Uint8Array): StoreCommand {
  if (bytes.byteLength > COMMAND_BYTES_MAX) {
    throw new InvalidCommandError(`command: ${bytes.byteLength} bytes, more than the ${COMMAND_BYTES_MAX} allowed`)
  }
  return checked(() => readCommand(decodeMsgpack(bytes, 'command'), 'command'))
}

/**
 * Checks a key: a non-empty, well-formed string (no lone UTF-16 surrogates, which UTF-8 cannot
 * carry: two such keys would collide in LevelDB) of at most KEY_BYTES_MAX UTF-8 bytes. Throws
 * InvalidCommandError.
 */
export function checkKey(key: unknown, path = 'key'): string {
  return checked(() => readKey(key, path))
}

/** Runs a shape check, turning the codec's MalformedMessageError into InvalidCommandError. */
function checked<T>(read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (error instanceof MalformedMessageError) throw new InvalidCommandError(error.message, { cause: error })
    throw error
  }
}

function readCommand(value: unknown, path: string): StoreCommand {
  const fields = expectObject(value, path)
  switch (fields.op) {
    case 'put': {
      const key = readKey(fields.key, `${path}.key`)
      const bytes = readValue(fields.value, `${path}.value`)
      if (fields.ifModRevision === undefined) return { op: 'put', key, value: bytes }
      return { op: 'put', key, value: bytes, ifModRevision: expectUint(fields.ifModRevision, `${path}.ifModRevision`) }
    }
    case 'delete': {
      const key = readKey(fields.key, `${path}.key`)
      if (fields.ifModRevision === undefined) return { op: 'delete', key }
      return { op: 'delete', key, ifModRevision: expectUint(fields.ifModRevision, `${path}.ifModRevision`) }
    }
    case 'txn':
      return readTxn(fields, path)
    case 'compact':
      return { op: 'compact', revision: expectUint(fields.revision, `${path}.revision`) }
    default:
      throw new MalformedMessageError(`${path}.op: expected 'put', 'delete', 'txn' or 'compact', got ${String(fields.op)}`)
  }
}

function readTxn(fields: Readonly<Record<string, unknown>>, path: string): TxnCommand {
  const compareItems = boundedArray(fields.compares, `${path}.compares`)
  const compares = compareItems.map((item, position) => {
    const itemPath = `${path}.compares[${position}]`
    const compare = expectObject(item, itemPath)
    return { key: readKey(compare.key, `${itemPath}.key`), modRevision: expectUint(compare.modRevision, `${itemPath}.modRevision`) }
  })
  return { op: 'txn', compares, success: readBranch(fields.success, `${path}.success`), failure: readBranch(fields.failure, `${path}.failure`) }
}

function readBranch(value: unknown, path: string): TxnOp[] {
  const seen = new Set<string>()
  return boundedArray(value, path).map((item, position) => {
    const itemPath = `${path}[${position}]`
    const fields = expectObject(item, itemPath)
    const key = readKey(fields.key, `${itemPath}.key`)
    if (seen.has(key)) throw new MalformedMessageError(`${itemPath}.key: ${JSON.stringify(key)} appears twice in one branch`)
    seen.add(key)
    if (fields.ifModRevision !== undefined) {
      throw new MalformedMessageError(`${itemPath}.ifModRevision: not allowed inside a transaction; use its compares`)
    }
    if (fields.op === 'put') return { op: 'put', key, value: readValue(fields.value, `${itemPath}.value`) }
    if (fields.op === 'delete') return { op: 'delete', key }
    throw new MalformedMessageError(`${itemPath}.op: expected 'put' or 'delete', got ${String(fields.op)}`)
  })
}

function boundedArray(value: unknown, path: string): readonly unknown[] {
  const items = expectArray(value, path)
  if (items.length > TXN_OPS_MAX) throw new MalformedMessageError(`${path}: ${items.length} items, more than the ${TXN_OPS_MAX} allowed`)
  return items
}

function readKey(value: unknown, path: string): string {
  const key = expectString(value, path)
  if (key.length === 0) throw new MalformedMessageError(`${path}: must not be empty`)
  if (LONE_SURROGATE.test(key)) throw new MalformedMessageError(`${path}: contains a lone UTF-16 surrogate`)
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes > KEY_BYTES_MAX) throw new MalformedMessageError(`${path}: ${bytes} UTF-8 bytes, more than the ${KEY_BYTES_MAX} allowed`)
  return key
}

function readValue(value: unknown, path: string): Uint8Array {
  const bytes = expectBytes(value, path)
  if (bytes.byteLength > VALUE_BYTES_MAX) {
    throw new MalformedMessageError(`${path}: ${bytes.byteLength} bytes, more than the ${VALUE_BYTES_MAX} allowed`)
  }
  return bytes
}
