/**
 * A deterministic simulator for a Raft group: every node runs the real RawNode over a simulated
 * network and a simulated disk, all driven by one seeded Random and a tick counter.
 *
 * Faults: message loss, duplication, reordering and delay; symmetric and one-way partitions;
 * crashes that lose everything not yet persisted (a Ready taken but not yet written); restarts
 * from the durable state; membership churn (new machines join as learners, learners are
 * promoted, voters are demoted or removed, the leader included). Clients run a key-value register workload whose history is checked for
 * linearizability, and the simulator checks election safety, log matching, leader completeness
 * and state machine safety as it goes. A violation throws with the seed in the message.
 */
import { assert } from '../../lib/assert.ts'
import { RandomXoshiro, type Random } from '../../lib/random.ts'
import { resolveRaftConfig } from '../../consensus/src/config.ts'
import { RawNode, type Ready } from '../../consensus/src/raw-node.ts'
import { MemoryStorage } from '../../consensus/src/storage.ts'
import { bootstrapEntries } from '../../consensus/src/bootstrap.ts'
import type { ConfChange, ConfState, Entry, Message, NodeId } from '../../consensus/src/types.ts'
import type { RegisterOperation } from './linearizability.ts'

/** Fault probabilities and sizes, all derived from the seed ("swarm testing"). */
export interface SimOptions {
  readonly seed: number
  readonly nodeCount: 3 | 5
  readonly ticks: number
  readonly dropProbability: number
  readonly duplicateProbability: number
  readonly delayTicksMax: number
  readonly partitionProbability: number
  readonly crashProbability: number
  readonly clientCount: number
  readonly snapshotEveryEntries: number
  readonly keyCount: number
  readonly membershipChangeProbability: number
}

export function optionsFromSeed(seed: number, ticks = 1500): SimOptions {
  const random = new RandomXoshiro(seed)
  return {
    seed,
    nodeCount: random.chance(0.5) ? 3 : 5,
    ticks,
    dropProbability: random.chance(0.3) ? 0 : random.float() * 0.2,
    duplicateProbability: random.float() * 0.05,
    delayTicksMax: random.int(0, 4),
    partitionProbability: random.float() * 0.01,
    crashProbability: random.float() * 0.004,
    clientCount: random.int(1, 5),
    snapshotEveryEntries: random.int(8, 64),
    keyCount: random.int(1, 4),
    // A third of the runs churn membership; the rest keep the founders only.
    membershipChangeProbability: random.chance(0.33) ? random.float() * 0.01 : 0,
  }
}

interface Command {
  readonly client: number
  readonly request: number
  readonly key: string
  readonly value: string
}

/** What survives a crash: the log storage and the state machine with its applied index. */
interface Disk {
  readonly storage: MemoryStorage
  applied: number
  kv: Map<string, string>
  /** Highest request applied per client, so a duplicated proposal is applied once. */
  sessions: Map<number, number>
  confState: ConfState
}

interface InFlightReady {
  readonly ready: Ready
  readonly persistAtTick: number
}

interface PendingRequest {
  readonly client: number
  readonly kind: 'read' | 'write'
  readonly key: string
  readonly value: string
  readonly request: number
  readonly context: string
}

class SimNode {
  readonly id: NodeId
  readonly disk: Disk
  raw: RawNode | undefined = undefined
  inbox: Message[] = []
  inFlight: InFlightReady | undefined = undefined
  /** Reads waiting for their read index to be applied. */
  readWaits: Array<{ index: number; context: string }> = []
  pending = new Map<string, PendingRequest>()

  constructor(id: NodeId, disk: Disk) {
    this.id = id
    this.disk = disk
  }
}

function describe(entry: Entry): string {
  return `${entry.term}/${entry.index}/${entry.type === 'normal' ? decoder.decode(entry.data) : JSON.stringify(entry.change)}`
}

const DROPPED_KEY = '\u0000dropped'
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface SimResult {
  readonly options: SimOptions
  readonly history: RegisterOperation[]
  readonly leadersByTerm: Map<number, NodeId>
  readonly commitIndex: number
  readonly stats: { messages: number; crashes: number; partitions: number; snapshots: number; elections: number; membershipChanges: number }
}

