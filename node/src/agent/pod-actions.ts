/**
 * What the agent must do to make one pod's containers match its spec: the kubelet's
 * `computePodActions`, as a pure function from the pod and what the runtime shows to a plan. The
 * agent (pod-agent.ts) executes the plan; nothing here does I/O or reads a clock.
 *
 * The rules, in the kubelet's order:
 *
 * 1. A pod that is being deleted, or no longer bound to this node, is torn down: every running
 *    container stopped with the pod's grace period (`deletionGracePeriodSeconds`, else
 *    `spec.terminationGracePeriodSeconds`, else 30 s), then every container and sandbox removed.
 * 2. A pod whose phase is already Succeeded or Failed never runs anything again: what still runs
 *    is stopped, the sandbox too; exited containers stay for their logs.
 * 3. No ready sandbox (none yet, or the newest one died): everything still running is killed and
 *    a new sandbox created — unless the pod has restartPolicy Never and already ran containers,
 *    which makes it finished instead. In the new sandbox, init containers start over from the
 *    first; without init containers every app container starts (with OnFailure, except those
 *    that already succeeded).
 * 4. Init containers run one at a time, in order; each must exit 0 before the next starts. A
 *    failed one is restarted (with back-off) unless restartPolicy is Never, which kills the pod
 *    (it is Failed). Init progress only counts containers of the current sandbox, as the kubelet
 *    purges init containers when it recreates a sandbox.
 * 5. Then every app container: one that never ran, or exited and the restartPolicy says so
 *    (Always; OnFailure after a non-zero exit), is started; a running one whose spec hash changed
 *    is killed and recreated whatever the policy; a running one whose liveness probe failed is
 *    killed, and restarted unless the policy is Never.
 * 6. When nothing runs and nothing is to start, the pod is finished: its sandbox is stopped.
 *
 * Restarting an exited container is subject to the crash-loop back-off (crash-backoff.ts): while
 * it holds, the container waits with reason CrashLoopBackOff and the plan says when to look
 * again. A restart is a new container with `attempt + 1`. Exited containers are garbage-collected
 * down to the newest exited one per container name (what `kubectl logs --previous` reads), and
 * old sandboxes go once they hold nothing kept.
 */
import type { ContainerStatus, SandboxStatus } from '../../../runtime/src/runtime.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { isBeingDeleted, listAt, metadataOf, nameOf, namespaceOf, numberAt, objectAt, specOf, statusOf, stringAt, uidOf } from '../controllers/object-fields.ts'
import { containerSpecHash } from './container-hash.ts'
import { formatBackoff, type CrashBackoffView } from './crash-backoff.ts'

/** What the runtime shows of one pod on this node. */
export interface ObservedPod {
  /** Every sandbox of the pod, in any state. */
  readonly sandboxes: readonly SandboxStatus[]
  /** Every container of the pod: all attempts, in any sandbox, in any state. */
  readonly containers: readonly ContainerStatus[]
}

/** The probe manager's view of a container's newest running instance. */
export interface ProbeResult {
  readonly ready: boolean
  readonly started: boolean
  readonly livenessFailed: boolean
  readonly message?: string
}

/** Probe results by container name. */
export type ProbeResults = (containerName: string) => ProbeResult

/** A container to create and start. */
export interface ContainerStart {
  readonly name: string
  readonly init: boolean
  /** 0 for the first run, then one more than any earlier attempt of this name. */
  readonly attempt: number
  /**
   * Set when this start restarts an exited container: that container's exit time. The agent
   * records it with the crash back-off once the restart happens.
   */
  readonly restartOfExitAtMs?: number
}

export type KillReason = 'PodTerminating' | 'PodFinished' | 'SpecChanged' | 'LivenessFailed' | 'SandboxChanged' | 'UnknownState' | 'NotInSpec'

/** A container to stop. */
export interface ContainerKill {
  readonly containerId: string
  readonly name: string
  readonly reason: KillReason
  /** The Killing event's message, as the kubelet words it. */
  readonly message: string
  readonly gracePeriodMs: number
}

/** Why a container is not running although it should (its status shows it as waiting). */
export interface Waiting {
  readonly reason: string
  readonly message: string
}

