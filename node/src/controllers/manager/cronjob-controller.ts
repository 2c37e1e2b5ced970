/**
 * The CronJob controller as the manager runs it: its own CronJob informer plus the Job
 * controller's Job informer, handlers that queue the CronJob a change concerns (the CronJob, or a
 * Job it controls), and a sync per key that feeds reconcileCronJob (../cronjob.ts) from the caches
 * and executes its plan, with expectations as in workload-controllers.ts. The plan's wake-up is
 * the next scheduled time, so a quiet CronJob is looked at exactly when it is due.
 */
import type { ObjectStore } from '../../api/server/object-store.ts'
import { CRON_JOBS, reconcileCronJob } from '../cronjob.ts'
import { controllerRefOf, metadataOf, nameOf, stringAt, uidOf } from '../object-fields.ts'
import { Expectations } from './expectations.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import { controllerKeyOf } from './job-controller.ts'
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
    const own = [this.cronJobs, jobs]
    this.expectations = new Expectations(
      (resource) => own.find((item) => item.resource.group === resource.group && item.resource.resource === resource.resource) ?? context.informers.informerFor(resource),
      context.expectationsTimeoutMs,
    )
    this.cronJobs.addHandlers({
      onAdd: (cronJob) => this.queue.add(cacheKeyOf(cronJob)),
      onUpdate: (_previous, cronJob) => this.queue.add(cacheKeyOf(cronJob)),
      onDelete: (cronJob) => {
        this.expectations.forget(cacheKeyOf(cronJob))
        this.queue.add(cacheKeyOf(cronJob))
      },
    })
    const jobChanged = (job: Parameters<typeof controllerRefOf>[0]): void => {
      const key = controllerKeyOf(job, CRON_JOBS.kind, this.cronJobs)
      if (key !== undefined) this.queue.add(key)
    }
    jobs.addHandlers({
      onAdd: jobChanged,
      onUpdate: (previous, job) => {
        jobChanged(job)
        if (controllerRefOf(previous)?.['uid'] !== controllerRefOf(job)?.['uid']) jobChanged(previous)
      },
      onDelete: jobChanged,
    })
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
    const { timers, executor } = this.context
    const cronJob = this.cronJobs.getByKey(key)
    if (cronJob === undefined) {
      this.expectations.forget(key)
      return
    }
    if (!this.expectations.satisfied(key, timers.monotonicMs())) {
      this.queue.addAfter(key, this.expectations.remainingMs(key, timers.monotonicMs()))
      return
    }
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
    if (plan.actions.length === 0) return
    const result = await executor.execute(plan)
    this.expectations.expect(key, result.expectations, timers.monotonicMs())
    if (!result.completed && result.error !== undefined) throw result.error
  }
}
