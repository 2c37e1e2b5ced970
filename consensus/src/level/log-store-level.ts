/**
 * Durable Raft storage on LevelDB: the log, the hard state, the latest snapshot, and the applied
 * index with the membership it produced. One LevelDB per node directory, shared with the state
 * machine: Raft owns the keys under `r/`, the state machine writes under `s/`.
 *
 * Layout (every value is a record: 4-byte big-endian CRC-32 of key bytes ++ payload, then payload;
 * the payload is MessagePack unless noted):
 *
 *   r/mf              manifest: { hasSnapshot, snapshotIndex, lastIndex }. Names what must exist,
 *                     so a record that LevelDB lost or that a damaged block hides is noticed.
 *   r/hs              hard state { term, vote, commit }
 *   r/ap              { applied, confState }: how far the state machine's `s/` keys have applied
 *   r/e/<index>       one entry; index as 16 lowercase hex digits so keys sort numerically. Held
 *                     for exactly (snapshotIndex, lastIndex], each record also carries its index.
 *   r/sm              snapshot meta { index, term, confState, totalBytes, chunkCount, dataCrc }
 *   r/sd/<chunk>      snapshot data, chunk number as 8 hex digits, ≤ 1 MiB each, raw bytes
 *
 * Because the checksum covers the key, a value that lands under another key fails it too.
 *
 * Crash safety. Every public write method issues exactly one LevelDB batch with `sync: true`.
 * LevelDB appends a batch to its write-ahead log as one logical record with per-fragment CRCs and
 * fsyncs it before the promise resolves; recovery replays whole records and drops a torn one at
 * the tail. A crash therefore leaves the state after some prefix of the batches: all acknowledged
 * ones, plus possibly the one in flight (which nobody acted on, since Raft sends nothing that
 * depends on a write before the write is acknowledged), and never part of a batch. Each batch
 * carries everything that must agree: new entries with the deletion of the suffix they replace and
 * the manifest; a snapshot with its chunks, the deletion of stale chunks and covered entries, and
 * the manifest; state-machine writes with the applied index and membership. So every state a crash
 * can leave passes the checks in `load`.
 *
 * Between two operations a crash can leave one well-defined intermediate state: a snapshot
 * installed by `persist` before `persistApplied` recorded the restored state machine. Then
 * applied < snapshot index; `load` reports it and takes the membership from the snapshot, and the
 * driver must restore the snapshot into the state machine.
 *
 * Damage. `load` verifies every record (checksum, decoding, key/index agreement, contiguity,
 * non-decreasing terms, the manifest, snapshot chunks and checksum, commit and applied bounds) and
 * throws CorruptDataError naming the key. LevelDB's own corruption errors become CorruptDataError.
 * LevelDB (without paranoid checks, which classic-level does not expose) silently skips damaged
 * write-ahead-log records on open and only notes it in its info log `LOG`; `open` reads that log,
 * and when records were dropped it writes the marker file CORRUPTION_MARKER_FILE and refuses, now
 * and on every later open (LevelDB has already rewritten the log without those records), until an
 * operator removes the marker. What cannot be detected: the log's tail lost at a record boundary,
 * which looks exactly like a crash before those writes; with synced writes that takes a disk that
 * lies about fsync.
 */
import { ClassicLevel } from 'classic-level'
import { open as openFile, readFile } from 'node:fs/promises'
import path from 'node:path'
import { assert } from '../../../lib/assert.ts'
import { crc32 } from '../../../lib/crc32.ts'
import { CorruptDataError } from '../../../lib/errors.ts'
import {
  MalformedMessageError,
  decodeMsgpack,
  encodeMsgpack,
  expectBoolean,
  expectObject,
  expectUint,
  readConfState,
  readEntry,
  readHardState,
  readSnapshotMeta,
} from '../codec.ts'
import { MemoryStorage } from '../storage.ts'
import {
  EMPTY_HARD_STATE,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type SnapshotMeta,
} from '../types.ts'

/** Every key Raft writes starts with this; the state machine must stay out of it. */
export const RAFT_KEY_PREFIX = 'r/'
const RAFT_KEY_END = 'r0' // The first string after every key with the prefix ('0' follows '/').
const MANIFEST_KEY = 'r/mf'
const HARD_STATE_KEY = 'r/hs'
const APPLIED_KEY = 'r/ap'
const SNAPSHOT_META_KEY = 'r/sm'
const ENTRY_KEY_PREFIX = 'r/e/'
const SNAPSHOT_CHUNK_KEY_PREFIX = 'r/sd/'
const ENTRY_KEY_PATTERN = /^r\/e\/[0-9a-f]{16}$/
const SNAPSHOT_CHUNK_KEY_PATTERN = /^r\/sd\/[0-9a-f]{8}$/