export interface PodActions {
  /** Create a new sandbox before starting anything (the old ones are stopped). */
  readonly createSandbox: boolean
  /** The pod stops for good here (finished, deleted, moved): everything running is stopped. */
  readonly killPod: boolean
  /** After stopping, remove every container and sandbox of the pod (deleted or moved). */
  readonly removePod: boolean
  readonly kill: readonly ContainerKill[]
  readonly stopSandboxes: readonly string[]
  readonly removeContainers: readonly string[]
  readonly removeSandboxes: readonly string[]
  /** The next init container to run, if initialization is under way. */
  readonly startInit: ContainerStart | undefined
  /** App containers to start, in spec order. */
  readonly start: readonly ContainerStart[]
  /** Containers held back (crash-loop back-off), by name. */
  readonly waiting: ReadonlyMap<string, Waiting>
  /** Look at the pod again after this long even if nothing changes (a back-off ends). */
  readonly resyncAfterMs: number | undefined
}

export interface PodActionsInput {
  /** The pod as the API has it. */
  readonly pod: JsonObject
  /** This agent's node. */
  readonly nodeName: string
  readonly observed: ObservedPod
  readonly probes: ProbeResults
  readonly backoff: CrashBackoffView
  /** Wall-clock now, epoch milliseconds (container times are wall-clock too). */
  readonly nowMs: number
}

/** The grace period Kubernetes gives a pod's containers when nothing else says: 30 s. */
export const TERMINATION_GRACE_SECONDS_DEFAULT = 30

const NO_PROBE_RESULT: ProbeResult = { ready: false, started: false, livenessFailed: false }

// ---------------------------------------------------------------------------------------------
// Reading pods and observations (shared with pod-status.ts)

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never'

export function restartPolicyOf(pod: JsonObject): RestartPolicy {
  const policy = stringAt(specOf(pod)['restartPolicy'], 'Always')
  return policy === 'OnFailure' || policy === 'Never' ? policy : 'Always'
}

/** The pod's init or app containers from its spec. */
export function specContainers(pod: JsonObject, init: boolean): JsonObject[] {
  return listAt(specOf(pod)[init ? 'initContainers' : 'containers']).map(objectAt)
}

/** `spec.terminationGracePeriodSeconds` (default 30) in milliseconds. */
export function terminationGraceMs(pod: JsonObject): number {
  return Math.max(0, numberAt(specOf(pod)['terminationGracePeriodSeconds'], TERMINATION_GRACE_SECONDS_DEFAULT)) * 1000
}

/**
 * The grace period of a pod's deletion, in milliseconds: `metadata.deletionGracePeriodSeconds`
 * when the API set one (it already took the smaller of the request's and the spec's), else the
 * spec's termination grace period, as the kubelet's killPod does.
 */
export function deletionGraceMs(pod: JsonObject): number {
  const deletionGrace = metadataOf(pod)['deletionGracePeriodSeconds']
  return typeof deletionGrace === 'number' && deletionGrace >= 0 ? deletionGrace * 1000 : terminationGraceMs(pod)
}

/** Newest first: higher attempt, then later creation. */
function newestFirst(a: ContainerStatus, b: ContainerStatus): number {
  return b.attempt - a.attempt || b.createdAtMs - a.createdAtMs
}

/** Every attempt of the named container, newest first. */
export function attemptsOf(observed: ObservedPod, name: string): ContainerStatus[] {
  return observed.containers.filter((container) => container.name === name).sort(newestFirst)
}

/** The sandbox the pod's containers run in: the newest one (undefined when there is none). */
export function currentSandbox(observed: ObservedPod): SandboxStatus | undefined {
  let newest: SandboxStatus | undefined
  for (const sandbox of observed.sandboxes) if (newest === undefined || sandbox.createdAtMs > newest.createdAtMs) newest = sandbox
  return newest
}

/**
 * The newest instance of a container whose *state* counts. For init containers only the current
 * sandbox's instances count (a recreated sandbox runs initialization again); app containers
 * count from any sandbox, so that one which succeeded under OnFailure stays done.
 */
export function latestInstance(observed: ObservedPod, name: string, init: boolean): ContainerStatus | undefined {
  const attempts = attemptsOf(observed, name)
  if (!init) return attempts[0]
  const sandbox = currentSandbox(observed)
  return sandbox === undefined ? attempts[0] : attempts.find((container) => container.sandboxId === sandbox.id)
}

