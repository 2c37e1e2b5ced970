/**
 * The Raft protocol as a pure, synchronous state machine: no I/O, no clock, no randomness of its
 * own. Inputs are `tick()`, `step(message)` and `propose(...)`; outputs accumulate in `messages`,
 * `readStates` and the log's unstable tail, which RawNode packages into a Ready.
 *
 * Features: elections with randomized timeouts, PreVote, CheckQuorum with leader stickiness, log
 * replication with pipelining and flow control, ReadIndex, leadership transfer, learners,
 * single-step membership changes that take effect when applied (one pending at a time, and only
 * after the leader committed an entry of its own term), and chunked snapshot streaming.
 *
 * The design follows etcd-raft (raft.go); names and structure are our own.
 */
import { assert, unreachable } from '../../lib/assert.ts'
import type { Random } from '../../lib/random.ts'
import type { RaftConfig } from './config.ts'
import { RaftLog } from './log.ts'
import { Progress, quorumMatchIndex, voteResult } from './progress.ts'
import type { LogStorage } from './storage.ts'
import {
  NONE,
  entrySizeBytes,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MsgApp,
  type MsgAppResp,
  type MsgHeartbeat,
  type MsgHeartbeatResp,
  type MsgReadIndex,
  type MsgSnap,
  type MsgSnapResp,
  type MsgVote,
  type NodeId,
  type Snapshot,
} from './types.ts'

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

/** A linearizable read point: reads tagged `context` may be served once applied ≥ `index`. */
export interface ReadState {
  readonly index: number
  readonly context: string
}

/** What became of a proposal. Dropped proposals were not appended anywhere and can be retried. */
export type ProposeOutcome =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly reason: string }

/** Data to propose: application commands, or one membership change. */
export type Proposal = { readonly type: 'normal'; readonly data: Uint8Array } | { readonly type: 'conf'; readonly change: ConfChange }

const ACCEPTED: ProposeOutcome = { accepted: true }

interface PendingRead {
  readonly context: string
  readonly index: number
  /** The follower that asked, or NONE when the read is local to the leader. */
  readonly from: NodeId
  readonly acks: Set<NodeId>
}

/** Bytes a snapshot receiver has collected so far. */
interface IncomingSnapshot {
  readonly snapshot: Snapshot['meta']
  readonly chunks: Uint8Array[]
  receivedBytes: number
}

export class Raft {
  readonly id: NodeId
  readonly config: RaftConfig
  readonly log: RaftLog
  private readonly random: Random

  term = 0
  vote: NodeId = NONE
  lead: NodeId = NONE
  role: Role = 'follower'

  /** Membership as applied; progress entries exist for every voter and learner. */
  voters: NodeId[] = []
  learners: NodeId[] = []
  /** Ids removed from the group; never admitted again. */
  removed: NodeId[] = []
  progress = new Map<NodeId, Progress>()

  /** Outbox; RawNode drains it into a Ready. */
  messages: Message[] = []
  readStates: ReadState[] = []

  private votes = new Map<NodeId, boolean>()
  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTimeout = 0
  /** Leader: a conf change at or below this index may still be unapplied. */
  private pendingConfIndex = 0
  private uncommittedBytes = 0
  leadTransferee: NodeId = NONE
  private pendingReads: PendingRead[] = []
  /** Leader: our read context → the context the caller used. */
  private readonly readContexts = new Map<string, string>()
  /** Reads that arrived before the leader committed an entry of its own term. */
  private deferredReads: MsgReadIndex[] = []
  private incomingSnapshot: IncomingSnapshot | undefined = undefined
  private readSequence = 0
  /** Wall-clock time given by the driver (an input, like ticks); stamped into entries we append. */
  private timeMs = 0
  /** The newest stamp in our log, so stamps never decrease across leaders. */
  private lastStampMs = 0
  /** A timeout-now arrived while a membership change was unapplied; campaign once it is. */
  private transferCampaignPending = false

  constructor(config: RaftConfig, storage: LogStorage, random: Random) {
    this.id = config.id
    this.config = config
    this.random = random
    this.log = new RaftLog(storage, config.applied)
    const { hardState, confState } = storage.initialState()
    this.setConf(confState)
    if (hardState.term > 0 || hardState.commit > 0) this.loadHardState(hardState)
    this.becomeFollower(this.term, NONE)
  }

