/**
 * Deployment conditions (`status.conditions`): the `Available` and `Progressing` entries that
 * `kubectl describe deployment` prints and `kubectl rollout status` checks for
 * ProgressDeadlineExceeded. Reasons and messages are Kubernetes' own, because scripts and users
 * match on them.
 */
import { cloneJson, isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { formatTime } from './object-fields.ts'

/** Condition reasons of the Deployment controller (deployment_util.go). */
export const DeploymentReason = {
  /** Progressing: a ReplicaSet was scaled as part of the rollout. */
  replicaSetUpdated: 'ReplicaSetUpdated',
  /** Progressing: the controller created the new ReplicaSet. */
  newReplicaSetCreated: 'NewReplicaSetCreated',
  /** Progressing: the new ReplicaSet already existed (adopted, or a rollback target). */
  foundNewReplicaSet: 'FoundNewReplicaSet',
  /** Progressing: the rollout completed. */
  newReplicaSetAvailable: 'NewReplicaSetAvailable',
  /** Progressing=False: no progress within progressDeadlineSeconds. */
  progressDeadlineExceeded: 'ProgressDeadlineExceeded',
  /** Progressing=Unknown while paused, so a long pause is not mistaken for a stall. */
  deploymentPaused: 'DeploymentPaused',
  deploymentResumed: 'DeploymentResumed',
  /** Available: at least replicas − maxUnavailable pods are available. */
  minimumReplicasAvailable: 'MinimumReplicasAvailable',
  minimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const

export type ConditionStatus = 'True' | 'False' | 'Unknown'

/** A condition before it is stamped with times. */
export interface ConditionSpec {
  readonly type: string
  readonly status: ConditionStatus
  readonly reason: string
  readonly message: string
}

/** The condition of `type` in a conditions list, if present. */
export function findCondition(conditions: readonly JsonValue[], type: string): JsonObject | undefined {
  for (const condition of conditions) {
    if (isJsonObject(condition) && condition['type'] === type) return condition
  }
  return undefined
}

/** The list without conditions of `type`. */
export function withoutCondition(conditions: readonly JsonValue[], type: string): JsonValue[] {
  return conditions.filter((condition) => !(isJsonObject(condition) && condition['type'] === type))
}

/** A condition stamped at `nowMs` (lastUpdateTime and lastTransitionTime both now). */
export function newCondition(spec: ConditionSpec, nowMs: number): JsonObject {
  const time = formatTime(nowMs)
  return { type: spec.type, status: spec.status, lastUpdateTime: time, lastTransitionTime: time, reason: spec.reason, message: spec.message }
}

/**
 * The list with `condition` set, as Kubernetes' SetDeploymentCondition does: unchanged when a
 * condition of that type already has the same status and reason; otherwise the new one replaces
 * it at the end of the list, keeping the old lastTransitionTime when only the reason changed.
 */
export function setCondition(conditions: readonly JsonValue[], condition: JsonObject): JsonValue[] {
  const current = findCondition(conditions, String(condition['type']))
  if (current !== undefined && current['status'] === condition['status'] && current['reason'] === condition['reason']) return [...conditions]
  const next = cloneJson(condition)
  if (current !== undefined && current['status'] === condition['status'] && current['lastTransitionTime'] !== undefined) {
    next['lastTransitionTime'] = current['lastTransitionTime']
  }
  return [...withoutCondition(conditions, String(condition['type'])), next]
}
