/**
 * The hollow agent: the node agent's simulation backend (the Docker agent is a later issue; until
 * then `--runtime hollow` is the daemon's default). It plays the kubelet for the pods bound to its
 * node, without running anything:
 *
 * - a pod bound here goes Pending (ContainerCreating) with a pod IP from the node's pod CIDR, then
 *   after a start delay Running, with Initialized/Ready/ContainersReady/PodScheduled True,
 *   container statuses (ids `hollow://…`, start times) — what `kubectl get pods` shows on a real
 *   cluster — and the kubelet's Pulled/Created/Started events;
 * - a running pod that someone marked not ready (the node lifecycle controller, while this node
 *   was unreachable) is reported ready again;
 * - after a restart the agent adopts the pods it already ran (same IP and ids), so nothing moves;
 * - opt-in, for simulating Jobs: a pod annotated `flotilla.dev/hollow-exit-after-ms: "<ms>"`
 *   (and optionally `flotilla.dev/hollow-exit-code: "<n>"`, default 0) has its containers
 *   terminate that long after they started: phase Succeeded for exit code 0 under restartPolicy
 *   Never or OnFailure, Failed otherwise (the hollow runtime does not restart containers);
 * - a pod being deleted (Terminating: the API marked it with a deletionTimestamp and a grace
 *   period) has its containers "stopped": a Killing event per container, a short simulated stop
 *   (never longer than the grace period), then the agent deletes the pod for good, as the kubelet
 *   does: DELETE with gracePeriodSeconds 0 and the pod's uid as precondition.
 *
 * Status writes go through the status path with the resourceVersion they were computed from. A
 * pod that disappears releases its IP.
 */
import type { Random } from '../../../lib/random.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { ApiError } from '../api/machinery/status.ts'
import { newEvent } from '../controllers/events.ts'
import { equalIgnoringNullFields, formatTime, isBeingDeleted, listAt, nameOf, namespaceOf, numberAt, objectAt, specOf, statusOf, stringAt, uidOf } from '../controllers/object-fields.ts'
import { PODS } from '../controllers/plan.ts'
import { ControllerRunner } from '../controllers/manager/controller-runner.ts'
import type { EventRecorder } from '../controllers/manager/event-recorder.ts'
import { cacheKeyOf, type Informer } from '../controllers/manager/informer.ts'
import type { ObjectClient } from '../controllers/manager/object-client.ts'
import { NODES } from '../controllers/manager/shared-informers.ts'
import type { Timer, Timers } from '../../../lib/timers.ts'
import { WorkQueue } from '../controllers/manager/work-queue.ts'
import { creatingPodStatus, recordFromStatus, runningPodStatus, type HollowPodRecord } from './hollow-pod-status.ts'

export interface HollowAgentOptions {
  readonly client: ObjectClient
  readonly recorder: EventRecorder
  readonly nodeName: string
  /** A pod informer (shared or the agent's own); the agent adds handlers, its owner starts it. */
  readonly pods: Informer
  readonly timers: Timers
  /** Container ids and start delays; seed it in simulations. */
  readonly random: Random
  readonly log: (line: string) => void
  /** How long containers take to start: drawn from [min, max] per pod. */
  readonly startDelayMs?: { readonly min: number; readonly max: number }
  /** How long containers take to stop when their pod is deleted: drawn from [min, max] per pod, capped by its grace period. */
  readonly stopDelayMs?: { readonly min: number; readonly max: number }
  readonly workers?: number
}

/** A pod whose containers are stopping before the agent deletes it. */
interface Termination {
  readonly uid: string
  /** Set while the containers are "stopping"; undefined once they stopped (the delete is due). */
  stopTimer: Timer | undefined
}

interface PodState {
  record: HollowPodRecord
  /** Set while the containers are "starting". */
  startTimer: Timer | undefined
  eventsRecorded: boolean
  /** Set while an opt-in exit (HOLLOW_EXIT_AFTER_MS_ANNOTATION) is pending. */
  exitTimer?: Timer
  /** Set once the containers "exited". */
  exited?: { readonly exitCode: number; readonly finishedAt: string }
}

