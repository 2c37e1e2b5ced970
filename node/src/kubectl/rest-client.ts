/**
 * The REST client of the Kubernetes verbs: HTTPS with the kubeconfig's CA and credentials (or plain
 * HTTP for test servers), and failover across the nodes of the cluster.
 *
 * Why failover lives here: a Flotilla cluster has no master, every node serves the whole API, and
 * the kubeconfig lists them all (kubeconfig.ts). So when the node a command talks to is down, the
 * command goes on through the next node instead of failing. The rule for when that is safe:
 *
 * - the connection never opened (refused, unreachable, connect timeout, TLS failure): the request
 *   cannot have reached the server, so every request moves on to the next endpoint;
 * - the connection broke or timed out after the request was sent: reads (GET) move on; writes do
 *   not, because the change may already be applied, and the user is told so;
 * - a read answered 503 (the node has no leader or is shutting down) moves on too.
 *
 * The endpoint that answered last is tried first by the next request of the run, so a dead node
 * costs one connect attempt per command, not one per request. Reads reuse kept-alive connections;
 * one the server has closed meanwhile (ECONNRESET on a reused socket) is retried once on a new
 * connection to the same endpoint, as Node's documentation advises: that is a stale connection,
 * not a dead node. Writes always open a new connection, so that a reset after connecting always
 * means "may have been applied".
 *
 * Bearer tokens and basic credentials are sent over HTTPS only, as kubectl does: over plain HTTP
 * they would travel in clear text.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import type { Endpoint } from './kubeconfig.ts'
import { ConnectionError, ServerError, type StatusBody } from './errors.ts'

/** A single server gets this long to accept the connection (and finish TLS) before the next is tried. */
export const CONNECT_TIMEOUT_MS = 5_000
/** Without --request-timeout, a non-streaming request gives up after this long. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
/** Idle connections kept per server; discovery sends a burst of parallel GETs. */
const SOCKETS_PER_ENDPOINT_MAX = 8

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** One API request. */
export interface RestRequest {
  readonly method: HttpMethod
  /** The path with a leading slash and no query: `/apis/apps/v1/namespaces/default/deployments`. */
  readonly path: string
  /** Query parameters; undefined values are left out. */
  readonly query?: Readonly<Record<string, string | undefined>>
  readonly body?: string
  /** Defaults to application/json when there is a body. */
  readonly contentType?: string
  /** Defaults to application/json. */
  readonly accept?: string
}

/** A complete response. */
export interface RestResponse {
  readonly status: number
  readonly contentType: string
  readonly body: string
  /** The server that answered. */
  readonly server: string
}

/** A response whose body is still arriving (watch, `logs -f`). */
export interface RestStream {
  readonly status: number
  readonly server: string
  /** The body as it arrives, in chunks. */
  chunks(): AsyncIterable<Buffer>
  /** The body split into lines (without the newline), for NDJSON watch streams. */
  lines(): AsyncIterable<string>
  /** Stops reading and closes the connection. */
  close(): void
}

export interface RestClientOptions {
  /** In failover order; at least one. */
  readonly endpoints: readonly Endpoint[]
  /** Limit for each non-streaming request (0: none). Defaults to DEFAULT_REQUEST_TIMEOUT_MS. */
  readonly requestTimeoutMs?: number
  readonly connectTimeoutMs?: number
  /** Told when a server is skipped: `https://10.0.0.1:6443 is unreachable (connection refused)`. */
  readonly onFailover?: (message: string) => void
}

/** Why one attempt on one endpoint failed, and how far the request got. */
class AttemptError extends Error {
  override name = 'AttemptError'
  /** `connect`: never reached the server; `sent`: may have; `stale`: a kept-alive socket was closed. */
  readonly phase: 'connect' | 'sent' | 'stale'

  constructor(phase: 'connect' | 'sent' | 'stale', message: string) {
    super(message)
    this.phase = phase
  }
}

/** What one attempt produced: the response, and its whole body unless streaming. */
interface AttemptResult {
  readonly response: IncomingMessage
  readonly body: string | undefined
}

