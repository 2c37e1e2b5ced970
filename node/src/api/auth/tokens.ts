/**
 * Bearer tokens for the Kubernetes API. Only a SHA-256 digest of each token is stored (in the
 * replicated store, so every node accepts every token); the token itself exists only in the
 * kubeconfig it was minted for.
 */
import { createHash, randomBytes } from 'node:crypto'

export const TOKENS_PREFIX = '/registry/flotilla/tokens/'

/** A fresh token: 32 random bytes, URL-safe, with a recognisable prefix for secret scanners. */
export function newBearerToken(): string {
  return `flt_${randomBytes(32).toString('base64url')}`
}

/** Where a token's record lives: keyed by its digest, never by the token. */
export function tokenKey(token: string): string {
  return TOKENS_PREFIX + createHash('sha256').update(token).digest('hex')
}

/** The token of an `Authorization: Bearer …` header, if it is one. */
export function bearerTokenOf(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  return match?.[1]
}
