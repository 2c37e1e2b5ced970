/**
 * The CronJob controller as the manager runs it: its own CronJob informer plus the Job
 * controller's Job informer, handlers that queue the CronJob a change concerns (the CronJob, or a
 * Job it controls), and a sync per key that feeds reconcileCronJob (../cronjob.ts) from the caches
 * and executes its plan, with expectations (wiring: controller-wiring.ts). The plan's wake-up is
 * the next scheduled time, so a quiet CronJob is looked at exactly when it is due.
 */
import type { ObjectStore } from '../../api/server/object-store.ts'
import { CRON_JOBS, reconcileCronJob } from '../cronjob.ts'
import { controllerRefOf, metadataOf, nameOf, stringAt, uidOf } from '../object-fields.ts'
import { executeExpecting, expectationsOver, objectToSync, queueControllerOnDependentChange, queueOwnObjects } from './controller-wiring.ts'
import type { Expectations } from './expectations.ts'
import { Informer } from './informer.ts'
import { BY_CONTROLLER, BY_NAMESPACE } from './shared-informers.ts'
import type { WorkloadContext } from './workload-controllers.ts'
import { WorkQueue } from './work-queue.ts'

export class CronJobController {
  readonly queue: WorkQueue
  readonly cronJobs: Informer
  private readonly jobs: Informer
  private readonly context: WorkloadContext
  private readonly expectations: Expectations

  /** @param jobs the Job controller's Job informer (indexed by controller and namespace). */
  constructor(context: WorkloadContext, jobs: Informer, objects: ObjectStore, log: (line: string) => void) {
    this.context = context
    this.jobs = jobs
    this.queue = new WorkQueue({ timers: context.timers })
    this.cronJobs = new Informer({ objects, timers: context.timers, log, resource: CRON_JOBS })
    this.expectations = expectationsOver([this.cronJobs, jobs], context.informers, context.expectationsTimeoutMs)
    queueOwnObjects(this.cronJobs, this.queue, this.expectations)
    queueControllerOnDependentChange(jobs, CRON_JOBS.kind, this.cronJobs, this.queue)
  }

  /** Lists and watches CronJobs (the Job informer is started by the Job controller). */
  async start(): Promise<void> {
    await this.cronJobs.start()
  }

  stop(): void {
    this.cronJobs.stop()
  }

  /** Reconciles one CronJob; throws when a write failed (the runner retries with back-off). */
  async sync(key: string): Promise<void> {
    const { timers } = this.context
    const cronJob = objectToSync(this.cronJobs, key, this.expectations, this.queue, timers.monotonicMs())
    if (cronJob === undefined) return
    const uid = uidOf(cronJob)
    const controlled = this.jobs.byIndex(BY_CONTROLLER, uid)
    const foreignJobNames = new Set(
      this.jobs
        .byIndex(BY_NAMESPACE, stringAt(metadataOf(cronJob)['namespace']))
        .filter((job) => controllerRefOf(job)?.['uid'] !== uid)
        .map(nameOf),
    )
    const plan = reconcileCronJob(cronJob, controlled, timers.realtimeMs(), { foreignJobNames })
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs)
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}
