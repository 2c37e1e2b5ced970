/**
 * Configuration of one Raft node. Time is counted in ticks; the driver decides how long a tick is
 * (the daemon uses 10 ms).
 */
import { InvalidConfigError } from '../../lib/errors.ts'
import type { NodeId } from './types.ts'

export interface RaftConfig {
  readonly id: NodeId
  /** Followers campaign after a random timeout in [electionTimeoutTicks, 2 × electionTimeoutTicks). */
  readonly electionTimeoutTicks: number
  readonly heartbeatIntervalTicks: number
  /** Ask for votes without bumping the term first, so a rejoining node cannot disrupt a leader. */
  readonly preVote: boolean
  /** The leader steps down when it has not heard from a quorum in an election timeout. */
  readonly checkQuorum: boolean
  /** Upper bound on the entries bytes in one append message (at least one entry is sent). */
  readonly maxSizePerMsgBytes: number
  /** Appends in flight to one follower in replicate state. */
  readonly maxInflightMessages: number
  /** Bytes in flight to one follower; 0 means only the message bound applies. */
  readonly maxInflightBytes: number
  /** Proposals are dropped while the uncommitted tail is larger than this; 0 means unbounded. */
  readonly maxUncommittedEntriesBytes: number
  /** Committed entries handed out in one Ready. */
  readonly maxCommittedBytesPerReady: number
  /** Snapshot data is streamed to followers in chunks of this size. */
  readonly snapshotChunkBytes: number
  /** The last index the state machine applied durably (from storage on restart). */
  readonly applied: number
}

export const DEFAULT_RAFT_CONFIG: Omit<RaftConfig, 'id'> = {
  // With 10 ms ticks: a 40 ms heartbeat and a 400–800 ms election timeout, which keeps failover
  // under a second while staying well above event-loop pauses seen under load on 2 cores.
  electionTimeoutTicks: 40,
  heartbeatIntervalTicks: 4,
  preVote: true,
  checkQuorum: true,
  // 1 MiB as in etcd: big enough to batch thousands of small writes per message.
  maxSizePerMsgBytes: 1024 * 1024,
  // 256 as in raft-rs; with the byte bound below this keeps a slow follower from hoarding memory.
  maxInflightMessages: 256,
  maxInflightBytes: 32 * 1024 * 1024,
  maxUncommittedEntriesBytes: 64 * 1024 * 1024,
  maxCommittedBytesPerReady: 8 * 1024 * 1024,
  snapshotChunkBytes: 256 * 1024,
  applied: 0,
}

/** Fills defaults and checks ranges; throws InvalidConfigError naming the bad field. */
export function resolveRaftConfig(partial: Partial<RaftConfig> & { id: NodeId }): RaftConfig {
  const config: RaftConfig = { ...DEFAULT_RAFT_CONFIG, ...partial }
  if (config.id === '') throw new InvalidConfigError('Raft config: id must not be empty')
  if (!(config.heartbeatIntervalTicks >= 1)) {
    throw new InvalidConfigError(`Raft config: heartbeatIntervalTicks must be ≥ 1, got ${config.heartbeatIntervalTicks}`)
  }
  if (!(config.electionTimeoutTicks > config.heartbeatIntervalTicks)) {
    throw new InvalidConfigError(
      `Raft config: electionTimeoutTicks (${config.electionTimeoutTicks}) must exceed heartbeatIntervalTicks (${config.heartbeatIntervalTicks})`,
    )
  }
  if (!(config.maxInflightMessages >= 1)) {
    throw new InvalidConfigError(`Raft config: maxInflightMessages must be ≥ 1, got ${config.maxInflightMessages}`)
  }
  if (!(config.maxSizePerMsgBytes >= 1) || !(config.snapshotChunkBytes >= 1)) {
    throw new InvalidConfigError('Raft config: maxSizePerMsgBytes and snapshotChunkBytes must be ≥ 1')
  }
  if (!(config.applied >= 0)) throw new InvalidConfigError(`Raft config: applied must be ≥ 0, got ${config.applied}`)
  return config
}
