/**
 * The Raft core's read-only view of durable state, and an in-memory implementation.
 *
 * Ownership: the core only reads a LogStorage. The driver (node/src/raft-loop) writes to durable
 * storage first and then mirrors the write into the MemoryStorage the core reads, so the core
 * always sees exactly what is durable. On restart the driver rebuilds a MemoryStorage from LevelDB
 * (consensus/src/level/log-store-level.ts).
 */
import { assert } from '../../lib/assert.ts'
import {
  EMPTY_HARD_STATE,
  entrySizeBytes,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from './types.ts'

/** A lookup hit the compacted prefix of the log (only a snapshot covers it). */
export const COMPACTED = 'compacted' as const
/** A lookup went past the end of the log. */
export const UNAVAILABLE = 'unavailable' as const

export interface InitialState {
  readonly hardState: HardState
  readonly confState: ConfState
}

/** What the core may read. Every method is synchronous and must not mutate the returned values. */
export interface LogStorage {
  initialState(): InitialState
  /**
   * Entries in [lo, hi), at least one if any exists, and no more than `maxBytes` beyond the
   * first. Returned arrays are owned by the caller; the entries themselves are shared, immutable.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[] | typeof COMPACTED | typeof UNAVAILABLE
  /** The term of entry `index`; the snapshot's index answers with the snapshot's term. */
  term(index: number): number | typeof COMPACTED | typeof UNAVAILABLE
  /** The first index still held as an entry (snapshot index + 1). */
  firstIndex(): number
  lastIndex(): number
  /** The most recent snapshot (an empty one at index 0 when none was taken). */
  snapshot(): Snapshot
}

export const EMPTY_SNAPSHOT: Snapshot = {
  meta: { index: 0, term: 0, confState: { voters: [], learners: [] } },
  data: new Uint8Array(0),
}

/**
 * The log in memory. `entries[0]` is a dummy at the snapshot's index and term, so terms at the
 * compaction point stay answerable; indexes are contiguous from there.
 */
export class MemoryStorage implements LogStorage {
  private hardState: HardState = EMPTY_HARD_STATE
  private confState: ConfState
  private currentSnapshot: Snapshot = EMPTY_SNAPSHOT
  private log: Entry[] = [{ type: 'normal', term: 0, index: 0, data: new Uint8Array(0) }]

  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.confState = confState
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.confState }
  }

  setHardState(hardState: HardState): void {
    this.hardState = hardState
  }

  /** Records the membership that was applied; the driver persists it with the applied index. */
  setConfState(confState: ConfState): void {
    this.confState = confState
  }

  private offset(): number {
    return this.log[0]!.index
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] | typeof COMPACTED | typeof UNAVAILABLE {
    const offset = this.offset()
    if (lo <= offset) return COMPACTED
    if (hi > this.lastIndex() + 1) return UNAVAILABLE
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`)
    return limitSize(this.log.slice(lo - offset, hi - offset), maxBytes)
  }

  term(index: number): number | typeof COMPACTED | typeof UNAVAILABLE {
    const offset = this.offset()
    if (index < offset) return COMPACTED
    if (index - offset >= this.log.length) return UNAVAILABLE
    return this.log[index - offset]!.term
  }

  firstIndex(): number {
    return this.offset() + 1
  }

  lastIndex(): number {
    return this.offset() + this.log.length - 1
  }

  snapshot(): Snapshot {
    return this.currentSnapshot
  }

  /** Replaces the whole log with a snapshot (InstallSnapshot, or restart from one). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.meta.index < this.currentSnapshot.meta.index) return
    this.currentSnapshot = snapshot
    this.confState = snapshot.meta.confState
    this.log = [{ type: 'normal', term: snapshot.meta.term, index: snapshot.meta.index, data: new Uint8Array(0) }]
  }

  /**
   * Records a snapshot the state machine took at `index` (≤ last index). The log is kept; call
   * `compact` to drop entries the snapshot covers.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    assert(index <= this.lastIndex(), `snapshot index ${index} beyond last index ${this.lastIndex()}`)
    const term = this.term(index)
    assert(typeof term === 'number', `snapshot index ${index} is compacted`)
    this.currentSnapshot = { meta: { index, term, confState }, data }
    return this.currentSnapshot
  }

  /** Drops entries up to and including `compactIndex`, keeping that entry's term as the dummy. */
  compact(compactIndex: number): void {
    const offset = this.offset()
    if (compactIndex <= offset) return
    assert(compactIndex <= this.lastIndex(), `compact ${compactIndex} beyond last ${this.lastIndex()}`)
    const dummy = this.log[compactIndex - offset]!
    this.log = [
      { type: 'normal', term: dummy.term, index: dummy.index, data: new Uint8Array(0) },
      ...this.log.slice(compactIndex - offset + 1),
    ]
  }

  /**
   * Appends entries, replacing any existing suffix they conflict with. The entries must be
   * contiguous and must not start past last index + 1.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return
    const first = entries[0]!
    const offset = this.offset()
    assert(first.index <= this.lastIndex() + 1, `append gap: ${first.index} after ${this.lastIndex()}`)
    // Entries at or below the snapshot are already covered by it.
    const usable = first.index <= offset ? entries.filter((entry) => entry.index > offset) : entries
    if (usable.length === 0) return
    const start = usable[0]!.index - offset
    this.log = this.log.slice(0, start).concat(usable)
  }
}

/** Keeps a prefix of `entries` whose size fits in `maxBytes`, but always at least one entry. */
export function limitSize<T extends Entry>(entries: T[], maxBytes: number): T[] {
  if (entries.length <= 1) return entries
  let totalBytes = entrySizeBytes(entries[0]!)
  let count = 1
  for (; count < entries.length; count++) {
    totalBytes += entrySizeBytes(entries[count]!)
    if (totalBytes > maxBytes) break
  }
  return entries.slice(0, count)
}