/** Opt-in simulation of finishing containers: milliseconds from start to exit. */
export const HOLLOW_EXIT_AFTER_MS_ANNOTATION = 'flotilla.dev/hollow-exit-after-ms'
/** The exit code of such containers (default 0). */
export const HOLLOW_EXIT_CODE_ANNOTATION = 'flotilla.dev/hollow-exit-code'

/** The planned exit of a pod: its delay and code, when the pod asks for one. */
function plannedExit(pod: JsonObject): { afterMs: number; exitCode: number } | undefined {
  const annotations = objectAt(objectAt(pod['metadata'])['annotations'])
  const afterMs = Number(stringAt(annotations[HOLLOW_EXIT_AFTER_MS_ANNOTATION], 'NaN'))
  if (!Number.isFinite(afterMs) || afterMs < 0) return undefined
  const exitCode = Number(stringAt(annotations[HOLLOW_EXIT_CODE_ANNOTATION], '0'))
  return { afterMs, exitCode: Number.isInteger(exitCode) ? exitCode : 1 }
}

/** A running status turned into the finished one: containers terminated, phase by exit code. */
function exitedPodStatus(pod: JsonObject, running: JsonObject, exited: { readonly exitCode: number; readonly finishedAt: string }): JsonObject {
  const restartPolicy = stringAt(specOf(pod)['restartPolicy'], 'Always')
  const succeeded = exited.exitCode === 0 && restartPolicy !== 'Always'
  const notReady = (condition: JsonObject): JsonObject =>
    condition['type'] === 'Ready' || condition['type'] === 'ContainersReady' ? { ...condition, status: 'False', reason: 'PodCompleted', lastTransitionTime: exited.finishedAt } : condition
  const containerStatuses = listAt(running['containerStatuses']).map((item) => {
    const containerStatus = objectAt(item)
    const startedAt = stringAt(objectAt(objectAt(containerStatus['state'])['running'])['startedAt'])
    const terminated = { exitCode: exited.exitCode, reason: exited.exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: exited.finishedAt, containerID: stringAt(containerStatus['containerID']) }
    return { ...containerStatus, state: { terminated }, ready: false, started: false }
  })
  return { ...running, phase: succeeded ? 'Succeeded' : 'Failed', conditions: listAt(running['conditions']).map((condition) => notReady(objectAt(condition))), containerStatuses }
}

const START_DELAY_MS_DEFAULT = { min: 200, max: 800 }
const STOP_DELAY_MS_DEFAULT = { min: 100, max: 400 }
const NODE_RETRY_MS = 200
const FIRST_HOST = 2
const LAST_HOST = 254

export class HollowAgent {
  readonly nodeName: string
  private readonly options: HollowAgentOptions
  private readonly queue: WorkQueue
  private readonly runner: ControllerRunner
  private readonly states = new Map<string, PodState>()
  /** Pods being deleted whose containers are stopping or stopped, by key. */
  private readonly terminations = new Map<string, Termination>()
  /** Pod IPs in use on this node, by the uid of the pod holding each. */
  private readonly ipOwners = new Map<string, string>()
  private lastHost = FIRST_HOST - 1
  private node: { podCidrBase: string; hostIp: string } | undefined
  private stopped = false

  constructor(options: HollowAgentOptions) {
    this.options = options
    this.nodeName = options.nodeName
    this.queue = new WorkQueue({ timers: options.timers, baseDelayMs: 50, maxDelayMs: 5000 })
    this.runner = new ControllerRunner({
      name: `hollow-agent ${options.nodeName}`,
      queue: this.queue,
      workers: options.workers ?? 4,
      sync: (key) => this.sync(key),
      isFatal: () => false,
      onFatal: () => {},
      log: options.log,
    })
    options.pods.addHandlers({
      onAdd: (pod) => this.podChanged(pod),
      onUpdate: (previous, pod) => {
        if (this.isMine(previous) && !this.isMine(pod)) this.queue.add(cacheKeyOf(pod))
        this.podChanged(pod)
      },
      onDelete: (pod) => this.forget(cacheKeyOf(pod)),
    })
  }

