/**
 * Reading and defaulting fields of untyped Kubernetes JSON.
 *
 * Objects reach defaulting and validation straight from a request body, so any field may be
 * missing, `null` (kubectl sends `creationTimestamp: null`) or of the wrong type. These readers
 * treat `null` and absent alike and never throw, so the rules that use them stay short.
 *
 * The `set…` helpers mutate: they are meant for the private deep copy that `applyDefaults` makes
 * before any defaulting function runs, never for a caller's object.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'

/** The value as an object, or a fresh empty object when it is not one. */
export function objectAt(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

/** The value as a list, or an empty list when it is not one. */
export function listAt(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : []
}

/** The value as a string, or `''` when it is not one (Go's zero value). */
export function stringAt(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : ''
}

/** The list's objects (non-objects are skipped; validation reports them separately). */
export function objectsAt(value: JsonValue | undefined): JsonObject[] {
  return listAt(value).filter(isJsonObject)
}

/** True when the field holds a value: not absent and not `null`. */
export function isSet(value: JsonValue | undefined): value is JsonValue {
  return value !== undefined && value !== null
}

/** True for a whole JSON number. */
export function isInteger(value: JsonValue | undefined): value is number {
  return typeof value === 'number' && Number.isInteger(value)
}

/** True for an object field that is set and holds an object. */
export function hasObject(parent: JsonObject, key: string): boolean {
  return isJsonObject(parent[key])
}

/** Sets `target[key]` to `value` when the field is unset (absent or null). */
export function setDefault(target: JsonObject, key: string, value: JsonValue): void {
  if (!isSet(target[key])) target[key] = value
}

/**
 * Sets `target[key]` when it is unset or holds the Go zero value (`0`, `''`). Kubernetes defaults
 * non-pointer fields this way, so an explicit `timeoutSeconds: 0` also becomes `1`.
 */
export function setDefaultUnlessNonZero(target: JsonObject, key: string, value: JsonValue): void {
  const current = target[key]
  if (!isSet(current) || current === 0 || current === '') target[key] = value
}

/** The object at `target[key]`, created (and attached) when the field is unset or not an object. */
export function ensureObject(target: JsonObject, key: string): JsonObject {
  const current = target[key]
  if (isJsonObject(current)) return current
  const created: JsonObject = {}
  target[key] = created
  return created
}

/** `parent.child`, or `child` at the root. */
export function childPath(parent: string, child: string): string {
  return parent === '' ? child : `${parent}.${child}`
}

/** `parent[index]` for list elements. */
export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`
}

/** `parent[key]` for map entries, as Kubernetes' field.Path.Key prints them (`data[tls.crt]`). */
export function keyPath(parent: string, key: string): string {
  return `${parent}[${key}]`
}

/** The keys of an object in sorted order, so errors come out in a stable order. */
export function sortedKeys(value: JsonObject): string[] {
  return Object.keys(value).sort()
}
