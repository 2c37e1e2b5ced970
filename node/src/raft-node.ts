/**
 * RaftNode: the thin, ordered driver around the pure Raft core. It owns the ticker, the LevelDB
 * log store, the transport and the state machine, and runs one loop:
 *
 *   step queued messages, ticks, batched proposals and read requests
 *   → ready → persist (one synced LevelDB batch) → send → apply (atomic with applied index)
 *   → advance → repeat until nothing is ready.
 *
 * Inputs that arrive while a Ready is being persisted wait in bounded queues and go into the next
 * Ready together: that is the group commit (many proposals, one fsync).
 */
import { assert } from '../../lib/assert.ts'
import { NotLeaderError, TimeoutError } from '../../lib/errors.ts'
import { ClockOs, type Clock } from '../../lib/clock.ts'
import type { Random } from '../../lib/random.ts'
import { decodeMessage, encodeMessage } from '../../consensus/src/codec.ts'
import { bootstrapEntries } from '../../consensus/src/bootstrap.ts'
import { resolveRaftConfig, type RaftConfig } from '../../consensus/src/config.ts'
import { LogStoreLevel } from '../../consensus/src/level/log-store-level.ts'
import { RawNode, type Ready } from '../../consensus/src/raw-node.ts'
import type { MemoryStorage } from '../../consensus/src/storage.ts'
import type { ConfChange, ConfState, Entry, MessageType, NodeId, Snapshot } from '../../consensus/src/types.ts'
import type { Transport } from '../../network/src/transport.ts'

/** A LevelDB write the state machine wants committed atomically with the applied index. */
export type BatchOperation = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

/**
 * The replicated state machine. It must be deterministic: the same entries in the same order give
 * the same state and results on every node. It keeps its keys under the `s/` prefix.
 */
export interface StateMachine {
  /** Loads state from the database at startup (after a crash, it is as of the stored applied index). */
  load(store: LogStoreLevel): Promise<void>
  /**
   * Applies one command; pushes its writes to `batch` and returns a result for the proposer.
   * `timeMs` is the leader's stamp on the entry: the only clock a state machine may read.
   */
  apply(data: Uint8Array, index: number, timeMs: number, batch: BatchOperation[]): unknown
  /** A complete image of the state. */
  snapshot(): Uint8Array
  /** Replaces the state with a snapshot image; pushes the writes that do so to `batch`. */
  restore(data: Uint8Array, batch: BatchOperation[]): void
}

export interface RaftNodeOptions {
  readonly id: NodeId
  /**
   * Founding members when this node bootstraps a brand-new group (ignored when the data directory
   * has state). Empty for a node joining an existing group: it learns the membership from the log.
   */
  readonly initialVoters: readonly NodeId[]
  readonly dataDirectory: string
  readonly transport: Transport
  readonly stateMachine: StateMachine
  readonly random: Random
  /** Wall-clock source for the leader's entry stamps; the OS clock by default. */
  readonly clock?: Clock
  /** Wall time per Raft tick. */
  readonly tickMs: number
  readonly raft?: Partial<Omit<RaftConfig, 'id' | 'applied'>>
  /** Take a snapshot and compact the log after this many applied entries. */
  readonly snapshotEveryEntries?: number
  /** Proposals and reads not finished by then fail with TimeoutError. */
  readonly requestTimeoutMs?: number
  /** Proposals waiting for the next Ready; more are refused (backpressure). */
  readonly pendingProposalsMax?: number
  readonly log?: (line: string) => void
}

export interface RaftStatus {
  readonly id: NodeId
  readonly role: string
  readonly leader: NodeId
  readonly term: number
  readonly commit: number
  readonly applied: number
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
}

interface Waiter<T> {
  resolve(value: T): void
  reject(error: Error): void
  deadlineMs: number
}

/** Proposal envelope: 8-byte proposer tag + 8-byte sequence, then the command. */
const PROPOSAL_HEADER_BYTES = 16
const MAX_TICKS_PER_LOOP = 50
const LEADER_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(['app', 'heartbeat', 'snap', 'timeout-now'])

