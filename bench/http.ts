/**
 * A minimal HTTP/1.1 client for the benchmark: node:http (or node:https when the agent carries a
 * CA), keep-alive, loopback only.
 *
 * One Agent per cluster member keeps one socket per in-flight request and reuses it, so a run with
 * 64 requests in flight settles on 64 connections (no per-request connection setup). Every request
 * has a total deadline; on expiry its socket is destroyed, so a request parked on a leaderless
 * member never blocks the caller beyond the deadline. Long-lived streaming responses (watches)
 * go through openLineStream instead, which has a deadline for the response headers only.
 */
import http from 'node:http'
import https from 'node:https'
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

export interface KeepAliveAgentOptions {
  /**
   * PEM of the CA that signed the server's certificate: requests through this agent then use
   * HTTPS (node:https) and verify the server against this CA only.
   */
  readonly tlsCaPem?: string
  /** Sockets per member; default 512, above the highest request concurrency the benchmarks use. */
  readonly maxSockets?: number
}

/**
 * A keep-alive agent that opens one socket per in-flight request and keeps them for reuse; an
 * https.Agent when `tlsCaPem` is given (httpRequest and openLineStream pick the protocol from it).
 */
export function createKeepAliveAgent(options: KeepAliveAgentOptions = {}): http.Agent {
  const maxSockets = options.maxSockets ?? MAX_SOCKETS_PER_AGENT
  const settings: http.AgentOptions = {
    keepAlive: true,
    maxSockets,
    maxFreeSockets: maxSockets,
    scheduling: 'lifo',
    // Node's agent only honours a server's `Keep-Alive: timeout=N` hint (dropping an idle socket
    // about 1 s before the server closes it) when the agent has a timeout of its own; without one,
    // a socket idle for longer than the server's keep-alive (5 s for node:http servers) can be
    // reused just as the server closes it, and the request fails with ECONNRESET.
    timeout: IDLE_SOCKET_TIMEOUT_MS,
  }
  return options.tlsCaPem === undefined ? new http.Agent(settings) : new https.Agent({ ...settings, ca: options.tlsCaPem })
}

export interface HttpRequestOptions {
  readonly agent: http.Agent
  readonly port: number
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Path and query, already percent-encoded. */
  readonly path: string
  readonly body?: Uint8Array | string
  readonly contentType?: string
  /** Extra request headers (for example `authorization`). */
  readonly headers?: Readonly<Record<string, string>>
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
  return new Promise((resolve, reject) => {
    const request = startRequest(options, (response) => {
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
    })
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

/** Sends the request line, headers and body over http or https, whichever the agent speaks. */
function startRequest(options: HttpRequestOptions, onResponse: (response: http.IncomingMessage) => void): http.ClientRequest {
  const headers: Record<string, string | number> = { ...options.headers }
  if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/octet-stream'
    headers['content-length'] = Buffer.byteLength(options.body)
  }
  const transport = options.agent instanceof https.Agent ? https : http
  return transport.request(
    { agent: options.agent, host: LOOPBACK_HOST, port: options.port, method: options.method, path: options.path, headers },
    onResponse,
  )
}

export interface LineStreamOptions extends HttpRequestOptions {
  /**
   * Called once per complete line of the response body (without the newline), in order. All the
   * lines of one received chunk share `receivedMs` (performance.now() when the chunk arrived).
   */
  readonly onLine: (line: string, receivedMs: number) => void
  /** Called once when the stream ends after it was opened: by the server, an error, or close(). */
  readonly onEnd?: (error: Error | undefined) => void
}

/** An open streaming response; close() destroys its socket. */
export interface LineStream {
  close(): void
}

/** The server ended a streaming response that the caller had not closed. */
export class StreamEndedError extends FlotillaError {
  override name = 'StreamEndedError'
}

/**
 * Sends a request whose response is a stream of newline-delimited messages (a Kubernetes watch,
 * an etcd gateway watch) and resolves once the response headers arrive with status 200. Rejects
 * with HttpStatusError on another status and RequestTimeoutError when no headers arrive within
 * `timeoutMs`; after that the stream has no deadline.
 */
export function openLineStream(options: LineStreamOptions): Promise<LineStream> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    let opened = false
    let closed = false
    let ended = false
    const end = (error: Error | undefined): void => {
      if (ended) return
      ended = true
      if (opened) options.onEnd?.(error)
    }
    const request = startRequest(options, (response) => {
      clearTimeout(timer)
      if (response.statusCode !== 200) {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const body = Buffer.concat(chunks)
          reject(new HttpStatusError(`${options.method} ${options.path}: ${response.statusCode} ${snippet(body)}`, response.statusCode ?? 0))
        })
        return
      }
      opened = true
      let partial = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        const receivedMs = performance.now()
        const lines = (partial + chunk).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) if (line !== '') options.onLine(line, receivedMs)
      })
      response.on('end', () => end(closed ? undefined : new StreamEndedError(`${options.method} ${options.path}: the server ended the stream`)))
      response.on('error', (error) => end(closed ? undefined : error))
      // A connection reset ends the response with 'close' but not always with 'end' or 'error'.
      response.on('close', () => end(closed ? undefined : new StreamEndedError(`${options.method} ${options.path}: the connection closed`)))
      resolve({
        close: () => {
          closed = true
          request.destroy()
          end(undefined)
        },
      })
    })
    const timer = setTimeout(() => {
      request.destroy(new RequestTimeoutError(`${options.method} ${options.path} on port ${options.port}: no response headers within ${timeoutMs} ms`))
    }, timeoutMs)
    request.on('error', (error) => {
      clearTimeout(timer)
      if (opened) end(closed ? undefined : error)
      else reject(error)
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
