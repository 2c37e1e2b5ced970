// Goal: the StatefulSet reconcile gives pods stable identities (`<set>-<i>`, hostname, subdomain,
// pod-name and revision labels, one claim per volumeClaimTemplate created before the pod and
// never deleted), creates them in order and only after their predecessors are Running and Ready
// (OrderedReady) or all at once (Parallel), scales down from the highest ordinal one at a time,
// never creates a pod whose name is taken (terminating included), rolls updates from the highest
// ordinal down to the partition one pod at a time, leaves pods alone under OnDelete, keeps
// ControllerRevisions and reports status. Method: a tiny in-memory world that applies plans,
// plus assertions on the plans themselves.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { applyDefaults } from '../../node/src/api/server/kinds.ts'
import { formatTime, labelsOf, metadataOf, nameOf, specOf, statusOf } from '../../node/src/controllers/object-fields.ts'
import { planWrites, type Action, type Plan } from '../../node/src/controllers/plan.ts'
import { reconcileStatefulSet, STATEFUL_SET_POD_NAME_LABEL } from '../../node/src/controllers/statefulset.ts'
import { CONTROLLER_REVISION_HASH_LABEL } from '../../node/src/controllers/statefulset-revisions.ts'
import { T0_MS } from './fixtures.ts'

interface SetOptions {
  replicas: number
  image?: string
  policy?: 'OrderedReady' | 'Parallel'
  strategy?: JsonObject
  claims?: boolean
}

function statefulSet(options: SetOptions): JsonObject {
  const spec: JsonObject = {
    replicas: options.replicas,
    serviceName: 'web-headless',
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: options.image ?? 'nginx:1.20' }] } },
  }
  if (options.policy !== undefined) spec['podManagementPolicy'] = options.policy
  if (options.strategy !== undefined) spec['updateStrategy'] = options.strategy
  if (options.claims === true) {
    spec['volumeClaimTemplates'] = [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }]
  }
  const metadata = { name: 'web', namespace: 'default', uid: 'uid-sts', generation: 1, resourceVersion: '5', creationTimestamp: formatTime(T0_MS) }
  return applyDefaults('StatefulSet', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata, spec })
}

/** Objects by kind and name, and a uid counter: enough of a store to apply plans. */
class World {
  set: JsonObject
  readonly pods = new Map<string, JsonObject>()
  readonly revisions = new Map<string, JsonObject>()
  readonly claims = new Set<string>()
  deletedClaims = 0
  private uid = 0
  nowMs = T0_MS

  constructor(set: JsonObject) {
    this.set = set
  }

  reconcile(): Plan {
    return reconcileStatefulSet(this.set, { pods: [...this.pods.values()], revisions: [...this.revisions.values()], claimNames: this.claims }, this.nowMs)
  }

  /** Applies every write; a create of a taken name throws, as the API would refuse it. */
  apply(plan: Plan): void {
    for (const action of planWrites(plan)) this.write(action)
  }

  private write(action: Action): void {
    if (action.type === 'event') return
    const metadata = (object: JsonObject): JsonObject => ({ ...metadataOf(object), uid: `uid-${++this.uid}`, resourceVersion: String(this.uid), creationTimestamp: formatTime(this.nowMs) })
    const resource = action.resource.resource
    if (action.type === 'create') {
      const name = nameOf(action.object)
      const object = { ...action.object, metadata: metadata(action.object) }
      if (resource === 'pods') {
        if (this.pods.has(name)) throw new Error(`AlreadyExists: pod ${name}`)
        this.pods.set(name, object)
      } else if (resource === 'controllerrevisions') this.revisions.set(name, object)
      else if (resource === 'persistentvolumeclaims') {
        if (this.claims.has(name)) throw new Error(`AlreadyExists: claim ${name}`)
        this.claims.add(name)
      }
    } else if (action.type === 'delete') {
      if (resource === 'pods') this.pods.delete(action.name)
      else if (resource === 'controllerrevisions') this.revisions.delete(action.name)
      else if (resource === 'persistentvolumeclaims') this.deletedClaims++
    } else if (action.type === 'updateStatus') {
      this.set = { ...this.set, status: statusOf(action.object) }
    } else if (action.type === 'update' && resource === 'controllerrevisions') {
      this.revisions.set(action.name, action.object)
    }
  }

  /** The kubelet's part: every pod (or the named ones) Running and Ready. */
  runAll(names: readonly string[] = [...this.pods.keys()]): void {
    for (const name of names) {
      const pod = this.pods.get(name)
      if (pod === undefined) continue
      const status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: formatTime(this.nowMs) }] }
      this.pods.set(name, { ...pod, status })
    }
  }

  names(): string[] {
    return [...this.pods.keys()].sort()
  }

  /** Reconciles and applies until a plan has no writes; returns how many plans wrote. */
  settle(runPods: boolean, maxRounds = 50): number {
    for (let round = 0; round < maxRounds; round++) {
      const plan = this.reconcile()
      if (planWrites(plan).length === 0) return round
      this.apply(plan)
      if (runPods) this.runAll()
    }
    throw new Error('did not settle')
  }
}

