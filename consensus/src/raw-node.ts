/**
 * RawNode wraps the Raft state machine with the Ready/advance handshake that tells the driver
 * what I/O to do, in which order.
 *
 * The driver's contract for each Ready (the order matters):
 * 1. Persist `hardState`, `entries` and `snapshot` durably (fsync) in one atomic write, then
 *    mirror them into the MemoryStorage the core reads.
 * 2. Send `messages`. Votes and append acknowledgements must never leave before step 1.
 * 3. Apply `snapshot` (if any) and then `committedEntries` to the state machine, calling
 *    `applyConfChange` for each membership entry, recording the applied index atomically with
 *    the state it produced.
 * 4. Call `advance(ready)`. Do not step or tick between `ready()` and `advance()`.
 */
import { assert } from '../../lib/assert.ts'
import type { Random } from '../../lib/random.ts'
import type { RaftConfig } from './config.ts'
import { Raft, type ProposeOutcome, type Proposal, type ReadState, type Role } from './raft.ts'
import type { LogStorage } from './storage.ts'
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, Snapshot } from './types.ts'

/** Volatile state worth reporting: who leads and what we are. */
export interface SoftState {
  readonly lead: NodeId
  readonly role: Role
}

/** One batch of work for the driver; see the module comment for the required order. */
export interface Ready {
  readonly softState: SoftState | undefined
  readonly hardState: HardState | undefined
  readonly entries: readonly Entry[]
  readonly snapshot: Snapshot | undefined
  readonly committedEntries: readonly Entry[]
  readonly messages: readonly Message[]
  readonly readStates: readonly ReadState[]
  /** Whether step 1 needs an fsync (new entries, or a term/vote change). */
  readonly mustSync: boolean
}

export class RawNode {
  readonly raft: Raft
  private previousSoft: SoftState
  private previousHard: HardState
  private readyOutstanding = false

  constructor(config: RaftConfig, storage: LogStorage, random: Random) {
    this.raft = new Raft(config, storage, random)
    this.previousSoft = this.softState()
    this.previousHard = this.raft.hardState()
  }

  /** Bootstraps a brand-new group whose members are `voters` (only on an empty log). */
  static bootstrapConfState(voters: readonly NodeId[]): ConfState {
    return { voters: [...voters], learners: [] }
  }

  /** The wall-clock time to stamp into entries appended while leader (an input, like a tick). */
  setTimeMs(timeMs: number): void {
    this.raft.setTimeMs(timeMs)
  }

  tick(): void {
    assert(!this.readyOutstanding, 'tick between ready() and advance()')
    this.raft.tick()
  }

  step(message: Message): void {
    assert(!this.readyOutstanding, 'step between ready() and advance()')
    this.raft.step(message)
  }

  propose(proposal: Proposal): ProposeOutcome {
    assert(!this.readyOutstanding, 'propose between ready() and advance()')
    return this.raft.propose(proposal)
  }

  proposeBatch(datas: readonly Uint8Array[]): ProposeOutcome {
    assert(!this.readyOutstanding, 'propose between ready() and advance()')
    return this.raft.proposeBatch(datas)
  }

  readIndex(context: string): void {
    this.raft.readIndex(context)
  }

  transferLeadership(transferee: NodeId): void {
    this.raft.transferLeadership(transferee)
  }

  /** Starts an election now (for tests and for a node that knows its leader is gone). */
  campaign(): void {
    this.raft.hup(false)
  }

  applyConfChange(change: ConfChange): ConfState {
    return this.raft.applyConfChange(change)
  }

  softState(): SoftState {
    return { lead: this.raft.lead, role: this.raft.role }
  }

  hasReady(): boolean {
    const raft = this.raft
    if (raft.messages.length > 0 || raft.readStates.length > 0) return true
    if (raft.log.unstable().length > 0 || raft.log.pendingSnapshot() !== undefined) return true
    if (raft.log.nextCommittedEntries(1).length > 0) return true
    if (!sameHardState(raft.hardState(), this.previousHard)) return true
    const soft = this.softState()
    return soft.lead !== this.previousSoft.lead || soft.role !== this.previousSoft.role
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called twice without advance()')
    const raft = this.raft
    const soft = this.softState()
    const hard = raft.hardState()
    const softChanged = soft.lead !== this.previousSoft.lead || soft.role !== this.previousSoft.role
    const hardChanged = !sameHardState(hard, this.previousHard)
    const entries = [...raft.log.unstable()]
    const committedEntries = raft.log.nextCommittedEntries(raft.config.maxCommittedBytesPerReady)
    const ready: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hard : undefined,
      entries,
      snapshot: raft.log.pendingSnapshot(),
      committedEntries,
      messages: raft.messages,
      readStates: raft.readStates,
      mustSync: entries.length > 0 || hard.term !== this.previousHard.term || hard.vote !== this.previousHard.vote,
    }
    raft.messages = []
    raft.readStates = []
    if (softChanged) this.previousSoft = soft
    if (hardChanged) this.previousHard = hard
    const lastCommitted = committedEntries[committedEntries.length - 1]
    if (lastCommitted !== undefined) raft.log.acceptApplying(lastCommitted.index)
    this.readyOutstanding = true
    return ready
  }

  /** Acknowledges that the driver finished every step of `ready`. */
  advance(ready: Ready): void {
    assert(this.readyOutstanding, 'advance() without ready()')
    this.readyOutstanding = false
    const raft = this.raft
    if (ready.snapshot !== undefined) {
      raft.log.stableSnapshotTo(ready.snapshot.meta.index)
      raft.log.appliedTo(ready.snapshot.meta.index)
    }
    const lastEntry = ready.entries[ready.entries.length - 1]
    if (lastEntry !== undefined) raft.log.stableTo(lastEntry.index, lastEntry.term)
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1]
    if (lastCommitted !== undefined) raft.log.appliedTo(lastCommitted.index)
    raft.onPersisted()
    if (lastCommitted !== undefined) raft.onApplied()
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}