/** One more than any attempt of this name so far (0 for the first run). */
export function nextAttempt(observed: ObservedPod, name: string): number {
  return attemptsOf(observed, name).reduce((next, container) => Math.max(next, container.attempt + 1), 0)
}

/** The kubelet's isInitContainerFailed: exited non-zero, or in an unknown state. */
function initFailed(container: ContainerStatus): boolean {
  return (container.state === 'exited' && container.exitCode !== 0) || container.state === 'unknown'
}

/** The kubelet's ShouldContainerBeRestarted for a pod that is not being deleted. */
export function shouldRestart(latest: ContainerStatus | undefined, policy: RestartPolicy): boolean {
  if (latest === undefined) return true
  if (latest.state === 'running') return false
  if (latest.state === 'unknown' || latest.state === 'created') return true
  if (policy === 'Never') return false
  if (policy === 'OnFailure') return latest.exitCode !== 0
  return true
}

/**
 * The kubelet's findNextInitContainerToRun: `done` once every init container exited 0 (or an app
 * container already runs); else the next one to run, and the failed one when it failed.
 */
export function nextInitContainer(pod: JsonObject, observed: ObservedPod): { done: boolean; next?: JsonObject; failed?: ContainerStatus } {
  const inits = specContainers(pod, true)
  if (inits.length === 0) return { done: true }
  const sandbox = currentSandbox(observed)
  // An app container running in this sandbox means initialization finished here once; its init
  // containers may have been collected since, and must not run again.
  for (const container of specContainers(pod, false)) {
    const latest = latestInstance(observed, stringAt(container['name']), false)
    if (latest?.state === 'running' && latest.sandboxId === sandbox?.id) return { done: true }
  }
  for (let i = inits.length - 1; i >= 0; i--) {
    const init = inits[i] as JsonObject
    const latest = latestInstance(observed, stringAt(init['name']), true)
    if (latest !== undefined && initFailed(latest)) return { done: false, next: init, failed: latest }
  }
  for (let i = inits.length - 1; i >= 0; i--) {
    const latest = latestInstance(observed, stringAt((inits[i] as JsonObject)['name']), true)
    if (latest === undefined) continue
    if (latest.state !== 'exited') return { done: false }
    if (i === inits.length - 1) return { done: true }
    return { done: false, next: inits[i + 1] as JsonObject }
  }
  return { done: false, next: inits[0] as JsonObject }
}

// ---------------------------------------------------------------------------------------------
// The planner

/** A plan under construction. */
interface Draft {
  createSandbox: boolean
  killPod: boolean
  removePod: boolean
  kill: ContainerKill[]
  stopSandboxes: string[]
  removeContainers: string[]
  removeSandboxes: string[]
  startInit: ContainerStart | undefined
  start: ContainerStart[]
  waiting: Map<string, Waiting>
  resyncAfterMs: number | undefined
}

function emptyDraft(): Draft {
  return { createSandbox: false, killPod: false, removePod: false, kill: [], stopSandboxes: [], removeContainers: [], removeSandboxes: [], startInit: undefined, start: [], waiting: new Map(), resyncAfterMs: undefined }
}

/** The plan for one pod (see the file comment for the rules). */
export function computePodActions(input: PodActionsInput): PodActions {
  const { pod, observed } = input
  if (isBeingDeleted(pod) || stringAt(specOf(pod)['nodeName']) !== input.nodeName) {
    return teardownActions(observed, deletionGraceMs(pod))
  }
  const draft = emptyDraft()
  const phase = stringAt(statusOf(pod)['phase'])
  if (phase === 'Succeeded' || phase === 'Failed') {
    killPod(draft, observed, terminationGraceMs(pod))
    return finish(draft, observed)
  }
  const sandbox = currentSandbox(observed)
  if (sandbox === undefined || sandbox.state !== 'ready') planNewSandbox(draft, input)
  else planInSandbox(draft, input, sandbox)
  return finish(draft, observed)
}

/**
 * The plan for a pod that is gone (deleted, moved, or unknown to this agent): stop what runs with
 * `gracePeriodMs`, then remove every container and sandbox.
 */
