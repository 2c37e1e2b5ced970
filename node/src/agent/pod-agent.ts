/**
 * The node agent: the kubelet of a Flotilla daemon. It makes the pods bound to its node real
 * through a ContainerRuntime (Docker, or the hollow runtime in simulations) and reports them back
 * through the API.
 *
 * The loop, per pod uid (never two syncs of one pod at once; pods sync in parallel):
 *
 *   observe (the runtime's sandboxes and containers of the pod)
 *     → plan (computePodActions, pure: pod-actions.ts)
 *     → execute (kill, stop, remove, create the sandbox, start init/app containers with their
 *       env, mounts and resources, record the kubelet's events)
 *     → observe again → status (podStatusFrom, pure: pod-status.ts) → write it through the
 *       status subresource when it changed.
 *
 * What queues a pod: the pod informer (a pod bound here appears, changes, is deleted), a
 * PLEG-like relist every `relistIntervalMs` that compares the runtime's state with the previous
 * relist and queues the pods whose containers changed (a container exited), the probe manager
 * (a result flipped), and timers (a crash-loop back-off ends, a failed start is retried).
 *
 * Deletion: a pod with a deletionTimestamp is stopped with its grace period, its containers and
 * sandbox are removed, and the pod object is then deleted for good (grace 0, uid precondition).
 * A pod that vanished from the API without that (force deletion, or an API that deletes at once)
 * is stopped with the grace period it last had. Containers of pods this agent does not know
 * (once the pod informer has synced) are garbage: removed after a short grace.
 *
 * Adoption: nothing is special about a restart. The runtime lists what this node's earlier agent
 * left (labels tie containers to pod uids); a pod whose containers still run with an unchanged
 * spec hash is simply observed as running and kept. `stop()` leaves every container running.
 */
import type { ContainerConfig, ContainerResources, ContainerRuntime, PodRef, SandboxConfig, SandboxStatus } from '../../../runtime/src/runtime.ts'
import { ImageNotPresentError, NotFoundError } from '../../../runtime/src/runtime.ts'
import type { Timer, Timers } from '../../../lib/timers.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { parseQuantity } from '../api/machinery/quantity.ts'
import { ApiError } from '../api/machinery/status.ts'
import { newEvent } from '../controllers/events.ts'
import { equalIgnoringNullFields, isBeingDeleted, metadataOf, nameOf, namespaceOf, objectAt, specOf, statusOf, stringAt, uidOf } from '../controllers/object-fields.ts'
import { PODS } from '../controllers/plan.ts'
import { ControllerRunner } from '../controllers/manager/controller-runner.ts'
import type { EventRecorder } from '../controllers/manager/event-recorder.ts'
import type { Informer } from '../controllers/manager/informer.ts'
import type { ObjectClient } from '../controllers/manager/object-client.ts'
import { WorkQueue } from '../controllers/manager/work-queue.ts'
import { VolumeSetupError } from './volumes/volume-manager.ts'
import { ContainerConfigError, expandContainerCommand, resolveContainerEnv, type ConfigSources } from './container-env.ts'
import { containerSpecHash } from './container-hash.ts'
import { CrashBackoff, type CrashBackoffOptions } from './crash-backoff.ts'
import { computePodActions, currentSandbox, deletionGraceMs, specContainers, teardownActions, type ContainerKill, type ContainerStart, type ObservedPod, type PodActions, type ProbeResult, type Waiting } from './pod-actions.ts'
import { podStatusFrom } from './pod-status.ts'
import type { VolumeManager } from './volumes/volume-manager.ts'
import { AT_MOST_ONCE_LABEL } from './fence-keeper.ts'
import { mustRunAtMostOnce } from './node-fence.ts'

/** A running container the probe manager should probe (probes/probe-manager.ts ProbeTarget). */
export interface PodProbeTarget {
  readonly podUid: string
  readonly podIp: string | undefined
  readonly containerName: string
  readonly containerId: string
  readonly startedAtMs: number
}

/** What the agent needs of the probe manager (probes/probe-manager.ts ProbeManager). */
export interface PodProbes {
  updatePod(pod: JsonObject, running: readonly PodProbeTarget[]): void
  removePod(podUid: string): void
  resultOf(podUid: string, containerName: string): ProbeResult
  stop(): void
}

/** How the agent builds its probe manager: it passes the callback that queues a pod. */
export interface PodProbesOptions {
  readonly runtime: ContainerRuntime
  readonly timers: Timers
  onChange(podUid: string): void
  log?(line: string): void
}

/**
 * A network plugin for sandboxes created with network "none" (the pod network of
 * network/src/pod-network): `setUp` plumbs the sandbox and resolves with the pod IP — idempotent,
 * so it also recovers the IP of a sandbox after a daemon restart; `tearDown` frees what the pod
 * held once it is gone (idempotent: it may be called more than once for a pod).
 */
