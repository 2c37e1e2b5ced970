/**
 * The interaction environment behind consensus/testdata/*.txt: a handful of RawNodes over an
 * in-memory network that a transcript drives step by step. Every message delivered and every
 * state change is printed, so a transcript documents a protocol scenario exactly.
 *
 * Commands:
 *   add-nodes N [voters=1,2,3] [learners=4] [prevote=true] [checkquorum=true] [election=10]
 *   campaign ID | tick-election ID | tick-heartbeat ID | tick ID COUNT
 *   run-ticks COUNT           tick every node COUNT times, stabilizing after each tick
 *   propose ID DATA | propose-conf-change ID add-voter|add-learner|remove NODE
 *   read-index ID CONTEXT | transfer-leadership FROM TO
 *   stabilize [quiet]         process readies and deliver messages until nothing moves
 *   deliver-msgs [drop=true]  deliver (or drop) the messages in flight, once
 *   process-ready ID          handle one Ready of ID (persist, queue messages, apply)
 *   isolate ID | partition A,B C,D | heal
 *   compact ID INDEX          take a snapshot at INDEX and compact the log
 *   crash ID | restart ID     lose volatile state (unpersisted Ready included) / recover from storage
 *   status                    role, term, leader, commit, applied and log per node
 *   log ID                    the entries of ID
 */
import { RandomXoshiro } from '../../lib/random.ts'
import { resolveRaftConfig } from '../../consensus/src/config.ts'
import { RawNode } from '../../consensus/src/raw-node.ts'
import { MemoryStorage } from '../../consensus/src/storage.ts'
import type { ConfState, Entry, Message, NodeId } from '../../consensus/src/types.ts'
import type { Command } from './runner.ts'