export class ClusterSim {
  readonly options: SimOptions
  private readonly random: Random
  private readonly nodes = new Map<NodeId, SimNode>()
  private now = 0
  private network: Array<{ deliverAtTick: number; message: Message }> = []
  private blockedLinks = new Set<string>()
  private readonly leadersByTerm = new Map<number, NodeId>()
  /** index → "term:payload" of every applied entry, from any node. */
  private readonly appliedByIndex = new Map<number, string>()
  private readonly history: RegisterOperation[] = []
  private readonly openOperations = new Map<string, { operationIndex: number; deadlineTick: number; nodeId: NodeId }>()
  private readonly clientBusy: boolean[]
  private nextRequest = 1
  private faultsEnabled = true
  readonly stats = { messages: 0, crashes: 0, partitions: 0, snapshots: 0, elections: 0, membershipChanges: 0 }
  private nextJoinerNumber: number

  constructor(options: SimOptions) {
    this.options = options
    this.random = new RandomXoshiro(options.seed * 7919 + 17)
    const ids = Array.from({ length: options.nodeCount }, (_, i) => `n${i + 1}`)
    this.nextJoinerNumber = options.nodeCount + 1
    const bootstrap = bootstrapEntries(ids)
    for (const id of ids) {
      const node = this.addNode(id)
      node.disk.storage.append(bootstrap.entries)
      node.disk.storage.setHardState(bootstrap.hardState)
    }
    for (const node of this.nodes.values()) this.start(node)
    this.clientBusy = Array.from({ length: options.clientCount }, () => false)
  }

  private fail(message: string): never {
    throw new Error(`simulation violation (seed ${this.options.seed}, tick ${this.now}): ${message}`)
  }

  /** A node with an empty disk: a founder before bootstrap, or a machine about to join. */
  private addNode(id: NodeId): SimNode {
    const emptyConf: ConfState = { voters: [], learners: [] }
    const disk: Disk = { storage: new MemoryStorage(emptyConf), applied: 0, kv: new Map(), sessions: new Map(), confState: emptyConf }
    const node = new SimNode(id, disk)
    this.nodes.set(id, node)
    return node
  }

  /**
   * Membership churn on the leader: add a new machine as a learner (ids are never reused),
   * promote a learner, demote or remove a voter. Refusals (one change at a time) are fine.
   */
  private changeMembership(): void {
    if (!this.faultsEnabled || !this.random.chance(this.options.membershipChangeProbability)) return
    const leader = [...this.nodes.values()].find((node) => node.raw?.raft.role === 'leader' && node.inFlight === undefined)
    if (leader === undefined) return
    const raft = leader.raw!.raft
    const choice = this.random.int(0, 4)
    let change: ConfChange | undefined
    if (choice === 0 && this.nextJoinerNumber <= this.options.nodeCount + 3) {
      change = { type: 'add-learner', nodeId: `n${this.nextJoinerNumber}` }
    } else if (choice === 1 && raft.learners.length > 0) {
      change = { type: 'add-voter', nodeId: raft.learners[this.random.int(0, raft.learners.length)]! }
    } else if (choice >= 2 && raft.voters.length > 2) {
      const nodeId = raft.voters[this.random.int(0, raft.voters.length)]!
      change = { type: choice === 2 ? 'remove' : 'add-learner', nodeId }
    }
    if (change === undefined) return
    const outcome = leader.raw!.propose({ type: 'conf', change })
    if (!outcome.accepted) return
    this.stats.membershipChanges++
    if (change.type === 'add-learner' && !this.nodes.has(change.nodeId)) {
      this.nextJoinerNumber++
      this.start(this.addNode(change.nodeId))
    }
  }

  private start(node: SimNode): void {
    const config = resolveRaftConfig({
      id: node.id,
      electionTimeoutTicks: 10,
      heartbeatIntervalTicks: 1,
      applied: node.disk.applied,
      maxSizePerMsgBytes: 512,
      maxInflightMessages: 8,
      snapshotChunkBytes: 64,
    })
    node.disk.storage.setConfState(node.disk.confState)
    node.raw = new RawNode(config, node.disk.storage, new RandomXoshiro(this.random.int(0, 2 ** 31)))
    node.inbox = []
    node.inFlight = undefined
    node.readWaits = []
    node.pending.clear()
  }

