// Goal: the CronJob controller's pure reconcile starts the most recent due schedule once, under a
// name derived from the scheduled time, owned by the CronJob; honours Forbid/Replace, suspend,
// startingDeadlineSeconds and the history limits; reports more than 100 missed times; keeps
// status.active/lastScheduleTime/lastSuccessfulTime; and wakes up at the next schedule.
// Method: stored-shape CronJobs and Jobs; times on whole minutes after a fixed epoch.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { applyDefaults } from '../../node/src/api/server/kinds.ts'
import { parseCronSchedule } from '../../node/src/api/server/kinds/cron.ts'
import { CRON_JOBS, cronJobJobName, missedSchedules, reconcileCronJob } from '../../node/src/controllers/cronjob.ts'
import { JOBS } from '../../node/src/controllers/job.ts'
import { formatTime, metadataOf, statusOf } from '../../node/src/controllers/object-fields.ts'
import { planWrites, type Action, type Plan } from '../../node/src/controllers/plan.ts'

const MINUTE = 60_000
/** 2023-11-14T22:00:00Z, a whole hour. */
const H0 = Math.floor(1_700_000_000_000 / (60 * MINUTE)) * 60 * MINUTE
const UID = 'uid-cj-tick'

function cronJobFixture(spec: JsonObject = {}, status?: JsonObject, createdMs = H0 - 30_000): JsonObject {
  const cronJob = applyDefaults('CronJob', {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick', namespace: 'default', uid: UID, creationTimestamp: formatTime(createdMs), generation: 1, resourceVersion: '7' },
    spec: {
      schedule: '*/1 * * * *',
      jobTemplate: { metadata: { labels: { app: 'tick' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } },
      ...spec,
    },
  })
  return status === undefined ? cronJob : { ...cronJob, status }
}

/** A Job the CronJob created for `scheduledMs`, finished as `outcome` (or running). */
function jobFor(scheduledMs: number, outcome?: 'Complete' | 'Failed'): JsonObject {
  const name = cronJobJobName('tick', scheduledMs)
  const status: JsonObject = { startTime: formatTime(scheduledMs) }
  if (outcome !== undefined) status['conditions'] = [{ type: outcome, status: 'True', lastTransitionTime: formatTime(scheduledMs + 10_000) }]
  if (outcome === 'Complete') status['completionTime'] = formatTime(scheduledMs + 10_000)
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '11', creationTimestamp: formatTime(scheduledMs), ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: UID, controller: true }] },
    spec: {},
    status,
  }
}

function ofType(plan: Plan, type: Action['type']): Action[] {
  return plan.actions.filter((action) => action.type === type)
}

function statusWrite(plan: Plan): JsonObject | undefined {
  const action = plan.actions.find((item) => item.type === 'updateStatus')
  return action?.type === 'updateStatus' ? statusOf(action.object) : undefined
}

function reasons(plan: Plan): string[] {
  return plan.actions.flatMap((action) => (action.type === 'event' ? [String(action.event['reason'])] : []))
}

t.test('nothing due before the first schedule; a wake-up at it', async (t) => {
  const plan = reconcileCronJob(cronJobFixture(), [], H0 - 10_000)
  t.same(planWrites(plan), [])
  t.equal(plan.requeueAfterMs, 10_000)
})

t.test('a due schedule creates its Job once, named by the scheduled minute, owned by the CronJob', async (t) => {
  const cronJob = cronJobFixture()
  const plan = reconcileCronJob(cronJob, [], H0 + 1500)
  const created = ofType(plan, 'create')
  t.equal(created.length, 1)
  const job = created[0]?.type === 'create' ? created[0].object : {}
  t.equal(created[0]?.type === 'create' ? created[0].resource : undefined, JOBS)
  t.equal(metadataOf(job)['name'], `tick-${H0 / MINUTE}`)
  t.same(metadataOf(job)['labels'], { app: 'tick' })
  t.match(metadataOf(job)['ownerReferences'], [{ kind: 'CronJob', apiVersion: 'batch/v1', name: 'tick', uid: UID, controller: true }])
  t.match(job['spec'], { template: { spec: { restartPolicy: 'Never' } } })
  t.same(reasons(plan), ['SuccessfulCreate'])
  t.same(statusWrite(plan), { lastScheduleTime: formatTime(H0) })
  t.equal(plan.requeueAfterMs, MINUTE - 1500, 'wakes at the next minute')

  // Same time again, after the status write landed: nothing to do.
  const again = reconcileCronJob({ ...cronJob, status: statusWrite(plan) ?? {} }, [jobFor(H0)], H0 + 2000)
  t.same(ofType(again, 'create'), [])
  t.same(statusWrite(again), { active: [{ kind: 'Job', namespace: 'default', name: `tick-${H0 / MINUTE}`, uid: `uid-tick-${H0 / MINUTE}`, apiVersion: 'batch/v1' }], lastScheduleTime: formatTime(H0) })

  // The status write was lost (a leader change): the Job exists, so only the status is written.
  const lost = reconcileCronJob(cronJob, [jobFor(H0)], H0 + 2000)
  t.same(ofType(lost, 'create'), [], 'no second Job for the same minute')
  t.equal(statusWrite(lost)?.['lastScheduleTime'], formatTime(H0))
})

