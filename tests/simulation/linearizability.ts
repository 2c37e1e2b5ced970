/**
 * A linearizability checker for a key-value register, in the style of Wing & Gong with Lowe's
 * memoization: a depth-first search for an order of operations that respects real time and the
 * register's semantics, caching (linearized set, register value) states already explored.
 *
 * Keys are independent objects, so each key's history is checked on its own (P-compositionality),
 * which keeps every search small.
 */

/** One client operation on one key. A write whose outcome is unknown has `completeTime = ∞`. */
export interface RegisterOperation {
  readonly kind: 'read' | 'write'
  readonly key: string
  /** The value written, or the value the read returned (null: key absent). */
  readonly value: string | null
  readonly invokeTime: number
  readonly completeTime: number
}

export interface LinearizabilityResult {
  readonly ok: boolean
  /** The first key whose history cannot be linearized. */
  readonly key?: string
  readonly history?: readonly RegisterOperation[]
}

/** Bounds the search so a pathological history cannot hang a test run. */
const SEARCH_STATES_MAX = 2_000_000

export function checkRegisterHistory(operations: readonly RegisterOperation[]): LinearizabilityResult {
  const byKey = new Map<string, RegisterOperation[]>()
  for (const operation of operations) {
    const list = byKey.get(operation.key) ?? []
    list.push(operation)
    byKey.set(operation.key, list)
  }
  for (const [key, history] of byKey) {
    if (!linearizable(history)) return { ok: false, key, history }
  }
  return { ok: true }
}

function linearizable(history: readonly RegisterOperation[]): boolean {
  const count = history.length
  const done = new Uint8Array(count)
  const visited = new Set<string>()
  let states = 0

  const search = (linearizedCount: number, value: string | null): boolean => {
    if (linearizedCount === count) return true
    const stateKey = `${done.join('')}|${value}`
    if (visited.has(stateKey)) return false
    visited.add(stateKey)
    if (++states > SEARCH_STATES_MAX) throw new Error('linearizability search exceeded its state bound')
    // An operation can go next only if it was invoked before every pending operation completed.
    let earliestComplete = Infinity
    for (let i = 0; i < count; i++) {
      if (done[i] === 0) earliestComplete = Math.min(earliestComplete, history[i]!.completeTime)
    }
    for (let i = 0; i < count; i++) {
      if (done[i] === 1) continue
      const operation = history[i]!
      if (operation.invokeTime > earliestComplete) continue
      if (operation.kind === 'read' && operation.value !== value) continue
      done[i] = 1
      const next = operation.kind === 'write' ? operation.value : value
      if (search(linearizedCount + 1, next)) return true
      done[i] = 0
    }
    // Unknown-outcome writes may never have taken effect: allow leaving them out at the end.
    return history.every((operation, i) => done[i] === 1 || (operation.kind === 'write' && operation.completeTime === Infinity))
  }
  return search(0, null)
}