const podCreates = (plan: Plan): string[] => plan.actions.filter((action) => action.type === 'create' && action.resource.resource === 'pods').map((action) => nameOf((action as { object: JsonObject }).object))
const podDeletes = (plan: Plan): string[] => plan.actions.filter((action) => action.type === 'delete' && action.resource.resource === 'pods').map((action) => (action as { name: string }).name)

t.test('pods get stable identities, claims first, and a revision', async (t) => {
  const world = new World(statefulSet({ replicas: 2, claims: true }))
  const plan = world.reconcile()
  const writes = planWrites(plan)
  t.same(
    writes.map((action) => `${action.type} ${action.type === 'create' ? `${action.resource.resource}/${nameOf(action.object)}` : action.type}`).slice(0, 3),
    [`create controllerrevisions/${nameOf((writes[0] as { object: JsonObject }).object)}`, 'create persistentvolumeclaims/data-web-0', 'create pods/web-0'],
    'revision, then the claim, then the pod',
  )
  world.apply(plan)
  const pod = world.pods.get('web-0')!
  const revisionName = [...world.revisions.keys()][0]!
  t.match(revisionName, /^web-[bcdfghjklmnpqrstvwxz2456789]+$/)
  t.equal(labelsOf(pod)[STATEFUL_SET_POD_NAME_LABEL], 'web-0')
  t.equal(labelsOf(pod)[CONTROLLER_REVISION_HASH_LABEL], revisionName, 'pods carry the revision name')
  t.equal(labelsOf(pod)['app'], 'web')
  t.equal(specOf(pod)['hostname'], 'web-0')
  t.equal(specOf(pod)['subdomain'], 'web-headless')
  t.same(specOf(pod)['volumes'], [{ name: 'data', persistentVolumeClaim: { claimName: 'data-web-0' } }])
  t.same(metadataOf(pod)['ownerReferences'], [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'uid-sts', controller: true, blockOwnerDeletion: true }])
  t.equal(world.revisions.get(revisionName)!['revision'], 1)
  t.equal(statusOf(world.set)['updateRevision'], revisionName)
  t.equal(statusOf(world.set)['currentRevision'], revisionName)
  t.equal(statusOf(world.set)['replicas'], 0, 'status counts observed pods: the new one shows next time')
  world.apply(world.reconcile())
  t.equal(statusOf(world.set)['replicas'], 1)
})

t.test('OrderedReady: one pod at a time, each after its predecessors are Running and Ready', async (t) => {
  const world = new World(statefulSet({ replicas: 3 }))
  world.apply(world.reconcile())
  t.same(world.names(), ['web-0'])
  t.same(podCreates(world.reconcile()), [], 'web-1 waits while web-0 is not ready')
  world.runAll()
  t.same(podCreates(world.reconcile()), ['web-1'])
  world.settle(true)
  t.same(world.names(), ['web-0', 'web-1', 'web-2'])
  const status = statusOf(world.set)
  t.same([status['replicas'], status['readyReplicas'], status['currentReplicas'], status['updatedReplicas'], status['availableReplicas'], status['observedGeneration']], [3, 3, 3, 3, 3, 1])
  t.equal(world.settle(true), 0, 'a converged set plans nothing')

  // Scale down: highest ordinal first, one at a time, not while another pod is unhealthy.
  world.set = { ...world.set, spec: { ...specOf(world.set), replicas: 1 } }
  const web0 = world.pods.get('web-0')!
  world.pods.set('web-0', { ...web0, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } })
  t.same(podDeletes(world.reconcile()), [], 'no scale-down while web-0 is not ready')
  world.runAll()
  t.same(podDeletes(world.reconcile()), ['web-2'], 'web-2 goes first, alone')
  world.apply(world.reconcile())
  t.same(podDeletes(world.reconcile()), ['web-1'])
})

t.test('OrderedReady waits for a terminating pod; Parallel creates and deletes all at once', async (t) => {
  const ordered = new World(statefulSet({ replicas: 3 }))
  ordered.settle(true)
  const web1 = ordered.pods.get('web-1')!
  ordered.pods.set('web-1', { ...web1, metadata: { ...metadataOf(web1), deletionTimestamp: formatTime(T0_MS) } })
  ordered.set = { ...ordered.set, spec: { ...specOf(ordered.set), replicas: 4 } }
  t.same(podCreates(ordered.reconcile()), [], 'web-1 is terminating: no web-3, and no second web-1')
  ordered.pods.delete('web-1')
  t.same(podCreates(ordered.reconcile()), ['web-1'], 'once it is gone it comes back under its own name')

  const parallel = new World(statefulSet({ replicas: 3, policy: 'Parallel' }))
  t.same(podCreates(parallel.reconcile()), ['web-0', 'web-1', 'web-2'])
  parallel.settle(false)
  parallel.set = { ...parallel.set, spec: { ...specOf(parallel.set), replicas: 0 } }
  t.same(podDeletes(parallel.reconcile()), ['web-2', 'web-1', 'web-0'])
})

