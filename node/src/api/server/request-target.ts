/**
 * The request target (`request.url`: path and query) as the router sees it, checked before
 * anything is routed.
 *
 * WHATWG `new URL()` resolves dot segments: `/api/v1/namespaces/fuzz/configmaps/..` (or `%2E%2E`,
 * or `x\..\..`, since it reads a backslash as a slash) would become the namespace itself, and a
 * DELETE there would delete the namespace. So the raw path is checked segment by segment first, as
 * kube-apiserver checks path segment names (apimachinery `IsValidPathSegmentName`): a segment that
 * decodes to `.` or `..`, or that holds `/` or `%` once decoded, is a 400 BadRequest, and so is
 * malformed percent-encoding. Only a path that passes is given to `URL`, which then has nothing to
 * rewrite.
 */
import { badRequest } from '../machinery/status.ts'

/** A request target that passed the checks. */
export interface RequestTarget {
  /** The path as sent (still percent-encoded), without trailing slashes; `/` for the root. */
  readonly path: string
  /** The whole target for query parameters (`url.searchParams`); its path equals `path`. */
  readonly url: URL
}

/**
 * The request target of `rawUrl` (`request.url`).
 * @throws ApiError 400 for a dot segment, a segment holding `/` or `%` once decoded, or malformed
 *   percent-encoding.
 */
export function parseRequestTarget(rawUrl: string): RequestTarget {
  const queryAt = rawUrl.indexOf('?')
  const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt)
  const query = queryAt < 0 ? '' : rawUrl.slice(queryAt)
  for (const segment of rawPath.split('/')) checkPathSegment(segment)
  const path = rawPath.replace(/\/+$/, '') || '/'
  // A backslash is an ordinary character here (it makes an invalid name, answered later), but URL
  // would read it as a separator; encoded, it stays one character of one segment.
  const url = new URL(`${rawPath.replaceAll('\\', '%5C')}${query}`, 'http://api')
  return { path, url }
}

function checkPathSegment(segment: string): void {
  let decoded: string
  try {
    decoded = decodeURIComponent(segment)
  } catch {
    throw badRequest(`invalid path segment ${JSON.stringify(segment)}: malformed percent-encoding`)
  }
  const problem = pathSegmentProblem(decoded)
  if (problem !== undefined) throw badRequest(`invalid path segment ${JSON.stringify(decoded)}: ${problem}`)
}

/** Why a decoded path segment can name nothing (apimachinery `IsValidPathSegmentName`); undefined when it can. */
export function pathSegmentProblem(decoded: string): string | undefined {
  if (decoded === '.') return "may not be '.'"
  if (decoded === '..') return "may not be '..'"
  if (decoded.includes('/')) return "may not contain '/'"
  if (decoded.includes('%')) return "may not contain '%'"
  return undefined
}