  /**
   * Starts working (the pod informer may already hold pods: they are all looked at). The IPs of
   * pods already running here are reserved first, so a new pod never takes one of them before
   * its owner has been adopted.
   */
  start(): void {
    for (const pod of this.options.pods.list()) {
      const podIp = stringAt(statusOf(pod)['podIP'])
      if (this.isMine(pod) && podIp !== '' && !this.ipOwners.has(podIp)) this.ipOwners.set(podIp, uidOf(pod))
    }
    this.runner.start()
    for (const pod of this.options.pods.list()) this.podChanged(pod)
  }

  stop(): void {
    this.stopped = true
    this.runner.stop()
    for (const state of this.states.values()) {
      state.startTimer?.cancel()
      state.exitTimer?.cancel()
    }
    for (const termination of this.terminations.values()) termination.stopTimer?.cancel()
  }

  get idle(): boolean {
    return this.runner.idle
  }

  /** Pods this agent runs (or is starting). */
  get podCount(): number {
    return this.states.size
  }

  private isMine(pod: JsonObject): boolean {
    return stringAt(specOf(pod)['nodeName']) === this.nodeName
  }

  private podChanged(pod: JsonObject): void {
    if (this.isMine(pod)) this.queue.add(cacheKeyOf(pod))
  }

  private forget(key: string): void {
    this.terminations.get(key)?.stopTimer?.cancel()
    this.terminations.delete(key)
    this.forgetContainers(key)
  }

  /** Drops the pod's containers (timers, IP) but not its termination. */
  private forgetContainers(key: string): void {
    const state = this.states.get(key)
    if (state === undefined) return
    state.startTimer?.cancel()
    state.exitTimer?.cancel()
    if (this.ipOwners.get(state.record.podIp) === state.record.uid) this.ipOwners.delete(state.record.podIp)
    this.states.delete(key)
  }

  private async sync(key: string): Promise<void> {
    if (this.stopped) return
    const pod = this.options.pods.getByKey(key)
    const phase = pod === undefined ? '' : stringAt(statusOf(pod)['phase'])
    if (pod !== undefined && this.isMine(pod) && isBeingDeleted(pod)) return this.terminate(key, pod)
    if (pod === undefined || !this.isMine(pod) || phase === 'Succeeded' || phase === 'Failed') {
      this.forget(key)
      return
    }
    let state = this.states.get(key)
    if (state !== undefined && state.record.uid !== uidOf(pod)) {
      this.forget(key)
      state = undefined
    }
    if (state === undefined) {
      const created = await this.adoptOrCreate(key, pod)
      if (created === undefined) return
      state = created
    }
    const record = state.record
    const running = record.runningSince === undefined ? creatingPodStatus(pod, record) : runningPodStatus(pod, { ...record, runningSince: record.runningSince })
    const desired = state.exited === undefined ? running : exitedPodStatus(pod, running, state.exited)
    if (record.runningSince === undefined && state.startTimer === undefined) this.scheduleStart(key, state)
    if (record.runningSince !== undefined && state.exitTimer === undefined && state.exited === undefined) this.scheduleExit(key, state, pod, record.runningSince)
    if (!equalIgnoringNullFields(statusOf(pod), desired)) {
      await this.options.client.updateStatus(PODS, namespaceOf(pod), nameOf(pod), { ...pod, status: desired })
    }
    if (record.runningSince !== undefined && !state.eventsRecorded) {
      state.eventsRecorded = true
      this.recordStarted(pod)
    }
  }

