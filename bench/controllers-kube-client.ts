/**
 * A minimal Kubernetes API client for the controllers benchmark: the credentials a user gets from
 * `flotilla kubeconfig` (`POST /v1/kubeconfig` on a daemon's local API: cluster CA, bearer token,
 * every node's `https://127.0.0.1:<port>`), HTTPS verified against that CA, JSON bodies,
 * keep-alive connections, and a watch read line by line. Same access path as bench/api-flotilla.ts.
 */
import type http from 'node:http'
import { parse as parseYaml } from 'yaml'
import type { JsonObject } from '../node/src/api/machinery/canonical.ts'
import type { FlotillaDaemons } from './flotilla-daemons.ts'
import { createKeepAliveAgent, httpRequest, HttpStatusError, LOOPBACK_HOST, openLineStream, parseJsonBody, snippet, type HttpResponse, type LineStream } from './http.ts'
import { pollUntil } from './processes.ts'

/** Deadline for minting the kubeconfig and for the API to answer. */
const SETUP_DEADLINE_MS = 60_000

/** A response that is not what the Kubernetes API promises. */
export class UnexpectedKubeResponseError extends HttpStatusError {
  override name = 'UnexpectedKubeResponseError'
}

export class KubeClient {
  readonly port: number
  private readonly agent: http.Agent
  private readonly watchAgent: http.Agent
  private readonly headers: Readonly<Record<string, string>>

  constructor(port: number, caPem: string, token: string) {
    this.port = port
    this.agent = createKeepAliveAgent({ tlsCaPem: caPem, maxSockets: 64 })
    this.watchAgent = createKeepAliveAgent({ tlsCaPem: caPem, maxSockets: 4 })
    this.headers = { authorization: `Bearer ${token}`, accept: 'application/json' }
  }

  /**
   * Mints a token through daemon `member`'s local API, then waits until that daemon's Kubernetes
   * API serves the `default` namespace (the token and the namespace are replicated state).
   */
  static async connect(daemons: FlotillaDaemons, member: number): Promise<KubeClient> {
    const { port, agent } = daemons.endpoint(member)
    const client = await pollUntil(
      'a kubeconfig from the daemon',
      async () => {
        const response = await httpRequest({ agent, port, method: 'POST', path: '/v1/kubeconfig' })
        if (response.status !== 200) throw new UnexpectedKubeResponseError(`POST /v1/kubeconfig: ${response.status} ${snippet(response.body)}`, response.status)
        const { kubeconfig } = parseJsonBody(response, 'POST /v1/kubeconfig') as { kubeconfig?: unknown }
        if (typeof kubeconfig !== 'string') throw new UnexpectedKubeResponseError(`POST /v1/kubeconfig: ${snippet(response.body)}`, response.status)
        return clientFromKubeconfig(kubeconfig, member)
      },
      SETUP_DEADLINE_MS,
      200,
    )
    await pollUntil('the Kubernetes API to serve namespace default', async () => ((await client.request('GET', '/api/v1/namespaces/default')).status === 200 ? true : undefined), SETUP_DEADLINE_MS, 200)
    return client
  }

  async request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: JsonObject, timeoutMs?: number): Promise<HttpResponse> {
    return httpRequest({
      agent: this.agent,
      port: this.port,
      method,
      path,
      headers: this.headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    })
  }

  /** Sends a request and parses the JSON answer; any status but `expected` throws. */
  async json(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, expected: number, body?: JsonObject, timeoutMs?: number): Promise<JsonObject> {
    const response = await this.request(method, path, body, timeoutMs)
    if (response.status !== expected) throw new UnexpectedKubeResponseError(`${method} ${path}: ${response.status} ${snippet(response.body)}`, response.status)
    return parseJsonBody(response, `${method} ${path}`) as JsonObject
  }

  /** Opens a watch (`?watch=true&…` already in `path`); `onEvent` gets each decoded event. */
  watch(path: string, onEvent: (type: string, object: JsonObject, receivedMs: number) => void, onEnd: (error: Error | undefined) => void): Promise<LineStream> {
    return openLineStream({
      agent: this.watchAgent,
      port: this.port,
      method: 'GET',
      path,
      headers: this.headers,
      onLine: (line, receivedMs) => {
        const event = JSON.parse(line) as { type?: unknown; object?: unknown }
        onEvent(String(event.type), (event.object ?? {}) as JsonObject, receivedMs)
      },
      onEnd,
    })
  }

  close(): void {
    this.agent.destroy()
    this.watchAgent.destroy()
  }
}

interface KubeconfigShape {
  clusters?: { name?: string; cluster?: { server?: string; 'certificate-authority-data'?: string } }[]
  users?: { user?: { token?: string } }[]
}

/** A client for the `member`-th cluster entry (entries sort by node name, as daemons are named). */
function clientFromKubeconfig(text: string, member: number): KubeClient | undefined {
  const config = parseYaml(text) as KubeconfigShape
  const token = config.users?.[0]?.user?.token
  const caData = config.clusters?.[0]?.cluster?.['certificate-authority-data']
  if (token === undefined || caData === undefined) return undefined
  const servers = (config.clusters ?? [])
    .map((cluster) => ({ name: cluster.name ?? '', match: /^https:\/\/([^:/]+):(\d+)$/.exec(cluster.cluster?.server ?? '') }))
    .sort((a, b) => a.name.localeCompare(b.name))
  const server = servers[member]
  // A node lists its API address only once it serves HTTPS: until then, ask again.
  if (server?.match === null || server === undefined) return undefined
  // The benchmark only ever talks to loopback; the daemons listen on 127.0.0.1 (--kube-listen).
  if (server.match[1] !== LOOPBACK_HOST) throw new UnexpectedKubeResponseError(`kubeconfig server ${server.match[0]} is not on ${LOOPBACK_HOST}`, 0)
  return new KubeClient(Number(server.match[2]), Buffer.from(caData, 'base64').toString('utf8'), token)
}
