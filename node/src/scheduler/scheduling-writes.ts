/**
 * The objects the scheduling controller writes for its decisions, built here so that the decision
 * and its visible result stay pure and testable:
 *
 * - a binding: the v1 Binding object (what `POST pods/<name>/binding` takes), the pod updated with
 *   `spec.nodeName` and condition PodScheduled=True, and a Normal `Scheduled` Event
 *   ("Successfully assigned ns/pod to node");
 * - a failure: the pod with PodScheduled=False (reason Unschedulable, the summary message) and a
 *   Warning `FailedScheduling` Event with the same message.
 *
 * Events are core/v1 Events, the kind `kubectl describe` lists. Counting repeats of an identical
 * event (count, lastTimestamp) is the event writer's job, not this module's.
 *
 * Updated pods share unchanged subtrees (metadata, containers) with the input instead of deep
 * copying 10,000 pods per batch: treat both as immutable.
 */
import type { JsonObject, JsonValue } from '../api/machinery/canonical.ts'
import { arrayAt, objectAt, stringAt } from './json-access.ts'
import type { BatchResult } from './schedule.ts'

/** The scheduler's name, in `spec.schedulerName` and in Events' source. */
export const SCHEDULER_NAME = 'default-scheduler'

/** When the writes happen and who reports them. */
export interface WriteOptions {
  readonly now: Date
  /** Events' `reportingInstance` (the leader's node name, say); defaults to SCHEDULER_NAME. */
  readonly reportingInstance?: string
}

/** What to write for one binding. */
export interface BindingWrites {
  readonly binding: JsonObject
  readonly pod: JsonObject
  readonly event: JsonObject
}

/** What to write for one pod that fits nowhere. */
export interface FailureWrites {
  readonly pod: JsonObject
  readonly event: JsonObject
}

/**
 * True when the pod is waiting for this scheduler: no node yet, `spec.schedulerName` is ours (or
 * absent), not finished, not being deleted, and no scheduling gates.
 */
export function needsScheduling(pod: JsonObject, schedulerName = SCHEDULER_NAME): boolean {
  const spec = objectAt(pod, 'spec')
  const metadata = objectAt(pod, 'metadata')
  if (stringAt(spec, 'nodeName') !== '') return false
  if (stringAt(spec, 'schedulerName', SCHEDULER_NAME) !== schedulerName) return false
  if (metadata?.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null) return false
  if (arrayAt(spec, 'schedulingGates').length > 0) return false
  const phase = stringAt(objectAt(pod, 'status'), 'phase')
  return phase !== 'Succeeded' && phase !== 'Failed'
}

/** The v1 Binding that assigns the pod to the node. */
export function bindingObject(pod: JsonObject, nodeName: string): JsonObject {
  const metadata = objectAt(pod, 'metadata')
  const bindingMetadata: JsonObject = { name: stringAt(metadata, 'name'), namespace: stringAt(metadata, 'namespace', 'default') }
  const uid = stringAt(metadata, 'uid')
  if (uid !== '') bindingMetadata.uid = uid
  return { apiVersion: 'v1', kind: 'Binding', metadata: bindingMetadata, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } }
}

/** The pod bound to `nodeName`, with PodScheduled=True. */
export function boundPod(pod: JsonObject, nodeName: string, now: Date): JsonObject {
  const spec = objectAt(pod, 'spec') ?? {}
  return withPodScheduled({ ...pod, spec: { ...spec, nodeName } }, { type: 'PodScheduled', status: 'True' }, now)
}

/** The pod with PodScheduled=False, reason Unschedulable and the summary message. */
export function unschedulablePod(pod: JsonObject, message: string, now: Date): JsonObject {
  return withPodScheduled(pod, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }, now)
}

/**
 * Replaces the PodScheduled condition. `lastTransitionTime` moves only when the status changes, as
 * the real scheduler's condition update does; `lastProbeTime` is left unset (null, dropped).
 */
