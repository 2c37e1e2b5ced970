/**
 * Typed reads from Kubernetes JSON objects. The scheduler works on stored objects (plain
 * JsonObject, already validated by the API server), so a field of the wrong type is read as absent
 * rather than thrown on: one odd object must not stop scheduling for everyone else.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'

/** The object at `key`, or undefined when absent or not an object. */
export function objectAt(parent: JsonObject | undefined, key: string): JsonObject | undefined {
  const value = parent?.[key]
  return isJsonObject(value) ? value : undefined
}

/** The array at `key`, or an empty array when absent or not an array. */
export function arrayAt(parent: JsonObject | undefined, key: string): readonly JsonValue[] {
  const value = parent?.[key]
  return Array.isArray(value) ? value : EMPTY
}

/** The objects of the array at `key`, skipping elements that are not objects. */
export function objectsAt(parent: JsonObject | undefined, key: string): readonly JsonObject[] {
  const values = arrayAt(parent, key)
  if (values.length === 0) return EMPTY_OBJECTS
  return values.filter(isJsonObject)
}

/** The string at `key`, or `fallback` when absent or not a string. */
export function stringAt(parent: JsonObject | undefined, key: string, fallback = ''): string {
  const value = parent?.[key]
  return typeof value === 'string' ? value : fallback
}

/** The number at `key`, or undefined when absent or not a number. */
export function numberAt(parent: JsonObject | undefined, key: string): number | undefined {
  const value = parent?.[key]
  return typeof value === 'number' ? value : undefined
}

/** The strings of the array at `key`, skipping elements that are not strings. */
export function stringsAt(parent: JsonObject | undefined, key: string): readonly string[] {
  return arrayAt(parent, key).filter((value): value is string => typeof value === 'string')
}

/** A string-to-string map such as `metadata.labels`; non-string values are skipped. */
export function stringMapAt(parent: JsonObject | undefined, key: string): Readonly<Record<string, string>> {
  const value = objectAt(parent, key)
  if (value === undefined) return EMPTY_MAP
  const result: Record<string, string> = {}
  for (const [name, item] of Object.entries(value)) {
    if (typeof item === 'string') result[name] = item
  }
  return result
}

const EMPTY: readonly JsonValue[] = Object.freeze([])
const EMPTY_OBJECTS: readonly JsonObject[] = Object.freeze([])
const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze({})
