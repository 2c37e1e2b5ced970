/**
 * Pod statuses as a kubelet reports them, for the hollow agent: what `kubectl get pods` and
 * `describe` show for a pod while its containers are created (Pending, ContainerCreating) and once
 * they run (Running, every condition True, container statuses with ids and start times, the pod
 * IP). Pure functions of the pod and the agent's record of it, so a rewrite of an unchanged pod
 * produces an identical status (and no write).
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { listAt, objectAt, specOf, statusOf, stringAt } from '../controllers/object-fields.ts'

/** What the agent knows about one pod it runs. */
export interface HollowPodRecord {
  readonly uid: string
  /** The node's address (status.hostIP). */
  readonly hostIp: string
  readonly podIp: string
  /** When the agent took the pod on (status.startTime), RFC 3339. */
  readonly startTime: string
  /** When the containers started, once they have (RFC 3339). */
  readonly runningSince?: string
  /** Container ids by container name (`hollow://<hex>`). */
  readonly containerIds: Readonly<Record<string, string>>
}

/** The runtime's version string in Node.status.nodeInfo and containerIDs' scheme. */
export const HOLLOW_RUNTIME_VERSION = 'hollow://0.1'

function containersOf(pod: JsonObject, field: 'containers' | 'initContainers'): JsonObject[] {
  return listAt(specOf(pod)[field]).map(objectAt)
}

/** The image id a hollow runtime reports: stable per image name. */
export function hollowImageId(image: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < image.length; i++) {
    hash ^= image.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return `hollow://${image}@sha256:${hash.toString(16).padStart(8, '0').repeat(8)}`
}

/** The PodScheduled condition as the scheduler wrote it (kept), or a True one. */
function podScheduled(pod: JsonObject, fallbackTime: string): JsonObject {
  const existing = listAt(statusOf(pod)['conditions']).map(objectAt).find((condition) => condition['type'] === 'PodScheduled')
  return existing !== undefined && existing['status'] === 'True' ? existing : { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: fallbackTime }
}

function condition(type: string, status: string, time: string, reason?: string, message?: string): JsonObject {
  const result: JsonObject = { type, status, lastProbeTime: null, lastTransitionTime: time }
  if (reason !== undefined) result['reason'] = reason
  if (message !== undefined) result['message'] = message
  return result
}

/** Init containers of a started pod: run to completion (the hollow runtime runs nothing). */
function initContainerStatuses(pod: JsonObject, record: HollowPodRecord): JsonObject[] {
  return containersOf(pod, 'initContainers').map((container) => {
    const name = stringAt(container['name'])
    const image = stringAt(container['image'])
    return {
      name,
      state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: record.startTime, finishedAt: record.startTime, containerID: record.containerIds[name] ?? '' } },
      lastState: {},
      ready: true,
      restartCount: 0,
      image,
      imageID: hollowImageId(image),
      containerID: record.containerIds[name] ?? '',
    }
  })
}

/** The common part of both statuses. */
function baseStatus(pod: JsonObject, record: HollowPodRecord): JsonObject {
  const status: JsonObject = {
    hostIP: record.hostIp,
    podIP: record.podIp,
    podIPs: [{ ip: record.podIp }],
    startTime: record.startTime,
  }
  const qosClass = statusOf(pod)['qosClass']
  if (typeof qosClass === 'string') status['qosClass'] = qosClass
  const inits = initContainerStatuses(pod, record)
  if (inits.length > 0) status['initContainerStatuses'] = inits
  return status
}

/** Pending while the containers are created (kubectl shows ContainerCreating). */
export function creatingPodStatus(pod: JsonObject, record: HollowPodRecord): JsonObject {
  const names = containersOf(pod, 'containers').map((container) => stringAt(container['name']))
  const unready = `containers with unready status: [${names.join(' ')}]`
  return {
    ...baseStatus(pod, record),
    phase: 'Pending',
    conditions: [
      condition('Initialized', 'True', record.startTime),
      condition('Ready', 'False', record.startTime, 'ContainersNotReady', unready),
      condition('ContainersReady', 'False', record.startTime, 'ContainersNotReady', unready),
      podScheduled(pod, record.startTime),
    ],
    containerStatuses: containersOf(pod, 'containers').map((container) => ({
      name: stringAt(container['name']),
      state: { waiting: { reason: 'ContainerCreating' } },
      lastState: {},
      ready: false,
      restartCount: 0,
      image: stringAt(container['image']),
      imageID: '',
      started: false,
    })),
  }
}

/** Running with every condition True. */
export function runningPodStatus(pod: JsonObject, record: HollowPodRecord & { readonly runningSince: string }): JsonObject {
  return {
    ...baseStatus(pod, record),
    phase: 'Running',
    conditions: [
      condition('Initialized', 'True', record.startTime),
      condition('Ready', 'True', record.runningSince),
      condition('ContainersReady', 'True', record.runningSince),
      podScheduled(pod, record.startTime),
    ],
    containerStatuses: containersOf(pod, 'containers').map((container) => {
      const name = stringAt(container['name'])
      const image = stringAt(container['image'])
      return {
        name,
        state: { running: { startedAt: record.runningSince } },
        lastState: {},
        ready: true,
        restartCount: 0,
        image,
        imageID: hollowImageId(image),
        containerID: record.containerIds[name] ?? '',
        started: true,
      }
    }),
  }
}

/**
 * The agent's record of a pod that already runs on this node (after the agent restarted), from
 * its status: the same IP, ids and times, so nothing changes. Undefined when the status is not
 * one this runtime wrote.
 */
export function recordFromStatus(pod: JsonObject, uid: string): HollowPodRecord | undefined {
  const status = statusOf(pod)
  const podIp = stringAt(status['podIP'])
  const startTime = stringAt(status['startTime'])
  if (podIp === '' || startTime === '') return undefined
  const containerIds: Record<string, string> = {}
  let runningSince: string | undefined
  for (const item of [...listAt(status['containerStatuses']), ...listAt(status['initContainerStatuses'])]) {
    const containerStatus = objectAt(item)
    const id = stringAt(containerStatus['containerID'])
    if (id.startsWith('hollow://')) containerIds[stringAt(containerStatus['name'])] = id
    const startedAt = stringAt(objectAt(objectAt(containerStatus['state'])['running'])['startedAt'])
    if (startedAt !== '') runningSince = startedAt
  }
  const record = { uid, hostIp: stringAt(status['hostIP']), podIp, startTime, containerIds }
  return stringAt(status['phase']) === 'Running' && runningSince !== undefined ? { ...record, runningSince } : record
}
