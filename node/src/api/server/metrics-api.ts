/**
 * `metrics.k8s.io/v1beta1`, read-only, as metrics-server serves it, from the node agents' records
 * in the replicated store (node-metrics-store.ts) rather than from stored objects:
 *
 *   GET /apis/metrics.k8s.io                                 APIGroup
 *   GET /apis/metrics.k8s.io/v1beta1                         APIResourceList: nodes, pods (get, list)
 *   GET /apis/metrics.k8s.io/v1beta1/nodes[/{name}]          NodeMetricsList / NodeMetrics
 *   GET /apis/metrics.k8s.io/v1beta1/pods                    PodMetricsList of every namespace
 *   GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods[/{name}]
 *
 * Items exist only for live objects: a NodeMetrics for each Node whose record is fresh and has the
 * node's usage, a PodMetrics for each Pod whose node's fresh record has an entry with the pod's
 * uid (so a pod recreated under the same name never shows its predecessor's usage, and a node
 * that no longer exists shows nothing). `labelSelector` (and `fieldSelector` on metadata.name and
 * metadata.namespace) select on the live Node and Pod objects, as metrics-server selects on its
 * informers. A missing item is a 404 with metrics-server's message (`podmetrics.metrics.k8s.io
 * "default/web" not found`); writes and watches are 405.
 *
 * Quantities are canonical: CPU in nanocores scaled as Kubernetes prints them (`1234567n`,
 * `250m`), memory in bytes with binary suffixes (`10240Ki`, `1Mi`); `window` is a Go duration
 * (`15s`, `15.003s`); timestamps are RFC 3339.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import { Quantity } from '../machinery/quantity.ts'
import { ApiError, methodNotAllowed, notFound, pathNotFound, type GroupResource } from '../machinery/status.ts'
import type { ApiGroup, ApiGroupDocument, ApiResourceListDocument } from '../discovery/documents.ts'
import { splitApiPath } from '../discovery/resolve.ts'
import type { NodeMetricsReader, NodeMetricsRecord, PodUsageEntry, ResourceUsage } from './node-metrics-store.ts'
import type { ObjectStore, ResourceRef } from './object-store.ts'
import { booleanParameter } from './request-options.ts'
import { sendJson } from './responses.ts'
import { selectionOf, type Selection } from './selection.ts'

export const METRICS_GROUP = 'metrics.k8s.io'
export const METRICS_VERSION = 'v1beta1'
const GROUP_VERSION = `${METRICS_GROUP}/${METRICS_VERSION}`
const GROUP_PATH = `/apis/${METRICS_GROUP}`

/** The group as `/apis` lists it (after the built-in groups, as aggregated groups are). */
export const METRICS_API_GROUP: ApiGroup = {
  name: METRICS_GROUP,
  versions: [{ groupVersion: GROUP_VERSION, version: METRICS_VERSION }],
  preferredVersion: { groupVersion: GROUP_VERSION, version: METRICS_VERSION },
}

