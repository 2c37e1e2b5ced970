/**
 * The HorizontalPodAutoscaler controller (autoscaling/v2) as a pure function, following
 * kube-controller-manager's podautoscaler (v1.20 semantics):
 *
 * 1. Read the scale target (Deployment, ReplicaSet or StatefulSet: `spec.replicas`, its selector
 *    and `status.replicas`, what the `/scale` subresource shows). Outside [minReplicas,
 *    maxReplicas] it is brought back to the bound; a target scaled to zero disables autoscaling.
 * 2. For each Resource metric (cpu, memory) with a Utilization or AverageValue target, from the
 *    pods' usage (hpa-metrics.ts): ratio = usage / target over the ready pods with samples;
 *    within the 10 % tolerance nothing changes, else desired = ceil(ratio × those pods). Pods
 *    without samples count as using 100 % of the target when scaling down and 0 when scaling up,
 *    and pods not yet ready as 0 when scaling up (CPU), so neither direction is overshot; if that
 *    correction flips the direction or lands within the tolerance, nothing changes. The largest
 *    proposal over the metrics wins.
 * 3. Stabilise: the highest recommendation of the scale-down window (default 300 s) caps a scale
 *    down, the lowest of the scale-up window (default 0 s) caps a scale up.
 * 4. Rate-limit by the behavior policies (default: up by max(4 pods, 100 %) per 15 s, down by
 *    100 % per 15 s), counting the scalings of each policy's period, then clamp to the bounds.
 * 5. Write `spec.replicas` of the target when it changes (event SuccessfulRescale), and the status
 *    (currentReplicas, desiredReplicas, currentMetrics, lastScaleTime, conditions AbleToScale,
 *    ScalingActive, ScalingLimited).
 *
 * The recommendations and scalings of the windows are controller memory in Kubernetes too
 * (lost on a restart); here they are an explicit input and output, `HpaHistory`.
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import { Quantity } from '../api/machinery/quantity.ts'
import { labelSelectorFromObject, type LabelSelectorObject } from '../api/machinery/selectors.ts'
import { quantityOf } from '../api/server/kinds/resource-lists.ts'
import { newEvent } from './events.ts'
import type { PodMetricsSource, PodUsage } from './hpa-metrics.ts'
import { equalIgnoringNullFields, formatTime, generationOf, isBeingDeleted, labelsOf, listAt, nameOf, namespaceOf, numberAt, objectAt, specOf, statusOf, stringAt } from './object-fields.ts'
import { DEPLOYMENTS, PlanBuilder, REPLICA_SETS, type Plan, type ResourceRef } from './plan.ts'
import { isPodReady, podPhase } from './pods.ts'

/** HorizontalPodAutoscalers: autoscaling/v2. */
export const HORIZONTAL_POD_AUTOSCALERS: ResourceRef = { group: 'autoscaling', resource: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler', apiVersion: 'autoscaling/v2', namespaced: true }
/** StatefulSets: apps/v1 (a scale target). */
export const STATEFUL_SETS_REF: ResourceRef = { group: 'apps', resource: 'statefulsets', kind: 'StatefulSet', apiVersion: 'apps/v1', namespaced: true }
/** The kinds an autoscaler can scale, by kind. */
export const SCALE_TARGETS: ReadonlyMap<string, ResourceRef> = new Map([
  ['Deployment', DEPLOYMENTS],
  ['ReplicaSet', REPLICA_SETS],
  ['StatefulSet', STATEFUL_SETS_REF],
])

export const HPA_CONTROLLER_NAME = 'horizontal-pod-autoscaler'
/** How often each autoscaler is evaluated (`--horizontal-pod-autoscaler-sync-period`). */
export const HPA_SYNC_PERIOD_MS = 15_000
/** Ratios within this of 1 change nothing (`--horizontal-pod-autoscaler-tolerance`). */
export const HPA_TOLERANCE = 0.1
/** The scale-down stabilisation window without behavior (`--horizontal-pod-autoscaler-downscale-stabilization`). */
export const DOWNSCALE_STABILIZATION_SECONDS_DEFAULT = 300

/** What the controller remembers of one autoscaler between evaluations. */
export interface HpaHistory {
  /** Recommendations (before stabilisation), oldest first. */
  readonly recommendations: ReadonlyArray<{ readonly atMs: number; readonly replicas: number }>
  /** Scalings: positive replicas added, negative removed. */
  readonly scalings: ReadonlyArray<{ readonly atMs: number; readonly change: number }>
}

export const EMPTY_HPA_HISTORY: HpaHistory = { recommendations: [], scalings: [] }

export interface HpaInputs {
  readonly autoscaler: JsonObject
  /** The scale target as just read; undefined when it could not be read (see targetError). */
  readonly target: JsonObject | undefined
  /** Why the target could not be read. */
  readonly targetError?: string
  /** Pods of the autoscaler's namespace (the target's selector picks its own). */
  readonly pods: readonly JsonObject[]
  /** Undefined when the cluster has no metrics pipeline. */
  readonly metrics: PodMetricsSource | undefined
  readonly history: HpaHistory
  readonly nowMs: number
}

export interface HpaResult {
  readonly plan: Plan
  /** The history to keep once the plan completed. */
  readonly history: HpaHistory
  /** The replicas the target is set to (or kept at). */
  readonly desiredReplicas: number
}

interface ScalingRules {
  readonly stabilizationWindowSeconds: number
  readonly selectPolicy: string
  readonly policies: ReadonlyArray<{ readonly type: string; readonly value: number; readonly periodSeconds: number }>
}

/** The scaling rules of one direction, with Kubernetes' defaults for what is left out. */
export function scalingRulesOf(autoscaler: JsonObject, direction: 'scaleUp' | 'scaleDown'): ScalingRules {
  const rules = objectAt(objectAt(specOf(autoscaler)['behavior'])[direction])
  const up = direction === 'scaleUp'
  const defaultPolicies = up
    ? [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }]
    : [{ type: 'Percent', value: 100, periodSeconds: 15 }]
  const policies = listAt(rules['policies'])
    .filter(isJsonObject)
    .map((policy) => ({ type: stringAt(policy['type']), value: numberAt(policy['value'], 0), periodSeconds: numberAt(policy['periodSeconds'], 15) }))
  return {
    stabilizationWindowSeconds: numberAt(rules['stabilizationWindowSeconds'], up ? 0 : DOWNSCALE_STABILIZATION_SECONDS_DEFAULT),
    selectPolicy: stringAt(rules['selectPolicy'], 'Max'),
    policies: policies.length > 0 ? policies : defaultPolicies,
  }
}

