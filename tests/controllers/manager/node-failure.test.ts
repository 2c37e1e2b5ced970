// Goal: the node lifecycle controller on the leader turns a node's silence into NotReady and its
// pods into replacements elsewhere, on the configured timers, and refuses to evict when evicting
// would be wrong:
// - a killed node becomes Ready=Unknown (NodeStatusUnknown) with the unreachable NoSchedule and
//   NoExecute taints after nodeNotReadyGraceMs, its pods are marked not ready, deleted after
//   podEvictionTimeoutMs (not before), and recreated on live nodes; the Deployment is back to
//   full strength; a node heard again is Ready with its taints gone;
// - a pod with its own toleration of the unreachable taint stays for that long;
// - a whole zone going dark still fails over (a zone outage is real), but a leader that hears no
//   other node is in a minority and evicts nothing; a zone that loses most of its nodes at once
//   (partial disruption, small zone) gets no NoExecute taints.
// Method: SimCluster with simulated time; grace and eviction timeout 5 s (the defaults). Seeds
// are printed; FLOTILLA_SIM_SEED replays.
import t, { type Test } from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { nodeReadyStatus } from '../../../node/src/controllers/manager/node-conditions.ts'
import { TAINT_UNREACHABLE_KEY } from '../../../node/src/controllers/manager/node-lifecycle-rules.ts'
import { listAt, objectAt, specOf } from '../../../node/src/controllers/object-fields.ts'
import { PODS } from '../../../node/src/controllers/plan.ts'
import { isReady, nodeOf, SimCluster, simSeed } from './sim-cluster.ts'

const GRACE_MS = 5000
const EVICTION_MS = 5000
/** Taints' timeAdded has whole seconds (metav1.Time), so evictions may come up to 1 s early. */
const TIMESTAMP_SLACK_MS = 1000

function taintsOf(node: JsonObject): string[] {
  return listAt(specOf(node)['taints']).map((taint) => `${String(objectAt(taint)['key'])}:${String(objectAt(taint)['effect'])}`)
}

async function newCluster(t: Test, seed: number, nodes: number, zones: number): Promise<SimCluster> {
  const cluster = new SimCluster({ seed, manager: { nodeNotReadyGraceMs: GRACE_MS, podEvictionTimeoutMs: EVICTION_MS } })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (let index = 0; index < nodes; index++) await cluster.addNode({ name: `node-${String(index).padStart(2, '0')}`, zone: `zone-${index % zones}` })
  cluster.addManager('node-00', { isLeader: true, term: 1 })
  return cluster
}

