/**
 * Node conditions as the kubelet reports them (Ready and the three pressure conditions) and as
 * the node lifecycle controller overwrites them when a node goes silent (every condition Unknown,
 * reason NodeStatusUnknown). Shared by the node agent's registration and the lifecycle controller
 * so that both write exactly what `kubectl describe node` shows on a real cluster.
 *
 * Times follow Kubernetes: `lastHeartbeatTime` is when the status was last posted;
 * `lastTransitionTime` moves only when the condition's status changes.
 */
import type { JsonObject, JsonValue } from '../../api/machinery/canonical.ts'
import { listAt, objectAt, statusOf } from '../object-fields.ts'

/** The condition types the kubelet posts, in its order. */
export const NODE_CONDITION_TYPES = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'] as const

const HEALTHY: Readonly<Record<string, { status: string; reason: string; message: string }>> = {
  MemoryPressure: { status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
  DiskPressure: { status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
  PIDPressure: { status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
  Ready: { status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
}

/** Why the lifecycle controller set a condition to Unknown. */
export const NODE_STATUS_UNKNOWN_REASON = 'NodeStatusUnknown'
export const NODE_STATUS_UNKNOWN_MESSAGE = 'Kubelet stopped posting node status.'

/** The node's conditions by type. */
export function nodeConditions(node: JsonObject): Map<string, JsonObject> {
  const conditions = new Map<string, JsonObject>()
  for (const condition of listAt(statusOf(node)['conditions'])) {
    const object = objectAt(condition)
    if (typeof object['type'] === 'string') conditions.set(object['type'], object)
  }
  return conditions
}

/** `status` of the Ready condition: 'True', 'False', 'Unknown', or undefined without one. */
export function nodeReadyStatus(node: JsonObject): string | undefined {
  const status = nodeConditions(node).get('Ready')?.['status']
  return typeof status === 'string' ? status : undefined
}

function transitionTime(previous: JsonObject | undefined, status: string, nowText: string): JsonValue {
  return previous !== undefined && previous['status'] === status && typeof previous['lastTransitionTime'] === 'string' ? previous['lastTransitionTime'] : nowText
}

/** The conditions of a healthy node, as its kubelet posts them at `nowText`. */
export function healthyNodeConditions(node: JsonObject | undefined, nowText: string): JsonObject[] {
  const previous = node === undefined ? new Map<string, JsonObject>() : nodeConditions(node)
  return NODE_CONDITION_TYPES.map((type) => {
    const healthy = HEALTHY[type] as { status: string; reason: string; message: string }
    return {
      type,
      status: healthy.status,
      lastHeartbeatTime: nowText,
      lastTransitionTime: transitionTime(previous.get(type), healthy.status, nowText),
      reason: healthy.reason,
      message: healthy.message,
    }
  })
}

/**
 * The conditions of a node whose agent went silent: every condition Unknown with reason
 * NodeStatusUnknown; heartbeat times are kept (they say when it was last heard of).
 */
export function unknownNodeConditions(node: JsonObject, nowText: string): JsonObject[] {
  const previous = nodeConditions(node)
  const types = [...NODE_CONDITION_TYPES, ...[...previous.keys()].filter((type) => !(NODE_CONDITION_TYPES as readonly string[]).includes(type))]
  return types.map((type) => {
    const before = previous.get(type)
    return {
      type,
      status: 'Unknown',
      lastHeartbeatTime: before?.['lastHeartbeatTime'] ?? nowText,
      lastTransitionTime: transitionTime(before, 'Unknown', nowText),
      reason: NODE_STATUS_UNKNOWN_REASON,
      message: NODE_STATUS_UNKNOWN_MESSAGE,
    }
  })
}
