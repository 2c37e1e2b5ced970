/**
 * The CronJob controller as a pure reconcile: given a CronJob, the Jobs it controls and the time,
 * plan the Job for the most recent due schedule, the concurrency policy's deletions, history
 * cleanup and the status (`kubectl get cronjobs` shows ACTIVE and LAST SCHEDULE), plus a wake-up
 * at the next schedule.
 *
 * Behaviour follows kube-controller-manager's cronjob controller (v2, syncCronJob):
 * - Schedules are evaluated in UTC (api/server/kinds/cron.ts). The due times are those after
 *   `status.lastScheduleTime` (or the CronJob's creation) up to now; with
 *   `startingDeadlineSeconds`, only those within that many seconds of now. Only the most recent
 *   one is started; more than 100 missed ones are reported (Warning TooManyMissedTimes).
 * - Jobs are named `<cronjob>-<scheduled time in minutes since the epoch>`. The name is a
 *   function of the schedule, so whichever manager runs the CronJob — the old leader before a
 *   crash, the new one after — the Job for one scheduled time can be created only once: a second
 *   create is refused by the store (AlreadyExists), and a controller that finds the Job already
 *   there (its status write was lost with the old leader) only records the schedule as done.
 * - concurrencyPolicy: Allow starts regardless; Forbid skips the run while a Job is active (the
 *   time stays due until it ends, or its starting deadline passes); Replace deletes the active
 *   Jobs first.
 * - `suspend` stops new runs (Jobs already running continue).
 * - History: finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit are
 *   deleted, oldest first.
 * - Status: active (references to running Jobs), lastScheduleTime, lastSuccessfulTime.
 * - Events: SuccessfulCreate, SuccessfulDelete, SawCompletedJob, MissSchedule,
 *   TooManyMissedTimes, UnparseableSchedule.
 */
import { cloneJson, type JsonObject } from '../api/machinery/canonical.ts'
import { nextCronTimeMs, parseCronSchedule, type CronSchedule } from '../api/server/kinds/cron.ts'
import { newEvent } from './events.ts'
import { JOBS } from './job.ts'
import { jobOutcome, statusTimeMs } from './job-pods.ts'
import {
  controllerReferenceTo,
  creationMsOf,
  equalIgnoringNullFields,
  formatTime,
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
  stringAt,
  stringMapAt,
  uidOf,
} from './object-fields.ts'
import { PlanBuilder, type Plan, type ResourceRef } from './plan.ts'

/** CronJobs: batch/v1. */
export const CRON_JOBS: ResourceRef = { group: 'batch', resource: 'cronjobs', kind: 'CronJob', apiVersion: 'batch/v1', namespaced: true }
/** The annotation newer Kubernetes puts on a CronJob's Job: its scheduled time (RFC 3339). */
export const CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp'
/** More missed schedules than this are reported, as Kubernetes does. */
export const MISSED_SCHEDULES_REPORTED_OVER = 100
const COMPONENT = 'cronjob-controller'
const MINUTE_MS = 60_000

/** The name of the Job a CronJob runs for the time `scheduledMs`. */
export function cronJobJobName(cronJobName: string, scheduledMs: number): string {
  return `${cronJobName}-${Math.floor(scheduledMs / MINUTE_MS)}`
}

/** The schedule times in (afterMs, untilMs]: how many, and the most recent one. */
export function missedSchedules(schedule: CronSchedule, afterMs: number, untilMs: number): { count: number; mostRecentMs: number | undefined } {
  let count = 0
  let mostRecentMs: number | undefined
  for (let next = nextCronTimeMs(schedule, afterMs); next !== undefined && next <= untilMs; next = nextCronTimeMs(schedule, next)) {
    count++
    mostRecentMs = next
    if (count > MISSED_SCHEDULES_REPORTED_OVER) {
      // Past the reporting threshold only the most recent time matters; find it in a window
      // just before `untilMs` instead of walking (possibly) years of minutes one by one.
      return { count, mostRecentMs: mostRecentWithin(schedule, next, untilMs) ?? next }
    }
  }
  return { count, mostRecentMs }
}

