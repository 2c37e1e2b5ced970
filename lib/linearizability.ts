/**
 * A generic linearizability checker in the style of Wing & Gong with Lowe's memoization (the
 * algorithm behind Knossos' "wgl" and Porcupine): a depth-first search for a total order of the
 * operations that respects real time and a sequential model, caching the (linearized set, model
 * state) pairs already explored so that each is expanded once.
 *
 * Operations whose outcome is unknown (a timeout, a crashed client) have `completeTime = Infinity`:
 * they may take effect at any point after their invocation, or never.
 */
import { FlotillaError } from './errors.ts'

/** A sequential specification: the state after applying `input`, or undefined when illegal. */
export interface SequentialModel<State, Input> {
  readonly initial: State
  step(state: State, input: Input): State | undefined
  /** A string that is equal for equal states (the memoization key). */
  stateKey(state: State): string
}

/** One operation as a client saw it: its input and output in `input`, its real-time interval. */
export interface TimedOperation<Input> {
  readonly input: Input
  readonly invokeTime: number
  /** When the client saw the result; Infinity when it never learned the outcome. */
  readonly completeTime: number
}

export interface LinearizabilityVerdict<Input> {
  readonly ok: boolean
  /** On failure: the most operations any order could linearize, and that prefix (for reports). */
  readonly longestPrefix?: readonly TimedOperation<Input>[]
  /** On failure: the operations that could not be placed after the longest prefix. */
  readonly stuck?: readonly TimedOperation<Input>[]
}

/** The search exceeded its state bound: the history is too concurrent to decide. */
export class LinearizabilitySearchLimitError extends FlotillaError {
  override name = 'LinearizabilitySearchLimitError'
}

/** Bounds the search so a pathological history cannot hang a run. */
export const SEARCH_STATES_MAX = 2_000_000

interface Frame<State> {
  readonly state: State
  /** The operation whose linearization led to this frame (-1 for the root). */
  readonly chosen: number
  /** The candidates for the next position and how far through them the search is. */
  readonly candidates: number[]
  next: number
}

/** Checks one history (one object); see the module comment. */
export function checkLinearizable<State, Input>(model: SequentialModel<State, Input>, operations: readonly TimedOperation<Input>[], statesMax = SEARCH_STATES_MAX): LinearizabilityVerdict<Input> {
  const history = [...operations].sort((a, b) => a.invokeTime - b.invokeTime)
  const count = history.length
  const done = new Uint8Array(count)
  // Definite operations must all be linearized; unknown-outcome ones may be left out at the end.
  let definiteLeft = history.filter((operation) => operation.completeTime !== Infinity).length
  const visited = new Set<string>()
  const doneWords = new Uint32Array(Math.ceil(count / 32))
  let states = 0
  let deepest = 0
  let deepestOrder: number[] = []
  const order: number[] = []

  /** Pending operations that may go next: invoked before every pending operation completed. */
  const candidatesOf = (): number[] => {
    let earliestComplete = Infinity
    for (let i = 0; i < count; i++) {
      if (done[i] === 1) continue
      const operation = history[i]!
      // Sorted by invocation: nothing later can complete before an earlier deadline.
      if (operation.invokeTime > earliestComplete) break
      earliestComplete = Math.min(earliestComplete, operation.completeTime)
    }
    const candidates: number[] = []
    for (let i = 0; i < count; i++) {
      if (done[i] === 1) continue
      if (history[i]!.invokeTime > earliestComplete) break
      candidates.push(i)
    }
    return candidates
  }
  const mark = (i: number, value: 0 | 1): void => {
    done[i] = value
    doneWords[i >>> 5] = value === 1 ? doneWords[i >>> 5]! | (1 << (i & 31)) : doneWords[i >>> 5]! & ~(1 << (i & 31))
    if (history[i]!.completeTime !== Infinity) definiteLeft += value === 1 ? -1 : 1
  }

  if (definiteLeft === 0) return { ok: true }
  const stack: Frame<State>[] = [{ state: model.initial, chosen: -1, candidates: candidatesOf(), next: 0 }]
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!
    if (frame.next >= frame.candidates.length) {
      stack.pop()
      if (frame.chosen >= 0) {
        mark(frame.chosen, 0)
        order.pop()
      }
      continue
    }
    const i = frame.candidates[frame.next++]!
    const nextState = model.step(frame.state, history[i]!.input)
    if (nextState === undefined) continue
    mark(i, 1)
    const key = `${doneWords.join(',')}|${model.stateKey(nextState)}`
    if (visited.has(key)) {
      mark(i, 0)
      continue
    }
    visited.add(key)
    if (++states > statesMax) throw new LinearizabilitySearchLimitError(`linearizability search exceeded ${statesMax} states over ${count} operations`)
    order.push(i)
    if (order.length > deepest) {
      deepest = order.length
      deepestOrder = [...order]
    }
    if (definiteLeft === 0) return { ok: true }
    stack.push({ state: nextState, chosen: i, candidates: candidatesOf(), next: 0 })
  }
  const placed = new Set(deepestOrder)
  return {
    ok: false,
    longestPrefix: deepestOrder.map((i) => history[i]!),
    stuck: history.filter((_, i) => !placed.has(i)).slice(0, 20),
  }
}
