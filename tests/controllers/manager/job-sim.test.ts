// Goal: Jobs run by the controller manager on a simulated cluster do what their spec says: a Job
// with completions 5 and parallelism 2 never runs more than 2 pods and completes with exactly 5
// successes; a Job whose pods fail stops at backoffLimit (backoffLimit + 1 failed pods, no more)
// with condition Failed/BackoffLimitExceeded; the hollow agent's opt-in exit annotations end a
// pod as Succeeded or Failed.
// Method: SimCluster (seed printed; FLOTILLA_SIM_SEED replays) with three hollow nodes; pods are
// told to exit by the annotations flotilla.dev/hollow-exit-after-ms and -exit-code. Invariants are
// checked after every simulated step, from the store.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { HOLLOW_EXIT_AFTER_MS_ANNOTATION, HOLLOW_EXIT_CODE_ANNOTATION } from '../../../node/src/agent/hollow-agent.ts'
import { JOBS } from '../../../node/src/controllers/job.ts'
import { controllerRefOf, listAt, objectAt, specOf, statusOf, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { PODS } from '../../../node/src/controllers/plan.ts'
import { SimCluster, simSeed } from './sim-cluster.ts'

async function startCluster(seed: number): Promise<SimCluster> {
  const cluster = new SimCluster({ seed, stepMs: 250 })
  await cluster.start()
  for (const name of ['node-a', 'node-b', 'node-c']) await cluster.addNode({ name, zone: 'z1' })
  cluster.addManager('node-a', { isLeader: true, term: 1 })
  return cluster
}

function jobObject(name: string, spec: JsonObject, exit: { afterMs: number; code: number }): JsonObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      ...spec,
      template: {
        metadata: { annotations: { [HOLLOW_EXIT_AFTER_MS_ANNOTATION]: String(exit.afterMs), [HOLLOW_EXIT_CODE_ANNOTATION]: String(exit.code) } },
        spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox' }] },
      },
    },
  }
}

async function podsOfJob(cluster: SimCluster, name: string): Promise<JsonObject[]> {
  const job = await cluster.objects.get(JOBS, 'default', name)
  return (await cluster.pods()).filter((pod) => controllerRefOf(pod)?.['uid'] === uidOf(job))
}

function hasCondition(job: JsonObject, type: string, reason?: string): boolean {
  return listAt(statusOf(job)['conditions']).map(objectAt).some((condition) => condition['type'] === type && condition['status'] === 'True' && (reason === undefined || condition['reason'] === reason))
}

const phase = (pod: JsonObject): string => String(statusOf(pod)['phase'] ?? 'Pending')

t.test(`seed ${simSeed(7100)}: the hollow agent ends annotated pods with their exit code`, async (t) => {
  const cluster = await startCluster(simSeed(7100))
  t.teardown(() => cluster.stop())
  await cluster.runUntil('the node has a pod CIDR', 5000, async () => typeof specOf(await cluster.node('node-a'))['podCIDR'] === 'string')
  const pod = (name: string, code: number, restartPolicy: string): JsonObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, annotations: { [HOLLOW_EXIT_AFTER_MS_ANNOTATION]: '3000', [HOLLOW_EXIT_CODE_ANNOTATION]: String(code) } },
    spec: { nodeName: 'node-a', restartPolicy, containers: [{ name: 'c', image: 'busybox' }] },
  })
  await cluster.client.create(PODS, 'default', pod('ok', 0, 'Never'))
  await cluster.client.create(PODS, 'default', pod('bad', 2, 'OnFailure'))
  await cluster.client.create(PODS, 'default', { ...pod('forever', 0, 'Never'), metadata: { name: 'forever' } })
  const get = (name: string): Promise<JsonObject> => cluster.objects.get(PODS, 'default', name)
  await cluster.runUntil('the pods run', 5000, async () => phase(await get('ok')) === 'Running' && phase(await get('bad')) === 'Running')
  await cluster.runUntil('the annotated pods end', 10_000, async () => phase(await get('ok')) === 'Succeeded' && phase(await get('bad')) === 'Failed')
  const terminated = objectAt(objectAt(objectAt(listAt(statusOf(await get('bad'))['containerStatuses'])[0])['state'])['terminated'])
  t.equal(terminated['exitCode'], 2, 'the container terminated with the annotated code')
  t.equal(terminated['reason'], 'Error')
  for (let step = 0; step < 20; step++) await cluster.step()
  t.equal(phase(await get('forever')), 'Running', 'a pod without the annotation runs on')
  t.equal(phase(await get('ok')), 'Succeeded', 'a finished pod stays finished')
})

