/**
 * The StatefulSet controller as the manager runs it: its own informers for StatefulSets,
 * ControllerRevisions and PersistentVolumeClaims (pods come from the shared informers), handlers
 * that queue the set a change concerns, and a sync per key that feeds reconcileStatefulSet from
 * the caches and executes its plan, with expectations as in workload-controllers.ts.
 *
 * The session starts the informers (`start`) before the runner and stops them with the session.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ObjectStore, ResourceRef } from '../../api/server/object-store.ts'
import { controllerRefOf, metadataOf, nameOf, stringAt, uidOf } from '../object-fields.ts'
import { reconcileStatefulSet, PERSISTENT_VOLUME_CLAIMS, STATEFUL_SETS } from '../statefulset.ts'
import { CONTROLLER_REVISIONS } from '../statefulset-revisions.ts'
import { Expectations } from './expectations.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import { BY_CONTROLLER, BY_NAMESPACE } from './shared-informers.ts'
import type { WorkloadContext } from './workload-controllers.ts'
import { WorkQueue } from './work-queue.ts'

function controllerUid(object: JsonObject): readonly string[] {
  const uid = controllerRefOf(object)?.['uid']
  return typeof uid === 'string' ? [uid] : []
}

/** The queue key of the object of `kind` that `object`'s controller reference names. */
export function ownerKeyOf(object: JsonObject, kind: string, owners: Informer): string | undefined {
  const reference = controllerRefOf(object)
  if (reference === undefined || reference['kind'] !== kind) return undefined
  const owner = owners.get(stringAt(metadataOf(object)['namespace']), stringAt(reference['name']))
  return owner !== undefined && uidOf(owner) === reference['uid'] ? cacheKeyOf(owner) : undefined
}

export class StatefulSetController {
  readonly queue: WorkQueue
  readonly statefulSets: Informer
  readonly revisions: Informer
  readonly claims: Informer
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  constructor(context: WorkloadContext, objects: ObjectStore, log: (line: string) => void) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    const informer = (resource: ResourceRef): Informer => new Informer({ objects, timers: context.timers, log, resource })
    this.statefulSets = informer(STATEFUL_SETS)
    this.revisions = informer(CONTROLLER_REVISIONS)
    this.claims = informer(PERSISTENT_VOLUME_CLAIMS)
    this.revisions.addIndex(BY_CONTROLLER, controllerUid)
    this.claims.addIndex(BY_NAMESPACE, (claim) => [stringAt(metadataOf(claim)['namespace'])])
    const own = [this.statefulSets, this.revisions, this.claims]
    this.expectations = new Expectations(
      (resource) => own.find((item) => item.resource.group === resource.group && item.resource.resource === resource.resource) ?? context.informers.informerFor(resource),
      context.expectationsTimeoutMs,
    )
    this.statefulSets.addHandlers({
      onAdd: (set) => this.queue.add(cacheKeyOf(set)),
      onUpdate: (_previous, set) => this.queue.add(cacheKeyOf(set)),
      onDelete: (set) => {
        this.expectations.forget(cacheKeyOf(set))
        this.queue.add(cacheKeyOf(set))
      },
    })
    const dependentChanged = (object: JsonObject): void => {
      const key = ownerKeyOf(object, STATEFUL_SETS.kind, this.statefulSets)
      if (key !== undefined) this.queue.add(key)
    }
    for (const dependents of [context.informers.pods, this.revisions]) {
      dependents.addHandlers({
        onAdd: dependentChanged,
        onUpdate: (previous, object) => {
          dependentChanged(object)
          if (controllerRefOf(previous)?.['uid'] !== controllerRefOf(object)?.['uid']) dependentChanged(previous)
        },
        onDelete: dependentChanged,
      })
    }
  }

  /** Lists and watches the controller's own resources. */
  async start(): Promise<void> {
    await Promise.all([this.statefulSets.start(), this.revisions.start(), this.claims.start()])
  }

  stop(): void {
    for (const informer of [this.statefulSets, this.revisions, this.claims]) informer.stop()
  }

  /** Reconciles one StatefulSet; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { informers, timers, executor } = this.context
    const set = this.statefulSets.getByKey(key)
    if (set === undefined) {
      this.expectations.forget(key)
      return
    }
    if (!this.expectations.satisfied(key, timers.monotonicMs())) {
      this.queue.addAfter(key, this.expectations.remainingMs(key, timers.monotonicMs()))
      return
    }
    const namespace = stringAt(metadataOf(set)['namespace'])
    const claimNames = new Set(this.claims.byIndex(BY_NAMESPACE, namespace).map(nameOf))
    const plan = reconcileStatefulSet(
      set,
      { pods: informers.pods.byIndex(BY_CONTROLLER, uidOf(set)), revisions: this.revisions.byIndex(BY_CONTROLLER, uidOf(set)), claimNames },
      timers.realtimeMs(),
    )
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    if (plan.actions.length === 0) return
    const result = await executor.execute(plan)
    this.expectations.expect(key, result.expectations, timers.monotonicMs())
    if (!result.completed && result.error !== undefined) throw result.error
  }
}
