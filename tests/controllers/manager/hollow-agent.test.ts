// Goal: the hollow agent plays the kubelet for pods bound to its node: Pending with
// ContainerCreating first (pod IP from the node's CIDR, host IP, start time), then Running with
// every condition True and container statuses kubectl prints; Pulled/Created/Started events; a
// restarted agent adopts its running pods without rewriting them; a pod marked not ready while
// the node was unreachable is reported ready again.
// Method: SimCluster with one node and a manager (which assigns the pod CIDR); pods bound by hand.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { podMarkedNotReady } from '../../../node/src/controllers/manager/node-lifecycle-rules.ts'
import { formatTime, listAt, objectAt, specOf, statusOf } from '../../../node/src/controllers/object-fields.ts'
import { PODS } from '../../../node/src/controllers/plan.ts'
import { isReady, SimCluster, simSeed } from './sim-cluster.ts'

t.test(`seed ${simSeed(5000)}: a bound pod goes ContainerCreating → Running`, async (t) => {
  const cluster = new SimCluster({ seed: simSeed(5000), startDelayMs: { min: 1000, max: 1000 } })
  t.teardown(() => cluster.stop())
  await cluster.start()
  await cluster.addNode({ name: 'node-a', zone: 'z1' })
  cluster.addManager('node-a', { isLeader: true, term: 1 })
  await cluster.runUntil('the node has a pod CIDR', 5000, async () => typeof specOf(await cluster.node('node-a'))['podCIDR'] === 'string')
  const podCidr = String(specOf(await cluster.node('node-a'))['podCIDR'])
  await cluster.client.create(PODS, 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'solo' },
    spec: { nodeName: 'node-a', initContainers: [{ name: 'init', image: 'busybox' }], containers: [{ name: 'web', image: 'nginx:1.20' }, { name: 'side', image: 'envoy:1' }] },
  })
  const get = (): Promise<JsonObject> => cluster.objects.get(PODS, 'default', 'solo')
  await cluster.step()
  const creating = statusOf(await get())
  t.equal(creating['phase'], 'Pending', 'Pending first')
  t.same(
    listAt(creating['containerStatuses']).map((status) => objectAt(objectAt(status)['state'])['waiting']),
    [{ reason: 'ContainerCreating' }, { reason: 'ContainerCreating' }],
    'containers are being created',
  )
  t.ok(String(creating['podIP']).startsWith(podCidr.replace('0/24', '')), `the pod IP ${String(creating['podIP'])} is in the node's CIDR ${podCidr}`)
  t.equal(creating['hostIP'], '192.168.0.1', 'the host IP is the node\'s InternalIP')

  await cluster.runUntil('the pod runs', 5000, async () => isReady(await get()))
  const running = statusOf(await get())
  t.equal(running['phase'], 'Running')
  t.same(
    listAt(running['conditions']).map((condition) => `${String(objectAt(condition)['type'])}=${String(objectAt(condition)['status'])}`).sort(),
    ['ContainersReady=True', 'Initialized=True', 'PodScheduled=True', 'Ready=True'],
    'every condition True',
  )
  const containers = listAt(running['containerStatuses']).map(objectAt)
  t.ok(containers.every((status) => status['ready'] === true && status['started'] === true && status['restartCount'] === 0), 'containers ready and started')
  t.ok(containers.every((status) => /^hollow:\/\/[0-9a-f]{64}$/.test(String(status['containerID']))), 'with hollow container ids')
  t.equal(objectAt(objectAt(listAt(running['initContainerStatuses'])[0])['state'])['terminated'] !== undefined, true, 'the init container completed')
  t.equal(running['qosClass'], 'BestEffort', 'the QoS class stays')
  const reasons = (await cluster.events()).filter((event) => objectAt(event['involvedObject'])['name'] === 'solo').map((event) => event['reason'])
  t.same([...new Set(reasons)].sort(), ['Created', 'Pulled', 'Started'], 'kubelet events')

  // A new agent on the same node (a daemon restart) adopts the running pod as it is.
  cluster.killNode('node-a')
  const before = await get()
  cluster.reviveNode('node-a')
  for (let step = 0; step < 20; step++) await cluster.step()
  const after = await get()
  t.equal(objectAt(after['metadata'])['resourceVersion'], objectAt(before['metadata'])['resourceVersion'], 'the restarted agent did not rewrite the pod')

  // Marked not ready (as the lifecycle controller does for an unreachable node): the agent restores it.
  const marked = podMarkedNotReady(after, formatTime(cluster.timers.realtimeMs()))!
  await cluster.client.updateStatus(PODS, 'default', 'solo', marked)
  await cluster.runUntil('the pod is ready again', 5000, async () => isReady(await get()))
  t.equal(statusOf(await get())['podIP'], running['podIP'], 'with the same IP')
})