export interface PodNetworkHook {
  setUp(pod: PodRef, sandbox: SandboxStatus): Promise<string>
  tearDown(podUid: string): Promise<void>
  /** The uids of the pods that hold an address (to find leaked ones). */
  podsWithAddresses?(): readonly string[]
}

/** What the agent needs of the volume manager. */
export type PodVolumes = Pick<VolumeManager, 'setUp' | 'mountsFor' | 'tearDown' | 'podsOnDisk'>

export interface PodAgentOptions {
  readonly nodeName: string
  /** The node's address: status.hostIP, the pod IP of hostNetwork pods, `status.hostIP` env. */
  readonly hostIp: string
  readonly runtime: ContainerRuntime
  readonly client: ObjectClient
  readonly recorder: EventRecorder
  /** A pod informer (shared or the agent's own); the agent adds handlers, its owner starts it before `start`. */
  readonly pods: Informer
  /** Config maps and secrets for env (an informer-backed lookup in the daemon). */
  readonly sources: ConfigSources
  readonly volumes: PodVolumes
  readonly probes: (options: PodProbesOptions) => PodProbes
  readonly timers: Timers
  readonly log: (line: string) => void
  readonly crashBackoff?: CrashBackoffOptions
  /** How often the runtime is relisted to notice exits (kubelet: 1 s). */
  readonly relistIntervalMs?: number
  /**
   * How often a live pod is synced even when nothing queued it (kubelet: 1 min): refreshes its
   * configMap and secret volumes and retries what nothing else would.
   */
  readonly resyncIntervalMs?: number
  /** The resolver configuration a pod's sandbox gets (dnsPolicy); none: the engine's default. */
  readonly dnsFor?: (pod: JsonObject) => SandboxConfig['dns']
  /** The network of sandboxes of pods without hostNetwork (default bridge). */
  readonly sandboxNetwork?: 'bridge' | 'none'
  /** Plumbs sandboxes and gives pods their IPs (use with sandboxNetwork 'none'). */
  readonly podNetwork?: PodNetworkHook
  /** Pods synced at once (each pod by one worker at a time). */
  readonly workers?: number
  /**
   * True while `pod` must not run because the node is fenced (node-fence.ts): its containers are
   * stopped and nothing is written. The owner calls `fenceChanged` when the answer may change.
   */
  readonly fenced?: (pod: JsonObject) => boolean
  /**
   * Called with every status the agent computes for a local pod, before (and whether or not)
   * writing it through the API succeeds — so that endpoint gossip follows readiness while the
   * cluster has no quorum — and with the pod's last status when its teardown begins. Must be
   * quick and must not throw.
   */
  readonly onLocalPodStatus?: (pod: JsonObject, status: JsonObject) => void
  /** Called when a pod's containers and sandboxes are gone from this node. Must not throw. */
  readonly onLocalPodGone?: (uid: string) => void
}

const RELIST_INTERVAL_MS_DEFAULT = 1000
const RESYNC_INTERVAL_MS_DEFAULT = 60_000
const WORKERS_DEFAULT = 16
/** Grace for containers of pods this agent never knew (the kubelet's minimum grace period). */
const UNKNOWN_POD_GRACE_MS = 2000
/** Retries of a pod whose containers failed to start: from 1 s doubling to 30 s. */
const START_RETRY_MS_MIN = 1000
const START_RETRY_MS_MAX = 30_000
/** Retry of a status write that lost a race (the informer is a write behind). */
const CONFLICT_RETRY_MS = 50
/** A hostname is one DNS label. */
const HOSTNAME_LENGTH_MAX = 63

/** What the agent remembers of a pod between syncs. */
interface PodRecord {
  /** The pod as last seen in the API (kept after it vanished, for its grace period). */
  pod: JsonObject
  /** The status this agent last wrote or found already in place. */
  lastStatus: JsonObject | undefined
  /** The status last given to onLocalPodStatus (it may never have reached the API). */
  reportedStatus?: JsonObject
  /** Consecutive syncs whose starts failed, for the retry delay. */
  startFailures: number
  resyncTimer: Timer | undefined
  resyncAtMs: number
}

/** What executing a plan left waiting: start failures by container name. */
type Failures = Map<string, Waiting>

export class PodAgent {
  readonly nodeName: string
  private readonly options: PodAgentOptions
  private readonly runtime: ContainerRuntime
  private readonly queue: WorkQueue
  private readonly runner: ControllerRunner
  private readonly backoff: CrashBackoff
  private readonly probes: PodProbes
  private readonly records = new Map<string, PodRecord>()
  /** The API's pods bound to this node, by uid. */
  private readonly podsByUid = new Map<string, JsonObject>()
  /** Per pod uid, the runtime state at the last relist (ids and states). */
  private lastRelist = new Map<string, string>()
  /** Pod IPs the pod network gave, by sandbox id (the runtime does not know them). */
  private readonly sandboxIps = new Map<string, { readonly podUid: string; readonly ip: string }>()
  private relistTimer: Timer | undefined
  private relistFailures = 0
  private eventSequence = 0
  private started = false
  private stopped = false