/** The result of one metric: a proposal, or why there is none. */
type MetricOutcome =
  | { readonly ok: true; readonly replicas: number; readonly description: string; readonly status: JsonObject }
  | { readonly ok: false; readonly reason: string; readonly message: string }

interface PodSample {
  readonly usage: number
  /** What the target means for this pod: request × utilization %, or the average value. */
  readonly targetShare: number
  readonly request: number
}

function usageOfResource(usage: PodUsage, resource: string): number {
  return resource === 'cpu' ? usage.cpuMillicores : usage.memoryBytes
}

/** A quantity in the unit usage is measured in: millicores for cpu, bytes for memory. */
function amountOf(quantity: Quantity, resource: string): number {
  return Number(resource === 'cpu' ? quantity.toMilli() : quantity.value())
}

function formatAmount(amount: number, resource: string): string {
  return resource === 'cpu' ? Quantity.fromMilli(Math.round(amount)).toString() : Quantity.fromUnits(Math.round(amount), 'BinarySI').toString()
}

/** The pod's request of `resource` (sum over containers); undefined when a container states none. */
function podRequest(pod: JsonObject, resource: string): number | undefined {
  let total = 0
  for (const container of listAt(specOf(pod)['containers'])) {
    const request = quantityOf(objectAt(objectAt(objectAt(container)['resources'])['requests'])[resource])
    if (request === undefined) return undefined
    total += amountOf(request, resource)
  }
  return total
}