/** Snapshot data is split so no single LevelDB value (and write-ahead-log record) gets huge. */
export const SNAPSHOT_CHUNK_MAX_BYTES = 1024 * 1024

/** Written into the node directory when LevelDB dropped damaged log records; blocks every open. */
export const CORRUPTION_MARKER_FILE = 'FLOTILLA-CORRUPTED'

const CHECKSUM_BYTES = 4
const keyEncoder = new TextEncoder()

/** A state-machine write, committed in the same batch as the applied index. */
export type StateMachineOp =
  | { readonly type: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: string }

type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

/** What one Raft step made durable-to-be; applied in the order snapshot, entries, hard state. */
/**
 * `sync: false` skips the fsync. LevelDB still writes the batch atomically and in order, so a
 * crash can only lose a suffix of unsynced batches, never reorder or tear one. That is safe where
 * the data can be rebuilt: a commit-index-only hard state (relearned from the leader) and applied
 * state (re-applied from the durable log).
 */
export interface WriteOptions {
  readonly sync: boolean
}

export interface PersistUpdate {
  readonly hardState?: HardState
  readonly entries?: readonly Entry[]
  readonly snapshot?: Snapshot
}

export interface LoadedState {
  /** The log exactly as durable, for the core to read. */
  readonly storage: MemoryStorage
  /** The index the state machine's keys reflect; below the snapshot index after a crash mid-install. */
  readonly applied: number
}

interface Manifest {
  readonly hasSnapshot: boolean
  readonly snapshotIndex: number
  readonly lastIndex: number
}

interface SnapshotRecord extends SnapshotMeta {
  readonly totalBytes: number
  readonly chunkCount: number
  readonly dataCrc: number
}

interface AppliedRecord {
  readonly applied: number
  readonly confState: ConfState
}

/** The durable facts the write methods need; replaced as a whole after each successful batch. */
interface Tracked {
  readonly hasSnapshot: boolean
  readonly snapshotIndex: number
  readonly snapshotTerm: number
  readonly snapshotChunkCount: number
  readonly lastIndex: number
  readonly lastTerm: number
  readonly hardState: HardState
  readonly applied: number
}

/** The key of entry `index`: fixed-width hex so lexicographic order is numeric order. */
export function entryKey(index: number): string {
  return ENTRY_KEY_PREFIX + index.toString(16).padStart(16, '0')
}

function snapshotChunkKey(chunkNumber: number): string {
  return SNAPSHOT_CHUNK_KEY_PREFIX + chunkNumber.toString(16).padStart(8, '0')
}

function recordChecksum(key: string, payload: Uint8Array): number {
  return crc32(payload, crc32(keyEncoder.encode(key)))
}

function frame(key: string, payload: Uint8Array): Uint8Array {
  const record = new Uint8Array(CHECKSUM_BYTES + payload.byteLength)
  new DataView(record.buffer).setUint32(0, recordChecksum(key, payload), false)
  record.set(payload, CHECKSUM_BYTES)
  return record
}

/** The stored form of `value` under `key`: checksum frame around its MessagePack encoding. */
export function encodeRecord(key: string, value: unknown): Uint8Array {
  return frame(key, encodeMsgpack(value))
}

function corrupt(directory: string, key: string, problem: string, cause?: unknown): CorruptDataError {
  const options = cause === undefined ? undefined : { cause }
  return new CorruptDataError(`Raft record ${key} in ${directory}: ${problem}`, options)
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
}

/**
 * Turns LevelDB's reports of damaged files into CorruptDataError; anything else is returned as is.
 * With `ioErrorsAreCorruption`, I/O errors count too: while reading existing data at startup they
 * mean files LevelDB's manifest promises cannot be read (a truncated table reads as EINVAL), and
 * the node must not serve from them either way.
 */
