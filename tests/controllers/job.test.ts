// Goal: the Job controller's pure reconcile keeps min(parallelism, completions − succeeded) pods
// active, labels and owns them with the selector generated from the uid, finishes with Complete
// or Failed (BackoffLimitExceeded, DeadlineExceeded), runs one pod per pending index for Indexed
// Jobs, honours suspend and ttlSecondsAfterFinished, and plans nothing for a settled Job.
// Method: stored-shape Jobs (defaulted by the API's own rules) and pods built from the plan's
// creates; every expectation below is derived from the spec, not from the implementation.
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { applyDefaults } from '../../node/src/api/server/kinds.ts'
import { formatIndexes, JOB_COMPLETION_INDEX_ANNOTATION, parseIndexes } from '../../node/src/controllers/job-pods.ts'
import { JOBS, reconcileJob } from '../../node/src/controllers/job.ts'
import { formatTime, metadataOf, statusOf } from '../../node/src/controllers/object-fields.ts'
import { planWrites, type Action, type Plan } from '../../node/src/controllers/plan.ts'
import { T0_MS } from './fixtures.ts'

const UID = 'uid-job-pi'

function jobFixture(spec: JsonObject = {}, status?: JsonObject): JsonObject {
  const job = applyDefaults('Job', {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'pi', namespace: 'default', uid: UID, creationTimestamp: formatTime(T0_MS), generation: 1, resourceVersion: '5' },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'perl' }] } }, ...spec },
  }, { metadata: {} })
  // The API stores Jobs without the generated selector (the uid is assigned after admission).
  return status === undefined ? job : { ...job, status }
}

let podCounter = 0
/** The pod a create action would store, in `phase`. */
function stored(action: Action | undefined, phase = 'Running'): JsonObject {
  if (action?.type !== 'create') throw new Error(`expected a create, got ${action?.type}`)
  const pod = action.object
  return { ...pod, metadata: { ...metadataOf(pod), uid: `uid-pod-${podCounter++}`, resourceVersion: '9', creationTimestamp: formatTime(T0_MS) }, status: { phase } }
}

function creates(plan: Plan): Action[] {
  return plan.actions.filter((action) => action.type === 'create')
}

function deletes(plan: Plan): Action[] {
  return plan.actions.filter((action) => action.type === 'delete')
}

function statusWrite(plan: Plan): JsonObject | undefined {
  const action = plan.actions.find((item) => item.type === 'updateStatus')
  return action?.type === 'updateStatus' ? statusOf(action.object) : undefined
}

function reasons(plan: Plan): string[] {
  return plan.actions.flatMap((action) => (action.type === 'event' ? [String(action.event['reason'])] : []))
}

function conditionOf(status: JsonObject | undefined, type: string): JsonObject | undefined {
  return ((status?.['conditions'] ?? []) as JsonObject[]).find((condition) => condition['type'] === type)
}

/** Pods of the Job from `count` creates of a first reconcile, with phases. */
function podsWithPhases(phases: string[]): JsonObject[] {
  const job = jobFixture({ completions: 100, parallelism: phases.length })
  return creates(reconcileJob(job, [], T0_MS, new RandomXoshiro(1))).map((action, index) => stored(action, phases[index]))
}

t.test('first sync: parallelism pods, generated labels and owner, startTime, events', async (t) => {
  const job = jobFixture({ completions: 5, parallelism: 2 })
  t.equal((job['spec'] as JsonObject)['selector'], undefined, 'stored without a selector')
  const plan = reconcileJob(job, [], T0_MS, new RandomXoshiro(1), { writeGeneratedSelector: false })
  const pods = creates(plan).map((action) => stored(action))
  t.equal(pods.length, 2, 'min(parallelism 2, completions 5) pods')
  for (const pod of pods) {
    const metadata = metadataOf(pod)
    t.match(metadata['name'], /^pi-[a-z0-9]{5}$/)
    t.same(metadata['labels'], { 'batch.kubernetes.io/controller-uid': UID, 'controller-uid': UID, 'batch.kubernetes.io/job-name': 'pi', 'job-name': 'pi' })
    t.match(metadata['ownerReferences'], [{ kind: 'Job', apiVersion: 'batch/v1', name: 'pi', uid: UID, controller: true, blockOwnerDeletion: true }])
  }
  t.same(reasons(plan), ['SuccessfulCreate', 'SuccessfulCreate'])
  t.same(statusWrite(plan), { startTime: formatTime(T0_MS), active: 2 })
  t.notOk(plan.actions.some((action) => action.type === 'update'), 'no selector write when not asked')

  const writing = reconcileJob(job, [], T0_MS, new RandomXoshiro(1))
  const first = writing.actions[0]
  t.equal(first?.type, 'update', 'the generated selector is written first when asked')
  if (first?.type === 'update') {
    t.same((first.object['spec'] as JsonObject)['selector'], { matchLabels: { 'batch.kubernetes.io/controller-uid': UID } })
    t.equal(first.resource, JOBS)
  }

  const settled = reconcileJob({ ...job, status: statusWrite(plan) ?? {} }, pods, T0_MS + 1000, new RandomXoshiro(2), { writeGeneratedSelector: false })
  t.same(planWrites(settled), [], 'a settled Job plans nothing')
})