/** The replicas one Resource metric asks for (`GetResourceReplicas` / `GetRawResourceReplicas`). */
function resourceMetricReplicas(metric: JsonObject, pods: readonly JsonObject[], currentReplicas: number, metrics: PodMetricsSource | undefined): MetricOutcome {
  const source = objectAt(metric['resource'])
  const resource = stringAt(source['name'])
  const target = objectAt(source['target'])
  const targetUtilization = numberAt(target['averageUtilization'], 0)
  const targetAverage = quantityOf(target['averageValue'])
  const failed = (message: string): MetricOutcome => ({ ok: false, reason: 'FailedGetResourceMetric', message: `the HPA was unable to compute the replica count: ${message}` })
  if (resource !== 'cpu' && resource !== 'memory') return failed(`unable to get metrics for resource ${resource}: only cpu and memory are measured`)
  if (metrics === undefined) return failed(`unable to get metrics for resource ${resource}: no metrics source is configured (the node agents' stats are not collected yet)`)
  if (pods.length === 0) return failed('no pods returned by selector while calculating replica count')
  const ready: PodSample[] = []
  const missing: PodSample[] = []
  const unready: PodSample[] = []
  let sampled = 0
  for (const pod of pods) {
    const request = podRequest(pod, resource)
    if (targetAverage === undefined && request === undefined) return failed(`missing request for ${resource} in pod ${nameOf(pod)}`)
    const targetShare = targetAverage !== undefined ? amountOf(targetAverage, resource) : ((request ?? 0) * targetUtilization) / 100
    const usage = metrics.podUsage(namespaceOf(pod), nameOf(pod))
    if (usage === undefined) {
      missing.push({ usage: 0, targetShare, request: request ?? 0 })
      continue
    }
    sampled++
    const sample = { usage: usageOfResource(usage, resource), targetShare, request: request ?? 0 }
    // A pod not running and ready says little about load (CPU spikes while starting): the
    // controller treats it as idle when scaling up and leaves it out otherwise.
    const isReady = podPhase(pod) === 'Running' && (resource !== 'cpu' || isPodReady(pod))
    ;(isReady ? ready : unready).push(sample)
  }
  if (sampled === 0) return failed(`unable to get metrics for resource ${resource}: no metrics returned from resource metrics API`)
  const sum = (samples: readonly PodSample[], field: keyof PodSample): number => samples.reduce((total, sample) => total + sample[field], 0)
  const describe = targetAverage !== undefined ? `${resource} resource` : `${resource} resource utilization (percentage of request)`
  const averageUsage = ready.length > 0 ? sum(ready, 'usage') / ready.length : 0
  const current: JsonObject = { averageValue: formatAmount(averageUsage, resource) }
  if (targetAverage === undefined && sum(ready, 'request') > 0) current['averageUtilization'] = Math.round((sum(ready, 'usage') * 100) / sum(ready, 'request'))
  const status: JsonObject = { type: 'Resource', resource: { name: resource, current } }
  if (ready.length === 0 && unready.length > 0 && missing.length === 0) {
    // Only unready pods reported: nothing trustworthy to act on.
    return { ok: true, replicas: currentReplicas, description: describe, status }
  }
  const targetTotal = sum(ready, 'targetShare')
  const ratio = targetTotal > 0 ? sum(ready, 'usage') / targetTotal : 1
  const scaleUpIgnoresUnready = ratio > 1 && unready.length > 0
  if (missing.length === 0 && !scaleUpIgnoresUnready) {
    if (Math.abs(ratio - 1) <= HPA_TOLERANCE) return { ok: true, replicas: currentReplicas, description: describe, status }
    return { ok: true, replicas: Math.ceil(ratio * ready.length), description: describe, status }
  }
  // Rebalance: pods without samples use all of their share when scaling down, none when scaling
  // up; unready pods count as idle when scaling up.
  const assumedMissing = missing.map((sample) => ({ ...sample, usage: ratio < 1 ? sample.targetShare : 0 }))
  const assumedUnready = scaleUpIgnoresUnready ? unready.map((sample) => ({ ...sample, usage: 0 })) : []
  const assumed = [...ready, ...assumedMissing, ...assumedUnready]
  const newTargetTotal = sum(assumed, 'targetShare')
  const newRatio = newTargetTotal > 0 ? sum(assumed, 'usage') / newTargetTotal : 1
  if (Math.abs(newRatio - 1) <= HPA_TOLERANCE || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1)) return { ok: true, replicas: currentReplicas, description: describe, status }
  return { ok: true, replicas: Math.ceil(newRatio * assumed.length), description: describe, status }
}

