// Goal: each decision of the Deployment reconcile matches kube-controller-manager: the first
// ReplicaSet and its name, labels, annotations and events; rolling steps bounded by maxSurge and
// maxUnavailable (including a ReplicaSet that has not yet shed its pods); Recreate's order;
// rollback by template equality with revision max+1; revisionHistoryLimit; pause; proportional
// scaling; the progress deadline; hash collisions; and a quiet plan once converged.
// Method: crafted Deployments, ReplicaSets and pods at fixed times; assertions on the plans.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { reconcileDeployment } from '../../node/src/controllers/deployment.ts'
import { annotationsOf, labelsOf, metadataOf, nameOf, specOf, statusOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { planWrites, type Action, type CreateAction, type DeleteAction, type Plan, type UpdateAction, type UpdateStatusAction } from '../../node/src/controllers/plan.ts'
import { deploymentRolloutStatus } from '../../node/src/controllers/rollout-status.ts'
import { computePodTemplateHash } from '../../node/src/controllers/template-hash.ts'
import { deploymentFixture, podFixture, podTemplate, replicaSetFixture, T0_MS, type DeploymentFixture } from './fixtures.ts'

/** A ReplicaSet of `deployment` for the template with `image`, named by its hash as the controller names it. */
function ownedReplicaSet(deployment: JsonObject, options: { image: string; replicas: number; revision: number; uid?: string; createdMs?: number; annotations?: Record<string, string>; status?: JsonObject }): JsonObject {
  const template = podTemplate('web', options.image)
  const hash = computePodTemplateHash(template, undefined)
  return replicaSetFixture({
    name: `web-${hash}`,
    uid: options.uid ?? `uid-rs-${options.image}`,
    replicas: options.replicas,
    template: (specOf(deploymentFixture({ image: options.image }))['template'] as JsonObject),
    hash,
    owner: deployment,
    revision: options.revision,
    createdMs: options.createdMs ?? T0_MS + options.revision * 1000,
    ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
    ...(options.status !== undefined ? { status: options.status } : {}),
  })
}

/** `count` pods of `rs`, ready since `readySinceMs` (undefined: not ready). */
function podsOf(rs: JsonObject, count: number, readySinceMs: number | undefined, prefix = 'p'): JsonObject[] {
  return Array.from({ length: count }, (_, index) => podFixture({ name: `${nameOf(rs)}-${prefix}${index}`, owner: rs, ...(readySinceMs !== undefined ? { readySinceMs } : {}) }))
}

function podMap(...entries: Array<[JsonObject, JsonObject[]]>): Map<string, JsonObject[]> {
  return new Map(entries.map(([rs, pods]) => [uidOf(rs), pods]))
}

const ofType = <T extends Action>(plan: Plan, type: T['type']): T[] => plan.actions.filter((action): action is T => action.type === type)
const eventMessages = (plan: Plan): string[] => plan.actions.filter((action) => action.type === 'event').map((action) => String((action as { event: JsonObject }).event['message']))
const replicaSetSizes = (plan: Plan): Record<string, number> =>
  Object.fromEntries(ofType<UpdateAction>(plan, 'update').filter((action) => action.resource.resource === 'replicasets').map((action) => [action.name, Number(specOf(action.object)['replicas'])]))
const newStatus = (plan: Plan): JsonObject => statusOf(ofType<UpdateStatusAction>(plan, 'updateStatus')[0]?.object ?? {})
const condition = (status: JsonObject, type: string): JsonObject | undefined => ((status['conditions'] as JsonObject[] | undefined) ?? []).find((item) => item['type'] === type)

t.test('reconcileDeployment creates the first ReplicaSet with its hash, revision and owner', async (t) => {
  const deployment = deploymentFixture({ replicas: 3, annotations: { 'kubernetes.io/change-cause': 'first', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } })
  const plan = reconcileDeployment(deployment, [], new Map(), T0_MS)
  const [create] = ofType<CreateAction>(plan, 'create')
  t.ok(create, 'a ReplicaSet is created')
  const rs = create!.object
  const hash = labelsOf(rs)['pod-template-hash']
  t.equal(hash, computePodTemplateHash(specOf(deployment)['template'] as JsonObject, undefined))
  t.equal(nameOf(rs), `web-${hash}`)
  t.same(labelsOf(rs), { app: 'web', 'pod-template-hash': hash })
  t.same(specOf(rs)['selector'], { matchLabels: { app: 'web', 'pod-template-hash': hash } })
  t.same(labelsOf(specOf(rs)['template'] as JsonObject), { app: 'web', 'pod-template-hash': hash })
  t.equal(specOf(rs)['replicas'], 3)
  t.same(metadataOf(rs)['ownerReferences'], [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-deploy-web', controller: true, blockOwnerDeletion: true }])
  t.same(annotationsOf(rs), {
    'kubernetes.io/change-cause': 'first',
    'deployment.kubernetes.io/revision': '1',
    'deployment.kubernetes.io/desired-replicas': '3',
    'deployment.kubernetes.io/max-replicas': '4',
  }, 'change-cause copied, last-applied-configuration not')
  t.same(eventMessages(plan), [`Scaled up replica set web-${hash} to 3`])
  const [update] = ofType<UpdateAction>(plan, 'update')
  t.equal(annotationsOf(update!.object)['deployment.kubernetes.io/revision'], '1', 'the Deployment carries the revision')
  const status = newStatus(plan)
  t.equal(status['observedGeneration'], 1)
  t.match(condition(status, 'Progressing'), { status: 'True', reason: 'NewReplicaSetCreated', message: `Created new replica set "web-${hash}"` })
  t.match(condition(status, 'Available'), { status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' })
  t.same(plan.actions.map((action) => action.type), ['create', 'event', 'update', 'updateStatus'], 'event right after its write, Deployment writes last')
  t.equal(plan.requeueAfterMs, 600_001, 'woken just after the default progress deadline')
})

t.test('reconcileDeployment takes one rolling step within maxSurge and maxUnavailable', async (t) => {
  const deployment = deploymentFixture({ replicas: 4, image: 'nginx:1.21', maxSurge: 1, maxUnavailable: 1, generation: 2 })
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 4, revision: 1, annotations: { 'deployment.kubernetes.io/desired-replicas': '4', 'deployment.kubernetes.io/max-replicas': '5' } })
  const plan = reconcileDeployment(deployment, [old], podMap([old, podsOf(old, 4, T0_MS - 60_000)]), T0_MS)
  const [create] = ofType<CreateAction>(plan, 'create')
  t.equal(specOf(create!.object)['replicas'], 1, 'surge by one')
  t.equal(annotationsOf(create!.object)['deployment.kubernetes.io/revision'], '2')
  t.same(replicaSetSizes(plan), { [nameOf(old)]: 3 }, 'and take one old pod down')
  t.same(eventMessages(plan), [`Scaled up replica set ${nameOf(create!.object)} to 1`, `Scaled down replica set ${nameOf(old)} to 3`])
})

t.test('reconcileDeployment removes unavailable old pods first', async (t) => {
  const deployment = deploymentFixture({ replicas: 4, image: 'nginx:1.21', maxSurge: 0, maxUnavailable: 2 })
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 4, revision: 1 })
  const fresh = ownedReplicaSet(deployment, { image: 'nginx:1.21', replicas: 0, revision: 2 })
  const pods = [...podsOf(old, 2, T0_MS - 60_000), ...podsOf(old, 2, undefined, 'crash')]
  const plan = reconcileDeployment(deployment, [old, fresh], podMap([old, pods], [fresh, []]), T0_MS)
  // A budget of 2 pods: it is spent on the 2 broken ones; the 2 healthy ones are the minimum.
  t.same(replicaSetSizes(plan), { [nameOf(old)]: 2 })
  const tight = deploymentFixture({ replicas: 4, image: 'nginx:1.21', maxSurge: 0, maxUnavailable: 1 })
  const tightPlan = reconcileDeployment(tight, [old, fresh], podMap([old, pods], [fresh, []]), T0_MS)
  t.same(replicaSetSizes(tightPlan), { [nameOf(old)]: 3 }, 'with a budget of 1, one broken pod goes')
})

t.test('reconcileDeployment credits a shrinking ReplicaSet only with the pods it will keep', async (t) => {
  // The old ReplicaSet was told to go from 3 to 2 but still runs 3 available pods.
  const deployment = deploymentFixture({ replicas: 3, image: 'nginx:1.21', maxSurge: 0, maxUnavailable: 1 })
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 2, revision: 1 })
  const fresh = ownedReplicaSet(deployment, { image: 'nginx:1.21', replicas: 1, revision: 2 })
  const plan = reconcileDeployment(deployment, [old, fresh], podMap([old, podsOf(old, 3, T0_MS - 60_000)], [fresh, podsOf(fresh, 1, T0_MS - 60_000)]), T0_MS)
  // Counting all 4 available pods would allow 2 more to go, leaving 1 < 3 - 1 available.
  t.same(replicaSetSizes(plan), { [nameOf(old)]: 1 })
})