function levelError(error: unknown, context: string, ioErrorsAreCorruption: boolean): unknown {
  const cause: unknown = typeof error === 'object' && error !== null ? (error as { cause?: unknown }).cause : undefined
  const codes = [errorCode(error), errorCode(cause)]
  const messages = [error, cause]
    .map((item) => (item instanceof Error ? item.message : ''))
    .filter((message) => message !== '')
    .join(': ')
  const isCorruption =
    codes.includes('LEVEL_CORRUPTION') ||
    /\bCorruption:/.test(messages) || // LevelDB's Status::Corruption text, whatever the code says.
    (ioErrorsAreCorruption && codes.includes('LEVEL_IO_ERROR'))
  if (!isCorruption) return error
  return new CorruptDataError(`${context}: ${messages}`, { cause: error })
}

export class LogStoreLevel {
  private readonly database: ClassicLevel<string, Uint8Array>
  private readonly directory: string
  private tracked: Tracked | undefined
  /** Operations run one at a time, each seeing the state the previous one left. */
  private tail: Promise<unknown> = Promise.resolve()

  private constructor(database: ClassicLevel<string, Uint8Array>, directory: string) {
    this.database = database
    this.directory = directory
  }

  /**
   * Opens (creating if missing) the store in `directory`. Throws CorruptDataError when LevelDB
   * cannot open its files because they are damaged, when LevelDB dropped damaged log records
   * while recovering, or when an earlier open found that and left the marker file.
   */
  static async open(directory: string): Promise<LogStoreLevel> {
    await refuseIfMarked(directory)
    const database = new ClassicLevel<string, Uint8Array>(directory, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await database.open()
    } catch (error) {
      throw levelError(error, `LevelDB in ${directory} cannot be opened`, false)
    }
    try {
      await refuseIfRecoveryDroppedRecords(directory)
      let isEmpty: boolean
      try {
        isEmpty = (await database.keys({ limit: 1 }).all()).length === 0
      } catch (error) {
        throw levelError(error, `LevelDB in ${directory} cannot be read`, true)
      }
      // A fresh store gets its required records now, so that from here on a store without them
      // is one that lost them.
      if (isEmpty) await database.batch(initialRecords(), { sync: true })
    } catch (error) {
      await database.close()
      throw error
    }
    return new LogStoreLevel(database, directory)
  }

  /** Waits for queued operations, then closes LevelDB. */
  async close(): Promise<void> {
    await this.tail
    await this.database.close()
  }

  /**
   * The LevelDB instance, for the state machine's own keys (outside RAFT_KEY_PREFIX). Writes that
   * must be atomic with the applied index go through `persistApplied` instead.
   */
  get db(): ClassicLevel<string, Uint8Array> {
    return this.database
  }

  /**
   * Reads and verifies everything under `r/` and rebuilds the MemoryStorage the core reads.
   * Throws CorruptDataError, naming the key, on any damaged, missing or inconsistent record.
   * Must run before the write methods, which rely on what it learns.
   */
  load(): Promise<LoadedState> {
    return this.serialized(() => this.loadNow())
  }

  /**
   * Makes a Raft update durable in one synced batch: an installed snapshot (which replaces the
   * whole log, as MemoryStorage.applySnapshot does; one older than the current snapshot is
   * ignored), then entries (replacing any suffix from their first index), then the hard state.
   */
  persist(update: PersistUpdate, options: WriteOptions = { sync: true }): Promise<void> {
    return this.serialized(async () => {
      const before = this.requireLoaded()
      let after: Tracked = before
      const operations: BatchOp[] = []
      const snapshot = update.snapshot
      if (snapshot !== undefined && snapshot.meta.index >= before.snapshotIndex) {
        for (let index = before.snapshotIndex + 1; index <= before.lastIndex; index++) {
          operations.push({ type: 'del', key: entryKey(index) })
        }
        after = {
          ...after,
          hasSnapshot: true,
          snapshotIndex: snapshot.meta.index,
          snapshotTerm: snapshot.meta.term,
          snapshotChunkCount: pushSnapshot(operations, snapshot, before.snapshotChunkCount),
          lastIndex: snapshot.meta.index,
          lastTerm: snapshot.meta.term,
        }
      }
      if (update.entries !== undefined && update.entries.length > 0) {
        after = await this.pushEntries(operations, update.entries, after)
      }
      if (update.hardState !== undefined) {
        operations.push({ type: 'put', key: HARD_STATE_KEY, value: encodeRecord(HARD_STATE_KEY, update.hardState) })
        after = { ...after, hardState: update.hardState }
      }
      if (operations.length === 0) return
      // Checked before writing: load would reject the result, so the driver is wrong, not the disk.
      const commit = after.hardState.commit
      assert(commit <= after.lastIndex, `persist: commit ${commit} beyond last index ${after.lastIndex}`)
      assert(commit >= after.snapshotIndex, `persist: commit ${commit} below snapshot index ${after.snapshotIndex}`)
      pushManifest(operations, before, after)
      await this.database.batch(operations, { sync: options.sync })
      this.tracked = after
    })
  }