t.test('only the most recent missed schedule runs; more than 100 missed are reported', async (t) => {
  const cronJob = cronJobFixture({}, { lastScheduleTime: formatTime(H0) })
  const plan = reconcileCronJob(cronJob, [], H0 + 5 * MINUTE + 10)
  t.same(ofType(plan, 'create').map((action) => (action.type === 'create' ? metadataOf(action.object)['name'] : '')), [`tick-${H0 / MINUTE + 5}`])
  t.notOk(reasons(plan).includes('TooManyMissedTimes'))
  const long = reconcileCronJob(cronJob, [], H0 + 1000 * MINUTE + 10)
  t.ok(reasons(long).includes('TooManyMissedTimes'))
  t.equal(statusWrite(long)?.['lastScheduleTime'], formatTime(H0 + 1000 * MINUTE))
  const deadline = reconcileCronJob(cronJobFixture({ startingDeadlineSeconds: 120 }, { lastScheduleTime: formatTime(H0) }), [], H0 + 1000 * MINUTE + 10)
  t.notOk(reasons(deadline).includes('TooManyMissedTimes'), 'startingDeadlineSeconds bounds the look-back')
  t.equal(ofType(deadline, 'create').length, 1)
})

t.test('missedSchedules finds the latest time far back without walking every minute', async (t) => {
  const schedule = parseCronSchedule('*/1 * * * *')
  const result = missedSchedules(schedule, H0, H0 + 400 * 24 * 60 * MINUTE + 5)
  t.ok(result.count > 100)
  t.equal(result.mostRecentMs, H0 + 400 * 24 * 60 * MINUTE)
  t.same(missedSchedules(parseCronSchedule('0 0 1 1 *'), H0, H0 + MINUTE), { count: 0, mostRecentMs: undefined })
})

t.test('Forbid skips while a Job runs; Replace deletes it first; Allow runs both', async (t) => {
  const running = jobFor(H0)
  const status = { lastScheduleTime: formatTime(H0), active: [{ kind: 'Job', namespace: 'default', name: metadataOf(running)['name'] ?? '', uid: metadataOf(running)['uid'] ?? '', apiVersion: 'batch/v1' }] }
  const now = H0 + MINUTE + 100
  const forbid = reconcileCronJob(cronJobFixture({ concurrencyPolicy: 'Forbid' }, status), [running], now)
  t.same(planWrites(forbid), [], 'Forbid: nothing while the Job runs')
  const replace = reconcileCronJob(cronJobFixture({ concurrencyPolicy: 'Replace' }, status), [running], now)
  t.match(planWrites(replace), [
    { type: 'delete', resource: JOBS, name: `tick-${H0 / MINUTE}` },
    { type: 'create', resource: JOBS, object: { metadata: { name: `tick-${H0 / MINUTE + 1}` } } },
    { type: 'updateStatus', resource: CRON_JOBS },
  ])
  t.equal(statusWrite(replace)?.['active'], undefined, 'the replaced Job is no longer active')
  const allow = reconcileCronJob(cronJobFixture({}, status), [running], now)
  t.equal(ofType(allow, 'create').length, 1)
  t.equal(ofType(allow, 'delete').length, 0)
})

t.test('suspend: no new Jobs', async (t) => {
  const plan = reconcileCronJob(cronJobFixture({ suspend: true }), [], H0 + 10 * MINUTE)
  t.same(planWrites(plan), [])
})

t.test('history limits delete the oldest finished Jobs; lastSuccessfulTime follows completions', async (t) => {
  const jobs = [jobFor(H0, 'Complete'), jobFor(H0 + MINUTE, 'Complete'), jobFor(H0 + 2 * MINUTE, 'Failed'), jobFor(H0 + 3 * MINUTE, 'Complete'), jobFor(H0 + 4 * MINUTE, 'Failed')]
  const cronJob = cronJobFixture({ successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1 }, { lastScheduleTime: formatTime(H0 + 4 * MINUTE) })
  const plan = reconcileCronJob(cronJob, jobs, H0 + 4 * MINUTE + 30_000)
  const deleted = ofType(plan, 'delete').map((action) => (action.type === 'delete' ? action.name : ''))
  t.same(deleted.sort(), [`tick-${H0 / MINUTE}`, `tick-${H0 / MINUTE + 2}`])
  t.equal(statusWrite(plan)?.['lastSuccessfulTime'], formatTime(H0 + 3 * MINUTE + 10_000))
})

t.test('a Job seen finishing is reported once', async (t) => {
  const finished = jobFor(H0, 'Complete')
  const status = { lastScheduleTime: formatTime(H0), active: [{ kind: 'Job', namespace: 'default', name: metadataOf(finished)['name'] ?? '', uid: metadataOf(finished)['uid'] ?? '', apiVersion: 'batch/v1' }] }
  const plan = reconcileCronJob(cronJobFixture({}, status), [finished], H0 + 30_000)
  t.same(reasons(plan), ['SawCompletedJob'])
  t.same(statusWrite(plan), { lastScheduleTime: formatTime(H0), lastSuccessfulTime: formatTime(H0 + 10_000) })
})
