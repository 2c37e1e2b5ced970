/**
 * The rules of the node lifecycle controller, as pure functions (kube-controller-manager's
 * node_lifecycle_controller.go and its taint manager, with Flotilla's time scale):
 *
 * - Health: a node is ready when it has been heard from (gossip liveness, not status writes)
 *   within the grace period and does not report Ready=False itself.
 * - Zones: each zone (label topology.kubernetes.io/zone) is Normal, PartialDisruption (more than
 *   2 nodes and at least `unhealthyZoneThreshold` of them not ready) or FullDisruption (no ready
 *   node). Evicting nodes (the NoExecute taint) is rate limited per zone: Normal and
 *   FullDisruption zones at `evictionRatePerSecond`; PartialDisruption zones at
 *   `secondaryEvictionRatePerSecond` if the zone is larger than `largeClusterSizeThreshold`, else
 *   not at all — a zone losing most of its nodes at once is more likely cut off than dead.
 * - Disruption mode: when every zone is fully disrupted, no node is evicted and NoExecute taints
 *   are lifted (Kubernetes' "master disruption mode": the controller is more likely cut off than
 *   the whole cluster dead). Flotilla adds the explicit minority rule: a leader that hears no node
 *   but its own is in a minority partition — it could not even commit writes without a quorum —
 *   and must not evict anything either.
 * - Pods on a node with NoExecute taints are evicted when their toleration runs out (taint
 *   timeAdded + tolerationSeconds); for the lifecycle's own taints (unreachable, not-ready), a pod
 *   that does not tolerate them gets `podEvictionTimeoutMs` (what Kubernetes' DefaultTolerationSeconds
 *   admission adds as a 300 s toleration); any other untolerated NoExecute taint evicts at once.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { parseTaints, parseTolerations, toleratesTaint, type Taint } from '../../scheduler/taints.ts'
import { labelsOf, listAt, objectAt, parseTimeMs, specOf, statusOf } from '../object-fields.ts'

/** The taint key of nodes that stopped being heard from. */
export const TAINT_UNREACHABLE_KEY = 'node.kubernetes.io/unreachable'
/** The taint key of nodes that report themselves not ready. */
export const TAINT_NOT_READY_KEY = 'node.kubernetes.io/not-ready'
/** The zone label. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone'
const ZONE_LABEL_BETA = 'failure-domain.beta.kubernetes.io/zone'

export type ZoneState = 'Normal' | 'PartialDisruption' | 'FullDisruption'

/** What the controller decided about one node's health in this pass. */
export interface NodeHealth {
  readonly name: string
  readonly zone: string
  readonly ready: boolean
}

/** The rates and thresholds of zone-aware eviction. */
export interface EvictionRates {
  /** Nodes per second that may get the NoExecute taint in a healthy zone (kube: 0.1). */
  readonly evictionRatePerSecond: number
  /** The same in a partially disrupted large zone (kube: 0.01). */
  readonly secondaryEvictionRatePerSecond: number
  /** Fraction of not-ready nodes that makes a zone partially disrupted (kube: 0.55). */
  readonly unhealthyZoneThreshold: number
  /** Zones up to this size stop evicting when partially disrupted (kube: 50). */
  readonly largeClusterSizeThreshold: number
}

/** A node's zone ('' without the label). */
export function zoneOf(node: JsonObject): string {
  const labels = labelsOf(node)
  return labels[ZONE_LABEL] ?? labels[ZONE_LABEL_BETA] ?? ''
}

/** Kubernetes' ComputeZoneState for each zone of `health`. */
export function computeZoneStates(health: readonly NodeHealth[], unhealthyZoneThreshold: number): Map<string, ZoneState> {
  const counts = new Map<string, { ready: number; notReady: number }>()
  for (const node of health) {
    const count = counts.get(node.zone) ?? { ready: 0, notReady: 0 }
    if (node.ready) count.ready++
    else count.notReady++
    counts.set(node.zone, count)
  }
  const states = new Map<string, ZoneState>()
  for (const [zone, { ready, notReady }] of counts) {
    if (ready === 0 && notReady > 0) states.set(zone, 'FullDisruption')
    else if (notReady > 2 && notReady / (notReady + ready) >= unhealthyZoneThreshold) states.set(zone, 'PartialDisruption')
    else states.set(zone, 'Normal')
  }
  return states
}

/** How many nodes per second a zone in `state` with `zoneSize` nodes may have evicted. */
export function zoneEvictionRatePerSecond(state: ZoneState, zoneSize: number, rates: EvictionRates): number {
  if (state !== 'PartialDisruption') return rates.evictionRatePerSecond
  return zoneSize > rates.largeClusterSizeThreshold ? rates.secondaryEvictionRatePerSecond : 0
}