  /**
   * Deletes stored entries up to `index`, which must not pass the durable snapshot: a reload
   * rebuilds the log from the snapshot, so the log can only start right after it. Since both
   * ways of recording a snapshot already drop the entries it covers, this finds nothing to delete
   * unless an older version of the store left some.
   */
  compact(index: number): Promise<void> {
    return this.serialized(async () => {
      const tracked = this.requireLoaded()
      assert(index <= tracked.snapshotIndex, `compact ${index} beyond snapshot index ${tracked.snapshotIndex}`)
      const keys = await this.database.keys({ gte: ENTRY_KEY_PREFIX, lte: entryKey(index) }).all()
      if (keys.length === 0) return
      await this.database.batch(
        keys.map((key): BatchOp => ({ type: 'del', key })),
        { sync: true },
      )
    })
  }

  /**
   * Commits the state machine's writes for entries up to `applied`, with `applied` itself and the
   * membership in force there, in one synced batch: after a crash the state machine's keys and the
   * applied index always agree. `operations` must stay outside RAFT_KEY_PREFIX.
   */
  persistApplied(
    applied: number,
    confState: ConfState,
    operations: readonly StateMachineOp[],
    options: WriteOptions = { sync: true },
  ): Promise<void> {
    return this.serialized(async () => {
      const tracked = this.requireLoaded()
      assert(applied <= tracked.hardState.commit, `applied ${applied} beyond durable commit ${tracked.hardState.commit}`)
      assert(applied >= tracked.applied, `applied index moves back from ${tracked.applied} to ${applied}`)
      const batch: BatchOp[] = operations.map((operation) => {
        assert(!operation.key.startsWith(RAFT_KEY_PREFIX), `state machine key ${operation.key} is in Raft's key space`)
        return operation.type === 'put'
          ? { type: 'put', key: operation.key, value: operation.value }
          : { type: 'del', key: operation.key }
      })
      const record: AppliedRecord = { applied, confState }
      batch.push({ type: 'put', key: APPLIED_KEY, value: encodeRecord(APPLIED_KEY, record) })
      await this.database.batch(batch, { sync: options.sync })
      this.tracked = { ...tracked, applied }
    })
  }

  /**
   * Records a snapshot the state machine took locally at an index in the log, and drops the
   * entries it covers, in one synced batch (the MemoryStorage equivalent is createSnapshot then
   * compact). The snapshot's term must be the term of the entry at its index.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.serialized(async () => {
      const before = this.requireLoaded()
      const { index, term } = snapshot.meta
      assert(index >= before.snapshotIndex, `snapshot index ${index} below current snapshot ${before.snapshotIndex}`)
      assert(index <= before.lastIndex, `snapshot index ${index} beyond last index ${before.lastIndex}`)
      const termAtIndex = await this.termAt(index, before)
      assert(term === termAtIndex, `snapshot term ${term} differs from term ${termAtIndex} of entry ${index}`)
      const operations: BatchOp[] = []
      for (let covered = before.snapshotIndex + 1; covered <= index; covered++) {
        operations.push({ type: 'del', key: entryKey(covered) })
      }
      const after: Tracked = {
        ...before,
        hasSnapshot: true,
        snapshotIndex: index,
        snapshotTerm: term,
        snapshotChunkCount: pushSnapshot(operations, snapshot, before.snapshotChunkCount),
      }
      pushManifest(operations, before, after)
      await this.database.batch(operations, { sync: true })
      this.tracked = after
    })
  }

  private serialized<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(operation)
    this.tail = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }

  private requireLoaded(): Tracked {
    assert(this.tracked !== undefined, 'LogStoreLevel: call load() before writing')
    return this.tracked
  }

  /** Adds puts for `entries` and deletes for the old suffix beyond them; returns the new state. */
  private async pushEntries(operations: BatchOp[], entries: readonly Entry[], state: Tracked): Promise<Tracked> {
    const first = entries[0]!
    assert(first.index <= state.lastIndex + 1, `append gap: ${first.index} after ${state.lastIndex}`)
    // Entries the snapshot covers are already part of it (MemoryStorage.append skips them too).
    const usable = first.index <= state.snapshotIndex ? entries.filter((entry) => entry.index > state.snapshotIndex) : entries
    if (usable.length === 0) return state
    const firstUsable = usable[0]!
    let previousTerm = await this.termAt(firstUsable.index - 1, state)
    let expectedIndex = firstUsable.index
    for (const entry of usable) {
      assert(entry.index === expectedIndex, `entries not contiguous: ${entry.index} where ${expectedIndex} belongs`)
      assert(entry.term >= previousTerm, `entry ${entry.index} term ${entry.term} below preceding term ${previousTerm}`)
      const key = entryKey(entry.index)
      operations.push({ type: 'put', key, value: encodeRecord(key, entry) })
      previousTerm = entry.term
      expectedIndex++
    }
    const newLastIndex = expectedIndex - 1
    for (let stale = newLastIndex + 1; stale <= state.lastIndex; stale++) {
      operations.push({ type: 'del', key: entryKey(stale) })
    }
    return { ...state, lastIndex: newLastIndex, lastTerm: previousTerm }
  }