  /**
   * A Terminating pod: its containers stop (Killing events, a simulated stop within the grace
   * period), then the pod is deleted with grace 0 and its uid as precondition. A pod that went or
   * was replaced meanwhile needs nothing more; any other failure is retried by the queue.
   */
  private async terminate(key: string, pod: JsonObject): Promise<void> {
    let termination = this.terminations.get(key)
    if (termination !== undefined && termination.uid !== uidOf(pod)) {
      this.forget(key)
      termination = undefined
    }
    if (termination === undefined) {
      const started = this.states.get(key)?.record.runningSince !== undefined
      this.forgetContainers(key)
      if (started) this.recordKilling(pod)
      const { min, max } = this.options.stopDelayMs ?? STOP_DELAY_MS_DEFAULT
      const graceMs = Math.max(0, numberAt(objectAt(pod['metadata'])['deletionGracePeriodSeconds'], 0)) * 1000
      const delayMs = Math.min(graceMs, max > min ? this.options.random.int(min, max + 1) : min)
      const created: Termination = { uid: uidOf(pod), stopTimer: undefined }
      this.terminations.set(key, created)
      created.stopTimer = this.options.timers.after(delayMs, () => {
        if (this.terminations.get(key) !== created) return
        created.stopTimer = undefined
        this.queue.add(key)
      })
      return
    }
    if (termination.stopTimer !== undefined) return
    try {
      await this.options.client.delete(PODS, namespaceOf(pod), nameOf(pod), termination.uid, { gracePeriodSeconds: 0 })
    } catch (error) {
      if (error instanceof ApiError && (error.code === 404 || error.code === 409)) return
      throw error
    }
  }

  /** The kubelet's Killing event for each container of a pod being stopped. */
  private recordKilling(pod: JsonObject): void {
    const nowMs = this.options.timers.realtimeMs()
    const involved = { ...pod, kind: 'Pod', apiVersion: 'v1' }
    // Event names are `<pod>.<nanoseconds>` from the millisecond and the sequence: a base of its
    // own keeps them apart from other events about the pod written in the same (simulated) ms.
    let sequence = 1000
    for (const container of listAt(specOf(pod)['containers']).map(objectAt)) {
      const name = stringAt(container['name'])
      const recorded = newEvent({ involved, reason: 'Killing', message: `Stopping container ${name}`, type: 'Normal', component: 'kubelet', nowMs, sequence: sequence++ })
      this.options.recorder.record({ ...recorded, source: { component: 'kubelet', host: this.nodeName }, involvedObject: { ...objectAt(recorded['involvedObject']), fieldPath: `spec.containers{${name}}` } })
    }
  }

  /** The state of a pod new to this agent: adopted from its status, or freshly allocated. */
  private async adoptOrCreate(key: string, pod: JsonObject): Promise<PodState | undefined> {
    const node = await this.nodeFacts()
    if (node === undefined) {
      this.queue.addAfter(key, NODE_RETRY_MS)
      return undefined
    }
    const adopted = recordFromStatus(pod, uidOf(pod))
    const owner = adopted === undefined ? undefined : this.ipOwners.get(adopted.podIp)
    if (adopted !== undefined && adopted.podIp.startsWith(node.podCidrBase) && (owner === undefined || owner === adopted.uid)) {
      const record = { ...adopted, containerIds: this.withContainerIds(pod, adopted.containerIds) }
      const state: PodState = { record, startTimer: undefined, eventsRecorded: record.runningSince !== undefined }
      this.ipOwners.set(record.podIp, record.uid)
      this.states.set(key, state)
      return state
    }
    const podIp = this.allocateIp(node.podCidrBase, uidOf(pod))
    if (podIp === undefined) {
      this.options.log(`hollow agent ${this.nodeName}: no pod IP left for ${key}`)
      this.queue.addAfter(key, 5000)
      return undefined
    }
    const record: HollowPodRecord = { uid: uidOf(pod), hostIp: node.hostIp, podIp, startTime: formatTime(this.options.timers.realtimeMs()), containerIds: this.withContainerIds(pod, {}) }
    const state: PodState = { record, startTimer: undefined, eventsRecorded: false }
    this.states.set(key, state)
    return state
  }

  private scheduleStart(key: string, state: PodState): void {
    const { min, max } = this.options.startDelayMs ?? START_DELAY_MS_DEFAULT
    const delayMs = max > min ? this.options.random.int(min, max + 1) : min
    state.startTimer = this.options.timers.after(delayMs, () => {
      if (this.states.get(key) !== state) return
      state.record = { ...state.record, runningSince: formatTime(this.options.timers.realtimeMs()) }
      this.queue.add(key)
    })
  }

