/**
 * The leader's membership reconcile step as a pure plan: desired state is the member registry in
 * the store (machines that joined), observed state is the applied Raft configuration plus
 * liveness and replication progress. Returns at most one Raft membership change (Raft allows one
 * at a time) and the registry clean-up that goes with it.
 */
import type { LivenessInfo } from './liveness.ts'
import { planVoterChange, type MemberView, type VoterChange, type VoterPolicy } from './voter-plan.ts'

/** A machine in the registry (`/registry/flotilla/members/<nodeId>`). */
export interface MemberRecord {
  readonly nodeId: string
  readonly name: string
  readonly zone: string
  readonly peerId: string
  readonly addresses: readonly string[]
  /** host:port of the node's Kubernetes API (HTTPS), once it serves one. */
  readonly apiAddress?: string
}

export interface MembershipObservation {
  readonly leaderId: string
  readonly voters: readonly string[]
  readonly learners: readonly string[]
  /** Ids removed from the group; they can never come back (a rejoin uses a new id). */
  readonly removed: readonly string[]
  readonly members: readonly MemberRecord[]
  readonly liveness: (nodeId: string) => LivenessInfo
  /** Raft match index of a member (the leader's own last index for itself). */
  readonly matchIndex: (nodeId: string) => number
  readonly commitIndex: number
}

export type MembershipAction =
  | { readonly kind: 'none' }
  | { readonly kind: 'conf-change'; readonly change: VoterChange; readonly deleteRecord: boolean }

/** How far behind the commit index a learner may be and still be promoted. */
export const CAUGHT_UP_ENTRIES_MAX = 1000

export function planMembership(observed: MembershipObservation, policy?: VoterPolicy): MembershipAction {
  const inConfig = new Set([...observed.voters, ...observed.learners, ...observed.removed])
  // Machines that registered but are not in the Raft group yet join as learners, oldest id first.
  const newcomer = observed.members.filter((member) => !inConfig.has(member.nodeId)).sort((a, b) => a.nodeId.localeCompare(b.nodeId))[0]
  if (newcomer !== undefined) {
    return { kind: 'conf-change', change: { type: 'add-learner', nodeId: newcomer.nodeId, reason: `${newcomer.name} joined` }, deleteRecord: false }
  }
  const zoneOf = new Map(observed.members.map((member) => [member.nodeId, member.zone]))
  const views: MemberView[] = [...observed.voters, ...observed.learners].map((nodeId) => {
    const liveness = nodeId === observed.leaderId ? { alive: true, deadForMs: 0 } : observed.liveness(nodeId)
    return {
      nodeId,
      zone: zoneOf.get(nodeId) ?? 'unknown',
      role: observed.voters.includes(nodeId) ? 'voter' : 'learner',
      alive: liveness.alive,
      deadForMs: liveness.deadForMs,
      caughtUp: observed.commitIndex - observed.matchIndex(nodeId) <= CAUGHT_UP_ENTRIES_MAX,
    }
  })
  const change = planVoterChange(views, observed.leaderId, policy)
  if (change === undefined) return { kind: 'none' }
  return { kind: 'conf-change', change, deleteRecord: change.type === 'remove' }
}
