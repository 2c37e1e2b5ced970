/**
 * A pod's status as the kubelet reports it, from what the runtime shows: the kubelet's
 * `generateAPIPodStatus` / `convertToAPIContainerStatuses` / `getPhase` and the condition
 * generators, as one pure function. What `kubectl get pods` prints (READY, STATUS, RESTARTS) and
 * `kubectl describe pod` shows comes from here:
 *
 * - Container statuses: `waiting` (ContainerCreating, or PodInitializing while a pod has init
 *   containers; CrashLoopBackOff, ErrImageNeverPull, CreateContainerConfigError … with the
 *   kubelet's messages while the agent holds a start back), `running{startedAt}`, or
 *   `terminated{exitCode, reason, startedAt, finishedAt, containerID}`; `lastState` is the newest
 *   earlier exit; `restartCount` is the newest instance's attempt; ids carry the runtime's scheme
 *   (`docker://…`).
 * - Phase by the kubelet's rules (init failures under restartPolicy Never fail the pod; every
 *   container exited is Succeeded, Failed, or still Running while restarts are due), and a pod the
 *   API shows as Succeeded or Failed stays so.
 * - Conditions Initialized, Ready, ContainersReady and PodScheduled, with readiness gates;
 *   `lastTransitionTime` moves only when a condition's status changes.
 *
 * Deterministic: the same pod and observation give the same status, so an unchanged pod is never
 * rewritten. Times are RFC 3339 with whole seconds.
 */
import type { ContainerStatus } from '../../../runtime/src/runtime.ts'
import type { JsonObject, JsonValue } from '../api/machinery/canonical.ts'
import { formatTime, listAt, objectAt, specOf, statusOf, stringAt } from '../controllers/object-fields.ts'
import { attemptsOf, currentSandbox, latestInstance, restartPolicyOf, specContainers, type ObservedPod, type ProbeResults, type RestartPolicy, type Waiting } from './pod-actions.ts'

export interface PodStatusInput {
  /** The pod as the API has it (its current status gives transition times, start time, IP). */
  readonly pod: JsonObject
  readonly observed: ObservedPod
  readonly probes: ProbeResults
  /** Containers the agent holds back, by name: back-offs, image and configuration errors. */
  readonly waiting: ReadonlyMap<string, Waiting>
  /** Wall-clock now, epoch milliseconds. */
  readonly nowMs: number
  /** The node's address (status.hostIP, and the pod IP under hostNetwork). */
  readonly hostIp: string
  /** The runtime's name, the scheme of container ids: `docker` gives `docker://<id>`. */
  readonly runtimeName: string
}

/** Pod-level fields others write (scheduler, API, controllers) that a status rewrite keeps. */
const KEPT_STATUS_FIELDS = ['qosClass', 'nominatedNodeName', 'reason', 'message'] as const
/** The condition types the kubelet owns, in the order it writes them. */
const KUBELET_CONDITIONS = ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'] as const

/** The pod's status (see the file comment). */
export function podStatusFrom(input: PodStatusInput): JsonObject {
  const { pod, nowMs } = input
  const previous = statusOf(pod)
  const hasInits = specContainers(pod, true).length > 0
  const initStatuses = specContainers(pod, true).map((container) => containerStatusOf(input, container, true, hasInits))
  const appStatuses = specContainers(pod, false).map((container) => containerStatusOf(input, container, false, hasInits))
  let phase = podPhase(restartPolicyOf(pod), initStatuses, appStatuses)
  const previousPhase = stringAt(previous['phase'])
  // The API refuses to leave a terminal phase, and so does the kubelet.
  if (previousPhase === 'Succeeded' || previousPhase === 'Failed') phase = previousPhase
  const nowText = formatTime(nowMs)
  const startTime = stringAt(previous['startTime']) || nowText
  const status: JsonObject = {
    phase,
    conditions: podConditions(pod, { phase, initStatuses, appStatuses, nowText, startTime }),
    hostIP: input.hostIp,
  }
  const podIp = podIpOf(input)
  if (podIp !== undefined) {
    status['podIP'] = podIp
    status['podIPs'] = [{ ip: podIp }]
  }
  status['startTime'] = startTime
  if (hasInits) status['initContainerStatuses'] = initStatuses
  status['containerStatuses'] = appStatuses
  for (const field of KEPT_STATUS_FIELDS) {
    const value = previous[field]
    if (value !== undefined && value !== null) status[field] = value
  }
  return status
}

function podIpOf(input: PodStatusInput): string | undefined {
  if (specOf(input.pod)['hostNetwork'] === true) return input.hostIp
  const ip = currentSandbox(input.observed)?.ip
  if (ip !== undefined && ip !== '') return ip
  // A stopped sandbox has no address any more; the pod keeps the one it had.
  const previous = stringAt(statusOf(input.pod)['podIP'])
  return previous === '' ? undefined : previous
}

