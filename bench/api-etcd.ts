/**
 * The API benchmark's peer: a three-member etcd 3.4 (bench/etcd-cluster.ts) doing the store
 * operations that sit under each Kubernetes verb, through its gRPC-gateway JSON API over plain
 * HTTP with keep-alive connections. Keys follow the layout of Kubernetes on etcd,
 * `/registry/configmaps/<collection>/<name>`, and each value is the ConfigMap's JSON text.
 * - create  txn: compare mod_revision = 0, put                 (bench/store-targets.ts EtcdTarget)
 * - get     range on the key, linearizable                     (EtcdTarget)
 * - list    range over the collection's prefix, linearizable   `POST /v3/kv/range` with range_end
 * - update  txn: compare mod_revision = expected, put          (EtcdTarget)
 * - watch   `POST /v3/watch` {create_request: {key, range_end, start_revision}}: the gateway
 *           streams one JSON message per line, the first `created`, then events.
 * None of this does what the Kubernetes API path does on top of the store (TLS, authentication,
 * JSON decoding of the request, admission, canonicalisation, encoding the object back).
 */
import type http from 'node:http'
import { EtcdCluster } from './etcd-cluster.ts'
import { createKeepAliveAgent, httpRequest, HttpStatusError, openLineStream, parseJsonBody, snippet, type HttpResponse, type LineStream } from './http.ts'
import { describeError } from './load.ts'
import { EtcdTarget, RequestFailedError } from './store-targets.ts'
import { apiObject, once, UnexpectedApiResponseError, WATCH_SOCKETS_MAX, type ApiTarget, type ListRead, type UpdateResult, type WatchOptions } from './api-targets.ts'

const MEMBER_COUNT = 3

export class EtcdApiTarget implements ApiTarget {
  readonly system = 'etcd'
  readonly version: string
  readonly notes: readonly string[]
  readonly memberCount: number
  /** From spawning the first member to an agreed leader. */
  readonly formationMs: number
  private readonly cluster: EtcdCluster
  private readonly store: EtcdTarget
  /** One agent per member for watches, apart from the request agents (as on the Flotilla side). */
  private readonly watchAgents: readonly http.Agent[]

  private constructor(cluster: EtcdCluster, formationMs: number) {
    this.cluster = cluster
    this.store = new EtcdTarget(cluster)
    this.formationMs = formationMs
    this.version = `etcd ${cluster.version}`
    this.notes = [...cluster.notes, 'gRPC-gateway JSON over plain HTTP, no authentication']
    this.memberCount = cluster.memberCount
    this.watchAgents = Array.from({ length: cluster.memberCount }, () => createKeepAliveAgent({ maxSockets: WATCH_SOCKETS_MAX }))
  }

  static async start(): Promise<EtcdApiTarget> {
    const startMs = performance.now()
    const cluster = await EtcdCluster.start({ memberCount: MEMBER_COUNT })
    return new EtcdApiTarget(cluster, performance.now() - startMs)
  }

  memberPids(): number[] {
    return this.cluster.memberPids()
  }

  async waitReady(deadlineMs: number): Promise<void> {
    await this.cluster.waitForLeader(deadlineMs)
  }

  /** Prefixes need no preparation. */
  async prepareCollection(): Promise<void> {}

  async create(member: number, collection: string, name: string): Promise<number> {
    const result = await this.store.putIfModRevision(member, objectKey(collection, name), objectValue(name, 0), 0)
    if (!result.ok) throw new UnexpectedApiResponseError(`etcd create ${collection}/${name}: the key already exists`)
    return result.modRevision
  }

  async get(member: number, collection: string, name: string): Promise<number> {
    const found = await this.store.get(member, objectKey(collection, name))
    if (found === undefined) throw new UnexpectedApiResponseError(`etcd get ${collection}/${name}: no such key`)
    return found.modRevision
  }

  async list(member: number, collection: string): Promise<ListRead> {
    const prefix = collectionPrefix(collection)
    const body = JSON.stringify({ key: base64(prefix), range_end: base64(prefixEnd(prefix)) })
    const response = await this.post(member, '/v3/kv/range', body)
    const parsed = parseJsonBody(response, 'etcd range prefix') as { header?: { revision?: unknown }; kvs?: unknown[] }
    const revision = Number(parsed.header?.revision)
    if (!Number.isSafeInteger(revision)) throw new UnexpectedApiResponseError(`etcd range prefix: ${snippet(response.body)}`)
    // The gateway leaves out empty repeated fields: no `kvs` means an empty range.
    return { count: parsed.kvs?.length ?? 0, revision }
  }

  async update(member: number, collection: string, name: string, expectedRevision: number, counter: number): Promise<UpdateResult> {
    const result = await this.store.putIfModRevision(member, objectKey(collection, name), objectValue(name, counter), expectedRevision)
    return result.ok ? { ok: true, revision: result.modRevision } : { ok: false }
  }

  watch(options: WatchOptions): Promise<LineStream> {
    const prefix = collectionPrefix(options.collection)
    const { port } = this.cluster.endpoint(options.member)
    const agent = this.watchAgents[options.member]
    if (agent === undefined) throw new RangeError(`no etcd member ${options.member}`)
    const onEnd = once(options.onEnd)
    const body = JSON.stringify({
      create_request: { key: base64(prefix), range_end: base64(prefixEnd(prefix)), start_revision: String(options.afterRevision + 1) },
    })
    return openLineStream({
      agent,
      port,
      method: 'POST',
      path: '/v3/watch',
      body,
      contentType: 'application/json',
      onLine: (line, receivedMs) => {
        const message = JSON.parse(line) as { result?: { events?: { kv?: { key?: string } }[]; canceled?: boolean }; error?: { message?: string } }
        if (message.error !== undefined || message.result?.canceled === true) {
          onEnd(new UnexpectedApiResponseError(`etcd watch on member ${options.member} ended: ${line.slice(0, 200)}`))
          return
        }
        for (const event of message.result?.events ?? []) {
          const key = Buffer.from(event.kv?.key ?? '', 'base64').toString('utf8')
          if (key.startsWith(prefix)) options.onEvent(key.slice(prefix.length), receivedMs)
        }
      },
      onEnd,
    })
  }

  async stop(): Promise<void> {
    for (const agent of this.watchAgents) agent.destroy()
    await this.cluster.stop()
  }

  private async post(member: number, path: string, body: string): Promise<HttpResponse> {
    const { port, agent } = this.cluster.endpoint(member)
    let response: HttpResponse
    try {
      response = await httpRequest({ agent, port, method: 'POST', path, body, contentType: 'application/json' })
    } catch (error) {
      throw new RequestFailedError(`POST ${path} on etcd member ${member}: ${describeError(error)}`, { cause: error })
    }
    if (response.status !== 200) throw new HttpStatusError(`etcd ${path} on member ${member}: ${response.status} ${snippet(response.body)}`, response.status)
    return response
  }
}

function collectionPrefix(collection: string): string {
  return `/registry/configmaps/${collection}/`
}

function objectKey(collection: string, name: string): string {
  return `${collectionPrefix(collection)}${name}`
}

/** The ConfigMap's JSON text, as the Flotilla side sends it. */
function objectValue(name: string, counter: number): Uint8Array {
  return Buffer.from(JSON.stringify(apiObject(name, counter)), 'utf8')
}

/** The range_end that selects every key starting with `prefix`: its last byte plus one. */
function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1)
  return `${prefix.slice(0, -1)}${String.fromCharCode(last + 1)}`
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64')
}