  /** The term at `index` in the durable log, which must hold it (snapshot index to last index). */
  private async termAt(index: number, state: Tracked): Promise<number> {
    if (index === state.lastIndex) return state.lastTerm
    if (index === state.snapshotIndex) return state.snapshotTerm
    assert(index > state.snapshotIndex && index < state.lastIndex, `term of ${index} is not in the log`)
    const key = entryKey(index)
    const value = await this.database.get(key)
    if (value === undefined) throw corrupt(this.directory, key, 'missing inside the log')
    return this.decode(key, value, readEntry).term
  }

  private async loadNow(): Promise<LoadedState> {
    const found = await this.readRaftRecords()
    const manifest = required(this.directory, MANIFEST_KEY, found.manifest)
    const hardState = required(this.directory, HARD_STATE_KEY, found.hardState)
    const appliedRecord = required(this.directory, APPLIED_KEY, found.applied)
    const snapshotRecord = found.snapshot

    if (manifest.hasSnapshot !== (snapshotRecord !== undefined)) {
      const problem = manifest.hasSnapshot ? 'missing, yet the manifest records a snapshot' : 'present, yet the manifest records none'
      throw corrupt(this.directory, SNAPSHOT_META_KEY, problem)
    }
    const snapshotIndex = snapshotRecord?.index ?? 0
    const snapshotTerm = snapshotRecord?.term ?? 0
    if (manifest.snapshotIndex !== snapshotIndex) {
      throw corrupt(this.directory, MANIFEST_KEY, `snapshot index ${manifest.snapshotIndex}, but ${SNAPSHOT_META_KEY} says ${snapshotIndex}`)
    }

    const entries = found.entries
    const firstEntry = entries[0]
    const lastEntry = entries.at(-1)
    if (firstEntry !== undefined && firstEntry.index <= snapshotIndex) {
      throw corrupt(this.directory, entryKey(firstEntry.index), `present, yet the snapshot at ${snapshotIndex} covers it`)
    }
    this.checkContiguous(entries)
    if (firstEntry !== undefined && firstEntry.index !== snapshotIndex + 1) {
      throw corrupt(this.directory, entryKey(firstEntry.index), `the log must start at ${snapshotIndex + 1}, right after the snapshot`)
    }
    if (firstEntry !== undefined && firstEntry.term < snapshotTerm) {
      throw corrupt(this.directory, entryKey(firstEntry.index), `term ${firstEntry.term} below the snapshot's term ${snapshotTerm}`)
    }
    const lastIndex = lastEntry?.index ?? snapshotIndex
    if (manifest.lastIndex !== lastIndex) {
      throw corrupt(this.directory, MANIFEST_KEY, `last index ${manifest.lastIndex}, but the stored log ends at ${lastIndex}`)
    }

    const snapshotData = snapshotRecord === undefined ? new Uint8Array(0) : this.assembleSnapshot(snapshotRecord, found.chunks)
    if (snapshotRecord === undefined && found.chunks.size > 0) {
      const [chunkNumber] = found.chunks.keys()
      throw corrupt(this.directory, snapshotChunkKey(chunkNumber!), 'snapshot data without a snapshot')
    }

    if (hardState.commit > lastIndex) {
      throw corrupt(this.directory, HARD_STATE_KEY, `commit ${hardState.commit} beyond the last index ${lastIndex}`)
    }
    if (hardState.commit < snapshotIndex) {
      throw corrupt(this.directory, HARD_STATE_KEY, `commit ${hardState.commit} below the snapshot index ${snapshotIndex}`)
    }
    if (appliedRecord.applied > hardState.commit) {
      throw corrupt(this.directory, APPLIED_KEY, `applied ${appliedRecord.applied} beyond commit ${hardState.commit}`)
    }

    const storage = new MemoryStorage()
    if (snapshotRecord !== undefined) {
      const { index, term, confState } = snapshotRecord
      storage.applySnapshot({ meta: { index, term, confState }, data: snapshotData })
    }
    storage.append(entries)
    storage.setHardState(hardState)
    // The applied record's membership is current unless a crash fell between installing a
    // snapshot and recording the restored state machine; then the snapshot's is.
    if (snapshotRecord === undefined || appliedRecord.applied >= snapshotIndex) {
      storage.setConfState(appliedRecord.confState)
    }

    this.tracked = {
      hasSnapshot: snapshotRecord !== undefined,
      snapshotIndex,
      snapshotTerm,
      snapshotChunkCount: snapshotRecord?.chunkCount ?? 0,
      lastIndex,
      lastTerm: lastEntry?.term ?? snapshotTerm,
      hardState,
      applied: appliedRecord.applied,
    }
    return { storage, applied: appliedRecord.applied }
  }

