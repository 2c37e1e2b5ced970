// Goal: the plan executor keeps plan.ts's execution contract against the real API rules: writes
// in order, the first failed write ends the plan and later writes do not run (creates of one run
// go in slow-start batches, as Kubernetes' slowStartBatch: 1, 2, 4, …), an event is recorded only
// after its write succeeded, a status write chained after an update of the same object applies
// against the update's resourceVersion, and the result reports each landed write as an
// expectation. The event recorder counts repeats of an identical event on one Event object.
// Method: executor and recorder over an ObjectStore on MemoryObjectBackend.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../../node/src/api/server/object-store.ts'
import { NAMESPACES } from '../../../node/src/api/server/resource-refs.ts'
import { newEvent } from '../../../node/src/controllers/events.ts'
import { EventRecorder } from '../../../node/src/controllers/manager/event-recorder.ts'
import { ObjectClient } from '../../../node/src/controllers/manager/object-client.ts'
import { PlanExecutor } from '../../../node/src/controllers/manager/plan-executor.ts'
import { metadataOf, nameOf } from '../../../node/src/controllers/object-fields.ts'
import { EVENTS, PODS, REPLICA_SETS, type Action } from '../../../node/src/controllers/plan.ts'

const T0_MS = 1_700_000_000_000

async function setup(): Promise<{ objects: ObjectStore; client: ObjectClient; recorder: EventRecorder; executor: PlanExecutor; log: string[] }> {
  const objects = new ObjectStore(new MemoryObjectBackend())
  await objects.create(NAMESPACES, undefined, { metadata: { name: 'default' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } })
  const log: string[] = []
  const client = new ObjectClient(objects, { log: (line) => log.push(line) })
  const recorder = new EventRecorder(client, { log: (line) => log.push(line) })
  return { objects, client, recorder, executor: new PlanExecutor({ client, recorder, isActive: () => true }), log }
}

const pod = (name: string): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'app:v1' }] } })
const createPod = (name: string): Action => ({ type: 'create', resource: PODS, namespace: 'default', object: pod(name) })
const eventAbout = (object: JsonObject, message: string, sequence = 0): Action => ({
  type: 'event',
  event: newEvent({ involved: { ...object, kind: 'Pod', apiVersion: 'v1' }, reason: 'Test', message, type: 'Normal', component: 'test', nowMs: T0_MS, sequence }),
})

t.test('the first failed write ends the plan; events only follow writes that happened', async (t) => {
  const { objects, client, recorder, executor } = await setup()
  const existing = await client.create(PODS, 'default', pod('taken'))
  const stale = { ...existing, metadata: { ...metadataOf(existing), resourceVersion: '1', labels: { changed: 'yes' } } }
  const result = await executor.execute({
    actions: [
      createPod('first'),
      eventAbout(pod('first'), 'created first', 0),
      { type: 'update', resource: PODS, namespace: 'default', name: 'taken', object: stale },
      eventAbout(existing, 'updated taken', 1),
      createPod('never'),
      eventAbout(pod('never'), 'created never', 2),
    ],
  })
  await recorder.flush()
  t.notOk(result.completed, 'the plan did not complete')
  t.equal((result.error as { code?: number }).code, 409, 'the stale update failed with a conflict')
  t.equal(result.writes, 1, 'one write landed')
  const names = (await objects.list(PODS, 'default')).items.map(nameOf).sort()
  t.same(names, ['first', 'taken'], 'the create after the failure did not run')
  const messages = (await objects.list(EVENTS, 'default')).items.map((event) => event['message'])
  t.same(messages, ['created first'], 'only the event of the landed write is recorded')
  t.match(result.expectations, [{ type: 'revision', resource: PODS }], 'the landed write is an expectation')
})

t.test('creates run in slow-start batches and stop after a failing batch', async (t) => {
  const { objects, client, executor } = await setup()
  await client.create(PODS, 'default', pod('p2'))
  const actions = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'].map(createPod)
  const result = await executor.execute({ actions })
  t.notOk(result.completed)
  const names = (await objects.list(PODS, 'default')).items.map(nameOf).sort()
  // Batches: [p0], [p1, p2] — p2 exists, so the plan stops after that batch.
  t.same(names, ['p0', 'p1', 'p2'], 'batches 1 and 2 ran; nothing after the failing batch')
  t.equal(result.writes, 2, 'two creates landed')
})

t.test('a status write chained after an update uses the update\'s resourceVersion', async (t) => {
  const { objects, client, executor } = await setup()
  const replicaSet = await client.create(REPLICA_SETS, 'default', {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'rs' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'app', image: 'x' }] } } },
  })
  const updated = { ...replicaSet, metadata: { ...metadataOf(replicaSet), annotations: { note: 'one' } } }
  const withStatus = { ...replicaSet, status: { replicas: 1, observedGeneration: 1 } }
  const result = await executor.execute({
    actions: [
      { type: 'update', resource: REPLICA_SETS, namespace: 'default', name: 'rs', object: updated },
      { type: 'updateStatus', resource: REPLICA_SETS, namespace: 'default', name: 'rs', object: withStatus },
    ],
  })
  t.ok(result.completed, 'both writes landed although the status write carried the old resourceVersion')
  const stored = await objects.get(REPLICA_SETS, 'default', 'rs')
  t.same(metadataOf(stored)['annotations'], { note: 'one' }, 'the update is stored')
  t.same(stored['status'], { replicas: 1, observedGeneration: 1 }, 'and the status')
  const revisions = result.expectations.map((expectation) => (expectation.type === 'revision' ? expectation.revision : 0))
  t.equal(Math.max(...revisions), Number(metadataOf(stored)['resourceVersion']), 'expectations name the last write\'s revision')
})

t.test('the recorder counts repeats of an identical event', async (t) => {
  const { objects, recorder } = await setup()
  const subject = { ...pod('subject'), metadata: { name: 'subject', namespace: 'default', uid: 'u-1' } }
  for (let repeat = 0; repeat < 3; repeat++) {
    const event = newEvent({ involved: subject, reason: 'FailedScheduling', message: '0/3 nodes are available', type: 'Warning', component: 'default-scheduler', nowMs: T0_MS + repeat * 60_000, sequence: 0 })
    recorder.record(event)
  }
  recorder.record(newEvent({ involved: subject, reason: 'FailedScheduling', message: '0/4 nodes are available', type: 'Warning', component: 'default-scheduler', nowMs: T0_MS, sequence: 1 }))
  await recorder.flush()
  const events = (await objects.list(EVENTS, 'default')).items
  t.equal(events.length, 2, 'one Event per distinct message')
  const repeated = events.find((event) => event['message'] === '0/3 nodes are available')!
  t.equal(repeated['count'], 3, 'the repeats are counted')
  t.equal(repeated['firstTimestamp'], '2023-11-14T22:13:20Z', 'first seen at the first occurrence')
  t.equal(repeated['lastTimestamp'], '2023-11-14T22:15:20Z', 'last seen at the last one')
})
