// Goal: the DaemonSet reconcile runs one pod per eligible node (nodeSelector, node affinity,
// taints/tolerations with the tolerations Kubernetes adds to daemon pods), pins each pod to its
// node with a matchFields affinity (the scheduler binds it), removes pods from nodes that no
// longer qualify or no longer exist, keeps one pod per node, rolls updates within maxUnavailable,
// leaves pods alone under OnDelete, and reports status. Method: a tiny in-memory world that
// applies plans (pods are "scheduled" to their target node and run), and assertions on plans.
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { applyDefaults } from '../../node/src/api/server/kinds.ts'
import { daemonPodTolerations, nodeShouldRunDaemonPod, reconcileDaemonSet, targetNodeOf } from '../../node/src/controllers/daemonset.ts'
import { formatTime, labelsOf, metadataOf, nameOf, specOf, statusOf } from '../../node/src/controllers/object-fields.ts'
import { planWrites, type Plan } from '../../node/src/controllers/plan.ts'
import { CONTROLLER_REVISION_HASH_LABEL } from '../../node/src/controllers/statefulset-revisions.ts'
import { T0_MS } from './fixtures.ts'

function daemonSet(podSpec: JsonObject = {}, strategy?: JsonObject): JsonObject {
  const spec: JsonObject = {
    selector: { matchLabels: { app: 'agent' } },
    template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }], ...podSpec } },
  }
  if (strategy !== undefined) spec['updateStrategy'] = strategy
  const metadata = { name: 'agent', namespace: 'kube-system', uid: 'uid-ds', generation: 1, resourceVersion: '5', creationTimestamp: formatTime(T0_MS) }
  return applyDefaults('DaemonSet', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata, spec })
}

function node(name: string, labels: Record<string, string> = {}, taints: JsonObject[] = []): JsonObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels }, creationTimestamp: formatTime(T0_MS) }, spec: taints.length > 0 ? { taints } : {} }
}

class World {
  ds: JsonObject
  nodes: JsonObject[]
  readonly pods = new Map<string, JsonObject>()
  readonly revisions = new Map<string, JsonObject>()
  private uid = 0
  readonly random = new RandomXoshiro(5)
  nowMs = T0_MS

  constructor(ds: JsonObject, nodes: JsonObject[]) {
    this.ds = ds
    this.nodes = nodes
  }

  reconcile(): Plan {
    return reconcileDaemonSet(this.ds, { nodes: this.nodes, pods: [...this.pods.values()], revisions: [...this.revisions.values()] }, this.nowMs, this.random)
  }

  /** Applies the writes; created pods are bound to their target node and, if `run`, Ready. */
  apply(plan: Plan, run = true): void {
    for (const action of planWrites(plan)) {
      if (action.type === 'create') {
        const object = { ...action.object, metadata: { ...metadataOf(action.object), uid: `uid-${++this.uid}`, creationTimestamp: formatTime(this.nowMs) } }
        if (action.resource.resource === 'controllerrevisions') this.revisions.set(nameOf(object), object)
        else {
          const bound = { ...object, spec: { ...specOf(object), nodeName: targetNodeOf(object) ?? '' } }
          this.pods.set(nameOf(object), run ? running(bound) : bound)
        }
      } else if (action.type === 'delete') {
        if (action.resource.resource === 'pods') this.pods.delete(action.name)
        else this.revisions.delete(action.name)
      } else if (action.type === 'updateStatus') this.ds = { ...this.ds, status: statusOf(action.object) }
    }
  }

  settle(run = true): void {
    for (let round = 0; round < 30; round++) {
      const plan = this.reconcile()
      if (planWrites(plan).length === 0) return
      this.apply(plan, run)
    }
    throw new Error('did not settle')
  }

  byNode(): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const pod of this.pods.values()) counts[String(specOf(pod)['nodeName'])] = (counts[String(specOf(pod)['nodeName'])] ?? 0) + 1
    return counts
  }
}

function running(pod: JsonObject): JsonObject {
  return { ...pod, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: formatTime(T0_MS) }] } }
}