  private async readRaftRecords(): Promise<{
    manifest: Manifest | undefined
    hardState: HardState | undefined
    applied: AppliedRecord | undefined
    snapshot: SnapshotRecord | undefined
    chunks: Map<number, Uint8Array>
    entries: Entry[]
  }> {
    let manifest: Manifest | undefined
    let hardState: HardState | undefined
    let applied: AppliedRecord | undefined
    let snapshot: SnapshotRecord | undefined
    const chunks = new Map<number, Uint8Array>()
    const entries: Entry[] = []
    try {
      for await (const [key, value] of this.database.iterator({ gte: RAFT_KEY_PREFIX, lt: RAFT_KEY_END })) {
        if (key === MANIFEST_KEY) manifest = this.decode(key, value, readManifest)
        else if (key === HARD_STATE_KEY) hardState = this.decode(key, value, readHardState)
        else if (key === APPLIED_KEY) applied = this.decode(key, value, readAppliedRecord)
        else if (key === SNAPSHOT_META_KEY) snapshot = this.decode(key, value, readSnapshotRecord)
        else if (SNAPSHOT_CHUNK_KEY_PATTERN.test(key)) {
          chunks.set(Number.parseInt(key.slice(SNAPSHOT_CHUNK_KEY_PREFIX.length), 16), this.verify(key, value))
        } else if (ENTRY_KEY_PATTERN.test(key)) {
          entries.push(this.decodeEntry(key, value))
        } else {
          throw corrupt(this.directory, key, 'not a key this store writes')
        }
      }
    } catch (error) {
      if (error instanceof CorruptDataError) throw error
      throw levelError(error, `LevelDB in ${this.directory} cannot be read`, true)
    }
    return { manifest, hardState, applied, snapshot, chunks, entries }
  }

  /** Decodes the entry under `key` and checks it is the entry the key names. */
  private decodeEntry(key: string, value: Uint8Array): Entry {
    const keyIndex = Number.parseInt(key.slice(ENTRY_KEY_PREFIX.length), 16)
    if (!Number.isSafeInteger(keyIndex)) throw corrupt(this.directory, key, 'index beyond the safe integer range')
    const entry = this.decode(key, value, readEntry)
    if (entry.index !== keyIndex) throw corrupt(this.directory, key, `holds entry ${entry.index}`)
    return entry
  }

  /** Checks the entries (in key order) form one run of indexes with terms that never decrease. */
  private checkContiguous(entries: readonly Entry[]): void {
    for (let position = 1; position < entries.length; position++) {
      const previous = entries[position - 1]!
      const entry = entries[position]!
      const key = entryKey(entry.index)
      if (entry.index !== previous.index + 1) {
        throw corrupt(this.directory, key, `entries are not contiguous: follows ${entryKey(previous.index)}`)
      }
      if (entry.term < previous.term) {
        throw corrupt(this.directory, key, `term ${entry.term} decreases from ${previous.term} at the entry before`)
      }
    }
  }

