/**
 * What the suite measures about the cluster while faults are active: who leads, whether the API
 * takes writes again, where a Deployment's pods run and whether they are Ready.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { flotillaInHost } from '../lab/daemons.ts'
import type { HostPlan } from '../lab/plan.ts'
import { ApiUnreachableError, type HostApiClient } from './api-proxy.ts'

export const PROBE_DEPLOYMENT = 'chaos-web'
const PROBE_CONFIGMAP = 'chaos-probe'
const NAMESPACE = 'default'

interface StatusView {
  readonly leaderName?: string
  readonly members: readonly { readonly name: string; readonly alive: boolean }[]
}

/** The leader's name as the first answering host sees it (undefined: none answers or none known). */
export async function leaderName(hosts: readonly HostPlan[]): Promise<string | undefined> {
  for (const host of hosts) {
    const status = await hostStatus(host)
    if (status?.leaderName !== undefined && status.leaderName !== '') return status.leaderName
  }
  return undefined
}

export async function hostStatus(host: HostPlan): Promise<StatusView | undefined> {
  try {
    return JSON.parse(await flotillaInHost(host, ['status', '-o', 'json'], 5_000)) as StatusView
  } catch {
    return undefined
  }
}

/** Whether every member is alive as seen by `host`. */
export async function allMembersAlive(host: HostPlan, count: number): Promise<boolean> {
  const status = await hostStatus(host)
  return status !== undefined && status.members.length === count && status.members.every((member) => member.alive)
}

/** One write of the probe ConfigMap through `client`; true when the API acknowledged it. */
export async function probeWrite(client: HostApiClient, timeoutMs = 1_000): Promise<boolean> {
  const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: PROBE_CONFIGMAP, namespace: NAMESPACE }, data: { at: String(Date.now()) } }
  try {
    const response = await client.request('PUT', `/api/v1/namespaces/${NAMESPACE}/configmaps/${PROBE_CONFIGMAP}`, body, timeoutMs)
    if (response.status === 404) return (await client.request('POST', `/api/v1/namespaces/${NAMESPACE}/configmaps`, body, timeoutMs)).status < 300
    return response.status < 300
  } catch (error) {
    if (error instanceof ApiUnreachableError) return false
    throw error
  }
}

/** Polls writes through `clients` (in turn) until one succeeds; resolves with the time it did, or undefined at the deadline. */
export async function firstWritable(clients: readonly HostApiClient[], deadlineMs: number, now: () => number): Promise<number | undefined> {
  let turn = 0
  while (now() < deadlineMs) {
    const client = clients[turn++ % clients.length]!
    if (await probeWrite(client)) return now()
    await sleep(50)
  }
  return undefined
}

export function probeDeployment(replicas: number): unknown {
  const labels = { app: PROBE_DEPLOYMENT }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: PROBE_DEPLOYMENT, namespace: NAMESPACE },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'flotilla/busybox:local', command: ['sleep', '36000'] }] } },
    },
  }
}

/** Creates the probe Deployment (already existing is fine). */
export async function createProbeDeployment(client: HostApiClient, replicas: number): Promise<void> {
  const response = await client.request('POST', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`, probeDeployment(replicas), 10_000)
  if (response.status >= 300 && response.status !== 409) throw new Error(`creating deployment ${PROBE_DEPLOYMENT}: HTTP ${response.status} ${JSON.stringify(response.body)}`)
}

export async function deleteProbeObjects(client: HostApiClient): Promise<void> {
  await client.request('DELETE', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${PROBE_DEPLOYMENT}`, undefined, 10_000).catch(() => undefined)
  await client.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/configmaps/${PROBE_CONFIGMAP}`, undefined, 10_000).catch(() => undefined)
}

export interface ReplicaView {
  readonly desired: number
  /** Running pods whose Ready condition is True, by node. */
  readonly readyByNode: Readonly<Record<string, number>>
  readonly ready: number
  /** Every pod as `name@node:phase[:ready][:deleting]`, for violation messages. */
  readonly pods: readonly string[]
}

interface PodList {
  readonly items: readonly {
    readonly metadata: { readonly name?: string; readonly deletionTimestamp?: string }
    readonly spec: { readonly nodeName?: string }
    readonly status?: { readonly phase?: string; readonly conditions?: readonly { readonly type: string; readonly status: string }[] }
  }[]
}

/** The Deployment's desired replicas and its Ready pods by node; undefined when the API did not answer. */
export async function replicaView(client: HostApiClient): Promise<ReplicaView | undefined> {
  try {
    const deployment = await client.request('GET', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${PROBE_DEPLOYMENT}`, undefined, 2_000)
    const pods = await client.request('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3D${PROBE_DEPLOYMENT}`, undefined, 2_000)
    if (deployment.status !== 200 || pods.status !== 200) return undefined
    const desired = (deployment.body as { spec?: { replicas?: number } }).spec?.replicas ?? 1
    const readyByNode: Record<string, number> = {}
    let ready = 0
    const summaries: string[] = []
    for (const pod of (pods.body as PodList).items) {
      const podReady = (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True')
      summaries.push(`${pod.metadata.name ?? '?'}@${pod.spec.nodeName ?? '-'}:${pod.status?.phase ?? '?'}${podReady ? ':ready' : ''}${pod.metadata.deletionTimestamp !== undefined ? ':deleting' : ''}`)
      const isReady = pod.metadata.deletionTimestamp === undefined && pod.status?.phase === 'Running' && podReady
      if (!isReady || pod.spec.nodeName === undefined) continue
      readyByNode[pod.spec.nodeName] = (readyByNode[pod.spec.nodeName] ?? 0) + 1
      ready++
    }
    return { desired, readyByNode, ready, pods: summaries }
  } catch (error) {
    if (error instanceof ApiUnreachableError) return undefined
    throw error
  }
}

/** Ready pods that are not on any of the `dead` nodes. */
export function readyOutside(view: ReplicaView, dead: readonly string[]): number {
  return Object.entries(view.readyByNode).filter(([node]) => !dead.includes(node)).reduce((sum, [, count]) => sum + count, 0)
}

interface NodeList {
  readonly items: readonly { readonly metadata: { readonly name: string }; readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] } }[]
}

/** The names of the Ready nodes as one host's API reports them; undefined when it did not answer. */
export async function readyNodes(client: HostApiClient): Promise<string[] | undefined> {
  try {
    const response = await client.request('GET', '/api/v1/nodes', undefined, 2_000)
    if (response.status !== 200) return undefined
    return (response.body as NodeList).items.filter((node) => (node.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True')).map((node) => node.metadata.name)
  } catch (error) {
    if (error instanceof ApiUnreachableError) return undefined
    throw error
  }
}
