/**
 * JSON values and their canonical form: the shape objects take before they are stored or compared.
 *
 * Clients send `null` for fields they mean to leave unset (kubectl puts `"creationTimestamp": null`
 * into every pod template, and `rollout undo` JSON-patches it back), and JSON object key order is
 * arbitrary. Two templates that differ only in those ways must compare equal, or the Deployment
 * controller mints a new ReplicaSet for an unchanged template. So stored objects drop null fields,
 * and comparisons use `canonicalJson` (sorted keys, no nulls) or `jsonEqual` (key-order blind).
 *
 * Object names and `generateName` live in names.ts; they are re-exported here because callers
 * that canonicalise an incoming object usually name it in the same breath.
 */

/** Any value `JSON.parse` can return. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject

/** A JSON object: string keys, JSON values. */
export interface JsonObject {
  [key: string]: JsonValue
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A deep copy that shares nothing with `value`, so the copy may be mutated freely. */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => cloneJson(item)) as T
  if (isJsonObject(value)) {
    const copy: JsonObject = {}
    for (const [key, item] of Object.entries(value)) copy[key] = cloneJson(item)
    return copy as T
  }
  return value
}

/**
 * A deep copy without object fields whose value is null, at any depth. Nulls inside arrays are
 * kept: they are list elements, not unset fields. The input is not modified.
 */
export function dropNulls<T extends JsonValue>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => dropNulls(item)) as T
  if (isJsonObject(value)) {
    const copy: JsonObject = {}
    for (const [key, item] of Object.entries(value)) {
      if (item !== null) copy[key] = dropNulls(item)
    }
    return copy as T
  }
  return value
}

/**
 * The canonical JSON text of a value: object keys sorted, null object fields left out, no
 * whitespace. Equal text means equal content regardless of key order and of explicit nulls, so it
 * serves as a comparison and hashing key (for example for pod-template hashes).
 */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`
  if (isJsonObject(value)) {
    const members: string[] = []
    for (const key of Object.keys(value).sort()) {
      const item = value[key]
      if (item === null || item === undefined) continue
      members.push(`${JSON.stringify(key)}:${canonicalJson(item)}`)
    }
    return `{${members.join(',')}}`
  }
  return JSON.stringify(value)
}

/**
 * Deep equality as RFC 6902 `test` defines it: objects are equal when they have the same members
 * in any order, arrays when their elements are equal in order, numbers by value. Null fields are
 * significant here (`{a: null}` differs from `{}`); use `canonicalEqual` to ignore them.
 */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    return a.every((item, index) => jsonEqual(item, b[index] as JsonValue))
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false
    const keys = Object.keys(a)
    if (keys.length !== Object.keys(b).length) return false
    return keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key] as JsonValue, b[key] as JsonValue))
  }
  return false
}

/**
 * Equality of canonical forms (`canonicalJson(a) === canonicalJson(b)`): key order and null
 * object fields do not matter. Compared in place, stopping at the first difference, because
 * every write compares the object it would store with the stored one.
 */
export function canonicalEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let index = 0; index < a.length; index++) {
      // Array elements are values, not fields: a null element is kept and compared.
      const left = a[index] as JsonValue
      const right = b[index] as JsonValue
      if (left === null || right === null ? left !== right : !canonicalEqual(left, right)) return false
    }
    return true
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false
    let presentInA = 0
    for (const key of Object.keys(a)) {
      const left = a[key]
      if (left === null || left === undefined) continue
      presentInA++
      if (!Object.hasOwn(b, key)) return false
      const right = b[key]
      if (right === null || right === undefined || !canonicalEqual(left, right)) return false
    }
    let presentInB = 0
    for (const key of Object.keys(b)) if (b[key] !== null && b[key] !== undefined) presentInB++
    return presentInA === presentInB
  }
  if (typeof a === 'number' && typeof b === 'number') return JSON.stringify(a) === JSON.stringify(b)
  return false
}

export {
  dns1035LabelErrors,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  generateName,
  GENERATED_NAME_ALPHABET,
  nameIsDnsSubdomain,
  pathSegmentNameErrors,
} from './names.ts'
