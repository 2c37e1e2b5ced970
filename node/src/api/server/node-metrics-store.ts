/**
 * The node agents' resource usage in the replicated store: one record per node under
 *
 *   /registry/flotilla/metrics/<node>   → the node's latest sample (compact JSON, layout below)
 *
 * Every agent samples its own containers (agent/metrics-sampler.ts) and writes only its own key,
 * so every daemon can serve `metrics.k8s.io` (metrics-api.ts) and the leader's HPA can read usage
 * (controllers/stored-pod-metrics.ts) from its local replica, without asking other nodes. The keys
 * are not a Kubernetes resource: no API path reaches them except through the metrics API, which
 * is read-only.
 *
 * Writes are few on purpose, because each goes through Raft: a record is written only when its
 * usage figures changed, or when the stored one is about to go stale (every `REFRESH_PERIODS`
 * periods), so an idle hollow node costs one write per two periods. A record is stale, and not
 * served, once it is `STALE_PERIODS` periods old by the reader's clock: its writer stopped (a
 * dead or partitioned node, a stopped agent). A restarted writer deletes its old record first
 * (`withdraw`): what it describes was sampled by a previous process.
 *
 * Stored layout (version 1), positional to keep records small (a node with 100 pods writes about
 * 10 KB):
 *
 *   { "v": 1, "t": timestampMs, "w": windowMs, "p": periodMs,
 *     "u": [cpuNanoCores, memoryBytes],                                  (absent until known)
 *     "pods": [[namespace, name, uid, [[container, cpuNanoCores, memoryBytes], …]], …] }
 *
 * The node's name is the key's last segment and is not repeated in the value.
 */
import { assert } from '../../../../lib/assert.ts'
import type { KeyValue } from '../../store/commands.ts'
import type { ObjectBackend } from './object-store.ts'

/** Where the records live; one key per node below it. */
export const NODE_METRICS_PREFIX = '/registry/flotilla/metrics/'
/** A record this many periods old is stale: its writer has stopped sampling. */
export const STALE_PERIODS = 3
/** An unchanged record is rewritten once the stored one is this many periods old, before it goes stale. */
export const REFRESH_PERIODS = 2

const LAYOUT_VERSION = 1
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Usage over a window: a CPU rate and a memory figure. */
export interface ResourceUsage {
  /** Average CPU over the window, in billionths of a core. */
  readonly cpuNanoCores: number
  /** The working set (memory in use minus inactive file cache), in bytes. */
  readonly memoryBytes: number
}

export interface ContainerUsage extends ResourceUsage {
  /** The container's name in the pod spec. */
  readonly name: string
}

/** One pod's containers, each with a rate (pods with a container not yet sampled twice are left out). */
export interface PodUsageEntry {
  readonly namespace: string
  readonly name: string
  readonly uid: string
  readonly containers: readonly ContainerUsage[]
}

/** What one node's agent measured in one sampling pass. */
export interface NodeMetricsRecord {
  readonly node: string
  /** When the pass sampled (wall clock, ms since the epoch). */
  readonly timestampMs: number
  /** The interval the rates were measured over. */
  readonly windowMs: number
  /** How often the writer samples; readers judge staleness by it. */
  readonly periodMs: number
  /** The whole node's usage; absent until the node was sampled twice. */
  readonly usage?: ResourceUsage
  readonly pods: readonly PodUsageEntry[]
}

/** The key of a node's record. */
export function nodeMetricsKey(node: string): string {
  assert(node !== '' && !node.includes('/'), `node name ${JSON.stringify(node)} cannot be a metrics key`)
  return `${NODE_METRICS_PREFIX}${node}`
}

/** True when the record is too old to serve at `nowMs`. */
export function isStale(record: NodeMetricsRecord, nowMs: number): boolean {
  return nowMs - record.timestampMs > STALE_PERIODS * record.periodMs
}

// ---------------------------------------------------------------------------------------------
// Encoding

type StoredContainer = [string, number, number]
type StoredPod = [string, string, string, StoredContainer[]]

interface StoredRecord {
  v: number
  t: number
  w: number
  p: number
  u?: [number, number]
  pods: StoredPod[]
}

/** The figures of a record without its time: equal figures need no new write. */
function figuresOf(record: NodeMetricsRecord): string {
  return JSON.stringify(storedForm(record).pods) + JSON.stringify(record.usage ?? null)
}

function storedForm(record: NodeMetricsRecord): StoredRecord {
  return {
    v: LAYOUT_VERSION,
    t: record.timestampMs,
    w: record.windowMs,
    p: record.periodMs,
    ...(record.usage === undefined ? {} : { u: [record.usage.cpuNanoCores, record.usage.memoryBytes] }),
    pods: record.pods.map((pod) => [pod.namespace, pod.name, pod.uid, pod.containers.map((container) => [container.name, container.cpuNanoCores, container.memoryBytes])]),
  }
}

export function encodeNodeMetrics(record: NodeMetricsRecord): Uint8Array {
  assertFigures(record)
  return encoder.encode(JSON.stringify(storedForm(record)))
}

function assertFigures(record: NodeMetricsRecord): void {
  assert(isCount(record.timestampMs) && isCount(record.windowMs) && isCount(record.periodMs) && record.periodMs > 0, `node metrics of ${record.node}: bad times`)
  if (record.usage !== undefined) assert(isUsage(record.usage.cpuNanoCores, record.usage.memoryBytes), `node metrics of ${record.node}: bad node usage`)
  for (const pod of record.pods) {
    for (const container of pod.containers) assert(isUsage(container.cpuNanoCores, container.memoryBytes), `node metrics of ${record.node}: bad usage of ${pod.namespace}/${pod.name}/${container.name}`)
  }
}