  /** Arms the opt-in exit of a started pod (see HOLLOW_EXIT_AFTER_MS_ANNOTATION), if it asks for one. */
  private scheduleExit(key: string, state: PodState, pod: JsonObject, runningSince: string): void {
    const exit = plannedExit(pod)
    if (exit === undefined) return
    // Counted from the start time the status shows, so an agent that adopted a running pod after
    // a restart still ends it on time.
    const delayMs = Math.max(0, Date.parse(runningSince) + exit.afterMs - this.options.timers.realtimeMs())
    state.exitTimer = this.options.timers.after(delayMs, () => {
      if (this.states.get(key) !== state) return
      state.exited = { exitCode: exit.exitCode, finishedAt: formatTime(this.options.timers.realtimeMs()) }
      this.queue.add(key)
    })
  }

  /** Container ids for every container of the pod, keeping the known ones. */
  private withContainerIds(pod: JsonObject, known: Readonly<Record<string, string>>): Record<string, string> {
    const ids: Record<string, string> = { ...known }
    for (const field of ['initContainers', 'containers']) {
      for (const container of listAt(specOf(pod)[field]).map(objectAt)) {
        const name = stringAt(container['name'])
        if (ids[name] === undefined) ids[name] = `hollow://${this.randomHex(64)}`
      }
    }
    return ids
  }

  private randomHex(length: number): string {
    let text = ''
    while (text.length < length) text += this.options.random.int(0, 0x1_0000_0000).toString(16).padStart(8, '0')
    return text.slice(0, length)
  }

  /** The next free address of the node's /24 after the last one handed out. */
  private allocateIp(base: string, uid: string): string | undefined {
    for (let step = 0; step <= LAST_HOST - FIRST_HOST; step++) {
      const host = FIRST_HOST + ((this.lastHost - FIRST_HOST + 1 + step) % (LAST_HOST - FIRST_HOST + 1))
      const ip = `${base}${host}`
      if (this.ipOwners.has(ip)) continue
      this.ipOwners.set(ip, uid)
      this.lastHost = host
      return ip
    }
    return undefined
  }

  /** The node's pod CIDR prefix (`10.244.3.`) and address, once the leader has given it a CIDR. */
  private async nodeFacts(): Promise<{ podCidrBase: string; hostIp: string } | undefined> {
    if (this.node !== undefined) return this.node
    let node: JsonObject
    try {
      node = await this.options.client.get(NODES, undefined, this.nodeName)
    } catch {
      return undefined
    }
    const match = /^(\d+\.\d+\.\d+\.)0\/24$/.exec(stringAt(specOf(node)['podCIDR']))
    if (match === null) return undefined
    const addresses = listAt(statusOf(node)['addresses']).map(objectAt)
    const hostIp = stringAt(addresses.find((address) => address['type'] === 'InternalIP')?.['address'], '127.0.0.1')
    this.node = { podCidrBase: match[1] as string, hostIp }
    return this.node
  }

  private recordStarted(pod: JsonObject): void {
    const nowMs = this.options.timers.realtimeMs()
    const involved = { ...pod, kind: 'Pod', apiVersion: 'v1' }
    let sequence = 0
    for (const container of listAt(specOf(pod)['containers']).map(objectAt)) {
      const name = stringAt(container['name'])
      const image = stringAt(container['image'])
      const event = (reason: string, message: string): void => {
        const recorded = newEvent({ involved, reason, message, type: 'Normal', component: 'kubelet', nowMs, sequence: sequence++ })
        this.options.recorder.record({ ...recorded, source: { component: 'kubelet', host: this.nodeName }, involvedObject: { ...objectAt(recorded['involvedObject']), fieldPath: `spec.containers{${name}}` } })
      }
      event('Pulled', `Container image "${image}" already present on machine`)
      event('Created', `Created container ${name}`)
      event('Started', `Started container ${name}`)
    }
  }
}
