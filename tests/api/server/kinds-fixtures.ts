// Shared helpers for the kinds-*.test.ts files: run an object through defaulting and validation
// as the API handler does, and assert on the field errors by path and reason.
import type { Test } from 'tap'
import { applyDefaults, validateKind } from '../../../node/src/api/server/kinds.ts'
import { formatFieldError, type FieldError, type FieldErrorType } from '../../../node/src/api/machinery/field-errors.ts'

/**
 * Test objects are plain literals (with `undefined` to leave a field out) and assertions reach
 * deep into results, so tests use an untyped view; the entry points take JsonObject.
 */
export type Loose = any

/** Defaults then validates, as an admission of `object` (an update when `old` is given). */
export function errorsOf(kind: string, object: Loose, old?: Loose): FieldError[] {
  return validateKind(kind, applyDefaults(kind, object, old), old)
}

/** The defaulted object, typed loosely for field access in assertions. */
export function defaulted(kind: string, object: Loose, old?: Loose): Loose {
  return applyDefaults(kind, object, old)
}

export interface ExpectedError {
  readonly field: string
  readonly type: FieldErrorType
  /** A substring (or pattern) of the detail. */
  readonly detail?: string | RegExp
}

function matches(error: FieldError, expected: ExpectedError): boolean {
  if (error.field !== expected.field || error.type !== expected.type) return false
  if (expected.detail === undefined) return true
  return typeof expected.detail === 'string' ? error.detail.includes(expected.detail) : expected.detail.test(error.detail)
}

/** Asserts that `errors` contains an error with this field path, reason and (optionally) detail. */
export function hasError(t: Test, errors: readonly FieldError[], expected: ExpectedError, message?: string): void {
  const found = errors.some((error) => matches(error, expected))
  t.ok(found, message ?? `${expected.type} at ${expected.field}`, { found: errors.map(formatFieldError) })
}

/** Asserts that the object is refused with this error (among possibly others). */
export function refused(t: Test, kind: string, object: Loose, expected: ExpectedError, old?: Loose): void {
  hasError(t, errorsOf(kind, object, old), expected, `${kind}: ${expected.type} at ${expected.field}`)
}

/** Asserts that the object is accepted: no field errors at all. */
export function accepted(t: Test, kind: string, object: Loose, old?: Loose, message?: string): void {
  const errors = errorsOf(kind, object, old)
  t.same(errors.map(formatFieldError), [], message ?? `${kind} is valid`)
}

/** A minimal valid container. */
export function container(overrides: Loose = {}): Loose {
  return { name: 'app', image: 'registry.local/app:1.2', ...overrides }
}

/** A minimal valid Pod with `spec` fields merged in. */
export function pod(spec: Loose = {}, metadata: Loose = {}): Loose {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default', ...metadata }, spec: { containers: [container()], ...spec } }
}

/** A pod template labelled `app: web`, with `spec` fields merged in. */
export function template(spec: Loose = {}, labels: Loose = { app: 'web' }): Loose {
  return { metadata: { labels }, spec: { containers: [container()], ...spec } }
}
