// Goal: plans keep their actions in order and the earliest wake-up, and controller events are the
// core/v1 objects `kubectl describe` selects. Method: direct calls.
import t from 'tap'
import { newEvent } from '../../node/src/controllers/events.ts'
import { PlanBuilder, PODS, planWrites } from '../../node/src/controllers/plan.ts'
import { deploymentFixture, T0_MS } from './fixtures.ts'

t.test('PlanBuilder keeps action order and the earliest requeue', async (t) => {
  const plan = new PlanBuilder()
  t.same(plan.build(), { actions: [] }, 'an empty plan has no wake-up')
  plan.add({ type: 'delete', resource: PODS, namespace: 'default', name: 'a', uid: 'u1' })
  plan.add({ type: 'event', event: {} })
  plan.requeueAfter(5_000).requeueAfter(1_500.2).requeueAfter(9_000)
  const built = plan.build()
  t.same(built.actions.map((action) => action.type), ['delete', 'event'])
  t.equal(built.requeueAfterMs, 1_501, 'rounded up, never early')
  t.same(planWrites(built).map((action) => action.type), ['delete'], 'events are not writes')
  t.equal(new PlanBuilder().requeueAfter(-20).build().requeueAfterMs, 0, 'past deadlines mean now')
})

t.test('newEvent builds the Event kubectl describe finds by involvedObject', async (t) => {
  const deployment = deploymentFixture()
  const first = newEvent({ involved: deployment, reason: 'ScalingReplicaSet', message: 'Scaled up replica set web-abc to 3', type: 'Normal', component: 'deployment-controller', nowMs: T0_MS, sequence: 0 })
  const second = newEvent({ involved: deployment, reason: 'ScalingReplicaSet', message: 'again', type: 'Normal', component: 'deployment-controller', nowMs: T0_MS, sequence: 1 })
  t.match(first, {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { namespace: 'default' },
    involvedObject: { kind: 'Deployment', apiVersion: 'apps/v1', name: 'web', namespace: 'default', uid: 'uid-deploy-web', resourceVersion: '10' },
    reason: 'ScalingReplicaSet',
    message: 'Scaled up replica set web-abc to 3',
    source: { component: 'deployment-controller' },
    firstTimestamp: '2023-11-14T22:13:20Z',
    lastTimestamp: '2023-11-14T22:13:20Z',
    count: 1,
    type: 'Normal',
  })
  const name = String((first['metadata'] as { name: string }).name)
  t.match(name, /^web\.[0-9a-f]+$/, '<object>.<hex nanoseconds>, as Kubernetes names events')
  t.not(name, (second['metadata'] as { name: string }).name, 'events of one plan get distinct names')
})
