/**
 * The API benchmark's Flotilla side: three real daemons (bench/flotilla-daemons.ts, `init` + two
 * `join`s on 127.0.0.1) driven through their Kubernetes API, as kubectl and client-go drive it:
 * HTTPS verified against the cluster CA, a bearer token, JSON bodies, keep-alive connections.
 *
 * Credentials come the way a user gets them: `POST /v1/kubeconfig` on a daemon's local API (what
 * `flotilla kubeconfig` calls) mints a token and lists every node's `https://host:port` with the
 * CA. Collections are namespaces of ConfigMaps:
 * - create  `POST /api/v1/namespaces/<ns>/configmaps`            → 201
 * - get     `GET  /api/v1/namespaces/<ns>/configmaps/<name>`     → 200
 * - list    `GET  /api/v1/namespaces/<ns>/configmaps`            → 200 ConfigMapList
 * - update  `PUT  /api/v1/namespaces/<ns>/configmaps/<name>` with metadata.resourceVersion → 200, 409 on conflict
 * - watch   `GET  /api/v1/namespaces/<ns>/configmaps?watch=true&resourceVersion=<rv>` → NDJSON events
 */
import type http from 'node:http'
import { parse as parseYaml } from 'yaml'
import { FIVE_DAEMONS, FlotillaDaemons } from './flotilla-daemons.ts'
import {
  createKeepAliveAgent,
  httpRequest,
  HttpStatusError,
  LOOPBACK_HOST,
  openLineStream,
  parseJsonBody,
  snippet,
  type HttpResponse,
  type LineStream,
} from './http.ts'
import { describeError } from './load.ts'
import { pollUntil } from './processes.ts'
import { RequestFailedError } from './store-targets.ts'
import { apiObject, once, UnexpectedApiResponseError, WATCH_SOCKETS_MAX, type ApiTarget, type ListRead, type UpdateResult, type WatchOptions } from './api-targets.ts'

/** The benchmark's cluster: three daemons in three zones. */
const DAEMON_COUNT = 3

/** A watch asks the server to keep it open this long, longer than any benchmark run. */
const WATCH_TIMEOUT_S = 3_600

/** Deadline for minting the kubeconfig and for each readiness probe. */
const SETUP_DEADLINE_MS = 30_000

/** One node's Kubernetes API endpoint. */
interface KubeNode {
  readonly name: string
  readonly port: number
  /** Keep-alive HTTPS agent for ordinary requests. */
  readonly agent: http.Agent
  /** A separate HTTPS agent for watches, so long-lived streams never hold the request sockets. */
  readonly watchAgent: http.Agent
}

interface KubeAccess {
  readonly caPem: string
  readonly token: string
  readonly servers: ReadonlyMap<string, number>
}

export class FlotillaApiTarget implements ApiTarget {
  readonly system = 'Flotilla'
  readonly version: string
  readonly notes: readonly string[]
  readonly memberCount: number
  /** From spawning the first daemon to a cluster of voters (init, joins, promotions). */
  readonly formationMs: number
  private readonly daemons: FlotillaDaemons
  private readonly nodes: readonly KubeNode[]
  private readonly headers: Readonly<Record<string, string>>

  private constructor(daemons: FlotillaDaemons, access: KubeAccess) {
    this.daemons = daemons
    this.formationMs = daemons.formationMs
    this.nodes = [...access.servers].map(([name, port]) => ({
      name,
      port,
      agent: createKeepAliveAgent({ tlsCaPem: access.caPem }),
      watchAgent: createKeepAliveAgent({ tlsCaPem: access.caPem, maxSockets: WATCH_SOCKETS_MAX }),
    }))
    this.memberCount = this.nodes.length
    this.headers = { authorization: `Bearer ${access.token}`, accept: 'application/json' }
    this.version = daemons.version
    this.notes = [
      ...daemons.notes,
      `Kubernetes API over HTTPS (cluster CA, bearer token) on ${this.nodes.map((n) => `${n.name}=:${n.port}`).join(' ')}`,
    ]
  }