// ---------------------------------------------------------------------------------------------
// Container statuses

/** `docker://<id>` for a container of the runtime named `runtimeName`. */
export function containerIdText(runtimeName: string, id: string): string {
  return `${runtimeName}://${id}`
}

function imageIdText(runtimeName: string, container: ContainerStatus): string {
  return container.imageId.includes('://') ? container.imageId : `${runtimeName}://${container.imageId}`
}

function timeOf(ms: number | undefined, fallbackMs: number): string {
  return formatTime(ms ?? fallbackMs)
}

/** The `terminated` state of an exited container. */
function terminatedOf(runtimeName: string, container: ContainerStatus): JsonObject {
  const exitCode = container.exitCode ?? 0
  const terminated: JsonObject = {
    exitCode,
    reason: container.reason ?? (exitCode === 0 ? 'Completed' : 'Error'),
    startedAt: timeOf(container.startedAtMs, container.createdAtMs),
    finishedAt: timeOf(container.finishedAtMs, container.startedAtMs ?? container.createdAtMs),
    containerID: containerIdText(runtimeName, container.id),
  }
  if (container.message !== undefined && container.message !== '') terminated['message'] = container.message
  return terminated
}

/** The state of an instance (or of a container that has none yet). */
function stateOf(runtimeName: string, latest: ContainerStatus | undefined, defaultReason: string): JsonObject {
  if (latest === undefined) return { waiting: { reason: defaultReason } }
  switch (latest.state) {
    case 'running':
      return { running: { startedAt: timeOf(latest.startedAtMs, latest.createdAtMs) } }
    case 'exited':
      return { terminated: terminatedOf(runtimeName, latest) }
    case 'created':
    case 'unknown':
      return { waiting: { reason: 'ContainerCreating' } }
  }
}

function containerStatusOf(input: PodStatusInput, container: JsonObject, init: boolean, hasInits: boolean): JsonObject {
  const { observed, runtimeName } = input
  const name = stringAt(container['name'])
  const latest = latestInstance(observed, name, init)
  const attempts = attemptsOf(observed, name)
  const earlierExit = attempts.find((instance) => instance !== latest && instance.state === 'exited')
  let state = stateOf(runtimeName, latest, hasInits ? 'PodInitializing' : 'ContainerCreating')
  let lastState: JsonObject = earlierExit === undefined ? {} : { terminated: terminatedOf(runtimeName, earlierExit) }
  const waiting = input.waiting.get(name)
  if (waiting !== undefined && state['running'] === undefined) {
    if (state['terminated'] !== undefined) lastState = state
    state = { waiting: { reason: waiting.reason, message: waiting.message } }
  }
  const running = latest?.state === 'running'
  const probe = running ? input.probes(name) : undefined
  const status: JsonObject = {
    name,
    state,
    lastState,
    ready: init ? latest?.state === 'exited' && latest.exitCode === 0 : probe?.ready === true,
    restartCount: attempts[0]?.attempt ?? 0,
    image: stringAt(container['image']),
    imageID: latest === undefined ? '' : imageIdText(runtimeName, latest),
  }
  if (latest !== undefined) status['containerID'] = containerIdText(runtimeName, latest.id)
  if (!init) status['started'] = probe?.started === true
  return status
}

// ---------------------------------------------------------------------------------------------
// Phase

function stateKind(status: JsonObject): 'running' | 'terminated' | 'waiting' | 'none' {
  const state = objectAt(status['state'])
  if (state['running'] !== undefined) return 'running'
  if (state['terminated'] !== undefined) return 'terminated'
  if (state['waiting'] !== undefined) return 'waiting'
  return 'none'
}

function exitCodeOf(state: JsonValue | undefined): number | undefined {
  const terminated = objectAt(state)['terminated']
  return terminated === undefined ? undefined : Number(objectAt(terminated)['exitCode'] ?? 0)
}