t.test('keeps min(parallelism, completions - succeeded) active and completes at completions', async (t) => {
  const pods = podsWithPhases(['Succeeded', 'Succeeded', 'Succeeded', 'Running'])
  const job = jobFixture({ completions: 5, parallelism: 3 }, { startTime: formatTime(T0_MS), active: 1, succeeded: 3 })
  const plan = reconcileJob(job, pods, T0_MS + 5000, new RandomXoshiro(3))
  t.equal(creates(plan).length, 1, '2 wanted (5 − 3), 1 running: 1 created')
  t.same(statusWrite(plan), { startTime: formatTime(T0_MS), active: 2, succeeded: 3 })

  const done = podsWithPhases(['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded', 'Succeeded', 'Running'])
  const finishing = reconcileJob(jobFixture({ completions: 5, parallelism: 3 }, { startTime: formatTime(T0_MS), active: 1, succeeded: 4 }), done, T0_MS + 9000, new RandomXoshiro(3))
  t.equal(deletes(finishing).length, 1, 'the leftover active pod is deleted')
  const status = statusWrite(finishing)
  t.equal(status?.['succeeded'], 5)
  t.equal(status?.['active'], undefined)
  t.equal(status?.['completionTime'], formatTime(T0_MS + 9000))
  t.match(conditionOf(status, 'Complete'), { status: 'True' })
  t.ok(reasons(finishing).includes('Completed'))
  t.equal(creates(finishing).length, 0)
})

t.test('counts never go down when finished pods disappear', async (t) => {
  const pods = podsWithPhases(['Succeeded'])
  const job = jobFixture({ completions: 5, parallelism: 1 }, { startTime: formatTime(T0_MS), succeeded: 3, failed: 1 })
  const status = statusWrite(reconcileJob(job, pods, T0_MS, new RandomXoshiro(4)))
  t.equal(status?.['succeeded'], 3)
  t.equal(status?.['failed'], 1)
})

t.test('a work-queue Job (no completions) completes when one pod succeeded and none run', async (t) => {
  const job = jobFixture({ parallelism: 3, completions: null }, { startTime: formatTime(T0_MS), active: 3 })
  t.equal((job['spec'] as JsonObject)['completions'], null)
  const running = podsWithPhases(['Succeeded', 'Running', 'Running'])
  const plan = reconcileJob(job, running, T0_MS, new RandomXoshiro(5))
  t.equal(creates(plan).length, 0, 'no new pods once one succeeded')
  t.equal(conditionOf(statusWrite(plan), 'Complete'), undefined, 'not complete while pods run')
  const finished = podsWithPhases(['Succeeded', 'Succeeded', 'Failed'])
  t.match(conditionOf(statusWrite(reconcileJob(job, finished, T0_MS, new RandomXoshiro(5))), 'Complete'), { status: 'True' })
})