  /** Reassembles and verifies the snapshot data from its chunks. */
  private assembleSnapshot(record: SnapshotRecord, chunks: ReadonlyMap<number, Uint8Array>): Uint8Array {
    for (const chunkNumber of chunks.keys()) {
      if (chunkNumber >= record.chunkCount) {
        throw corrupt(this.directory, snapshotChunkKey(chunkNumber), `beyond the snapshot's ${record.chunkCount} chunks`)
      }
    }
    const data = new Uint8Array(record.totalBytes)
    let offset = 0
    for (let chunkNumber = 0; chunkNumber < record.chunkCount; chunkNumber++) {
      const key = snapshotChunkKey(chunkNumber)
      const chunk = chunks.get(chunkNumber)
      if (chunk === undefined) throw corrupt(this.directory, key, `missing (snapshot has ${record.chunkCount} chunks)`)
      if (chunk.byteLength > SNAPSHOT_CHUNK_MAX_BYTES || offset + chunk.byteLength > record.totalBytes) {
        throw corrupt(this.directory, key, `${chunk.byteLength} bytes do not fit the snapshot's ${record.totalBytes}`)
      }
      data.set(chunk, offset)
      offset += chunk.byteLength
    }
    if (offset !== record.totalBytes) {
      throw corrupt(this.directory, SNAPSHOT_META_KEY, `chunks hold ${offset} bytes, meta says ${record.totalBytes}`)
    }
    if (crc32(data) !== record.dataCrc) throw corrupt(this.directory, SNAPSHOT_META_KEY, 'snapshot data checksum mismatch')
    return data
  }