  /** Starts three daemons, mints a kubeconfig and waits until every node serves the API. */
  static async start(): Promise<FlotillaApiTarget> {
    const daemons = await FlotillaDaemons.start({ daemons: FIVE_DAEMONS.slice(0, DAEMON_COUNT) })
    try {
      const access = await mintAccess(daemons)
      const target = new FlotillaApiTarget(daemons, access)
      await target.waitReady(SETUP_DEADLINE_MS)
      return target
    } catch (error) {
      await daemons.stop()
      throw error
    }
  }

  memberPids(): number[] {
    return this.daemons.memberPids()
  }

  async waitReady(deadlineMs: number): Promise<void> {
    await this.daemons.waitAllVoters(deadlineMs)
    // The token is a replicated key and `default` a replicated object: every node must have both.
    for (let member = 0; member < this.memberCount; member++) {
      await pollUntil(
        `node ${this.node(member).name} to serve the Kubernetes API`,
        async () => ((await this.request(member, 'GET', '/api/v1/namespaces/default')).status === 200 ? true : undefined),
        deadlineMs,
        100,
      )
    }
  }

  async prepareCollection(collection: string): Promise<void> {
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: collection } })
    const response = await this.request(0, 'POST', '/api/v1/namespaces', body)
    if (response.status !== 201 && response.status !== 409) throw statusError('create namespace', 0, response)
  }

  async create(member: number, collection: string, name: string): Promise<number> {
    const response = await this.request(member, 'POST', collectionPath(collection), JSON.stringify(apiObject(name, 0)))
    if (response.status !== 201) throw statusError('create', member, response)
    return resourceVersionOf(response, 'create')
  }

  async get(member: number, collection: string, name: string): Promise<number> {
    const response = await this.request(member, 'GET', objectPath(collection, name))
    if (response.status !== 200) throw statusError('get', member, response)
    return resourceVersionOf(response, 'get')
  }

  async list(member: number, collection: string): Promise<ListRead> {
    const response = await this.request(member, 'GET', collectionPath(collection))
    if (response.status !== 200) throw statusError('list', member, response)
    const parsed = parseJsonBody(response, 'list') as { items?: unknown; metadata?: { resourceVersion?: unknown } }
    const revision = Number(parsed.metadata?.resourceVersion)
    if (!Array.isArray(parsed.items) || !Number.isSafeInteger(revision)) {
      throw new UnexpectedApiResponseError(`list ${collection}: ${snippet(response.body)}`)
    }
    return { count: parsed.items.length, revision }
  }

  async update(member: number, collection: string, name: string, expectedRevision: number, counter: number): Promise<UpdateResult> {
    const body = JSON.stringify(apiObject(name, counter, expectedRevision))
    const response = await this.request(member, 'PUT', objectPath(collection, name), body)
    if (response.status === 409) return { ok: false }
    if (response.status !== 200) throw statusError('update', member, response)
    return { ok: true, revision: resourceVersionOf(response, 'update') }
  }

  watch(options: WatchOptions): Promise<LineStream> {
    const node = this.node(options.member)
    const onEnd = once(options.onEnd)
    const query = `watch=true&resourceVersion=${options.afterRevision}&timeoutSeconds=${WATCH_TIMEOUT_S}`
    return openLineStream({
      agent: node.watchAgent,
      port: node.port,
      method: 'GET',
      path: `${collectionPath(options.collection)}?${query}`,
      headers: this.headers,
      onLine: (line, receivedMs) => {
        const event = JSON.parse(line) as { type?: string; object?: { metadata?: { name?: unknown }; message?: unknown } }
        if (event.type === 'ERROR') {
          onEnd(new UnexpectedApiResponseError(`watch on ${node.name}: ERROR event ${String(event.object?.message)}`))
          return
        }
        const name = event.object?.metadata?.name
        if (typeof name === 'string') options.onEvent(name, receivedMs)
      },
      onEnd,
    })
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) {
      node.agent.destroy()
      node.watchAgent.destroy()
    }
    await this.daemons.stop()
  }

  private node(member: number): KubeNode {
    const node = this.nodes[member]
    if (node === undefined) throw new RangeError(`no Kubernetes API node ${member}`)
    return node
  }

  private async request(member: number, method: 'GET' | 'POST' | 'PUT', path: string, body?: string): Promise<HttpResponse> {
    const node = this.node(member)
    try {
      return await httpRequest({
        agent: node.agent,
        port: node.port,
        method,
        path,
        headers: this.headers,
        ...(body === undefined ? {} : { body, contentType: 'application/json' }),
      })
    } catch (error) {
      throw new RequestFailedError(`${method} ${path} on ${node.name}: ${describeError(error)}`, { cause: error })
    }
  }
}