/**
 * True when nothing may be evicted: every zone is fully disrupted, or the leader (`selfName`) hears
 * no other node at all while there are others (it is the minority side of a partition).
 */
export function evictionsSuspended(zoneStates: ReadonlyMap<string, ZoneState>, health: readonly NodeHealth[], selfName: string | undefined): boolean {
  if (zoneStates.size > 0 && [...zoneStates.values()].every((state) => state === 'FullDisruption')) return true
  const others = health.filter((node) => node.name !== selfName)
  return others.length > 0 && others.every((node) => !node.ready)
}

/** The node's taints as stored (with timeAdded). */
export function taintObjectsOf(node: JsonObject): JsonObject[] {
  return listAt(specOf(node)['taints']).map(objectAt)
}

/** True when the node has a taint with `key` and `effect`. */
export function hasTaint(node: JsonObject, key: string, effect: string): boolean {
  return taintObjectsOf(node).some((taint) => taint['key'] === key && taint['effect'] === effect)
}

/**
 * The node's taints with `add` added (when no taint with that key and effect exists) and those
 * matching `remove` (key and effect) taken away; undefined when nothing changes.
 */
export function changedTaints(node: JsonObject, add: readonly JsonObject[], remove: readonly { key: string; effect: string }[]): JsonObject[] | undefined {
  const taints = taintObjectsOf(node)
  let next = taints.filter((taint) => !remove.some((gone) => gone.key === taint['key'] && gone.effect === taint['effect']))
  for (const taint of add) if (!next.some((existing) => existing['key'] === taint['key'] && existing['effect'] === taint['effect'])) next = [...next, taint]
  if (next.length === taints.length && next.every((taint, index) => taint === taints[index])) return undefined
  return next
}

/**
 * When the pod must be evicted from a node with these taints (epoch ms), or undefined when never
 * (no NoExecute taint, or tolerations without a time limit).
 */
export function podEvictionAtMs(pod: JsonObject, node: JsonObject, podEvictionTimeoutMs: number): number | undefined {
  const tolerations = parseTolerations(specOf(pod))
  let evictAtMs: number | undefined
  for (const taintObject of taintObjectsOf(node)) {
    if (taintObject['effect'] !== 'NoExecute') continue
    const taint = parseTaints({ spec: { taints: [taintObject] } })[0] as Taint | undefined
    if (taint === undefined) continue
    const addedMs = parseTimeMs(taintObject['timeAdded']) ?? 0
    const toleration = tolerations.find((candidate) => toleratesTaint(candidate, taint))
    let delayMs: number | undefined
    if (toleration === undefined) delayMs = taint.key === TAINT_UNREACHABLE_KEY || taint.key === TAINT_NOT_READY_KEY ? podEvictionTimeoutMs : 0
    else if (toleration.tolerationSeconds !== undefined) delayMs = Math.max(0, toleration.tolerationSeconds) * 1000
    if (delayMs === undefined) continue
    const atMs = addedMs + delayMs
    evictAtMs = evictAtMs === undefined ? atMs : Math.min(evictAtMs, atMs)
  }
  return evictAtMs
}

/**
 * The pod with Ready and ContainersReady False (Kubernetes' MarkPodsNotReady for pods on a node
 * that stopped reporting), or undefined when it is not ready already.
 */
export function podMarkedNotReady(pod: JsonObject, nowText: string): JsonObject | undefined {
  const status = statusOf(pod)
  const conditions = listAt(status['conditions']).map(objectAt)
  if (!conditions.some((condition) => condition['type'] === 'Ready' && condition['status'] === 'True')) return undefined
  const next = conditions.map((condition) =>
    condition['type'] === 'Ready' || condition['type'] === 'ContainersReady' ? { ...condition, status: 'False', lastTransitionTime: condition['status'] === 'False' ? (condition['lastTransitionTime'] ?? nowText) : nowText } : condition,
  )
  const containerStatuses = listAt(status['containerStatuses']).map((item) => ({ ...objectAt(item), ready: false }))
  return { ...pod, status: { ...status, conditions: next, ...(containerStatuses.length > 0 ? { containerStatuses } : {}) } }
}

/** A token bucket (burst 1), refilled at a rate that may change between takes. */
export class RateLimiter {
  private tokens = 1
  private lastMs: number | undefined

  /** Takes a token if one is available at `nowMs` under `ratePerSecond` (0: never). */
  tryTake(nowMs: number, ratePerSecond: number): boolean {
    if (this.lastMs !== undefined) this.tokens = Math.min(1, this.tokens + ((nowMs - this.lastMs) / 1000) * ratePerSecond)
    this.lastMs = nowMs
    if (ratePerSecond <= 0 || this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