  /** The payload of the record under `key`, after checking its checksum. */
  private verify(key: string, value: Uint8Array): Uint8Array {
    if (value.byteLength < CHECKSUM_BYTES) {
      throw corrupt(this.directory, key, `${value.byteLength} bytes cannot hold the ${CHECKSUM_BYTES}-byte checksum`)
    }
    const stored = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0, false)
    const payload = value.subarray(CHECKSUM_BYTES)
    const computed = recordChecksum(key, payload)
    if (stored !== computed) {
      throw corrupt(this.directory, key, `checksum mismatch (stored ${hex32(stored)}, computed ${hex32(computed)})`)
    }
    return payload
  }

  private decode<T>(key: string, value: Uint8Array, read: (value: unknown, path: string) => T): T {
    const payload = this.verify(key, value)
    try {
      return read(decodeMsgpack(payload, key), key)
    } catch (error) {
      if (error instanceof MalformedMessageError) throw corrupt(this.directory, key, `fails to decode: ${error.message}`, error)
      throw error
    }
  }
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`
}

function required<T>(directory: string, key: string, value: T | undefined): T {
  if (value === undefined) throw corrupt(directory, key, 'missing (every store has one from its first open)')
  return value
}

function readManifest(value: unknown, path: string): Manifest {
  const fields = expectObject(value, path)
  return {
    hasSnapshot: expectBoolean(fields.hasSnapshot, `${path}.hasSnapshot`),
    snapshotIndex: expectUint(fields.snapshotIndex, `${path}.snapshotIndex`),
    lastIndex: expectUint(fields.lastIndex, `${path}.lastIndex`),
  }
}

function readAppliedRecord(value: unknown, path: string): AppliedRecord {
  const fields = expectObject(value, path)
  return {
    applied: expectUint(fields.applied, `${path}.applied`),
    confState: readConfState(fields.confState, `${path}.confState`),
  }
}

function readSnapshotRecord(value: unknown, path: string): SnapshotRecord {
  const fields = expectObject(value, path)
  const record: SnapshotRecord = {
    ...readSnapshotMeta(value, path),
    totalBytes: expectUint(fields.totalBytes, `${path}.totalBytes`),
    chunkCount: expectUint(fields.chunkCount, `${path}.chunkCount`),
    dataCrc: expectUint(fields.dataCrc, `${path}.dataCrc`),
  }
  if (record.chunkCount !== Math.ceil(record.totalBytes / SNAPSHOT_CHUNK_MAX_BYTES)) {
    throw new MalformedMessageError(`${path}: ${record.chunkCount} chunks cannot hold ${record.totalBytes} bytes`)
  }
  return record
}

function initialRecords(): BatchOp[] {
  const manifest: Manifest = { hasSnapshot: false, snapshotIndex: 0, lastIndex: 0 }
  const applied: AppliedRecord = { applied: 0, confState: { voters: [], learners: [] } }
  return [
    { type: 'put', key: MANIFEST_KEY, value: encodeRecord(MANIFEST_KEY, manifest) },
    { type: 'put', key: HARD_STATE_KEY, value: encodeRecord(HARD_STATE_KEY, EMPTY_HARD_STATE) },
    { type: 'put', key: APPLIED_KEY, value: encodeRecord(APPLIED_KEY, applied) },
  ]
}

/** Adds the manifest when the batch changes what it describes. */
function pushManifest(operations: BatchOp[], before: Tracked, after: Tracked): void {
  if (
    before.hasSnapshot === after.hasSnapshot &&
    before.snapshotIndex === after.snapshotIndex &&
    before.lastIndex === after.lastIndex
  ) {
    return
  }
  const manifest: Manifest = {
    hasSnapshot: after.hasSnapshot,
    snapshotIndex: after.snapshotIndex,
    lastIndex: after.lastIndex,
  }
  operations.push({ type: 'put', key: MANIFEST_KEY, value: encodeRecord(MANIFEST_KEY, manifest) })
}

/** Adds the snapshot's meta and chunks and deletes chunks of the old one it does not overwrite. */
function pushSnapshot(operations: BatchOp[], snapshot: Snapshot, oldChunkCount: number): number {
  const data = snapshot.data
  const chunkCount = Math.ceil(data.byteLength / SNAPSHOT_CHUNK_MAX_BYTES)
  for (let chunkNumber = 0; chunkNumber < chunkCount; chunkNumber++) {
    const key = snapshotChunkKey(chunkNumber)
    const start = chunkNumber * SNAPSHOT_CHUNK_MAX_BYTES
    operations.push({ type: 'put', key, value: frame(key, data.subarray(start, start + SNAPSHOT_CHUNK_MAX_BYTES)) })
  }
  for (let stale = chunkCount; stale < oldChunkCount; stale++) {
    operations.push({ type: 'del', key: snapshotChunkKey(stale) })
  }
  const record: SnapshotRecord = {
    ...snapshot.meta,
    totalBytes: data.byteLength,
    chunkCount,
    dataCrc: crc32(data),
  }
  operations.push({ type: 'put', key: SNAPSHOT_META_KEY, value: encodeRecord(SNAPSHOT_META_KEY, record) })
  return chunkCount
}

async function refuseIfMarked(directory: string): Promise<void> {
  const markerPath = path.join(directory, CORRUPTION_MARKER_FILE)
  let reason: string
  try {
    reason = await readFile(markerPath, 'utf8')
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return
    throw error
  }
  throw new CorruptDataError(`${directory} was found damaged earlier (${markerPath}): ${reason.trim()}`)
}

/**
 * LevelDB without paranoid checks repairs a damaged write-ahead log on open by skipping the
 * damaged records, noting each skip in its info log as "dropping N bytes". This turns such a note
 * into a refusal that persists (see the header). A power loss can leave an unsynced, never
 * acknowledged tail that LevelDB also reports this way; that case is rare and safe to accept, but
 * only an operator can tell it from lost acknowledged writes, hence the marker they remove.
 */
async function refuseIfRecoveryDroppedRecords(directory: string): Promise<void> {
  let infoLog: string
  try {
    infoLog = await readFile(path.join(directory, 'LOG'), 'utf8')
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return
    throw error
  }
  const drops = infoLog.split('\n').filter((line) => /dropping \d+ bytes/.test(line))
  if (drops.length === 0) return
  const markerPath = path.join(directory, CORRUPTION_MARKER_FILE)
  const reason =
    `LevelDB dropped damaged write-ahead-log records while opening ${directory}, so acknowledged writes may be lost. ` +
    `If this follows a power loss it may only be the unacknowledged tail; remove ${markerPath} to accept the repaired data. ` +
    `LevelDB reported:\n${drops.join('\n')}\n`
  const marker = await openFile(markerPath, 'w')
  try {
    await marker.writeFile(reason)
    await marker.sync()
  } finally {
    await marker.close()
  }
  // The marker's directory entry must be durable too, or a crash now would forget the refusal.
  const directoryHandle = await openFile(directory, 'r')
  try {
    await directoryHandle.sync()
  } finally {
    await directoryHandle.close()
  }
  throw new CorruptDataError(reason)
}
