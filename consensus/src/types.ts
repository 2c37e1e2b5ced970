/**
 * The Raft data model: entries, hard state, configuration, snapshots and the wire messages.
 *
 * Everything here is plain data (no classes, no methods) so it can be encoded with msgpackr for
 * LevelDB and the transports, compared structurally in tests, and printed in transcripts.
 */

/**
 * A node's identity in the Raft group. Ids are never reused: a removed node that comes back must
 * join under a new id (the daemon draws random 64-bit ids, the simulator uses short names).
 */
export type NodeId = string

/** "Nobody": no leader known, no vote cast. */
export const NONE: NodeId = ''

/** A membership change. `add-voter` on a learner promotes it; `add-learner` on a voter demotes it. */
export interface ConfChange {
  readonly type: 'add-voter' | 'add-learner' | 'remove'
  readonly nodeId: NodeId
}

/**
 * The group's membership. Voters elect and commit; learners only receive the log. `removed` lists
 * ids that left the group: they can never be added again, because a node coming back under an old
 * id could carry a vote or log entries the group has already forgotten.
 */
export interface ConfState {
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
  readonly removed?: readonly NodeId[]
}

/** An application command or an empty entry (a new leader's no-op has empty `data`). */
export interface NormalEntry {
  readonly type: 'normal'
  readonly term: number
  readonly index: number
  readonly data: Uint8Array
  /**
   * Wall-clock milliseconds stamped by the leader that appended the entry (never decreasing along
   * the log). State machines read time only from here, so every replica computes the same state.
   */
  readonly timeMs?: number
}

/** A membership change carried through the log; it takes effect when applied. */
export interface ConfEntry {
  readonly type: 'conf'
  readonly term: number
  readonly index: number
  readonly change: ConfChange
}

export type Entry = NormalEntry | ConfEntry

/** State that must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: number
  readonly vote: NodeId
  readonly commit: number
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 }

/** Where a snapshot sits in the log, and the membership at that point. */
export interface SnapshotMeta {
  readonly index: number
  readonly term: number
  readonly confState: ConfState
}

/** A state-machine image at `meta.index`; `data` is opaque to Raft. */
export interface Snapshot {
  readonly meta: SnapshotMeta
  readonly data: Uint8Array
}

interface MessageBase {
  readonly from: NodeId
  readonly to: NodeId
  /** The sender's term; 0 for messages that carry no term (proposals forwarded to the leader). */
  readonly term: number
}

/** Leader → follower: entries after (`index`, `logTerm`) and the leader's commit index. */
export interface MsgApp extends MessageBase {
  readonly type: 'app'
  readonly index: number
  readonly logTerm: number
  readonly entries: readonly Entry[]
  readonly commit: number
}

/**
 * Follower → leader: accepted up to `index`, or rejected `index` with a hint: the follower's last
 * index at or below `rejectHint` whose term is ≤ `logTerm`, so the leader can skip a whole term.
 */
export interface MsgAppResp extends MessageBase {
  readonly type: 'app-resp'
  readonly index: number
  readonly reject: boolean
  readonly rejectHint: number
  readonly logTerm: number
}

/** Candidate → voter. `pre-vote` carries the term the candidate would campaign in. */
export interface MsgVote extends MessageBase {
  readonly type: 'vote' | 'pre-vote'
  readonly index: number
  readonly logTerm: number
  /** Set when a leadership transfer asked for this election: it overrides leader stickiness. */
  readonly transfer: boolean
}

export interface MsgVoteResp extends MessageBase {
  readonly type: 'vote-resp' | 'pre-vote-resp'
  readonly reject: boolean
}

/** Leader → follower: liveness, commit, and the read-index round this heartbeat confirms. */
export interface MsgHeartbeat extends MessageBase {
  readonly type: 'heartbeat'
  readonly commit: number
  readonly context: string
}

export interface MsgHeartbeatResp extends MessageBase {
  readonly type: 'heartbeat-resp'
  readonly context: string
}

/** Leader → follower: one chunk of a snapshot; the follower installs it when `done`. */
export interface MsgSnap extends MessageBase {
  readonly type: 'snap'
  readonly meta: SnapshotMeta
  readonly offset: number
  readonly totalBytes: number
  readonly chunk: Uint8Array
  readonly done: boolean
}

/** Follower → leader: received bytes up to `offset` of the snapshot at `index`, or rejected it. */
export interface MsgSnapResp extends MessageBase {
  readonly type: 'snap-resp'
  readonly index: number
  readonly offset: number
  readonly reject: boolean
}

/** Follower → leader: please confirm leadership and tell me the commit index to read at. */
export interface MsgReadIndex extends MessageBase {
  readonly type: 'read-index'
  readonly context: string
}

export interface MsgReadIndexResp extends MessageBase {
  readonly type: 'read-index-resp'
  readonly index: number
  readonly context: string
}

/** Follower → leader: proposals forwarded because only the leader appends. */
export interface MsgProp extends MessageBase {
  readonly type: 'prop'
  readonly entries: readonly Entry[]
}

/** Any node → leader: hand leadership to `transferee`. */
export interface MsgTransferLeader extends MessageBase {
  readonly type: 'transfer-leader'
  readonly transferee: NodeId
}

/** Leader → transferee: campaign now, ignoring your election timer. */
export interface MsgTimeoutNow extends MessageBase {
  readonly type: 'timeout-now'
}

export type Message =
  | MsgApp
  | MsgAppResp
  | MsgVote
  | MsgVoteResp
  | MsgHeartbeat
  | MsgHeartbeatResp
  | MsgSnap
  | MsgSnapResp
  | MsgReadIndex
  | MsgReadIndexResp
  | MsgProp
  | MsgTransferLeader
  | MsgTimeoutNow

export type MessageType = Message['type']

/** The bytes an entry occupies for flow-control purposes (payload plus a fixed overhead). */
export function entrySizeBytes(entry: Entry): number {
  const ENTRY_OVERHEAD_BYTES = 16
  return ENTRY_OVERHEAD_BYTES + (entry.type === 'normal' ? entry.data.byteLength : 8)
}