export class RaftNode {
  readonly id: NodeId
  private readonly options: RaftNodeOptions
  private store!: LogStoreLevel
  private storage!: MemoryStorage
  private raw!: RawNode
  private confState: ConfState = { voters: [], learners: [] }
  private applied = 0
  private readonly proposerTag: bigint
  private proposalSequence = 0n
  private pendingProposals: Array<{ data: Uint8Array; key: string; waiter: Waiter<unknown> }> = []
  private readonly proposalWaiters = new Map<string, Waiter<unknown>>()
  private pendingReads: Array<Waiter<void>> = []
  private readonly readRounds = new Map<string, Array<Waiter<void>>>()
  private readsAwaitingApply: Array<{ index: number; waiters: Array<Waiter<void>> }> = []
  private appliedWaiters: Array<{ index: number; waiter: Waiter<void> }> = []
  private pendingConfChanges: Array<{ change: ConfChange; waiter: Waiter<void> }> = []
  private readSequence = 0
  private inbox: Uint8Array[] = []
  private pendingTicks = 0
  private looping = false
  private stopped = false
  private ticker: NodeJS.Timeout | undefined
  private loopError: Error | undefined
  private readonly leaderWatchers = new Set<() => void>()

  private readonly clock: Clock

  constructor(options: RaftNodeOptions) {
    this.id = options.id
    this.options = options
    this.clock = options.clock ?? new ClockOs()
    this.proposerTag = BigInt(options.random.int(0, 2 ** 31)) * 2n ** 31n + BigInt(options.random.int(0, 2 ** 31))
  }

  async start(): Promise<void> {
    this.store = await LogStoreLevel.open(this.options.dataDirectory)
    const loaded = await this.store.load()
    this.storage = loaded.storage
    const { hardState, confState } = this.storage.initialState()
    const fresh = hardState.term === 0 && this.storage.lastIndex() === 0 && this.storage.snapshot().meta.index === 0
    if (fresh && this.options.initialVoters.length > 0) {
      // A founding member of a brand-new group: the membership goes into the log (bootstrap.ts).
      const bootstrap = bootstrapEntries(this.options.initialVoters)
      await this.store.persist({ entries: bootstrap.entries, hardState: bootstrap.hardState })
      this.storage.append(bootstrap.entries)
      this.storage.setHardState(bootstrap.hardState)
    }
    this.confState = confState
    await this.options.stateMachine.load(this.store)
    this.applied = loaded.applied
    const snapshot = this.storage.snapshot()
    if (this.applied < snapshot.meta.index) {
      // Crashed between persisting a received snapshot and applying it: apply it now.
      await this.restoreSnapshot(snapshot)
    }
    const config = resolveRaftConfig({ ...this.options.raft, id: this.id, applied: this.applied })
    this.raw = new RawNode(config, this.storage, this.options.random)
    this.options.transport.onFrame((_from, frame) => this.receive(frame))
    await this.options.transport.start()
    this.ticker = setInterval(() => {
      this.pendingTicks = Math.min(this.pendingTicks + 1, MAX_TICKS_PER_LOOP)
      this.expireWaiters()
      this.kick()
    }, this.options.tickMs)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.ticker !== undefined) clearInterval(this.ticker)
    const error = new NotLeaderError('Raft node is stopping', undefined)
    for (const waiter of this.proposalWaiters.values()) waiter.reject(error)
    for (const { waiter } of this.pendingProposals) waiter.reject(error)
    for (const waiter of this.pendingReads) waiter.reject(error)
    await this.options.transport.stop()
    // Let an in-progress loop iteration finish its LevelDB write before closing the database.
    for (let i = 0; this.looping && i < 1000; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    await this.store.close()
  }

