/**
 * What the controllers benchmark builds, the same on every path (in process, through Raft):
 * hollow Node objects in three zones, one large Deployment, and the figures each path reports.
 *
 * The nodes are "hollow" only in the sense of the issue: Node objects a kubelet would register
 * (Ready, capacity and allocatable, zone labels), with no agent behind them. Hollow agents for
 * 1,000 nodes would run in the same process (or daemon) as the controllers and dominate both the
 * CPU and the write load, so pods are bound but never started: the benchmark measures the
 * ReplicaSet controller and the scheduler, not pod start-up.
 */
import { TimeoutError } from '../lib/errors.ts'
import type { JsonObject } from '../node/src/api/machinery/canonical.ts'
import { HOLLOW_RUNTIME_VERSION } from '../node/src/agent/hollow-pod-status.ts'
import { newNodeObject, type NodeFacts } from '../node/src/agent/node-registration.ts'
import { specOf } from '../node/src/controllers/object-fields.ts'

export const BENCH_ZONES: readonly string[] = ['zone-a', 'zone-b', 'zone-c']
export const NODE_CPU_COUNT = 8
export const NODE_MEMORY_BYTES = 32 * 1024 ** 3
export const NODE_PODS_MAX = 110
export const POD_CPU_REQUEST = '100m'
export const POD_MEMORY_REQUEST = '128Mi'
export const DEPLOYMENT_NAME = 'bench-web'
export const DEPLOYMENT_NAMESPACE = 'default'

/** The facts of hollow node `index` (names sort in creation order). */
export function hollowNodeFacts(index: number): NodeFacts {
  return {
    name: `hollow-${String(index).padStart(4, '0')}`,
    zone: BENCH_ZONES[index % BENCH_ZONES.length] as string,
    internalIp: `10.${100 + Math.floor(index / 62_500)}.${Math.floor(index / 250) % 250}.${(index % 250) + 1}`,
    hostname: `hollow-${index}`,
    cpuCount: NODE_CPU_COUNT,
    memoryBytes: NODE_MEMORY_BYTES,
    pods: NODE_PODS_MAX,
    architecture: 'amd64',
    osImage: 'Hollow Linux (benchmark)',
    kernelVersion: '6.0.0-hollow',
    containerRuntimeVersion: HOLLOW_RUNTIME_VERSION,
  }
}

/** The Node object of hollow node `index`, Ready as a kubelet would post it at `nowText`. */
export function hollowNodeObject(index: number, nowText: string): JsonObject {
  return newNodeObject(hollowNodeFacts(index), nowText)
}

/** The benchmark's Deployment: `replicas` pods of one container requesting 100m cpu and 128Mi. */
export function benchDeployment(replicas: number): JsonObject {
  const labels = { app: DEPLOYMENT_NAME }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: DEPLOYMENT_NAME, namespace: DEPLOYMENT_NAMESPACE },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: 'app', image: 'busybox-local', command: ['sleep', '3600'], resources: { requests: { cpu: POD_CPU_REQUEST, memory: POD_MEMORY_REQUEST } } }],
        },
      },
    },
  }
}

/** The node a pod is bound to, or '' while it is pending. */
export function boundNodeOf(pod: JsonObject): string {
  const nodeName = specOf(pod)['nodeName']
  return typeof nodeName === 'string' ? nodeName : ''
}

/** What one path (in process, or through Raft) measured. */
export interface ControllersPathResult {
  readonly path: string
  readonly notes: readonly string[]
  readonly nodes: number
  readonly replicas: number
  /** From the Deployment's create request to the last of its pods existing. */
  readonly allCreatedMs?: number
  /** From the Deployment's create request to the last pod bound (spec.nodeName set). */
  readonly allBoundMs?: number
  /** From the Deployment's create request to the first pod bound. */
  readonly firstBoundMs?: number
  /** Pods bound per second between the first and the last binding. */
  readonly bindingPhasePodsPerSecond?: number
  /** Pods per second over the whole run: replicas / allBoundMs. */
  readonly endToEndPodsPerSecond?: number
  /** CPU of the process(es) doing the work over the measured window, in seconds. */
  readonly cpuSeconds?: number
  /** Peak resident memory of that process (for a daemon: since it started), in MiB. */
  readonly maxRssMiB?: number
  /** Pods found bound / existing at the end. */
  readonly boundPods?: number
  readonly createdPods?: number
  /** Pods per node at the end: min and max over the nodes that got any. */
  readonly podsPerNode?: { readonly min: number; readonly max: number; readonly nodesUsed: number }
  readonly setupMs?: number
  readonly error?: string
}

