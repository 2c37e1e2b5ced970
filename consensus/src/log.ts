/**
 * The Raft log as the core sees it: a durable prefix in LogStorage followed by an unstable tail
 * (entries, or an incoming snapshot) that the driver has not persisted yet.
 *
 * Indexes: snapshot.index < storage.firstIndex ≤ … ≤ storage.lastIndex, then unstable entries
 * from `unstableOffset`. Unstable entries may overwrite a suffix of storage; once persisted, the
 * driver writes them to storage and calls `stableTo`.
 */
import { assert } from '../../lib/assert.ts'
import { COMPACTED, limitSize, UNAVAILABLE, type LogStorage } from './storage.ts'
import type { Entry, Snapshot } from './types.ts'

export class RaftLog {
  readonly storage: LogStorage
  /** Highest index known committed on a quorum. */
  committed: number
  /** Highest index the application has applied (acknowledged through advance). */
  applied: number
  /** Highest index handed to the application in a Ready but not yet acknowledged. */
  applying: number
  private unstableEntries: Entry[] = []
  private unstableOffset: number
  private unstableSnapshot: Snapshot | undefined = undefined

  constructor(storage: LogStorage, applied: number) {
    this.storage = storage
    const first = storage.firstIndex()
    this.unstableOffset = storage.lastIndex() + 1
    this.committed = first - 1
    this.applied = Math.max(first - 1, applied)
    this.applying = this.applied
  }

