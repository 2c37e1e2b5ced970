/**
 * Linearizability of the simulator's key-value register: each key's history is checked on its own
 * (P-compositionality, which keeps every search small) with the generic Wing & Gong checker in
 * lib/linearizability.ts, against a read/write register model.
 */
import { checkLinearizable, type SequentialModel, type TimedOperation } from '../../lib/linearizability.ts'

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

/** A read/write register whose state is its value (null: absent). */
const REGISTER: SequentialModel<string | null, RegisterOperation> = {
  initial: null,
  step: (state, operation) => (operation.kind === 'write' ? operation.value : operation.value === state ? state : undefined),
  stateKey: (state) => (state === null ? '∅' : `=${state}`),
}

export function checkRegisterHistory(operations: readonly RegisterOperation[]): LinearizabilityResult {
  const byKey = new Map<string, RegisterOperation[]>()
  for (const operation of operations) {
    const list = byKey.get(operation.key) ?? []
    list.push(operation)
    byKey.set(operation.key, list)
  }
  for (const [key, history] of byKey) {
    const timed: TimedOperation<RegisterOperation>[] = history.map((operation) => ({ input: operation, invokeTime: operation.invokeTime, completeTime: operation.completeTime }))
    if (!checkLinearizable(REGISTER, timed).ok) return { ok: false, key, history }
  }
  return { ok: true }
}