/**
 * The record stored under `key`, or undefined when the value is not a valid record (written by a
 * newer or broken writer): a reader skips it rather than serve figures it cannot trust.
 */
export function decodeNodeMetrics(key: string, value: Uint8Array): NodeMetricsRecord | undefined {
  if (!key.startsWith(NODE_METRICS_PREFIX)) return undefined
  const node = key.slice(NODE_METRICS_PREFIX.length)
  let stored: unknown
  try {
    stored = JSON.parse(decoder.decode(value))
  } catch {
    return undefined
  }
  if (typeof stored !== 'object' || stored === null) return undefined
  const { v, t, w, p, u, pods } = stored as Partial<Record<keyof StoredRecord, unknown>>
  if (v !== LAYOUT_VERSION || !isCount(t) || !isCount(w) || !isCount(p) || p === 0 || !Array.isArray(pods)) return undefined
  let usage: ResourceUsage | undefined
  if (u !== undefined) {
    if (!Array.isArray(u) || u.length !== 2 || !isUsage(u[0], u[1])) return undefined
    usage = { cpuNanoCores: u[0], memoryBytes: u[1] }
  }
  const entries: PodUsageEntry[] = []
  for (const pod of pods) {
    const entry = decodePod(pod)
    if (entry === undefined) return undefined
    entries.push(entry)
  }
  return { node, timestampMs: t, windowMs: w, periodMs: p, ...(usage === undefined ? {} : { usage }), pods: entries }
}

function decodePod(pod: unknown): PodUsageEntry | undefined {
  if (!Array.isArray(pod) || pod.length !== 4) return undefined
  const [namespace, name, uid, containers] = pod as unknown[]
  if (typeof namespace !== 'string' || typeof name !== 'string' || typeof uid !== 'string' || !Array.isArray(containers)) return undefined
  const decoded: ContainerUsage[] = []
  for (const container of containers) {
    if (!Array.isArray(container) || container.length !== 3) return undefined
    const [containerName, cpu, memory] = container as unknown[]
    if (typeof containerName !== 'string' || !isCount(cpu) || !isCount(memory)) return undefined
    decoded.push({ name: containerName, cpuNanoCores: cpu, memoryBytes: memory })
  }
  return { namespace, name, uid, containers: decoded }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isUsage(cpu: unknown, memory: unknown): cpu is number {
  return isCount(cpu) && isCount(memory)
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Writes one node's record. Only that node's agent writes its key (a plain put: there is no
 * other writer to race with). Not safe for concurrent `publish` calls; the sampler makes one at a
 * time.
 */
export class NodeMetricsWriter {
  readonly nodeName: string
  private readonly backend: ObjectBackend
  private readonly key: string
  /** What the store holds from this writer: its figures and sample time (undefined: unknown). */
  private written: { figures: string; timestampMs: number } | undefined

  constructor(options: { backend: ObjectBackend; nodeName: string }) {
    this.backend = options.backend
    this.nodeName = options.nodeName
    this.key = nodeMetricsKey(options.nodeName)
  }

  /**
   * Stores the record when its figures differ from the stored ones or the stored one is
   * `REFRESH_PERIODS` periods old; returns whether it wrote. A failed write throws (the store is
   * unavailable) and is retried by the next publish, which writes whatever it carries.
   */
  async publish(record: NodeMetricsRecord): Promise<boolean> {
    assert(record.node === this.nodeName, `the metrics writer of ${this.nodeName} was given the record of ${record.node}`)
    const figures = figuresOf(record)
    const written = this.written
    if (written !== undefined && written.figures === figures && record.timestampMs - written.timestampMs < REFRESH_PERIODS * record.periodMs) return false
    this.written = undefined
    await this.backend.write({ op: 'put', key: this.key, value: encodeNodeMetrics(record) })
    this.written = { figures, timestampMs: record.timestampMs }
    return true
  }

  /** Deletes this node's record (idempotent). */
  async withdraw(): Promise<void> {
    this.written = undefined
    await this.backend.write({ op: 'delete', key: this.key })
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Reads the records from the local replica. Decoded records are kept by key and modRevision, so
 * a read decodes only the records written since the previous one.
 */
export class NodeMetricsReader {
  private readonly backend: ObjectBackend
  private readonly nowMs: () => number
  private readonly decoded = new Map<string, { modRevision: number; record: NodeMetricsRecord | undefined }>()

  constructor(options: { backend: ObjectBackend; nowMs?: () => number }) {
    this.backend = options.backend
    this.nowMs = options.nowMs ?? (() => Date.now())
  }

  /** Resolves once the local replica holds every write committed before the call. */
  readBarrier(): Promise<void> {
    return this.backend.readBarrier()
  }

  /** Every valid record that is not stale, by node name. */
  fresh(): Map<string, NodeMetricsRecord> {
    const nowMs = this.nowMs()
    const fresh = new Map<string, NodeMetricsRecord>()
    const seen = new Set<string>()
    for (const item of this.backend.range(NODE_METRICS_PREFIX).items) {
      seen.add(item.key)
      const record = this.decode(item)
      if (record !== undefined && !isStale(record, nowMs)) fresh.set(record.node, record)
    }
    for (const key of this.decoded.keys()) if (!seen.has(key)) this.decoded.delete(key)
    return fresh
  }

  private decode(item: KeyValue): NodeMetricsRecord | undefined {
    const cached = this.decoded.get(item.key)
    if (cached !== undefined && cached.modRevision === item.modRevision) return cached.record
    const record = decodeNodeMetrics(item.key, item.value)
    this.decoded.set(item.key, { modRevision: item.modRevision, record })
    return record
  }
}
