/**
 * The Deployment controller as a pure reconcile: given a Deployment, the ReplicaSets it controls,
 * their pods and the time, plan the ReplicaSet writes that roll the Deployment toward its
 * template, and the status and events that `kubectl rollout status/history/undo` and `describe`
 * rely on. The ReplicaSet controller (replicaset.ts) then turns ReplicaSet sizes into pods.
 *
 * The decision procedure is kube-controller-manager's (sync.go, rolling.go, recreate.go,
 * progress.go, deployment_util.go), in the order of its syncDeployment:
 * 1. A Deployment being deleted only gets its status refreshed.
 * 2. Pausing and resuming set Progressing=Unknown (DeploymentPaused/DeploymentResumed), so time
 *    spent paused never counts against progressDeadlineSeconds.
 * 3. The "new" ReplicaSet is the oldest one whose template equals the Deployment's (ignoring the
 *    pod-template-hash label). It gets revision max(old)+1, which is how `rollout undo` reuses an
 *    old ReplicaSet; the Deployment's revision annotation follows it.
 * 4. Paused Deployments and scaling events (the replica count changed, seen through the
 *    desired-replicas annotation) are scaled proportionally across the active ReplicaSets without
 *    advancing the rollout.
 * 5. RollingUpdate: grow the new ReplicaSet while all ReplicaSets stay within
 *    replicas + maxSurge; otherwise shrink old ReplicaSets, first by their unavailable pods, then
 *    while available pods stay above replicas − maxUnavailable. Recreate: scale every old
 *    ReplicaSet to 0, wait until none of their pods exist, then create and grow the new one.
 * 6. Once complete, old ReplicaSets beyond revisionHistoryLimit (scaled to 0) are deleted.
 * 7. Status and conditions (Available; Progressing with ReplicaSetUpdated, NewReplicaSetAvailable
 *    or ProgressDeadlineExceeded), and a wake-up for the progress deadline and minReadySeconds.
 *
 * One deliberate difference: availability is counted from the pods themselves rather than from
 * the ReplicaSets' status, and an old ReplicaSet is credited with at most `spec.replicas`
 * available pods. A ReplicaSet that has been told to shrink but has not yet deleted its pods
 * would otherwise be counted at its old strength, and the rollout could take away more available
 * pods than maxUnavailable allows. The ReplicaSet controller deletes unavailable pods first
 * (pods.ts), so the credited pods are the ones that survive.
 */
