/**
 * "Services route only to Ready pods", and the success rate of Service traffic per fault phase.
 *
 * A Deployment whose busybox httpd answers with its own pod name (downward API) sits behind a
 * ClusterIP Service. A bounded loop (one request at a time, at most REQUESTS_PER_SECOND) sends
 * `timeout 2 busybox wget -q -O - http://VIP:PORT/` from inside one alive host's network namespace
 * (nsenter --net; the VIP's rules live there, programmed by that host's daemon), recording when
 * each request ran, whether it succeeded and which pod answered. Meanwhile the pods' Ready state is
 * sampled through the API. (`wget -T` is not used: it crashes this busybox build.)
 *
 * A response from a pod that, in every API sample from PROPAGATION_ALLOWANCE_MS before the request
 * until its end, was neither Ready nor terminating is a routing violation. The allowance covers a
 * readiness change travelling API → EndpointSlice → the host's proxy rules (endpoint gossip only
 * takes readiness away faster; it never adds a pod the API has not shown Ready). Without any sample
 * in the window (the API did not answer) a response is not judged, and is counted as such.
 * Terminating pods are not violations: with no Ready endpoint left the proxy falls back to serving
 * terminating ones, as Kubernetes does.
 */
import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiUnreachableError, type HostApiClient } from './api-proxy.ts'

export const SERVICE_APP = 'chaos-svc'
const NAMESPACE = 'default'
export const SERVICE_PORT = 80
const CONTAINER_PORT = 8080
export const REQUESTS_PER_SECOND = 5
const REQUEST_TIMEOUT_S = 2
/** How long a readiness change may take to reach every host's proxy rules. */
export const PROPAGATION_ALLOWANCE_MS = 2_000
const READY_SAMPLE_INTERVAL_MS = 500

export interface ServiceRequest {
  readonly startMs: number
  readonly endMs: number
  readonly client: string
  readonly ok: boolean
  /** The pod that answered (the response body), when ok. */
  readonly pod?: string
  readonly error?: string
  /**
   * False when the client's host was cut off from the cluster or still catching up after a fault
   * (see ServiceTrafficOptions.inCluster): its proxy rules cannot follow the API then, as with
   * kube-proxy on a partitioned node, so its routing is counted but not judged.
   */
  readonly judged: boolean
}

/** One API sample of the Service's pods: name → Ready (true), not Ready (false) or terminating. */
export interface ReadySample {
  readonly timeMs: number
  readonly pods: ReadonlyMap<string, 'ready' | 'not-ready' | 'terminating'>
}

export interface RoutingViolation {
  readonly request: ServiceRequest
  /** What the samples in the window said about the pod ('absent': deleted or never known). */
  readonly seen: readonly string[]
}

export interface RoutingVerdict {
  readonly violations: readonly RoutingViolation[]
  /** Successful responses with no API sample in their window (the API did not answer then). */
  readonly unjudged: number
  /** Successful responses to clients on hosts cut off from the cluster (not judged). */
  readonly fromCutOffHosts: number
}

/** Judges every successful response against the Ready samples (pure; see the module comment). */
export function checkRouting(requests: readonly ServiceRequest[], samples: readonly ReadySample[], allowanceMs = PROPAGATION_ALLOWANCE_MS): RoutingVerdict {
  const sorted = [...samples].sort((a, b) => a.timeMs - b.timeMs)
  const violations: RoutingViolation[] = []
  let unjudged = 0
  let fromCutOffHosts = 0
  for (const request of requests) {
    if (!request.ok || request.pod === undefined) continue
    if (!request.judged) {
      fromCutOffHosts++
      continue
    }
    const window = sorted.filter((sample) => sample.timeMs >= request.startMs - allowanceMs && sample.timeMs <= request.endMs)
    if (window.length === 0) {
      unjudged++
      continue
    }
    const seen = window.map((sample) => sample.pods.get(request.pod!) ?? 'absent')
    if (!seen.some((state) => state === 'ready' || state === 'terminating')) violations.push({ request, seen })
  }
  return { violations, unjudged, fromCutOffHosts }
}

export interface PhaseStats {
  readonly phase: string
  readonly requests: number
  readonly ok: number
  /** ok / requests (1 when there were none). */
  readonly successRate: number
}

/**
 * Success rate per phase: each fault's [injected, healed) window (by request start), and "no
 * fault" for requests outside every window. Overlapping faults each count the request.
 */
export function phaseStats(requests: readonly ServiceRequest[], faults: readonly { readonly description: string; readonly injectedMs: number; readonly healedMs?: number | undefined }[]): PhaseStats[] {
  const stats = (phase: string, chosen: readonly ServiceRequest[]): PhaseStats => {
    const ok = chosen.filter((request) => request.ok).length
    return { phase, requests: chosen.length, ok, successRate: chosen.length === 0 ? 1 : ok / chosen.length }
  }
  const inFault = (request: ServiceRequest, fault: (typeof faults)[number]): boolean => request.startMs >= fault.injectedMs && request.startMs < (fault.healedMs ?? Infinity)
  return [
    stats('no fault', requests.filter((request) => !faults.some((fault) => inFault(request, fault)))),
    ...faults.map((fault) => stats(fault.description, requests.filter((request) => inFault(request, fault)))),
  ]
}

