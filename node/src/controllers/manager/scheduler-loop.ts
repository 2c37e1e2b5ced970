/**
 * The scheduling controller on the Raft leader: it keeps the scheduler's ClusterSnapshot current
 * from the pod, node and namespace informers (and, for VolumeBinding, the claim, volume and
 * storage class informers), collects the pods waiting for a node, places them in batches
 * (scheduleBatch), and writes the results.
 *
 * - Bindings of a batch are written concurrently, so Raft commits them together (group commit):
 *   each is one write of the pod with `spec.nodeName` and PodScheduled=True (as the `/binding`
 *   subresource does), with the resourceVersion the decision was made on as precondition, then a
 *   Normal `Scheduled` event. Placements are assumed in the snapshot until their write settles,
 *   so the next batch never double-books a node; a binding that fails is forgotten and its pod
 *   retried with back-off.
 * - A pod that fits nowhere gets PodScheduled=False (reason Unschedulable, the per-node reasons
 *   message, written only when it changes) and a Warning `FailedScheduling` event (repeats are
 *   counted by the event recorder). It then waits in the unschedulable set until the cluster
 *   changes in a way that could let it fit — a node added or changed, a bound pod gone or
 *   finished, a claim, volume or storage class added or changed — and at least its back-off
 *   (1 s doubling to 10 s, kube-scheduler's defaults) has passed; every `unschedulableFlushMs`
 *   all of them are tried again regardless.
 * - Order: higher `spec.priority` first, then older pods, then by key (deterministic). The batch
 *   seed is the leader's term (replicated data), so a leader's decisions replay.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { ApiError } from '../../api/machinery/status.ts'
import { ClusterSnapshot } from '../../scheduler/snapshot.ts'
import { DEFAULT_SCHEDULER_PROFILE, type SchedulerProfile } from '../../scheduler/profile.ts'
import { scheduleBatch, type Binding, type SchedulingFailure } from '../../scheduler/schedule.ts'
import { bindingWrites, failureWrites, needsScheduling } from '../../scheduler/scheduling-writes.ts'
import { equalIgnoringNullFields, labelsOf, listAt, metadataOf, numberAt, objectAt, parseTimeMs, specOf, statusOf, stringAt } from '../object-fields.ts'
import { PODS } from '../plan.ts'
import type { EventRecorder } from './event-recorder.ts'
import { cacheKeyOf, type Informer } from './informer.ts'
import type { ObjectClient } from './object-client.ts'
import type { Timer, Timers } from '../../../../lib/timers.ts'

/** The informers of what pods' claims need (SharedInformers has them). */
export interface VolumeInformers {
  readonly persistentVolumeClaims: Informer
  readonly persistentVolumes: Informer
  readonly storageClasses: Informer
}

export interface SchedulerLoopOptions {
  readonly client: ObjectClient
  readonly recorder: EventRecorder
  readonly pods: Informer
  readonly nodes: Informer
  readonly namespaces: Informer
  /** Without them the snapshot knows no claims, and VolumeBinding rejects every pod that mounts one. */
  readonly volumes?: VolumeInformers
  readonly timers: Timers
  /** The batch seed (the leader's term). */
  readonly seed: number
  readonly log: (line: string) => void
  /** False once the manager stops: no further writes. */
  readonly isActive: () => boolean
  readonly isFatal: (error: Error) => boolean
  readonly onFatal: (error: Error) => void
  /** Events' reportingInstance (the leader's node name). */
  readonly reportingInstance?: string
  readonly profile?: SchedulerProfile
  /** Most pods per batch. */
  readonly batchMax?: number
  readonly initialBackoffMs?: number
  readonly maxBackoffMs?: number
  readonly unschedulableFlushMs?: number
}

interface Unschedulable {
  attempts: number
  backoffUntilMs: number
  retryTimer: Timer | undefined
}

const BATCH_MAX_DEFAULT = 1000
const INITIAL_BACKOFF_MS_DEFAULT = 1000
const MAX_BACKOFF_MS_DEFAULT = 10_000
const UNSCHEDULABLE_FLUSH_MS_DEFAULT = 30_000

/** Pod spec changes that can make an unschedulable pod fit (kube's isPodUpdated ignores status). */
function schedulingInputsChanged(previous: JsonObject, pod: JsonObject): boolean {
  return !equalIgnoringNullFields(specOf(previous), specOf(pod)) || !equalIgnoringNullFields(labelsOf(previous), labelsOf(pod))
}

