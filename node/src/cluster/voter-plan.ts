/**
 * Automatic voter management as a pure plan: given the members, their liveness and zones, and the
 * current Raft configuration, decide the single next membership change (Raft allows one at a
 * time). The leader's membership controller calls this every round and proposes what it returns.
 *
 * Goals, in priority order:
 * 1. Replace dead voters with healthy, caught-up learners, preferring a zone without a voter.
 * 2. Keep the voter count at the target: 3, or 5 once the cluster has at least 5 members (fewer
 *    when fewer members are healthy); extra voters become learners.
 * 3. Spread voters across zones so that losing any one zone never loses quorum.
 * 4. Remove members that have been dead longer than the configured time.
 *
 * Never touches the leader itself (the caller transfers leadership first when it must go).
 */

/** What the controller knows about one member. */
export interface MemberView {
  readonly nodeId: string
  readonly zone: string
  /** Raft role in the applied configuration. */
  readonly role: 'voter' | 'learner'
  /** Heard from recently (gossip or Raft). */
  readonly alive: boolean
  /** How long it has been unreachable; 0 when alive. */
  readonly deadForMs: number
  /** Its log is close enough to the leader's to promote without stalling commits. */
  readonly caughtUp: boolean
}

export interface VoterPolicy {
  /** Remove a member (voter or learner) after it has been dead this long. */
  readonly deadMemberRemovalMs: number
  /** A voter dead this long is replaced by a learner (it stays a member until removal). */
  readonly deadVoterReplaceMs: number
}

export const DEFAULT_VOTER_POLICY: VoterPolicy = {
  // A voter that has been gone for 10 s is replaced so the group regains its fault tolerance fast.
  deadVoterReplaceMs: 10_000,
  // Members are only forgotten after 15 minutes: a rebooting machine keeps its identity.
  deadMemberRemovalMs: 15 * 60_000,
}

export type VoterChange =
  | { readonly type: 'add-voter'; readonly nodeId: string; readonly reason: string }
  | { readonly type: 'add-learner'; readonly nodeId: string; readonly reason: string }
  | { readonly type: 'remove'; readonly nodeId: string; readonly reason: string }

/** The voter count the cluster aims for with `memberCount` members. */
export function targetVoterCount(memberCount: number): number {
  if (memberCount >= 5) return 5
  return Math.min(3, memberCount)
}

/** Voters per zone. */
function zoneCounts(members: readonly MemberView[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const member of members) if (member.role === 'voter') counts.set(member.zone, (counts.get(member.zone) ?? 0) + 1)
  return counts
}

/** The learner to promote: healthy and caught up, in the zone with the fewest voters (ties by id). */
function bestLearner(members: readonly MemberView[]): MemberView | undefined {
  const counts = zoneCounts(members.filter((member) => member.alive))
  return members
    .filter((member) => member.role === 'learner' && member.alive && member.caughtUp)
    .sort((a, b) => (counts.get(a.zone) ?? 0) - (counts.get(b.zone) ?? 0) || a.nodeId.localeCompare(b.nodeId))[0]
}

/** Whether losing any single zone would leave fewer than a quorum of the voters. */
export function zoneLossBreaksQuorum(members: readonly MemberView[]): boolean {
  const voters = members.filter((member) => member.role === 'voter')
  const quorum = Math.floor(voters.length / 2) + 1
  for (const count of zoneCounts(members).values()) if (voters.length - count < quorum) return true
  return false
}

export function planVoterChange(members: readonly MemberView[], leaderId: string, policy: VoterPolicy = DEFAULT_VOTER_POLICY): VoterChange | undefined {
  const voters = members.filter((member) => member.role === 'voter')
  const healthyVoters = voters.filter((member) => member.alive)
  const deadVoters = voters.filter((member) => !member.alive && member.deadForMs >= policy.deadVoterReplaceMs && member.nodeId !== leaderId)
  const candidate = bestLearner(members)

  // 1. A dead voter: promote a replacement first (keeps the count, improves the zone spread),
  // then demote the dead voter so it no longer counts toward quorum.
  const deadVoter = deadVoters.sort((a, b) => b.deadForMs - a.deadForMs || a.nodeId.localeCompare(b.nodeId))[0]
  // Members count toward the target until they have been gone long enough to be replaced; a
  // machine that is merely rebooting must not shrink the voter set.
  const countable = members.filter((member) => member.alive || member.deadForMs < policy.deadVoterReplaceMs || member.nodeId === leaderId)
  const target = targetVoterCount(countable.length)
  if (deadVoter !== undefined) {
    if (candidate !== undefined && healthyVoters.length < target) {
      return { type: 'add-voter', nodeId: candidate.nodeId, reason: `replace dead voter ${deadVoter.nodeId} (zone ${deadVoter.zone})` }
    }
    return { type: 'add-learner', nodeId: deadVoter.nodeId, reason: `voter ${deadVoter.nodeId} unreachable for ${Math.round(deadVoter.deadForMs / 1000)} s` }
  }

  // 4 (before growing): forget members dead for too long.
  const expired = members
    .filter((member) => !member.alive && member.deadForMs >= policy.deadMemberRemovalMs && member.nodeId !== leaderId)
    .sort((a, b) => a.nodeId.localeCompare(b.nodeId))[0]
  if (expired !== undefined) {
    return { type: 'remove', nodeId: expired.nodeId, reason: `unreachable for ${Math.round(expired.deadForMs / 60_000)} min` }
  }

  // 2. Grow to the target.
  if (voters.length < target && candidate !== undefined) {
    return { type: 'add-voter', nodeId: candidate.nodeId, reason: `${voters.length} voters, target ${target}` }
  }
  // 2. Shrink to the target: demote from the zone with the most voters, never the leader.
  if (voters.length > target) {
    const counts = zoneCounts(voters)
    const demote = voters
      .filter((member) => member.nodeId !== leaderId)
      .sort((a, b) => Number(a.alive) - Number(b.alive) || (counts.get(b.zone) ?? 0) - (counts.get(a.zone) ?? 0) || a.nodeId.localeCompare(b.nodeId))[0]
    if (demote !== undefined) return { type: 'add-learner', nodeId: demote.nodeId, reason: `${voters.length} voters, target ${target}` }
  }

  // 3. Zone spread: if one zone's loss would break quorum and a learner elsewhere could fix it,
  // swap: promote first (the shrink rule above then demotes from the crowded zone).
  if (zoneLossBreaksQuorum(members) && candidate !== undefined) {
    const counts = zoneCounts(voters)
    const crowded = Math.max(...counts.values())
    if ((counts.get(candidate.zone) ?? 0) + 1 < crowded) {
      return { type: 'add-voter', nodeId: candidate.nodeId, reason: `spread voters across zones (zone ${candidate.zone} has ${counts.get(candidate.zone) ?? 0})` }
    }
  }
  return undefined
}