/** The kubelet's getPhase over the statuses it is about to report. */
export function podPhase(policy: RestartPolicy, initStatuses: readonly JsonObject[], appStatuses: readonly JsonObject[]): string {
  let pendingInitialization = 0
  let failedInitialization = 0
  for (const status of initStatuses) {
    const kind = stateKind(status)
    const lastExit = exitCodeOf(status['lastState'])
    if (kind === 'terminated') {
      if (exitCodeOf(status['state']) !== 0) failedInitialization++
    } else if (kind === 'waiting' && lastExit !== undefined) {
      if (lastExit !== 0) failedInitialization++
    } else pendingInitialization++
  }
  let running = 0
  let waiting = 0
  let stopped = 0
  let succeeded = 0
  for (const status of appStatuses) {
    const kind = stateKind(status)
    if (kind === 'running') running++
    else if (kind === 'terminated') {
      stopped++
      if (exitCodeOf(status['state']) === 0) succeeded++
    } else if (kind === 'waiting' && exitCodeOf(status['lastState']) !== undefined) stopped++
    else waiting++
  }
  if (failedInitialization > 0 && policy === 'Never') return 'Failed'
  if (pendingInitialization > 0 || waiting > 0) return 'Pending'
  if (running > 0) return 'Running'
  if (stopped > 0) {
    if (policy === 'Always') return 'Running'
    if (stopped === succeeded) return 'Succeeded'
    if (policy === 'Never') return 'Failed'
    return 'Running'
  }
  return 'Pending'
}

// ---------------------------------------------------------------------------------------------
// Conditions

interface ConditionFacts {
  readonly phase: string
  readonly initStatuses: readonly JsonObject[]
  readonly appStatuses: readonly JsonObject[]
  readonly nowText: string
  readonly startTime: string
}

interface ConditionValue {
  readonly status: 'True' | 'False'
  readonly reason?: string
  readonly message?: string
}

/** `[a b]`, as Go prints a list of names in the kubelet's messages. */
function goList(names: readonly string[]): string {
  return `[${names.join(' ')}]`
}

function initializedCondition(facts: ConditionFacts): ConditionValue {
  const incomplete = facts.initStatuses.filter((status) => status['ready'] !== true).map((status) => stringAt(status['name']))
  if (facts.phase === 'Succeeded' || incomplete.length === 0) return facts.phase === 'Succeeded' ? { status: 'True', reason: 'PodCompleted' } : { status: 'True' }
  return { status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: ${goList(incomplete)}` }
}

function containersReadyCondition(facts: ConditionFacts): ConditionValue {
  if (facts.phase === 'Succeeded') return { status: 'False', reason: 'PodCompleted' }
  const unready = facts.appStatuses.filter((status) => status['ready'] !== true).map((status) => stringAt(status['name']))
  if (unready.length === 0) return { status: 'True' }
  return { status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: ${goList(unready)}` }
}

/** Ready: the containers are, and every readiness gate's condition is True. */
function readyCondition(pod: JsonObject, containersReady: ConditionValue): ConditionValue {
  if (containersReady.status !== 'True') return containersReady
  const conditions = listAt(statusOf(pod)['conditions']).map(objectAt)
  const problems: string[] = []
  for (const gate of listAt(specOf(pod)['readinessGates']).map(objectAt)) {
    const type = stringAt(gate['conditionType'])
    const condition = conditions.find((candidate) => candidate['type'] === type)
    if (condition === undefined) problems.push(`corresponding condition of pod readiness gate "${type}" does not exist.`)
    else if (condition['status'] !== 'True') problems.push(`the status of pod readiness gate "${type}" is not "True", but ${stringAt(condition['status'])}`)
  }
  if (problems.length === 0) return { status: 'True' }
  return { status: 'False', reason: 'ReadinessGatesNotReady', message: problems.join(', ') }
}

function podConditions(pod: JsonObject, facts: ConditionFacts): JsonObject[] {
  const previous = listAt(statusOf(pod)['conditions']).map(objectAt)
  const containersReady = containersReadyCondition(facts)
  const values: Record<(typeof KUBELET_CONDITIONS)[number], ConditionValue | undefined> = {
    Initialized: initializedCondition(facts),
    Ready: readyCondition(pod, containersReady),
    ContainersReady: containersReady,
    // The scheduler's; a pod bound by hand (spec.nodeName in the manifest) gets a True one.
    PodScheduled: undefined,
  }
  const conditions: JsonObject[] = []
  for (const type of KUBELET_CONDITIONS) {
    const before = previous.find((condition) => condition['type'] === type)
    const value = values[type]
    if (value === undefined) {
      conditions.push(before ?? { type, status: 'True', lastProbeTime: null, lastTransitionTime: facts.startTime })
      continue
    }
    const transition = before !== undefined && before['status'] === value.status ? stringAt(before['lastTransitionTime']) || facts.nowText : facts.nowText
    const condition: JsonObject = { type, status: value.status, lastProbeTime: null, lastTransitionTime: transition }
    if (value.reason !== undefined) condition['reason'] = value.reason
    if (value.message !== undefined) condition['message'] = value.message
    conditions.push(condition)
  }
  // Conditions of other owners (readiness gates, disruption targets) stay as they are.
  for (const condition of previous) if (!(KUBELET_CONDITIONS as readonly JsonValue[]).includes(condition['type'] ?? null)) conditions.push(condition)
  return conditions
}