/** The Deployment (httpd answering with its pod name, Ready once it serves) and its Service. */
export function serviceObjects(replicas: number): { deployment: unknown; service: unknown } {
  const labels = { app: SERVICE_APP }
  const script = `mkdir -p /www && echo "$POD_NAME" > /www/index.html && exec httpd -f -p ${CONTAINER_PORT} -h /www`
  return {
    deployment: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: SERVICE_APP, namespace: NAMESPACE },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{
              name: 'web',
              image: 'flotilla/busybox:local',
              command: ['sh', '-c', script],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [{ containerPort: CONTAINER_PORT }],
              readinessProbe: { httpGet: { path: '/', port: CONTAINER_PORT }, periodSeconds: 1, failureThreshold: 1 },
            }],
          },
        },
      },
    },
    service: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: SERVICE_APP, namespace: NAMESPACE },
      spec: { type: 'ClusterIP', selector: labels, ports: [{ port: SERVICE_PORT, targetPort: CONTAINER_PORT }] },
    },
  }
}

/** Creates the Deployment and the Service (existing is fine); resolves with the Service's ClusterIP. */
export async function createServiceObjects(client: HostApiClient, replicas: number): Promise<string> {
  const { deployment, service } = serviceObjects(replicas)
  for (const [path, body] of [[`/apis/apps/v1/namespaces/${NAMESPACE}/deployments`, deployment], [`/api/v1/namespaces/${NAMESPACE}/services`, service]] as const) {
    const response = await client.request('POST', path, body, 10_000)
    if (response.status >= 300 && response.status !== 409) throw new Error(`creating ${path}: HTTP ${response.status} ${JSON.stringify(response.body)}`)
  }
  const read = await client.request('GET', `/api/v1/namespaces/${NAMESPACE}/services/${SERVICE_APP}`, undefined, 10_000)
  const clusterIp = (read.body as { spec?: { clusterIP?: string } }).spec?.clusterIP
  if (read.status !== 200 || clusterIp === undefined || clusterIp === '') throw new Error(`service ${SERVICE_APP} has no ClusterIP: HTTP ${read.status}`)
  return clusterIp
}

export async function deleteServiceObjects(client: HostApiClient): Promise<void> {
  await client.request('DELETE', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${SERVICE_APP}`, undefined, 10_000).catch(() => undefined)
  await client.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/services/${SERVICE_APP}`, undefined, 10_000).catch(() => undefined)
}

interface PodList {
  readonly items: readonly {
    readonly metadata: { readonly name?: string; readonly deletionTimestamp?: string }
    readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] }
  }[]
}

/** One Ready sample through `client`; undefined when the API did not answer. */
export async function sampleReady(client: HostApiClient, timeMs: number): Promise<ReadySample | undefined> {
  try {
    const response = await client.request('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3D${SERVICE_APP}`, undefined, 2_000)
    if (response.status !== 200) return undefined
    const pods = new Map<string, 'ready' | 'not-ready' | 'terminating'>()
    for (const pod of (response.body as PodList).items) {
      const ready = (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True')
      pods.set(pod.metadata.name ?? '?', pod.metadata.deletionTimestamp !== undefined ? 'terminating' : ready ? 'ready' : 'not-ready')
    }
    return { timeMs, pods }
  } catch (error) {
    if (error instanceof ApiUnreachableError) return undefined
    throw error
  }
}

export interface ServiceTrafficOptions {
  readonly clusterIp: string
  /** Host name → network namespace, for every host a client may run in. */
  readonly netnsOf: (host: string) => string
  /** The host to send the next request from (an alive one), and the API client to sample through. */
  readonly pickClient: () => { readonly host: string; readonly api: HostApiClient } | undefined
  /** Whether a host is part of the cluster right now (not partitioned away, not recovering). */
  readonly inCluster: (host: string) => boolean
  readonly now: () => number
}

/** The request loop and the Ready sampler; `stop()` ends both. */
export class ServiceTraffic {
  readonly requests: ServiceRequest[] = []
  readonly samples: ReadySample[] = []
  private readonly options: ServiceTrafficOptions
  private running = false
  private loops: Promise<void>[] = []

  constructor(options: ServiceTrafficOptions) {
    this.options = options
  }

  start(): void {
    this.running = true
    this.loops = [this.requestLoop(), this.sampleLoop()]
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
  }

  private async requestLoop(): Promise<void> {
    const spacingMs = 1000 / REQUESTS_PER_SECOND
    while (this.running) {
      const startMs = this.options.now()
      const client = this.options.pickClient()
      if (client !== undefined) {
        const judgedBefore = this.options.inCluster(client.host)
        const request = await this.request(client.host, startMs)
        // Judged only if the host belonged to the cluster for the whole request.
        this.requests.push({ ...request, judged: judgedBefore && this.options.inCluster(client.host) })
      }
      await sleep(Math.max(0, spacingMs - (this.options.now() - startMs)))
    }
  }

  private request(host: string, startMs: number): Promise<Omit<ServiceRequest, 'judged'>> {
    const url = `http://${this.options.clusterIp}:${SERVICE_PORT}/`
    const command = [`--net=/run/netns/${this.options.netnsOf(host)}`, '--', 'timeout', String(REQUEST_TIMEOUT_S), 'busybox', 'wget', '-q', '-O', '-', url]
    return new Promise((resolve) => {
      execFile('nsenter', command, { timeout: (REQUEST_TIMEOUT_S + 3) * 1000, killSignal: 'SIGKILL', encoding: 'utf8' }, (error, stdout, stderr) => {
        const endMs = this.options.now()
        const pod = stdout.trim()
        if (error === null && pod !== '') resolve({ startMs, endMs, client: host, ok: true, pod })
        else resolve({ startMs, endMs, client: host, ok: false, error: (stderr.trim() || error?.message || 'empty response').slice(0, 200) })
      })
    })
  }

  private async sampleLoop(): Promise<void> {
    while (this.running) {
      const client = this.options.pickClient()
      const sample = client === undefined ? undefined : await sampleReady(client.api, this.options.now())
      if (sample !== undefined) this.samples.push(sample)
      await sleep(READY_SAMPLE_INTERVAL_MS)
    }
  }
}