/** The target's pods: selected, not being deleted, not failed. */
function targetPods(target: JsonObject, pods: readonly JsonObject[]): JsonObject[] {
  const selectorObject = specOf(target)['selector']
  if (!isJsonObject(selectorObject)) return []
  let selector
  try {
    selector = labelSelectorFromObject(selectorObject as unknown as LabelSelectorObject)
  } catch {
    return []
  }
  const namespace = namespaceOf(target)
  return pods.filter((pod) => namespaceOf(pod) === namespace && !isBeingDeleted(pod) && podPhase(pod) !== 'Failed' && selector.matches(labelsOf(pod)))
}

/** Replicas the policies allow at most (`calculateScaleUpLimitWithScalingRules`). */
function scaleUpLimit(currentReplicas: number, history: HpaHistory, rules: ScalingRules, nowMs: number): number {
  if (rules.selectPolicy === 'Disabled') return currentReplicas
  const proposals = rules.policies.map((policy) => {
    const added = history.scalings.filter((scaling) => scaling.change > 0 && scaling.atMs > nowMs - policy.periodSeconds * 1000).reduce((total, scaling) => total + scaling.change, 0)
    const periodStart = currentReplicas - added
    return policy.type === 'Pods' ? periodStart + policy.value : Math.ceil(periodStart * (1 + policy.value / 100))
  })
  return rules.selectPolicy === 'Min' ? Math.min(...proposals) : Math.max(...proposals)
}

/** Replicas the policies allow at least (`calculateScaleDownLimitWithBehaviors`). */
function scaleDownLimit(currentReplicas: number, history: HpaHistory, rules: ScalingRules, nowMs: number): number {
  if (rules.selectPolicy === 'Disabled') return currentReplicas
  const proposals = rules.policies.map((policy) => {
    const removed = history.scalings.filter((scaling) => scaling.change < 0 && scaling.atMs > nowMs - policy.periodSeconds * 1000).reduce((total, scaling) => total - scaling.change, 0)
    const periodStart = currentReplicas + removed
    return policy.type === 'Pods' ? periodStart - policy.value : Math.trunc(periodStart * (1 - policy.value / 100))
  })
  // Max means the policy allowing the biggest change, which for scaling down is the lowest count.
  return rules.selectPolicy === 'Min' ? Math.max(...proposals) : Math.min(...proposals)
}

interface Condition {
  readonly type: string
  readonly status: 'True' | 'False'
  readonly reason: string
  readonly message: string
}

/** The condition list with `wanted` set, keeping each condition's transition time when its status stands. */
function mergeConditions(existing: readonly JsonObject[], wanted: readonly Condition[], nowMs: number): JsonObject[] {
  return wanted.map((condition) => {
    const previous = existing.find((item) => item['type'] === condition.type)
    const lastTransitionTime = previous !== undefined && previous['status'] === condition.status ? stringAt(previous['lastTransitionTime'], formatTime(nowMs)) : formatTime(nowMs)
    return { type: condition.type, status: condition.status, lastTransitionTime, reason: condition.reason, message: condition.message }
  })
}

/** Forgets what no window or period can need any more. */
function pruneHistory(history: HpaHistory, autoscaler: JsonObject, nowMs: number): HpaHistory {
  const up = scalingRulesOf(autoscaler, 'scaleUp')
  const down = scalingRulesOf(autoscaler, 'scaleDown')
  const windowMs = Math.max(up.stabilizationWindowSeconds, down.stabilizationWindowSeconds) * 1000
  const periodMs = Math.max(0, ...up.policies.map((policy) => policy.periodSeconds), ...down.policies.map((policy) => policy.periodSeconds)) * 1000
  return {
    recommendations: history.recommendations.filter((entry) => entry.atMs > nowMs - windowMs),
    scalings: history.scalings.filter((entry) => entry.atMs > nowMs - periodMs),
  }
}

