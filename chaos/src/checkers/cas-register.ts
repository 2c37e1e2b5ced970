/**
 * The register workload's history and its sequential model: a compare-and-set register holding a
 * string or nothing. Kubernetes gives exactly this on one object: create is CAS(absent → v), an
 * update carrying the resourceVersion last read is CAS(v_read → v), and a read returns the value.
 * Every written value is unique, so a resourceVersion and the value it carries identify each other
 * and the model can compare values instead of versions.
 */
import { checkLinearizable, type LinearizabilityVerdict, type SequentialModel, type TimedOperation } from '../../../lib/linearizability.ts'

export type RegisterValue = string | null

/**
 * One completed or abandoned operation, as recorded (Jepsen's invoke + ok/fail/info pair).
 * `outcome`: ok = took effect as reported; fail = definitely did not take effect (for a CAS: the
 * register did not hold `expected`); info = unknown (timeout, connection lost, server error).
 */
export type RegisterInput =
  | { readonly f: 'read'; readonly value: RegisterValue }
  | { readonly f: 'cas'; readonly expected: RegisterValue; readonly value: string; readonly outcome: 'ok' | 'fail' | 'info' }

export interface RegisterOperation extends TimedOperation<RegisterInput> {
  /** Which client issued it (for reports). */
  readonly client: string
}

export const CAS_REGISTER: SequentialModel<RegisterValue, RegisterInput> = {
  initial: null,
  step(state, input) {
    if (input.f === 'read') return input.value === state ? state : undefined
    if (input.outcome === 'fail') return input.expected === state ? undefined : state
    // ok, or info placed where it took effect (leaving an info out covers "never took effect").
    return input.expected === state ? input.value : undefined
  },
  stateKey: (state) => (state === null ? '∅' : `=${state}`),
}

/** Checks a register history; reads and failed operations with unknown outcome must be dropped first. */
export function checkRegister(operations: readonly RegisterOperation[]): LinearizabilityVerdict<RegisterInput> {
  return checkLinearizable(CAS_REGISTER, operations)
}

export interface LostWrite {
  readonly value: string
  readonly completeTime: number
  readonly finalValue: RegisterValue
}

/**
 * Acknowledged writes lost after heal: the value every host reads at the end must come from a write
 * that could be linearized after the last acknowledged write, that is one that was not over (ok,
 * or still unknown) before that write began. Returns the acknowledged write that was lost, if any.
 */
export function lostAcknowledgedWrite(operations: readonly RegisterOperation[], finalValue: RegisterValue): LostWrite | undefined {
  const writes = operations.filter((operation) => operation.input.f === 'cas' && operation.input.outcome !== 'fail')
  const acknowledged = writes.filter((operation) => operation.input.f === 'cas' && operation.input.outcome === 'ok')
  const last = acknowledged.reduce<RegisterOperation | undefined>((latest, operation) => (latest === undefined || operation.completeTime > latest.completeTime ? operation : latest), undefined)
  if (last === undefined || last.input.f !== 'cas') return undefined
  if (finalValue === last.input.value) return undefined
  const final = writes.find((operation) => operation.input.f === 'cas' && operation.input.value === finalValue)
  if (final !== undefined && final.completeTime >= last.invokeTime) return undefined
  return { value: last.input.value, completeTime: last.completeTime, finalValue }
}
