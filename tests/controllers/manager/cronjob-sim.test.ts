// Goal: a CronJob `*/1 * * * *` run by the controller manager creates exactly one Job per minute,
// also across a leader change (old manager stopped, or still running and fenced out): every
// scheduled minute gets its Job, none gets two. Forbid never lets two Jobs run at once, Replace
// replaces the running Job, and the history limits keep only the newest finished Jobs.
// Method: SimCluster with simulated time in 1 s steps (seed printed; FLOTILLA_SIM_SEED replays);
// Job pods end by the hollow agent's exit annotation. Every Job name ever seen, and the number
// of unfinished Jobs, is recorded after each step from the store.
import t, { type Test } from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { HOLLOW_EXIT_AFTER_MS_ANNOTATION } from '../../../node/src/agent/hollow-agent.ts'
import { CRON_JOBS } from '../../../node/src/controllers/cronjob.ts'
import { JOBS } from '../../../node/src/controllers/job.ts'
import { controllerRefOf, listAt, nameOf, objectAt, statusOf, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { SimCluster, simSeed } from './sim-cluster.ts'

const MINUTE_MS = 60_000

function cronJobObject(spec: JsonObject, podRunMs: number): JsonObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick' },
    spec: {
      schedule: '*/1 * * * *',
      ...spec,
      jobTemplate: {
        spec: {
          template: {
            metadata: { annotations: { [HOLLOW_EXIT_AFTER_MS_ANNOTATION]: String(podRunMs) } },
            spec: { restartPolicy: 'Never', containers: [{ name: 'tick', image: 'busybox' }] },
          },
        },
      },
    },
  }
}

function finished(job: JsonObject): boolean {
  return listAt(statusOf(job)['conditions']).map(objectAt).some((condition) => (condition['type'] === 'Complete' || condition['type'] === 'Failed') && condition['status'] === 'True')
}

interface Observed {
  cluster: SimCluster
  /** Every Job name seen, with the uids seen under it. */
  uidsByName: Map<string, Set<string>>
  mostUnfinished: number
  createdAtMs: number
}

type Failover = 'none' | 'stop-old' | 'fence-old'

/** Runs the CronJob for `runMs` of simulated time, moving leadership halfway when asked. */
async function run(t: Test, seed: number, spec: JsonObject, podRunMs: number, runMs: number, failover: Failover): Promise<Observed> {
  const cluster = new SimCluster({ seed, stepMs: 1000 })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (const name of ['node-a', 'node-b', 'node-c']) await cluster.addNode({ name, zone: 'z1' })
  const first = cluster.addManager('node-a', { isLeader: true, term: 1 })
  await cluster.step()
  const cronJob = await cluster.client.create(CRON_JOBS, 'default', cronJobObject(spec, podRunMs))
  const observed: Observed = { cluster, uidsByName: new Map(), mostUnfinished: 0, createdAtMs: cluster.timers.realtimeMs() }
  const startMs = cluster.timers.monotonicMs()
  let moved = false
  while (cluster.timers.monotonicMs() - startMs < runMs) {
    await cluster.step()
    const jobs = (await cluster.objects.list(JOBS, 'default')).items.filter((job) => controllerRefOf(job)?.['uid'] === uidOf(cronJob))
    for (const job of jobs) {
      const uids = observed.uidsByName.get(nameOf(job)) ?? new Set<string>()
      uids.add(uidOf(job))
      observed.uidsByName.set(nameOf(job), uids)
    }
    observed.mostUnfinished = Math.max(observed.mostUnfinished, jobs.filter((job) => !finished(job)).length)
    if (failover !== 'none' && !moved && cluster.timers.monotonicMs() - startMs >= runMs / 2) {
      moved = true
      if (failover === 'stop-old') first.leadership.isLeader = false
      cluster.addManager('node-b', { isLeader: true, term: 2 })
    }
  }
  return observed
}

/** The minutes (since the epoch) that were due between the CronJob's creation and now. */
function dueMinutes(observed: Observed): number[] {
  const minutes: number[] = []
  for (let minute = Math.floor(observed.createdAtMs / MINUTE_MS) + 1; minute * MINUTE_MS <= observed.cluster.timers.realtimeMs(); minute++) minutes.push(minute)
  return minutes
}