t.test('reconcileDeployment waits for the new pods before taking more old ones', async (t) => {
  const deployment = deploymentFixture({ replicas: 4, image: 'nginx:1.21', maxSurge: 1, maxUnavailable: 0 })
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 4, revision: 1 })
  const fresh = ownedReplicaSet(deployment, { image: 'nginx:1.21', replicas: 1, revision: 2 })
  const pods = podMap([old, podsOf(old, 4, T0_MS - 60_000)], [fresh, podsOf(fresh, 1, undefined)])
  const plan = reconcileDeployment(deployment, [old, fresh], pods, T0_MS)
  t.same(replicaSetSizes(plan), {}, 'no ReplicaSet changes size while the new pod is not ready')
  t.equal(ofType<CreateAction>(plan, 'create').length, 0)
})

t.test('reconcileDeployment Recreate scales old to zero, waits for its pods, then creates', async (t) => {
  const deployment = deploymentFixture({ replicas: 3, image: 'nginx:1.21', strategy: 'Recreate' })
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 3, revision: 1 })
  const first = reconcileDeployment(deployment, [old], podMap([old, podsOf(old, 3, T0_MS - 60_000)]), T0_MS)
  t.same(replicaSetSizes(first), { [nameOf(old)]: 0 })
  t.equal(ofType<CreateAction>(first, 'create').length, 0, 'nothing new while old pods run')
  const emptied = { ...old, spec: { ...specOf(old), replicas: 0 } }
  const terminating = podsOf(old, 3, T0_MS - 60_000).map((pod) => ({ ...pod, metadata: { ...metadataOf(pod), deletionTimestamp: '2023-11-14T22:13:20Z' } }))
  const second = reconcileDeployment(deployment, [emptied], podMap([emptied, terminating]), T0_MS)
  t.equal(ofType<CreateAction>(second, 'create').length, 0, 'terminating old pods still block the new ReplicaSet')
  const third = reconcileDeployment(deployment, [emptied], podMap([emptied, []]), T0_MS)
  const [create] = ofType<CreateAction>(third, 'create')
  t.equal(specOf(create!.object)['replicas'], 3, 'the new ReplicaSet starts at full size')
  t.equal(annotationsOf(create!.object)['deployment.kubernetes.io/max-replicas'], '3', 'no surge with Recreate')
})