export function teardownActions(observed: ObservedPod, gracePeriodMs: number): PodActions {
  const draft = emptyDraft()
  draft.removePod = true
  killPod(draft, observed, gracePeriodMs, 'PodTerminating')
  draft.removeContainers = observed.containers.map((container) => container.id)
  draft.removeSandboxes = observed.sandboxes.map((sandbox) => sandbox.id)
  return { ...draft }
}

/** Stops every running container and every ready sandbox. */
function killPod(draft: Draft, observed: ObservedPod, gracePeriodMs: number, reason: KillReason = 'PodFinished'): void {
  draft.killPod = true
  const killing = new Set(draft.kill.map((kill) => kill.containerId))
  for (const container of observed.containers) {
    if ((container.state === 'running' || container.state === 'unknown') && !killing.has(container.id)) {
      draft.kill.push({ containerId: container.id, name: container.name, reason, message: `Stopping container ${container.name}`, gracePeriodMs })
    }
  }
  for (const sandbox of observed.sandboxes) if (sandbox.state === 'ready' && !draft.stopSandboxes.includes(sandbox.id)) draft.stopSandboxes.push(sandbox.id)
}

/** Rule 3: the sandbox must be (re)created, or the pod is finished. */
function planNewSandbox(draft: Draft, input: PodActionsInput): void {
  const { pod, observed } = input
  const policy = restartPolicyOf(pod)
  if (policy === 'Never' && observed.containers.length > 0) {
    killPod(draft, observed, terminationGraceMs(pod))
    return
  }
  draft.createSandbox = true
  for (const container of observed.containers) {
    if (container.state === 'running' || container.state === 'unknown') {
      draft.kill.push({ containerId: container.id, name: container.name, reason: 'SandboxChanged', message: `Stopping container ${container.name}`, gracePeriodMs: terminationGraceMs(pod) })
    }
  }
  for (const sandbox of observed.sandboxes) if (sandbox.state === 'ready') draft.stopSandboxes.push(sandbox.id)
  const inits = specContainers(pod, true)
  if (inits.length > 0) {
    // The new sandbox runs initialization from the start; nothing of this sandbox ran yet, so
    // the latest instance (for the back-off) is the newest one anywhere.
    startOrWait(draft, input, inits[0] as JsonObject, true, attemptsOf(observed, stringAt((inits[0] as JsonObject)['name']))[0])
    return
  }
  for (const container of specContainers(pod, false)) {
    const latest = latestInstance(observed, stringAt(container['name']), false)
    if (policy === 'OnFailure' && latest?.state === 'exited' && latest.exitCode === 0) continue
    startOrWait(draft, input, container, false, latest?.state === 'running' ? undefined : latest)
  }
}

/** Rules 4–6 in a ready sandbox. */
function planInSandbox(draft: Draft, input: PodActionsInput, sandbox: SandboxStatus): void {
  const { pod, observed } = input
  const policy = restartPolicyOf(pod)
  const graceMs = terminationGraceMs(pod)
  for (const other of observed.sandboxes) if (other.id !== sandbox.id && other.state === 'ready') draft.stopSandboxes.push(other.id)
  const init = nextInitContainer(pod, observed)
  if (!init.done) {
    if (init.next !== undefined) {
      if (init.failed !== undefined && policy === 'Never' && init.failed.state === 'exited') {
        killPod(draft, observed, graceMs)
        return
      }
      if (init.failed?.state === 'unknown') draft.kill.push(killOf(init.failed, 'UnknownState', graceMs))
      startOrWait(draft, input, init.next, true, init.failed)
    }
    return
  }
  let keep = 0
  for (const container of specContainers(pod, false)) {
    const name = stringAt(container['name'])
    const latest = latestInstance(observed, name, false)
    if (latest === undefined || latest.state !== 'running') {
      if (shouldRestart(latest, policy)) {
        if (latest?.state === 'unknown') draft.kill.push(killOf(latest, 'UnknownState', graceMs))
        startOrWait(draft, input, container, false, latest)
      }
      continue
    }
    let kill: ContainerKill | undefined
    let restart = policy !== 'Never'
    const probe = input.probes(name)
    if (latest.sandboxId !== sandbox.id) {
      kill = killOf(latest, 'SandboxChanged', graceMs)
      restart = true
    } else if (latest.specHash !== undefined && latest.specHash !== containerSpecHash(container)) {
      kill = { ...killOf(latest, 'SpecChanged', graceMs), message: `Container ${name} definition changed, will be restarted` }
      restart = true
    } else if (probe.livenessFailed) {
      kill = { ...killOf(latest, 'LivenessFailed', graceMs), message: `Container ${name} failed liveness probe${restart ? ', will be restarted' : ''}` }
    }
    if (kill === undefined) {
      keep++
      continue
    }
    draft.kill.push(kill)
    // The running instance is being killed now: its restart is not a crash, so no back-off.
    if (restart) draft.start.push({ name, init: false, attempt: nextAttempt(observed, name) })
  }
  for (const container of observed.containers) {
    const known = specContainers(pod, false).some((spec) => spec['name'] === container.name) || specContainers(pod, true).some((spec) => spec['name'] === container.name)
    if (!known && container.state === 'running') draft.kill.push(killOf(container, 'NotInSpec', graceMs))
  }
  if (keep === 0 && draft.start.length === 0 && draft.waiting.size === 0) killPod(draft, observed, graceMs)
}