/**
 * Mints a token through daemon 0's local API and reads the CA and every node's API address from
 * the kubeconfig. A node records its API address only once it serves HTTPS, so this polls until
 * the kubeconfig lists every daemon.
 */
async function mintAccess(daemons: FlotillaDaemons): Promise<KubeAccess> {
  const { port, agent } = daemons.endpoint(0)
  return pollUntil(
    `a kubeconfig listing all ${daemons.memberCount} nodes`,
    async () => {
      const response = await httpRequest({ agent, port, method: 'POST', path: '/v1/kubeconfig' })
      if (response.status !== 200) throw statusError('POST /v1/kubeconfig', 0, response)
      const { kubeconfig } = parseJsonBody(response, 'POST /v1/kubeconfig') as { kubeconfig?: unknown }
      if (typeof kubeconfig !== 'string') throw new UnexpectedApiResponseError(`POST /v1/kubeconfig: ${snippet(response.body)}`)
      const access = parseKubeconfig(kubeconfig)
      return access.servers.size === daemons.memberCount ? access : undefined
    },
    SETUP_DEADLINE_MS,
    200,
  )
}

interface KubeconfigShape {
  clusters?: { name?: string; cluster?: { server?: string; 'certificate-authority-data'?: string } }[]
  users?: { user?: { token?: string } }[]
}

/** The CA, the bearer token and each cluster's port from a kubeconfig `flotilla kubeconfig` wrote. */
function parseKubeconfig(text: string): KubeAccess {
  const config = parseYaml(text) as KubeconfigShape
  const token = config.users?.[0]?.user?.token
  const caData = config.clusters?.[0]?.cluster?.['certificate-authority-data']
  if (token === undefined || caData === undefined) throw new UnexpectedApiResponseError('the kubeconfig has no token or no CA')
  const servers = new Map<string, number>()
  for (const cluster of config.clusters ?? []) {
    const match = /^https:\/\/([^:/]+):(\d+)$/.exec(cluster.cluster?.server ?? '')
    if (match === null || cluster.name === undefined) throw new UnexpectedApiResponseError(`kubeconfig cluster ${cluster.name}: bad server`)
    // The benchmark only ever talks to loopback; the daemons listen on 127.0.0.1 (--kube-listen).
    if (match[1] !== LOOPBACK_HOST) throw new UnexpectedApiResponseError(`kubeconfig server ${cluster.cluster?.server} is not on ${LOOPBACK_HOST}`)
    servers.set(cluster.name, Number(match[2]))
  }
  return { caPem: Buffer.from(caData, 'base64').toString('utf8'), token, servers: new Map([...servers].sort(([a], [b]) => a.localeCompare(b))) }
}

function collectionPath(namespace: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`
}

function objectPath(namespace: string, name: string): string {
  return `${collectionPath(namespace)}/${encodeURIComponent(name)}`
}

function resourceVersionOf(response: HttpResponse, what: string): number {
  const parsed = parseJsonBody(response, what) as { metadata?: { resourceVersion?: unknown } }
  const revision = Number(parsed.metadata?.resourceVersion)
  if (!Number.isSafeInteger(revision) || revision <= 0) throw new UnexpectedApiResponseError(`${what}: no resourceVersion in ${snippet(response.body)}`)
  return revision
}

function statusError(what: string, member: number, response: HttpResponse): HttpStatusError {
  return new HttpStatusError(`flotilla ${what} on node ${member}: ${response.status} ${snippet(response.body)}`, response.status)
}
