/**
 * The Job controller as the manager runs it: its own Job informer (the CronJob controller reads it
 * too), handlers that queue the Job a change concerns (the Job itself, or a pod whose controller
 * reference names it), and a sync per key that feeds reconcileJob (../job.ts) from the caches and
 * executes its plan, with expectations (wiring: controller-wiring.ts).
 *
 * The session starts the informer (`start`) before the runner and stops it with the session.
 */
import type { ObjectStore } from '../../api/server/object-store.ts'
import { JOBS, reconcileJob } from '../job.ts'
import { metadataOf, stringAt, uidOf } from '../object-fields.ts'
import { controllerUidOf, executeExpecting, expectationsOver, objectToSync, queueControllerOnDependentChange, queueOwnObjects } from './controller-wiring.ts'
import type { Expectations } from './expectations.ts'
import { Informer } from './informer.ts'
import { BY_CONTROLLER, BY_NAMESPACE } from './shared-informers.ts'
import type { WorkloadContext } from './workload-controllers.ts'
import { WorkQueue } from './work-queue.ts'

/**
 * Whether the controller writes the generated selector into Jobs stored without one (Flotilla's
 * API assigns the uid after admission, so a created Job has none yet; admission accepts this one
 * update, after which selector and template are immutable).
 */
export const WRITE_GENERATED_JOB_SELECTOR = true

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
    this.expectations = expectationsOver([this.jobs], context.informers, context.expectationsTimeoutMs)
    queueOwnObjects(this.jobs, this.queue, this.expectations)
    queueControllerOnDependentChange(context.informers.pods, JOBS.kind, this.jobs, this.queue)
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
    const { informers, timers, random } = this.context
    const job = objectToSync(this.jobs, key, this.expectations, this.queue, timers.monotonicMs())
    if (job === undefined) return
    const pods = informers.pods.byIndex(BY_CONTROLLER, uidOf(job))
    const plan = reconcileJob(job, pods, timers.realtimeMs(), random, { writeGeneratedSelector: WRITE_GENERATED_JOB_SELECTOR })
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}
