/**
 * Reading fields of Kubernetes objects received as JSON, without trusting their shape: every
 * accessor answers a fallback instead of throwing when a field is missing or of another type.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'

/** The value at `path`, or undefined when any step is missing or not an object. */
export function fieldAt(value: unknown, ...path: string[]): JsonValue | undefined {
  let current: unknown = value
  for (const key of path) current = isJsonObject(current) ? current[key] : undefined
  return current as JsonValue | undefined
}

/** The object at `path`, or an empty object. */
export function objectAt(value: unknown, ...path: string[]): JsonObject {
  const found = fieldAt(value, ...path)
  return isJsonObject(found) ? found : {}
}

/** The array at `path`, or an empty array. */
export function listAt(value: unknown, ...path: string[]): JsonValue[] {
  const found = fieldAt(value, ...path)
  return Array.isArray(found) ? found : []
}

/** The string at `path` (numbers and booleans as text), or `fallback`. */
export function stringAt(value: unknown, path: readonly string[], fallback = ''): string {
  const found = fieldAt(value, ...path)
  if (typeof found === 'string') return found
  if (typeof found === 'number' || typeof found === 'boolean') return String(found)
  return fallback
}

/** The number at `path`, or `fallback`. */
export function numberAt(value: unknown, path: readonly string[], fallback = 0): number {
  const found = fieldAt(value, ...path)
  return typeof found === 'number' ? found : fallback
}

/** `metadata.name`. */
export function nameOf(object: unknown): string {
  return stringAt(object, ['metadata', 'name'])
}

/** `metadata.namespace`, or undefined for cluster-scoped objects. */
export function namespaceOf(object: unknown): string | undefined {
  const namespace = stringAt(object, ['metadata', 'namespace'])
  return namespace === '' ? undefined : namespace
}

/** A string map (labels, annotations, selectors) with non-string values dropped. */
export function stringMapAt(value: unknown, ...path: string[]): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [key, item] of Object.entries(objectAt(value, ...path))) if (typeof item === 'string') result[key] = item
  return result
}

/** `a=b,c=d` in key order, or `<none>`. */
export function formatLabels(labels: Readonly<Record<string, string>>, none = '<none>'): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return entries.length === 0 ? none : entries.map(([key, value]) => `${key}=${value}`).join(',')
}

/** The label selector text of a workload's `spec.selector` (matchLabels and matchExpressions). */
export function selectorText(selector: unknown): string {
  const parts: string[] = []
  for (const [key, value] of Object.entries(stringMapAt(selector, 'matchLabels')).sort(([a], [b]) => (a < b ? -1 : 1))) parts.push(`${key}=${value}`)
  for (const expression of listAt(selector, 'matchExpressions')) {
    const key = stringAt(expression, ['key'])
    const values = listAt(expression, 'values').map(String).join(',')
    switch (stringAt(expression, ['operator'])) {
      case 'In':
        parts.push(`${key} in (${values})`)
        break
      case 'NotIn':
        parts.push(`${key} notin (${values})`)
        break
      case 'Exists':
        parts.push(key)
        break
      case 'DoesNotExist':
        parts.push(`!${key}`)
        break
      default:
        break
    }
  }
  return parts.join(',')
}

/** The owner reference with `controller: true`, if any. */
export function controllerOf(object: unknown): JsonObject | undefined {
  return listAt(object, 'metadata', 'ownerReferences').filter(isJsonObject).find((reference) => reference['controller'] === true)
}