t.test('reconcileDeployment rolls back by reusing the ReplicaSet with the same template at revision max+1', async (t) => {
  // `kubectl rollout undo` wrote the revision 1 template (nginx:1.20) back into the Deployment.
  const deployment = deploymentFixture({ replicas: 2, image: 'nginx:1.20', maxSurge: 1, maxUnavailable: 0, annotations: { 'deployment.kubernetes.io/revision': '2' } })
  const first = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 0, revision: 1 })
  const second = ownedReplicaSet(deployment, { image: 'nginx:1.21', replicas: 2, revision: 2 })
  const plan = reconcileDeployment(deployment, [first, second], podMap([first, []], [second, podsOf(second, 2, T0_MS - 60_000)]), T0_MS)
  t.equal(ofType<CreateAction>(plan, 'create').length, 0, 'no new ReplicaSet')
  const updates = ofType<UpdateAction>(plan, 'update').filter((action) => action.name === nameOf(first))
  t.equal(annotationsOf(updates[0]!.object)['deployment.kubernetes.io/revision'], '3')
  t.equal(annotationsOf(updates[0]!.object)['deployment.kubernetes.io/revision-history'], '1')
  t.equal(specOf(updates.at(-1)!.object)['replicas'], 1, 'and it starts growing again')
  const deploymentUpdate = ofType<UpdateAction>(plan, 'update').find((action) => action.resource.resource === 'deployments')
  t.equal(annotationsOf(deploymentUpdate!.object)['deployment.kubernetes.io/revision'], '3')
})

