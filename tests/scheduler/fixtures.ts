/**
 * Builders of Node and Pod objects for the scheduler tests and benchmark (plain Kubernetes JSON,
 * the shape the API server stores, with only the fields a case needs), and helpers that run one
 * plugin over every node of a snapshot.
 */
import type { JsonObject, JsonValue } from '../../node/src/api/machinery/canonical.ts'
import type { FilterPlugin, ScorePlugin } from '../../node/src/scheduler/framework.ts'
import { podInfoOf } from '../../node/src/scheduler/pod-info.ts'
import type { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'

export interface NodeOptions {
  cpu?: string
  memory?: string
  pods?: number
  zone?: string
  labels?: Record<string, string>
  taints?: Array<{ key: string; value?: string; effect: string }>
  unschedulable?: boolean
}

/** A Node with allocatable resources (default 4 cpu, 8Gi, 110 pods) and a hostname label. */
export function makeNode(name: string, options: NodeOptions = {}): JsonObject {
  const labels: Record<string, string> = { 'kubernetes.io/hostname': name, ...options.labels }
  if (options.zone !== undefined) labels['topology.kubernetes.io/zone'] = options.zone
  const spec: JsonObject = {}
  if (options.taints !== undefined) spec.taints = options.taints.map((taint) => ({ ...taint }))
  if (options.unschedulable !== undefined) spec.unschedulable = options.unschedulable
  const allocatable = { cpu: options.cpu ?? '4', memory: options.memory ?? '8Gi', pods: String(options.pods ?? 110) }
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    spec,
    status: { capacity: { ...allocatable }, allocatable },
  }
}

export interface PodOptions {
  namespace?: string
  uid?: string
  labels?: Record<string, string>
  /** Requests of the single container; omitted means BestEffort. */
  cpu?: string
  memory?: string
  /** Extra container requests (extended resources, ephemeral-storage). */
  requests?: Record<string, string>
  limits?: Record<string, string>
  nodeName?: string
  nodeSelector?: Record<string, string>
  tolerations?: JsonValue[]
  affinity?: JsonObject
  topologySpreadConstraints?: JsonValue[]
  hostPorts?: number[]
  phase?: string
}

/** A Pod with one container. */
export function makePod(name: string, options: PodOptions = {}): JsonObject {
  const requests: JsonObject = { ...options.requests }
  if (options.cpu !== undefined) requests.cpu = options.cpu
  if (options.memory !== undefined) requests.memory = options.memory
  const resources: JsonObject = {}
  if (Object.keys(requests).length > 0) resources.requests = requests
  if (options.limits !== undefined) resources.limits = { ...options.limits }
  const container: JsonObject = { name: 'app', image: 'nginx', resources }
  if (options.hostPorts !== undefined) container.ports = options.hostPorts.map((port) => ({ containerPort: port, hostPort: port }))
  const spec: JsonObject = { containers: [container] }
  if (options.nodeName !== undefined) spec.nodeName = options.nodeName
  if (options.nodeSelector !== undefined) spec.nodeSelector = { ...options.nodeSelector }
  if (options.tolerations !== undefined) spec.tolerations = options.tolerations
  if (options.affinity !== undefined) spec.affinity = options.affinity
  if (options.topologySpreadConstraints !== undefined) spec.topologySpreadConstraints = options.topologySpreadConstraints
  const namespace = options.namespace ?? 'default'
  const pod: JsonObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: options.uid ?? `uid-${namespace}-${name}`, labels: { ...options.labels } },
    spec,
    status: { phase: options.phase ?? 'Pending' },
  }
  return pod
}

/** `count` nodes named `node-000`… spread round-robin over `zones`. */
export function makeNodes(count: number, options: NodeOptions & { zones?: readonly string[] } = {}): JsonObject[] {
  const width = String(count - 1).length
  return Array.from({ length: count }, (_, i) => {
    const zone = options.zones === undefined ? options.zone : options.zones[i % options.zones.length]
    const nodeOptions: NodeOptions = { ...options }
    if (zone !== undefined) nodeOptions.zone = zone
    return makeNode(`node-${String(i).padStart(width, '0')}`, nodeOptions)
  })
}

/** Runs one filter plugin for a pod on every node: node name → reasons ('skip' when it skips). */
export function filterResults(plugin: FilterPlugin, pod: JsonObject, snapshot: ClusterSnapshot): Map<string, readonly string[] | 'skip'> {
  const info = podInfoOf(pod)
  const filter = plugin.preFilter(info, snapshot)
  const results = new Map<string, readonly string[] | 'skip'>()
  for (const node of snapshot.nodes()) {
    if (filter === undefined) results.set(node.name, 'skip')
    else results.set(node.name, filter(node)?.reasons ?? [])
  }
  return results
}

/** Runs one score plugin over every node (all treated as feasible): node name → normalized score. */
export function scoreResults(plugin: ScorePlugin, pod: JsonObject, snapshot: ClusterSnapshot): Map<string, number> | 'skip' {
  const info = podInfoOf(pod)
  const nodes = snapshot.nodes()
  const scorer = plugin.preScore(info, snapshot, nodes)
  if (scorer === undefined) return 'skip'
  const scores = new Float64Array(nodes.length)
  nodes.forEach((node, i) => (scores[i] = scorer.score(node)))
  scorer.normalize?.(scores)
  return new Map(nodes.map((node, i) => [node.name, scores[i] as number]))
}

/** The names of the nodes a filter accepts (undefined entries = plugin skipped, so all). */
export function acceptedNodes(results: Map<string, readonly string[] | 'skip'>): string[] {
  return [...results].filter(([, reasons]) => reasons === 'skip' || reasons.length === 0).map(([name]) => name)
}