t.test('more failures than backoffLimit fail the Job and delete its active pods', async (t) => {
  const job = jobFixture({ completions: 3, parallelism: 2, backoffLimit: 2 }, { startTime: formatTime(T0_MS), active: 1, failed: 2 })
  const underLimit = reconcileJob(job, podsWithPhases(['Failed', 'Failed', 'Running']), T0_MS, new RandomXoshiro(6))
  t.equal(creates(underLimit).length, 1, 'two failures with backoffLimit 2: a replacement pod')
  const pods = podsWithPhases(['Failed', 'Failed', 'Failed', 'Running'])
  const plan = reconcileJob(job, pods, T0_MS, new RandomXoshiro(6))
  t.equal(creates(plan).length, 0)
  t.equal(deletes(plan).length, 1, 'the running pod is deleted')
  const status = statusWrite(plan)
  t.match(conditionOf(status, 'Failed'), { status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' })
  t.equal(status?.['failed'], 3)
  t.equal(status?.['completionTime'], undefined, 'failed Jobs have no completion time')
  t.ok(plan.actions.some((action) => action.type === 'event' && action.event['reason'] === 'BackoffLimitExceeded' && action.event['type'] === 'Warning'))
  const after = reconcileJob({ ...job, status: status ?? {} }, pods.slice(0, 3), T0_MS + 1000, new RandomXoshiro(6))
  t.same(planWrites(after), [], 'a failed Job stays failed and creates nothing')
})

t.test('activeDeadlineSeconds: a wake-up at the deadline, then DeadlineExceeded', async (t) => {
  const job = jobFixture({ completions: 1, activeDeadlineSeconds: 5 }, { startTime: formatTime(T0_MS), active: 1 })
  const pods = podsWithPhases(['Running'])
  const early = reconcileJob(job, pods, T0_MS + 2000, new RandomXoshiro(7), { writeGeneratedSelector: false })
  t.same(planWrites(early), [])
  t.equal(early.requeueAfterMs, 3000)
  const late = reconcileJob(job, pods, T0_MS + 5000, new RandomXoshiro(7))
  t.match(conditionOf(statusWrite(late), 'Failed'), { reason: 'DeadlineExceeded' })
  t.equal(deletes(late).length, 1)
})

t.test('Indexed: one pod per pending index, lowest first; duplicates and finished indexes deleted', async (t) => {
  const job = jobFixture({ completions: 4, parallelism: 2, completionMode: 'Indexed' })
  const first = reconcileJob(job, [], T0_MS, new RandomXoshiro(8))
  const pods = creates(first).map((action) => stored(action))
  t.same(pods.map((pod) => (metadataOf(pod)['annotations'] as JsonObject)[JOB_COMPLETION_INDEX_ANNOTATION]), ['0', '1'])
  t.match(metadataOf(pods[0] ?? {})['name'], /^pi-0-[a-z0-9]{5}$/)
  // Index 0 succeeded, index 1 runs twice (a duplicate), index 0 has a stray active pod too.
  const succeeded0 = { ...(pods[0] as JsonObject), status: { phase: 'Succeeded' } }
  const stray0 = { ...(pods[0] as JsonObject), metadata: { ...metadataOf(pods[0] as JsonObject), name: 'pi-0-stray', uid: 'uid-stray' } }
  const twin1 = { ...(pods[1] as JsonObject), metadata: { ...metadataOf(pods[1] as JsonObject), name: 'pi-1-twin', uid: 'uid-twin' } }
  const plan = reconcileJob({ ...job, status: statusWrite(first) ?? {} }, [succeeded0, stray0, pods[1] as JsonObject, twin1], T0_MS + 1000, new RandomXoshiro(8))
  const deleted = deletes(plan).map((action) => (action.type === 'delete' ? action.name : ''))
  t.ok(deleted.includes('pi-0-stray'), 'the active pod of a succeeded index is deleted')
  t.equal(deleted.filter((name) => name.startsWith('pi-1-')).length, 1, 'one of the two pods of index 1 is deleted')
  const created = creates(plan).map((action) => stored(action))
  t.same(created.map((pod) => (metadataOf(pod)['annotations'] as JsonObject)[JOB_COMPLETION_INDEX_ANNOTATION]), ['2'], 'the lowest pending index starts')
  t.equal(statusWrite(plan)?.['completedIndexes'], '0')
  t.equal(statusWrite(plan)?.['succeeded'], 1)
})

t.test('Indexed: complete when every index succeeded once', async (t) => {
  const job = jobFixture({ completions: 3, parallelism: 3, completionMode: 'Indexed' })
  const pods = creates(reconcileJob(job, [], T0_MS, new RandomXoshiro(9))).map((action) => stored(action, 'Succeeded'))
  const status = statusWrite(reconcileJob(job, pods, T0_MS, new RandomXoshiro(9)))
  t.equal(status?.['completedIndexes'], '0-2')
  t.match(conditionOf(status, 'Complete'), { status: 'True' })
})

t.test('suspend deletes active pods; resuming restarts the clock', async (t) => {
  const running = podsWithPhases(['Running', 'Running'])
  const suspended = jobFixture({ completions: 4, parallelism: 2, suspend: true }, { startTime: formatTime(T0_MS), active: 2 })
  const plan = reconcileJob(suspended, running, T0_MS + 1000, new RandomXoshiro(10))
  t.equal(deletes(plan).length, 2)
  t.equal(creates(plan).length, 0)
  const status = statusWrite(plan) ?? {}
  t.match(conditionOf(status, 'Suspended'), { status: 'True', reason: 'JobSuspended' })
  const resumed = jobFixture({ completions: 4, parallelism: 2, suspend: false }, status)
  const after = reconcileJob(resumed, [], T0_MS + 60_000, new RandomXoshiro(10))
  t.equal(creates(after).length, 2)
  t.match(conditionOf(statusWrite(after), 'Suspended'), { status: 'False', reason: 'JobResumed' })
  t.equal(statusWrite(after)?.['startTime'], formatTime(T0_MS + 60_000))
})

t.test('ttlSecondsAfterFinished deletes the finished Job after the TTL', async (t) => {
  const status = { startTime: formatTime(T0_MS), completionTime: formatTime(T0_MS + 1000), succeeded: 1, conditions: [{ type: 'Complete', status: 'True', lastProbeTime: formatTime(T0_MS + 1000), lastTransitionTime: formatTime(T0_MS + 1000) }] }
  const job = jobFixture({ completions: 1, ttlSecondsAfterFinished: 10 }, status)
  const early = reconcileJob(job, [], T0_MS + 5000, new RandomXoshiro(11))
  t.same(planWrites(early), [])
  t.equal(early.requeueAfterMs, 6000)
  const due = reconcileJob(job, [], T0_MS + 11_000, new RandomXoshiro(11))
  t.match(planWrites(due), [{ type: 'delete', resource: JOBS, name: 'pi', uid: UID }])
})

t.test('completedIndexes text round-trips', async (t) => {
  t.equal(formatIndexes([5, 0, 1, 2, 7, 8, 2]), '0-2,5,7-8')
  t.same([...parseIndexes('0-2,5,7-8')], [0, 1, 2, 5, 7, 8])
  t.equal(formatIndexes([]), '')
})