  /** Runs the fault phase, then heals everything and requires convergence. */
  run(): SimResult {
    for (; this.now < this.options.ticks; this.now++) this.step()
    this.heal()
    const livenessDeadline = this.now + 400
    let converged = false
    for (; this.now < livenessDeadline; this.now++) {
      this.step()
      if (this.now % 20 === 0 && this.converged()) {
        converged = true
        break
      }
    }
    if (!converged) this.fail('cluster did not converge within 400 ticks after healing')
    this.checkLogMatching()
    this.expireOperations(true)
    return {
      options: this.options,
      // Timed-out reads had no effect and are left out of the history.
      history: this.history.filter((operation) => operation.key !== DROPPED_KEY),
      leadersByTerm: this.leadersByTerm,
      commitIndex: Math.max(...[...this.nodes.values()].map((node) => node.raw!.raft.log.committed)),
      stats: this.stats,
    }
  }

  private heal(): void {
    this.faultsEnabled = false
    this.blockedLinks.clear()
    for (const node of this.nodes.values()) if (node.raw === undefined) this.start(node)
  }

  /** One leader, an entry of its term committed, and every current member applied all of it. */
  private converged(): boolean {
    const leaders = [...this.nodes.values()].filter((node) => node.raw!.raft.role === 'leader')
    if (leaders.length !== 1) return false
    const leader = leaders[0]!
    // Removed nodes that missed their removal stay behind forever; only members must converge.
    const members = new Set([...leader.raw!.raft.voters, ...leader.raw!.raft.learners])
    const nodes = [...this.nodes.values()].filter((node) => members.has(node.id))
    if (leader.raw!.raft.log.committed === 0) return false
    const lastTerm = leader.raw!.raft.log.termOrZero(leader.raw!.raft.log.committed)
    if (lastTerm !== leader.raw!.raft.term) return false
    return nodes.every((node) => node.disk.applied === leader.raw!.raft.log.committed && node.inFlight === undefined)
  }

