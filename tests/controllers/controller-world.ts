/**
 * A small deterministic world for controller simulations: an in-memory object store that
 * executes Plans by the plan.ts contract (in order, abort on the first failed write, chained
 * writes, uid-guarded deletes, events recorded), a simulated kubelet (pods get scheduled, become
 * Ready after a seeded delay, and take a seeded grace period to go away when deleted), a
 * simulated clock, and the user actions kubectl performs (set image, scale, pause, undo).
 *
 * One `step()` is one controller-manager round: the Deployment controller for every Deployment,
 * then the ReplicaSet controller for every ReplicaSet (each only when something changed or its
 * requested wake-up is due), each on fresh observations (which satisfies the "expectations"
 * rule), then the kubelet, then the clock moves on.
 */
import { assert } from '../../lib/assert.ts'
import type { Random } from '../../lib/random.ts'
import { cloneJson, type JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { applyDefaults } from '../../node/src/api/server/kinds.ts'
import { reconcileDeployment } from '../../node/src/controllers/deployment.ts'
import { REVISION_ANNOTATION } from '../../node/src/controllers/deployment-revisions.ts'
import { controllerRefOf, equalIgnoringNullFields, formatTime, metadataOf, nameOf, specOf, statusOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { DEPLOYMENTS, PODS, REPLICA_SETS, type Action, type Plan, type ResourceRef } from '../../node/src/controllers/plan.ts'
import { isPodActive } from '../../node/src/controllers/pods.ts'
import { reconcileReplicaSet } from '../../node/src/controllers/replicaset.ts'
import { templateWithoutHash } from '../../node/src/controllers/template-hash.ts'

export interface WorldOptions {
  readonly random: Random
  readonly startMs: number
  readonly stepMs: number
  /** A new pod becomes Ready after a delay drawn from [0, podReadyDelayMsMax]. */
  readonly podReadyDelayMsMax: number
  /** A deleted pod disappears after a delay drawn from [0, podGraceMsMax]. */
  readonly podGraceMsMax: number
  /** Pods running these images never become Ready (a crash-looping release). */
  readonly brokenImages?: ReadonlySet<string>
}

interface PodTimers {
  readyAtMs: number
  goneAtMs?: number
}

/** Thrown by the store for a failed write; aborts the rest of a plan. */
class WriteRefusedError extends Error {
  override name = 'WriteRefusedError'
}

export class ControllerWorld {
  nowMs: number
  readonly events: JsonObject[] = []
  /** Writes refused (conflicts and the like) since the start; the contract says they abort. */
  refusedWrites = 0
  private readonly options: WorldOptions
  /** Objects by resource, then by `namespace/name`. */
  private readonly objects = new Map<string, Map<string, JsonObject>>()
  private readonly podTimers = new Map<string, PodTimers>()
  private revision = 100
  /**
   * Per object uid: the store revision it was last reconciled at and when it asked to be woken.
   * An object is reconciled again only when something changed or its wake-up is due, like a
   * controller fed by watches and a delaying queue; a controller that forgets to ask for a
   * time-based wake-up (minReadySeconds, progress deadline) stalls here and fails the run.
   */
  private readonly reconciled = new Map<string, { revision: number; wakeAtMs: number | undefined }>()
  private uidCounter = 0

  constructor(options: WorldOptions) {
    this.options = options
    this.nowMs = options.startMs
  }

  // --- The store ------------------------------------------------------------------------------

  private key(resource: ResourceRef, namespace: string, name: string): string {
    return `${resource.resource}/${namespace}/${name}`
  }

  private collection(resource: ResourceRef): Map<string, JsonObject> {
    let collection = this.objects.get(resource.resource)
    if (collection === undefined) this.objects.set(resource.resource, (collection = new Map()))
    return collection
  }

  list(resource: ResourceRef): JsonObject[] {
    return [...this.collection(resource).values()]
  }

  get(resource: ResourceRef, name: string, namespace = 'default'): JsonObject | undefined {
    return this.collection(resource).get(`${namespace}/${name}`)
  }

  private put(resource: ResourceRef, object: JsonObject): void {
    this.collection(resource).set(`${String(metadataOf(object)['namespace'])}/${nameOf(object)}`, object)
  }

  private remove(resource: ResourceRef, namespace: string, name: string): void {
    if (this.collection(resource).delete(`${namespace}/${name}`)) this.revision++
  }

  /** Creates an object as the API server would (defaults, uid, timestamps, generation). */
  create(resource: ResourceRef, namespace: string, object: JsonObject): JsonObject {
    const name = nameOf(object)
    if (this.get(resource, name, namespace) !== undefined) throw new WriteRefusedError(`${this.key(resource, namespace, name)} already exists`)
    const defaulted = applyDefaults(resource.kind, cloneJson(object))
    const stored: JsonObject = {
      ...defaulted,
      kind: resource.kind,
      apiVersion: resource.apiVersion,
      metadata: { ...metadataOf(defaulted), namespace, uid: `uid-${++this.uidCounter}`, creationTimestamp: formatTime(this.nowMs), generation: 1, resourceVersion: String(++this.revision) },
    }
    this.put(resource, stored)
    if (resource === PODS) this.podTimers.set(uidOf(stored), { readyAtMs: this.nowMs + this.options.random.int(0, this.options.podReadyDelayMsMax + 1) })
    return stored
  }

  /** Replaces the object (main resource: status kept) or only its status. */
  update(resource: ResourceRef, namespace: string, name: string, object: JsonObject, part: 'main' | 'status', expectedVersion: string | undefined): JsonObject {
    const key = this.key(resource, namespace, name)
    const current = this.get(resource, name, namespace)
    if (current === undefined) throw new WriteRefusedError(`${key} not found`)
    const currentMetadata = metadataOf(current)
    if (expectedVersion !== undefined && expectedVersion !== currentMetadata['resourceVersion']) throw new WriteRefusedError(`${key}: conflict`)
    let next: JsonObject
    if (part === 'status') next = { ...current, status: cloneJson(statusOf(object)) }
    else {
      const specChanged = !equalIgnoringNullFields(specOf(object), specOf(current))
      const generation = Number(currentMetadata['generation'] ?? 1) + (specChanged ? 1 : 0)
      const metadata = { ...metadataOf(cloneJson(object)), uid: currentMetadata['uid'] ?? null, creationTimestamp: currentMetadata['creationTimestamp'] ?? null, generation }
      next = { ...cloneJson(object), metadata, ...(current['status'] !== undefined ? { status: current['status'] } : {}) }
    }
    next = { ...next, kind: resource.kind, apiVersion: resource.apiVersion, metadata: { ...metadataOf(next), resourceVersion: String(++this.revision) } }
    this.put(resource, next)
    return next
  }

  /** Deletes with a uid precondition. Pods terminate gracefully; ReplicaSets take their pods along. */
  delete(resource: ResourceRef, namespace: string, name: string, uid: string): void {
    const current = this.get(resource, name, namespace)
    if (current === undefined || uidOf(current) !== uid) throw new WriteRefusedError(`${this.key(resource, namespace, name)}: uid precondition failed`)
    if (resource === PODS) {
      if (metadataOf(current)['deletionTimestamp'] !== undefined) return
      this.put(resource, { ...current, metadata: { ...metadataOf(current), deletionTimestamp: formatTime(this.nowMs), resourceVersion: String(++this.revision) } })
      const timers = this.podTimers.get(uid)
      if (timers !== undefined) timers.goneAtMs = this.nowMs + this.options.random.int(0, this.options.podGraceMsMax + 1)
      return
    }
    this.remove(resource, namespace, name)
    // Background garbage collection of dependents.
    for (const pod of this.list(PODS)) if (controllerRefOf(pod)?.['uid'] === uid) this.delete(PODS, namespace, nameOf(pod), uidOf(pod))
  }

  /** Executes a plan by the plan.ts contract; returns how many actions ran before any failure. */
  execute(plan: Plan): number {
    const chained = new Map<string, string>()
    let executed = 0
    for (const action of plan.actions) {
      try {
        this.executeAction(action, chained)
      } catch (error) {
        if (!(error instanceof WriteRefusedError)) throw error
        if (action.type === 'event') continue
        this.refusedWrites++
        return executed
      }
      executed++
    }
    return executed
  }

  private executeAction(action: Action, chained: Map<string, string>): void {
    switch (action.type) {
      case 'event':
        this.events.push(action.event)
        return
      case 'create': {
        const created = this.create(action.resource, action.namespace, action.object)
        chained.set(this.key(action.resource, action.namespace, nameOf(created)), String(metadataOf(created)['resourceVersion']))
        return
      }
      case 'update':
      case 'updateStatus': {
        const key = this.key(action.resource, action.namespace, action.name)
        const expected = chained.get(key) ?? (metadataOf(action.object)['resourceVersion'] as string | undefined)
        const updated = this.update(action.resource, action.namespace, action.name, action.object, action.type === 'update' ? 'main' : 'status', expected)
        chained.set(key, String(metadataOf(updated)['resourceVersion']))
        return
      }
      case 'delete':
        this.delete(action.resource, action.namespace, action.name, action.uid)
        return
    }
  }

  // --- Controllers and kubelet ----------------------------------------------------------------

  /** Pods by the uid of the ReplicaSet that controls them. */
  podsByReplicaSet(): Map<string, JsonObject[]> {
    const result = new Map<string, JsonObject[]>()
    for (const pod of this.list(PODS)) {
      const owner = controllerRefOf(pod)?.['uid']
      if (typeof owner !== 'string') continue
      result.set(owner, [...(result.get(owner) ?? []), pod])
    }
    return result
  }

  /** The plan the Deployment controller would make now (not executed). */
  planDeployment(deployment: JsonObject): Plan {
    const owned = this.list(REPLICA_SETS).filter((rs) => controllerRefOf(rs)?.['uid'] === uidOf(deployment))
    const owners = new Set(owned.map(uidOf))
    const pods = new Map([...this.podsByReplicaSet()].filter(([uid]) => owners.has(uid)))
    return reconcileDeployment(deployment, owned, pods, this.nowMs)
  }

  /** The plan the ReplicaSet controller would make now (not executed). */
  planReplicaSet(replicaSet: JsonObject): Plan {
    return reconcileReplicaSet(replicaSet, this.podsByReplicaSet().get(uidOf(replicaSet)) ?? [], this.nowMs, this.options.random)
  }

  /** Runs every controller once, then the kubelet, then advances the clock by one step. */
  step(): void {
    this.runControllers()
    this.runKubelet()
    this.nowMs += this.options.stepMs
  }

  /** Reconciles every Deployment, then every ReplicaSet, that changed or asked to be woken. */
  runControllers(): void {
    for (const deployment of this.list(DEPLOYMENTS)) {
      if (this.isDue(deployment)) this.reconcile(deployment, this.planDeployment(deployment))
    }
    for (const replicaSet of this.list(REPLICA_SETS)) {
      const current = this.get(REPLICA_SETS, nameOf(replicaSet))
      if (current !== undefined && this.isDue(current)) this.reconcile(current, this.planReplicaSet(current))
    }
  }

  private isDue(object: JsonObject): boolean {
    const last = this.reconciled.get(uidOf(object))
    if (last === undefined || last.revision !== this.revision) return true
    return last.wakeAtMs !== undefined && last.wakeAtMs <= this.nowMs
  }

  private reconcile(object: JsonObject, plan: Plan): void {
    // The revision before the plan's own writes: they wake the object again, as watches would.
    const revision = this.revision
    this.execute(plan)
    this.reconciled.set(uidOf(object), { revision, wakeAtMs: plan.requeueAfterMs === undefined ? undefined : this.nowMs + plan.requeueAfterMs })
  }

  /** Schedules pods, makes them Ready when their time comes, removes terminated ones. */
  runKubelet(): void {
    for (const pod of this.list(PODS)) {
      const timers = this.podTimers.get(uidOf(pod))
      assert(timers !== undefined, `pod ${nameOf(pod)} has no timers`)
      if (timers.goneAtMs !== undefined && timers.goneAtMs <= this.nowMs) {
        this.remove(PODS, 'default', nameOf(pod))
        this.podTimers.delete(uidOf(pod))
        continue
      }
      const spec = specOf(pod)
      const ready = statusOf(pod)['phase'] === 'Running'
      const image = String((spec['containers'] as JsonObject[] | undefined)?.[0]?.['image'])
      if (this.options.brokenImages?.has(image) === true) continue
      if (!ready && isPodActive(pod) && timers.readyAtMs <= this.nowMs) {
        const time = formatTime(this.nowMs)
        const status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: time }], containerStatuses: [{ name: 'app', ready: true, restartCount: 0 }] }
        this.put(PODS, { ...pod, spec: { ...spec, nodeName: 'node-1' }, status, metadata: { ...metadataOf(pod), resourceVersion: String(++this.revision) } })
      }
    }
  }

  // --- What kubectl does ----------------------------------------------------------------------

  /** `kubectl apply`/`edit`: replaces the Deployment's spec fields given (generation moves). */
  patchDeploymentSpec(name: string, change: (spec: JsonObject) => JsonObject): void {
    const deployment = this.get(DEPLOYMENTS, name)
    assert(deployment !== undefined, `deployment ${name} exists`)
    const next = { ...deployment, spec: change(cloneJson(specOf(deployment))) }
    this.update(DEPLOYMENTS, 'default', name, applyDefaults('Deployment', next), 'main', undefined)
  }

  /** `kubectl set image`. */
  setImage(name: string, image: string): void {
    this.patchDeploymentSpec(name, (spec) => {
      const template = spec['template'] as JsonObject
      const podSpec = template['spec'] as JsonObject
      return { ...spec, template: { ...template, spec: { ...podSpec, containers: [{ name: 'app', image }] } } }
    })
  }

  /** `kubectl rollout undo --to-revision`: the RS template (minus its hash label) back into the Deployment. */
  undo(name: string, revision: number): void {
    const deployment = this.get(DEPLOYMENTS, name)
    assert(deployment !== undefined, `deployment ${name} exists`)
    const target = this.list(REPLICA_SETS).find((rs) => controllerRefOf(rs)?.['uid'] === uidOf(deployment) && metadataOf(rs)['annotations'] !== undefined && (metadataOf(rs)['annotations'] as JsonObject)[REVISION_ANNOTATION] === String(revision))
    assert(target !== undefined, `revision ${revision} of ${name} exists`)
    this.patchDeploymentSpec(name, (spec) => ({ ...spec, template: templateWithoutHash(cloneJson(specOf(target)['template'] as JsonObject)) }))
  }
}
