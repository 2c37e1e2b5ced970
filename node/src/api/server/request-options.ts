/**
 * Query parameters shared by the verbs: `dryRun`, `watch`, `timeoutSeconds`, `resourceVersion`,
 * `allowWatchBookmarks`. Each parser validates and turns a bad value into a 400 before the
 * request does anything, so a request with a bad parameter changes nothing.
 */
import { badRequest } from '../machinery/status.ts'

/** The only dryRun value Kubernetes defines: run admission and validation, persist nothing. */
const DRY_RUN_ALL = 'All'

/**
 * Whether the request is a dry run: true when `dryRun=All`, false when the parameter is absent.
 * Extra values come from DeleteOptions bodies (`"dryRun": ["All"]`).
 * @throws ApiError 400 for any other value.
 */
export function dryRunOf(url: URL, extraValues: readonly string[] = []): boolean {
  const values = [...url.searchParams.getAll('dryRun'), ...extraValues]
  for (const value of values) {
    if (value !== DRY_RUN_ALL) throw badRequest(`dryRun: Unsupported value: ${JSON.stringify(value)}: supported values: "${DRY_RUN_ALL}"`)
  }
  return values.length > 0
}

/**
 * A boolean query parameter (`watch`, `allowWatchBookmarks`): `true`/`1` or `false`/`0`, false when
 * absent or empty.
 * @throws ApiError 400 for anything else.
 */
export function booleanParameter(url: URL, name: string): boolean {
  const value = url.searchParams.get(name)
  if (value === null || value === '' || value === 'false' || value === '0') return false
  if (value === 'true' || value === '1') return true
  throw badRequest(`${name}: invalid boolean ${JSON.stringify(value)}: use true or false`)
}

/**
 * A non-negative integer query parameter, or undefined when absent.
 * @throws ApiError 400 when present but not a non-negative integer.
 */
export function countParameter(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name)
  if (value === null) return undefined
  if (!/^\d{1,15}$/.test(value)) throw badRequest(`${name}: invalid value ${JSON.stringify(value)}: must be a non-negative integer`)
  return Number(value)
}

/**
 * The `resourceVersion` a watch starts after: undefined for "now" (absent, empty or `0`, which
 * all start with the current state), else the revision.
 * @throws ApiError 400 when it is not a revision number.
 */
export function watchResourceVersionOf(url: URL): number | undefined {
  const value = url.searchParams.get('resourceVersion')
  if (value === null || value === '' || value === '0') return undefined
  if (!/^\d{1,15}$/.test(value)) throw badRequest(`invalid resource version: ${JSON.stringify(value)}: must be a revision number`)
  return Number(value)
}
