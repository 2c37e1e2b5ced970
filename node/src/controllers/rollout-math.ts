/**
 * The arithmetic of Deployment rollouts: resolving `maxSurge`/`maxUnavailable` (integers or
 * percentages of the desired replicas), how far the new ReplicaSet may grow, and how a scaling
 * event is shared among ReplicaSets in proportion to their sizes. Pure integer functions, named
 * and rounded as in Kubernetes' deployment_util.go so that rollouts step the way users expect.
 */
import type { JsonValue } from '../api/machinery/canonical.ts'

/**
 * An int-or-string value (`3` or `"25%"`) against `total`. Percentages round up for surge and
 * down for unavailability (`roundUp`), so small Deployments still make progress: 25% of 1 is a
 * surge of 1 and an unavailability of 0. Undefined when the value is neither (validation's job).
 */
export function valueFromIntOrPercent(value: JsonValue | undefined, total: number, roundUp: boolean): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined
  if (typeof value !== 'string') return undefined
  const match = /^(-?\d+)%$/.exec(value)
  // Kubernetes rejects a string without '%' ("3") as well: strings must be percentages.
  if (match === null) return undefined
  const percent = Number(match[1])
  const exact = (percent * total) / 100
  return roundUp ? Math.ceil(exact) : Math.floor(exact)
}

/** The resolved rolling-update bounds, in pods. */
export interface Fenceposts {
  readonly maxSurge: number
  readonly maxUnavailable: number
}

/**
 * Resolves maxSurge and maxUnavailable together (absent values are 0, invalid ones too). When both
 * come out 0, maxUnavailable becomes 1: validation forbids 0/0, but rounding down can produce it,
 * and a rollout that may neither add nor remove a pod would never move.
 */
export function resolveFenceposts(maxSurge: JsonValue | undefined, maxUnavailable: JsonValue | undefined, desired: number): Fenceposts {
  const surge = valueFromIntOrPercent(maxSurge ?? 0, desired, true) ?? 0
  let unavailable = valueFromIntOrPercent(maxUnavailable ?? 0, desired, false) ?? 0
  if (surge === 0 && unavailable === 0) unavailable = 1
  return { maxSurge: Math.max(0, surge), maxUnavailable: Math.max(0, unavailable) }
}

/**
 * How many replicas a new ReplicaSet should have during a rolling update: grow toward `desired`
 * while all ReplicaSets together stay within `desired + maxSurge`; never shrink here.
 */
export function newReplicaSetReplicasRolling(options: { desired: number; maxSurge: number; totalReplicas: number; newReplicas: number }): number {
  const maxTotal = options.desired + options.maxSurge
  if (options.totalReplicas >= maxTotal) return options.newReplicas
  const scaleUp = Math.min(maxTotal - options.totalReplicas, options.desired - options.newReplicas)
  return options.newReplicas + Math.max(0, scaleUp)
}

/** Go's math.Round for the positive and negative halves (away from zero). */
function roundHalfAwayFromZero(value: number): number {
  return value < 0 ? -Math.round(-value) : Math.round(value)
}

/**
 * The share of a scaling event one ReplicaSet gets (Kubernetes' GetProportion): its size scaled
 * from the Deployment size it was last sized for (`annotatedMaxReplicas`, the max-replicas
 * annotation) to the new `deploymentMaxReplicas` (replicas + maxSurge), bounded by what is left
 * to distribute. Scaling to zero takes a ReplicaSet's whole size.
 */
export function replicaSetProportion(options: {
  readonly replicaSetReplicas: number
  readonly annotatedMaxReplicas: number
  readonly deploymentReplicas: number
  readonly deploymentMaxReplicas: number
  readonly toAdd: number
  readonly added: number
}): number {
  const { replicaSetReplicas, toAdd, added } = options
  if (replicaSetReplicas === 0 || toAdd === 0 || toAdd === added) return 0
  let fraction: number
  if (options.deploymentReplicas === 0) fraction = -replicaSetReplicas
  else if (options.annotatedMaxReplicas <= 0) fraction = 0
  else fraction = roundHalfAwayFromZero((replicaSetReplicas * options.deploymentMaxReplicas) / options.annotatedMaxReplicas) - replicaSetReplicas
  const allowed = toAdd - added
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed)
}