function withPodScheduled(pod: JsonObject, condition: JsonObject, now: Date): JsonObject {
  const status = objectAt(pod, 'status') ?? {}
  const conditions = arrayAt(status, 'conditions')
  const previous = conditions.find((item): item is JsonObject => isCondition(item, 'PodScheduled'))
  const unchanged = previous !== undefined && previous.status === condition.status && typeof previous.lastTransitionTime === 'string'
  const next: JsonObject = { ...condition, lastTransitionTime: unchanged ? (previous.lastTransitionTime as string) : kubeTime(now) }
  const others = conditions.filter((item) => !isCondition(item, 'PodScheduled'))
  const phase = stringAt(status, 'phase', 'Pending')
  return { ...pod, status: { ...status, phase, conditions: [...others, next] } }
}

function isCondition(value: JsonValue, type: string): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && value.type === type
}

/** The Normal `Scheduled` Event of a binding. */
export function scheduledEvent(pod: JsonObject, nodeName: string, options: WriteOptions): JsonObject {
  const metadata = objectAt(pod, 'metadata')
  const message = `Successfully assigned ${stringAt(metadata, 'namespace', 'default')}/${stringAt(metadata, 'name')} to ${nodeName}`
  return podEvent(pod, { type: 'Normal', reason: 'Scheduled', action: 'Binding', message }, options)
}

/** The Warning `FailedScheduling` Event of a pod that fits nowhere. */
export function failedSchedulingEvent(pod: JsonObject, message: string, options: WriteOptions): JsonObject {
  return podEvent(pod, { type: 'Warning', reason: 'FailedScheduling', action: 'Scheduling', message }, options)
}

function podEvent(pod: JsonObject, what: { type: string; reason: string; action: string; message: string }, options: WriteOptions): JsonObject {
  const metadata = objectAt(pod, 'metadata')
  const namespace = stringAt(metadata, 'namespace', 'default')
  const name = stringAt(metadata, 'name')
  const uid = stringAt(metadata, 'uid')
  const involvedObject: JsonObject = { apiVersion: 'v1', kind: 'Pod', namespace, name }
  if (uid !== '') involvedObject.uid = uid
  const resourceVersion = stringAt(metadata, 'resourceVersion')
  if (resourceVersion !== '') involvedObject.resourceVersion = resourceVersion
  const time = kubeTime(options.now)
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: eventName(name, `${uid}/${what.reason}/${what.message}`, options.now), namespace },
    involvedObject,
    type: what.type,
    reason: what.reason,
    action: what.action,
    message: what.message,
    source: { component: SCHEDULER_NAME },
    reportingComponent: SCHEDULER_NAME,
    reportingInstance: options.reportingInstance ?? SCHEDULER_NAME,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  }
}

/**
 * `<pod>.<hex nanoseconds>`, the client-go event recorder's naming. The sub-millisecond digits
 * come from a hash of the event's content, so two different events about one pod in the same
 * millisecond get different names, and the same inputs give the same name.
 */
function eventName(podName: string, content: string, now: Date): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < content.length; i++) {
    hash ^= content.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(hash % 1_000_000)
  return `${podName}.${nanos.toString(16)}`
}

/** A metav1.Time: RFC 3339 in UTC with whole seconds. */
export function kubeTime(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The writes for one binding. */
export function bindingWrites(pod: JsonObject, nodeName: string, options: WriteOptions): BindingWrites {
  return { binding: bindingObject(pod, nodeName), pod: boundPod(pod, nodeName, options.now), event: scheduledEvent(pod, nodeName, options) }
}

/** The writes for one failure. */
export function failureWrites(pod: JsonObject, message: string, options: WriteOptions): FailureWrites {
  return { pod: unschedulablePod(pod, message, options.now), event: failedSchedulingEvent(pod, message, options) }
}

/** The writes for a whole batch, in the batch's order. */
export function batchWrites(result: BatchResult, options: WriteOptions): { bindings: BindingWrites[]; failures: FailureWrites[] } {
  return {
    bindings: result.bindings.map((binding) => bindingWrites(binding.pod.object, binding.nodeName, options)),
    failures: result.failures.map((failure) => failureWrites(failure.pod, failure.failure.message, options)),
  }
}