t.test('one pod per eligible node, pinned by a matchFields affinity, with the daemon tolerations', async (t) => {
  const nodes = [
    node('a', { disk: 'ssd' }),
    node('b', { disk: 'ssd' }, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]),
    node('c', { disk: 'hdd' }),
    node('d', { disk: 'ssd' }, [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]),
  ]
  const world = new World(daemonSet({ nodeSelector: { disk: 'ssd' } }), nodes)
  const plan = world.reconcile()
  const created = planWrites(plan).filter((action) => action.type === 'create' && action.resource.resource === 'pods')
  t.same(created.map((action) => (action.type === 'create' ? targetNodeOf(action.object) : '')), ['a', 'b'], 'ssd nodes whose taints are tolerated (unreachable is, by default)')
  const pod = created[0]!.type === 'create' ? created[0]!.object : {}
  t.match(nameOf(pod), /^agent-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
  t.notOk(specOf(pod)['nodeName'], 'not bound: the scheduler binds it')
  t.same((specOf(pod)['affinity'] as JsonObject)['nodeAffinity'], { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }] }] } })
  const tolerations = (specOf(pod)['tolerations'] as JsonObject[]).map((toleration) => `${String(toleration['key'])}:${String(toleration['effect'])}`)
  t.ok(tolerations.includes('node.kubernetes.io/unreachable:NoExecute') && tolerations.includes('node.kubernetes.io/not-ready:NoExecute') && tolerations.includes('node.kubernetes.io/unschedulable:NoSchedule'))
  t.ok(labelsOf(pod)[CONTROLLER_REVISION_HASH_LABEL], 'the revision hash label')
  world.apply(plan)
  world.settle()
  const status = statusOf(world.ds)
  t.same(
    [status['desiredNumberScheduled'], status['currentNumberScheduled'], status['numberReady'], status['numberAvailable'], status['updatedNumberScheduled'], status['numberMisscheduled'], status['observedGeneration']],
    [2, 2, 2, 2, 2, 0, 1],
  )
  t.equal(planWrites(world.reconcile()).length, 0, 'a converged DaemonSet plans nothing')

  // A toleration of `dedicated` brings node d in.
  world.ds = daemonSet({ nodeSelector: { disk: 'ssd' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }] })
  world.settle()
  t.same(world.byNode(), { a: 1, b: 1, d: 1 })
  t.ok(daemonPodTolerations({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] }).some((toleration) => toleration['key'] === 'dedicated'), 'own tolerations are kept')
})

t.test('nodes joining, leaving, being relabelled or tainted', async (t) => {
  const world = new World(daemonSet({ nodeSelector: { role: 'edge' } }), [node('a', { role: 'edge' }), node('b', { role: 'edge' })])
  world.settle()
  t.same(world.byNode(), { a: 1, b: 1 })
  world.nodes = [...world.nodes, node('c', { role: 'edge' })]
  world.settle()
  t.same(world.byNode(), { a: 1, b: 1, c: 1 }, 'a joining node gets a pod')
  world.nodes = world.nodes.filter((item) => nameOf(item) !== 'b')
  world.settle()
  t.same(world.byNode(), { a: 1, c: 1 }, 'a vanished node loses its pod')
  world.nodes = [node('a', { role: 'core' }), node('c', { role: 'edge' })]
  const before = world.reconcile()
  t.equal(statusOf({ status: (planWrites(before).find((action) => action.type === 'updateStatus') as { object: JsonObject } | undefined)?.object['status'] ?? {} })['numberMisscheduled'], 1, 'a relabelled node counts as misscheduled until its pod goes')
  world.settle()
  t.same(world.byNode(), { c: 1 }, 'a relabelled node loses its pod')
  world.nodes = [node('c', { role: 'edge' }, [{ key: 'maintenance', effect: 'NoSchedule' }])]
  world.settle()
  t.same(world.byNode(), { c: 1 }, 'a NoSchedule taint keeps a running pod (shouldContinueRunning)')
  world.nodes = [node('c', { role: 'edge' }, [{ key: 'maintenance', effect: 'NoExecute' }])]
  world.settle()
  t.same(world.byNode(), {}, 'a NoExecute taint evicts it')
  t.same(nodeShouldRunDaemonPod(node('x', { role: 'edge' }, [{ key: 'maintenance', effect: 'NoSchedule' }]), specOf(world.ds)['template'] as JsonObject), { shouldRun: false, shouldContinueRunning: true })
})

