/**
 * Field-level validation errors, the building blocks of a 422 `Invalid` Status.
 *
 * A FieldError names the offending field (`spec.containers[0].image`), the kind of problem, the
 * bad value and a detail. `formatFieldError` renders it exactly as k8s.io/apimachinery's
 * `field.Error` does (`spec.replicas: Invalid value: -1: must be greater than or equal to 0`),
 * because that text is what kubectl prints, and `aggregateMessage` joins several the way Go's
 * `utilerrors.Aggregate` does (deduplicated, in brackets when there is more than one).
 */

/** The machine-readable kinds of field problem; also the `reason` of a StatusCause. */
export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueForbidden'
  | 'FieldValueNotFound'
  | 'InternalError'

/** One problem with one field. */
export interface FieldError {
  readonly type: FieldErrorType
  /** The field path, e.g. `metadata.name` or `spec.template.spec.containers[0].ports[1].containerPort`. */
  readonly field: string
  /** The rejected value, rendered into the message; absent when the message must not show it. */
  readonly badValue?: unknown
  /** Why, in words (may be empty). */
  readonly detail: string
}

const TYPE_TEXT: Record<FieldErrorType, string> = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueForbidden: 'Forbidden',
  FieldValueNotFound: 'Not found',
  InternalError: 'Internal error',
}

/** Types whose message never shows the value (it may be huge or secret). */
const VALUE_HIDDEN: ReadonlySet<FieldErrorType> = new Set(['FieldValueRequired', 'FieldValueForbidden', 'FieldValueTooLong', 'InternalError'])

/** A required field is missing or empty. */
export function fieldRequired(field: string, detail = ''): FieldError {
  return { type: 'FieldValueRequired', field, detail }
}

/** A field has a malformed or out-of-range value. */
export function fieldInvalid(field: string, badValue: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, badValue, detail }
}

/** A field holds a value outside an enumeration; the detail lists the supported values. */
export function fieldNotSupported(field: string, badValue: unknown, supported: readonly string[]): FieldError {
  const detail = supported.length === 0 ? '' : `supported values: ${supported.map((value) => goQuote(value)).join(', ')}`
  return { type: 'FieldValueNotSupported', field, badValue, detail }
}

/** A value that must be unique (a container name, a port) appears twice. */
export function fieldDuplicate(field: string, badValue: unknown): FieldError {
  return { type: 'FieldValueDuplicate', field, badValue, detail: '' }
}

/** A string longer than allowed; the value itself is left out of the message. */
export function fieldTooLong(field: string, maxLengthBytes: number): FieldError {
  return { type: 'FieldValueTooLong', field, detail: `may not be more than ${maxLengthBytes} ${maxLengthBytes === 1 ? 'byte' : 'bytes'}` }
}

/** A field that may not be set (or changed) in this situation. */
export function fieldForbidden(field: string, detail: string): FieldError {
  return { type: 'FieldValueForbidden', field, detail }
}

/** The message without the field: `Invalid value: "x": detail`. */
export function fieldErrorBody(error: FieldError): string {
  let body = TYPE_TEXT[error.type]
  if (!VALUE_HIDDEN.has(error.type) && 'badValue' in error) body += `: ${formatBadValue(error.badValue)}`
  if (error.detail !== '') body += `: ${error.detail}`
  return body
}

/** The full message: `field: body`. */
export function formatFieldError(error: FieldError): string {
  return `${error.field}: ${fieldErrorBody(error)}`
}

/**
 * Several messages as one, the way Go's error aggregates print: duplicates dropped, one message
 * as is, several as `[a, b]`.
 */
export function aggregateMessage(messages: readonly string[]): string {
  const unique = [...new Set(messages)]
  if (unique.length === 1) return unique[0] ?? ''
  return unique.length === 0 ? '' : `[${unique.join(', ')}]`
}

/** Go's `%q` for a string: double quotes, Go escapes for quotes, backslashes and control bytes. */
export function goQuote(text: string): string {
  let quoted = '"'
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0
    if (character === '"' || character === '\\') quoted += `\\${character}`
    else if (GO_ESCAPES[character] !== undefined) quoted += GO_ESCAPES[character]
    else if (code < 0x20 || code === 0x7f) quoted += `\\x${code.toString(16).padStart(2, '0')}`
    else quoted += character
  }
  return `${quoted}"`
}

const GO_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' }

/** Numbers and booleans print bare, strings quoted as Go does, anything else as JSON. */
function formatBadValue(value: unknown): string {
  if (typeof value === 'string') return goQuote(value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  if (value === null || value === undefined) return 'null'
  return JSON.stringify(value) ?? String(value)
}
