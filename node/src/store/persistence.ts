/**
 * How the revisioned store lies in LevelDB and in Raft snapshots.
 *
 *   s/kv/<key>   one record per live key: { value, createRevision, modRevision, version }
 *   s/meta       { format, revision, compactedRevision, timeMs }
 *
 * Records use the same framing as Raft's `r/` records (CRC-32 over key and payload, then the
 * MessagePack payload; see log-store-level.ts), so a damaged value or one under the wrong key is
 * a CorruptDataError naming the key, never served. Writes go through the `batch` of
 * `StateMachine.apply`/`restore`, which LogStoreLevel commits atomically with the applied index.
 *
 * A snapshot image is one MessagePack map { format, revision, compactedRevision, timeMs, keys },
 * `keys` an array of [key, value, createRevision, modRevision, version] in key order.
 */
import type { ClassicLevel } from 'classic-level'
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
import { encodeRecord } from '../../../consensus/src/level/log-store-level.ts'
import { crc32 } from '../../../lib/crc32.ts'
import { CorruptDataError } from '../../../lib/errors.ts'
import type { BatchOperation } from '../raft-node.ts'
import { checkKey, type KeyValue } from './commands.ts'
import { InvalidCommandError } from './errors.ts'

export const KV_KEY_PREFIX = 's/kv/'
/** The first string after every key with the prefix ('0' follows '/'). */
const KV_KEY_END = 's/kv0'
export const META_KEY = 's/meta'
/** Bumped when the layout changes, so an old binary refuses data it would misread. */
export const STORE_FORMAT = 1

const CHECKSUM_BYTES = 4
const keyEncoder = new TextEncoder()

/** The store-wide counters that live next to the keys. */
export interface StoreMeta {
  readonly revision: number
  readonly compactedRevision: number
  /** The leader's stamp on the last applied entry. */
  readonly timeMs: number
}

/** Everything the store persists: the counters and every live key. */
export interface StoreImage extends StoreMeta {
  readonly keys: readonly KeyValue[]
}

/** The batch write that stores `kv`. */
export function putKeyOperation(kv: KeyValue): BatchOperation {
  const key = KV_KEY_PREFIX + kv.key
  const record = { value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version }
  return { type: 'put', key, value: encodeRecord(key, record) }
}

/** The batch write that deletes `key`. */
export function deleteKeyOperation(key: string): BatchOperation {
  return { type: 'del', key: KV_KEY_PREFIX + key }
}

/** The batch write that stores the counters. */
export function putMetaOperation(meta: StoreMeta): BatchOperation {
  const record = { format: STORE_FORMAT, revision: meta.revision, compactedRevision: meta.compactedRevision, timeMs: meta.timeMs }
  return { type: 'put', key: META_KEY, value: encodeRecord(META_KEY, record) }
}

/**
 * Reads the store's keys and counters from LevelDB, checking every record; throws
 * CorruptDataError naming the key when one is damaged or inconsistent with the counters.
 * A database without `s/meta` and without keys is an empty store at revision 0.
 */
export async function readImage(db: ClassicLevel<string, Uint8Array>, directory: string): Promise<StoreImage> {
  const keys: KeyValue[] = []
  for await (const [dbKey, bytes] of db.iterator({ gte: KV_KEY_PREFIX, lt: KV_KEY_END })) {
    const fields = decodeRecord(dbKey, bytes, directory)
    keys.push(guard(where(directory, dbKey), () => readKeyValue(dbKey.slice(KV_KEY_PREFIX.length), fields, dbKey)))
  }
  const metaBytes = await db.get(META_KEY)
  let meta: StoreMeta = { revision: 0, compactedRevision: 0, timeMs: 0 }
  if (metaBytes !== undefined) {
    const fields = decodeRecord(META_KEY, metaBytes, directory)
    meta = guard(where(directory, META_KEY), () => readMeta(fields, META_KEY))
  } else if (keys.length > 0) {
    throw new CorruptDataError(`${where(directory, META_KEY)}: missing while ${keys.length} keys exist`)
  }
  for (const kv of keys) {
    if (kv.modRevision > meta.revision) {
      const problem = `modRevision ${kv.modRevision} beyond the store revision ${meta.revision}`
      throw new CorruptDataError(`${where(directory, KV_KEY_PREFIX + kv.key)}: ${problem}`)
    }
  }
  return { ...meta, keys }
}