t.test('reconcileDeployment keeps only revisionHistoryLimit old ReplicaSets once complete', async (t) => {
  const complete = { observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }
  const deployment = deploymentFixture({ replicas: 2, image: 'nginx:4', revisionHistoryLimit: 1, status: complete })
  const settled = { replicas: 0, observedGeneration: 1 }
  const old = [1, 2, 3].map((revision) => ownedReplicaSet(deployment, { image: `nginx:${revision}`, replicas: 0, revision, status: settled }))
  const current = ownedReplicaSet(deployment, { image: 'nginx:4', replicas: 2, revision: 4, annotations: { 'deployment.kubernetes.io/desired-replicas': '2', 'deployment.kubernetes.io/max-replicas': '3' } })
  const pods = podMap([current, podsOf(current, 2, T0_MS - 60_000)], ...old.map((rs): [JsonObject, JsonObject[]] => [rs, []]))
  const plan = reconcileDeployment(deployment, [...old, current], pods, T0_MS)
  t.same(ofType<DeleteAction>(plan, 'delete').map((action) => [action.name, action.uid]), [
    [nameOf(old[0]!), uidOf(old[0]!)],
    [nameOf(old[1]!), uidOf(old[1]!)],
  ], 'the two oldest revisions go, guarded by uid')
})

