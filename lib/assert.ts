/**
 * Assertions for our own invariants. A failed assertion is a programmer error: it is never caught,
 * the process stops, and the simulator prints the seed that reproduces it. Input from users or
 * peers is validated with typed errors instead (see errors.ts).
 */

/** Thrown when an invariant does not hold. Never caught on purpose. */
export class AssertionError extends Error {
  override name = 'AssertionError'
}

/** Checks an invariant; throws AssertionError with the message when it does not hold. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message)
}

/** Marks a branch that the type system proves unreachable (exhaustive switches). */
export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`)
}