  status(): RaftStatus {
    const raft = this.raw.raft
    return {
      id: this.id,
      role: raft.role,
      leader: raft.lead,
      term: raft.term,
      commit: raft.log.committed,
      applied: this.applied,
      voters: raft.voters,
      learners: raft.learners,
    }
  }

  /**
   * Replicates `command` and resolves with the state machine's result once it is applied here.
   * Fails fast with NotLeaderError when no leader is known, TimeoutError when it takes too long.
   */
  propose(command: Uint8Array): Promise<unknown> {
    if (this.stopped) return Promise.reject(new NotLeaderError('Raft node is stopped', undefined))
    if (this.pendingProposals.length >= (this.options.pendingProposalsMax ?? 10_000)) {
      return Promise.reject(new TimeoutError('Too many proposals waiting; retry later'))
    }
    const sequence = ++this.proposalSequence
    const data = new Uint8Array(PROPOSAL_HEADER_BYTES + command.byteLength)
    const view = new DataView(data.buffer)
    view.setBigUint64(0, this.proposerTag)
    view.setBigUint64(8, sequence)
    data.set(command, PROPOSAL_HEADER_BYTES)
    return new Promise((resolve, reject) => {
      const key = `${this.proposerTag}:${sequence}`
      this.pendingProposals.push({ data, key, waiter: { resolve, reject, deadlineMs: this.deadline() } })
      this.kick()
    })
  }

  /** Resolves when a linearizable read may be served from the local state machine. */
  readBarrier(): Promise<void> {
    if (this.stopped) return Promise.reject(new NotLeaderError('Raft node is stopped', undefined))
    return new Promise((resolve, reject) => {
      this.pendingReads.push({ resolve, reject, deadlineMs: this.deadline() })
      this.kick()
    })
  }

  /**
   * Proposes a membership change on the leader and resolves once it is applied here. Rejects with
   * NotLeaderError on a follower or when the core refuses it (one change at a time, id reuse).
   */
  async proposeConfChange(change: ConfChange): Promise<ConfState> {
    if (this.stopped) throw new NotLeaderError('Raft node is stopped', undefined)
    await new Promise<void>((resolve, reject) => {
      this.pendingConfChanges.push({ change, waiter: { resolve, reject, deadlineMs: this.deadline() } })
      this.kick()
    })
    return this.confState
  }

  /** How far `nodeId`'s log is known to match ours (leader only; 0 elsewhere). */
  matchIndex(nodeId: NodeId): number {
    const raft = this.raw.raft
    if (raft.role !== 'leader') return 0
    if (nodeId === this.id) return raft.log.lastIndex()
    return raft.progress.get(nodeId)?.match ?? 0
  }

  /** The applied membership, including ids that were removed. */
  membership(): ConfState {
    return this.confState
  }

  /** Asks the group to move leadership to `transferee`. */
  transferLeadership(transferee: NodeId): void {
    this.raw.transferLeadership(transferee)
    this.kick()
  }

  private deadline(): number {
    return performance.now() + (this.options.requestTimeoutMs ?? 5000)
  }

  private receive(frame: Uint8Array): void {
    // Bounded: under overload, dropping peer messages is safe (Raft retransmits).
    if (this.inbox.length < 10_000) this.inbox.push(frame)
    this.kick()
  }