  constructor(options: PodAgentOptions) {
    this.options = options
    this.nodeName = options.nodeName
    this.runtime = options.runtime
    this.backoff = new CrashBackoff(options.crashBackoff)
    this.queue = new WorkQueue({ timers: options.timers, baseDelayMs: START_RETRY_MS_MIN, maxDelayMs: START_RETRY_MS_MAX })
    this.runner = new ControllerRunner({
      name: `pod-agent ${options.nodeName}`,
      queue: this.queue,
      workers: options.workers ?? WORKERS_DEFAULT,
      sync: (uid) => this.sync(uid),
      isFatal: () => false,
      onFatal: () => {},
      log: options.log,
    })
    this.probes = options.probes({ runtime: options.runtime, timers: options.timers, onChange: (uid) => this.queue.add(uid), log: options.log })
    options.pods.addHandlers({
      onAdd: (pod) => this.podChanged(undefined, pod),
      onUpdate: (previous, pod) => this.podChanged(previous, pod),
      onDelete: (pod) => this.podDeleted(pod),
    })
  }

  /**
   * Starts syncing: every pod of this node in the informer, then whatever the first relist finds
   * in the runtime (containers of known pods are adopted, the rest collected). The pod informer
   * should have synced, so that no live pod is mistaken for garbage.
   */
  start(): void {
    if (this.started) return
    this.started = true
    for (const pod of this.options.pods.list()) this.podChanged(undefined, pod)
    this.runner.start()
    void this.relistLoop()
    void this.collectOrphanVolumes()
  }

  /**
   * Syncs again every pod of this node that uses the config map or secret (a volume, env or
   * envFrom), so that its files follow the object's changes without waiting for the resync.
   */
  configSourceChanged(kind: 'configMap' | 'secret', namespace: string, name: string): void {
    for (const [uid, pod] of this.podsByUid) {
      if (namespaceOf(pod) === namespace && podReferences(pod, kind, name)) this.queue.add(uid)
    }
  }

  /** Stops the agent; containers keep running (a restarted agent adopts them). */
  stop(): void {
    this.stopped = true
    this.runner.stop()
    this.relistTimer?.cancel()
    this.probes.stop()
    for (const record of this.records.values()) record.resyncTimer?.cancel()
  }

  /** True when no pod is being synced or waiting to be. */
  get idle(): boolean {
    return this.runner.idle
  }

  /** Pods this agent tracks (running, starting, or being torn down). */
  get podCount(): number {
    return this.records.size
  }

  // -------------------------------------------------------------------------------------------
  // What queues a pod

  private isMine(pod: JsonObject): boolean {
    return stringAt(specOf(pod)['nodeName']) === this.nodeName
  }

  private podChanged(previous: JsonObject | undefined, pod: JsonObject): void {
    const uid = uidOf(pod)
    if (!this.isMine(pod) && !this.records.has(uid)) return
    this.podsByUid.set(uid, pod)
    const record = this.records.get(uid)
    if (record !== undefined) record.pod = pod
    // Our own status write comes back as an update; only a change of something else (the spec,
    // the deletion mark, a status someone else wrote) needs a sync.
    if (previous !== undefined && record?.lastStatus !== undefined && onlyStatusChanged(previous, pod) && equalIgnoringNullFields(statusOf(pod), record.lastStatus)) return
    this.queue.add(uid)
  }

  private podDeleted(pod: JsonObject): void {
    const uid = uidOf(pod)
    if (!this.podsByUid.delete(uid) && !this.records.has(uid)) return
    this.queue.add(uid)
  }

  /** The PLEG: relists the runtime and queues every pod whose sandboxes or containers changed. */
  private async relistLoop(): Promise<void> {
    if (this.stopped) return
    try {
      await this.relist()
      this.relistFailures = 0
    } catch (error) {
      // The runtime may be restarting; say so now and then, and keep trying.
      if (this.relistFailures++ % 30 === 0) this.options.log(`pod agent ${this.nodeName}: relisting the runtime failed: ${(error as Error).message}`)
    }
    if (this.stopped) return
    this.relistTimer = this.options.timers.after(this.options.relistIntervalMs ?? RELIST_INTERVAL_MS_DEFAULT, () => void this.relistLoop())
  }

  private async relist(): Promise<void> {
    const [sandboxes, containers] = await Promise.all([this.runtime.listSandboxes(), this.runtime.listContainers()])
    const states = new Map<string, string[]>()
    const note = (uid: string, entry: string): void => {
      let entries = states.get(uid)
      if (entries === undefined) states.set(uid, (entries = []))
      entries.push(entry)
    }
    for (const sandbox of sandboxes) note(sandbox.pod.uid, `s:${sandbox.id}:${sandbox.state}`)
    for (const container of containers) note(container.pod.uid, `c:${container.id}:${container.state}`)
    const current = new Map([...states].map(([uid, entries]) => [uid, entries.sort().join(',')]))
    for (const [uid, fingerprint] of current) if (this.lastRelist.get(uid) !== fingerprint) this.queue.add(uid)
    for (const uid of this.lastRelist.keys()) if (!current.has(uid)) this.queue.add(uid)
    this.lastRelist = current
  }