/** Node changes that can make a pending pod fit. */
function nodeChangeMatters(previous: JsonObject, node: JsonObject): boolean {
  return (
    !equalIgnoringNullFields(specOf(previous), specOf(node)) ||
    !equalIgnoringNullFields(labelsOf(previous), labelsOf(node)) ||
    !equalIgnoringNullFields(statusOf(previous)['allocatable'], statusOf(node)['allocatable'])
  )
}

function isPlaced(pod: JsonObject): boolean {
  const phase = stringAt(statusOf(pod)['phase'])
  return stringAt(specOf(pod)['nodeName']) !== '' && phase !== 'Succeeded' && phase !== 'Failed'
}

function podScheduledCondition(pod: JsonObject): JsonObject | undefined {
  return listAt(statusOf(pod)['conditions']).map(objectAt).find((condition) => condition['type'] === 'PodScheduled')
}

export class SchedulerLoop {
  private readonly options: SchedulerLoopOptions
  private readonly snapshot = new ClusterSnapshot()
  /** Pods to try in the next batch (insertion-ordered set of keys). */
  private readonly active = new Set<string>()
  private readonly unschedulable = new Map<string, Unschedulable>()
  /** Pods whose binding write is in flight: the snapshot holds their assumed placement. */
  private readonly assumed = new Set<string>()
  private cycleRunning = false
  private cycleQueued = false
  private writesInFlight = 0
  private flushTimer: Timer | undefined
  private stopped = false
  private started = false

  constructor(options: SchedulerLoopOptions) {
    this.options = options
    options.pods.addHandlers({
      onAdd: (pod) => this.podUpserted(undefined, pod),
      onUpdate: (previous, pod) => this.podUpserted(previous, pod),
      onDelete: (pod) => this.podDeleted(pod),
    })
    options.nodes.addHandlers({
      onAdd: (node) => {
        this.snapshot.upsertNode(node)
        this.moveAllToActive()
      },
      onUpdate: (previous, node) => {
        this.snapshot.upsertNode(node)
        if (nodeChangeMatters(previous, node)) this.moveAllToActive()
      },
      onDelete: (node) => this.snapshot.removeNode(stringAt(metadataOf(node)['name'])),
    })
    options.namespaces.addHandlers({
      onAdd: (namespace) => this.snapshot.upsertNamespace(namespace),
      onUpdate: (_previous, namespace) => this.snapshot.upsertNamespace(namespace),
      onDelete: (namespace) => this.snapshot.removeNamespace(stringAt(metadataOf(namespace)['name'])),
    })
    if (options.volumes !== undefined) this.watchVolumes(options.volumes)
  }

  /** Claims, volumes and classes feed the snapshot; one that appears or changes may let a pod fit. */
  private watchVolumes(volumes: VolumeInformers): void {
    const changed = (upsert: (object: JsonObject) => void) => (object: JsonObject): void => {
      upsert(object)
      this.moveAllToActive()
    }
    const claimChanged = changed((claim) => this.snapshot.upsertClaim(claim))
    volumes.persistentVolumeClaims.addHandlers({
      onAdd: claimChanged,
      onUpdate: (_previous, claim) => claimChanged(claim),
      onDelete: (claim) => this.snapshot.removeClaim(cacheKeyOf(claim)),
    })
    const volumeChanged = changed((volume) => this.snapshot.upsertPersistentVolume(volume))
    volumes.persistentVolumes.addHandlers({
      onAdd: volumeChanged,
      onUpdate: (_previous, volume) => volumeChanged(volume),
      onDelete: (volume) => this.snapshot.removePersistentVolume(stringAt(metadataOf(volume)['name'])),
    })
    const classChanged = changed((storageClass) => this.snapshot.upsertStorageClass(storageClass))
    volumes.storageClasses.addHandlers({
      onAdd: classChanged,
      onUpdate: (_previous, storageClass) => classChanged(storageClass),
      onDelete: (storageClass) => this.snapshot.removeStorageClass(stringAt(metadataOf(storageClass)['name'])),
    })
  }

  /** Starts scheduling (call once the informers are synced). */
  start(): void {
    this.started = true
    this.scheduleFlush()
    this.kick()
  }

  stop(): void {
    this.stopped = true
    this.flushTimer?.cancel()
    for (const entry of this.unschedulable.values()) entry.retryTimer?.cancel()
  }