t.test(`seed ${simSeed(7200)}: completions 5, parallelism 2 → exactly 5 successes, never more than 2 running`, async (t) => {
  const cluster = await startCluster(simSeed(7200))
  t.teardown(() => cluster.stop())
  await cluster.client.create(JOBS, 'default', jobObject('batch', { completions: 5, parallelism: 2 }, { afterMs: 2000, code: 0 }))
  let mostActive = 0
  await cluster.runUntil(
    'the Job completes',
    120_000,
    async () => hasCondition(await cluster.objects.get(JOBS, 'default', 'batch'), 'Complete'),
    async () => {
      const active = (await podsOfJob(cluster, 'batch')).filter((pod) => phase(pod) === 'Pending' || phase(pod) === 'Running').length
      mostActive = Math.max(mostActive, active)
    },
  )
  for (let step = 0; step < 10; step++) await cluster.step()
  const pods = await podsOfJob(cluster, 'batch')
  t.equal(pods.filter((pod) => phase(pod) === 'Succeeded').length, 5, 'five pods succeeded')
  t.equal(pods.length, 5, 'and no other pod was created')
  t.ok(mostActive <= 2, `at most 2 pods ran at once (saw ${mostActive})`)
  t.equal(mostActive, 2, 'parallelism was used')
  const job = await cluster.objects.get(JOBS, 'default', 'batch')
  const status = statusOf(job)
  t.equal(status['succeeded'], 5)
  t.equal(status['active'], undefined)
  t.type(status['completionTime'], 'string')
  t.type(status['startTime'], 'string')
  t.ok(pods.every((pod) => String(objectAt(objectAt(pod['metadata'])['labels'])['batch.kubernetes.io/controller-uid']) === uidOf(job)), 'pods carry the generated uid label')
  const reasons = (await cluster.events()).filter((event) => objectAt(event['involvedObject'])['kind'] === 'Job').map((event) => String(event['reason']))
  t.ok(reasons.includes('SuccessfulCreate') && reasons.includes('Completed'), 'SuccessfulCreate and Completed events')
})

t.test(`seed ${simSeed(7300)}: a failing Job stops at backoffLimit`, async (t) => {
  const cluster = await startCluster(simSeed(7300))
  t.teardown(() => cluster.stop())
  await cluster.client.create(JOBS, 'default', jobObject('flaky', { completions: 3, parallelism: 1, backoffLimit: 2 }, { afterMs: 1000, code: 1 }))
  await cluster.runUntil('the Job fails', 120_000, async () => hasCondition(await cluster.objects.get(JOBS, 'default', 'flaky'), 'Failed', 'BackoffLimitExceeded'))
  for (let step = 0; step < 20; step++) await cluster.step()
  const pods = await podsOfJob(cluster, 'flaky')
  t.equal(pods.length, 3, 'backoffLimit 2: three pods ran, then no more')
  t.ok(pods.every((pod) => phase(pod) === 'Failed'), 'all of them failed')
  const status = statusOf(await cluster.objects.get(JOBS, 'default', 'flaky'))
  t.equal(status['failed'], 3)
  t.equal(status['succeeded'], undefined)
  const warnings = (await cluster.events()).filter((event) => event['reason'] === 'BackoffLimitExceeded' && event['type'] === 'Warning')
  t.equal(warnings.length, 1, 'one BackoffLimitExceeded event')
})

t.test(`seed ${simSeed(7400)}: activeDeadlineSeconds ends a Job that runs too long; ttlSecondsAfterFinished removes it`, async (t) => {
  const cluster = await startCluster(simSeed(7400))
  t.teardown(() => cluster.stop())
  await cluster.client.create(JOBS, 'default', jobObject('slow', { completions: 1, activeDeadlineSeconds: 5, ttlSecondsAfterFinished: 3 }, { afterMs: 60_000, code: 0 }))
  let failedAtMs: number | undefined
  await cluster.runUntil('the Job is gone', 60_000, async () => {
    const job = await cluster.objects.get(JOBS, 'default', 'slow').catch(() => undefined)
    if (job !== undefined && failedAtMs === undefined && hasCondition(job, 'Failed', 'DeadlineExceeded')) failedAtMs = cluster.timers.monotonicMs()
    return job === undefined
  })
  t.ok(failedAtMs !== undefined, 'the Job failed with DeadlineExceeded first')
  const pods = (await cluster.pods()).filter((pod) => String(objectAt(objectAt(pod['metadata'])['labels'])['job-name']) === 'slow')
  t.same(pods.filter((pod) => phase(pod) === 'Running' || phase(pod) === 'Pending'), [], 'no pod of it runs')
})