t.test(`seed ${simSeed(3000)}: a killed node's pods are evicted after the timeout and run elsewhere`, async (t) => {
  const seed = simSeed(3000)
  const cluster = await newCluster(t, seed, 20, 3)
  await cluster.createDeployment({ name: 'web', replicas: 30 })
  await cluster.runUntil('the deployment converges', 60_000, () => cluster.converged('web'))
  const pods = await cluster.podsOf('web')
  const counts = new Map<string, number>()
  for (const pod of pods) if (nodeOf(pod) !== 'node-00') counts.set(nodeOf(pod), (counts.get(nodeOf(pod)) ?? 0) + 1)
  const victim = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0]
  const victimPods = pods.filter((pod) => nodeOf(pod) === victim).length
  t.comment(`seed ${seed}: killing ${victim}, which runs ${victimPods} pods`)
  const killedAtMs = cluster.timers.monotonicMs()
  cluster.killNode(victim)

  const notReadyAfterMs = await cluster.runUntil('the node is NotReady', 20_000, async () => nodeReadyStatus(await cluster.node(victim)) === 'Unknown')
  t.ok(notReadyAfterMs >= GRACE_MS, `NotReady no earlier than the grace (${notReadyAfterMs} ms)`)
  t.ok(notReadyAfterMs <= GRACE_MS + 1500, `and soon after it (${notReadyAfterMs} ms)`)
  const node = await cluster.node(victim)
  const ready = listAt(objectAt(node['status'])['conditions']).map(objectAt).find((condition) => condition['type'] === 'Ready')
  t.equal(ready?.['reason'], 'NodeStatusUnknown', 'reason NodeStatusUnknown')
  t.equal(ready?.['message'], 'Kubelet stopped posting node status.')
  t.ok(taintsOf(node).includes(`${TAINT_UNREACHABLE_KEY}:NoSchedule`), 'tainted unreachable:NoSchedule')
  t.ok(taintsOf(node).includes(`${TAINT_UNREACHABLE_KEY}:NoExecute`), 'tainted unreachable:NoExecute')
  await cluster.step()
  const stranded = (await cluster.pods()).filter((pod) => nodeOf(pod) === victim)
  t.equal(stranded.length, victimPods, 'its pods are still there before the eviction timeout')
  t.ok(stranded.every((pod) => !isReady(pod)), 'but marked not ready')

  const evictedAfterMs = await cluster.runUntil('the pods are evicted', 20_000, async () => (await cluster.pods()).every((pod) => nodeOf(pod) !== victim))
  t.ok(notReadyAfterMs + evictedAfterMs >= GRACE_MS + EVICTION_MS - TIMESTAMP_SLACK_MS, `evicted no earlier than grace + timeout (${notReadyAfterMs + evictedAfterMs} ms after the kill)`)
  await cluster.runUntil('the deployment is whole again', 30_000, () => cluster.converged('web'))
  const replacedAfterMs = cluster.timers.monotonicMs() - killedAtMs
  t.comment(`kill → NotReady ${notReadyAfterMs} ms, → evicted ${notReadyAfterMs + evictedAfterMs} ms, → 30 available again ${replacedAfterMs} ms (simulated)`)
  const after = await cluster.podsOf('web')
  t.equal(after.length, 30, '30 pods')
  t.ok(after.every((pod) => nodeOf(pod) !== victim && isReady(pod)), 'all ready, none on the dead node')
  const events = await cluster.events()
  t.ok(events.some((event) => event['reason'] === 'TaintManagerEviction' && String(event['message']).startsWith('Marking for deletion Pod default/')), 'eviction events are recorded')
  t.ok(events.some((event) => event['reason'] === 'NodeNotReady' && objectAt(event['involvedObject'])['kind'] === 'Node'), 'and the NodeNotReady event')

  cluster.reviveNode(victim)
  await cluster.runUntil('the node is Ready again', 10_000, async () => {
    const revived = await cluster.node(victim)
    return nodeReadyStatus(revived) === 'True' && taintsOf(revived).length === 0 ? true : false
  })
  t.pass('a node heard again is Ready, untainted')
})

t.test(`seed ${simSeed(3001)}: a pod's own toleration decides how long it stays`, async (t) => {
  const seed = simSeed(3001)
  const cluster = await newCluster(t, seed, 4, 1)
  await cluster.runUntil('nodes have pod CIDRs', 5000, async () => (await cluster.nodesObjects()).every((node) => specOf(node)['podCIDR'] !== undefined))
  const pod = (seconds: number, name: string): JsonObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      nodeName: 'node-03',
      containers: [{ name: 'app', image: 'app:v1' }],
      tolerations: [{ key: TAINT_UNREACHABLE_KEY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: seconds }],
    },
  })
  await cluster.client.create(PODS, 'default', pod(20, 'patient'))
  await cluster.client.create(PODS, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain' }, spec: { nodeName: 'node-03', containers: [{ name: 'app', image: 'app:v1' }] } })
  await cluster.runUntil('both run', 5000, async () => (await cluster.pods()).filter(isReady).length === 2)
  cluster.killNode('node-03')
  const plainGoneMs = await cluster.runUntil('the plain pod is evicted', 30_000, async () => (await cluster.pods()).every((item) => String(objectAt(item['metadata'])['name']) !== 'plain'))
  t.ok((await cluster.pods()).some((item) => objectAt(item['metadata'])['name'] === 'patient'), `the pod tolerating 20 s is still there when the plain one goes (${plainGoneMs} ms)`)
  const patientGoneMs = await cluster.runUntil('the patient pod is evicted', 40_000, async () => (await cluster.pods()).length === 0)
  t.ok(plainGoneMs + patientGoneMs >= GRACE_MS + 20_000 - TIMESTAMP_SLACK_MS, `and is evicted after its 20 s (${plainGoneMs + patientGoneMs} ms after the kill)`)
})