  /**
   * Log matching: wherever two nodes' durable logs hold an entry with the same index and term,
   * the entries and every entry before them (that both still hold) are identical.
   */
  private checkLogMatching(): void {
    const logs = [...this.nodes.values()].map((node) => {
      const storage = node.disk.storage
      const entries = storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Infinity)
      return { id: node.id, entries: typeof entries === 'string' ? [] : entries }
    })
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const byIndex = new Map(logs[b]!.entries.map((entry) => [entry.index, entry]))
        let matchedFrom = -1
        for (let i = logs[a]!.entries.length - 1; i >= 0; i--) {
          const entry = logs[a]!.entries[i]!
          const other = byIndex.get(entry.index)
          if (other === undefined) continue
          if (matchedFrom < 0 && other.term === entry.term) matchedFrom = entry.index
          if (matchedFrom >= 0 && describe(other) !== describe(entry)) {
            this.fail(`log matching: ${logs[a]!.id} and ${logs[b]!.id} agree at ${matchedFrom} but differ at ${entry.index}`)
          }
        }
      }
    }
  }

  private step(): void {
    if (this.now % 100 === 0) this.checkLogMatching()
    this.injectFaults()
    this.changeMembership()
    this.deliverMessages()
    for (const node of this.nodes.values()) this.stepNode(node)
    this.runClients()
    this.expireOperations(false)
  }

  private injectFaults(): void {
    if (!this.faultsEnabled) return
    const ids = [...this.nodes.keys()]
    if (this.random.chance(this.options.partitionProbability)) {
      this.stats.partitions++
      this.blockedLinks.clear()
      const mode = this.random.int(0, 3)
      const isolated = ids.filter(() => this.random.chance(0.4))
      for (const a of isolated) {
        for (const b of ids) {
          if (isolated.includes(b)) continue
          // mode 0: symmetric; 1: isolated nodes cannot send; 2: cannot receive.
          if (mode !== 2) this.blockedLinks.add(`${a}>${b}`)
          if (mode !== 1) this.blockedLinks.add(`${b}>${a}`)
        }
      }
    } else if (this.blockedLinks.size > 0 && this.random.chance(0.02)) {
      this.blockedLinks.clear()
    }
    for (const node of this.nodes.values()) {
      if (node.raw !== undefined && this.random.chance(this.options.crashProbability)) {
        this.stats.crashes++
        // Everything not yet persisted is lost: the Ready in flight, the inbox, volatile state.
        node.raw = undefined
        node.inFlight = undefined
        node.inbox = []
      } else if (node.raw === undefined && this.random.chance(0.05)) {
        this.start(node)
      }
    }
  }

  private send(message: Message): void {
    this.stats.messages++
    if (this.faultsEnabled && this.random.chance(this.options.dropProbability)) return
    const copies = this.faultsEnabled && this.random.chance(this.options.duplicateProbability) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      const delay = this.random.int(0, this.options.delayTicksMax + 1)
      this.network.push({ deliverAtTick: this.now + 1 + delay, message })
    }
  }

  private deliverMessages(): void {
    const due = this.network.filter((item) => item.deliverAtTick <= this.now)
    this.network = this.network.filter((item) => item.deliverAtTick > this.now)
    for (const { message } of due) {
      if (this.blockedLinks.has(`${message.from}>${message.to}`)) continue
      const node = this.nodes.get(message.to)
      if (node?.raw !== undefined) node.inbox.push(message)
    }
  }

  private stepNode(node: SimNode): void {
    const raw = node.raw
    if (raw === undefined) return
    if (node.inFlight !== undefined) {
      if (node.inFlight.persistAtTick > this.now) return
      this.finishReady(node, node.inFlight.ready)
      node.inFlight = undefined
    }
    for (const message of node.inbox) raw.step(message)
    node.inbox = []
    raw.tick()
    if (raw.hasReady()) {
      const ready = raw.ready()
      this.checkReady(node, ready)
      const diskDelayTicks = ready.mustSync ? this.random.int(0, 2) : 0
      if (diskDelayTicks === 0) this.finishReady(node, ready)
      else node.inFlight = { ready, persistAtTick: this.now + diskDelayTicks }
    }
  }

  /** Persist, send, apply, advance: the driver contract from raw-node.ts. */
  private finishReady(node: SimNode, ready: Ready): void {
    const raw = node.raw!
    const disk = node.disk
    if (ready.snapshot !== undefined) {
      disk.storage.applySnapshot(ready.snapshot)
      const image = JSON.parse(decoder.decode(ready.snapshot.data)) as { kv: [string, string][]; sessions: [number, number][] }
      disk.kv = new Map(image.kv)
      disk.sessions = new Map(image.sessions)
      disk.applied = ready.snapshot.meta.index
      disk.confState = ready.snapshot.meta.confState
    }
    disk.storage.append(ready.entries)
    if (ready.hardState !== undefined) disk.storage.setHardState(ready.hardState)
    for (const message of ready.messages) this.send(message)
    for (const entry of ready.committedEntries) this.apply(node, entry)
    for (const readState of ready.readStates) node.readWaits.push(readState)
    raw.advance(ready)
    this.serveReads(node)
    this.maybeSnapshot(node)
  }

  private apply(node: SimNode, entry: Entry): void {
    const disk = node.disk
    if (entry.index <= disk.applied) return
    assert(entry.index === disk.applied + 1, `apply gap at ${node.id}: ${entry.index} after ${disk.applied}`)
    const payload = entry.type === 'normal' ? decoder.decode(entry.data) : JSON.stringify(entry.change)
    const signature = `${entry.term}:${payload}`
    const seen = this.appliedByIndex.get(entry.index)
    if (seen === undefined) this.appliedByIndex.set(entry.index, signature)
    else if (seen !== signature) this.fail(`state machine safety: index ${entry.index} applied as ${seen} and ${signature}`)
    if (entry.type === 'conf') {
      disk.confState = node.raw!.applyConfChange(entry.change)
    } else if (entry.data.byteLength > 0) {
      const command = JSON.parse(payload) as Command
      if ((disk.sessions.get(command.client) ?? 0) < command.request) {
        disk.sessions.set(command.client, command.request)
        disk.kv.set(command.key, command.value)
      }
      const pending = node.pending.get(`w${command.request}`)
      if (pending !== undefined) {
        node.pending.delete(`w${command.request}`)
        this.completeOperation(`w${command.request}`, pending.value)
      }
    }
    disk.applied = entry.index
  }

  private serveReads(node: SimNode): void {
    const ready = node.readWaits.filter((wait) => wait.index <= node.disk.applied)
    node.readWaits = node.readWaits.filter((wait) => wait.index > node.disk.applied)
    for (const wait of ready) {
      const pending = node.pending.get(wait.context)
      if (pending === undefined) continue
      node.pending.delete(wait.context)
      this.completeOperation(wait.context, node.disk.kv.get(pending.key) ?? null)
    }
  }

  private maybeSnapshot(node: SimNode): void {
    const storage = node.disk.storage
    const snapshotIndex = storage.snapshot().meta.index
    if (node.disk.applied - snapshotIndex < this.options.snapshotEveryEntries) return
    const image = { kv: [...node.disk.kv], sessions: [...node.disk.sessions] }
    storage.createSnapshot(node.disk.applied, node.disk.confState, encoder.encode(JSON.stringify(image)))
    // Keep a few entries so slightly lagging followers catch up from the log, not a snapshot.
    storage.compact(Math.max(snapshotIndex, node.disk.applied - 4))
    this.stats.snapshots++
  }

  /** Election safety and leader completeness, checked on every Ready. */
  private checkReady(node: SimNode, ready: Ready): void {
    if (ready.softState?.role !== 'leader') return
    const raft = node.raw!.raft
    this.stats.elections++
    const previous = this.leadersByTerm.get(raft.term)
    if (previous !== undefined && previous !== node.id) {
      this.fail(`election safety: term ${raft.term} has leaders ${previous} and ${node.id}`)
    }
    this.leadersByTerm.set(raft.term, node.id)
    for (const [index, signature] of this.appliedByIndex) {
      if (index < raft.log.firstIndex()) continue
      const term = raft.log.term(index)
      if (typeof term !== 'number' || `${term}` !== signature.slice(0, signature.indexOf(':'))) {
        this.fail(`leader completeness: new leader ${node.id} (term ${raft.term}) lacks committed entry ${index} (${signature})`)
      }
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Clients

  private runClients(): void {
    if (!this.faultsEnabled && this.now % 50 !== 0) return
    for (let client = 0; client < this.options.clientCount; client++) {
      if (this.clientBusy[client] || !this.random.chance(0.3)) continue
      const live = [...this.nodes.values()].filter((node) => node.raw !== undefined && node.inFlight === undefined)
      if (live.length === 0) return
      const node = live[this.random.int(0, live.length)]!
      const key = `k${this.random.int(0, this.options.keyCount)}`
      const request = this.nextRequest++
      const isWrite = this.random.chance(0.5)
      const context = isWrite ? `w${request}` : `r${request}`
      const value = isWrite ? `v${request}` : ''
      if (isWrite) {
        const command: Command = { client, request, key, value }
        const outcome = node.raw!.propose({ type: 'normal', data: encoder.encode(JSON.stringify(command)) })
        if (!outcome.accepted) continue
      } else {
        node.raw!.readIndex(context)
      }
      this.clientBusy[client] = true
      node.pending.set(context, { client, kind: isWrite ? 'write' : 'read', key, value, request, context })
      this.history.push({ kind: isWrite ? 'write' : 'read', key, value: isWrite ? value : null, invokeTime: this.now, completeTime: Infinity })
      this.openOperations.set(context, { operationIndex: this.history.length - 1, deadlineTick: this.now + 60, nodeId: node.id })
      this.clientOf.set(context, client)
    }
  }

  private readonly clientOf = new Map<string, number>()

  private completeOperation(context: string, result: string | null): void {
    const open = this.openOperations.get(context)
    if (open === undefined) return
    this.openOperations.delete(context)
    const operation = this.history[open.operationIndex]!
    const completed: RegisterOperation = { ...operation, completeTime: this.now, value: operation.kind === 'read' ? result : operation.value }
    this.history[open.operationIndex] = completed
    this.clientBusy[this.clientOf.get(context)!] = false
  }

  /**
   * Gives up on operations past their deadline. A timed-out write stays in the history with an
   * unknown outcome (it may still commit later); a timed-out read had no effect and is dropped.
   */
  private expireOperations(all: boolean): void {
    for (const [context, open] of this.openOperations) {
      if (!all && open.deadlineTick > this.now) continue
      this.openOperations.delete(context)
      this.clientBusy[this.clientOf.get(context)!] = false
      const operation = this.history[open.operationIndex]!
      if (operation.kind === 'read') this.history[open.operationIndex] = { ...operation, key: DROPPED_KEY }
    }
  }
}
