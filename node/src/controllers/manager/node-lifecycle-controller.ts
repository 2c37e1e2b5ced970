/**
 * The node lifecycle controller on the Raft leader (rules in node-lifecycle-rules.ts). Every
 * `monitorPeriodMs` it looks at each Node against the daemon's gossip liveness — not at status
 * writes: nodes do not write a heartbeat through Raft every few seconds — and:
 *
 * 1. gives Nodes without a pod CIDR one (node-ipam.ts);
 * 2. a node silent for longer than `nodeNotReadyGraceMs` (default 4 s): all conditions Unknown
 *    (NodeStatusUnknown, "Kubelet stopped posting node status."), the taint
 *    node.kubernetes.io/unreachable:NoSchedule at once, its pods marked not Ready (so Deployments
 *    count them unavailable), and node.kubernetes.io/unreachable:NoExecute as the zone's eviction
 *    rate limiter allows;
 * 3. a node heard again: Ready=True and the unreachable taints removed;
 * 4. pods on nodes with NoExecute taints are deleted once their toleration runs out
 *    (`podEvictionTimeoutMs`, default 3 s, for pods without one), and their ReplicaSets recreate
 *    them elsewhere; nothing is evicted while evictions are suspended (every zone disrupted, or
 *    this leader hears nobody else: see node-lifecycle-rules.ts).
 *
 * Kubernetes' defaults are 40 s of grace and a 300 s toleration; Flotilla's are 4 s and 3 s (with
 * liveness beacons every second), so a dead node's pods run elsewhere well within 10 s of its
 * death. A node cut off rather than dead fences itself before that (agent/node-fence.ts), so a
 * StatefulSet identity does not run on both sides.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { newEvent } from '../events.ts'
import { formatTime, metadataOf, nameOf, namespaceOf, specOf, uidOf } from '../object-fields.ts'
import { PODS, type Action, type Plan } from '../plan.ts'
import type { Informer } from './informer.ts'
import { healthyNodeConditions, nodeReadyStatus, unknownNodeConditions } from './node-conditions.ts'
import { CLUSTER_CIDR, PodCidrAllocator, podCidrsInUse, POD_CIDRS_MAX } from './node-ipam.ts'
import {
  RateLimiter,
  TAINT_NOT_READY_KEY,
  TAINT_UNREACHABLE_KEY,
  changedTaints,
  computeZoneStates,
  evictionsSuspended,
  hasTaint,
  podEvictionAtMs,
  podMarkedNotReady,
  taintObjectsOf,
  zoneEvictionRatePerSecond,
  zoneOf,
  type EvictionRates,
  type NodeHealth,
  type ZoneState,
} from './node-lifecycle-rules.ts'
import type { PlanExecutor } from './plan-executor.ts'
import { BY_NODE, NODES } from './shared-informers.ts'
import type { Timer, Timers } from '../../../../lib/timers.ts'

/** How long each node has been silent, from the cluster's gossip liveness. */
export interface NodeLiveness {
  /** Milliseconds since the node's agent was last heard from (a large number if never). */
  silentForMs(nodeName: string): number
}

export interface NodeLifecycleOptions {
  readonly executor: PlanExecutor
  readonly nodes: Informer
  readonly pods: Informer
  readonly liveness: NodeLiveness
  readonly timers: Timers
  readonly log: (line: string) => void
  readonly isActive: () => boolean
  readonly isFatal: (error: Error) => boolean
  readonly onFatal: (error: Error) => void
  /** The leader's own node: always heard (it is running this code). */
  readonly selfNodeName?: string
  readonly nodeNotReadyGraceMs: number
  readonly podEvictionTimeoutMs: number
  readonly monitorPeriodMs: number
  readonly rates: EvictionRates
}

const COMPONENT = 'node-controller'

/** Kubernetes' eviction defaults scaled to Flotilla's timers (see node-lifecycle-rules.ts). */
export const DEFAULT_EVICTION_RATES: EvictionRates = {
  evictionRatePerSecond: 1,
  secondaryEvictionRatePerSecond: 0.1,
  unhealthyZoneThreshold: 0.55,
  largeClusterSizeThreshold: 50,
}