function killOf(container: ContainerStatus, reason: KillReason, gracePeriodMs: number): ContainerKill {
  return { containerId: container.id, name: container.name, reason, message: `Stopping container ${container.name}`, gracePeriodMs }
}

/**
 * Starts `container` now, or — when it restarts an exited instance whose crash back-off still
 * holds — marks it waiting in CrashLoopBackOff and asks to be looked at when the back-off ends.
 */
function startOrWait(draft: Draft, input: PodActionsInput, container: JsonObject, init: boolean, latest: ContainerStatus | undefined): void {
  const name = stringAt(container['name'])
  const attempt = nextAttempt(input.observed, name)
  if (latest === undefined || latest.state !== 'exited') {
    pushStart(draft, { name, init, attempt })
    return
  }
  const finishedAtMs = latest.finishedAtMs ?? latest.startedAtMs ?? latest.createdAtMs
  const { pod } = input
  const { remainingMs, backoffMs } = input.backoff.remainingMs(uidOf(pod), name, finishedAtMs, input.nowMs)
  if (remainingMs <= 0) {
    pushStart(draft, { name, init, attempt, restartOfExitAtMs: finishedAtMs })
    return
  }
  draft.waiting.set(name, {
    reason: 'CrashLoopBackOff',
    message: `back-off ${formatBackoff(backoffMs)} restarting failed container=${name} pod=${nameOf(pod)}_${namespaceOf(pod)}(${uidOf(pod)})`,
  })
  draft.resyncAfterMs = Math.min(draft.resyncAfterMs ?? Number.POSITIVE_INFINITY, remainingMs)
}

function pushStart(draft: Draft, start: ContainerStart): void {
  if (start.init) draft.startInit = start
  else draft.start.push(start)
}

/**
 * Garbage collection of what the plan keeps no use for: per container name, every exited or
 * never-started instance except the newest instance and the newest exited one; then sandboxes
 * other than the current one that hold nothing kept.
 */
function finish(draft: Draft, observed: ObservedPod): PodActions {
  const kept = new Set<string>()
  const names = new Set(observed.containers.map((container) => container.name))
  for (const name of names) {
    const attempts = attemptsOf(observed, name)
    const newest = attempts[0]
    const newestExited = attempts.find((container) => container.state === 'exited')
    for (const container of attempts) {
      const running = container.state === 'running' || container.state === 'unknown'
      if (running || container === newest || container === newestExited) kept.add(container.id)
      else draft.removeContainers.push(container.id)
    }
  }
  // With a new sandbox coming, every existing one is old.
  const current = draft.createSandbox ? undefined : currentSandbox(observed)
  for (const sandbox of observed.sandboxes) {
    if (sandbox.id === current?.id) continue
    const holdsKept = observed.containers.some((container) => container.sandboxId === sandbox.id && kept.has(container.id))
    if (!holdsKept) draft.removeSandboxes.push(sandbox.id)
  }
  return { ...draft }
}