/** Evaluates one autoscaler. */
export function reconcileHorizontalPodAutoscaler(inputs: HpaInputs): HpaResult {
  const { autoscaler, target, nowMs } = inputs
  const plan = new PlanBuilder().requeueAfter(HPA_SYNC_PERIOD_MS)
  const spec = specOf(autoscaler)
  const status = statusOf(autoscaler)
  const minReplicas = numberAt(spec['minReplicas'], 1)
  const maxReplicas = numberAt(spec['maxReplicas'], minReplicas)
  const reference = objectAt(spec['scaleTargetRef'])
  const referenceText = `${stringAt(reference['kind'])}/${stringAt(reference['name'])}`
  const existingConditions = listAt(status['conditions']).filter(isJsonObject)
  const history = pruneHistory(inputs.history, autoscaler, nowMs)
  let eventSequence = 0
  const event = (type: 'Normal' | 'Warning', reason: string, message: string): void => {
    plan.add({ type: 'event', event: newEvent({ involved: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', ...autoscaler }, reason, message, type, component: HPA_CONTROLLER_NAME, nowMs, sequence: eventSequence++ }) })
  }
  const writeStatus = (fields: JsonObject, conditions: readonly Condition[]): void => {
    const next: JsonObject = { ...status, observedGeneration: generationOf(autoscaler), ...fields, conditions: mergeConditions(existingConditions, conditions, nowMs) }
    if (equalIgnoringNullFields(next, status)) return
    plan.add({ type: 'updateStatus', resource: HORIZONTAL_POD_AUTOSCALERS, namespace: namespaceOf(autoscaler), name: nameOf(autoscaler), object: { ...autoscaler, status: next } })
  }
  const currentStatusReplicas = numberAt(status['currentReplicas'], 0)
  const previousDesired = numberAt(status['desiredReplicas'], 0)

  if (target === undefined || isBeingDeleted(autoscaler)) {
    const message = `the HPA controller was unable to get the target's current scale: ${inputs.targetError ?? `${referenceText} not found`}`
    if (!isBeingDeleted(autoscaler)) event('Warning', 'FailedGetScale', inputs.targetError ?? `${referenceText} not found`)
    writeStatus({ currentReplicas: currentStatusReplicas, desiredReplicas: previousDesired }, [{ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message }])
    return { plan: plan.build(), history, desiredReplicas: previousDesired }
  }

  const currentReplicas = numberAt(specOf(target)['replicas'], 1)
  const statusReplicas = numberAt(statusOf(target)['replicas'], 0)
  const conditions: Condition[] = []
  let desired: number
  let rescaleReason = ''
  let currentMetrics: JsonObject[] | undefined = listAt(status['currentMetrics']).filter(isJsonObject)
  let scalingActive: Condition
  let ableToScale: Condition = { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' }
  let limited: Condition = { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' }
  let nextHistory = history

  if (currentReplicas === 0 && minReplicas !== 0) {
    desired = 0
    currentMetrics = undefined
    scalingActive = { type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' }
  } else if (currentReplicas > maxReplicas) {
    desired = maxReplicas
    rescaleReason = 'Current number of replicas above Spec.MaxReplicas'
    scalingActive = { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: 'the HPA was able to successfully calculate a replica count' }
    limited = { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' }
  } else if (currentReplicas < minReplicas) {
    desired = minReplicas
    rescaleReason = 'Current number of replicas below Spec.MinReplicas'
    scalingActive = { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: 'the HPA was able to successfully calculate a replica count' }
    limited = { type: 'ScalingLimited', status: 'True', reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' }
  } else {
    const pods = targetPods(target, inputs.pods)
    const outcomes = listAt(spec['metrics']).filter(isJsonObject).map((metric): MetricOutcome => {
      const type = stringAt(metric['type'])
      if (type === 'Resource') return resourceMetricReplicas(metric, pods, currentReplicas, inputs.metrics)
      return { ok: false, reason: `FailedGet${type}Metric`, message: `the HPA was unable to compute the replica count: ${type} metrics are not supported by Flotilla` }
    })
    const valid = outcomes.filter((outcome) => outcome.ok)
    const failures = outcomes.filter((outcome) => !outcome.ok)
    let proposal = 0
    let proposalDescription = ''
    for (const outcome of valid) {
      if (outcome.replicas > proposal || proposalDescription === '') {
        proposal = outcome.replicas
        proposalDescription = outcome.description
      }
    }
    const firstFailure = failures[0]
    if (firstFailure !== undefined && (valid.length === 0 || proposal < currentReplicas)) {
      // As Kubernetes: with any metric failing, never scale down on the others' word.
      event('Warning', firstFailure.reason, firstFailure.message.replace('the HPA was unable to compute the replica count: ', ''))
      writeStatus(
        { currentReplicas: statusReplicas, desiredReplicas: previousDesired, ...(valid.length > 0 ? { currentMetrics: valid.map((outcome) => outcome.status) } : {}) },
        [
          { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: 'the HPA controller was able to get the target\'s current scale' },
          { type: 'ScalingActive', status: 'False', reason: firstFailure.reason, message: firstFailure.message },
        ],
      )
      return { plan: plan.build(), history, desiredReplicas: currentReplicas }
    }
    currentMetrics = valid.map((outcome) => outcome.status)
    scalingActive = { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `the HPA was able to successfully calculate a replica count from ${proposalDescription}` }
    rescaleReason = proposal > currentReplicas ? `${proposalDescription} above target` : 'All metrics below target'

    // Stabilise over the windows.
    const recommendations = [...history.recommendations, { atMs: nowMs, replicas: proposal }]
    nextHistory = { ...history, recommendations }
    const upRules = scalingRulesOf(autoscaler, 'scaleUp')
    const downRules = scalingRulesOf(autoscaler, 'scaleDown')
    const within = (windowSeconds: number): number[] => recommendations.filter((entry) => entry.atMs > nowMs - windowSeconds * 1000 || entry.atMs === nowMs).map((entry) => entry.replicas)
    const upRecommendation = Math.min(...within(upRules.stabilizationWindowSeconds))
    const downRecommendation = Math.max(...within(downRules.stabilizationWindowSeconds))
    let stabilized = currentReplicas
    if (upRecommendation > currentReplicas) stabilized = upRecommendation
    if (downRecommendation < currentReplicas) stabilized = downRecommendation
    if (stabilized !== proposal) {
      ableToScale = proposal < currentReplicas
        ? { type: 'AbleToScale', status: 'True', reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' }
        : { type: 'AbleToScale', status: 'True', reason: 'ScaleUpStabilized', message: 'recent recommendations were lower than current one, applying the lowest recent recommendation' }
    }
    // Rate limits, then bounds.
    desired = stabilized
    if (desired > currentReplicas) {
      const rateLimit = Math.max(currentReplicas, scaleUpLimit(currentReplicas, history, upRules, nowMs))
      if (maxReplicas < rateLimit && desired > maxReplicas) {
        desired = maxReplicas
        limited = { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' }
      } else if (desired > rateLimit) {
        desired = rateLimit
        limited = { type: 'ScalingLimited', status: 'True', reason: 'ScaleUpLimit', message: 'the desired replica count is increasing faster than the maximum scale rate' }
      }
    } else if (desired < currentReplicas) {
      const rateLimit = Math.min(currentReplicas, scaleDownLimit(currentReplicas, history, downRules, nowMs))
      if (minReplicas > rateLimit && desired < minReplicas) {
        desired = minReplicas
        limited = { type: 'ScalingLimited', status: 'True', reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' }
      } else if (desired < rateLimit) {
        desired = rateLimit
        limited = { type: 'ScalingLimited', status: 'True', reason: 'ScaleDownLimit', message: 'the desired replica count is decreasing faster than the maximum scale rate' }
      }
    }
    if (desired < minReplicas) {
      desired = minReplicas
      limited = { type: 'ScalingLimited', status: 'True', reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' }
    }
    if (desired > maxReplicas) {
      desired = maxReplicas
      limited = { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' }
    }
  }

  let lastScaleTime = status['lastScaleTime']
  if (desired !== currentReplicas) {
    const targetRef = SCALE_TARGETS.get(stringAt(target['kind'], stringAt(reference['kind'])))
    if (targetRef !== undefined) {
      plan.add({ type: 'update', resource: targetRef, namespace: namespaceOf(target), name: nameOf(target), object: { ...target, spec: { ...specOf(target), replicas: desired } } })
      event('Normal', 'SuccessfulRescale', `New size: ${desired}; reason: ${rescaleReason}`)
      ableToScale = { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${desired}` }
      lastScaleTime = formatTime(nowMs)
      nextHistory = { ...nextHistory, scalings: [...nextHistory.scalings, { atMs: nowMs, change: desired - currentReplicas }] }
    }
  }
  conditions.push(ableToScale, scalingActive, limited)
  const fields: JsonObject = { currentReplicas: statusReplicas, desiredReplicas: desired }
  if (lastScaleTime !== undefined && lastScaleTime !== null) fields['lastScaleTime'] = lastScaleTime
  fields['currentMetrics'] = currentMetrics ?? null
  writeStatus(fields, conditions)
  return { plan: plan.build(), history: nextHistory, desiredReplicas: desired }
}
