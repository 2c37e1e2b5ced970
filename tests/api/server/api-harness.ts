// An ApiHandler over a MemoryObjectBackend, served by node:http on 127.0.0.1:0, with the small
// HTTP client the API handler tests drive it with: plain requests, watch streams read line by
// line, and snapshots of the whole store to prove that failed requests changed nothing.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { waitFor } from '../../../lib/poll.ts'
import { ApiHandler } from '../../../node/src/api/server/api-handler.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../../node/src/api/server/object-store.ts'
import type { WatchEventEncoder } from '../../../node/src/api/server/watch-encoding.ts'

export interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: any
}

export interface RequestOptions {
  readonly body?: unknown
  readonly contentType?: string
  readonly headers?: Record<string, string>
}

/** A watch stream being read: its events so far, and whether the server ended it. */
export interface WatchReader {
  readonly status: number
  readonly events: Array<{ type: string; object: any }>
  ended: boolean
  /** Waits until `predicate` holds for the events (or the deadline passes). */
  until<T>(what: string, predicate: (events: WatchReader['events']) => T | undefined, timeoutMs?: number): Promise<T>
  close(): void
}

export class ApiHarness {
  readonly backend = new MemoryObjectBackend()
  readonly objects = new ObjectStore(this.backend)
  readonly api: ApiHandler
  readonly logged: string[] = []
  private server: Server | undefined
  private listeningPort = 0
  private readonly openRequests = new Set<{ destroy(): void }>()

  constructor(options: { watchBookmarkIntervalMs?: number; watchEventEncoder?: WatchEventEncoder } = {}) {
    this.api = new ApiHandler({
      objects: this.objects,
      serverAddress: '127.0.0.1:1',
      log: (line) => this.logged.push(line),
      ...(options.watchBookmarkIntervalMs !== undefined ? { watchBookmarkIntervalMs: options.watchBookmarkIntervalMs } : {}),
      ...(options.watchEventEncoder !== undefined ? { watchEventEncoder: options.watchEventEncoder } : {}),
    })
  }

  async start(): Promise<this> {
    await this.api.ensureSystemNamespaces()
    this.server = createServer((request, response) => void this.api.handle(request, response))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.listeningPort = (this.server.address() as AddressInfo).port
    return this
  }

