/**
 * One raw HTTP(S) request with a deadline, for tests that send what no well-behaved client would:
 * unknown methods, invalid UTF-8, truncated JSON, bodies over the size limit. Unlike fetch it never
 * rewrites the path (`..` reaches the server as sent), never refuses a body on any method, and
 * reports a server that answers too slowly, or starts an endless stream, as an outcome instead of
 * hanging the test.
 */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'

/** Where requests go: `http://127.0.0.1:port` in-process, `https://…` with the cluster CA for daemons. */
export interface RawTarget {
  readonly origin: string
  /** PEM of the CA that signed the server certificate (HTTPS only). */
  readonly ca?: string
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string
}

/** A request exactly as it goes on the wire; `path` includes the query string. */
export interface RawRequest {
  readonly method: string
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Uint8Array
}

/**
 * What came back. `complete` is false when the response started but its body did not end before
 * the deadline (a watch that streams instead of failing) or the connection broke mid-body.
 */
export type RawOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: Buffer; readonly complete: boolean }
  | { readonly kind: 'no-response'; readonly error: string }

/**
 * Sends `request` on a fresh connection (no keep-alive: a hostile request must not poison the
 * next one) and resolves by `timeoutMs` at the latest; never rejects.
 */
export function sendRaw(target: RawTarget, request: RawRequest, timeoutMs: number): Promise<RawOutcome> {
  const url = new URL(target.origin)
  const headers: OutgoingHttpHeaders = { ...request.headers }
  if (target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`
  if (request.body !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
    headers['content-length'] = Buffer.byteLength(request.body)
  }
  const options = {
    host: url.hostname,
    port: Number(url.port),
    method: request.method,
    path: request.path,
    headers,
    agent: false as const,
    ...(url.protocol === 'https:' ? { ca: target.ca } : {}),
  }
  return new Promise((resolve) => {
    let settled = false
    let status = 0
    let responseHeaders: IncomingHttpHeaders = {}
    let started = false
    const chunks: Buffer[] = []
    const settle = (outcome: RawOutcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      outgoing.destroy()
      resolve(outcome)
    }
    const partial = (): RawOutcome => ({ kind: 'response', status, headers: responseHeaders, body: Buffer.concat(chunks), complete: false })
    const timer = setTimeout(() => settle(started ? partial() : { kind: 'no-response', error: `no response within ${timeoutMs} ms` }), timeoutMs)
    const outgoing = (url.protocol === 'https:' ? httpsRequest : httpRequest)(options, (response) => {
      started = true
      status = response.statusCode ?? 0
      responseHeaders = response.headers
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => settle({ kind: 'response', status, headers: responseHeaders, body: Buffer.concat(chunks), complete: true }))
      response.on('error', () => settle(partial()))
      response.on('close', () => settle(partial()))
    })
    // A server that answers early (413 before the body is read) may reset the connection while
    // the body is still going out; the answer, if it arrived, is what counts.
    outgoing.on('error', (error: Error) => settle(started ? partial() : { kind: 'no-response', error: error.message }))
    if (request.body !== undefined) outgoing.end(request.body)
    else outgoing.end()
  })
}

/** A one-line account of an outcome for failure messages: status and the start of the body. */
export function describeOutcome(outcome: RawOutcome, bodyCharsMax = 300): string {
  if (outcome.kind === 'no-response') return `no response (${outcome.error})`
  const text = outcome.body.toString('utf8')
  const shown = text.length > bodyCharsMax ? `${text.slice(0, bodyCharsMax)}...` : text
  return `HTTP ${outcome.status}${outcome.complete ? '' : ' (body did not end)'}: ${printable(shown)}`
}

/**
 * `text` with everything outside printable ASCII as \uXXXX escapes. Test names and diagnostics
 * travel as TAP lines, and a stray U+2028 or control character from generated input would split
 * or corrupt them.
 */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