/** The snapshot image of the store. */
export function encodeImage(image: StoreImage): Uint8Array {
  const keys = image.keys.map((kv) => [kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version])
  return encodeMsgpack({ format: STORE_FORMAT, revision: image.revision, compactedRevision: image.compactedRevision, timeMs: image.timeMs, keys })
}

/** Decodes and checks a snapshot image; throws CorruptDataError when it is not a valid one. */
export function decodeImage(bytes: Uint8Array): StoreImage {
  return guard('Store snapshot', () => {
    const fields = expectObject(decodeMsgpack(bytes, 'store snapshot'), 'snapshot')
    const meta = readMeta(fields, 'snapshot')
    const seen = new Set<string>()
    const keys = expectArray(fields.keys, 'snapshot.keys').map((item, position) => {
      const path = `snapshot.keys[${position}]`
      const tuple = expectArray(item, path)
      if (tuple.length !== 5) throw new MalformedMessageError(`${path}: expected 5 fields, got ${tuple.length}`)
      const key = expectString(tuple[0], `${path}[0]`)
      if (seen.has(key)) throw new MalformedMessageError(`${path}: key ${JSON.stringify(key)} repeated`)
      seen.add(key)
      const kv = readKeyValue(key, { value: tuple[1], createRevision: tuple[2], modRevision: tuple[3], version: tuple[4] }, path)
      if (kv.modRevision > meta.revision) {
        throw new MalformedMessageError(`${path}: modRevision ${kv.modRevision} beyond the snapshot revision ${meta.revision}`)
      }
      return kv
    })
    return { ...meta, keys }
  })
}

/** Verifies the CRC frame of the record under `key` and decodes its payload. */
function decodeRecord(key: string, bytes: Uint8Array, directory: string): Readonly<Record<string, unknown>> {
  const context = where(directory, key)
  if (bytes.byteLength < CHECKSUM_BYTES) throw new CorruptDataError(`${context}: ${bytes.byteLength} bytes cannot hold the checksum`)
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, false)
  const payload = bytes.subarray(CHECKSUM_BYTES)
  if (crc32(payload, crc32(keyEncoder.encode(key))) !== stored) throw new CorruptDataError(`${context}: checksum mismatch`)
  return guard(context, () => expectObject(decodeMsgpack(payload, key), key))
}

function readMeta(value: unknown, path: string): StoreMeta {
  const fields = expectObject(value, path)
  const format = expectUint(fields.format, `${path}.format`)
  if (format !== STORE_FORMAT) throw new MalformedMessageError(`${path}.format: ${format}, this binary reads only format ${STORE_FORMAT}`)
  const revision = expectUint(fields.revision, `${path}.revision`)
  const compactedRevision = expectUint(fields.compactedRevision, `${path}.compactedRevision`)
  if (compactedRevision > revision) {
    throw new MalformedMessageError(`${path}.compactedRevision: ${compactedRevision} beyond the revision ${revision}`)
  }
  return { revision, compactedRevision, timeMs: expectUint(fields.timeMs, `${path}.timeMs`) }
}

function readKeyValue(key: string, fields: Readonly<Record<string, unknown>>, path: string): KeyValue {
  try {
    checkKey(key, `${path} key`)
  } catch (error) {
    if (error instanceof InvalidCommandError) throw new MalformedMessageError(error.message)
    throw error
  }
  const createRevision = expectUint(fields.createRevision, `${path}.createRevision`)
  const modRevision = expectUint(fields.modRevision, `${path}.modRevision`)
  const version = expectUint(fields.version, `${path}.version`)
  if (createRevision < 1 || modRevision < createRevision || version < 1) {
    throw new MalformedMessageError(`${path}: inconsistent revisions (create ${createRevision}, mod ${modRevision}, version ${version})`)
  }
  return { key, value: expectBytes(fields.value, `${path}.value`), createRevision, modRevision, version }
}

/** Runs a shape check, turning MalformedMessageError into CorruptDataError prefixed by `context`. */
function guard<T>(context: string, read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (error instanceof MalformedMessageError) throw new CorruptDataError(`${context}: ${error.message}`, { cause: error })
    throw error
  }
}

function where(directory: string, key: string): string {
  return `Store record ${key} in ${directory}`
}