  /** True when no batch runs, no write is in flight and no pod is ready to try. */
  get idle(): boolean {
    return !this.cycleRunning && !this.cycleQueued && this.writesInFlight === 0 && this.active.size === 0
  }

  /** Pods currently waiting as unschedulable. */
  get unschedulableCount(): number {
    return this.unschedulable.size
  }

  // --- Informer events ------------------------------------------------------------------------

  private podUpserted(previous: JsonObject | undefined, pod: JsonObject): void {
    const key = cacheKeyOf(pod)
    // While our binding is in flight the snapshot holds the assumption; the write settles it.
    if (this.assumed.has(key)) return
    this.snapshot.upsertPod(pod)
    if (needsScheduling(pod)) {
      const waiting = this.unschedulable.get(key)
      if (waiting === undefined) this.enqueue(key)
      else if (previous !== undefined && schedulingInputsChanged(previous, pod)) this.retryNow(key, waiting)
      return
    }
    this.forgetPod(key)
    // A pod that finished frees its node's resources.
    if (previous !== undefined && isPlaced(previous) && !isPlaced(pod)) this.moveAllToActive()
  }

  private podDeleted(pod: JsonObject): void {
    const key = cacheKeyOf(pod)
    this.forgetPod(key)
    if (this.assumed.has(key)) return
    this.snapshot.removePod(key)
    if (isPlaced(pod)) this.moveAllToActive()
  }

  private forgetPod(key: string): void {
    this.active.delete(key)
    const waiting = this.unschedulable.get(key)
    waiting?.retryTimer?.cancel()
    this.unschedulable.delete(key)
  }

  private enqueue(key: string): void {
    this.active.add(key)
    this.kick()
  }

  private retryNow(key: string, waiting: Unschedulable): void {
    waiting.retryTimer?.cancel()
    this.unschedulable.delete(key)
    this.enqueue(key)
  }

  /** The cluster changed: every unschedulable pod is retried once its back-off has passed. */
  private moveAllToActive(): void {
    if (this.stopped) return
    const nowMs = this.options.timers.monotonicMs()
    for (const [key, waiting] of this.unschedulable) {
      if (waiting.backoffUntilMs <= nowMs) this.retryNow(key, waiting)
      else if (waiting.retryTimer === undefined) {
        waiting.retryTimer = this.options.timers.after(waiting.backoffUntilMs - nowMs, () => {
          if (this.unschedulable.get(key) === waiting) this.retryNow(key, waiting)
        })
      }
    }
  }

  private scheduleFlush(): void {
    if (this.stopped) return
    this.flushTimer = this.options.timers.after(this.options.unschedulableFlushMs ?? UNSCHEDULABLE_FLUSH_MS_DEFAULT, () => {
      this.moveAllToActive()
      this.scheduleFlush()
    })
  }

  // --- Scheduling cycles ----------------------------------------------------------------------

  private kick(): void {
    if (!this.started || this.stopped || this.cycleRunning || this.cycleQueued || this.active.size === 0) return
    this.cycleQueued = true
    // A microtask, not a timer: scheduling takes no simulated time, and events of the same turn
    // (a ReplicaSet's burst of creates) land in one batch.
    void Promise.resolve().then(() => this.runCycles())
  }

  private async runCycles(): Promise<void> {
    this.cycleQueued = false
    if (this.cycleRunning) return
    this.cycleRunning = true
    try {
      while (this.active.size > 0 && !this.stopped && this.options.isActive()) await this.runBatch()
    } finally {
      this.cycleRunning = false
    }
  }

  private async runBatch(): Promise<void> {
    const { pods, timers, seed } = this.options
    const batchMax = this.options.batchMax ?? BATCH_MAX_DEFAULT
    const batch: JsonObject[] = []
    for (const key of this.active) {
      if (batch.length >= batchMax) break
      this.active.delete(key)
      const pod = pods.getByKey(key)
      if (pod !== undefined && needsScheduling(pod)) batch.push(pod)
    }
    if (batch.length === 0) return
    batch.sort(comparePodsForScheduling)
    const result = scheduleBatch(batch, this.snapshot, seed, this.options.profile ?? DEFAULT_SCHEDULER_PROFILE)
    for (const binding of result.bindings) this.assumed.add(binding.pod.key)
    const now = new Date(timers.realtimeMs())
    await Promise.all([...result.bindings.map((binding) => this.bind(binding, now)), ...result.failures.map((failure) => this.fail(failure, now))])
  }

