/**
 * The small checks every kind's rules are built from: numbers in range, enumerations, required
 * strings, immutable fields. Each returns field errors worded as Kubernetes words them
 * (apimachinery's `ValidateNonnegativeField`, `field.NotSupported`, `ValidateImmutableField`, …),
 * and an empty list when the value is fine. All are pure.
 */
import { canonicalEqual, type JsonValue } from '../../machinery/canonical.ts'
import { fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { isInteger, isSet } from './json-access.ts'

export const NEGATIVE_MESSAGE = 'must be greater than or equal to 0'
export const NOT_POSITIVE_MESSAGE = 'must be greater than zero'
export const IMMUTABLE_MESSAGE = 'field is immutable'
export const NOT_INTEGER_MESSAGE = 'must be an integer'

/**
 * The width of a Kubernetes integer field: Go's int32 (replicas, most counts and seconds of the
 * workload kinds) or int64. Kubernetes refuses a number its field cannot hold while decoding; a
 * JSON number can be far larger, so every integer check also checks the width.
 */
export type IntegerWidth = 32 | 64

export const INT32_MAX = 2_147_483_647
export const INT32_MIN = -2_147_483_648
/** 2^63, the first whole number past int64 (exactly representable, unlike 2^63 − 1). */
const INT64_LIMIT = 2 ** 63

/** An integer that does not fit its field's width. */
function widthErrors(value: number, path: string, width: IntegerWidth): FieldError[] {
  if (width === 32 && (value > INT32_MAX || value < INT32_MIN)) return [fieldInvalid(path, value, `must be a 32-bit integer (from ${INT32_MIN} to ${INT32_MAX})`)]
  if (value >= INT64_LIMIT || value < -INT64_LIMIT) return [fieldInvalid(path, value, 'must be a 64-bit integer')]
  return []
}

/**
 * A field that must be a whole number of `width` bits when set. Kubernetes would refuse other
 * JSON types while decoding; here they become one Invalid error, so later checks can assume an
 * integer.
 */
export function integerErrors(value: JsonValue | undefined, path: string, width: IntegerWidth = 64): FieldError[] {
  if (!isSet(value)) return []
  if (!isInteger(value)) return [fieldInvalid(path, value, NOT_INTEGER_MESSAGE)]
  return widthErrors(value, path, width)
}

/** A whole number ≥ 0 of `width` bits when set (`ValidateNonnegativeField`). */
export function nonNegativeErrors(value: JsonValue | undefined, path: string, width: IntegerWidth = 64): FieldError[] {
  if (!isSet(value)) return []
  if (!isInteger(value)) return integerErrors(value, path)
  return value < 0 ? [fieldInvalid(path, value, NEGATIVE_MESSAGE)] : widthErrors(value, path, width)
}

/** A whole number > 0 of `width` bits when set. */
export function positiveErrors(value: JsonValue | undefined, path: string, message = NOT_POSITIVE_MESSAGE, width: IntegerWidth = 64): FieldError[] {
  if (!isSet(value)) return []
  if (!isInteger(value)) return integerErrors(value, path)
  return value <= 0 ? [fieldInvalid(path, value, message)] : widthErrors(value, path, width)
}

/**
 * A value from a fixed set. Unset is a Required error when `required` (Kubernetes validates the
 * defaulted object, so a required enum is only missing when the client sent an empty string).
 */
export function enumErrors(value: JsonValue | undefined, path: string, supported: readonly string[], required = true): FieldError[] {
  if (!isSet(value) || value === '') return required ? [fieldRequired(path)] : []
  if (typeof value === 'string' && supported.includes(value)) return []
  return [fieldNotSupported(path, value, supported)]
}

/** A string that must be present and non-empty. */
export function requiredStringErrors(value: JsonValue | undefined, path: string, detail = ''): FieldError[] {
  return typeof value === 'string' && value !== '' ? [] : [fieldRequired(path, detail)]
}

/** Messages of a name rule (names.ts) as Invalid errors on `path`. */
export function messagesAsErrors(messages: readonly string[], path: string, value: JsonValue): FieldError[] {
  return messages.map((message) => fieldInvalid(path, value, message))
}

/**
 * A field that may not change on update (`ValidateImmutableField`). Absent and null count as
 * equal, and key order does not matter.
 */
export function immutableErrors(next: JsonValue | undefined, previous: JsonValue | undefined, path: string): FieldError[] {
  if (canonicalEqual(next ?? null, previous ?? null)) return []
  return [fieldInvalid(path, next ?? null, IMMUTABLE_MESSAGE)]
}