  private loadHardState(hardState: HardState): void {
    assert(
      hardState.commit >= this.log.committed && hardState.commit <= this.log.lastIndex(),
      `hard state commit ${hardState.commit} outside [${this.log.committed}, ${this.log.lastIndex()}]`,
    )
    this.log.committed = hardState.commit
    this.term = hardState.term
    this.vote = hardState.vote
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed }
  }

  confState(): ConfState {
    const confState = { voters: [...this.voters], learners: [...this.learners] }
    return this.removed.length === 0 ? confState : { ...confState, removed: [...this.removed] }
  }

  /** Voters can campaign; learners and removed nodes cannot. */
  promotable(): boolean {
    return this.voters.includes(this.id)
  }

  // ---------------------------------------------------------------------------------------------
  // Role transitions

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = NONE
    }
    this.lead = NONE
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.randomizedElectionTimeout =
      this.config.electionTimeoutTicks + this.random.int(0, this.config.electionTimeoutTicks)
    this.votes.clear()
    this.leadTransferee = NONE
    this.pendingReads = []
    this.uncommittedBytes = 0
    this.readContexts.clear()
    for (const progress of this.progress.values()) {
      progress.match = 0
      progress.becomeProbe()
      progress.next = this.log.lastIndex() + 1
      progress.recentActive = false
    }
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term)
    this.role = 'follower'
    this.lead = lead
    this.deferredReads = []
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become pre-candidate')
    // PreVote does not touch term or vote: a failed pre-election leaves no trace.
    this.votes.clear()
    this.role = 'pre-candidate'
    this.lead = NONE
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become candidate')
    this.reset(this.term + 1)
    this.vote = this.id
    this.role = 'candidate'
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', `only a candidate becomes leader, not a ${this.role}`)
    this.reset(this.term)
    this.role = 'leader'
    this.lead = this.id
    const self = this.progress.get(this.id)
    assert(self !== undefined, 'leader must be in its own configuration')
    // Only what is durable counts toward commit: our own ack comes from persistence (advance).
    self.match = this.log.persistedLastIndex()
    self.becomeReplicate()
    self.recentActive = true
    const noopIndex = this.log.lastIndex() + 1
    this.log.append([{ type: 'normal', term: this.term, index: noopIndex, data: new Uint8Array(0) }])
    // No membership change may be proposed until everything up to our no-op is applied: this is
    // the rule that makes single-step changes safe across leader changes (Ongaro, raft-dev 2015).
    this.pendingConfIndex = noopIndex
    this.bcastAppend()
  }

  // ---------------------------------------------------------------------------------------------
  // Ticks and time

  /** Sets the wall-clock time the leader stamps into new entries (the driver's clock reading). */
  setTimeMs(timeMs: number): void {
    this.timeMs = timeMs
  }

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat()
    else this.tickElection()
  }

  private tickElection(): void {
    this.electionElapsed++
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.hup(false)
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.config.electionTimeoutTicks) {
      this.electionElapsed = 0
      if (this.config.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NONE)
        return
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE
    }
    if (this.heartbeatElapsed >= this.config.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0
      this.bcastHeartbeat('')
    }
  }

  /** Whether a quorum of voters was heard from since the last check; resets the marks. */
  private quorumActive(): boolean {
    let active = 0
    for (const voter of this.voters) {
      const progress = this.progress.get(voter)!
      if (voter === this.id || progress.recentActive) active++
    }
    for (const progress of this.progress.values()) progress.recentActive = progress.id === this.id
    return active >= Math.floor(this.voters.length / 2) + 1
  }

  // ---------------------------------------------------------------------------------------------
  // Elections

  /** Starts an election (or pre-election) if this node may. */
  hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return
    // A committed membership change not yet applied could change who may vote: wait for it. A
    // transfer request is remembered and honoured once the change is applied (see onApplied).
    if (this.hasUnappliedConfChange()) {
      if (transfer) this.transferCampaignPending = true
      return
    }
    this.transferCampaignPending = false
    if (this.config.preVote && !transfer) this.campaign('pre-vote', false)
    else this.campaign('vote', transfer)
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false
    const entries = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.MAX_SAFE_INTEGER)
    if (typeof entries === 'string') return false
    return entries.some((entry) => entry.type === 'conf')
  }

  private campaign(kind: 'vote' | 'pre-vote', transfer: boolean): void {
    let campaignTerm: number
    if (kind === 'pre-vote') {
      this.becomePreCandidate()
      campaignTerm = this.term + 1
    } else {
      this.becomeCandidate()
      campaignTerm = this.term
    }
    this.votes.set(this.id, true)
    if (voteResult(this.voters, this.votes) === 'won') {
      // A single-voter group wins at once.
      if (kind === 'pre-vote') this.campaign('vote', transfer)
      else this.becomeLeader()
      return
    }
    for (const voter of this.voters) {
      if (voter === this.id) continue
      this.send({
        type: kind,
        from: this.id,
        to: voter,
        term: campaignTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        transfer,
      })
    }
  }

  private handleVoteRequest(message: MsgVote): void {
    const canVote =
      this.vote === message.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (message.type === 'pre-vote' && message.term > this.term)
    const responseType = message.type === 'vote' ? 'vote-resp' : 'pre-vote-resp'
    if (canVote && this.log.isUpToDate(message.index, message.logTerm)) {
      // Answer in the term of the request so the (pre-)candidate counts it.
      this.send({ type: responseType, from: this.id, to: message.from, term: message.term, reject: false })
      if (message.type === 'vote') {
        this.electionElapsed = 0
        this.vote = message.from
      }
    } else {
      this.send({ type: responseType, from: this.id, to: message.from, term: this.term, reject: true })
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Step

  /** Feeds a message from a peer. Never throws on peer input: bad or stale messages are ignored. */
  step(message: Message): void {
    if (message.to !== this.id) return
    if (!this.stepTerm(message)) return
    switch (message.type) {
      case 'vote':
      case 'pre-vote':
        this.handleVoteRequest(message)
        return
      default:
        break
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(message)
        return
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(message)
        return
      case 'follower':
        this.stepFollower(message)
        return
      default:
        unreachable(this.role)
    }
  }

  /** Term bookkeeping common to all roles; returns false when the message must be dropped. */
  private stepTerm(message: Message): boolean {
    if (message.term === 0) return true
    if (message.term > this.term) {
      if (message.type === 'vote' || message.type === 'pre-vote') {
        const inLease =
          this.config.checkQuorum &&
          this.lead !== NONE &&
          this.electionElapsed < this.config.electionTimeoutTicks
        // Leader stickiness: while we hear from a leader, a disruptive candidate gets no vote.
        if (!message.transfer && inLease) return false
      }
      if (message.type === 'pre-vote') return true
      if (message.type === 'pre-vote-resp' && !message.reject) return true
      const fromLeader = message.type === 'app' || message.type === 'heartbeat' || message.type === 'snap'
      this.becomeFollower(message.term, fromLeader ? message.from : NONE)
      return true
    }
    if (message.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (message.type === 'app' || message.type === 'heartbeat')) {
        // A stale leader (for example one isolated and healed) learns our term and steps down;
        // without this reply, PreVote and CheckQuorum together could leave it stuck forever.
        this.send({ type: 'app-resp', from: this.id, to: message.from, term: this.term, index: 0, reject: false, rejectHint: 0, logTerm: 0 })
      } else if (message.type === 'pre-vote') {
        this.send({ type: 'pre-vote-resp', from: this.id, to: message.from, term: this.term, reject: true })
      }
      return false
    }
    return true
  }

  private stepLeader(message: Message): void {
    switch (message.type) {
      case 'prop':
        this.proposeEntries(message.entries)
        return
      case 'read-index':
        this.handleReadIndex(message)
        return
      case 'transfer-leader':
        this.handleTransferLeader(message.transferee)
        return
      default:
        break
    }
    const progress = this.progress.get(message.from)
    if (progress === undefined) return
    switch (message.type) {
      case 'app-resp':
        progress.recentActive = true
        this.handleAppendResponse(progress, message)
        return
      case 'heartbeat-resp':
        progress.recentActive = true
        this.handleHeartbeatResponse(progress, message)
        return
      case 'snap-resp':
        progress.recentActive = true
        this.handleSnapshotResponse(progress, message)
        return
      default:
        return
    }
  }

  private stepCandidate(message: Message): void {
    switch (message.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        // Someone won this term: follow them.
        this.becomeFollower(this.term, message.from)
        this.stepFollower(message)
        return
      case 'vote-resp':
      case 'pre-vote-resp': {
        const expected = this.role === 'candidate' ? 'vote-resp' : 'pre-vote-resp'
        if (message.type !== expected) return
        this.votes.set(message.from, !message.reject)
        const result = voteResult(this.voters, this.votes)
        if (result === 'won') {
          if (this.role === 'pre-candidate') this.campaign('vote', false)
          else this.becomeLeader()
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE)
        }
        return
      }
      default:
        return
    }
  }

  private stepFollower(message: Message): void {
    switch (message.type) {
      case 'prop':
      case 'transfer-leader':
      case 'read-index':
        if (this.lead === NONE) return
        this.send({ ...message, from: message.from === NONE ? this.id : message.from, to: this.lead, term: 0 })
        return
      case 'app':
        this.electionElapsed = 0
        this.lead = message.from
        this.handleAppendEntries(message)
        return
      case 'heartbeat':
        this.electionElapsed = 0
        this.lead = message.from
        this.handleHeartbeat(message)
        return
      case 'snap':
        this.electionElapsed = 0
        this.lead = message.from
        this.handleSnapshotChunk(message)
        return
      case 'timeout-now':
        // The leader picked us as its successor: campaign at once, skipping PreVote.
        this.hup(true)
        return
      case 'read-index-resp':
        this.readStates.push({ index: message.index, context: message.context })
        return
      default:
        return
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Proposals

  /** Proposes data or a membership change. A follower forwards it to the leader it knows. */
  propose(proposal: Proposal): ProposeOutcome {
    const entry: Entry =
      proposal.type === 'normal'
        ? { type: 'normal', term: 0, index: 0, data: proposal.data }
        : { type: 'conf', term: 0, index: 0, change: proposal.change }
    return this.proposeLocal([entry])
  }

  /** Proposes several normal entries at once (one append, one fsync). */
  proposeBatch(datas: readonly Uint8Array[]): ProposeOutcome {
    return this.proposeLocal(datas.map((data) => ({ type: 'normal', term: 0, index: 0, data })))
  }

  private proposeLocal(entries: Entry[]): ProposeOutcome {
    if (this.role === 'leader') return this.proposeEntries(entries)
    if (this.lead === NONE) return { accepted: false, reason: 'no leader' }
    if (entries.some((entry) => entry.type === 'conf')) {
      return { accepted: false, reason: 'membership changes must be proposed on the leader' }
    }
    this.send({ type: 'prop', from: this.id, to: this.lead, term: 0, entries })
    return ACCEPTED
  }

  private proposeEntries(entries: readonly Entry[]): ProposeOutcome {
    if (!this.progress.has(this.id)) return { accepted: false, reason: 'leader was removed from the group' }
    if (this.leadTransferee !== NONE) return { accepted: false, reason: 'leadership transfer in progress' }
    const sizeBytes = entries.reduce((sum, entry) => sum + entrySizeBytes(entry), 0)
    const limit = this.config.maxUncommittedEntriesBytes
    if (limit > 0 && this.uncommittedBytes > 0 && this.uncommittedBytes + sizeBytes > limit) {
      return { accepted: false, reason: 'too many uncommitted bytes' }
    }
    const confCount = entries.filter((entry) => entry.type === 'conf').length
    if (confCount > 0) {
      const reason = this.confChangeRefusal(entries)
      if (reason !== undefined) return { accepted: false, reason }
    }
    let index = this.log.lastIndex()
    // Time never goes backwards along the log, even if a new leader's clock is behind.
    this.lastStampMs = Math.max(this.lastStampMs, this.timeMs)
    const timeMs = this.lastStampMs
    const stamped = entries.map((entry): Entry =>
      entry.type === 'normal' ? { ...entry, term: this.term, index: ++index, timeMs } : { ...entry, term: this.term, index: ++index },
    )
    this.log.append(stamped)
    this.uncommittedBytes += sizeBytes
    if (confCount > 0) this.pendingConfIndex = index
    this.bcastAppend()
    return ACCEPTED
  }

  /** Why a membership change cannot be proposed now, or undefined when it can. */
  private confChangeRefusal(entries: readonly Entry[]): string | undefined {
    const changes = entries.filter((entry) => entry.type === 'conf')
    if (changes.length > 1) return 'only one membership change at a time'
    if (this.pendingConfIndex > this.log.applied) return 'a membership change is already pending'
    const change = changes[0]!.change
    if (this.removed.includes(change.nodeId)) return `node id ${change.nodeId} was removed and cannot be reused`
    const isVoter = this.voters.includes(change.nodeId)
    const isLearner = this.learners.includes(change.nodeId)
    if (change.type === 'remove' && !isVoter && !isLearner) return `node ${change.nodeId} is not a member`
    if (change.type === 'add-voter' && isVoter) return `node ${change.nodeId} is already a voter`
    if (change.type === 'add-learner' && isLearner) return `node ${change.nodeId} is already a learner`
    const votersAfter = change.type === 'add-voter' ? this.voters.length + 1 : isVoter ? this.voters.length - 1 : this.voters.length
    if (votersAfter === 0) return 'the group needs at least one voter'
    return undefined
  }

  // ---------------------------------------------------------------------------------------------
  // Replication (leader side)

  private send(message: Message): void {
    assert(message.from === this.id || message.term === 0, 'messages leave with our id unless forwarded')
    this.messages.push(message)
  }

  bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true)
  }

  private bcastHeartbeat(context: string): void {
    for (const [id, progress] of this.progress) {
      if (id === this.id) continue
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(progress.match, this.log.committed)
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, context })
      if (progress.state === 'probe') progress.probeSent = false
    }
  }

  /**
   * Sends an append (or the next snapshot chunk) to `to` when flow control allows. With
   * `sendIfEmpty`, an empty append still goes out to carry the commit index.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.progress.get(to)!
    if (progress.isPaused()) return false
    const previousIndex = progress.next - 1
    const previousTerm = this.log.term(previousIndex)
    const entries = this.log.slice(progress.next, this.log.lastIndex() + 1, this.config.maxSizePerMsgBytes)
    if (typeof previousTerm !== 'number' || typeof entries === 'string') {
      return this.startSnapshot(progress)
    }
    if (entries.length === 0 && !sendIfEmpty) return false
    const message: MsgApp = {
      type: 'app',
      from: this.id,
      to,
      term: this.term,
      index: previousIndex,
      logTerm: previousTerm,
      entries,
      commit: this.log.committed,
    }
    this.send(message)
    if (entries.length > 0) {
      const sizeBytes = entries.reduce((sum, entry) => sum + entrySizeBytes(entry), 0)
      progress.sentEntries(entries[entries.length - 1]!.index, sizeBytes)
    } else if (progress.state === 'probe') {
      progress.probeSent = true
    }
    return true
  }

  private startSnapshot(progress: Progress): boolean {
    if (!progress.recentActive) return false
    const snapshot = this.log.storage.snapshot()
    assert(snapshot.meta.index > 0, 'log compacted without a snapshot')
    progress.becomeSnapshot(snapshot)
    this.sendSnapshotChunk(progress)
    return true
  }

  private sendSnapshotChunk(progress: Progress): void {
    const snapshot = progress.pendingSnapshot
    assert(snapshot !== undefined && progress.state === 'snapshot', 'no snapshot to stream')
    const offset = progress.snapshotAckedBytes
    const end = Math.min(snapshot.data.byteLength, offset + this.config.snapshotChunkBytes)
    const chunk: MsgSnap = {
      type: 'snap',
      from: this.id,
      to: progress.id,
      term: this.term,
      meta: snapshot.meta,
      offset,
      totalBytes: snapshot.data.byteLength,
      chunk: snapshot.data.subarray(offset, end),
      done: end === snapshot.data.byteLength,
    }
    progress.snapshotSentBytes = end
    this.send(chunk)
  }

  private handleAppendResponse(progress: Progress, message: MsgAppResp): void {
    if (message.reject) {
      let nextProbe = message.rejectHint
      if (message.logTerm > 0) nextProbe = this.log.findConflictByTerm(message.rejectHint, message.logTerm).index
      if (progress.maybeDecrTo(message.index, nextProbe)) {
        if (progress.state === 'replicate') progress.becomeProbe()
        this.sendAppend(progress.id, true)
      }
      return
    }
    const wasPaused = progress.isPaused()
    if (progress.maybeUpdate(message.index)) {
      if (progress.state === 'probe') {
        progress.becomeReplicate()
      } else if (progress.state === 'snapshot' && progress.match >= (progress.pendingSnapshot?.meta.index ?? 0)) {
        progress.becomeProbe()
        progress.becomeReplicate()
      } else if (progress.state === 'replicate') {
        progress.inflights.freeLE(message.index)
      }
      if (this.maybeCommit()) {
        this.bcastAppend()
      } else if (wasPaused) {
        this.sendAppend(progress.id, true)
      }
      // Keep the pipe full while flow control allows.
      while (this.sendAppend(progress.id, false)) {
        /* each call sends one message */
      }
      if (message.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
        this.send({ type: 'timeout-now', from: this.id, to: message.from, term: this.term })
      }
    }
  }

  private handleHeartbeatResponse(progress: Progress, message: MsgHeartbeatResp): void {
    progress.probeSent = false
    if (progress.state === 'replicate' && progress.inflights.full()) progress.inflights.freeFirst()
    if (progress.state === 'snapshot') {
      // A lost chunk is resent from the last acknowledged offset.
      this.sendSnapshotChunk(progress)
    } else if (progress.match < this.log.lastIndex()) {
      this.sendAppend(progress.id, true)
    }
    if (message.context !== '') this.ackRead(message.context, message.from)
  }

  private handleSnapshotResponse(progress: Progress, message: MsgSnapResp): void {
    if (progress.state !== 'snapshot' || progress.pendingSnapshot?.meta.index !== message.index) return
    if (message.reject) {
      progress.becomeProbe()
      return
    }
    if (message.offset > progress.snapshotAckedBytes) {
      progress.snapshotAckedBytes = Math.min(message.offset, progress.pendingSnapshot.data.byteLength)
    }
    if (progress.snapshotAckedBytes < progress.pendingSnapshot.data.byteLength) this.sendSnapshotChunk(progress)
  }

  /** Advances the commit index to what a quorum holds, if it is from our term. */
  maybeCommit(): boolean {
    const quorumIndex = quorumMatchIndex(this.voters, (id) => this.progress.get(id)!.match)
    // Only entries of the current term commit by counting replicas (Raft §5.4.2).
    if (quorumIndex > this.log.committed && this.log.termOrZero(quorumIndex) === this.term) {
      this.log.commitTo(quorumIndex)
      this.uncommittedBytes = 0
      this.releaseDeferredReads()
      return true
    }
    return false
  }

  /** Called by RawNode after the driver applied committed entries. */
  onApplied(): void {
    if (this.transferCampaignPending && this.role === 'follower') this.hup(true)
  }

  /** Called by RawNode after the driver persisted entries up to `index`: our own ack. */
  onPersisted(): void {
    if (this.role !== 'leader') return
    const self = this.progress.get(this.id)
    if (self === undefined) return
    if (self.maybeUpdate(this.log.persistedLastIndex()) && this.maybeCommit()) this.bcastAppend()
  }

  // ---------------------------------------------------------------------------------------------
  // Replication (follower side)

  private handleAppendEntries(message: MsgApp): void {
    if (message.index < this.log.committed) {
      this.sendAppendResponse(message.from, this.log.committed)
      return
    }
    const lastNewIndex = this.log.maybeAppend(message.index, message.logTerm, message.commit, message.entries)
    if (lastNewIndex !== undefined) {
      for (const entry of message.entries) if (entry.type === 'normal' && entry.timeMs !== undefined) this.lastStampMs = Math.max(this.lastStampMs, entry.timeMs)
      this.sendAppendResponse(message.from, lastNewIndex)
      return
    }
    const hint = this.log.findConflictByTerm(Math.min(message.index, this.log.lastIndex()), message.logTerm)
    this.send({
      type: 'app-resp',
      from: this.id,
      to: message.from,
      term: this.term,
      index: message.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    })
  }

  private sendAppendResponse(to: NodeId, index: number): void {
    this.send({ type: 'app-resp', from: this.id, to, term: this.term, index, reject: false, rejectHint: 0, logTerm: 0 })
  }

  private handleHeartbeat(message: MsgHeartbeat): void {
    this.log.commitTo(Math.min(message.commit, this.log.lastIndex()))
    this.send({ type: 'heartbeat-resp', from: this.id, to: message.from, term: this.term, context: message.context })
  }

  private handleSnapshotChunk(message: MsgSnap): void {
    const reply = (offset: number, reject: boolean): void =>
      this.send({ type: 'snap-resp', from: this.id, to: message.from, term: this.term, index: message.meta.index, offset, reject })
    if (message.meta.index <= this.log.committed) {
      // We already have everything the snapshot covers.
      this.incomingSnapshot = undefined
      reply(message.totalBytes, false)
      this.sendAppendResponse(message.from, this.log.committed)
      return
    }
    let incoming = this.incomingSnapshot
    if (message.offset === 0 && (incoming === undefined || incoming.snapshot.index !== message.meta.index)) {
      incoming = { snapshot: message.meta, chunks: [], receivedBytes: 0 }
      this.incomingSnapshot = incoming
    }
    if (incoming === undefined || incoming.snapshot.index !== message.meta.index) {
      reply(0, false)
      return
    }
    if (message.offset === incoming.receivedBytes) {
      incoming.chunks.push(message.chunk)
      incoming.receivedBytes += message.chunk.byteLength
    }
    if (!message.done || message.offset + message.chunk.byteLength !== incoming.receivedBytes) {
      reply(incoming.receivedBytes, false)
      return
    }
    this.incomingSnapshot = undefined
    const data = concatBytes(incoming.chunks, incoming.receivedBytes)
    assert(data.byteLength === message.totalBytes, 'snapshot size mismatch after final chunk')
    this.restore({ meta: message.meta, data })
    reply(message.totalBytes, false)
    // Only the snapshot's index is known to match the leader; a kept suffix may still conflict.
    this.sendAppendResponse(message.from, message.meta.index)
  }

  /** Installs a complete snapshot from the leader (Raft Figure 13). */
  private restore(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta
    if (this.log.matchTerm(index, term)) {
      // Our log already contains the snapshot's last entry: keep the log, just commit.
      this.log.commitTo(index)
      return
    }
    // Rule 7 of Figure 13: discard the whole log, including any conflicting suffix.
    this.log.restore(snapshot)
    this.setConf(snapshot.meta.confState)
  }

  // ---------------------------------------------------------------------------------------------
  // Linearizable reads (ReadIndex)

  /**
   * Requests a read point. On the leader the answer appears in `readStates` after a heartbeat
   * round confirms leadership; a follower asks the leader.
   */
  readIndex(context: string): void {
    const message: MsgReadIndex = { type: 'read-index', from: this.id, to: this.id, term: 0, context }
    if (this.role === 'leader') this.handleReadIndex(message)
    else if (this.lead !== NONE) this.send({ ...message, to: this.lead })
  }

  private handleReadIndex(message: MsgReadIndex): void {
    // Until an entry of our term commits, our commit index may lag the previous leader's.
    if (this.log.termOrZero(this.log.committed) !== this.term) {
      this.deferredReads.push(message)
      return
    }
    const index = this.log.committed
    if (this.voters.length === 1 && this.voters[0] === this.id) {
      this.answerRead({ context: message.context, index, from: message.from === this.id ? NONE : message.from, acks: new Set() })
      return
    }
    const context = `${this.id}/${this.term}/${++this.readSequence}`
    this.pendingReads.push({
      context,
      index,
      from: message.from === this.id ? NONE : message.from,
      acks: new Set([this.id]),
    })
    // Remember the caller's context under ours.
    this.readContexts.set(context, message.context)
    this.bcastHeartbeat(context)
  }

  private releaseDeferredReads(): void {
    if (this.deferredReads.length === 0 || this.log.termOrZero(this.log.committed) !== this.term) return
    const deferred = this.deferredReads
    this.deferredReads = []
    for (const message of deferred) this.handleReadIndex(message)
  }

  private ackRead(context: string, from: NodeId): void {
    const position = this.pendingReads.findIndex((read) => read.context === context)
    if (position < 0) return
    const read = this.pendingReads[position]!
    read.acks.add(from)
    const acks = new Map<NodeId, boolean>([...read.acks].map((id) => [id, true]))
    if (voteResult(this.voters, acks) !== 'won') return
    // A quorum confirmed us at this point, so every earlier read is confirmed too.
    const released = this.pendingReads.splice(0, position + 1)
    for (const pending of released) {
      const callerContext = this.readContexts.get(pending.context) ?? pending.context
      this.readContexts.delete(pending.context)
      this.answerRead({ ...pending, context: callerContext })
    }
  }

  private answerRead(read: PendingRead): void {
    if (read.from === NONE || read.from === this.id) {
      this.readStates.push({ index: read.index, context: read.context })
    } else {
      this.send({ type: 'read-index-resp', from: this.id, to: read.from, term: this.term, index: read.index, context: read.context })
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Leadership transfer

  /** Asks the group to move leadership to `transferee`. */
  transferLeadership(transferee: NodeId): void {
    if (this.role === 'leader') this.handleTransferLeader(transferee)
    else if (this.lead !== NONE) {
      this.send({ type: 'transfer-leader', from: this.id, to: this.lead, term: 0, transferee })
    }
  }

  private handleTransferLeader(transferee: NodeId): void {
    if (transferee === this.id || !this.voters.includes(transferee)) return
    if (this.leadTransferee === transferee) return
    this.leadTransferee = transferee
    // The transfer must finish within one election timeout.
    this.electionElapsed = 0
    const progress = this.progress.get(transferee)!
    if (progress.match === this.log.lastIndex()) {
      this.send({ type: 'timeout-now', from: this.id, to: transferee, term: this.term })
    } else {
      this.sendAppend(transferee, true)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Membership

  /** Applies a committed membership change; the driver calls this while applying the entry. */
  applyConfChange(change: ConfChange): ConfState {
    const voters = this.voters.filter((id) => id !== change.nodeId)
    const learners = this.learners.filter((id) => id !== change.nodeId)
    if (change.type === 'add-voter') voters.push(change.nodeId)
    if (change.type === 'add-learner') learners.push(change.nodeId)
    const removed = change.type === 'remove' && !this.removed.includes(change.nodeId) ? [...this.removed, change.nodeId] : this.removed
    this.setConf(removed.length === 0 ? { voters, learners } : { voters, learners, removed })
    if (this.role === 'leader') {
      if (!this.progress.has(this.id)) {
        // A leader removed from the group steps down. Handing over to an up-to-date voter
        // saves the others a whole election timeout; without one they elect a successor.
        const successor = this.voters.find((id) => this.progress.get(id)!.match === this.log.lastIndex())
        if (successor !== undefined) this.send({ type: 'timeout-now', from: this.id, to: successor, term: this.term })
        this.becomeFollower(this.term, NONE)
      } else {
        if (this.leadTransferee !== NONE && !this.voters.includes(this.leadTransferee)) this.leadTransferee = NONE
        // The quorum may have shrunk, and new members need the log.
        this.maybeCommit()
        this.bcastAppend()
      }
    }
    return this.confState()
  }

  private setConf(confState: ConfState): void {
    this.voters = [...confState.voters].sort()
    this.learners = [...confState.learners].sort()
    this.removed = [...(confState.removed ?? [])].sort()
    const members = new Set([...this.voters, ...this.learners])
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id)
    for (const id of members) {
      const existing = this.progress.get(id)
      if (existing !== undefined) {
        existing.isLearner = this.learners.includes(id)
        continue
      }
      const progress = new Progress({
        id,
        next: this.log.lastIndex() + 1,
        isLearner: this.learners.includes(id),
        inflightMessagesMax: this.config.maxInflightMessages,
        inflightBytesMax: this.config.maxInflightBytes,
      })
      // A new member counts as active so CheckQuorum does not depose the leader that added it.
      progress.recentActive = true
      if (id === this.id && this.role === 'leader') progress.match = this.log.persistedLastIndex()
      this.progress.set(id, progress)
    }
  }
}

function concatBytes(chunks: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const result = new Uint8Array(totalBytes)
  let offset = 0
  for (const chunk of chunks) {
    result.set(chunk, offset)
    offset += chunk.byteLength
  }
  return result
}