async function createEvents(cluster: SimCluster): Promise<JsonObject[]> {
  return (await cluster.events()).filter((event) => objectAt(event['involvedObject'])['kind'] === 'CronJob' && event['reason'] === 'SuccessfulCreate')
}

for (const failover of ['none', 'stop-old', 'fence-old'] as const) {
  const seed = simSeed(7500)
  t.test(`seed ${seed}: one Job per minute, history limits kept (leader change: ${failover})`, async (t) => {
    const observed = await run(t, seed, { successfulJobsHistoryLimit: 2 }, 5000, 4.5 * MINUTE_MS, failover)
    const { cluster } = observed
    const expected = dueMinutes(observed).map((minute) => `tick-${minute}`)
    t.ok(expected.length >= 4, `${expected.length} minutes were due`)
    t.same([...observed.uidsByName.keys()].sort(), expected, 'every due minute got its Job, named by the minute')
    t.same([...observed.uidsByName.values()].filter((uids) => uids.size > 1), [], 'no minute got a second Job')
    const events = await createEvents(cluster)
    t.same(events.map((event) => String(event['message'])).sort(), expected.map((name) => `Created job ${name}`), 'one SuccessfulCreate per Job')
    t.ok(events.every((event) => event['count'] === 1), 'each recorded once')
    // Let the last Job finish, then only the newest two successful Jobs remain.
    for (let step = 0; step < 10; step++) await cluster.step()
    const cronJob = await cluster.objects.get(CRON_JOBS, 'default', 'tick')
    const jobs = (await cluster.objects.list(JOBS, 'default')).items.filter((job) => controllerRefOf(job)?.['uid'] === uidOf(cronJob))
    // A new minute may have begun meanwhile: its Job may still run, and is not history yet.
    const dueNow = dueMinutes(observed).map((minute) => `tick-${minute}`)
    t.equal(jobs.filter(finished).length, 2, 'successfulJobsHistoryLimit 2: two finished Jobs remain')
    t.same(jobs.map(nameOf).sort(), dueNow.slice(-jobs.length), 'and they are the newest')
    t.ok(jobs.length <= 3, 'besides at most the Job of the current minute')
    const status = statusOf(cronJob)
    t.equal(status['lastScheduleTime'], new Date((dueMinutes(observed).at(-1) ?? 0) * MINUTE_MS).toISOString().replace('.000Z', 'Z'), 'lastScheduleTime is the latest due minute')
    t.type(status['lastSuccessfulTime'], 'string')
    if (failover !== 'none') t.equal(cluster.managers[1]?.manager.activeTerm, 2, 'the new leader runs the controllers')
  })
}

t.test(`seed ${simSeed(7600)}: Forbid never runs two Jobs at once`, async (t) => {
  const observed = await run(t, simSeed(7600), { concurrencyPolicy: 'Forbid' }, 90_000, 4.5 * MINUTE_MS, 'none')
  t.equal(observed.mostUnfinished, 1, 'at most one unfinished Job at any time')
  t.ok(observed.uidsByName.size >= 2 && observed.uidsByName.size < dueMinutes(observed).length, `runs were skipped while one ran (${observed.uidsByName.size} Jobs for ${dueMinutes(observed).length} minutes)`)
})

t.test(`seed ${simSeed(7700)}: Replace replaces the running Job every minute`, async (t) => {
  const observed = await run(t, simSeed(7700), { concurrencyPolicy: 'Replace' }, 90_000, 4.5 * MINUTE_MS, 'none')
  const expected = dueMinutes(observed).map((minute) => `tick-${minute}`)
  t.equal(observed.mostUnfinished, 1, 'at most one unfinished Job at any time')
  t.same([...observed.uidsByName.keys()].sort(), expected, 'a Job every minute')
  const jobs = (await observed.cluster.objects.list(JOBS, 'default')).items
  t.same(jobs.map(nameOf), expected.slice(-1), 'the replaced Jobs are gone')
  const deletions = (await observed.cluster.events()).filter((event) => event['reason'] === 'SuccessfulDelete' && objectAt(event['involvedObject'])['kind'] === 'CronJob')
  t.equal(deletions.length, expected.length - 1, 'each earlier Job was deleted once')
})