/** The last schedule time in (afterMs, untilMs], searching windows of growing size back from untilMs. */
function mostRecentWithin(schedule: CronSchedule, afterMs: number, untilMs: number): number | undefined {
  for (const windowMs of [MINUTE_MS * 60, MINUTE_MS * 60 * 24 * 2, MINUTE_MS * 60 * 24 * 32, MINUTE_MS * 60 * 24 * 367, Number.POSITIVE_INFINITY]) {
    let last: number | undefined
    const fromMs = Math.max(afterMs, untilMs - windowMs)
    for (let next = nextCronTimeMs(schedule, fromMs); next !== undefined && next <= untilMs; next = nextCronTimeMs(schedule, next)) last = next
    if (last !== undefined || fromMs === afterMs) return last
  }
  return undefined
}

/** A reference to a Job as `status.active` lists it. */
function jobReference(job: JsonObject): JsonObject {
  return { kind: JOBS.kind, namespace: namespaceOf(job), name: nameOf(job), uid: uidOf(job), apiVersion: JOBS.apiVersion }
}

/**
 * Plans one reconcile of `cronJob`.
 *
 * @param controlledJobs Jobs whose controller owner reference has the CronJob's uid.
 * @param nowMs the time (UTC schedules, deadlines, event timestamps).
 * @param options.foreignJobNames names of Jobs in the namespace that the CronJob does not
 *   control: a due Job with such a name is not created (it would be refused), and reported.
 */
export function reconcileCronJob(cronJob: JsonObject, controlledJobs: readonly JsonObject[], nowMs: number, options: { foreignJobNames?: ReadonlySet<string> } = {}): Plan {
  const plan = new PlanBuilder()
  if (isBeingDeleted(cronJob)) return plan.build()
  const involved = { ...cronJob, kind: CRON_JOBS.kind, apiVersion: CRON_JOBS.apiVersion }
  const namespace = namespaceOf(cronJob)
  const spec = specOf(cronJob)
  const previous = statusOf(cronJob)
  let sequence = 0
  const event = (reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void => {
    plan.add({ type: 'event', event: newEvent({ involved, reason, message, type, component: COMPONENT, nowMs, sequence: sequence++ }) })
  }

  const jobs = controlledJobs.filter((job) => !isBeingDeleted(job))
  let active = jobs.filter((job) => jobOutcome(job) === undefined)
  const previouslyActive = new Set(listAt(previous['active']).map((reference) => stringAt(objectAt(reference)['uid'])))
  let lastSuccessfulMs = parseTimeMs(previous['lastSuccessfulTime'])
  for (const job of jobs) {
    const outcome = jobOutcome(job)
    if (outcome === undefined) continue
    if (previouslyActive.has(uidOf(job))) event('SawCompletedJob', `Saw completed job: ${nameOf(job)}, status: ${outcome}`)
    const completedMs = statusTimeMs(job, 'completionTime')
    if (outcome === 'Complete' && completedMs !== undefined && (lastSuccessfulMs === undefined || completedMs > lastSuccessfulMs)) lastSuccessfulMs = completedMs
  }

  cleanUpHistory(cronJob, jobs, plan, event)

  let lastScheduleMs = parseTimeMs(previous['lastScheduleTime'])
  let schedule: CronSchedule | undefined
  try {
    schedule = parseCronSchedule(stringAt(spec['schedule']))
  } catch (error) {
    event('UnparseableSchedule', `unparseable schedule: ${JSON.stringify(stringAt(spec['schedule']))} : ${(error as Error).message}`, 'Warning')
  }
  if (schedule !== undefined && spec['suspend'] !== true) {
    const startingDeadlineSeconds = spec['startingDeadlineSeconds']
    const deadlineMs = typeof startingDeadlineSeconds === 'number' ? startingDeadlineSeconds * 1000 : undefined
    let earliestMs = lastScheduleMs ?? creationMsOf(cronJob)
    if (!Number.isFinite(earliestMs)) earliestMs = nowMs
    if (deadlineMs !== undefined) earliestMs = Math.max(earliestMs, nowMs - deadlineMs)
    const missed = missedSchedules(schedule, earliestMs, nowMs)
    if (missed.count > MISSED_SCHEDULES_REPORTED_OVER) {
      event('TooManyMissedTimes', `too many missed start times: ${missed.count}. Set or decrease .spec.startingDeadlineSeconds or check clock skew`, 'Warning')
    }
    const scheduledMs = missed.mostRecentMs
    if (scheduledMs !== undefined) {
      const name = cronJobJobName(nameOf(cronJob), scheduledMs)
      const policy = stringAt(spec['concurrencyPolicy'], 'Allow')
      const existing = jobs.find((job) => nameOf(job) === name)
      if (existing !== undefined || options.foreignJobNames?.has(name) === true) {
        // Created before (by this manager or a previous leader whose status write was lost).
        if (existing === undefined) event('FailedCreate', `Error creating job: a job named ${name} exists and is not controlled by this CronJob`, 'Warning')
        lastScheduleMs = Math.max(lastScheduleMs ?? scheduledMs, scheduledMs)
      } else if (policy === 'Forbid' && active.length > 0) {
        // Not recorded as scheduled: the time stays due until the active Job ends.
      } else {
        if (policy === 'Replace') {
          for (const job of active) {
            plan.add({ type: 'delete', resource: JOBS, namespace, name: nameOf(job), uid: uidOf(job) })
            event('SuccessfulDelete', `Deleted job ${nameOf(job)}`)
          }
          active = []
        }
        plan.add({ type: 'create', resource: JOBS, namespace, object: jobFromTemplate(cronJob, name, scheduledMs) })
        event('SuccessfulCreate', `Created job ${name}`)
        lastScheduleMs = scheduledMs
      }
    }
    const nextMs = nextCronTimeMs(schedule, nowMs)
    if (nextMs !== undefined) plan.requeueAfter(nextMs - nowMs)
  }

  const status: JsonObject = {}
  if (active.length > 0) status['active'] = [...active].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : 1)).map(jobReference)
  if (lastScheduleMs !== undefined) status['lastScheduleTime'] = formatTime(lastScheduleMs)
  if (lastSuccessfulMs !== undefined) status['lastSuccessfulTime'] = formatTime(lastSuccessfulMs)
  if (!equalIgnoringNullFields(previous, status)) {
    plan.add({ type: 'updateStatus', resource: CRON_JOBS, namespace, name: nameOf(cronJob), object: { ...cronJob, status } })
  }
  return plan.build()
}