export class RestClient {
  private readonly endpoints: readonly Endpoint[]
  private readonly requestTimeoutMs: number
  private readonly connectTimeoutMs: number
  private readonly onFailover: (message: string) => void
  private readonly agents = new Map<string, HttpAgent>()
  /** Index of the endpoint that answered last; requests start there. */
  private preferred = 0
  /** Servers already reported as skipped: one warning per server and command is enough. */
  private readonly reported = new Set<string>()

  constructor(options: RestClientOptions) {
    if (options.endpoints.length === 0) throw new ConnectionError('the kubeconfig lists no server')
    this.endpoints = options.endpoints
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
    this.onFailover = options.onFailover ?? (() => {})
  }

  /** Sends a request and reads the whole response, whatever its status. */
  async request(request: RestRequest): Promise<RestResponse> {
    const { response, body, endpoint } = await this.send(request, false)
    return { status: response.statusCode ?? 0, contentType: String(response.headers['content-type'] ?? ''), body: body ?? '', server: endpoint.server }
  }

  /**
   * Sends a request and parses the JSON object it answers.
   * @throws ServerError for any non-2xx answer, ConnectionError when no server answers.
   */
  async json(request: RestRequest): Promise<JsonObject> {
    const response = await this.request(request)
    if (response.status < 200 || response.status > 299) throw serverErrorOf(response.status, response.body)
    return parseJsonObject(response)
  }

  /**
   * Opens a streaming request (watch, follow). Failover applies until the response headers arrive.
   * @throws ServerError when the server answers non-2xx (its body is read first).
   */
  async stream(request: RestRequest): Promise<RestStream> {
    const { response, endpoint } = await this.send(request, true)
    const status = response.statusCode ?? 0
    if (status < 200 || status > 299) {
      const body = await readBody(response)
      throw serverErrorOf(status, body)
    }
    return openStream(response, status, endpoint.server)
  }

  /** Closes every kept-alive connection. The client must not be used afterwards. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy()
    this.agents.clear()
  }

  /** Tries the endpoints from the preferred one on, following the failover rule of the module comment. */
  private async send(request: RestRequest, streaming: boolean): Promise<AttemptResult & { endpoint: Endpoint }> {
    const isRead = request.method === 'GET'
    const failures: string[] = []
    const count = this.endpoints.length
    for (let offset = 0; offset < count; offset += 1) {
      const index = (this.preferred + offset) % count
      const endpoint = this.endpoints[index]!
      const last = offset === count - 1
      let result: AttemptResult
      try {
        result = await this.attemptWithStaleRetry(endpoint, request, streaming)
      } catch (error) {
        if (!(error instanceof AttemptError)) throw error
        if (error.phase === 'sent' && !isRead) {
          throw new ConnectionError(`${endpoint.server}: ${error.message} after the request was sent; the ${request.method} may or may not have been applied`)
        }
        failures.push(`${endpoint.server} (${error.message})`)
        if (!last) this.reportFailover(endpoint, `${endpoint.server} is unreachable (${error.message}); trying ${this.endpoints[(index + 1) % count]!.server}`)
        continue
      }
      if (result.response.statusCode === 503 && isRead && !last) {
        result.response.resume()
        failures.push(`${endpoint.server} (503 Service Unavailable)`)
        this.reportFailover(endpoint, `${endpoint.server} cannot serve now (503); trying ${this.endpoints[(index + 1) % count]!.server}`)
        continue
      }
      this.preferred = index
      return { ...result, endpoint }
    }
    throw new ConnectionError(failures.length === 1 ? failures[0]!.replace(/ \((.*)\)$/, ': $1') : `no server of the cluster answered: ${failures.join(', ')}`)
  }

  private reportFailover(endpoint: Endpoint, message: string): void {
    if (this.reported.has(endpoint.server)) return
    this.reported.add(endpoint.server)
    this.onFailover(message)
  }