/**
 * Follows pods as they appear and get bound, with timestamps relative to `startMs`
 * (performance.now() just before the Deployment was created).
 */
export class BindingTracker {
  readonly expected: number
  private readonly createdNames = new Set<string>()
  private readonly boundTo = new Map<string, string>()
  private startMs = 0
  allCreatedMs: number | undefined
  firstBoundMs: number | undefined
  allBoundMs: number | undefined
  private readonly waiters: Array<() => void> = []

  constructor(expected: number) {
    this.expected = expected
  }

  /** Starts the clock (call just before sending the Deployment). */
  start(): void {
    this.startMs = performance.now()
    // Pods that existed before the clock started (scheduler-only runs) count as created at 0.
    if (this.createdNames.size >= this.expected) this.allCreatedMs = 0
  }

  get created(): number {
    return this.createdNames.size
  }

  get bound(): number {
    return this.boundTo.size
  }

  /** True once every expected pod exists and is bound. */
  get done(): boolean {
    return this.allBoundMs !== undefined && this.allCreatedMs !== undefined
  }

  /** Records a pod seen (created or updated) at `atMs` (performance.now()). */
  observe(pod: JsonObject, atMs = performance.now()): void {
    const metadata = pod['metadata'] as JsonObject | undefined
    const name = String(metadata?.['name'] ?? '')
    if (name === '') return
    this.createdNames.add(name)
    if (this.allCreatedMs === undefined && this.createdNames.size >= this.expected) this.allCreatedMs = atMs - this.startMs
    const node = boundNodeOf(pod)
    if (node !== '' && !this.boundTo.has(name)) {
      this.boundTo.set(name, node)
      if (this.firstBoundMs === undefined) this.firstBoundMs = atMs - this.startMs
      if (this.allBoundMs === undefined && this.boundTo.size >= this.expected) this.allBoundMs = atMs - this.startMs
    }
    if (this.done) for (const wake of this.waiters.splice(0)) wake()
  }

  /** Resolves once done; rejects with `DeadlineExceededError` after `deadlineMs`. */
  waitDone(deadlineMs: number, what: string): Promise<void> {
    if (this.done) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new DeadlineExceededError(`${what}: ${this.created} of ${this.expected} pods created, ${this.bound} bound after ${deadlineMs} ms`))
      }, deadlineMs)
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /** The timing figures of a finished (or partial) run. */
  figures(): Pick<ControllersPathResult, 'allCreatedMs' | 'allBoundMs' | 'firstBoundMs' | 'bindingPhasePodsPerSecond' | 'endToEndPodsPerSecond' | 'boundPods' | 'createdPods' | 'podsPerNode'> {
    const perNode = new Map<string, number>()
    for (const node of this.boundTo.values()) perNode.set(node, (perNode.get(node) ?? 0) + 1)
    const counts = [...perNode.values()]
    const bindingMs = this.allBoundMs !== undefined && this.firstBoundMs !== undefined ? this.allBoundMs - this.firstBoundMs : undefined
    return {
      ...(this.allCreatedMs !== undefined ? { allCreatedMs: this.allCreatedMs } : {}),
      ...(this.allBoundMs !== undefined ? { allBoundMs: this.allBoundMs, endToEndPodsPerSecond: this.expected / (this.allBoundMs / 1000) } : {}),
      ...(this.firstBoundMs !== undefined ? { firstBoundMs: this.firstBoundMs } : {}),
      // The first binding opens the phase, so the rate counts the bindings after it.
      ...(bindingMs !== undefined && bindingMs > 0 ? { bindingPhasePodsPerSecond: (this.expected - 1) / (bindingMs / 1000) } : {}),
      boundPods: this.bound,
      createdPods: this.created,
      ...(counts.length > 0 ? { podsPerNode: { min: Math.min(...counts), max: Math.max(...counts), nodesUsed: counts.length } } : {}),
    }
  }
}

/** A benchmark phase did not finish within its deadline. */
export class DeadlineExceededError extends TimeoutError {
  override name = 'DeadlineExceededError'
}

/** How long a path may take to bind `replicas` pods before it is reported as failed. */
export function bindingDeadlineMs(replicas: number): number {
  return 120_000 + replicas * 50
}