interface Node {
  readonly id: NodeId
  raw: RawNode | undefined
  readonly storage: MemoryStorage
  applied: string[]
  appliedIndex: number
  confState: ConfState
  readonly options: { prevote: boolean; checkquorum: boolean; election: number }
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

export function describeEntry(entry: Entry): string {
  if (entry.type === 'conf') return `${entry.term}/${entry.index} conf ${entry.change.type} ${entry.change.nodeId}`
  return `${entry.term}/${entry.index} ${entry.data.byteLength === 0 ? 'noop' : JSON.stringify(decoder.decode(entry.data))}`
}

export function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} term=${message.term}`
  switch (message.type) {
    case 'app':
      return `${head} index=${message.index} logTerm=${message.logTerm} commit=${message.commit} entries=[${message.entries.map(describeEntry).join(', ')}]`
    case 'app-resp':
      return `${head} index=${message.index}${message.reject ? ` reject hint=${message.rejectHint}/${message.logTerm}` : ''}`
    case 'vote':
    case 'pre-vote':
      return `${head} index=${message.index} logTerm=${message.logTerm}${message.transfer ? ' transfer' : ''}`
    case 'vote-resp':
    case 'pre-vote-resp':
      return `${head} ${message.reject ? 'reject' : 'grant'}`
    case 'heartbeat':
      return `${head} commit=${message.commit}${message.context ? ` ctx=${message.context}` : ''}`
    case 'heartbeat-resp':
      return `${head}${message.context ? ` ctx=${message.context}` : ''}`
    case 'snap':
      return `${head} snapshot=${message.meta.index}/${message.meta.term} bytes=${message.offset}+${message.chunk.byteLength}/${message.totalBytes}${message.done ? ' done' : ''}`
    case 'snap-resp':
      return `${head} snapshot=${message.index} acked=${message.offset}${message.reject ? ' reject' : ''}`
    case 'read-index':
      return `${head} ctx=${message.context}`
    case 'read-index-resp':
      return `${head} index=${message.index} ctx=${message.context}`
    case 'prop':
      return `${head} entries=${message.entries.length}`
    case 'transfer-leader':
      return `${head} transferee=${message.transferee}`
    case 'timeout-now':
      return head
  }
}

export class RaftInteraction {
  private readonly nodes = new Map<NodeId, Node>()
  private inFlight: Message[] = []
  private blocked = new Set<string>()

  execute(command: Command): string {
    const output: string[] = []
    const id = command.args[0] ?? ''
    switch (command.name) {
      case 'add-nodes':
        this.addNodes(command)
        break
      case 'campaign':
        this.raw(id).campaign()
        break
      case 'tick-election':
        this.tickUntil(id, 2 * this.nodes.get(id)!.options.election)
        break
      case 'tick-heartbeat':
        this.tickUntil(id, this.raw(id).raft.config.heartbeatIntervalTicks)
        break
      case 'tick':
        this.tickUntil(id, Number(command.args[1] ?? 1))
        break
      case 'run-ticks':
        // Every running node ticks, then messages flow until quiet; only state changes print.
        for (let i = 0; i < Number(command.args[0]); i++) {
          for (const node of this.nodes.values()) node.raw?.tick()
          this.stabilize(output, true)
        }
        break
      case 'propose': {
        const outcome = this.raw(id).propose({ type: 'normal', data: encoder.encode(command.args[1] ?? '') })
        if (!outcome.accepted) output.push(`dropped: ${outcome.reason}`)
        break
      }
      case 'propose-conf-change': {
        const change = { type: command.args[1] as 'add-voter' | 'add-learner' | 'remove', nodeId: command.args[2]! }
        const outcome = this.raw(id).propose({ type: 'conf', change })
        if (!outcome.accepted) output.push(`dropped: ${outcome.reason}`)
        break
      }
      case 'read-index':
        this.raw(id).readIndex(command.args[1]!)
        break
      case 'transfer-leadership':
        this.raw(id).transferLeadership(command.args[1]!)
        break
      case 'process-ready':
        this.processReady(this.nodes.get(id)!, output)
        break
      case 'deliver-msgs':
        this.deliver(output, command.options.get('drop') === 'true')
        break
      case 'stabilize':
        this.stabilize(output, command.args.includes('quiet'))
        break
      case 'isolate':
        for (const other of this.nodes.keys()) if (other !== id) this.blockBoth(id, other)
        break
      case 'partition':
        this.partition(command.args.map((group) => group.split(',')))
        break
      case 'block':
        // One-way: messages from A to B are lost.
        this.blocked.add(`${command.args[0]}>${command.args[1]}`)
        break
      case 'heal':
        this.blocked.clear()
        break
      case 'compact':
        this.compact(this.nodes.get(id)!, Number(command.args[1]))
        break
      case 'crash': {
        const node = this.nodes.get(id)!
        node.raw = undefined
        this.inFlight = this.inFlight.filter((message) => message.to !== id)
        break
      }
      case 'restart':
        this.start(this.nodes.get(id)!)
        break
      case 'status':
        for (const node of this.nodes.values()) output.push(this.describeNode(node))
        break
      case 'log': {
        const node = this.nodes.get(id)!
        const entries = node.storage.entries(node.storage.firstIndex(), node.storage.lastIndex() + 1, Infinity)
        output.push(typeof entries === 'string' ? entries : entries.map(describeEntry).join('\n') || 'empty')
        output.push(`applied: ${node.applied.join(' ') || 'nothing'}`)
        break
      }
      default:
        throw new Error(`line ${command.line}: unknown command "${command.name}"`)
    }
    return output.join('\n')
  }

  private raw(id: NodeId): RawNode {
    const raw = this.nodes.get(id)?.raw
    if (raw === undefined) throw new Error(`node ${id} is not running`)
    return raw
  }

  private addNodes(command: Command): void {
    const count = Number(command.args[0])
    const voters = command.options.get('voters')?.split(',') ?? Array.from({ length: count }, (_, i) => `${i + 1}`)
    const learners = command.options.get('learners')?.split(',') ?? []
    const first = this.nodes.size + 1
    for (let i = first; i < first + count; i++) {
      const confState = { voters, learners }
      const node: Node = {
        id: `${i}`,
        raw: undefined,
        storage: new MemoryStorage(confState),
        applied: [],
        appliedIndex: 0,
        confState,
        options: {
          prevote: command.options.get('prevote') !== 'false',
          checkquorum: command.options.get('checkquorum') !== 'false',
          election: Number(command.options.get('election') ?? 10),
        },
      }
      this.nodes.set(node.id, node)
      this.start(node)
    }
  }

  private start(node: Node): void {
    node.storage.setConfState(node.confState)
    const config = resolveRaftConfig({
      id: node.id,
      electionTimeoutTicks: node.options.election,
      heartbeatIntervalTicks: 1,
      preVote: node.options.prevote,
      checkQuorum: node.options.checkquorum,
      applied: node.appliedIndex,
      snapshotChunkBytes: 16,
    })
    // Each node's election jitter comes from its own seeded stream, so transcripts are stable.
    node.raw = new RawNode(config, node.storage, new RandomXoshiro(Number(node.id) * 1000))
  }

  private tickUntil(id: NodeId, ticks: number): void {
    const raw = this.raw(id)
    const role = raw.raft.role
    for (let i = 0; i < ticks; i++) {
      raw.tick()
      if (raw.raft.role !== role) break
    }
  }

  private blockBoth(a: NodeId, b: NodeId): void {
    this.blocked.add(`${a}>${b}`)
    this.blocked.add(`${b}>${a}`)
  }

  private partition(groups: string[][]): void {
    this.blocked.clear()
    for (const group of groups) {
      for (const other of groups) {
        if (other === group) continue
        for (const a of group) for (const b of other) this.blocked.add(`${a}>${b}`)
      }
    }
  }

  private processReady(node: Node, output: string[]): boolean {
    const raw = node.raw
    if (raw === undefined || !raw.hasReady()) return false
    const ready = raw.ready()
    if (ready.softState !== undefined) output.push(`${node.id} becomes ${ready.softState.role} (term ${raw.raft.term}, leader ${ready.softState.lead || 'none'})`)
    if (ready.snapshot !== undefined) {
      node.storage.applySnapshot(ready.snapshot)
      node.appliedIndex = ready.snapshot.meta.index
      node.confState = ready.snapshot.meta.confState
      node.applied.push(`snapshot@${ready.snapshot.meta.index}`)
      output.push(`${node.id} installs snapshot ${ready.snapshot.meta.index}/${ready.snapshot.meta.term} (${decoder.decode(ready.snapshot.data)})`)
    }
    node.storage.append(ready.entries)
    if (ready.hardState !== undefined) node.storage.setHardState(ready.hardState)
    this.inFlight.push(...ready.messages)
    for (const entry of ready.committedEntries) {
      if (entry.index <= node.appliedIndex) continue
      if (entry.type === 'conf') {
        node.confState = raw.applyConfChange(entry.change)
        node.storage.setConfState(node.confState)
        output.push(`${node.id} applies conf ${entry.change.type} ${entry.change.nodeId} → voters=${node.confState.voters.join(',')} learners=${node.confState.learners.join(',') || '-'}`)
      } else if (entry.data.byteLength > 0) {
        node.applied.push(decoder.decode(entry.data))
      }
      node.appliedIndex = entry.index
    }
    for (const readState of ready.readStates) output.push(`${node.id} read ready: ctx=${readState.context} index=${readState.index}`)
    raw.advance(ready)
    return true
  }

  private deliver(output: string[], drop: boolean): boolean {
    const messages = this.inFlight
    this.inFlight = []
    for (const message of messages) {
      const target = this.nodes.get(message.to)
      const lost = drop || this.blocked.has(`${message.from}>${message.to}`) || target?.raw === undefined
      output.push(`${lost ? 'dropped ' : ''}${describeMessage(message)}`)
      if (!lost) target!.raw!.step(message)
    }
    return messages.length > 0
  }

  private stabilize(output: string[], quiet: boolean): void {
    const log: string[] = []
    for (let round = 0; round < 1000; round++) {
      let moved = false
      for (const node of this.nodes.values()) while (this.processReady(node, log)) moved = true
      moved = this.deliver(log, false) || moved
      if (!moved) break
    }
    if (!quiet) output.push(...log)
    else output.push(...log.filter((line) => !/->/.test(line)))
  }

  private compact(node: Node, index: number): void {
    const data = encoder.encode(node.applied.filter((item) => !item.startsWith('snapshot@')).join(','))
    node.storage.createSnapshot(index, node.confState, data)
    node.storage.compact(index)
  }

  private describeNode(node: Node): string {
    if (node.raw === undefined) return `${node.id}: down`
    const raft = node.raw.raft
    return `${node.id}: ${raft.role} term=${raft.term} leader=${raft.lead || 'none'} commit=${raft.log.committed} applied=${node.appliedIndex} last=${raft.log.lastIndex()}`
  }
}