function unreachableTaint(effect: string, nowText: string): JsonObject {
  return effect === 'NoExecute' ? { key: TAINT_UNREACHABLE_KEY, effect, timeAdded: nowText } : { key: TAINT_UNREACHABLE_KEY, effect }
}

/** A core/v1 Event about a Node, as the node controller records it (uid = node name, as kubectl expects). */
function nodeEvent(nodeName: string, reason: string, message: string, type: 'Normal' | 'Warning', nowMs: number, sequence: number): JsonObject {
  const timestamp = formatTime(nowMs)
  // The sequence keeps the names of one pass's events about the node distinct.
  const nanoseconds = BigInt(Math.floor(nowMs)) * 1_000_000n + BigInt(sequence)
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${nodeName}.${nanoseconds.toString(16)}`, namespace: 'default' },
    involvedObject: { kind: 'Node', name: nodeName, uid: nodeName, apiVersion: 'v1' },
    reason,
    message,
    source: { component: COMPONENT },
    firstTimestamp: timestamp,
    lastTimestamp: timestamp,
    count: 1,
    type,
    reportingComponent: '',
    reportingInstance: '',
  }
}

export class NodeLifecycleController {
  private readonly options: NodeLifecycleOptions
  private readonly limiters = new Map<string, RateLimiter>()
  /** Nodes already told that no pod range is left (once per leadership, not every pass). */
  private readonly cidrNotAvailableReported = new Set<string>()
  private timer: Timer | undefined
  private running = false
  private stopped = false
  private suspended = false
  private zoneStatesValue = new Map<string, ZoneState>()
  /** When this controller first saw each node (monotonic ms). */
  private firstSeenMs = new Map<string, number>()

  constructor(options: NodeLifecycleOptions) {
    this.options = options
  }

  start(): void {
    this.tick()
  }

  stop(): void {
    this.stopped = true
    this.timer?.cancel()
  }

  get idle(): boolean {
    return !this.running
  }

  /** Zone states as of the last pass. */
  get zoneStates(): ReadonlyMap<string, ZoneState> {
    return this.zoneStatesValue
  }

  /** True when the last pass found evictions suspended (disruption mode or a minority leader). */
  get evictionsSuspended(): boolean {
    return this.suspended
  }

  private tick(): void {
    if (this.stopped) return
    this.timer = this.options.timers.after(this.options.monitorPeriodMs, () => this.tick())
    if (this.running) return
    this.running = true
    this.pass()
      .catch((error: Error) => {
        if (this.options.isFatal(error)) this.options.onFatal(error)
        else this.options.log(`node lifecycle: ${error.message}`)
      })
      .finally(() => (this.running = false))
  }

  /** One monitoring pass over every node. */
  private async pass(): Promise<void> {
    const { nodes, timers, liveness, nodeNotReadyGraceMs, selfNodeName, rates } = this.options
    const nowMs = timers.realtimeMs()
    const nowText = formatTime(nowMs)
    const all = nodes.list().sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0))
    const heard = new Map<string, boolean>()
    const monotonicMs = timers.monotonicMs()
    const seen = new Map<string, number>()
    const health: NodeHealth[] = all.map((node) => {
      const name = nameOf(node)
      // A node this controller has just started watching (it joined, or this leader is new) gets
      // a full grace period from now, as Kubernetes' probe timestamps do: silence from before we
      // looked proves nothing about a node that was only now registered.
      const firstSeenMs = this.firstSeenMs.get(name) ?? monotonicMs
      seen.set(name, firstSeenMs)
      const silentMs = name === selfNodeName ? 0 : Math.min(liveness.silentForMs(name), monotonicMs - firstSeenMs)
      const isHeard = silentMs <= nodeNotReadyGraceMs
      heard.set(name, isHeard)
      if (!isHeard && nodeReadyStatus(node) !== 'Unknown') this.options.log(`node lifecycle: ${name} not heard from for ${Number.isFinite(silentMs) ? `${Math.round(silentMs)} ms` : 'ever'}; marking it NotReady`)
      return { name, zone: zoneOf(node), ready: isHeard && nodeReadyStatus(node) !== 'False' }
    })
    this.firstSeenMs = seen
    const zoneStates = computeZoneStates(health, rates.unhealthyZoneThreshold)
    const suspended = evictionsSuspended(zoneStates, health, selfNodeName)
    if (suspended !== this.suspended) {
      this.options.log(suspended ? 'node lifecycle: every other node is unreachable; evictions suspended (disruption mode)' : 'node lifecycle: nodes are reachable again; evictions resumed')
    }
    this.suspended = suspended
    this.zoneStatesValue = zoneStates
    const zoneSizes = new Map<string, number>()
    for (const node of health) zoneSizes.set(node.zone, (zoneSizes.get(node.zone) ?? 0) + 1)
    const cidrs = new PodCidrAllocator(podCidrsInUse(all))
    const work: Promise<void>[] = []
    for (const node of all) {
      if (!this.options.isActive()) return
      const name = nameOf(node)
      const isHeard = heard.get(name) === true
      const zone = zoneOf(node)
      const allowNoExecute = (): boolean => {
        if (suspended) return false
        let limiter = this.limiters.get(zone)
        if (limiter === undefined) this.limiters.set(zone, (limiter = new RateLimiter()))
        const state = zoneStates.get(zone) ?? 'Normal'
        return limiter.tryTake(timers.monotonicMs(), zoneEvictionRatePerSecond(state, zoneSizes.get(zone) ?? 0, rates))
      }
      const plan = this.planNode(node, isHeard, cidrs, allowNoExecute, suspended, nowMs, nowText)
      if (plan.actions.length > 0) work.push(this.run(plan))
      if (!isHeard) work.push(...this.markPodsNotReady(name, nowMs, nowText))
    }
    await Promise.all(work)
    if (!suspended) await Promise.all(this.evictPods(nowMs))
  }

  /** The writes for one node: pod CIDR and taints (one update), conditions (status), events. */
  private planNode(node: JsonObject, isHeard: boolean, cidrs: PodCidrAllocator, allowNoExecute: () => boolean, suspended: boolean, nowMs: number, nowText: string): Plan {
    const actions: Action[] = []
    const name = nameOf(node)
    const readyStatus = nodeReadyStatus(node)
    let spec = specOf(node)
    let specChanged = false
    if (typeof spec['podCIDR'] !== 'string' || spec['podCIDR'] === '') {
      const cidr = cidrs.next()
      if (cidr !== undefined) {
        spec = { ...spec, podCIDR: cidr, podCIDRs: [cidr] }
        specChanged = true
      } else if (!this.cidrNotAvailableReported.has(name)) {
        // As kube's range allocator: the node runs no pods with their own network until a range frees up.
        this.cidrNotAvailableReported.add(name)
        actions.push({ type: 'event', event: nodeEvent(name, 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable (all ${POD_CIDRS_MAX} pod ranges of ${CLUSTER_CIDR} are in use)`, 'Warning', nowMs, 1) })
      }
    }
    const add: JsonObject[] = []
    const remove: { key: string; effect: string }[] = []
    if (!isHeard) {
      add.push(unreachableTaint('NoSchedule', nowText))
      if (hasTaint(node, TAINT_UNREACHABLE_KEY, 'NoExecute')) {
        if (suspended) remove.push({ key: TAINT_UNREACHABLE_KEY, effect: 'NoExecute' })
      } else if (allowNoExecute()) add.push(unreachableTaint('NoExecute', nowText))
      remove.push({ key: TAINT_NOT_READY_KEY, effect: 'NoSchedule' }, { key: TAINT_NOT_READY_KEY, effect: 'NoExecute' })
    } else {
      remove.push({ key: TAINT_UNREACHABLE_KEY, effect: 'NoSchedule' }, { key: TAINT_UNREACHABLE_KEY, effect: 'NoExecute' })
      if (readyStatus === 'False') {
        add.push({ key: TAINT_NOT_READY_KEY, effect: 'NoSchedule' })
        if (hasTaint(node, TAINT_NOT_READY_KEY, 'NoExecute')) {
          if (suspended) remove.push({ key: TAINT_NOT_READY_KEY, effect: 'NoExecute' })
        } else if (allowNoExecute()) add.push({ key: TAINT_NOT_READY_KEY, effect: 'NoExecute', timeAdded: nowText })
      } else remove.push({ key: TAINT_NOT_READY_KEY, effect: 'NoSchedule' }, { key: TAINT_NOT_READY_KEY, effect: 'NoExecute' })
    }
    const taints = changedTaints({ ...node, spec }, add, remove)
    if (taints !== undefined) {
      spec = { ...spec, taints }
      specChanged = true
    }
    if (specChanged) {
      const nextSpec = taints !== undefined && taints.length === 0 ? { ...spec, taints: null } : spec
      actions.push({ type: 'update', resource: NODES, namespace: '', name, object: { ...node, spec: nextSpec } })
    }
    if (!isHeard && readyStatus !== 'Unknown') {
      actions.push({ type: 'updateStatus', resource: NODES, namespace: '', name, object: { ...node, status: { ...(node['status'] as JsonObject), conditions: unknownNodeConditions(node, nowText) } } })
      actions.push({ type: 'event', event: nodeEvent(name, 'NodeNotReady', `Node ${name} status is now: NodeNotReady`, 'Normal', nowMs, 1) })
    } else if (isHeard && readyStatus === 'Unknown') {
      actions.push({ type: 'updateStatus', resource: NODES, namespace: '', name, object: { ...node, status: { ...(node['status'] as JsonObject), conditions: healthyNodeConditions(node, nowText) } } })
      actions.push({ type: 'event', event: nodeEvent(name, 'NodeReady', `Node ${name} status is now: NodeReady`, 'Normal', nowMs, 1) })
    }
    return { actions }
  }

  /** Pods on a silent node that still claim to be Ready are marked not ready (one write each). */
  private markPodsNotReady(nodeName: string, nowMs: number, nowText: string): Promise<void>[] {
    const work: Promise<void>[] = []
    for (const pod of this.options.pods.byIndex(BY_NODE, nodeName)) {
      const marked = podMarkedNotReady(pod, nowText)
      if (marked === undefined) continue
      const involved = { ...pod, kind: 'Pod', apiVersion: 'v1' }
      const event = newEvent({ involved, reason: 'NodeNotReady', message: 'Node is not ready', type: 'Warning', component: COMPONENT, nowMs, sequence: 0 })
      work.push(this.run({ actions: [{ type: 'updateStatus', resource: PODS, namespace: namespaceOf(pod), name: nameOf(pod), object: marked }, { type: 'event', event }] }))
    }
    return work
  }

  /** Deletes the pods whose tolerations of their node's NoExecute taints have run out. */
  private evictPods(nowMs: number): Promise<void>[] {
    const { nodes, pods, podEvictionTimeoutMs } = this.options
    const work: Promise<void>[] = []
    for (const node of nodes.list()) {
      if (!taintObjectsOf(node).some((taint) => taint['effect'] === 'NoExecute')) continue
      for (const pod of pods.byIndex(BY_NODE, nameOf(node))) {
        if (metadataOf(pod)['deletionTimestamp'] !== undefined) continue
        const evictAtMs = podEvictionAtMs(pod, node, podEvictionTimeoutMs)
        if (evictAtMs === undefined || evictAtMs > nowMs) continue
        const involved = { ...pod, kind: 'Pod', apiVersion: 'v1' }
        const message = `Marking for deletion Pod ${namespaceOf(pod)}/${nameOf(pod)}`
        const event = newEvent({ involved, reason: 'TaintManagerEviction', message, type: 'Normal', component: 'taint-controller', nowMs, sequence: 0 })
        work.push(this.run({ actions: [{ type: 'delete', resource: PODS, namespace: namespaceOf(pod), name: nameOf(pod), uid: uidOf(pod) }, { type: 'event', event }] }))
      }
    }
    return work
  }

  private async run(plan: Plan): Promise<void> {
    const result = await this.options.executor.execute(plan)
    if (result.completed || result.error === undefined) return
    if (this.options.isFatal(result.error)) return this.options.onFatal(result.error)
    // Conflicts and races are settled by the next pass, which starts from the updated caches.
    if ((result.error as { code?: unknown }).code !== 409 && (result.error as { code?: unknown }).code !== 404) this.options.log(`node lifecycle: ${result.error.message}`)
  }
}
