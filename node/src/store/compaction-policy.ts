/**
 * When the leader should propose a `compact` command, and up to which revision. Pure: the store
 * supplies its counters and what its watch history says about entry times, so the policy is easy
 * to test and the leader decides when to ask (a periodic timer, say every minute).
 */
import { InvalidConfigError } from '../../../lib/errors.ts'

export interface CompactionPolicy {
  /** Always keep at least this many of the newest revisions watchable. */
  readonly retainRevisions: number
  /** Always keep at least the revisions of entries stamped within this long before now. */
  readonly retainMs: number
}

/** Like etcd's periodic compaction under Kubernetes: the last 10,000 revisions and 5 minutes. */
export const DEFAULT_COMPACTION_POLICY: CompactionPolicy = { retainRevisions: 10_000, retainMs: 5 * 60_000 }

export interface CompactionInput {
  /** The store revision now. */
  readonly revision: number
  /** The revision already compacted. */
  readonly compactedRevision: number
  /**
   * The newest revision whose entry was stamped at or before `nowMs - retainMs`, or undefined
   * when no revision is known to be that old (the history does not reach back that far).
   */
  readonly newestRevisionBeforeCutoff: number | undefined
}

/**
 * The revision to compact to, or undefined when nothing should be compacted. The target keeps
 * both what the revision count and what the time window ask for (the older of the two bounds),
 * and an unknown age keeps everything: compaction must never drop what a watcher may still need
 * only because this node lacks the history to tell.
 */
export function compactionTarget(input: CompactionInput, policy: CompactionPolicy): number | undefined {
  if (input.newestRevisionBeforeCutoff === undefined) return undefined
  const target = Math.min(input.revision - policy.retainRevisions, input.newestRevisionBeforeCutoff)
  return target > input.compactedRevision ? target : undefined
}

/** `policy` with defaults filled in; throws InvalidConfigError on negative or non-integer values. */
export function resolveCompactionPolicy(policy: Partial<CompactionPolicy> = {}): CompactionPolicy {
  const resolved = { ...DEFAULT_COMPACTION_POLICY, ...policy }
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidConfigError(`compaction policy ${name} must be a non-negative integer, got ${value}`)
  }
  return resolved
}
