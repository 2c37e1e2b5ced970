/**
 * core/v1 Event objects as controllers record them: what `kubectl describe` lists under "Events"
 * (it selects by involvedObject name, namespace, kind and uid) and `kubectl get events` prints.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { formatTime, metadataOf, nameOf, namespaceOf, uidOf } from './object-fields.ts'

/** What a controller reports about one object. */
export interface EventSpec {
  /** The object the event is about; its kind and apiVersion must be set. */
  readonly involved: JsonObject
  /** CamelCase machine-readable cause: `SuccessfulCreate`, `ScalingReplicaSet`. */
  readonly reason: string
  /** Human-readable, as Kubernetes words it: `Created pod: web-6d4cf56db6-x7k2p`. */
  readonly message: string
  readonly type: 'Normal' | 'Warning'
  /** The reporting controller, e.g. `replicaset-controller` (shown as FROM in describe). */
  readonly component: string
  readonly nowMs: number
  /**
   * The event's position within its plan. Names are `<object>.<hex nanoseconds>` as in
   * Kubernetes; adding the sequence to the nanoseconds keeps the names of one plan distinct.
   */
  readonly sequence: number
}

/** A new Event object (count 1); the executor creates it and ignores AlreadyExists. */
export function newEvent(spec: EventSpec): JsonObject {
  const namespace = namespaceOf(spec.involved)
  const nanoseconds = BigInt(Math.floor(spec.nowMs)) * 1_000_000n + BigInt(spec.sequence)
  const timestamp = formatTime(spec.nowMs)
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${nameOf(spec.involved)}.${nanoseconds.toString(16)}`, namespace },
    involvedObject: {
      kind: String(spec.involved['kind'] ?? ''),
      namespace,
      name: nameOf(spec.involved),
      uid: uidOf(spec.involved),
      apiVersion: String(spec.involved['apiVersion'] ?? ''),
      ...(metadataOf(spec.involved)['resourceVersion'] !== undefined ? { resourceVersion: String(metadataOf(spec.involved)['resourceVersion']) } : {}),
    },
    reason: spec.reason,
    message: spec.message,
    source: { component: spec.component },
    firstTimestamp: timestamp,
    lastTimestamp: timestamp,
    count: 1,
    type: spec.type,
    reportingComponent: '',
    reportingInstance: '',
  }
}