  private async attemptWithStaleRetry(endpoint: Endpoint, request: RestRequest, streaming: boolean): Promise<AttemptResult> {
    // Writes always go on a new connection: on a kept-alive one a reset could mean "the server
    // had closed it" or "the server took the write and died", and only the first is safe to retry.
    try {
      return await this.attempt(endpoint, request, streaming, request.method !== 'GET')
    } catch (error) {
      // The retry opens a new connection: the pool may hold more sockets the server has closed.
      if (error instanceof AttemptError && error.phase === 'stale') return this.attempt(endpoint, request, streaming, true)
      throw error
    }
  }

  /** One request to one endpoint (on a new connection when `fresh`), with the connect and request deadlines. */
  private attempt(endpoint: Endpoint, request: RestRequest, streaming: boolean, fresh: boolean): Promise<AttemptResult> {
    return new Promise<AttemptResult>((resolve, reject) => {
      const url = requestUrl(endpoint, request)
      const secure = url.protocol === 'https:'
      const connection: RequestOptions = fresh ? { ...tlsOptionsOf(endpoint), agent: false } : { agent: this.agentFor(endpoint) }
      const options: RequestOptions = { method: request.method, headers: headersFor(endpoint, request, secure), ...connection }
      const outgoing: ClientRequest = (secure ? httpsRequest : httpRequest)(url, options)
      let connected = false
      let settled = false
      const timers: NodeJS.Timeout[] = []
      const finish = (outcome: { result: AttemptResult } | { error: AttemptError }): void => {
        if (settled) return
        settled = true
        for (const timer of timers) clearTimeout(timer)
        if ('error' in outcome) {
          outgoing.destroy()
          reject(outcome.error)
        } else {
          resolve(outcome.result)
        }
      }
      timers.push(setTimeout(() => finish({ error: new AttemptError('connect', `no connection within ${this.connectTimeoutMs} ms`) }), this.connectTimeoutMs))
      if (this.requestTimeoutMs > 0) {
        timers.push(setTimeout(() => finish({ error: new AttemptError(connected ? 'sent' : 'connect', `no answer within ${this.requestTimeoutMs} ms`) }), this.requestTimeoutMs))
      }
      outgoing.on('socket', (socket: Socket) => {
        const onConnected = (): void => {
          connected = true
          clearTimeout(timers[0])
        }
        if (outgoing.reusedSocket || !socket.connecting) onConnected()
        else socket.once(secure ? 'secureConnect' : 'connect', onConnected)
      })
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        if (connected && outgoing.reusedSocket && error.code === 'ECONNRESET') finish({ error: new AttemptError('stale', 'kept-alive connection closed') })
        else finish({ error: new AttemptError(connected ? 'sent' : 'connect', describeSocketError(error)) })
      })
      outgoing.on('response', (response: IncomingMessage) => {
        if (streaming) {
          finish({ result: { response, body: undefined } })
          return
        }
        readBody(response).then(
          (body) => finish({ result: { response, body } }),
          (error: Error) => finish({ error: new AttemptError('sent', `the response broke off: ${error.message}`) }),
        )
      })
      outgoing.end(request.body)
    })
  }

  private agentFor(endpoint: Endpoint): HttpAgent {
    let agent = this.agents.get(endpoint.server)
    if (agent === undefined) {
      const common = { keepAlive: true, maxSockets: SOCKETS_PER_ENDPOINT_MAX }
      agent = endpoint.server.startsWith('https:') ? new HttpsAgent({ ...common, ...tlsOptionsOf(endpoint) }) : new HttpAgent(common)
      this.agents.set(endpoint.server, agent)
    }
    return agent
  }
}

/** The TLS settings of an endpoint: the kubeconfig CA, client certificate and server name. */
function tlsOptionsOf(endpoint: Endpoint): Record<string, unknown> {
  if (!endpoint.server.startsWith('https:')) return {}
  return {
    ...(endpoint.certificateAuthority !== undefined ? { ca: endpoint.certificateAuthority } : {}),
    ...(endpoint.user.clientCertificate !== undefined ? { cert: endpoint.user.clientCertificate } : {}),
    ...(endpoint.user.clientKey !== undefined ? { key: endpoint.user.clientKey } : {}),
    ...(endpoint.tlsServerName !== undefined ? { servername: endpoint.tlsServerName } : {}),
    rejectUnauthorized: !endpoint.insecureSkipTlsVerify,
  }
}