t.test(`seed ${simSeed(3002)}: zone outage, minority leader, partial disruption`, async (t) => {
  const seed = simSeed(3002)
  // 12 nodes in 3 zones of 4; the leader is node-00 in zone-0.
  const cluster = await newCluster(t, seed, 12, 3)
  await cluster.createDeployment({ name: 'web', replicas: 24 })
  await cluster.runUntil('the deployment converges', 60_000, () => cluster.converged('web'))

  // A whole zone (not the leader's) goes dark: a real outage, its pods move.
  const zone1 = cluster.nodeNames().filter((name) => Number(name.slice(-2)) % 3 === 1)
  for (const name of zone1) cluster.killNode(name)
  await cluster.runUntil('zone-1 pods are replaced', 60_000, async () => (await cluster.converged('web')) && (await cluster.pods()).every((pod) => !zone1.includes(nodeOf(pod))))
  t.equal(cluster.managers[0]?.manager.nodeLifecycle?.zoneStates.get('zone-1'), 'FullDisruption', 'zone-1 is fully disrupted')
  t.notOk(cluster.managers[0]?.manager.nodeLifecycle?.evictionsSuspended, 'evictions go on: other zones are healthy')
  t.pass('a fully disrupted zone is evacuated')
  for (const name of zone1) cluster.reviveNode(name)
  await cluster.runUntil('zone-1 is back', 20_000, async () => (await cluster.nodesObjects()).every((node) => nodeReadyStatus(node) === 'True' && taintsOf(node).length === 0))

  // Three of zone-2's four nodes fail at once: partial disruption of a small zone, no evictions there.
  const zone2 = cluster.nodeNames().filter((name) => Number(name.slice(-2)) % 3 === 2)
  const failing = zone2.slice(0, 3)
  const before = (await cluster.pods()).filter((pod) => failing.includes(nodeOf(pod))).length
  for (const name of failing) cluster.killNode(name)
  await cluster.runUntil('the three are NotReady', 20_000, async () => {
    const nodes = await cluster.nodesObjects()
    return nodes.filter((node) => failing.includes(String(objectAt(node['metadata'])['name']))).every((node) => nodeReadyStatus(node) === 'Unknown')
  })
  for (let step = 0; step < 150; step++) await cluster.step()
  t.equal(cluster.managers[0]?.manager.nodeLifecycle?.zoneStates.get('zone-2'), 'PartialDisruption', 'zone-2 is partially disrupted')
  const nodes = await cluster.nodesObjects()
  t.ok(
    nodes.filter((node) => failing.includes(String(objectAt(node['metadata'])['name']))).every((node) => !taintsOf(node).includes(`${TAINT_UNREACHABLE_KEY}:NoExecute`)),
    'no NoExecute taint in a partially disrupted small zone',
  )
  t.equal((await cluster.pods()).filter((pod) => failing.includes(nodeOf(pod))).length, before, `its ${before} pods stay put after 15 s`)
  for (const name of failing) cluster.reviveNode(name)
  await cluster.runUntil('zone-2 is back', 20_000, async () => (await cluster.nodesObjects()).every((node) => nodeReadyStatus(node) === 'True'))

  // Every node but the leader's goes silent: the leader is the minority; nothing is evicted.
  const others = cluster.nodeNames().filter((name) => name !== 'node-00')
  const podsBefore = (await cluster.pods()).length
  for (const name of others) cluster.killNode(name)
  for (let step = 0; step < 200; step++) await cluster.step()
  t.ok(cluster.managers[0]?.manager.nodeLifecycle?.evictionsSuspended, 'evictions are suspended')
  t.equal((await cluster.pods()).length, podsBefore, 'no pod was evicted after 20 s')
  t.ok((await cluster.nodesObjects()).every((node) => !taintsOf(node).includes(`${TAINT_UNREACHABLE_KEY}:NoExecute`)), 'and no node carries the NoExecute taint')
  t.match(cluster.log.join('\n'), /evictions suspended/, 'the suspension is logged')
})
