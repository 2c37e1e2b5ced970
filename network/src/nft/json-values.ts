/**
 * Reading parsed JSON whose shape is not trusted (nft listings, Kubernetes objects): each reader
 * returns an empty value of the wanted type instead of throwing, so planners skip what they cannot
 * read.
 */

/** `value` when it is a JSON object, else an empty one. */
export function objectAt(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Readonly<Record<string, unknown>>) : {}
}

/** `value` when it is an array, else an empty one. */
export function listAt(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : []
}

/** `value` when it is a string, else ''. */
export function stringAt(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/** Code-unit order, independent of the locale (so output is the same on every host). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
