// Goal: `rollout status` says what kubectl says at every stage of a rollout and fails when kubectl
// fails; `rollout history` and `undo` pick the revisions kubectl picks and send its JSON patch.
// Method: tables of Deployment, DaemonSet and StatefulSet states through rolloutStatus, and of
// ReplicaSet sets through the deployment-history functions.
import t from 'tap'
import { historyLines, ownedReplicaSets, revisionsOf, rollbackPatch, rollbackTarget, templateMatches } from '../../node/src/kubectl/deployment-history.ts'
import { rolloutStatus } from '../../node/src/kubectl/rollout-status.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'

const deployment = (generation: number, replicas: number, status: JsonObject): JsonObject => ({ metadata: { name: 'web', generation }, spec: { replicas }, status })

t.test('rolloutStatus follows kubectl for deployments, stage by stage', async (t) => {
  const cases: Array<[string, JsonObject, string, boolean]> = [
    ['spec not yet observed', deployment(2, 3, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), 'Waiting for deployment spec update to be observed...', false],
    ['new replicas being created', deployment(2, 3, { observedGeneration: 2, replicas: 4, updatedReplicas: 1 }), 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...', false],
    ['old replicas terminating', deployment(2, 3, { observedGeneration: 2, replicas: 5, updatedReplicas: 3, availableReplicas: 3 }), 'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...', false],
    ['updated replicas not yet available', deployment(2, 3, { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 1 }), 'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...', false],
    ['complete', deployment(2, 3, { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), 'deployment "web" successfully rolled out', true],
    ['scaled to zero', deployment(1, 0, { observedGeneration: 1 }), 'deployment "web" successfully rolled out', true],
  ]
  for (const [name, object, message, done] of cases) t.same(rolloutStatus('Deployment', object), { message, done }, name)
  const stuck = deployment(2, 3, { observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] })
  t.throws(() => rolloutStatus('Deployment', stuck), { name: 'RolloutError', message: 'deployment "web" exceeded its progress deadline' })
  t.throws(() => rolloutStatus('ConfigMap', {}), /no status viewer has been implemented for ConfigMap/)
})

t.test('rolloutStatus follows kubectl for daemon sets and stateful sets', async (t) => {
  const daemonSet = (status: JsonObject, strategy = 'RollingUpdate'): JsonObject => ({ metadata: { name: 'agent', generation: 1 }, spec: { updateStrategy: { type: strategy } }, status: { observedGeneration: 1, ...status } })
  t.equal(rolloutStatus('DaemonSet', daemonSet({ desiredNumberScheduled: 3, updatedNumberScheduled: 1 })).message, 'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...')
  t.equal(rolloutStatus('DaemonSet', daemonSet({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 })).message, 'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...')
  t.same(rolloutStatus('DaemonSet', daemonSet({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })), { message: 'daemon set "agent" successfully rolled out', done: true })
  t.throws(() => rolloutStatus('DaemonSet', daemonSet({}, 'OnDelete')), /only available for RollingUpdate strategy type/)
  const statefulSet = (status: JsonObject, spec: JsonObject = {}): JsonObject => ({ metadata: { name: 'db', generation: 2 }, spec: { replicas: 3, ...spec }, status })
  t.equal(rolloutStatus('StatefulSet', statefulSet({ observedGeneration: 0 })).message, 'Waiting for statefulset spec update to be observed...')
  t.equal(rolloutStatus('StatefulSet', statefulSet({ observedGeneration: 2, readyReplicas: 1 })).message, 'Waiting for 2 pods to be ready...')
  t.same(rolloutStatus('StatefulSet', statefulSet({ observedGeneration: 2, readyReplicas: 3, updateRevision: 'db-2', currentRevision: 'db-1', updatedReplicas: 1 })), { message: 'waiting for statefulset rolling update to complete 1 pods at revision db-2...', done: false })
  t.same(rolloutStatus('StatefulSet', statefulSet({ observedGeneration: 2, readyReplicas: 3, updateRevision: 'db-2', currentRevision: 'db-2', currentReplicas: 3 })), { message: 'statefulset rolling update complete 3 pods at revision db-2...', done: true })
  t.same(rolloutStatus('StatefulSet', statefulSet({ observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 }, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } })), { message: 'Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...', done: false })
})

const DEPLOYMENT: JsonObject = {
  metadata: { name: 'web', uid: 'uid-web', annotations: { 'deployment.kubernetes.io/revision': '3', 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'team': 'a' } },
  spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.22' }] } } },
}

function replicaSet(name: string, revision: string | undefined, image: string, options: { owner?: string; cause?: string } = {}): JsonObject {
  return {
    metadata: {
      name,
      annotations: { ...(revision !== undefined ? { 'deployment.kubernetes.io/revision': revision } : {}), ...(options.cause !== undefined ? { 'kubernetes.io/change-cause': options.cause } : {}), 'deployment.kubernetes.io/desired-replicas': '2' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: options.owner ?? 'uid-web', controller: true }],
    },
    spec: { template: { metadata: { labels: { app: 'web', 'pod-template-hash': name.slice(4) }, creationTimestamp: null }, spec: { containers: [{ name: 'nginx', image }] } } },
  }
}

t.test('revision history comes from the ReplicaSets the deployment controls', async (t) => {
  const sets = [replicaSet('web-ccc', '3', 'nginx:1.22'), replicaSet('web-aaa', '1', 'nginx:1.20', { cause: 'first' }), replicaSet('web-bbb', '2', 'nginx:1.21'), replicaSet('web-xxx', '9', 'nginx:9', { owner: 'someone-else' }), replicaSet('web-nnn', undefined, 'nginx:0')]
  const revisions = revisionsOf(ownedReplicaSets(DEPLOYMENT, sets))
  t.same(revisions.map((revision) => revision.number), [1, 2, 3], 'sorted, other owners and unnumbered sets left out')
  t.equal(historyLines(revisions), 'REVISION\tCHANGE-CAUSE\n1\tfirst\n2\t<none>\n3\t<none>\n')
  t.equal(rollbackTarget('web', revisions, 0).number, 2, 'undo goes to the one before the newest')
  t.equal(rollbackTarget('web', revisions, 1).number, 1)
  t.throws(() => rollbackTarget('web', revisions, 7), { name: 'CommandError', message: 'unable to find specified revision 7 in history' })
  t.throws(() => rollbackTarget('web', revisions.slice(0, 1), 0), /no rollout history found for deployment "web"/)
  t.ok(templateMatches(DEPLOYMENT, revisions[2]!), 'the current template matches its own revision (hash label and nulls ignored)')
  t.notOk(templateMatches(DEPLOYMENT, revisions[0]!))
  t.same(rollbackPatch(DEPLOYMENT, revisions[0]!), [
    { op: 'replace', path: '/spec/template', value: { metadata: { labels: { app: 'web' }, creationTimestamp: null }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.20' }] } } },
    {
      op: 'replace',
      path: '/metadata/annotations',
      value: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'deployment.kubernetes.io/revision': '3', 'kubernetes.io/change-cause': 'first' },
    },
  ], "kubectl's patch: the deployment keeps its own bookkeeping annotations and takes the revision's others")
  t.equal((rollbackPatch({ ...DEPLOYMENT, metadata: { name: 'web' } }, revisions[0]!)[1] as JsonObject)['op'], 'add', 'no annotations yet: add, not replace')
})