  private kick(): void {
    if (this.looping || this.stopped) return
    this.looping = true
    this.loop().then(
      () => {
        this.looping = false
      },
      (error: Error) => {
        // A failed write to our own log is not recoverable in place: stop serving rather than
        // risk acknowledging something that is not durable.
        this.looping = false
        this.loopError = error
        this.options.log?.(`raft loop failed, node stops: ${error.stack ?? error.message}`)
        void this.stop()
      },
    )
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.stopped) return
      this.feedInputs()
      if (!this.raw.hasReady()) return
      const ready = this.raw.ready()
      await this.handleReady(ready)
      this.raw.advance(ready)
      this.serveReads()
    }
  }

  private feedInputs(): void {
    this.raw.setTimeMs(this.clock.realtimeMs())
    const frames = this.inbox
    this.inbox = []
    for (const frame of frames) {
      try {
        this.raw.step(decodeMessage(frame))
      } catch (error) {
        this.options.log?.(`dropping malformed raft message: ${(error as Error).message}`)
      }
    }
    for (; this.pendingTicks > 0; this.pendingTicks--) this.raw.tick()
    if (this.pendingProposals.length > 0) {
      const batch = this.pendingProposals
      this.pendingProposals = []
      const outcome = this.raw.proposeBatch(batch.map((proposal) => proposal.data))
      for (const proposal of batch) {
        if (outcome.accepted) this.proposalWaiters.set(proposal.key, proposal.waiter)
        else proposal.waiter.reject(new NotLeaderError(`Proposal dropped: ${outcome.reason}`, this.raw.raft.lead || undefined))
      }
    }
    for (const { change, waiter } of this.pendingConfChanges.splice(0)) {
      const outcome = this.raw.propose({ type: 'conf', change })
      if (outcome.accepted) this.appliedWaiters.push({ index: this.raw.raft.log.lastIndex(), waiter })
      else waiter.reject(new NotLeaderError(`Membership change refused: ${outcome.reason}`, this.raw.raft.lead || undefined))
    }
    if (this.pendingReads.length > 0) {
      if (this.raw.raft.lead === '') {
        for (const waiter of this.pendingReads) waiter.reject(new NotLeaderError('No leader known for a linearizable read', undefined))
        this.pendingReads = []
      } else {
        // One ReadIndex round serves every read that queued up meanwhile.
        const context = `${this.id}:${++this.readSequence}`
        this.readRounds.set(context, this.pendingReads)
        this.pendingReads = []
        this.raw.readIndex(context)
      }
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    // A leader's appends and heartbeats may leave before its own fsync (Raft thesis §10.2.1):
    // they only carry entries, and the leader counts itself toward commit only after the write.
    // Everything that promises durability (votes, acknowledgements) waits for the write.
    const early = ready.messages.filter((message) => LEADER_MESSAGE_TYPES.has(message.type))
    for (const message of early) this.options.transport.send(message.to, encodeMessage(message))
    // 1. Persist, then mirror into the storage the core reads.
    if (ready.snapshot !== undefined || ready.entries.length > 0 || ready.hardState !== undefined) {
      // Entries, term and vote must be durable before anyone hears of them; a commit-only
      // change need not be (it is relearned from the leader after a crash).
      await this.store.persist(
        {
          ...(ready.hardState !== undefined ? { hardState: ready.hardState } : {}),
          ...(ready.entries.length > 0 ? { entries: ready.entries } : {}),
          ...(ready.snapshot !== undefined ? { snapshot: ready.snapshot } : {}),
        },
        { sync: ready.mustSync || ready.snapshot !== undefined },
      )
      if (ready.snapshot !== undefined) this.storage.applySnapshot(ready.snapshot)
      this.storage.append(ready.entries)
      if (ready.hardState !== undefined) this.storage.setHardState(ready.hardState)
    }
    // 2. Send the rest.
    for (const message of ready.messages) {
      if (!LEADER_MESSAGE_TYPES.has(message.type)) this.options.transport.send(message.to, encodeMessage(message))
    }
    // 3. Apply.
    if (ready.snapshot !== undefined) await this.restoreSnapshot(ready.snapshot)
    if (ready.committedEntries.length > 0) await this.applyEntries(ready.committedEntries)
    for (const readState of ready.readStates) {
      const waiters = this.readRounds.get(readState.context)
      if (waiters === undefined) continue
      this.readRounds.delete(readState.context)
      this.readsAwaitingApply.push({ index: readState.index, waiters })
    }
    if (ready.softState !== undefined) for (const watcher of this.leaderWatchers) watcher()
    await this.maybeSnapshot()
  }

  private async restoreSnapshot(snapshot: Snapshot): Promise<void> {
    const batch: BatchOperation[] = []
    this.options.stateMachine.restore(snapshot.data, batch)
    this.confState = snapshot.meta.confState
    await this.store.persistApplied(snapshot.meta.index, this.confState, batch)
    this.applied = snapshot.meta.index
  }

  private async applyEntries(entries: readonly Entry[]): Promise<void> {
    const batch: BatchOperation[] = []
    const results: Array<{ key: string; result: unknown }> = []
    let lastIndex = this.applied
    for (const entry of entries) {
      if (entry.index <= this.applied) continue
      assert(entry.index === lastIndex + 1, `apply gap: ${entry.index} after ${lastIndex}`)
      lastIndex = entry.index
      if (entry.type === 'conf') {
        this.confState = this.raw.applyConfChange(entry.change)
        this.storage.setConfState(this.confState)
        continue
      }
      if (entry.data.byteLength < PROPOSAL_HEADER_BYTES) continue
      const view = new DataView(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength)
      const key = `${view.getBigUint64(0)}:${view.getBigUint64(8)}`
      const result = this.options.stateMachine.apply(entry.data.subarray(PROPOSAL_HEADER_BYTES), entry.index, entry.timeMs ?? 0, batch)
      results.push({ key, result })
    }
    if (lastIndex === this.applied) return
    // Not synced: after a crash the state machine resumes from an older applied index and
    // re-applies from the durable log, and the batch keeps state and index in step.
    await this.store.persistApplied(lastIndex, this.confState, batch, { sync: false })
    this.applied = lastIndex
    for (const { key, result } of results) {
      const waiter = this.proposalWaiters.get(key)
      if (waiter === undefined) continue
      this.proposalWaiters.delete(key)
      waiter.resolve(result)
    }
  }

  private serveReads(): void {
    if (this.appliedWaiters.length > 0) {
      const done = this.appliedWaiters.filter((item) => item.index <= this.applied)
      this.appliedWaiters = this.appliedWaiters.filter((item) => item.index > this.applied)
      for (const item of done) item.waiter.resolve()
    }
    if (this.readsAwaitingApply.length === 0) return
    const remaining: typeof this.readsAwaitingApply = []
    for (const round of this.readsAwaitingApply) {
      if (round.index <= this.applied) for (const waiter of round.waiters) waiter.resolve()
      else remaining.push(round)
    }
    this.readsAwaitingApply = remaining
  }

  private async maybeSnapshot(): Promise<void> {
    const every = this.options.snapshotEveryEntries ?? 10_000
    const snapshotIndex = this.storage.snapshot().meta.index
    if (this.applied - snapshotIndex < every) return
    const snapshot = this.storage.createSnapshot(this.applied, this.confState, this.options.stateMachine.snapshot())
    await this.store.saveSnapshot(snapshot)
    this.storage.compact(snapshot.meta.index)
  }

  private expireWaiters(): void {
    const nowMs = performance.now()
    const expired = (waiter: Waiter<unknown>): boolean => {
      if (waiter.deadlineMs > nowMs) return false
      waiter.reject(new TimeoutError('Request timed out waiting for the Raft group (leader change or lost quorum)'))
      return true
    }
    for (const [key, waiter] of this.proposalWaiters) if (expired(waiter)) this.proposalWaiters.delete(key)
    this.appliedWaiters = this.appliedWaiters.filter((item) => !expired(item.waiter as Waiter<unknown>))
    for (const [context, waiters] of this.readRounds) {
      const live = waiters.filter((waiter) => !expired(waiter as Waiter<unknown>))
      if (live.length === 0) this.readRounds.delete(context)
      else this.readRounds.set(context, live)
    }
    this.readsAwaitingApply = this.readsAwaitingApply
      .map((round) => ({ index: round.index, waiters: round.waiters.filter((waiter) => !expired(waiter as Waiter<unknown>)) }))
      .filter((round) => round.waiters.length > 0)
  }

  /** The loop's fatal error, if it stopped on one. */
  failure(): Error | undefined {
    return this.loopError
  }
}