  private async bind(binding: Binding, now: Date): Promise<void> {
    const { client, recorder, pods } = this.options
    const pod = binding.pod.object
    const key = binding.pod.key
    const writes = bindingWrites(pod, binding.nodeName, this.writeOptions(now))
    this.writesInFlight++
    try {
      const bound = await client.bind(binding.pod.namespace, binding.pod.name, writes.pod)
      this.assumed.delete(key)
      // The informer may have delivered something newer meanwhile (ignored while assumed).
      const cached = pods.getByKey(key)
      const latest = cached !== undefined && Number(metadataOf(cached)['resourceVersion']) > Number(metadataOf(bound)['resourceVersion']) ? cached : bound
      this.snapshot.upsertPod(latest)
      recorder.record(writes.event)
    } catch (error) {
      this.assumed.delete(key)
      this.snapshot.removePod(key)
      const current = pods.getByKey(key)
      if (current !== undefined) this.snapshot.upsertPod(current)
      if (this.options.isFatal(error as Error)) return this.options.onFatal(error as Error)
      if (!(error instanceof ApiError && (error.code === 409 || error.code === 404))) this.options.log(`scheduler: binding ${key} to ${binding.nodeName} failed: ${(error as Error).message}`)
      if (current !== undefined && needsScheduling(current)) this.markUnschedulable(key, false)
    } finally {
      this.writesInFlight--
    }
  }

  private async fail(failure: SchedulingFailure, now: Date): Promise<void> {
    const { client, recorder } = this.options
    const message = failure.failure.message
    const writes = failureWrites(failure.pod, message, this.writeOptions(now))
    this.markUnschedulable(failure.key, true)
    recorder.record(writes.event)
    const previous = podScheduledCondition(failure.pod)
    if (previous?.['status'] === 'False' && previous['reason'] === 'Unschedulable' && previous['message'] === message) return
    this.writesInFlight++
    try {
      const metadata = metadataOf(failure.pod)
      await client.updateStatus(PODS, stringAt(metadata['namespace']), stringAt(metadata['name']), writes.pod)
    } catch (error) {
      if (this.options.isFatal(error as Error)) return this.options.onFatal(error as Error)
      // A conflict means the pod changed: its informer update decides what happens next.
      if (!(error instanceof ApiError && (error.code === 409 || error.code === 404))) this.options.log(`scheduler: marking ${failure.key} unschedulable failed: ${(error as Error).message}`)
    } finally {
      this.writesInFlight--
    }
  }

  /** Parks a pod until the cluster changes, with the next back-off (kube: 1 s doubling to 10 s). */
  private markUnschedulable(key: string, waitForChange: boolean): void {
    if (this.stopped) return
    const nowMs = this.options.timers.monotonicMs()
    const attempts = (this.unschedulable.get(key)?.attempts ?? 0) + 1
    this.unschedulable.get(key)?.retryTimer?.cancel()
    const initial = this.options.initialBackoffMs ?? INITIAL_BACKOFF_MS_DEFAULT
    const backoffMs = Math.min(this.options.maxBackoffMs ?? MAX_BACKOFF_MS_DEFAULT, initial * 2 ** Math.min(attempts - 1, 20))
    const entry: Unschedulable = { attempts, backoffUntilMs: nowMs + backoffMs, retryTimer: undefined }
    this.unschedulable.set(key, entry)
    // A failed binding (not a misfit) is retried after its back-off without waiting for a change.
    if (!waitForChange) {
      entry.retryTimer = this.options.timers.after(backoffMs, () => {
        if (this.unschedulable.get(key) === entry) this.retryNow(key, entry)
      })
    }
  }

  private writeOptions(now: Date): { now: Date; reportingInstance?: string } {
    return this.options.reportingInstance === undefined ? { now } : { now, reportingInstance: this.options.reportingInstance }
  }
}

/** Higher priority first, then older, then by namespace/name. */
function comparePodsForScheduling(a: JsonObject, b: JsonObject): number {
  const priority = numberAt(specOf(b)['priority'], 0) - numberAt(specOf(a)['priority'], 0)
  if (priority !== 0) return priority
  const createdA = parseTimeMs(metadataOf(a)['creationTimestamp']) ?? 0
  const createdB = parseTimeMs(metadataOf(b)['creationTimestamp']) ?? 0
  if (createdA !== createdB) return createdA - createdB
  const keyA = cacheKeyOf(a)
  const keyB = cacheKeyOf(b)
  return keyA < keyB ? -1 : keyA > keyB ? 1 : 0
}
