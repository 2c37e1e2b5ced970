/**
 * Bootstrapping a brand-new group. Every founding member starts with the same log: one committed
 * `add-voter` entry per founder, all at term 1. Because the membership lives in the log rather
 * than only in local state, a node that joins later rebuilds it by replaying the log from index 1
 * (or from a snapshot), exactly like the founders did.
 */
import { assert } from '../../lib/assert.ts'
import { NONE, type ConfEntry, type HardState, type NodeId } from './types.ts'

export function bootstrapEntries(voters: readonly NodeId[]): { entries: ConfEntry[]; hardState: HardState } {
  assert(voters.length > 0, 'a group needs at least one founding voter')
  assert(new Set(voters).size === voters.length, `duplicate founding voters: ${voters.join(',')}`)
  // Sorted so every founder writes the identical log whatever order it was given the list in.
  const entries = [...voters].sort().map((nodeId, i): ConfEntry => ({ type: 'conf', term: 1, index: i + 1, change: { type: 'add-voter', nodeId } }))
  return { entries, hardState: { term: 1, vote: NONE, commit: entries.length } }
}