  async stop(): Promise<void> {
    for (const open of this.openRequests) open.destroy()
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())))
  }

  /** The port the server listens on (127.0.0.1). */
  port(): number {
    return this.listeningPort
  }

  /** Every key of the store with its revision and value, and the store revision: equal means unchanged. */
  snapshot(): string {
    const { items, revision } = this.backend.store.range({ prefix: '' })
    return JSON.stringify({ revision, items: items.map((item) => [item.key, item.modRevision, Buffer.from(item.value).toString('utf8')]) })
  }

  /** The store revision now. */
  revision(): number {
    return this.backend.store.range({ prefix: '' }).revision
  }

  request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const body = options.body === undefined ? undefined : typeof options.body === 'string' || Buffer.isBuffer(options.body) ? options.body : JSON.stringify(options.body)
    const headers: Record<string, string> = { ...(options.headers ?? {}) }
    if (body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json'
      headers['content-length'] = String(Buffer.byteLength(body))
    } else if (options.contentType !== undefined) headers['content-type'] = options.contentType
    return new Promise<Reply>((resolve, reject) => {
      const outgoing = httpRequest({ host: '127.0.0.1', port: this.listeningPort, method, path, headers }, (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: parseJson(text) }))
      })
      outgoing.on('error', reject)
      outgoing.end(body)
    })
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.request('GET', path, { headers })
  }

  post(path: string, body: unknown, contentType?: string): Promise<Reply> {
    return this.request('POST', path, { body, ...(contentType !== undefined ? { contentType } : {}) })
  }

  put(path: string, body: unknown, contentType?: string): Promise<Reply> {
    return this.request('PUT', path, { body, ...(contentType !== undefined ? { contentType } : {}) })
  }

  patch(path: string, body: unknown, contentType = 'application/merge-patch+json'): Promise<Reply> {
    return this.request('PATCH', path, { body, contentType })
  }

  delete(path: string, body?: unknown, contentType?: string): Promise<Reply> {
    return this.request('DELETE', path, { ...(body !== undefined ? { body } : {}), ...(contentType !== undefined ? { contentType } : {}) })
  }

  /**
   * Sends a request with raw control over the body: `declaredBytes` as Content-Length (nothing
   * sent), or `chunks` streamed with chunked transfer encoding. Resolves with the reply; write
   * errors after the server answered (it closes the connection) are ignored.
   */
  rawRequest(method: string, path: string, body: { declaredBytes: number } | { chunks: Buffer[] }, contentType = 'application/json'): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      let answered = false
      const headers: Record<string, string> = { 'content-type': contentType }
      if ('declaredBytes' in body) headers['content-length'] = String(body.declaredBytes)
      const outgoing = httpRequest({ host: '127.0.0.1', port: this.listeningPort, method, path, headers }, (response) => {
        answered = true
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: parseJson(text) }))
        response.on('error', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: parseJson(text) }))
      })
      outgoing.on('error', (error) => {
        if (!answered) reject(error)
      })
      if ('chunks' in body) {
        const pending = [...body.chunks]
        const pump = (): void => {
          while (pending.length > 0 && !answered) {
            if (!outgoing.write(pending.shift()!)) {
              outgoing.once('drain', pump)
              return
            }
          }
          if (!answered) outgoing.end()
        }
        pump()
      } else {
        outgoing.flushHeaders()
      }
    })
  }

  /** Opens a watch and reads its events as they arrive. */
  watch(path: string, headers: Record<string, string> = {}): Promise<WatchReader> {
    return new Promise<WatchReader>((resolve, reject) => {
      const outgoing = httpRequest({ host: '127.0.0.1', port: this.listeningPort, method: 'GET', path, headers }, (response) => {
        let buffer = ''
        const reader: WatchReader = {
          status: response.statusCode ?? 0,
          events: [],
          ended: false,
          until: (what, predicate, timeoutMs = 5000) => waitFor(what, timeoutMs, () => predicate(reader.events)),
          close: () => {
            this.openRequests.delete(outgoing)
            outgoing.destroy()
          },
        }
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          buffer += chunk
          for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
            const line = buffer.slice(0, newline)
            buffer = buffer.slice(newline + 1)
            if (line.trim() !== '') reader.events.push(JSON.parse(line))
          }
          if (reader.status !== 200 && buffer !== '') reader.events.push({ type: 'HTTP', object: parseJson(buffer) })
        })
        response.on('end', () => {
          reader.ended = true
          if (reader.status !== 200 && buffer !== '') reader.events.push({ type: 'HTTP', object: parseJson(buffer) })
        })
        response.on('error', () => (reader.ended = true))
        resolve(reader)
      })
      this.openRequests.add(outgoing)
      outgoing.on('error', (error) => {
        if (!outgoing.destroyed) reject(error)
      })
      outgoing.end()
    })
  }
}

function parseJson(text: string): any {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A ConfigMap body. */
export function configMap(name: string, extra: { labels?: Record<string, string>; ownerReferences?: unknown[]; finalizers?: string[]; namespace?: string; data?: Record<string, string> } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      ...(extra.namespace !== undefined ? { namespace: extra.namespace } : {}),
      ...(extra.labels !== undefined ? { labels: extra.labels } : {}),
      ...(extra.ownerReferences !== undefined ? { ownerReferences: extra.ownerReferences } : {}),
      ...(extra.finalizers !== undefined ? { finalizers: extra.finalizers } : {}),
    },
    data: extra.data ?? { key: 'value' },
  }
}

/** An ownerReference to an object as the API returned it. */
export function ownerReference(owner: any, blockOwnerDeletion = false): Record<string, unknown> {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, ...(blockOwnerDeletion ? { blockOwnerDeletion: true } : {}) }
}

/** A Deployment body with one container. */
export function deployment(name: string, replicas = 1): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } },
    },
  }
}