/** Deletes the oldest finished Jobs beyond the history limits. */
function cleanUpHistory(cronJob: JsonObject, jobs: readonly JsonObject[], plan: PlanBuilder, event: (reason: string, message: string) => void): void {
  const spec = specOf(cronJob)
  for (const [outcome, field, fallback] of [['Complete', 'successfulJobsHistoryLimit', 3], ['Failed', 'failedJobsHistoryLimit', 1]] as const) {
    const limit = Math.max(0, numberAt(spec[field], fallback))
    const finished = jobs.filter((job) => jobOutcome(job) === outcome).sort(byStartTime)
    for (const job of finished.slice(0, Math.max(0, finished.length - limit))) {
      plan.add({ type: 'delete', resource: JOBS, namespace: namespaceOf(job), name: nameOf(job), uid: uidOf(job) })
      event('SuccessfulDelete', `Deleted job ${nameOf(job)}`)
    }
  }
}

/** Oldest first by status.startTime (then creation, then name), as Kubernetes' byJobStartTime. */
function byStartTime(a: JsonObject, b: JsonObject): number {
  const startA = statusTimeMs(a, 'startTime') ?? creationMsOf(a)
  const startB = statusTimeMs(b, 'startTime') ?? creationMsOf(b)
  if (startA !== startB && !Number.isNaN(startA - startB)) return startA - startB
  return nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0
}

/** The Job for one scheduled run: the job template's metadata and spec, owned by the CronJob. */
export function jobFromTemplate(cronJob: JsonObject, name: string, scheduledMs: number): JsonObject {
  const template = objectAt(specOf(cronJob)['jobTemplate'])
  const templateMetadata = metadataOf(template)
  const annotations = { ...stringMapAt(templateMetadata['annotations']), [CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]: formatTime(scheduledMs) }
  const metadata: JsonObject = {
    name,
    namespace: namespaceOf(cronJob),
    labels: stringMapAt(templateMetadata['labels']),
    annotations,
    ownerReferences: [controllerReferenceTo(cronJob, CRON_JOBS.apiVersion, CRON_JOBS.kind)],
  }
  return { apiVersion: JOBS.apiVersion, kind: JOBS.kind, metadata, spec: cloneJson(objectAt(template['spec'])) }
}