t.test('one pod per node: extras and failed pods go', async (t) => {
  const world = new World(daemonSet(), [node('a')])
  world.settle()
  const [only] = [...world.pods.values()]
  const twin = { ...only!, metadata: { ...metadataOf(only!), name: 'agent-twin1', uid: 'uid-twin', creationTimestamp: formatTime(T0_MS + 5000) } }
  world.pods.set('agent-twin1', twin)
  const plan = world.reconcile()
  t.same(planWrites(plan).filter((action) => action.type === 'delete').map((action) => (action.type === 'delete' ? action.name : '')), ['agent-twin1'], 'the newer duplicate goes')
  world.apply(plan)
  world.pods.set(nameOf(only!), { ...only!, status: { phase: 'Failed' } })
  const replace = world.reconcile()
  const writes = planWrites(replace).map((action) => action.type)
  t.same(writes.slice(0, 2), ['delete', 'create'], 'a failed pod is deleted and a new one created')
})

t.test('RollingUpdate replaces at most maxUnavailable nodes at a time; OnDelete waits for the user', async (t) => {
  const nodes = ['a', 'b', 'c', 'd', 'e'].map((name) => node(name))
  const world = new World(daemonSet({}, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } }), nodes)
  world.settle()
  const oldHash = labelsOf([...world.pods.values()][0]!)[CONTROLLER_REVISION_HASH_LABEL]
  world.ds = { ...daemonSet({ containers: [{ name: 'agent', image: 'agent:2' }] }, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } }), status: statusOf(world.ds) }
  let rounds = 0
  let maxUnavailableSeen = 0
  for (; rounds < 40; rounds++) {
    const plan = world.reconcile()
    if (planWrites(plan).length === 0) break
    world.apply(plan, false) // New pods start not ready.
    const readyNodes = new Set([...world.pods.values()].filter((pod) => statusOf(pod)['phase'] === 'Running').map((pod) => String(specOf(pod)['nodeName'])))
    maxUnavailableSeen = Math.max(maxUnavailableSeen, nodes.length - readyNodes.size)
    for (const [name, pod] of world.pods) if (statusOf(pod)['phase'] !== 'Running') world.pods.set(name, running(pod)) // then become ready
  }
  t.ok(maxUnavailableSeen <= 2, `never more than 2 nodes without an available pod (saw ${maxUnavailableSeen})`)
  t.ok(maxUnavailableSeen >= 1, 'the update did replace pods')
  const hashes = [...world.pods.values()].map((pod) => labelsOf(pod)[CONTROLLER_REVISION_HASH_LABEL])
  t.equal(hashes.length, 5)
  t.ok(hashes.every((hash) => hash !== oldHash), 'every pod on the new revision')
  t.equal(statusOf(world.ds)['updatedNumberScheduled'], 5)
  t.equal(world.revisions.size, 2)

  const onDelete = new World(daemonSet({}, { type: 'OnDelete' }), nodes.slice(0, 2))
  onDelete.settle()
  onDelete.ds = { ...daemonSet({ containers: [{ name: 'agent', image: 'agent:2' }] }, { type: 'OnDelete' }), status: statusOf(onDelete.ds) }
  onDelete.settle()
  const first = [...onDelete.pods.values()][0]!
  t.equal([...onDelete.pods.values()].filter((pod) => labelsOf(pod)[CONTROLLER_REVISION_HASH_LABEL] === labelsOf(first)[CONTROLLER_REVISION_HASH_LABEL]).length, 2, 'no pod replaced by the controller')
  onDelete.pods.delete(nameOf(first))
  onDelete.settle()
  const hashesAfter = new Set([...onDelete.pods.values()].map((pod) => labelsOf(pod)[CONTROLLER_REVISION_HASH_LABEL]))
  t.equal(hashesAfter.size, 2, 'the deleted one came back on the new revision')
})