  /** Volume directories of pods that are gone (the daemon was down when they went). */
  private async collectOrphanVolumes(): Promise<void> {
    try {
      for (const uid of await this.options.volumes.podsOnDisk()) if (!this.podsByUid.has(uid)) this.queue.add(uid)
    } catch (error) {
      this.options.log(`pod agent ${this.nodeName}: listing pod volume directories failed: ${(error as Error).message}`)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sync

  private async sync(uid: string): Promise<void> {
    if (this.stopped) return
    const pod = this.podsByUid.get(uid)
    const observed = await this.observe(uid, pod)
    if (pod === undefined) return this.syncGone(uid, observed)
    let record = this.records.get(uid)
    if (record === undefined) {
      record = { pod, lastStatus: undefined, startFailures: 0, resyncTimer: undefined, resyncAtMs: Number.POSITIVE_INFINITY }
      this.records.set(uid, record)
    }
    record.pod = pod
    this.updateProbes(pod, observed)
    const nowMs = this.options.timers.realtimeMs()
    const plan = computePodActions({ pod, nodeName: this.nodeName, observed, probes: (name) => this.probes.resultOf(uid, name), backoff: this.backoff, nowMs })
    if (plan.removePod) return this.syncTeardown(uid, pod, observed, plan)
    if (this.options.fenced?.(pod) === true) return this.syncFenced(pod, observed)
    const failures = await this.execute(pod, observed, plan)
    const after = await this.observe(uid, pod)
    this.updateProbes(pod, after)
    const waiting = new Map([...plan.waiting, ...failures])
    const status = podStatusFrom({ pod, observed: after, probes: (name) => this.probes.resultOf(uid, name), waiting, nowMs: this.options.timers.realtimeMs(), hostIp: this.options.hostIp, runtimeName: this.runtime.name })
    record.reportedStatus = status
    this.options.onLocalPodStatus?.(pod, status)
    await this.writeStatus(uid, record, pod, status)
    record.startFailures = failures.size > 0 ? record.startFailures + 1 : 0
    const retryMs = failures.size > 0 ? Math.min(START_RETRY_MS_MAX, START_RETRY_MS_MIN * 2 ** Math.min(record.startFailures - 1, 10)) : Number.POSITIVE_INFINITY
    const periodicMs = plan.killPod ? Number.POSITIVE_INFINITY : (this.options.resyncIntervalMs ?? RESYNC_INTERVAL_MS_DEFAULT)
    this.scheduleResync(uid, record, Math.min(plan.resyncAfterMs ?? Number.POSITIVE_INFINITY, retryMs, periodicMs))
  }

  /**
   * A pod that must not run while the node is fenced: its containers are killed at once (no grace:
   * the majority may replace the pod soon) and kept, with the sandbox, for when the fence lifts.
   * No status is written; the cut-off node could not commit it anyway.
   */
  private async syncFenced(pod: JsonObject, observed: ObservedPod): Promise<void> {
    if (!observed.containers.some((container) => container.state === 'running')) return
    const kill = teardownActions(observed, 0)
    await this.execute(pod, observed, { ...kill, stopSandboxes: [], removeContainers: [], removeSandboxes: [] })
    // Peers' service proxies stop sending it traffic (endpoint gossip); the next status after the fence brings it back.
    this.options.onLocalPodGone?.(uidOf(pod))
    this.options.log(`pod agent ${this.nodeName}: node fenced: stopped ${namespaceOf(pod)}/${nameOf(pod)}`)
  }

  /**
   * Releases the addresses of pods that exist neither in the API (bound here) nor in the runtime:
   * normally a pod's teardown frees its address, but a pod deleted while the daemon was down
   * whose containers are gone too (an engine wiped, a host rebuilt) leaves nothing to tear down.
   * Resolves with how many addresses were released.
   */
  async releaseLeakedPodAddresses(): Promise<number> {
    const network = this.options.podNetwork
    if (network?.podsWithAddresses === undefined || !this.options.pods.synced || this.stopped) return 0
    const candidates = network.podsWithAddresses().filter((uid) => !this.podsByUid.has(uid) && !this.records.has(uid))
    if (candidates.length === 0) return 0
    const inRuntime = new Set((await this.runtime.listSandboxes()).map((sandbox) => sandbox.pod.uid))
    let released = 0
    for (const uid of candidates) {
      // Checked again after the listing: a pod may have arrived meanwhile.
      if (inRuntime.has(uid) || this.podsByUid.has(uid) || this.records.has(uid)) continue
      await network.tearDown(uid)
      released++
    }
    if (released > 0) this.options.log(`pod agent ${this.nodeName}: released ${released} pod address(es) of pods that left no trace`)
    return released
  }

  /** The fence went up or down: every pod is synced again. */
  fenceChanged(): void {
    for (const uid of this.podsByUid.keys()) this.queue.add(uid)
  }

  /** A pod the API no longer has (or never had): stop and remove what is left of it. */
  private async syncGone(uid: string, observed: ObservedPod): Promise<void> {
    const record = this.records.get(uid)
    // Before the informer has listed, an unknown uid may be a live pod not seen yet.
    if (record === undefined && !this.options.pods.synced) {
      this.queue.addAfter(uid, RELIST_INTERVAL_MS_DEFAULT)
      return
    }
    if (observed.sandboxes.length > 0 || observed.containers.length > 0) {
      const graceMs = record === undefined ? UNKNOWN_POD_GRACE_MS : deletionGraceMs(record.pod)
      await this.execute(undefined, observed, teardownActions(observed, graceMs))
    }
    await this.forget(uid)
  }

  /** A pod being deleted (or moved away): stop, remove, then finish its deletion in the API. */
  private async syncTeardown(uid: string, pod: JsonObject, observed: ObservedPod, plan: PodActions): Promise<void> {
    // Peers stop sending new connections to a terminating pod before its grace period runs.
    const record = this.records.get(uid)
    if (isBeingDeleted(pod)) this.options.onLocalPodStatus?.(pod, record?.reportedStatus ?? record?.lastStatus ?? statusOf(pod))
    await this.execute(pod, observed, plan)
    if (isBeingDeleted(pod) && this.isMine(pod)) {
      try {
        await this.options.client.delete(PODS, namespaceOf(pod), nameOf(pod), uid, { gracePeriodSeconds: 0 })
      } catch (error) {
        // Gone already, or replaced by a new pod of the same name: nothing of ours to finish.
        if (!(error instanceof ApiError && (error.code === 404 || error.code === 409))) throw error
      }
    }
    this.podsByUid.delete(uid)
    await this.forget(uid)
  }

  private async forget(uid: string): Promise<void> {
    const record = this.records.get(uid)
    record?.resyncTimer?.cancel()
    this.records.delete(uid)
    this.probes.removePod(uid)
    this.backoff.forgetPod(uid)
    this.options.onLocalPodGone?.(uid)
    await this.options.volumes.tearDown(uid)
    if (this.options.podNetwork !== undefined) {
      for (const [sandboxId, entry] of this.sandboxIps) if (entry.podUid === uid) this.sandboxIps.delete(sandboxId)
      await this.options.podNetwork.tearDown(uid)
    }
  }

  /** The pod's sandboxes and containers; with `pod` and a pod network, its current sandbox carries its IP. */
  private async observe(uid: string, pod?: JsonObject): Promise<ObservedPod> {
    const [sandboxes, containers] = await Promise.all([this.runtime.listSandboxes(), this.runtime.listContainers({ podUid: uid })])
    const observed = { sandboxes: sandboxes.filter((sandbox) => sandbox.pod.uid === uid), containers }
    const current = currentSandbox(observed)
    if (pod === undefined || current === undefined || current.ip !== undefined || current.state !== 'ready') return observed
    const withIp = await this.plumbSandbox(pod, current).catch((error: Error) => {
      this.options.log(`pod agent ${this.nodeName}: pod network for ${namespaceOf(pod)}/${nameOf(pod)}: ${error.message}`)
      return current
    })
    return { ...observed, sandboxes: observed.sandboxes.map((sandbox) => (sandbox.id === current.id ? withIp : sandbox)) }
  }

  /** The sandbox with the pod IP the pod network gives it (plumbing it the first time). */
  private async plumbSandbox(pod: JsonObject, sandbox: SandboxStatus): Promise<SandboxStatus> {
    const network = this.options.podNetwork
    if (network === undefined || specOf(pod)['hostNetwork'] === true || sandbox.ip !== undefined) return sandbox
    let ip = this.sandboxIps.get(sandbox.id)?.ip
    if (ip === undefined) {
      ip = await network.setUp(sandbox.pod, sandbox)
      this.sandboxIps.set(sandbox.id, { podUid: sandbox.pod.uid, ip })
    }
    return { ...sandbox, ip }
  }

  /** Tells the probe manager which containers of the pod run now. */
  private updateProbes(pod: JsonObject, observed: ObservedPod): void {
    const podIp = this.podIpOf(pod, currentSandbox(observed))
    const running = observed.containers
      .filter((container) => container.state === 'running')
      .map((container) => ({ podUid: uidOf(pod), podIp, containerName: container.name, containerId: container.id, startedAtMs: container.startedAtMs ?? container.createdAtMs }))
    this.probes.updatePod(pod, running)
  }

  private podIpOf(pod: JsonObject, sandbox: SandboxStatus | undefined): string | undefined {
    if (specOf(pod)['hostNetwork'] === true) return this.options.hostIp
    return sandbox?.ip
  }

  private async writeStatus(uid: string, record: PodRecord, pod: JsonObject, status: JsonObject): Promise<void> {
    if (equalIgnoringNullFields(statusOf(pod), status)) {
      record.lastStatus = status
      return
    }
    try {
      await this.options.client.updateStatus(PODS, namespaceOf(pod), nameOf(pod), { ...pod, status })
      record.lastStatus = status
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return
      // The informer is a write behind; look again once it has caught up.
      if (error instanceof ApiError && error.code === 409) {
        this.queue.addAfter(uid, CONFLICT_RETRY_MS)
        return
      }
      throw error
    }
  }

  private scheduleResync(uid: string, record: PodRecord, delayMs: number): void {
    if (!Number.isFinite(delayMs)) return
    const dueMs = this.options.timers.monotonicMs() + delayMs
    if (record.resyncTimer !== undefined && record.resyncAtMs <= dueMs && record.resyncAtMs > this.options.timers.monotonicMs()) return
    record.resyncTimer?.cancel()
    record.resyncAtMs = dueMs
    record.resyncTimer = this.options.timers.after(delayMs, () => {
      record.resyncTimer = undefined
      this.queue.add(uid)
    })
  }

  // -------------------------------------------------------------------------------------------
  // Executing a plan

  /**
   * Runs the plan in the kubelet's order: kill, stop old sandboxes, collect, create the sandbox,
   * start the next init container, start app containers. Returns the starts that failed, as
   * waiting reasons. `pod` is undefined for a pod the API no longer has (no events then).
   */
  private async execute(pod: JsonObject | undefined, observed: ObservedPod, plan: PodActions): Promise<Failures> {
    const failures: Failures = new Map()
    await Promise.all(plan.kill.map((kill) => this.killContainer(pod, kill)))
    for (const sandboxId of plan.stopSandboxes) await ignoreNotFound(this.runtime.stopSandbox(sandboxId))
    for (const containerId of plan.removeContainers) await ignoreNotFound(this.runtime.removeContainer(containerId))
    for (const sandboxId of plan.removeSandboxes) await ignoreNotFound(this.runtime.removeSandbox(sandboxId))
    if (pod === undefined || plan.removePod) return failures
    for (const [name, waiting] of plan.waiting) {
      if (waiting.reason === 'CrashLoopBackOff') this.event(pod, containerRef(pod, name), 'Warning', 'BackOff', 'Back-off restarting failed container')
    }
    const starts = [...(plan.startInit === undefined ? [] : [plan.startInit]), ...plan.start]
    if (plan.killPod) return failures
    // Every sync of a live pod sets its volumes up again: that is what refreshes the files of
    // configMap and secret volumes in running containers (unchanged sources cost no writes).
    let volumePaths: ReadonlyMap<string, string>
    try {
      volumePaths = await this.options.volumes.setUp(pod)
    } catch (error) {
      this.event(pod, undefined, 'Warning', 'FailedMount', `Unable to attach or mount volumes: ${(error as Error).message}`)
      for (const start of starts) failures.set(start.name, { reason: 'ContainerCreating', message: (error as Error).message })
      return failures
    }
    if (starts.length === 0) return failures
    let sandbox = currentSandbox(observed)
    if (plan.createSandbox) {
      if (observed.sandboxes.length > 0) this.event(pod, undefined, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.')
      try {
        sandbox = await this.runtime.runSandbox(this.sandboxConfig(pod))
      } catch (error) {
        this.event(pod, undefined, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(error as Error).message}`)
        for (const start of starts) failures.set(start.name, { reason: 'ContainerCreating', message: (error as Error).message })
        return failures
      }
      try {
        sandbox = await this.plumbSandbox(pod, sandbox)
      } catch (error) {
        // As the kubelet does when its network plugin fails: the sandbox goes, the retry makes a new one.
        await ignoreNotFound(this.runtime.stopSandbox(sandbox.id))
        await ignoreNotFound(this.runtime.removeSandbox(sandbox.id))
        this.event(pod, undefined, 'Warning', 'FailedCreatePodSandBox', `Failed to set up the pod network of the sandbox: ${(error as Error).message}`)
        for (const start of starts) failures.set(start.name, { reason: 'ContainerCreating', message: (error as Error).message })
        return failures
      }
    }
    if (sandbox === undefined) return failures
    for (const start of starts) {
      const failure = await this.startContainer(pod, sandbox, start, volumePaths)
      if (failure !== undefined) failures.set(start.name, failure)
    }
    return failures
  }

  private async killContainer(pod: JsonObject | undefined, kill: ContainerKill): Promise<void> {
    if (pod !== undefined) {
      const ref = containerRef(pod, kill.name)
      if (kill.reason === 'LivenessFailed') {
        const message = this.probes.resultOf(uidOf(pod), kill.name).message ?? ''
        this.event(pod, ref, 'Warning', 'Unhealthy', `Liveness probe failed: ${message}`.trimEnd())
      }
      this.event(pod, ref, 'Normal', 'Killing', kill.message)
    }
    await ignoreNotFound(this.runtime.stopContainer(kill.containerId, kill.gracePeriodMs))
  }

  private sandboxConfig(pod: JsonObject): Parameters<ContainerRuntime['runSandbox']>[0] {
    const spec = specOf(pod)
    const hostname = (stringAt(spec['hostname']) || nameOf(pod)).slice(0, HOSTNAME_LENGTH_MAX).replace(/[-.]+$/, '')
    const dns = this.options.dnsFor?.(pod)
    return {
      pod: { uid: uidOf(pod), name: nameOf(pod), namespace: namespaceOf(pod) },
      hostname,
      network: spec['hostNetwork'] === true ? 'host' : (this.options.sandboxNetwork ?? (this.options.podNetwork !== undefined ? 'none' : 'bridge')),
      ...(dns !== undefined ? { dns } : {}),
    }
  }

  /**
   * Creates and starts one container, with the kubelet's events. Returns why it could not, as the
   * waiting reason and message its status shows.
   */
  private async startContainer(pod: JsonObject, sandbox: SandboxStatus, start: ContainerStart, volumePaths: ReadonlyMap<string, string>): Promise<Waiting | undefined> {
    const spec = specContainers(pod, start.init).find((container) => container['name'] === start.name)
    if (spec === undefined) return undefined
    const ref = containerRef(pod, start.name)
    const image = stringAt(spec['image'])
    const failed = (reason: string, message: string): Waiting => {
      this.event(pod, ref, 'Warning', 'Failed', `Error: ${reason === 'ErrImageNeverPull' ? reason : message}`)
      return { reason, message }
    }
    if ((await this.runtime.imageStatus(image)) === undefined) return this.imageMissing(pod, ref, image)
    this.event(pod, ref, 'Normal', 'Pulled', `Container image "${image}" already present on machine`)
    let config: ContainerConfig
    try {
      config = this.containerConfig(pod, spec, start, sandbox, volumePaths)
    } catch (error) {
      if (error instanceof ContainerConfigError || error instanceof VolumeSetupError) return failed('CreateContainerConfigError', (error as Error).message)
      throw error
    }
    // The back-off counts restart attempts, whether or not this one gets far.
    if (start.restartOfExitAtMs !== undefined) this.backoff.recordRestart(uidOf(pod), start.name, start.restartOfExitAtMs)
    let containerId: string
    try {
      containerId = await this.runtime.createContainer(sandbox.id, config)
    } catch (error) {
      if (error instanceof ImageNotPresentError) return this.imageMissing(pod, ref, image)
      return failed('CreateContainerError', (error as Error).message)
    }
    this.event(pod, ref, 'Normal', 'Created', `Created container ${start.name}`)
    try {
      await this.runtime.startContainer(containerId)
    } catch (error) {
      return failed('RunContainerError', (error as Error).message)
    }
    this.event(pod, ref, 'Normal', 'Started', `Started container ${start.name}`)
    return undefined
  }

  private imageMissing(pod: JsonObject, ref: ContainerRef, image: string): Waiting {
    const message = `Container image "${image}" is not present with pull policy of Never`
    this.event(pod, ref, 'Warning', 'ErrImageNeverPull', message)
    this.event(pod, ref, 'Warning', 'Failed', 'Error: ErrImageNeverPull')
    return { reason: 'ErrImageNeverPull', message }
  }

  /** The runtime's configuration of a pod's container. @throws ContainerConfigError, VolumeSetupError */
  private containerConfig(pod: JsonObject, spec: JsonObject, start: ContainerStart, sandbox: SandboxStatus, volumePaths: ReadonlyMap<string, string>): ContainerConfig {
    const podIp = this.podIpOf(pod, sandbox)
    const env = resolveContainerEnv(pod, spec, this.options.sources, {
      nodeName: this.nodeName,
      nodeIp: this.options.hostIp,
      ...(podIp === undefined ? {} : { podIp, podIps: [podIp] }),
      serviceAccountName: stringAt(specOf(pod)['serviceAccountName'], 'default'),
    })
    const mounts = this.options.volumes.mountsFor(pod, spec, volumePaths)
    const securityContext = objectAt(spec['securityContext'])
    const runAsUser = securityContext['runAsUser'] ?? objectAt(specOf(pod)['securityContext'])['runAsUser']
    const command = expandContainerCommand(stringsAt(spec['command']), env)
    const args = expandContainerCommand(stringsAt(spec['args']), env)
    const workingDir = stringAt(spec['workingDir'])
    return {
      name: start.name,
      attempt: start.attempt,
      image: stringAt(spec['image']),
      ...(command === undefined ? {} : { command }),
      ...(args === undefined ? {} : { args }),
      env,
      ...(workingDir === '' ? {} : { workingDir }),
      mounts,
      resources: containerResources(spec),
      tty: spec['tty'] === true,
      stdin: spec['stdin'] === true,
      stdinOnce: spec['stdinOnce'] === true,
      ...(typeof runAsUser === 'number' ? { runAsUser } : {}),
      privileged: securityContext['privileged'] === true,
      specHash: containerSpecHash(spec),
      // The fence keeper kills these if the daemon stops beating (fence-keeper.ts).
      ...(mustRunAtMostOnce(pod) ? { labels: { [AT_MOST_ONCE_LABEL]: 'true' } } : {}),
    }
  }

  // -------------------------------------------------------------------------------------------
  // Events

  private event(pod: JsonObject, ref: ContainerRef | undefined, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const involved = { ...pod, kind: 'Pod', apiVersion: 'v1' }
    const recorded = newEvent({ involved, reason, message, type, component: 'kubelet', nowMs: this.options.timers.realtimeMs(), sequence: this.eventSequence++ })
    const involvedObject = ref === undefined ? objectAt(recorded['involvedObject']) : { ...objectAt(recorded['involvedObject']), fieldPath: ref.fieldPath }
    this.options.recorder.record({ ...recorded, involvedObject, source: { component: 'kubelet', host: this.nodeName } })
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Config maps and secrets for env and volumes, read from informer caches (the daemon's wiring). */
export function informerConfigSources(configMaps: Informer, secrets: Informer): ConfigSources {
  return {
    configMap: (namespace, name) => configMaps.get(namespace, name),
    secret: (namespace, name) => secrets.get(namespace, name),
  }
}

interface ContainerRef {
  readonly fieldPath: string
}

/** The event field path of a container: `spec.containers{web}` or `spec.initContainers{init}`. */
function containerRef(pod: JsonObject, name: string): ContainerRef {
  const init = specContainers(pod, true).some((container) => container['name'] === name)
  return { fieldPath: `spec.${init ? 'initContainers' : 'containers'}{${name}}` }
}

/** True when only `status` (and the bookkeeping that comes with any write) differs. */
function onlyStatusChanged(previous: JsonObject, pod: JsonObject): boolean {
  const { resourceVersion: _a, managedFields: _b, ...before } = metadataOf(previous)
  const { resourceVersion: _c, managedFields: _d, ...after } = metadataOf(pod)
  return equalIgnoringNullFields(before, after) && equalIgnoringNullFields(specOf(previous), specOf(pod))
}

function stringsAt(value: JsonObject[string] | undefined): string[] | undefined {
  return Array.isArray(value) ? value.map((item) => String(item)) : undefined
}

/** requests/limits as the runtime takes them: cpu in millicores, memory in bytes. */
export function containerResources(spec: JsonObject): ContainerResources {
  const resources = objectAt(spec['resources'])
  const limits = objectAt(resources['limits'])
  const requests = objectAt(resources['requests'])
  const quantity = (value: JsonObject[string] | undefined, unit: 'milli' | 'units'): number | undefined => {
    if (typeof value !== 'string' && typeof value !== 'number') return undefined
    try {
      const parsed = parseQuantity(String(value))
      return Number(unit === 'milli' ? parsed.toMilli() : parsed.value())
    } catch {
      // Admission validated the quantity; an unparsable one would have been refused.
      return undefined
    }
  }
  const cpuLimitMillis = quantity(limits['cpu'], 'milli')
  const cpuRequestMillis = quantity(requests['cpu'], 'milli')
  const memoryLimitBytes = quantity(limits['memory'], 'units')
  return {
    ...(cpuLimitMillis === undefined ? {} : { cpuLimitMillis }),
    ...(cpuRequestMillis === undefined ? {} : { cpuRequestMillis }),
    ...(memoryLimitBytes === undefined ? {} : { memoryLimitBytes }),
  }
}

/** Runs a runtime call whose target may already be gone (idempotent removal). */
async function ignoreNotFound(operation: Promise<void>): Promise<void> {
  try {
    await operation
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error
  }
}

/** True when the pod uses the config map or secret as a volume, a projected source, env or envFrom. */
function podReferences(pod: JsonObject, kind: 'configMap' | 'secret', name: string): boolean {
  // Every reference names its object under the same keys, so one walk over the spec finds them all:
  // volumes[].configMap.name / secret.secretName, projected sources, env[].valueFrom.*KeyRef.name, envFrom[].*Ref.name.
  const keys = kind === 'configMap' ? ['configMap', 'configMapRef', 'configMapKeyRef'] : ['secret', 'secretRef', 'secretKeyRef']
  const visit = (value: unknown): boolean => {
    if (Array.isArray(value)) return value.some(visit)
    if (typeof value !== 'object' || value === null) return false
    const object = value as Record<string, unknown>
    for (const key of keys) {
      const reference = object[key]
      if (typeof reference !== 'object' || reference === null) continue
      // A secret volume names it in secretName; everything else (projected sources included) in name.
      const named = reference as Record<string, unknown>
      if (named['name'] === name || (key === 'secret' && named['secretName'] === name)) return true
    }
    return Object.values(object).some(visit)
  }
  return visit(pod['spec'])
}