import { assert } from '../../../lib/assert.ts'
import { cloneJson, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { DeploymentReason, findCondition, newCondition, setCondition, withoutCondition, type ConditionSpec, type ConditionStatus } from './deployment-conditions.ts'
import {
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  REVISION_ANNOTATION,
  intAnnotation,
  maxRevision,
  newReplicaSetFor,
  replicasAnnotationsNeedUpdate,
  revisionOf,
  splitNewAndOld,
  syncedReplicaSetAnnotations,
} from './deployment-revisions.ts'
import { newEvent } from './events.ts'
import {
  annotationsOf,
  byCreationThenName,
  equalIgnoringNullFields,
  generationOf,
  isBeingDeleted,
  listAt,
  metadataOf,
  nameOf,
  namespaceOf,
  numberAt,
  objectAt,
  parseTimeMs,
  specOf,
  statusOf,
  uidOf,
} from './object-fields.ts'
import { DEPLOYMENTS, PlanBuilder, REPLICA_SETS, type Plan } from './plan.ts'
import { isPodActive, isPodAvailable, isPodReady, podAvailableAtMs, podPhase } from './pods.ts'
import { newReplicaSetReplicasRolling, replicaSetProportion, resolveFenceposts } from './rollout-math.ts'
import { computePodTemplateHash } from './template-hash.ts'

const COMPONENT = 'deployment-controller'
/** Go's MaxInt32: progressDeadlineSeconds and revisionHistoryLimit use it to mean "never". */
const MAX_INT32 = 2_147_483_647

/** Optional inputs of reconcileDeployment. */
export interface DeploymentReconcileOptions {
  /**
   * Names of ReplicaSets in the Deployment's namespace that the Deployment does not control. A
   * new ReplicaSet's name that is taken there is a hash collision: the Deployment bumps
   * `status.collisionCount` and tries another name, as Kubernetes does on AlreadyExists.
   */
  readonly foreignReplicaSetNames?: ReadonlySet<string>
}

/** One of the Deployment's ReplicaSets during a reconcile: its working copy and its pods. */
interface ReplicaSetView {
  object: JsonObject
  readonly pods: readonly JsonObject[]
  /** Written (created or updated) by this plan. */
  written: boolean
  /** The available-pod count, cached for one minReadySeconds value (pods do not change meanwhile). */
  availableCache?: { readonly minReadySeconds: number; readonly count: number }
}

/**
 * Plans one reconcile of `deployment`.
 *
 * @param controlledReplicaSets ReplicaSets whose controller owner reference is the Deployment.
 * @param podsByReplicaSet pods by the uid of the ReplicaSet that controls them (terminating
 *   pods included: Recreate waits for them).
 * @param nowMs the time: condition timestamps, minReadySeconds and the progress deadline.
 */
export function reconcileDeployment(
  deployment: JsonObject,
  controlledReplicaSets: readonly JsonObject[],
  podsByReplicaSet: ReadonlyMap<string, readonly JsonObject[]>,
  nowMs: number,
  options: DeploymentReconcileOptions = {},
): Plan {
  const sync = new DeploymentSync(deployment, controlledReplicaSets, podsByReplicaSet, nowMs, options)
  sync.run()
  return sync.finish()
}

/** The settings of one Deployment that the algorithm reads, with API defaults for absent ones. */
interface DeploymentSettings {
  readonly replicas: number
  readonly rolling: boolean
  readonly maxSurge: number
  /** Already clamped to `replicas`, and 0 for Recreate (Kubernetes' MaxUnavailable). */
  readonly maxUnavailable: number
  readonly minReadySeconds: number
  /** Undefined: no deadline. */
  readonly progressDeadlineSeconds: number | undefined
  /** Undefined: keep every old ReplicaSet. */
  readonly revisionHistoryLimit: number | undefined
  readonly paused: boolean
}

function settingsOf(deployment: JsonObject): DeploymentSettings {
  const spec = specOf(deployment)
  const replicas = Math.max(0, numberAt(spec['replicas'], 1))
  const strategy = objectAt(spec['strategy'])
  const rolling = strategy['type'] !== 'Recreate'
  const rollingUpdate = objectAt(strategy['rollingUpdate'])
  const fenceposts = resolveFenceposts(rollingUpdate['maxSurge'] ?? '25%', rollingUpdate['maxUnavailable'] ?? '25%', replicas)
  const deadline = spec['progressDeadlineSeconds']
  const limit = spec['revisionHistoryLimit']
  return {
    replicas,
    rolling,
    maxSurge: rolling ? fenceposts.maxSurge : 0,
    maxUnavailable: rolling && replicas > 0 ? Math.min(fenceposts.maxUnavailable, replicas) : 0,
    minReadySeconds: numberAt(spec['minReadySeconds'], 0),
    progressDeadlineSeconds: typeof deadline === 'number' && deadline !== MAX_INT32 ? deadline : undefined,
    revisionHistoryLimit: typeof limit === 'number' && limit !== MAX_INT32 ? Math.max(0, limit) : undefined,
    paused: spec['paused'] === true,
  }
}

/** A Progressing condition. */
function progressing(status: ConditionStatus, reason: string, message: string): ConditionSpec {
  return { type: 'Progressing', status, reason, message }
}

/** Go's %q for the names in condition messages: `"web-6d4cf56db6"`. */
function quote(text: string): string {
  return JSON.stringify(text)
}

/** The counts a status needs, read from a status object (absent fields are 0, as omitempty). */
function countOf(status: JsonObject, field: string): number {
  return numberAt(status[field], 0)
}

/** One reconcile's working state: copies of the objects, changed as the plan is built. */
class DeploymentSync {
  private readonly deployment: JsonObject
  private readonly settings: DeploymentSettings
  private readonly nowMs: number
  private readonly foreignNames: ReadonlySet<string>
  private readonly podsByReplicaSet: ReadonlyMap<string, readonly JsonObject[]>
  private readonly views: ReplicaSetView[]
  private readonly plan = new PlanBuilder()
  private annotations: Record<string, string>
  /** The status as observed plus the condition changes made so far (Kubernetes' `d.Status`). */
  private status: JsonObject
  private statusToWrite: JsonObject | undefined
  private eventSequence = 0

  constructor(
    deployment: JsonObject,
    replicaSets: readonly JsonObject[],
    pods: ReadonlyMap<string, readonly JsonObject[]>,
    nowMs: number,
    options: DeploymentReconcileOptions,
  ) {
    this.deployment = { ...deployment, kind: DEPLOYMENTS.kind, apiVersion: DEPLOYMENTS.apiVersion }
    this.settings = settingsOf(deployment)
    this.nowMs = nowMs
    this.foreignNames = options.foreignReplicaSetNames ?? new Set()
    this.podsByReplicaSet = pods
    this.views = replicaSets.map((object) => ({ object, pods: pods.get(uidOf(object)) ?? [], written: false }))
    this.annotations = annotationsOf(deployment)
    this.status = cloneJson(statusOf(deployment))
  }

  run(): void {
    if (isBeingDeleted(this.deployment)) {
      const { newView, oldViews } = this.split()
      this.statusToWrite = this.calculateStatus([...oldViews, ...(newView ? [newView] : [])], newView)
      return
    }
    const selector = specOf(this.deployment)['selector']
    if (equalIgnoringNullFields(selector, {})) return this.selectingAll()
    this.checkPausedConditions()
    const { newView, oldViews } = this.split()
    if (newView !== undefined) this.syncExistingNewReplicaSet(newView, oldViews)
    if (this.settings.paused || this.isScalingEvent(newView, oldViews)) return this.syncScaling(newView, oldViews)
    if (this.settings.rolling) this.rolloutRolling(newView, oldViews)
    else this.rolloutRecreate(newView, oldViews)
  }

  /** Appends the Deployment's own writes (revision annotation, then status) and the wake-ups. */
  finish(): Plan {
    const metadata = metadataOf(this.deployment)
    if (!equalIgnoringNullFields(annotationsOf(this.deployment), this.annotations)) {
      const object = { ...this.deployment, metadata: { ...metadata, annotations: this.annotations } }
      this.plan.add({ type: 'update', resource: DEPLOYMENTS, namespace: namespaceOf(this.deployment), name: nameOf(this.deployment), object })
    }
    if (this.statusToWrite !== undefined && !equalIgnoringNullFields(statusOf(this.deployment), this.statusToWrite)) {
      const object = { ...this.deployment, status: this.statusToWrite }
      this.plan.add({ type: 'updateStatus', resource: DEPLOYMENTS, namespace: namespaceOf(this.deployment), name: nameOf(this.deployment), object })
    }
    // Pods that are ready but not yet available change the counts when minReadySeconds passes.
    for (const view of this.views) {
      for (const pod of view.pods) {
        const availableAtMs = isPodActive(pod) ? podAvailableAtMs(pod, this.minReadySecondsOf(view)) : undefined
        if (availableAtMs !== undefined && availableAtMs > this.nowMs) this.plan.requeueAfter(availableAtMs - this.nowMs)
      }
    }
    return this.plan.build()
  }

  // --- ReplicaSets: reading -------------------------------------------------------------------

  private split(): { newView: ReplicaSetView | undefined; oldViews: ReplicaSetView[] } {
    const { newReplicaSet, old } = splitNewAndOld(this.deployment, this.views.map((view) => view.object))
    const viewOf = (object: JsonObject): ReplicaSetView => {
      const view = this.views.find((candidate) => candidate.object === object)
      assert(view !== undefined, `ReplicaSet ${nameOf(object)} has no view`)
      return view
    }
    return { newView: newReplicaSet === undefined ? undefined : viewOf(newReplicaSet), oldViews: old.map(viewOf) }
  }

  private replicasOf(view: ReplicaSetView): number {
    return Math.max(0, numberAt(specOf(view.object)['replicas'], 1))
  }

  private minReadySecondsOf(view: ReplicaSetView): number {
    return numberAt(specOf(view.object)['minReadySeconds'], 0)
  }

  private activePodsOf(view: ReplicaSetView): JsonObject[] {
    return view.pods.filter(isPodActive)
  }

  private availablePodsOf(view: ReplicaSetView): number {
    const minReadySeconds = this.minReadySecondsOf(view)
    if (view.availableCache?.minReadySeconds !== minReadySeconds) {
      const count = this.activePodsOf(view).filter((pod) => isPodAvailable(pod, minReadySeconds, this.nowMs)).length
      view.availableCache = { minReadySeconds, count }
    }
    return view.availableCache.count
  }

  /** The available pods that will survive the ReplicaSet's current size (see the file comment). */
  private creditedAvailableOf(view: ReplicaSetView): number {
    return Math.min(this.availablePodsOf(view), this.replicasOf(view))
  }

  private sumOf(views: readonly ReplicaSetView[], count: (view: ReplicaSetView) => number): number {
    return views.reduce((total, view) => total + count(view), 0)
  }

  // --- ReplicaSets: writing -------------------------------------------------------------------

  private event(reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void {
    const sequence = this.eventSequence++
    this.plan.add({ type: 'event', event: newEvent({ involved: this.deployment, reason, message, type, component: COMPONENT, nowMs: this.nowMs, sequence }) })
  }

  private writeReplicaSet(view: ReplicaSetView, object: JsonObject): void {
    view.object = object
    view.written = true
    this.plan.add({ type: 'update', resource: REPLICA_SETS, namespace: namespaceOf(object), name: nameOf(object), object })
  }

  /**
   * Sets a ReplicaSet's size and its desired/max-replicas annotations (Kubernetes'
   * scaleReplicaSet); records ScalingReplicaSet when the size changes. Returns whether it did.
   */
  private scaleReplicaSet(view: ReplicaSetView, replicas: number, direction: 'up' | 'down'): boolean {
    assert(Number.isInteger(replicas) && replicas >= 0, `ReplicaSet ${nameOf(view.object)} cannot be scaled to ${replicas}`)
    const { replicas: desired, maxSurge } = this.settings
    const sizeChanged = this.replicasOf(view) !== replicas
    if (!sizeChanged && !replicasAnnotationsNeedUpdate(view.object, desired, desired + maxSurge)) return false
    const metadata = metadataOf(view.object)
    const annotations = {
      ...annotationsOf(view.object),
      [DESIRED_REPLICAS_ANNOTATION]: String(desired),
      [MAX_REPLICAS_ANNOTATION]: String(desired + maxSurge),
    }
    this.writeReplicaSet(view, { ...view.object, metadata: { ...metadata, annotations }, spec: { ...specOf(view.object), replicas } })
    if (sizeChanged) this.event('ScalingReplicaSet', `Scaled ${direction} replica set ${nameOf(view.object)} to ${replicas}`)
    return sizeChanged
  }

  /** Scales only when the size differs (Kubernetes' scaleReplicaSetAndRecordEvent). */
  private scaleIfNeeded(view: ReplicaSetView, replicas: number): boolean {
    const current = this.replicasOf(view)
    if (current === replicas) return false
    return this.scaleReplicaSet(view, replicas, current < replicas ? 'up' : 'down')
  }

  // --- The new ReplicaSet and revisions -----------------------------------------------------

  private hasProgressDeadline(): boolean {
    return this.settings.progressDeadlineSeconds !== undefined
  }

  private conditions(): JsonValue[] {
    return listAt(this.status['conditions'])
  }

  private setStatusCondition(spec: ConditionSpec): void {
    this.status = { ...this.status, conditions: setCondition(this.conditions(), newCondition(spec, this.nowMs)) }
  }

  /** Syncs an existing new ReplicaSet's annotations and minReadySeconds, and the revision. */
  private syncExistingNewReplicaSet(view: ReplicaSetView, oldViews: readonly ReplicaSetView[]): void {
    const newRevision = maxRevision(oldViews.map((old) => old.object)) + 1
    const annotations = syncedReplicaSetAnnotations(this.deployment, view.object, newRevision)
    const minReadySecondsChanged = numberAt(specOf(view.object)['minReadySeconds'], 0) !== this.settings.minReadySeconds
    if (annotations !== undefined || minReadySecondsChanged) {
      const metadata = metadataOf(view.object)
      this.writeReplicaSet(view, {
        ...view.object,
        metadata: { ...metadata, annotations: annotations ?? annotationsOf(view.object) },
        spec: { ...specOf(view.object), minReadySeconds: this.settings.minReadySeconds },
      })
    }
    // Kubernetes copies the revision on the next sync; doing it in the same plan saves a round.
    const revision = annotationsOf(view.object)[REVISION_ANNOTATION]
    if (revision !== undefined) this.annotations = { ...this.annotations, [REVISION_ANNOTATION]: revision }
    if (this.hasProgressDeadline() && findCondition(this.conditions(), 'Progressing') === undefined) {
      this.setStatusCondition(progressing('True', DeploymentReason.foundNewReplicaSet, `Found new replica set ${quote(nameOf(view.object))}`))
    }
  }

  /**
   * Creates the ReplicaSet for the current template, sized for the strategy. On a name
   * collision it bumps status.collisionCount instead and asks to be requeued at once.
   */
  private createNewReplicaSet(oldViews: readonly ReplicaSetView[]): ReplicaSetView | undefined {
    const collisionCount = typeof this.status['collisionCount'] === 'number' ? this.status['collisionCount'] : undefined
    const hash = computePodTemplateHash(objectAt(specOf(this.deployment)['template']), collisionCount)
    const name = `${nameOf(this.deployment)}-${hash}`
    if (this.views.some((view) => nameOf(view.object) === name) || this.foreignNames.has(name)) {
      this.status = { ...this.status, collisionCount: (collisionCount ?? 0) + 1 }
      this.statusToWrite = this.status
      this.plan.requeueAfter(0)
      return undefined
    }
    const { replicas: desired, maxSurge } = this.settings
    const replicas = this.settings.rolling
      ? newReplicaSetReplicasRolling({ desired, maxSurge, totalReplicas: this.sumOf(oldViews, (view) => this.replicasOf(view)), newReplicas: 0 })
      : desired
    const newRevision = maxRevision(oldViews.map((view) => view.object)) + 1
    const base = newReplicaSetFor(this.deployment, { hash, replicas, annotations: {} })
    const annotations = syncedReplicaSetAnnotations(this.deployment, base, newRevision, { desired, max: desired + maxSurge }) ?? {}
    const object = { ...base, metadata: { ...metadataOf(base), annotations } }
    this.plan.add({ type: 'create', resource: REPLICA_SETS, namespace: namespaceOf(this.deployment), object })
    if (replicas > 0) this.event('ScalingReplicaSet', `Scaled up replica set ${name} to ${replicas}`)
    this.annotations = { ...this.annotations, [REVISION_ANNOTATION]: String(newRevision) }
    if (this.hasProgressDeadline()) {
      this.setStatusCondition(progressing('True', DeploymentReason.newReplicaSetCreated, `Created new replica set ${quote(name)}`))
    }
    const view: ReplicaSetView = { object, pods: [], written: true }
    this.views.push(view)
    return view
  }

  // --- Pausing, scaling events and proportional scaling --------------------------------------

  private selectingAll(): void {
    this.event('SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.', 'Warning')
    if (countOf(this.status, 'observedGeneration') < generationOf(this.deployment)) {
      this.statusToWrite = { ...this.status, observedGeneration: generationOf(this.deployment) }
    }
  }

  private checkPausedConditions(): void {
    if (!this.hasProgressDeadline()) return
    const condition = findCondition(this.conditions(), 'Progressing')
    // A reported lack of progress is never overwritten by a pause.
    if (condition?.['reason'] === DeploymentReason.progressDeadlineExceeded) return
    const pausedConditionExists = condition?.['reason'] === DeploymentReason.deploymentPaused
    if (this.settings.paused && !pausedConditionExists) {
      this.setStatusCondition(progressing('Unknown', DeploymentReason.deploymentPaused, 'Deployment is paused'))
    } else if (!this.settings.paused && pausedConditionExists) {
      this.setStatusCondition(progressing('Unknown', DeploymentReason.deploymentResumed, 'Deployment is resumed'))
    }
  }

  /** A scaling event: an active ReplicaSet was sized for a different replica count. */
  private isScalingEvent(newView: ReplicaSetView | undefined, oldViews: readonly ReplicaSetView[]): boolean {
    const all = [...oldViews, ...(newView ? [newView] : [])]
    return all.some((view) => {
      if (this.replicasOf(view) === 0) return false
      const desired = intAnnotation(view.object, DESIRED_REPLICAS_ANNOTATION)
      return desired !== undefined && desired !== this.settings.replicas
    })
  }

  /** Kubernetes' sync(): scale without advancing the rollout, clean up if paused, status. */
  private syncScaling(newView: ReplicaSetView | undefined, oldViews: ReplicaSetView[]): void {
    this.scale(newView, oldViews)
    if (this.settings.paused) this.cleanupOldReplicaSets(oldViews)
    this.statusToWrite = this.calculateStatus([...oldViews, ...(newView ? [newView] : [])], newView)
  }

  /** The only active ReplicaSet, or the newest when none is active; undefined when several are. */
  private activeOrLatest(newView: ReplicaSetView | undefined, oldViews: readonly ReplicaSetView[]): ReplicaSetView | undefined {
    const newestFirst = [...oldViews].sort((a, b) => byCreationThenName(b.object, a.object))
    const active = [...newestFirst, ...(newView ? [newView] : [])].filter((view) => this.replicasOf(view) > 0)
    if (active.length === 0) return newView ?? newestFirst[0]
    return active.length === 1 ? active[0] : undefined
  }

  private isSaturated(view: ReplicaSetView | undefined): boolean {
    if (view === undefined) return false
    const { replicas } = this.settings
    const desired = intAnnotation(view.object, DESIRED_REPLICAS_ANNOTATION)
    return desired === replicas && this.replicasOf(view) === replicas && this.availablePodsOf(view) === replicas
  }

  /** Kubernetes' scale(): proportional scaling of the active ReplicaSets (see rollout-math.ts). */
  private scale(newView: ReplicaSetView | undefined, oldViews: readonly ReplicaSetView[]): void {
    const { replicas, maxSurge } = this.settings
    const only = this.activeOrLatest(newView, oldViews)
    if (only !== undefined) {
      this.scaleIfNeeded(only, replicas)
      return
    }
    if (this.isSaturated(newView)) {
      for (const old of oldViews) if (this.replicasOf(old) > 0) this.scaleIfNeeded(old, 0)
      return
    }
    if (!this.settings.rolling) return
    const active = [...oldViews, ...(newView ? [newView] : [])].filter((view) => this.replicasOf(view) > 0)
    const allowed = replicas > 0 ? replicas + maxSurge : 0
    const toAdd = allowed - this.sumOf(active, (view) => this.replicasOf(view))
    // Larger ReplicaSets first; on ties, newer first when growing and older first when shrinking.
    const byAge = (a: ReplicaSetView, b: ReplicaSetView): number => (toAdd > 0 ? byCreationThenName(b.object, a.object) : byCreationThenName(a.object, b.object))
    active.sort((a, b) => this.replicasOf(b) - this.replicasOf(a) || byAge(a, b))
    let added = 0
    const sizes = active.map((view) => {
      const proportion = replicaSetProportion({
        replicaSetReplicas: this.replicasOf(view),
        annotatedMaxReplicas: intAnnotation(view.object, MAX_REPLICAS_ANNOTATION) ?? countOf(this.status, 'replicas'),
        deploymentReplicas: replicas,
        deploymentMaxReplicas: replicas + maxSurge,
        toAdd,
        added,
      })
      added += proportion
      return this.replicasOf(view) + proportion
    })
    // Leftovers from rounding go to the largest ReplicaSet.
    if (sizes.length > 0 && toAdd !== 0) sizes[0] = Math.max(0, (sizes[0] ?? 0) + toAdd - added)
    active.forEach((view, index) => this.scaleReplicaSet(view, sizes[index] ?? 0, toAdd > 0 ? 'up' : 'down'))
  }

  /** Deletes the oldest scaled-down ReplicaSets beyond revisionHistoryLimit. */
  private cleanupOldReplicaSets(oldViews: readonly ReplicaSetView[]): void {
    const limit = this.settings.revisionHistoryLimit
    if (limit === undefined) return
    const cleanable = oldViews.filter((view) => !isBeingDeleted(view.object))
    const excess = cleanable.length - limit
    if (excess <= 0) return
    cleanable.sort((a, b) => revisionOf(a.object) - revisionOf(b.object) || byCreationThenName(a.object, b.object))
    for (const view of cleanable.slice(0, excess)) {
      const rsStatus = statusOf(view.object)
      // Only ReplicaSets that are empty, settled, and not touched by this very plan.
      if (view.written || this.replicasOf(view) !== 0 || countOf(rsStatus, 'replicas') !== 0 || this.activePodsOf(view).length !== 0) continue
      if (generationOf(view.object) > countOf(rsStatus, 'observedGeneration')) continue
      const object = view.object
      this.plan.add({ type: 'delete', resource: REPLICA_SETS, namespace: namespaceOf(object), name: nameOf(object), uid: uidOf(object) })
    }
  }

  // --- Strategies ----------------------------------------------------------------------------

  private rolloutRolling(existingNew: ReplicaSetView | undefined, oldViews: ReplicaSetView[]): void {
    const newView = existingNew ?? this.createNewReplicaSet(oldViews)
    if (newView === undefined) return // A hash collision: status carries the new collisionCount.
    const all = [...oldViews, newView]
    if (this.reconcileNewReplicaSet(all, newView)) return this.syncRolloutStatus(all, newView)
    const activeOld = oldViews.filter((view) => this.replicasOf(view) > 0)
    if (this.reconcileOldReplicaSets(all, activeOld, newView)) return this.syncRolloutStatus(all, newView)
    if (this.isComplete(statusOf(this.deployment))) this.cleanupOldReplicaSets(oldViews)
    this.syncRolloutStatus(all, newView)
  }

  /** Grows (within maxSurge) or trims the new ReplicaSet; true when it changed size. */
  private reconcileNewReplicaSet(all: readonly ReplicaSetView[], newView: ReplicaSetView): boolean {
    const { replicas, maxSurge } = this.settings
    const current = this.replicasOf(newView)
    if (current === replicas) return false
    if (current > replicas) return this.scaleIfNeeded(newView, replicas)
    const totalReplicas = this.sumOf(all, (view) => this.replicasOf(view))
    const target = newReplicaSetReplicasRolling({ desired: replicas, maxSurge, totalReplicas, newReplicas: current })
    return this.scaleIfNeeded(newView, target)
  }

  /** Shrinks old ReplicaSets as far as maxUnavailable allows; true when any shrank. */
  private reconcileOldReplicaSets(all: readonly ReplicaSetView[], activeOld: ReplicaSetView[], newView: ReplicaSetView): boolean {
    if (this.sumOf(activeOld, (view) => this.replicasOf(view)) === 0) return false
    const minAvailable = this.settings.replicas - this.settings.maxUnavailable
    const newUnavailable = this.replicasOf(newView) - this.creditedAvailableOf(newView)
    // Unavailable pods of the new ReplicaSet count against the budget too, so a crash-looping
    // new template cannot make us take down old, working pods.
    const maxScaledDown = this.sumOf(all, (view) => this.replicasOf(view)) - minAvailable - newUnavailable
    if (maxScaledDown <= 0) return false
    activeOld.sort((a, b) => byCreationThenName(a.object, b.object))
    const cleaned = this.cleanupUnhealthyReplicas(activeOld, maxScaledDown)
    const scaledDown = this.scaleDownOldForRollingUpdate(all, activeOld)
    return cleaned + scaledDown > 0
  }

  /** Removes old ReplicaSets' unavailable pods first: that costs no availability. */
  private cleanupUnhealthyReplicas(oldestFirst: readonly ReplicaSetView[], maxCleanup: number): number {
    let total = 0
    for (const view of oldestFirst) {
      if (total >= maxCleanup) break
      const replicas = this.replicasOf(view)
      const unhealthy = replicas - this.creditedAvailableOf(view)
      if (replicas === 0 || unhealthy === 0) continue
      const count = Math.min(maxCleanup - total, unhealthy)
      this.scaleReplicaSet(view, replicas - count, 'down')
      total += count
    }
    return total
  }

  /** Shrinks old ReplicaSets, oldest first, while available pods stay above the minimum. */
  private scaleDownOldForRollingUpdate(all: readonly ReplicaSetView[], oldestFirst: readonly ReplicaSetView[]): number {
    const minAvailable = this.settings.replicas - this.settings.maxUnavailable
    const available = this.sumOf(all, (view) => this.creditedAvailableOf(view))
    if (available <= minAvailable) return 0
    const toScaleDown = available - minAvailable
    let total = 0
    for (const view of oldestFirst) {
      if (total >= toScaleDown) break
      const replicas = this.replicasOf(view)
      if (replicas === 0) continue
      const count = Math.min(replicas, toScaleDown - total)
      this.scaleReplicaSet(view, replicas - count, 'down')
      total += count
    }
    return total
  }

  private rolloutRecreate(existingNew: ReplicaSetView | undefined, oldViews: ReplicaSetView[]): void {
    const before = [...oldViews, ...(existingNew ? [existingNew] : [])]
    let scaledDown = false
    for (const view of oldViews) {
      if (this.replicasOf(view) > 0 && this.scaleIfNeeded(view, 0)) scaledDown = true
    }
    if (scaledDown || this.oldPodsExist(existingNew)) return this.syncRolloutStatus(before, existingNew)
    const newView = existingNew ?? this.createNewReplicaSet(oldViews)
    if (newView === undefined) return
    this.scaleIfNeeded(newView, this.settings.replicas)
    if (this.isComplete(statusOf(this.deployment))) this.cleanupOldReplicaSets(oldViews)
    this.syncRolloutStatus([...oldViews, newView], newView)
  }

  /**
   * True while any pod of an old ReplicaSet still exists in a non-terminal phase, terminating
   * ones included: Recreate promises that old and new pods never run at the same time.
   */
  private oldPodsExist(newView: ReplicaSetView | undefined): boolean {
    const newUid = newView === undefined ? undefined : uidOf(newView.object)
    for (const [uid, pods] of this.podsByReplicaSet) {
      if (uid === newUid) continue
      if (pods.some((pod) => podPhase(pod) !== 'Succeeded' && podPhase(pod) !== 'Failed')) return true
    }
    return false
  }

  // --- Status ---------------------------------------------------------------------------------

  /** Complete: every desired replica is updated and available and nothing else runs. */
  private isComplete(status: JsonObject): boolean {
    const { replicas } = this.settings
    return (
      countOf(status, 'updatedReplicas') === replicas &&
      countOf(status, 'replicas') === replicas &&
      countOf(status, 'availableReplicas') === replicas &&
      countOf(status, 'observedGeneration') >= generationOf(this.deployment)
    )
  }

  /** Kubernetes' calculateStatus, from the pods; zero counts left out as the API does. */
  private calculateStatus(all: readonly ReplicaSetView[], newView: ReplicaSetView | undefined): JsonObject {
    const available = this.sumOf(all, (view) => this.availablePodsOf(view))
    const unavailable = Math.max(0, this.sumOf(all, (view) => this.replicasOf(view)) - available)
    const counts: Record<string, number> = {
      observedGeneration: generationOf(this.deployment),
      replicas: this.sumOf(all, (view) => this.activePodsOf(view).length),
      updatedReplicas: newView === undefined ? 0 : this.activePodsOf(newView).length,
      readyReplicas: this.sumOf(all, (view) => this.activePodsOf(view).filter(isPodReady).length),
      availableReplicas: available,
      unavailableReplicas: unavailable,
    }
    const status: JsonObject = {}
    for (const [field, value] of Object.entries(counts)) if (value !== 0) status[field] = value
    if (typeof this.status['collisionCount'] === 'number') status['collisionCount'] = this.status['collisionCount']
    const minAvailable = this.settings.replicas - this.settings.maxUnavailable
    const availability: ConditionSpec =
      available >= minAvailable
        ? { type: 'Available', status: 'True', reason: DeploymentReason.minimumReplicasAvailable, message: 'Deployment has minimum availability.' }
        : {
            type: 'Available',
            status: 'False',
            reason: DeploymentReason.minimumReplicasUnavailable,
            message: 'Deployment does not have minimum availability.',
          }
    status['conditions'] = setCondition(this.conditions(), newCondition(availability, this.nowMs))
    return status
  }

  /** Kubernetes' syncRolloutStatus: status plus the Progressing condition and its deadline. */
  private syncRolloutStatus(all: readonly ReplicaSetView[], newView: ReplicaSetView | undefined): void {
    const status = this.calculateStatus(all, newView)
    if (!this.hasProgressDeadline()) status['conditions'] = withoutCondition(listAt(status['conditions']), 'Progressing')
    const current = findCondition(this.conditions(), 'Progressing')
    const allUpdated = countOf(status, 'replicas') === countOf(status, 'updatedReplicas')
    const settled = allUpdated && current?.['reason'] === DeploymentReason.newReplicaSetAvailable
    if (this.hasProgressDeadline() && !settled) status['conditions'] = this.progressingConditions(status, current, newView)
    this.statusToWrite = status
    this.requeueForProgressDeadline(status)
  }

  private progressingConditions(status: JsonObject, current: JsonObject | undefined, newView: ReplicaSetView | undefined): JsonValue[] {
    const conditions = listAt(status['conditions'])
    const subject = newView === undefined ? `Deployment ${quote(nameOf(this.deployment))}` : `ReplicaSet ${quote(nameOf(newView.object))}`
    if (this.isComplete(status)) {
      const complete = progressing('True', DeploymentReason.newReplicaSetAvailable, `${subject} has successfully progressed.`)
      return setCondition(conditions, newCondition(complete, this.nowMs))
    }
    if (this.madeProgress(status)) {
      // Same reason as before but a new lastUpdateTime: remove and re-add, keeping the transition time.
      const condition = newCondition(progressing('True', DeploymentReason.replicaSetUpdated, `${subject} is progressing.`), this.nowMs)
      if (current?.['status'] === 'True' && current['lastTransitionTime'] !== undefined) condition['lastTransitionTime'] = current['lastTransitionTime']
      return setCondition(withoutCondition(conditions, 'Progressing'), condition)
    }
    if (this.timedOut(status)) {
      const timedOut = progressing('False', DeploymentReason.progressDeadlineExceeded, `${subject} has timed out progressing.`)
      return setCondition(conditions, newCondition(timedOut, this.nowMs))
    }
    return conditions
  }

  /** Progress since the observed status: more updated, fewer old, more ready or available pods. */
  private madeProgress(status: JsonObject): boolean {
    const before = this.status
    const oldBefore = countOf(before, 'replicas') - countOf(before, 'updatedReplicas')
    const oldNow = countOf(status, 'replicas') - countOf(status, 'updatedReplicas')
    return (
      countOf(status, 'updatedReplicas') > countOf(before, 'updatedReplicas') ||
      oldNow < oldBefore ||
      countOf(status, 'readyReplicas') > countOf(before, 'readyReplicas') ||
      countOf(status, 'availableReplicas') > countOf(before, 'availableReplicas')
    )
  }

  /** The deadline passed since the Progressing condition's last update. */
  private timedOut(status: JsonObject): boolean {
    const condition = findCondition(listAt(status['conditions']), 'Progressing')
    if (condition === undefined || condition['reason'] === DeploymentReason.newReplicaSetAvailable) return false
    if (condition['reason'] === DeploymentReason.progressDeadlineExceeded) return true
    const deadlineMs = this.progressDeadlineAtMs(condition)
    return deadlineMs !== undefined && deadlineMs < this.nowMs
  }

  private progressDeadlineAtMs(condition: JsonObject): number | undefined {
    const lastUpdateMs = parseTimeMs(condition['lastUpdateTime'])
    const seconds = this.settings.progressDeadlineSeconds
    return lastUpdateMs === undefined || seconds === undefined ? undefined : lastUpdateMs + seconds * 1000
  }

  /** Asks to be woken just after the progress deadline of an unfinished rollout. */
  private requeueForProgressDeadline(status: JsonObject): void {
    const condition = findCondition(listAt(status['conditions']), 'Progressing')
    if (condition === undefined || this.isComplete(status)) return
    if (condition['reason'] === DeploymentReason.progressDeadlineExceeded || condition['reason'] === DeploymentReason.newReplicaSetAvailable) return
    const deadlineMs = this.progressDeadlineAtMs(condition)
    if (deadlineMs !== undefined) this.plan.requeueAfter(deadlineMs - this.nowMs + 1)
  }
}
