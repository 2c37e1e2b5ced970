// Goal: the ReplicaSet reconcile creates missing pods from its template (named, labelled and
// owned like Kubernetes' pods), deletes surplus pods least valuable first, ignores terminating
// pods, reports status with minReadySeconds, releases and adopts pods by selector, and plans
// nothing for a ReplicaSet in its desired state. Method: crafted ReplicaSets and pods, seeded
// randomness, and assertions on the returned plans.
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { labelsOf, metadataOf, nameOf, specOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { planWrites, type CreateAction, type DeleteAction, type EventAction, type UpdateAction, type UpdateStatusAction } from '../../node/src/controllers/plan.ts'
import { reconcileReplicaSet } from '../../node/src/controllers/replicaset.ts'
import { podFixture, podTemplate, replicaSetFixture, T0_MS } from './fixtures.ts'

const replicaSet = (replicas: number, extra: Partial<Parameters<typeof replicaSetFixture>[0]> = {}): JsonObject =>
  replicaSetFixture({ name: 'web-5d446b7444', uid: 'uid-rs', replicas, template: podTemplate('web', 'nginx:1.20'), ...extra })

const creates = (actions: readonly unknown[]): CreateAction[] => actions.filter((action): action is CreateAction => (action as CreateAction).type === 'create')
const deletes = (actions: readonly unknown[]): DeleteAction[] => actions.filter((action): action is DeleteAction => (action as DeleteAction).type === 'delete')
const events = (actions: readonly unknown[]): EventAction[] => actions.filter((action): action is EventAction => (action as EventAction).type === 'event')
const statusUpdate = (actions: readonly unknown[]): UpdateStatusAction | undefined => actions.find((action): action is UpdateStatusAction => (action as UpdateStatusAction).type === 'updateStatus')

t.test('reconcileReplicaSet creates the missing pods from its template', async (t) => {
  const rs = replicaSet(3)
  const existing = podFixture({ name: 'web-5d446b7444-aaaaa', owner: rs, readySinceMs: T0_MS })
  const plan = reconcileReplicaSet(rs, [existing], T0_MS, new RandomXoshiro(1))
  const created = creates(plan.actions)
  t.equal(created.length, 2)
  for (const action of created) {
    const pod = action.object
    const metadata = metadataOf(pod)
    t.match(nameOf(pod), /^web-5d446b7444-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
    t.equal(metadata['generateName'], 'web-5d446b7444-')
    t.equal(action.namespace, 'default')
    t.same(labelsOf(pod), labelsOf(specOf(rs)['template'] as JsonObject), 'labels from the template, pod-template-hash included')
    t.same(metadata['ownerReferences'], [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d446b7444', uid: 'uid-rs', controller: true, blockOwnerDeletion: true }])
    t.same(specOf(pod)['containers'], (specOf(specOf(rs)['template'] as JsonObject)['containers']))
  }
  t.not(nameOf(created[0]!.object), nameOf(created[1]!.object))
  const messages = events(plan.actions).map((action) => [action.event['reason'], action.event['message']])
  t.same(messages, created.map((action) => ['SuccessfulCreate', `Created pod: ${nameOf(action.object)}`]))
  t.equal(plan.actions.indexOf(created[0]!) + 1, plan.actions.indexOf(events(plan.actions)[0]!), 'each event follows its write')
  const event = events(plan.actions)[0]!.event
  t.match(event, { involvedObject: { kind: 'ReplicaSet', name: 'web-5d446b7444', uid: 'uid-rs', namespace: 'default' }, source: { component: 'replicaset-controller' }, type: 'Normal', count: 1 })
})

t.test('reconcileReplicaSet is replayable: the same seed names the same pods', async (t) => {
  const names = (seed: number): string[] => creates(reconcileReplicaSet(replicaSet(4), [], T0_MS, new RandomXoshiro(seed)).actions).map((action) => nameOf(action.object))
  t.same(names(7), names(7))
  t.notSame(names(7), names(8))
})

t.test('reconcileReplicaSet deletes the least valuable surplus pods with uid preconditions', async (t) => {
  const rs = replicaSet(2)
  const pods = [
    podFixture({ name: 'ready-long', owner: rs, readySinceMs: T0_MS - 60_000 }),
    podFixture({ name: 'pending', owner: rs }),
    podFixture({ name: 'ready-short', owner: rs, readySinceMs: T0_MS - 1_000 }),
    podFixture({ name: 'ready-longest', owner: rs, readySinceMs: T0_MS - 120_000 }),
  ]
  const plan = reconcileReplicaSet(rs, pods, T0_MS, new RandomXoshiro(1))
  t.same(deletes(plan.actions).map((action) => [action.name, action.uid]), [['pending', 'uid-pending'], ['ready-short', 'uid-ready-short']])
  t.same(events(plan.actions).map((action) => action.event['message']), ['Deleted pod: pending', 'Deleted pod: ready-short'])
})

t.test('reconcileReplicaSet does not count terminating or finished pods', async (t) => {
  const rs = replicaSet(2)
  const pods = [
    podFixture({ name: 'a', owner: rs, readySinceMs: T0_MS }),
    podFixture({ name: 'b', owner: rs, readySinceMs: T0_MS, deleting: true }),
    podFixture({ name: 'c', owner: rs, phase: 'Failed' }),
  ]
  const plan = reconcileReplicaSet(rs, pods, T0_MS, new RandomXoshiro(1))
  t.equal(creates(plan.actions).length, 1, 'one replacement')
  t.equal(deletes(plan.actions).length, 0)
  t.match(statusUpdate(plan.actions)?.object['status'], { replicas: 1, readyReplicas: 1 })
})

t.test('reconcileReplicaSet reports status, honouring minReadySeconds, and asks to be woken for it', async (t) => {
  const rs = replicaSet(3, { minReadySeconds: 10, generation: 4 })
  const pods = [
    podFixture({ name: 'old', owner: rs, readySinceMs: T0_MS - 30_000 }),
    podFixture({ name: 'fresh', owner: rs, readySinceMs: T0_MS - 4_000 }),
    podFixture({ name: 'starting', owner: rs }),
  ]
  const plan = reconcileReplicaSet(rs, pods, T0_MS, new RandomXoshiro(1))
  t.same(statusUpdate(plan.actions)?.object['status'], { replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 2, availableReplicas: 1, observedGeneration: 4 })
  t.equal(plan.requeueAfterMs, 6_001, 'when the fresh pod has been ready for 10 s')
  t.equal(creates(plan.actions).length + deletes(plan.actions).length, 0)
})

t.test('reconcileReplicaSet plans nothing for a ReplicaSet in its desired state', async (t) => {
  const rs = replicaSet(2)
  const pods = [podFixture({ name: 'a', owner: rs, readySinceMs: T0_MS - 5_000 }), podFixture({ name: 'b', owner: rs, readySinceMs: T0_MS - 5_000 })]
  const first = reconcileReplicaSet(rs, pods, T0_MS, new RandomXoshiro(1))
  const settled = { ...rs, status: statusUpdate(first.actions)?.object['status'] ?? {} }
  const second = reconcileReplicaSet(settled, pods, T0_MS, new RandomXoshiro(1))
  t.same(second.actions, [])
  t.equal(second.requeueAfterMs, undefined)
})

t.test('reconcileReplicaSet releases pods that left its selector and adopts matching orphans', async (t) => {
  const rs = replicaSet(2)
  const relabelled = podFixture({ name: 'relabelled', owner: rs, labels: { app: 'debug' }, readySinceMs: T0_MS })
  const orphan = podFixture({ name: 'orphan', labels: labelsOf(specOf(rs)['template'] as JsonObject), readySinceMs: T0_MS })
  const stranger = podFixture({ name: 'stranger', labels: { app: 'other' }, readySinceMs: T0_MS })
  const plan = reconcileReplicaSet(rs, [relabelled], T0_MS, new RandomXoshiro(1), { orphanPods: [orphan, stranger] })
  const updates = plan.actions.filter((action): action is UpdateAction => action.type === 'update')
  t.same(updates.map((action) => action.name), ['relabelled', 'orphan'])
  t.same(metadataOf(updates[0]!.object)['ownerReferences'], [], 'released: no controller reference')
  t.match(metadataOf(updates[1]!.object)['ownerReferences'], [{ uid: uidOf(rs), controller: true }], 'adopted')
  t.equal(metadataOf(updates[1]!.object)['resourceVersion'], '30', 'guarded by the pod resourceVersion')
  t.equal(creates(plan.actions).length, 1, 'the adopted pod counts, the released one does not')
})

t.test('reconcileReplicaSet stops managing pods once the ReplicaSet is being deleted', async (t) => {
  const rs = replicaSet(3)
  const deleting = { ...rs, metadata: { ...metadataOf(rs), deletionTimestamp: '2023-11-14T22:13:20Z' } }
  const plan = reconcileReplicaSet(deleting, [], T0_MS, new RandomXoshiro(1))
  t.same(planWrites(plan).map((action) => action.type), ['updateStatus'], 'status only')
})

t.test('reconcileReplicaSet creates or deletes at most burstReplicas pods per plan', async (t) => {
  const plan = reconcileReplicaSet(replicaSet(10), [], T0_MS, new RandomXoshiro(1), { burstReplicas: 4 })
  t.equal(creates(plan.actions).length, 4)
})
