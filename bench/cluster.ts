/**
 * What the benchmark needs from a three-member cluster under test, whatever the system.
 *
 * Members are addressed by index (0, 1, 2). Every method that waits takes or implies a deadline.
 */

/** How a read is served. */
export interface ReadOptions {
  /** true: linearizable (ReadIndex through the leader); false: the member's local state. */
  readonly linearizable: boolean
  readonly timeoutMs?: number
}

export interface WriteOptions {
  readonly timeoutMs?: number
}

/** The leader as seen by the cluster. */
export interface LeaderInfo {
  readonly member: number
  readonly term: number
}

export interface BenchCluster {
  /** Display name ("Flotilla", "etcd"). */
  readonly system: string
  readonly memberCount: number
  /** Version or build note for the report. */
  readonly version: string
  /** Flags and settings that differ from the system's defaults, for the report. */
  readonly notes: readonly string[]

  /** PIDs of the members currently running (for CPU accounting). */
  memberPids(): number[]
  /** Waits until every running member agrees on one leader, and returns it. */
  waitForLeader(deadlineMs: number): Promise<LeaderInfo>
  /** Writes `value` under `key` through `member`; resolves once committed. */
  put(member: number, key: string, value: Uint8Array, options?: WriteOptions): Promise<void>
  /** Reads `key` through `member`; undefined when the key does not exist. */
  get(member: number, key: string, options: ReadOptions): Promise<Uint8Array | undefined>
  /** SIGKILLs a member and waits for it to exit. */
  killMember(member: number): Promise<void>
  /** Starts a killed member again on the same ports and data, and waits until it is healthy. */
  restartMember(member: number, deadlineMs: number): Promise<void>
  /** Kills every member and removes all data. Safe to call more than once. */
  stop(): Promise<void>
}
