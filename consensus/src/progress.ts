/**
 * The leader's view of each follower: how far its log matches, what to send next, and how much
 * may be in flight. Flow control is per follower and bounded in messages and bytes.
 *
 * States (as in etcd-raft's tracker):
 * - probe: we do not know where the follower's log matches; send one append per heartbeat
 *   interval and wait for the answer.
 * - replicate: the follower is in sync; pipeline appends optimistically up to the in-flight bounds.
 * - snapshot: the follower needs a snapshot; stream it in chunks and send no appends until done.
 */
import { assert } from '../../lib/assert.ts'
import type { NodeId, Snapshot } from './types.ts'

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

/** A bounded FIFO of in-flight appends, each remembered by its last index and size. */
export class Inflights {
  private readonly lastIndexes: number[] = []
  private readonly sizesBytes: number[] = []
  private totalBytes = 0
  readonly messagesMax: number
  readonly bytesMax: number

  constructor(messagesMax: number, bytesMax: number) {
    assert(messagesMax > 0, 'inflight message bound must be positive')
    this.messagesMax = messagesMax
    this.bytesMax = bytesMax
  }

  add(lastIndex: number, sizeBytes: number): void {
    assert(!this.full(), 'adding to full inflights')
    const previous = this.lastIndexes[this.lastIndexes.length - 1]
    assert(previous === undefined || lastIndex > previous, 'inflight indexes must increase')
    this.lastIndexes.push(lastIndex)
    this.sizesBytes.push(sizeBytes)
    this.totalBytes += sizeBytes
  }

  /** Frees every in-flight append whose last index is ≤ `index` (they were acknowledged). */
  freeLE(index: number): void {
    let count = 0
    while (count < this.lastIndexes.length && this.lastIndexes[count]! <= index) count++
    for (let i = 0; i < count; i++) this.totalBytes -= this.sizesBytes[i]!
    this.lastIndexes.splice(0, count)
    this.sizesBytes.splice(0, count)
  }

  /** Frees the oldest in-flight append; a heartbeat answer proves the link moves again. */
  freeFirst(): void {
    const first = this.lastIndexes[0]
    if (first !== undefined) this.freeLE(first)
  }

  full(): boolean {
    return this.lastIndexes.length >= this.messagesMax || (this.bytesMax > 0 && this.totalBytes >= this.bytesMax)
  }

  count(): number {
    return this.lastIndexes.length
  }

  reset(): void {
    this.lastIndexes.length = 0
    this.sizesBytes.length = 0
    this.totalBytes = 0
  }
}

/** Replication progress of one peer, as tracked by the leader. */
export class Progress {
  /** Highest index known to be in the peer's log. */
  match = 0
  /** Next index to send. */
  next: number
  state: ProgressState = 'probe'
  /** In probe state: an append was sent this heartbeat interval; wait for its answer. */
  probeSent = false
  /** In snapshot state: the snapshot being streamed, and how many bytes the peer has acked. */
  pendingSnapshot: Snapshot | undefined = undefined
  snapshotAckedBytes = 0
  snapshotSentBytes = 0
  /** Heard from since the last CheckQuorum round. */
  recentActive = false
  isLearner: boolean
  readonly inflights: Inflights
  readonly id: NodeId

  constructor(options: { id: NodeId; next: number; isLearner: boolean; inflightMessagesMax: number; inflightBytesMax: number }) {
    this.id = options.id
    this.next = options.next
    this.isLearner = options.isLearner
    this.inflights = new Inflights(options.inflightMessagesMax, options.inflightBytesMax)
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false
    this.pendingSnapshot = undefined
    this.snapshotAckedBytes = 0
    this.snapshotSentBytes = 0
    this.state = state
    this.inflights.reset()
  }

  becomeProbe(): void {
    // After a snapshot, the peer holds at least the snapshot's index.
    const snapshotIndex = this.pendingSnapshot?.meta.index ?? 0
    this.resetState('probe')
    this.next = Math.max(this.match + 1, snapshotIndex + 1)
  }

  becomeReplicate(): void {
    this.resetState('replicate')
    this.next = this.match + 1
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState('snapshot')
    this.pendingSnapshot = snapshot
  }

  /** Records an acknowledgement up to `index`; returns whether it moved `match` forward. */
  maybeUpdate(index: number): boolean {
    let updated = false
    if (this.match < index) {
      this.match = index
      updated = true
      this.probeSent = false
    }
    this.next = Math.max(this.next, index + 1)
    return updated
  }

  /**
   * Handles a rejected append of `rejected`; `matchHint` is where the peer's log may match.
   * Returns false when the rejection is stale (already superseded).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.probeSent = false
    return true
  }

  /** Whether sending appends to this peer must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent
      case 'replicate':
        return this.inflights.full()
      case 'snapshot':
        return true
    }
  }

  /** Records that entries up to `lastIndex` (of `sizeBytes`) were sent. */
  sentEntries(lastIndex: number, sizeBytes: number): void {
    if (this.state === 'replicate') {
      if (lastIndex >= this.next) {
        this.inflights.add(lastIndex, sizeBytes)
        this.next = lastIndex + 1
      }
    } else if (this.state === 'probe') {
      this.probeSent = true
    }
  }
}

/** The index a quorum of `voters` has matched: the highest index present on a majority. */
export function quorumMatchIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0
  const matches = voters.map(matchOf).sort((a, b) => b - a)
  return matches[Math.floor(voters.length / 2)]!
}

/** Whether the ids in `granted` form a majority of `voters`. Returns won, lost or pending. */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): 'won' | 'lost' | 'pending' {
  const needed = Math.floor(voters.length / 2) + 1
  let granted = 0
  let rejected = 0
  for (const voter of voters) {
    const vote = votes.get(voter)
    if (vote === true) granted++
    else if (vote === false) rejected++
  }
  if (granted >= needed) return 'won'
  if (voters.length - rejected < needed) return 'lost'
  return 'pending'
}