/** `/apis/metrics.k8s.io/v1beta1`, exactly as metrics-server advertises it (no singular names, no hashes). */
const RESOURCE_LIST: ApiResourceListDocument = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: GROUP_VERSION,
  resources: [
    { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
    { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
  ],
}

/** The names errors use: `nodemetrics.metrics.k8s.io`, as metrics-server's. */
const NODE_METRICS: GroupResource = { group: METRICS_GROUP, resource: 'nodemetrics' }
const POD_METRICS: GroupResource = { group: METRICS_GROUP, resource: 'podmetrics' }
/** The paths' resources, for selectors and 405s: `nodes.metrics.k8s.io`. */
const NODES_PATH: GroupResource = { group: METRICS_GROUP, resource: 'nodes' }
const PODS_PATH: GroupResource = { group: METRICS_GROUP, resource: 'pods' }

const NODES: ResourceRef = { group: '', resource: 'nodes', kind: 'Node', apiVersion: 'v1', namespaced: false }
const PODS: ResourceRef = { group: '', resource: 'pods', kind: 'Pod', apiVersion: 'v1', namespaced: true }

export interface MetricsApiOptions {
  /** The live Node and Pod objects. */
  readonly objects: ObjectStore
  /** The agents' records. */
  readonly records: NodeMetricsReader
}

/** What a metrics path names. */
type MetricsTarget =
  | { readonly kind: 'group' }
  | { readonly kind: 'resources' }
  | { readonly kind: 'nodes'; readonly name: string | undefined }
  | { readonly kind: 'pods'; readonly namespace: string | undefined; readonly name: string | undefined }

export class MetricsApi {
  /** The group entry for `/apis`. */
  readonly apiGroup: ApiGroup = METRICS_API_GROUP
  private readonly objects: ObjectStore
  private readonly records: NodeMetricsReader

  constructor(options: MetricsApiOptions) {
    this.objects = options.objects
    this.records = options.records
  }

  /** True for `/apis/metrics.k8s.io` and every path below it (all answered by `serve`). */
  serves(path: string): boolean {
    return path === GROUP_PATH || path.startsWith(`${GROUP_PATH}/`)
  }

  /** Answers a request for a path `serves` accepted; throws ApiError for the caller to send. */
  async serve(request: IncomingMessage, response: ServerResponse, path: string, url: URL): Promise<void> {
    const target = targetOf(path)
    const resource = target.kind === 'nodes' ? NODES_PATH : PODS_PATH
    if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed(resource, String(request.method))
    if (target.kind === 'group') return sendJson(response, 200, { kind: 'APIGroup', apiVersion: 'v1', ...METRICS_API_GROUP } satisfies ApiGroupDocument)
    if (target.kind === 'resources') return sendJson(response, 200, RESOURCE_LIST)
    if (booleanParameter(url, 'watch')) throw methodNotAllowed(resource, 'watch')
    const selection = selectionOf(resource, url)
    await this.records.readBarrier()
    const body = target.kind === 'nodes' ? await this.nodeMetrics(target.name, selection) : await this.podMetrics(target.namespace, target.name, selection)
    sendJson(response, 200, body)
  }

  private async nodeMetrics(name: string | undefined, selection: Selection): Promise<JsonObject> {
    const nodes = name === undefined ? (await this.objects.list(NODES, undefined)).items : [await this.getOrNull(NODES, undefined, name)].filter(isJsonObject)
    const records = this.records.fresh()
    const items: JsonObject[] = []
    for (const node of nodes) {
      const nodeName = nameOf(node)
      const record = records.get(nodeName)
      if (record?.usage === undefined || !selection.matches(node)) continue
      items.push({ metadata: this.itemMetadata(node), timestamp: rfc3339(record.timestampMs), window: goDuration(record.windowMs), usage: usageOf(record.usage) })
    }
    if (name === undefined) return list('NodeMetricsList', items)
    const [item] = items
    if (item === undefined) throw notFound(NODE_METRICS, name)
    return { kind: 'NodeMetrics', apiVersion: GROUP_VERSION, ...item }
  }

  private async podMetrics(namespace: string | undefined, name: string | undefined, selection: Selection): Promise<JsonObject> {
    const pods = name === undefined ? (await this.objects.list(PODS, namespace)).items : [await this.getOrNull(PODS, namespace, name)].filter(isJsonObject)
    const byUid = new Map<string, { record: NodeMetricsRecord; entry: PodUsageEntry }>()
    for (const record of this.records.fresh().values()) for (const entry of record.pods) byUid.set(entry.uid, { record, entry })
    const items: JsonObject[] = []
    for (const pod of pods) {
      const metadata = isJsonObject(pod['metadata']) ? pod['metadata'] : {}
      const found = byUid.get(String(metadata['uid'] ?? ''))
      if (found === undefined || !selection.matches(pod)) continue
      const { record, entry } = found
      // Only the node the pod is bound to measures it; an entry anywhere else is a leftover.
      if (entry.namespace !== metadata['namespace'] || entry.name !== metadata['name'] || nodeNameOf(pod) !== record.node) continue
      items.push({
        metadata: this.itemMetadata(pod),
        timestamp: rfc3339(record.timestampMs),
        window: goDuration(record.windowMs),
        containers: entry.containers.map((container) => ({ name: container.name, usage: usageOf(container) })),
      })
    }
    if (name === undefined) return list('PodMetricsList', items)
    const [item] = items
    if (item === undefined) throw notFound(POD_METRICS, `${namespace ?? ''}/${name}`)
    return { kind: 'PodMetrics', apiVersion: GROUP_VERSION, ...item }
  }

  /** metrics-server's item metadata: the object's name, namespace and labels, created now. */
  private itemMetadata(object: JsonObject): JsonObject {
    const metadata = isJsonObject(object['metadata']) ? object['metadata'] : {}
    return {
      name: metadata['name'] ?? '',
      ...(metadata['namespace'] === undefined ? {} : { namespace: metadata['namespace'] }),
      creationTimestamp: this.objects.now(),
      ...(isJsonObject(metadata['labels']) ? { labels: metadata['labels'] } : {}),
    }
  }

  private async getOrNull(resource: ResourceRef, namespace: string | undefined, name: string): Promise<JsonObject | null> {
    try {
      return await this.objects.get(resource, namespace, name)
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return null
      throw error
    }
  }
}

/** The target of a path below `/apis/metrics.k8s.io`; 404 for anything metrics-server does not serve. */
function targetOf(path: string): MetricsTarget {
  const segments = splitApiPath(path)
  const [apis, group, version, ...rest] = segments ?? []
  if (apis !== 'apis' || group !== METRICS_GROUP) throw pathNotFound()
  if (version === undefined) return { kind: 'group' }
  if (version !== METRICS_VERSION) throw pathNotFound()
  const [first, second, third, fourth, ...extra] = rest
  if (extra.length > 0) throw pathNotFound()
  if (first === undefined) return { kind: 'resources' }
  if (first === 'nodes' && third === undefined) return { kind: 'nodes', name: second }
  if (first === 'pods' && second === undefined) return { kind: 'pods', namespace: undefined, name: undefined }
  if (first === 'namespaces' && second !== undefined && third === 'pods') return { kind: 'pods', namespace: second, name: fourth }
  throw pathNotFound()
}

function list(kind: string, items: JsonObject[]): JsonObject {
  return { kind, apiVersion: GROUP_VERSION, metadata: {}, items }
}

function nameOf(object: JsonObject): string {
  return isJsonObject(object['metadata']) ? String(object['metadata']['name'] ?? '') : ''
}

function nodeNameOf(pod: JsonObject): unknown {
  return isJsonObject(pod['spec']) ? pod['spec']['nodeName'] : undefined
}

/** `{"cpu":"250m","memory":"10240Ki"}`: canonical quantities, as metrics-server's. */
export function usageOf(usage: ResourceUsage): JsonObject {
  return {
    cpu: new Quantity(BigInt(usage.cpuNanoCores), 'DecimalSI').toString(),
    memory: Quantity.fromUnits(usage.memoryBytes, 'BinarySI').toString(),
  }
}

/** RFC 3339 to the second, as metav1.Time marshals. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** A duration as Go's time.Duration prints it, to the millisecond: `500ms`, `15s`, `15.003s`, `1m30s`, `1h0m0s`. */
export function goDuration(ms: number): string {
  const whole = Math.round(ms)
  if (whole === 0) return '0s'
  if (whole < 1000) return `${whole}ms`
  const hours = Math.floor(whole / 3_600_000)
  const minutes = Math.floor((whole % 3_600_000) / 60_000)
  const millis = whole % 60_000
  const seconds = `${Math.floor(millis / 1000)}${millis % 1000 === 0 ? '' : `.${String(millis % 1000).padStart(3, '0').replace(/0+$/, '')}`}s`
  if (hours > 0) return `${hours}h${minutes}m${seconds}`
  if (minutes > 0) return `${minutes}m${seconds}`
  return seconds
}
