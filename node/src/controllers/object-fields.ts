/**
 * Typed reads of the Kubernetes JSON objects controllers work on. Objects arrive as stored JSON
 * (JsonObject), already defaulted and validated by the API server; these helpers read fields
 * with the API's defaults for absent values and never throw on odd shapes, because a controller
 * must not crash on an object a user wrote.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'

/** The value when it is a JSON object, else an empty object. */
export function objectAt(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

/** The value when it is an array, else an empty array. */
export function listAt(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : []
}

/** The value when it is a finite number, else `fallback`. */
export function numberAt(value: JsonValue | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback
}

/** The value when it is a string, else `fallback`. */
export function stringAt(value: JsonValue | undefined, fallback = ''): string {
  return typeof value === 'string' ? value : fallback
}

export function metadataOf(object: JsonObject): JsonObject {
  return objectAt(object['metadata'])
}

export function specOf(object: JsonObject): JsonObject {
  return objectAt(object['spec'])
}

export function statusOf(object: JsonObject): JsonObject {
  return objectAt(object['status'])
}

export function nameOf(object: JsonObject): string {
  return stringAt(metadataOf(object)['name'])
}

export function namespaceOf(object: JsonObject): string {
  return stringAt(metadataOf(object)['namespace'], 'default')
}

export function uidOf(object: JsonObject): string {
  return stringAt(metadataOf(object)['uid'])
}

/** `metadata.generation`; objects the API server wrote always have one (1 at creation). */
export function generationOf(object: JsonObject): number {
  return numberAt(metadataOf(object)['generation'], 1)
}

/** A string map such as labels or annotations; non-string values are skipped. */
export function stringMapAt(value: JsonValue | undefined): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [key, item] of Object.entries(objectAt(value))) {
    if (typeof item === 'string') result[key] = item
  }
  return result
}

export function labelsOf(object: JsonObject): Record<string, string> {
  return stringMapAt(metadataOf(object)['labels'])
}

export function annotationsOf(object: JsonObject): Record<string, string> {
  return stringMapAt(metadataOf(object)['annotations'])
}

/** RFC 3339 text to epoch milliseconds; undefined when absent or unparsable. */
export function parseTimeMs(value: JsonValue | undefined): number | undefined {
  if (typeof value !== 'string') return undefined
  let parsed = PARSED_TIMES.get(value)
  if (parsed === undefined) {
    // Controllers read the same few timestamps over and over (every pod's Ready time on every
    // reconcile), and Date.parse is slow; a bounded memo of a pure function is safe.
    if (PARSED_TIMES.size >= PARSED_TIMES_MAX) PARSED_TIMES.clear()
    parsed = Date.parse(value)
    PARSED_TIMES.set(value, parsed)
  }
  return Number.isNaN(parsed) ? undefined : parsed
}

const PARSED_TIMES = new Map<string, number>()
const PARSED_TIMES_MAX = 4096

/**
 * Epoch milliseconds as Kubernetes writes timestamps (metav1.Time): RFC 3339 in UTC with whole
 * seconds, `2024-05-01T12:00:00Z`. Sub-second precision is dropped, as the real API does.
 */
export function formatTime(epochMs: number): string {
  const seconds = Math.floor(epochMs / 1000)
  // One reconcile formats the same second many times; remember the last one.
  if (seconds !== lastFormatted.seconds) lastFormatted = { seconds, text: new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') }
  return lastFormatted.text
}

let lastFormatted = { seconds: Number.NaN, text: '' }

/** `metadata.creationTimestamp` in epoch ms; objects without one sort first (as in Kubernetes). */
export function creationMsOf(object: JsonObject): number {
  return parseTimeMs(metadataOf(object)['creationTimestamp']) ?? Number.NEGATIVE_INFINITY
}

/** True when the object is being deleted (`metadata.deletionTimestamp` is set). */
export function isBeingDeleted(object: JsonObject): boolean {
  return metadataOf(object)['deletionTimestamp'] !== undefined && metadataOf(object)['deletionTimestamp'] !== null
}

/** The owner reference with `controller: true`, if any (an object has at most one). */
export function controllerRefOf(object: JsonObject): JsonObject | undefined {
  for (const reference of listAt(metadataOf(object)['ownerReferences'])) {
    if (isJsonObject(reference) && reference['controller'] === true) return reference
  }
  return undefined
}

/** True when `object`'s controller reference points at the object with `ownerUid`. */
export function isControlledBy(object: JsonObject, ownerUid: string): boolean {
  return controllerRefOf(object)?.['uid'] === ownerUid
}

/**
 * The owner reference a controller puts on what it creates: `controller: true` makes it the one
 * managing controller, `blockOwnerDeletion: true` makes foreground deletion of the owner wait for
 * this dependent.
 */
export function controllerReferenceTo(owner: JsonObject, apiVersion: string, kind: string): JsonObject {
  return { apiVersion, kind, name: nameOf(owner), uid: uidOf(owner), controller: true, blockOwnerDeletion: true }
}

/**
 * Orders objects oldest first by creationTimestamp, then by name, as Kubernetes'
 * `ReplicaSetsByCreationTimestamp` does; the name tie-break keeps the order deterministic.
 */
export function byCreationThenName(a: JsonObject, b: JsonObject): number {
  const difference = creationMsOf(a) - creationMsOf(b)
  if (difference !== 0 && !Number.isNaN(difference)) return difference
  return nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0
}

/**
 * Deep equality where an object field set to null equals an absent one, key order is ignored,
 * and arrays compare element by element. The same relation as comparing canonicalJson texts,
 * without building them: controllers compare every ReplicaSet's template on every reconcile.
 */
export function equalIgnoringNullFields(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    return a.every((item, index) => equalIgnoringNullFields(item, b[index]))
  }
  if (!isJsonObject(a) || !isJsonObject(b)) return false
  // An absent field and a null field are the same unset field.
  for (const key of Object.keys(a)) {
    if (!equalIgnoringNullFields(a[key] ?? null, Object.hasOwn(b, key) ? (b[key] ?? null) : null)) return false
  }
  for (const key of Object.keys(b)) {
    if (!Object.hasOwn(a, key) && b[key] !== null) return false
  }
  return true
}