t.test('reconcileDeployment does not roll a paused Deployment but still scales it', async (t) => {
  const deployment = deploymentFixture({ replicas: 5, image: 'nginx:1.21', paused: true })
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 3, revision: 1, annotations: { 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' } })
  const plan = reconcileDeployment(deployment, [old], podMap([old, podsOf(old, 3, T0_MS - 60_000)]), T0_MS)
  t.equal(ofType<CreateAction>(plan, 'create').length, 0, 'no new ReplicaSet while paused')
  t.same(replicaSetSizes(plan), { [nameOf(old)]: 5 })
  t.same(eventMessages(plan), [`Scaled up replica set ${nameOf(old)} to 5`])
  t.match(condition(newStatus(plan), 'Progressing'), { status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' })
})

t.test('reconcileDeployment marks a resumed Deployment so the pause does not count as a stall', async (t) => {
  const paused = { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused', lastUpdateTime: '2023-11-14T00:00:00Z', lastTransitionTime: '2023-11-14T00:00:00Z' }
  const deployment = deploymentFixture({ replicas: 1, status: { conditions: [paused] } })
  const plan = reconcileDeployment(deployment, [], new Map(), T0_MS)
  t.match(condition(newStatus(plan), 'Progressing'), { status: 'True', reason: 'NewReplicaSetCreated' }, 'resumed, then the rollout starts anew')
})

t.test('reconcileDeployment scales ReplicaSets in proportion during a rollout', async (t) => {
  const deployment = deploymentFixture({ replicas: 20, image: 'nginx:1.21', maxSurge: 3, maxUnavailable: 2 })
  const sized = { 'deployment.kubernetes.io/desired-replicas': '10', 'deployment.kubernetes.io/max-replicas': '13' }
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 8, revision: 1, annotations: sized })
  const fresh = ownedReplicaSet(deployment, { image: 'nginx:1.21', replicas: 5, revision: 2, annotations: sized })
  const plan = reconcileDeployment(deployment, [old, fresh], podMap([old, podsOf(old, 8, T0_MS - 60_000)], [fresh, podsOf(fresh, 5, undefined)]), T0_MS)
  // 10 more fit (20 + 3 − 13): round(8 · 23/13) = 14 and round(5 · 23/13) = 9.
  t.same(replicaSetSizes(plan), { [nameOf(old)]: 14, [nameOf(fresh)]: 9 })
  const updated = ofType<UpdateAction>(plan, 'update').filter((action) => action.resource.resource === 'replicasets')
  t.ok(updated.every((action) => annotationsOf(action.object)['deployment.kubernetes.io/desired-replicas'] === '20' && annotationsOf(action.object)['deployment.kubernetes.io/max-replicas'] === '23'))
})

t.test('reconcileDeployment reports ProgressDeadlineExceeded when a rollout stalls', async (t) => {
  const progressing = { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'x', lastUpdateTime: '2023-11-14T22:13:20Z', lastTransitionTime: '2023-11-14T22:13:20Z' }
  const options: DeploymentFixture = { replicas: 1, image: 'nginx:1.21', progressDeadlineSeconds: 60, maxSurge: 1, maxUnavailable: 0 }
  const observed = { observedGeneration: 1, replicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1, unavailableReplicas: 1, conditions: [progressing] }
  const deployment = deploymentFixture({ ...options, status: observed })
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 1, revision: 1 })
  const fresh = ownedReplicaSet(deployment, { image: 'nginx:1.21', replicas: 1, revision: 2, annotations: { 'deployment.kubernetes.io/desired-replicas': '1', 'deployment.kubernetes.io/max-replicas': '2' } })
  const pods = podMap([old, podsOf(old, 1, T0_MS - 60_000)], [fresh, podsOf(fresh, 1, undefined)])
  const early = reconcileDeployment(deployment, [old, fresh], pods, T0_MS + 30_000)
  t.equal(early.requeueAfterMs, 30_001, 'woken just after the deadline')
  const late = reconcileDeployment(deployment, [old, fresh], pods, T0_MS + 61_000)
  const status = newStatus(late)
  t.match(condition(status, 'Progressing'), { status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${nameOf(fresh)}" has timed out progressing.` })
  t.match(deploymentRolloutStatus({ ...deployment, status }), { done: false, failed: true, message: 'deployment "web" exceeded its progress deadline' })
})

t.test('reconcileDeployment reports a finished rollout and then stays quiet', async (t) => {
  const deployment = deploymentFixture({ replicas: 2, image: 'nginx:1.21', generation: 3, annotations: { 'deployment.kubernetes.io/revision': '2' } })
  const old = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 0, revision: 1, status: { replicas: 0, observedGeneration: 1 } })
  const current = ownedReplicaSet(deployment, { image: 'nginx:1.21', replicas: 2, revision: 2, annotations: { 'deployment.kubernetes.io/desired-replicas': '2', 'deployment.kubernetes.io/max-replicas': '3' } })
  const pods = podMap([old, []], [current, podsOf(current, 2, T0_MS - 60_000)])
  const plan = reconcileDeployment(deployment, [old, current], pods, T0_MS)
  t.same(planWrites(plan).map((action) => action.type), ['updateStatus'])
  const status = newStatus(plan)
  t.match(status, { observedGeneration: 3, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 })
  t.notOk('unavailableReplicas' in status, 'zero counts are left out, as the API does')
  t.match(condition(status, 'Progressing'), { status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${nameOf(current)}" has successfully progressed.` })
  t.match(condition(status, 'Available'), { status: 'True', reason: 'MinimumReplicasAvailable' })
  t.same(deploymentRolloutStatus({ ...deployment, status }), { done: true, failed: false, message: 'deployment "web" successfully rolled out' })
  const again = reconcileDeployment({ ...deployment, status }, [old, current], pods, T0_MS + 5_000)
  t.same(planWrites(again), [], 'a converged Deployment plans no writes')
  t.equal(again.requeueAfterMs, undefined)
})

t.test('reconcileDeployment wakes up when minReadySeconds makes pods available', async (t) => {
  const deployment = deploymentFixture({ replicas: 1, minReadySeconds: 10 })
  const current = ownedReplicaSet(deployment, { image: 'nginx:1.20', replicas: 1, revision: 1 })
  const plan = reconcileDeployment(deployment, [current], podMap([current, podsOf(current, 1, T0_MS - 4_000)]), T0_MS)
  t.equal(plan.requeueAfterMs, 6_001)
})

t.test('reconcileDeployment bumps collisionCount when the new name is taken', async (t) => {
  const deployment = deploymentFixture({ replicas: 1, image: 'nginx:1.21' })
  const hash = computePodTemplateHash(specOf(deployment)['template'] as JsonObject, undefined)
  const plan = reconcileDeployment(deployment, [], new Map(), T0_MS, { foreignReplicaSetNames: new Set([`web-${hash}`]) })
  t.equal(ofType<CreateAction>(plan, 'create').length, 0)
  t.equal(newStatus(plan)['collisionCount'], 1)
  t.equal(plan.requeueAfterMs, 0, 'retry at once with the next name')
  const retried = reconcileDeployment({ ...deployment, status: newStatus(plan) }, [], new Map(), T0_MS, { foreignReplicaSetNames: new Set([`web-${hash}`]) })
  const [create] = ofType<CreateAction>(retried, 'create')
  t.equal(nameOf(create!.object), `web-${computePodTemplateHash(specOf(deployment)['template'] as JsonObject, 1)}`)
})

t.test('reconcileDeployment warns about a selector that selects everything', async (t) => {
  const deployment = deploymentFixture({ generation: 2 })
  const everything = { ...deployment, spec: { ...specOf(deployment), selector: {} } }
  const plan = reconcileDeployment(everything, [], new Map(), T0_MS)
  t.same(eventMessages(plan), ['This deployment is selecting all pods. A non-empty selector is required.'])
  t.same(planWrites(plan).map((action) => action.type), ['updateStatus'])
  t.equal(newStatus(plan)['observedGeneration'], 2)
})
