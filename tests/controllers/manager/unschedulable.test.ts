// Goal: a pod that fits on no node gets what kube-scheduler gives it — PodScheduled=False with
// reason Unschedulable and the per-node reasons message ("0/3 nodes are available: 3
// Insufficient cpu."), and one FailedScheduling event whose count grows with each retry rather
// than a new event per retry — and it is scheduled as soon as a node that fits joins.
// Method: SimCluster with three 2-cpu nodes and a Deployment whose pods ask for 3 cpus.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { listAt, objectAt, statusOf } from '../../../node/src/controllers/object-fields.ts'
import { isReady, nodeOf, SimCluster, simSeed } from './sim-cluster.ts'

function podScheduled(pod: JsonObject): JsonObject | undefined {
  return listAt(statusOf(pod)['conditions']).map(objectAt).find((condition) => condition['type'] === 'PodScheduled')
}

t.test(`seed ${simSeed(4000)}: an unschedulable pod is reported, retried, and placed when room appears`, async (t) => {
  const seed = simSeed(4000)
  const cluster = new SimCluster({ seed })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (const name of ['small-a', 'small-b', 'small-c']) await cluster.addNode({ name, zone: 'zone-a', cpuCount: 2 })
  cluster.addManager('small-a', { isLeader: true, term: 1 })
  await cluster.createDeployment({ name: 'big', replicas: 1, cpu: '3' })

  const expected = '0/3 nodes are available: 3 Insufficient cpu.'
  await cluster.runUntil('the pod is marked unschedulable', 10_000, async () => {
    const [pod] = await cluster.podsOf('big')
    return pod !== undefined && podScheduled(pod)?.['status'] === 'False'
  })
  const [pod] = await cluster.podsOf('big')
  t.equal(podScheduled(pod!)?.['reason'], 'Unschedulable', 'PodScheduled=False, reason Unschedulable')
  t.equal(podScheduled(pod!)?.['message'], expected, 'with the per-node reasons')
  t.equal(nodeOf(pod!), '', 'and no node')

  // Retries happen on cluster changes and every flush period; a node update is a change.
  for (let step = 0; step < 400; step++) await cluster.step()
  const failures = (await cluster.events()).filter((event) => event['reason'] === 'FailedScheduling')
  t.equal(failures.length, 1, 'one FailedScheduling event')
  t.equal(failures[0]?.['type'], 'Warning')
  t.equal(failures[0]?.['message'], expected, 'with the same message')
  t.ok(Number(failures[0]?.['count']) >= 2, `counting the retries (count ${String(failures[0]?.['count'])})`)

  await cluster.addNode({ name: 'large', zone: 'zone-b', cpuCount: 8 })
  const tookMs = await cluster.runUntil('the pod runs on the new node', 15_000, async () => {
    const [placed] = await cluster.podsOf('big')
    return placed !== undefined && nodeOf(placed) === 'large' && isReady(placed)
  })
  t.ok(tookMs <= 11_000, `placed within the back-off cap of a node joining (${tookMs} ms)`)
  const scheduled = (await cluster.events()).filter((event) => event['reason'] === 'Scheduled')
  t.match(String(scheduled[0]?.['message']), /^Successfully assigned default\/big-[a-z0-9]+-[a-z0-9]{5} to large$/, 'Scheduled event')
})
