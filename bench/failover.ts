/**
 * Leader failover as a client sees it (method of /work/shared/research/raft.md section 5.3).
 *
 * One round: find the leader; run one sequential put loop against each surviving member (250 ms
 * per-request deadline, immediate retry on any failure); after 2 s of steady state SIGKILL the
 * leader; the figure is the time from the kill to the completion of the first put that was *sent
 * after the kill* and succeeded (on any survivor). Then stop the loops, restart the killed member
 * and wait until the cluster is healthy before the next round.
 */
import { FlotillaError } from '../lib/errors.ts'
import type { BenchCluster } from './cluster.ts'
import { describeError } from './load.ts'
import { pollUntil, sleep } from './processes.ts'
import { benchKey, makeValue, PUT_KEY_COUNT } from './workloads.ts'

/** A failover round could not be run as specified (no steady state, no recovery in time). */
export class FailoverError extends FlotillaError {
  override name = 'FailoverError'
}

export interface FailoverOptions {
  readonly rounds: number
  /** Put loops run this long before the kill. */
  readonly steadyStateMs: number
  /** Per-request deadline of the put loops. */
  readonly requestTimeoutMs: number
  /** Give up on a round when no put succeeds this long after the kill. */
  readonly recoveryDeadlineMs: number
  /** Deadline for the restarted member to rejoin a healthy cluster. */
  readonly restartDeadlineMs: number
}

export const DEFAULT_FAILOVER_OPTIONS: Omit<FailoverOptions, 'rounds'> = {
  steadyStateMs: 2_000,
  requestTimeoutMs: 250,
  recoveryDeadlineMs: 30_000,
  restartDeadlineMs: 30_000,
}

export interface FailoverRound {
  readonly killedMember: number
  readonly termBefore: number
  readonly newLeader: number
  readonly termAfter: number
  /** Kill → completion of the first put sent after the kill that succeeded. */
  readonly failoverMs: number
  /** Puts completed per survivor loop during the steady state before the kill. */
  readonly steadyPutsPerSurvivor: readonly number[]
  /** Failed attempts (timeouts, 503s, connection errors) between the kill and recovery. */
  readonly failedAttemptsAfterKill: number
}

export interface FailoverResult {
  readonly rounds: readonly FailoverRound[]
  readonly medianMs: number
  readonly minMs: number
  readonly maxMs: number
}

/** Bound on attempts of one put loop in one round (they also stop when the round ends). */
const MAX_ATTEMPTS_PER_LOOP = 2_000_000

interface RoundState {
  stop: boolean
  killMs: number
  /** Earliest completion of a put sent at or after killMs. */
  firstRecoveredMs: number
  failedAfterKill: number
}

/** Runs `options.rounds` failover rounds; `progress` receives one line per round. */
export async function runFailover(
  cluster: BenchCluster,
  options: FailoverOptions,
  progress: (line: string) => void,
): Promise<FailoverResult> {
  const rounds: FailoverRound[] = []
  for (let round = 0; round < options.rounds; round++) {
    const result = await runRound(cluster, round, options)
    rounds.push(result)
    progress(
      `[${cluster.system}] failover round ${round + 1}/${options.rounds}: ${result.failoverMs.toFixed(0)} ms ` +
        `(killed member ${result.killedMember} at term ${result.termBefore}; new leader ${result.newLeader} ` +
        `at term ${result.termAfter}; ${result.failedAttemptsAfterKill} failed attempts)`,
    )
  }
  const sorted = rounds.map((r) => r.failoverMs).sort((a, b) => a - b)
  return {
    rounds,
    medianMs: median(sorted),
    minMs: sorted[0] ?? 0,
    maxMs: sorted[sorted.length - 1] ?? 0,
  }
}

async function runRound(cluster: BenchCluster, round: number, options: FailoverOptions): Promise<FailoverRound> {
  const value = makeValue()
  const before = await cluster.waitForLeader(10_000)
  const survivors = Array.from({ length: cluster.memberCount }, (_, k) => k).filter((k) => k !== before.member)
  const state: RoundState = {
    stop: false,
    killMs: Number.POSITIVE_INFINITY,
    firstRecoveredMs: Number.POSITIVE_INFINITY,
    failedAfterKill: 0,
  }
  const steadyPuts = survivors.map(() => 0)
  let lastFailure = ''

  const putLoop = async (member: number, slot: number): Promise<void> => {
    for (let n = 0; n < MAX_ATTEMPTS_PER_LOOP && !state.stop; n++) {
      const key = benchKey(`failover-r${round}-m${member}`, n % PUT_KEY_COUNT)
      const sentMs = performance.now()
      try {
        await cluster.put(member, key, value, { timeoutMs: options.requestTimeoutMs })
        const doneMs = performance.now()
        if (sentMs >= state.killMs) state.firstRecoveredMs = Math.min(state.firstRecoveredMs, doneMs)
        else steadyPuts[slot] = (steadyPuts[slot] ?? 0) + 1
      } catch (error) {
        if (sentMs >= state.killMs) state.failedAfterKill++
        lastFailure = describeError(error)
      }
    }
  }

  const loops = survivors.map((member, slot) => putLoop(member, slot))
  try {
    await sleep(options.steadyStateMs)
    if (steadyPuts.some((count) => count === 0)) {
      throw new FailoverError(
        `${cluster.system}: no steady state before the kill (puts per survivor: ${steadyPuts.join(', ')}; last failure: ${lastFailure})`,
      )
    }
    state.killMs = performance.now()
    await cluster.killMember(before.member)
    await pollUntil(
      `${cluster.system}: a put sent after killing the leader to succeed`,
      async () => (state.firstRecoveredMs < Number.POSITIVE_INFINITY ? true : undefined),
      options.recoveryDeadlineMs,
      10,
    )
  } finally {
    state.stop = true
    await Promise.all(loops)
  }
  const after = await cluster.waitForLeader(10_000)
  await cluster.restartMember(before.member, options.restartDeadlineMs)
  return {
    killedMember: before.member,
    termBefore: before.term,
    newLeader: after.member,
    termAfter: after.term,
    failoverMs: state.firstRecoveredMs - state.killMs,
    steadyPutsPerSurvivor: steadyPuts,
    failedAttemptsAfterKill: state.failedAfterKill,
  }
}

function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0
  const mid = Math.floor(sorted.length / 2)
  const upper = sorted[mid] ?? 0
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2
}