t.test('a pod that is still there is never replaced, and claims survive scale-down', async (t) => {
  const world = new World(statefulSet({ replicas: 2, claims: true }))
  world.settle(true)
  // web-1's node went silent: the pod is not ready but exists. Nothing is created for it.
  const web1 = world.pods.get('web-1')!
  world.pods.set('web-1', { ...web1, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } })
  t.same(podCreates(world.reconcile()), [], 'no second web-1 while the first exists')
  world.pods.delete('web-1') // the eviction
  const plan = world.reconcile()
  t.same(podCreates(plan), ['web-1'], 'recreated after the deletion')
  t.notOk(plan.actions.some((action) => action.type === 'create' && action.resource.resource === 'persistentvolumeclaims'), 'its claim is reused, not recreated')
  world.settle(true)
  world.set = { ...world.set, spec: { ...specOf(world.set), replicas: 0 } }
  world.settle(true)
  t.same(world.names(), [])
  t.same([...world.claims].sort(), ['data-web-0', 'data-web-1'], 'claims are retained')
  t.equal(world.deletedClaims, 0)
})

t.test('RollingUpdate: highest ordinal first, one at a time, down to the partition', async (t) => {
  const world = new World(statefulSet({ replicas: 3, strategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }))
  world.settle(true)
  const oldRevision = String(statusOf(world.set)['currentRevision'])
  const template = specOf(world.set)['template'] as JsonObject
  world.set = { ...world.set, spec: { ...specOf(world.set), template: { ...template, spec: { containers: [{ name: 'app', image: 'nginx:1.21' }] } } } }
  const first = world.reconcile()
  t.same(podDeletes(first), ['web-2'], 'web-2 is replaced first')
  world.apply(first)
  const second = world.reconcile()
  t.same(podCreates(second), ['web-2'])
  world.apply(second)
  t.same(podDeletes(world.reconcile()), [], 'web-1 waits until the new web-2 is ready')
  world.settle(true)
  const revisionOf = (name: string): string => labelsOf(world.pods.get(name)!)[CONTROLLER_REVISION_HASH_LABEL] ?? ''
  const newRevision = String(statusOf(world.set)['updateRevision'])
  t.not(newRevision, oldRevision)
  t.same([revisionOf('web-0'), revisionOf('web-1'), revisionOf('web-2')], [oldRevision, newRevision, newRevision], 'the partition keeps web-0 on the old revision')
  t.equal(statusOf(world.set)['currentRevision'], oldRevision, 'the rollout is not complete')
  t.equal(statusOf(world.set)['updatedReplicas'], 2)
  t.equal(statusOf(world.set)['currentReplicas'], 1)

  // Partition 0 finishes the rollout; the current revision moves.
  world.set = { ...world.set, spec: { ...specOf(world.set), updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } } } }
  world.settle(true)
  t.equal(revisionOf('web-0'), newRevision)
  t.equal(statusOf(world.set)['currentRevision'], newRevision)
  t.equal(world.revisions.size, 2, 'both revisions are kept as history')

  // Back to the old template: the old revision is renumbered, not duplicated.
  world.set = { ...world.set, spec: { ...specOf(world.set), template } }
  world.settle(true)
  t.equal(world.revisions.size, 2)
  t.equal(world.revisions.get(oldRevision)!['revision'], 3)
  t.equal(revisionOf('web-0'), oldRevision)
})

t.test('OnDelete: only pods the user deletes come back updated', async (t) => {
  const world = new World(statefulSet({ replicas: 2, strategy: { type: 'OnDelete' } }))
  world.settle(true)
  const oldRevision = String(statusOf(world.set)['currentRevision'])
  const template = specOf(world.set)['template'] as JsonObject
  world.set = { ...world.set, spec: { ...specOf(world.set), template: { ...template, spec: { containers: [{ name: 'app', image: 'nginx:1.21' }] } } } }
  world.settle(true)
  const revisionOf = (name: string): string => labelsOf(world.pods.get(name)!)[CONTROLLER_REVISION_HASH_LABEL] ?? ''
  t.same([revisionOf('web-0'), revisionOf('web-1')], [oldRevision, oldRevision], 'nothing is replaced by the controller')
  world.pods.delete('web-1')
  world.settle(true)
  t.not(revisionOf('web-1'), oldRevision, 'a deleted pod comes back on the update revision')
  t.equal(revisionOf('web-0'), oldRevision)
})

t.test('a Failed pod is deleted, then recreated', async (t) => {
  const world = new World(statefulSet({ replicas: 1 }))
  world.settle(true)
  const pod = world.pods.get('web-0')!
  world.pods.set('web-0', { ...pod, status: { phase: 'Failed' } })
  const plan = world.reconcile()
  t.same(podDeletes(plan), ['web-0'])
  t.same(podCreates(plan), [], 'not in the same plan: the name is still taken')
  world.apply(plan)
  t.same(podCreates(world.reconcile()), ['web-0'])
})
