/**
 * The query parameters of a list (and of a get, which shares `resourceVersion`): `limit`,
 * `continue`, `resourceVersion`, `resourceVersionMatch` and `timeoutSeconds`, validated as
 * kube-apiserver validates ListOptions, so that a bad value is a 400 before anything is read.
 *
 * Continue tokens are kube-apiserver's: unpadded base64url of
 * `{"v":"meta.k8s.io/v1","rv":<revision of the first page>,"start":"<key to resume at>"}`, where
 * the key is relative to the collection (`name`, or `namespace/name` across namespaces).
 */
import { badRequest } from '../machinery/status.ts'
import { countParameter } from './request-options.ts'

/** How a list's `resourceVersion` is matched (`resourceVersionMatch`). */
export type ResourceVersionMatch = 'NotOlderThan' | 'Exact'

/** The version constraint of a list or get. */
export type ResourceVersionRequest =
  /** Absent: the most recent state (a quorum read). */
  | { readonly kind: 'latest' }
  /** `0`: any state the server has; this server has only the most recent. */
  | { readonly kind: 'any' }
  /** A revision, matched as `match` says (a get always as NotOlderThan). */
  | { readonly kind: 'revision'; readonly revision: number; readonly match: ResourceVersionMatch }

/** Where a continued list resumes. */
export interface ContinueToken {
  /** The store revision of the list's first page. */
  readonly revision: number
  /** The first key (relative to the collection) of the next page. */
  readonly start: string
}

export interface ListOptions {
  /** Most items per page; undefined for all of them (`limit` absent or 0). */
  readonly limit: number | undefined
  readonly continueFrom: ContinueToken | undefined
  readonly version: ResourceVersionRequest
}

/** The one version of continue tokens, as kube-apiserver writes it. */
const CONTINUE_TOKEN_VERSION = 'meta.k8s.io/v1'

/**
 * The list options of a request.
 * @throws ApiError 400 for a malformed limit, continue token, resourceVersion or
 *   resourceVersionMatch, for a continue combined with a resourceVersion, and for the
 *   resourceVersionMatch combinations Kubernetes forbids.
 */
export function listOptionsOf(url: URL): ListOptions {
  countParameter(url, 'timeoutSeconds')
  const limit = countParameter(url, 'limit')
  const continueText = url.searchParams.get('continue') ?? ''
  const versionText = url.searchParams.get('resourceVersion') ?? ''
  const matchText = url.searchParams.get('resourceVersionMatch') ?? ''
  if (continueText !== '' && versionText !== '') throw badRequest('resourceVersion: Forbidden: specifying resource version is not allowed when using continue')
  if (matchText !== '' && continueText !== '') throw badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided')
  const version = resourceVersionRequestOf(url, { allowMatch: true })
  return { limit: limit === 0 ? undefined : limit, continueFrom: continueText === '' ? undefined : decodeContinueToken(continueText), version }
}

/**
 * The `resourceVersion` (and, for lists, `resourceVersionMatch`) of a list or get.
 * @throws ApiError 400 when the version is not a revision number, or for a bad or forbidden match.
 */
export function resourceVersionRequestOf(url: URL, options: { readonly allowMatch: boolean }): ResourceVersionRequest {
  const versionText = url.searchParams.get('resourceVersion') ?? ''
  const matchText = url.searchParams.get('resourceVersionMatch') ?? ''
  if (matchText !== '' && !options.allowMatch) throw badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch is only allowed for list')
  if (matchText !== '' && matchText !== 'NotOlderThan' && matchText !== 'Exact') {
    throw badRequest(`resourceVersionMatch: Unsupported value: ${JSON.stringify(matchText)}: supported values: "Exact", "NotOlderThan"`)
  }
  if (versionText === '') {
    if (matchText !== '') throw badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided')
    return { kind: 'latest' }
  }
  const revision = parseRevision(versionText)
  if (revision === 0) {
    if (matchText === 'Exact') throw badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
    return { kind: 'any' }
  }
  return { kind: 'revision', revision, match: matchText === 'Exact' ? 'Exact' : 'NotOlderThan' }
}

/**
 * A resourceVersion as a store revision: decimal digits only (no sign, point, exponent or hex).
 * @throws ApiError 400 otherwise.
 */
export function parseRevision(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw badRequest(`invalid resource version: ${JSON.stringify(text)}: must be a revision number`)
  return Number(text)
}

/** The continue token that resumes a list of `revision` at `start`. */
export function encodeContinueToken(token: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: CONTINUE_TOKEN_VERSION, rv: token.revision, start: token.start })).toString('base64url')
}

/**
 * The token in a `continue` parameter.
 * @throws ApiError 400 `continue key is not valid: …` for anything this server did not issue.
 */
export function decodeContinueToken(text: string): ContinueToken {
  const invalidToken = (why: string): Error => badRequest(`continue key is not valid: ${why}`)
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(text)) throw invalidToken('not base64url')
  let decoded: unknown
  try {
    decoded = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    throw invalidToken('not a continue token')
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) throw invalidToken('not a continue token')
  const { v, rv, start } = decoded as Record<string, unknown>
  if (v !== CONTINUE_TOKEN_VERSION) throw invalidToken(`got version ${JSON.stringify(v)}, expected ${CONTINUE_TOKEN_VERSION}`)
  if (typeof rv !== 'number' || !Number.isSafeInteger(rv) || rv <= 0) throw invalidToken('incorrect encoded start resourceVersion')
  if (typeof start !== 'string' || start === '') throw invalidToken('no start key')
  return { revision: rv, start }
}
