/**
 * Taints (on nodes) and tolerations (on pods), with Kubernetes' matching rules
 * (k8s.io/api/core/v1 `Toleration.ToleratesTaint`).
 *
 * Effects: NoSchedule keeps new pods off the node; PreferNoSchedule only lowers the node's score;
 * NoExecute also keeps new pods off and evicts running pods that do not tolerate it, after the
 * toleration's `tolerationSeconds` when it has one (`noExecuteEvictionDelaySeconds`). For
 * scheduling, a NoExecute toleration with `tolerationSeconds` still tolerates: the seconds bound
 * how long a pod may stay, not whether it may arrive.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { numberAt, objectAt, objectsAt, stringAt } from './json-access.ts'

/** The effects a taint can have. */
export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute'

/** A node taint. */
export interface Taint {
  readonly key: string
  readonly value: string
  readonly effect: TaintEffect
}

/** A pod toleration; an empty key or effect matches every key or effect. */
export interface Toleration {
  readonly key: string
  /** `Equal` (the default) compares values; `Exists` matches any value. */
  readonly operator: string
  readonly value: string
  readonly effect: string
  /** Seconds a pod may stay on a node with a matching NoExecute taint; undefined = for ever. */
  readonly tolerationSeconds: number | undefined
}

/** The taint the node lifecycle puts on cordoned nodes (`kubectl cordon`). */
export const TAINT_NODE_UNSCHEDULABLE: Taint = { key: 'node.kubernetes.io/unschedulable', value: '', effect: 'NoSchedule' }

const EFFECTS: ReadonlySet<string> = new Set(['NoSchedule', 'PreferNoSchedule', 'NoExecute'])

/** The taints in `node.spec.taints`; entries with an unknown effect are ignored. */
export function parseTaints(node: JsonObject): readonly Taint[] {
  const taints: Taint[] = []
  for (const taint of objectsAt(objectAt(node, 'spec'), 'taints')) {
    const effect = stringAt(taint, 'effect')
    if (!EFFECTS.has(effect)) continue
    taints.push({ key: stringAt(taint, 'key'), value: stringAt(taint, 'value'), effect: effect as TaintEffect })
  }
  return taints
}

/** The tolerations in a pod spec. */
export function parseTolerations(spec: JsonObject | undefined): readonly Toleration[] {
  return objectsAt(spec, 'tolerations').map((toleration) => ({
    key: stringAt(toleration, 'key'),
    operator: stringAt(toleration, 'operator', 'Equal'),
    value: stringAt(toleration, 'value'),
    effect: stringAt(toleration, 'effect'),
    tolerationSeconds: numberAt(toleration, 'tolerationSeconds'),
  }))
}

/** True when the toleration matches the taint (key, operator/value and effect). */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== '' && toleration.effect !== taint.effect) return false
  if (toleration.key !== '' && toleration.key !== taint.key) return false
  switch (toleration.operator) {
    case '':
    case 'Equal':
      return toleration.value === taint.value
    case 'Exists':
      return true
    default:
      return false
  }
}

/** True when some toleration in the list tolerates the taint. */
export function taintTolerated(taint: Taint, tolerations: readonly Toleration[]): boolean {
  for (const toleration of tolerations) if (toleratesTaint(toleration, taint)) return true
  return false
}

/**
 * The first taint with one of `effects` that no toleration tolerates, in the node's order, or
 * undefined when the pod tolerates them all.
 */
export function firstUntoleratedTaint(
  taints: readonly Taint[],
  tolerations: readonly Toleration[],
  effects: ReadonlySet<TaintEffect>,
): Taint | undefined {
  for (const taint of taints) {
    if (effects.has(taint.effect) && !taintTolerated(taint, tolerations)) return taint
  }
  return undefined
}

/**
 * How long a pod already running on a node may stay once the node has these taints (the taint
 * manager's rule): 0 when some NoExecute taint is not tolerated; otherwise, taking for each
 * NoExecute taint the first toleration that matches it, the smallest of their
 * `tolerationSeconds` (negative values count as 0), or 'never' when none of them has seconds
 * (or the node has no NoExecute taint).
 */
export function noExecuteEvictionDelaySeconds(taints: readonly Taint[], tolerations: readonly Toleration[]): number | 'never' {
  let delaySeconds: number | 'never' = 'never'
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue
    const toleration = tolerations.find((candidate) => toleratesTaint(candidate, taint))
    if (toleration === undefined) return 0
    if (toleration.tolerationSeconds === undefined) continue
    const seconds = Math.max(0, toleration.tolerationSeconds)
    delaySeconds = delaySeconds === 'never' ? seconds : Math.min(delaySeconds, seconds)
  }
  return delaySeconds
}
