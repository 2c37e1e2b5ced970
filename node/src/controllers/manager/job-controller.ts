/**
 * The Job controller as the manager runs it: its own Job informer (the CronJob controller reads it
 * too), handlers that queue the Job a change concerns (the Job itself, or a pod whose controller
 * reference names it), and a sync per key that feeds reconcileJob (../job.ts) from the caches and
 * executes its plan, with expectations as in workload-controllers.ts.
 *
 * The session starts the informer (`start`) before the runner and stops it with the session.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ObjectStore } from '../../api/server/object-store.ts'
import { JOBS, reconcileJob } from '../job.ts'
import { controllerRefOf, metadataOf, stringAt, uidOf } from '../object-fields.ts'
import { Expectations } from './expectations.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import { BY_CONTROLLER, BY_NAMESPACE } from './shared-informers.ts'
import type { WorkloadContext } from './workload-controllers.ts'
import { WorkQueue } from './work-queue.ts'

/**
 * Whether the controller writes the generated selector into Jobs stored without one (Flotilla's
 * API assigns the uid after admission, so a created Job has none yet; admission accepts this one
 * update, after which selector and template are immutable).
 */
export const WRITE_GENERATED_JOB_SELECTOR = true

/** The queue key of the object of `kind` that `object`'s controller reference names. */
export function controllerKeyOf(object: JsonObject, kind: string, owners: Informer): string | undefined {
  const reference = controllerRefOf(object)
  if (reference === undefined || reference['kind'] !== kind) return undefined
  const owner = owners.get(stringAt(metadataOf(object)['namespace']), stringAt(reference['name']))
  return owner !== undefined && uidOf(owner) === reference['uid'] ? cacheKeyOf(owner) : undefined
}

/** The uid of an object's controller, as an index value. */
export function controllerUidOf(object: JsonObject): readonly string[] {
  const uid = controllerRefOf(object)?.['uid']
  return typeof uid === 'string' ? [uid] : []
}

export class JobController {
  readonly queue: WorkQueue
  /** Jobs, indexed by controller (CronJob) uid and by namespace. */
  readonly jobs: Informer
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  constructor(context: WorkloadContext, objects: ObjectStore, log: (line: string) => void) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    this.jobs = new Informer({ objects, timers: context.timers, log, resource: JOBS })
    this.jobs.addIndex(BY_CONTROLLER, controllerUidOf)
    this.jobs.addIndex(BY_NAMESPACE, (job) => [stringAt(metadataOf(job)['namespace'])])
    this.expectations = new Expectations(
      (resource) => (resource.group === JOBS.group && resource.resource === JOBS.resource ? this.jobs : context.informers.informerFor(resource)),
      context.expectationsTimeoutMs,
    )
    this.jobs.addHandlers({
      onAdd: (job) => this.queue.add(cacheKeyOf(job)),
      onUpdate: (_previous, job) => this.queue.add(cacheKeyOf(job)),
      onDelete: (job) => {
        this.expectations.forget(cacheKeyOf(job))
        this.queue.add(cacheKeyOf(job))
      },
    })
    const podChanged = (pod: JsonObject): void => {
      const key = controllerKeyOf(pod, JOBS.kind, this.jobs)
      if (key !== undefined) this.queue.add(key)
    }
    context.informers.pods.addHandlers({
      onAdd: podChanged,
      onUpdate: (previous, pod) => {
        podChanged(pod)
        if (controllerRefOf(previous)?.['uid'] !== controllerRefOf(pod)?.['uid']) podChanged(previous)
      },
      onDelete: podChanged,
    })
  }

  /** Lists and watches Jobs. */
  async start(): Promise<void> {
    await this.jobs.start()
  }

  stop(): void {
    this.jobs.stop()
  }

  /** Reconciles one Job; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { informers, timers, executor, random } = this.context
    const job = this.jobs.getByKey(key)
    if (job === undefined) {
      this.expectations.forget(key)
      return
    }
    if (!this.expectations.satisfied(key, timers.monotonicMs())) {
      this.queue.addAfter(key, this.expectations.remainingMs(key, timers.monotonicMs()))
      return
    }
    const pods = informers.pods.byIndex(BY_CONTROLLER, uidOf(job))
    const plan = reconcileJob(job, pods, timers.realtimeMs(), random, { writeGeneratedSelector: WRITE_GENERATED_JOB_SELECTOR })
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    if (plan.actions.length === 0) return
    const result = await executor.execute(plan)
    this.expectations.expect(key, result.expectations, timers.monotonicMs())
    if (!result.completed && result.error !== undefined) throw result.error
  }
}
