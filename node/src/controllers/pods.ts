/**
 * What workload controllers need to know about a pod: is it active (counts toward replicas), is it
 * ready, since when, and is it available (ready for at least minReadySeconds), plus the order in
 * which a controller deletes surplus pods. The rules are Kubernetes' (pkg/api/v1/pod and
 * controller_utils.go), so `kubectl get rs` shows the numbers users expect.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { isJsonObject } from '../api/machinery/canonical.ts'
import { isBeingDeleted, listAt, metadataOf, nameOf, numberAt, objectAt, parseTimeMs, specOf, statusOf, stringAt } from './object-fields.ts'

/** `status.phase`; a pod the API server just created is `Pending`. */
export function podPhase(pod: JsonObject): string {
  return stringAt(statusOf(pod)['phase'], 'Pending')
}

/**
 * True when the pod counts toward its controller's replicas: not finished (Succeeded/Failed) and
 * not being deleted. A terminating pod is on its way out and will be replaced.
 */
export function isPodActive(pod: JsonObject): boolean {
  const phase = podPhase(pod)
  return phase !== 'Succeeded' && phase !== 'Failed' && !isBeingDeleted(pod)
}

function readyCondition(pod: JsonObject): JsonObject | undefined {
  for (const condition of listAt(statusOf(pod)['conditions'])) {
    if (isJsonObject(condition) && condition['type'] === 'Ready') return condition
  }
  return undefined
}

/** True when the pod's `Ready` condition is `True`. */
export function isPodReady(pod: JsonObject): boolean {
  return readyCondition(pod)?.['status'] === 'True'
}

/** When the pod last became ready (the Ready condition's lastTransitionTime); undefined if not ready. */
export function podReadySinceMs(pod: JsonObject): number | undefined {
  const condition = readyCondition(pod)
  if (condition?.['status'] !== 'True') return undefined
  return parseTimeMs(condition['lastTransitionTime'])
}

/**
 * The earliest time the pod counts as available: when it has been ready for `minReadySeconds`.
 * Kubernetes requires `readySince + minReadySeconds` to be strictly before now, hence the +1 ms.
 * Undefined when the pod is not ready. With minReadySeconds 0 a ready pod is available at once,
 * even without a transition time.
 */
export function podAvailableAtMs(pod: JsonObject, minReadySeconds: number): number | undefined {
  if (!isPodReady(pod)) return undefined
  if (minReadySeconds <= 0) return Number.NEGATIVE_INFINITY
  const readySinceMs = podReadySinceMs(pod)
  if (readySinceMs === undefined) return undefined
  return readySinceMs + minReadySeconds * 1000 + 1
}

/** True when the pod has been ready for at least `minReadySeconds` at `nowMs`. */
export function isPodAvailable(pod: JsonObject, minReadySeconds: number, nowMs: number): boolean {
  const availableAtMs = podAvailableAtMs(pod, minReadySeconds)
  return availableAtMs !== undefined && availableAtMs <= nowMs
}

/** The sum of the restart counts of the pod's containers. */
export function podRestartCount(pod: JsonObject): number {
  let total = 0
  for (const status of listAt(statusOf(pod)['containerStatuses'])) total += numberAt(objectAt(status)['restartCount'], 0)
  return total
}

const PHASE_RANK: Readonly<Record<string, number>> = { Pending: 0, Unknown: 1, Running: 2 }

/**
 * Orders pods for deletion, the ones to delete first first, as Kubernetes' `ActivePods` does:
 * 1. not scheduled (no `spec.nodeName`) before scheduled;
 * 2. Pending before Unknown before Running;
 * 3. not ready before ready;
 * 4. ready for a shorter time before ready for longer;
 * 5. more container restarts before fewer;
 * 6. newer before older; then by name, so the order is total and deterministic.
 *
 * Kubernetes 1.20 also ranks pods doubled up on one node before step 4. We leave that out on
 * purpose: with it, an available pod could be deleted while a ready-but-not-yet-available one
 * survives, and the Deployment controller's availability arithmetic relies on a ReplicaSet that
 * scales down keeping its available pods for as long as it can.
 */
export function comparePodsForDeletion(a: JsonObject, b: JsonObject): number {
  const scheduledA = stringAt(specOf(a)['nodeName']) !== ''
  const scheduledB = stringAt(specOf(b)['nodeName']) !== ''
  if (scheduledA !== scheduledB) return scheduledA ? 1 : -1
  const phaseA = PHASE_RANK[podPhase(a)] ?? 1
  const phaseB = PHASE_RANK[podPhase(b)] ?? 1
  if (phaseA !== phaseB) return phaseA - phaseB
  const readyA = isPodReady(a)
  if (readyA !== isPodReady(b)) return readyA ? 1 : -1
  if (readyA) {
    // Ready longer means an earlier transition; an unknown transition counts as "just now".
    const sinceA = podReadySinceMs(a) ?? Number.POSITIVE_INFINITY
    const sinceB = podReadySinceMs(b) ?? Number.POSITIVE_INFINITY
    if (sinceA !== sinceB) return sinceA > sinceB ? -1 : 1
  }
  const restarts = podRestartCount(b) - podRestartCount(a)
  if (restarts !== 0) return restarts
  // A pod without a creation time counts as the newest, so it goes first.
  const createdA = parseTimeMs(metadataOf(a)['creationTimestamp']) ?? Number.POSITIVE_INFINITY
  const createdB = parseTimeMs(metadataOf(b)['creationTimestamp']) ?? Number.POSITIVE_INFINITY
  if (createdA !== createdB) return createdA > createdB ? -1 : 1
  return nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0
}

/** True when the pod's labels are a superset of `labels` (the template's labels). */
export function podHasLabels(pod: JsonObject, labels: Readonly<Record<string, string>>): boolean {
  const podLabels = objectAt(metadataOf(pod)['labels'])
  return Object.entries(labels).every(([key, value]) => podLabels[key] === value)
}