/** `https://server/path?query` for a request. */
function requestUrl(endpoint: Endpoint, request: RestRequest): URL {
  const url = new URL(endpoint.server + request.path)
  for (const [key, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, value)
  }
  return url
}

function headersFor(endpoint: Endpoint, request: RestRequest, secure: boolean): Record<string, string> {
  const headers: Record<string, string> = { accept: request.accept ?? 'application/json', 'user-agent': 'flotilla/v0.1.0' }
  if (request.body !== undefined) {
    headers['content-type'] = request.contentType ?? 'application/json'
    headers['content-length'] = String(Buffer.byteLength(request.body))
  }
  if (secure && endpoint.user.token !== undefined) headers['authorization'] = `Bearer ${endpoint.user.token}`
  else if (secure && endpoint.user.username !== undefined) headers['authorization'] = `Basic ${Buffer.from(`${endpoint.user.username}:${endpoint.user.password ?? ''}`).toString('base64')}`
  return headers
}

/** Short, readable names for socket failures (the codes Node reports). */
function describeSocketError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'ETIMEDOUT':
      return 'connection timed out'
    case 'EHOSTUNREACH':
      return 'no route to host'
    case 'ENETUNREACH':
      return 'network is unreachable'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `no such host (${error.message.split(' ').pop() ?? ''})`
    case 'ECONNRESET':
      return 'connection reset by peer'
    case 'EPIPE':
      return 'broken pipe'
    default:
      // TLS verification failures carry OpenSSL-style codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, …).
      return error.code !== undefined && /CERT|SIGNATURE|SELF_SIGNED|ALTNAME|ISSUER/.test(error.code) ? `x509: ${error.message}` : error.message
  }
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    response.on('data', (chunk: Buffer) => chunks.push(chunk))
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    response.on('error', reject)
    response.on('aborted', () => reject(new Error('the connection closed before the response ended')))
  })
}

function openStream(response: IncomingMessage, status: number, server: string): RestStream {
  async function* chunks(): AsyncIterable<Buffer> {
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) yield chunk
    } catch (error) {
      // A stream that breaks off (the node died, the user stopped) simply ends; callers that need
      // more (watch) reconnect from the last resourceVersion they saw.
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET' && (error as Error).message !== 'aborted') throw error
    }
  }
  async function* lines(): AsyncIterable<string> {
    const decoder = new TextDecoder()
    let pending = ''
    for await (const chunk of chunks()) {
      pending += decoder.decode(chunk, { stream: true })
      let newline = pending.indexOf('\n')
      while (newline !== -1) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        if (line.trim() !== '') yield line
        newline = pending.indexOf('\n')
      }
    }
    pending += decoder.decode()
    if (pending.trim() !== '') yield pending
  }
  return { status, server, chunks, lines, close: () => response.destroy() }
}

/** The ServerError for a non-2xx answer: its Status when the body is one, else a synthesized one. */
export function serverErrorOf(code: number, body: string): ServerError {
  try {
    const parsed = JSON.parse(body) as unknown
    if (isJsonObject(parsed) && parsed['kind'] === 'Status') return new ServerError(code, parsed as StatusBody)
  } catch {
    // Not JSON: fall through to a Status built from the code and text, as client-go does.
  }
  const text = body.trim()
  if (code === 404) return new ServerError(code, { reason: 'NotFound', message: 'the server could not find the requested resource', code })
  return new ServerError(code, { message: text === '' ? `the server answered ${code}` : `${text.slice(0, 500)} (${code})`, code })
}

function parseJsonObject(response: RestResponse): JsonObject {
  try {
    const parsed = JSON.parse(response.body) as unknown
    if (isJsonObject(parsed)) return parsed
  } catch {
    // Reported below with the server's name.
  }
  throw new ConnectionError(`${response.server} answered ${response.status} with a body that is not a JSON object`)
}
