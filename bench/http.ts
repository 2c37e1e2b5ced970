/**
 * A minimal HTTP/1.1 client for the benchmark: plain node:http, keep-alive, loopback only.
 *
 * One Agent per cluster member keeps one socket per in-flight request and reuses it, so a run with
 * 64 requests in flight settles on 64 connections (no per-request connection setup). Every request
 * has a total deadline; on expiry its socket is destroyed, so a request parked on a leaderless
 * member never blocks the caller beyond the deadline.
 */
import http from 'node:http'
import { FlotillaError, TimeoutError } from '../lib/errors.ts'

/** Every benchmark request goes to this address; the benchmark never talks to another host. */
export const LOOPBACK_HOST = '127.0.0.1'

/** Default deadline for one request when the caller does not give one. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

/** Idle keep-alive sockets are dropped after this long, or sooner when the server's hint says so. */
const IDLE_SOCKET_TIMEOUT_MS = 30_000

/** Upper bound on sockets per member; above the highest concurrency the benchmark uses (256). */
const MAX_SOCKETS_PER_AGENT = 512

/** The server answered, but with a status the caller did not expect. */
export class HttpStatusError extends FlotillaError {
  override name = 'HttpStatusError'
  readonly status: number

  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, options)
    this.status = status
  }
}

/** A request did not complete before its deadline. */
export class RequestTimeoutError extends TimeoutError {
  override name = 'RequestTimeoutError'
}

/** A keep-alive agent that opens one socket per in-flight request and keeps them for reuse. */
export function createKeepAliveAgent(): http.Agent {
  return new http.Agent({
    keepAlive: true,
    maxSockets: MAX_SOCKETS_PER_AGENT,
    maxFreeSockets: MAX_SOCKETS_PER_AGENT,
    scheduling: 'lifo',
    // Node's agent only honours a server's `Keep-Alive: timeout=N` hint (dropping an idle socket
    // about 1 s before the server closes it) when the agent has a timeout of its own; without one,
    // a socket idle for longer than the server's keep-alive (5 s for node:http servers) can be
    // reused just as the server closes it, and the request fails with ECONNRESET.
    timeout: IDLE_SOCKET_TIMEOUT_MS,
  })
}

export interface HttpRequestOptions {
  readonly agent: http.Agent
  readonly port: number
  readonly method: 'GET' | 'POST' | 'PUT'
  /** Path and query, already percent-encoded. */
  readonly path: string
  readonly body?: Uint8Array | string
  readonly contentType?: string
  readonly timeoutMs?: number
}

export interface HttpResponse {
  readonly status: number
  readonly body: Buffer
}

/**
 * Sends one request to 127.0.0.1:`port` and resolves with the status and the whole body. Rejects
 * with RequestTimeoutError after `timeoutMs` (total, not idle) and with the socket error otherwise.
 */
export function httpRequest(options: HttpRequestOptions): Promise<HttpResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const headers: Record<string, string | number> = {}
  if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/octet-stream'
    headers['content-length'] = Buffer.byteLength(options.body)
  }
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        agent: options.agent,
        host: LOOPBACK_HOST,
        port: options.port,
        method: options.method,
        path: options.path,
        headers,
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          clearTimeout(timer)
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) })
        })
        response.on('error', (error) => {
          clearTimeout(timer)
          reject(error)
        })
      },
    )
    const timer = setTimeout(() => {
      request.destroy(
        new RequestTimeoutError(`${options.method} ${options.path} on port ${options.port} took over ${timeoutMs} ms`),
      )
    }, timeoutMs)
    request.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    request.end(options.body)
  })
}

/** Parses a JSON response body, naming the request in the error when it is not JSON. */
export function parseJsonBody(response: HttpResponse, what: string): unknown {
  try {
    return JSON.parse(response.body.toString('utf8'))
  } catch (error) {
    throw new HttpStatusError(`${what}: response is not JSON: ${snippet(response.body)}`, response.status, {
      cause: error,
    })
  }
}

/** The first bytes of a body, for error messages. */
export function snippet(body: Buffer, maxChars = 200): string {
  const text = body.toString('utf8')
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text
}
