// Goal: the agent's node status carries capacity, allocatable minus the reserves, nodeInfo with
// the runtime's version, the images present and the addresses; the reporter merges it into the
// Node without touching the conditions the node lifecycle controller owns, and writes nothing
// when nothing changed.
// Method: pure checks of agentNodeStatus; the reporter against an in-process API (registered
// Node, hollow runtime on simulated time).
import t from 'tap'
import { TimersSim } from '../../lib/timers.ts'
import { RuntimeHollow } from '../../runtime/src/hollow-runtime.ts'
import { agentNodeStatus, containerRuntimeVersionText, machineNodeFacts, nodeImages, NodeStatusReporter } from '../../node/src/agent/node-status.ts'
import { registerNode, type NodeFacts } from '../../node/src/agent/node-registration.ts'
import { MemoryObjectBackend } from '../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../node/src/api/server/object-store.ts'
import { ObjectClient } from '../../node/src/controllers/manager/object-client.ts'
import { unknownNodeConditions } from '../../node/src/controllers/manager/node-conditions.ts'
import { NODES } from '../../node/src/controllers/manager/shared-informers.ts'
import { formatTime, listAt, metadataOf, objectAt, statusOf } from '../../node/src/controllers/object-fields.ts'

const facts: NodeFacts = {
  name: 'node-a',
  zone: 'z1',
  internalIp: '192.168.1.10',
  hostname: 'host-a',
  cpuCount: 4,
  memoryBytes: 8 * 1024 ** 3,
  pods: 110,
  architecture: 'amd64',
  osImage: 'Debian GNU/Linux 12 (bookworm)',
  kernelVersion: '6.1.0',
  containerRuntimeVersion: 'docker://20.10.24',
}

t.test('the status a fresh node gets', async (t) => {
  const images = [
    { id: 'sha256:small', repoTags: ['flotilla/pause:local'], sizeBytes: 1_000 },
    { id: 'sha256:big', repoTags: ['flotilla/busybox:local', 'busybox-local:latest'], sizeBytes: 2_000_000 },
    { id: 'sha256:untagged', repoTags: ['<none>:<none>'], sizeBytes: 5 },
  ]
  const status = agentNodeStatus({ facts, images, previous: undefined, nowMs: Date.UTC(2026, 10, 23, 10) })
  t.same(status['capacity'], { cpu: '4', memory: '8388608Ki', pods: '110' })
  t.same(status['allocatable'], { cpu: '3900m', memory: '8286208Ki', pods: '110' }, 'minus 100m CPU and 100Mi memory')
  t.same(status['images'], [
    { names: ['flotilla/busybox:local', 'busybox-local:latest'], sizeBytes: 2_000_000 },
    { names: ['flotilla/pause:local'], sizeBytes: 1_000 },
    { names: ['sha256:untagged'], sizeBytes: 5 },
  ], 'largest first, untagged ones by id')
  t.same(status['addresses'], [{ type: 'InternalIP', address: '192.168.1.10' }, { type: 'Hostname', address: 'node-a' }])
  const nodeInfo = objectAt(status['nodeInfo'])
  t.equal(nodeInfo['kubeletVersion'], 'v1.20.2-flotilla')
  t.equal(nodeInfo['containerRuntimeVersion'], 'docker://20.10.24')
  t.same(listAt(status['conditions']).map((condition) => `${String(objectAt(condition)['type'])}=${String(objectAt(condition)['status'])}`), ['MemoryPressure=False', 'DiskPressure=False', 'PIDPressure=False', 'Ready=True'])
  t.equal(nodeImages(Array.from({ length: 80 }, (_, i) => ({ id: `sha256:${i}`, repoTags: [`i:${i}`], sizeBytes: i }))).length, 50, 'at most 50 images')
  t.equal(containerRuntimeVersionText({ runtimeName: 'docker', runtimeVersion: '20.10.24' }), 'docker://20.10.24')
  const machine = machineNodeFacts({ name: 'n', zone: 'z', runtimeVersion: { runtimeName: 'hollow', runtimeVersion: '0.1' } })
  t.ok(machine.cpuCount >= 1 && machine.containerRuntimeVersion === 'hollow://0.1', 'this machine\'s facts')
})

t.test('the reporter merges into the registered Node and keeps the lifecycle controller\'s conditions', async (t) => {
  const timers = new TimersSim({ epochMs: Date.UTC(2026, 10, 23, 10) })
  const objects = new ObjectStore(new MemoryObjectBackend({ nowMs: () => timers.realtimeMs() }), { nowIso: () => formatTime(timers.realtimeMs()) })
  const client = new ObjectClient(objects, { log: () => {} })
  const runtime = new RuntimeHollow({ nodeName: 'node-a', timers })
  await registerNode(client, facts, formatTime(timers.realtimeMs()))
  // The node went silent for a while: the lifecycle controller made every condition Unknown.
  const registered = await client.get(NODES, undefined, 'node-a')
  await client.updateStatus(NODES, undefined, 'node-a', { ...registered, status: { ...statusOf(registered), conditions: unknownNodeConditions(registered, formatTime(timers.realtimeMs())) } })
  const logs: string[] = []
  const reporter = new NodeStatusReporter({ client, runtime, facts: () => facts, timers, log: (line) => logs.push(line) })
  t.equal(await reporter.reportOnce(), true, 'the first report writes')
  const node = await client.get(NODES, undefined, 'node-a')
  const status = statusOf(node)
  t.same(listAt(status['images']).map((image) => listAt(objectAt(image)['names'])[0]).sort(), ['flotilla/busybox:local', 'flotilla/pause:local'], 'the runtime\'s images')
  t.equal(objectAt(status['allocatable'])['cpu'], '3900m')
  t.ok(listAt(status['conditions']).every((condition) => objectAt(condition)['status'] === 'Unknown'), 'conditions are left to the lifecycle controller')
  t.equal(await reporter.reportOnce(), false, 'nothing changed: no write')
  t.equal(metadataOf(await client.get(NODES, undefined, 'node-a'))['resourceVersion'], metadataOf(node)['resourceVersion'])
  runtime.engine.addImage('example.com/new:1')
  t.equal(await reporter.reportOnce(), true, 'a new image is published')
  reporter.start()
  reporter.stop()
  t.same(logs, [])
})