  firstIndex(): number {
    if (this.unstableSnapshot !== undefined) return this.unstableSnapshot.meta.index + 1
    return this.storage.firstIndex()
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.unstableOffset + this.unstableEntries.length - 1
    if (this.unstableSnapshot !== undefined) return this.unstableSnapshot.meta.index
    return this.storage.lastIndex()
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex())
    assert(typeof term === 'number', 'last term must be known')
    return term
  }

  /** The term of `index`, or a reason it is unknown. */
  term(index: number): number | typeof COMPACTED | typeof UNAVAILABLE {
    if (this.unstableSnapshot !== undefined && index === this.unstableSnapshot.meta.index) {
      return this.unstableSnapshot.meta.term
    }
    if (index >= this.unstableOffset && this.unstableEntries.length > 0) {
      const entry = this.unstableEntries[index - this.unstableOffset]
      return entry === undefined ? UNAVAILABLE : entry.term
    }
    if (this.unstableSnapshot !== undefined) {
      return index < this.unstableSnapshot.meta.index ? COMPACTED : UNAVAILABLE
    }
    if (index > this.lastIndex()) return UNAVAILABLE
    return this.storage.term(index)
  }

  /** The term of `index`, or 0 when it is compacted or beyond the log. */
  termOrZero(index: number): number {
    const term = this.term(index)
    return typeof term === 'number' ? term : 0
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term
  }

  /** Whether a candidate's log (lastIndex, lastTerm) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourLastTerm = this.lastTerm()
    return lastTerm > ourLastTerm || (lastTerm === ourLastTerm && lastIndex >= this.lastIndex())
  }

  /** Entries in [lo, hi) limited to `maxBytes` (at least one), or why they are unavailable. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | typeof COMPACTED | typeof UNAVAILABLE {
    if (lo >= hi) return []
    if (lo < this.firstIndex()) return COMPACTED
    if (hi > this.lastIndex() + 1) return UNAVAILABLE
    let result: Entry[] = []
    if (lo < this.unstableOffset) {
      const fromStorage = this.storage.entries(lo, Math.min(hi, this.unstableOffset), maxBytes)
      if (typeof fromStorage === 'string') return fromStorage
      result = fromStorage
      // Storage returned fewer than asked because of the size limit: stop here.
      if (result.length < Math.min(hi, this.unstableOffset) - lo) return result
    }
    if (hi > this.unstableOffset) {
      const start = Math.max(lo, this.unstableOffset) - this.unstableOffset
      result = result.concat(this.unstableEntries.slice(start, hi - this.unstableOffset))
    }
    return limitSize(result, maxBytes)
  }

  /**
   * Appends leader entries after (index, logTerm) if our log matches there. Returns the new last
   * index on success, or undefined when the consistency check fails.
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined
    const lastNewIndex = index + entries.length
    const conflictIndex = this.findConflict(entries)
    if (conflictIndex !== 0) {
      assert(conflictIndex > this.committed, `entry ${conflictIndex} conflicts with committed ${this.committed}`)
      this.append(entries.slice(conflictIndex - (index + 1)))
    }
    this.commitTo(Math.min(committed, lastNewIndex))
    return lastNewIndex
  }

  /** The first index where `entries` disagree with our log or extend it; 0 if none. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index
    }
    return 0
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term`: where a log with `term` at `index` can
   * possibly match ours. Lets a rejection skip a whole term of mismatching entries.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let candidate = Math.min(index, this.lastIndex())
    for (; candidate > 0; candidate--) {
      const ourTerm = this.term(candidate)
      if (typeof ourTerm !== 'number') return { index: candidate, term: 0 }
      if (ourTerm <= term) return { index: candidate, term: ourTerm }
    }
    return { index: 0, term: 0 }
  }

  /** Appends entries to the unstable tail, truncating whatever they overwrite. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex()
    const after = entries[0]!.index - 1
    assert(after >= this.committed, `append after ${after} would overwrite committed ${this.committed}`)
    this.truncateAndAppend(entries)
    return this.lastIndex()
  }

  private truncateAndAppend(entries: readonly Entry[]): void {
    const firstNew = entries[0]!.index
    if (firstNew === this.unstableOffset + this.unstableEntries.length) {
      this.unstableEntries.push(...entries)
    } else if (firstNew <= this.unstableOffset) {
      // The new entries replace the whole unstable tail and possibly a durable suffix.
      this.unstableOffset = firstNew
      this.unstableEntries = [...entries]
    } else {
      this.unstableEntries = this.unstableEntries.slice(0, firstNew - this.unstableOffset).concat(entries)
    }
  }

  commitTo(index: number): void {
    if (index <= this.committed) return
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`)
    this.committed = index
  }

  /** Entries not yet persisted, in order. */
  unstable(): readonly Entry[] {
    return this.unstableEntries
  }

  pendingSnapshot(): Snapshot | undefined {
    return this.unstableSnapshot
  }

  /**
   * The persisted prefix that agrees with this log: entries the driver reported durable that are
   * not shadowed by a newer unstable entry.
   */
  persistedLastIndex(): number {
    if (this.unstableSnapshot !== undefined) return 0
    if (this.unstableEntries.length > 0) return Math.min(this.storage.lastIndex(), this.unstableOffset - 1)
    return this.storage.lastIndex()
  }

  /** Marks unstable entries up to (index, term) as persisted. */
  stableTo(index: number, term: number): void {
    const ourTerm = this.term(index)
    // The entry may have been overwritten by a newer leader after the Ready was taken.
    if (ourTerm !== term || index < this.unstableOffset) return
    this.unstableEntries = this.unstableEntries.slice(index + 1 - this.unstableOffset)
    this.unstableOffset = index + 1
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot?.meta.index === index) this.unstableSnapshot = undefined
  }

  /** Replaces the log with a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index
    this.unstableSnapshot = snapshot
    this.unstableEntries = []
    this.unstableOffset = snapshot.meta.index + 1
  }

  hasNextCommittedEntries(): boolean {
    if (this.unstableSnapshot !== undefined) return false
    return this.committed > this.applying
  }

  /**
   * Committed entries not yet handed out, limited in size. They must also be durable locally:
   * applying an entry we have not persisted would let a crash forget what we applied.
   */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.unstableSnapshot !== undefined) return []
    const hi = Math.min(this.committed, this.persistedLastIndex()) + 1
    const lo = Math.max(this.applying + 1, this.firstIndex())
    if (lo >= hi) return []
    const entries = this.slice(lo, hi, maxBytes)
    assert(typeof entries !== 'string', `committed entries [${lo}, ${hi}) unavailable: ${String(entries)}`)
    return entries
  }

  acceptApplying(index: number): void {
    this.applying = Math.max(this.applying, index)
  }

  appliedTo(index: number): void {
    if (index === 0) return
    assert(index <= this.committed, `applied ${index} beyond committed ${this.committed}`)
    this.applied = Math.max(this.applied, index)
    this.applying = Math.max(this.applying, index)
  }
}
