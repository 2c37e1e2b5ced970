// Goal (smoke): on the real Docker engine and the host's /proc, the sampler measures plausible
// figures: a busy loop capped at half a core reads between a trickle and the cap, a sleeper reads
// almost nothing, working sets are positive, and the node's usage comes from /proc. Method:
// RuntimeDocker under a unique node name, one sandbox with two busybox containers, two passes of
// the sampler on real time; every container labelled with that node name is removed at the end.
// Without a reachable engine the test skips, or fails when CI=true. Nothing is pulled.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { TimersOs } from '../../lib/timers.ts'
import { RuntimeDocker } from '../../runtime/src/docker-runtime.ts'
import { BUSYBOX_IMAGE, ensureLocalImages } from '../../runtime/src/local-images.ts'
import { RUNTIME_LABELS } from '../../runtime/src/runtime.ts'
import { MetricsSampler } from '../../node/src/agent/metrics-sampler.ts'
import { procNodeStatsReader } from '../../node/src/agent/proc-stats.ts'
import { MemoryObjectBackend } from '../../node/src/api/server/memory-backend.ts'
import { NodeMetricsReader, NodeMetricsWriter, type NodeMetricsRecord } from '../../node/src/api/server/node-metrics-store.ts'
import { engineUnavailable, testDocker } from '../runtime/docker-engine.ts'

const docker = testDocker
const ONE_CORE = 1_000_000_000


const unavailable = await engineUnavailable()
if (unavailable !== undefined && process.env['CI'] === 'true') t.fail(unavailable)

t.test('docker: plausible rates and working sets, the node from /proc', { skip: unavailable ?? false, timeout: 60_000 }, async (t) => {
  const nodeName = `metrics-test-${randomUUID().slice(0, 8)}`
  t.teardown(async () => {
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`${RUNTIME_LABELS.node}=${nodeName}`] } })
    await Promise.all(leftovers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)))
  })
  await ensureLocalImages(docker)
  const runtime = new RuntimeDocker({ nodeName, docker })
  const sandbox = await runtime.runSandbox({ pod: { uid: randomUUID(), name: 'load', namespace: 'default' }, hostname: 'load', network: 'none' })
  for (const [name, command, resources] of [
    ['busy', ['sh', '-c', 'while :; do :; done'], { cpuLimitMillis: 500 }],
    ['idle', ['sleep', '3600'], {}],
  ] as const) {
    await runtime.startContainer(await runtime.createContainer(sandbox.id, { name, attempt: 0, image: BUSYBOX_IMAGE, command: [...command], resources }))
  }
  const logged: string[] = []
  const backend = new MemoryObjectBackend()
  const writer = new NodeMetricsWriter({ backend, nodeName })
  const sampler = new MetricsSampler({ runtime, nodeName, publish: (record) => writer.publish(record), timers: new TimersOs(), log: (line) => logged.push(line), readNodeStats: procNodeStatsReader() })
  t.equal(await sampler.sampleOnce(), undefined)
  // A rate needs time between the readings: at least a second of it, for the counters to move.
  const startedMs = performance.now()
  const record = await waitFor<NodeMetricsRecord>('a second pass a second later', 10_000, async () => (performance.now() - startedMs < 1000 ? undefined : await sampler.sampleOnce()), 250)
  t.same(logged, [])
  const pod = record.pods[0]
  t.equal(pod?.name, 'load')
  const busy = pod?.containers.find((container) => container.name === 'busy')
  const idle = pod?.containers.find((container) => container.name === 'idle')
  t.ok(busy !== undefined && busy.cpuNanoCores > 0.05 * ONE_CORE && busy.cpuNanoCores < 0.75 * ONE_CORE, `busy loop capped at 500m: ${busy?.cpuNanoCores}n`)
  t.ok(idle !== undefined && idle.cpuNanoCores < 0.05 * ONE_CORE, `sleeper: ${idle?.cpuNanoCores}n`)
  t.ok(busy !== undefined && busy.memoryBytes > 0 && idle !== undefined && idle.memoryBytes > 0, 'working sets are positive')
  t.ok(record.usage !== undefined && record.usage.cpuNanoCores > 0 && record.usage.memoryBytes > 0, `node from /proc: ${JSON.stringify(record.usage)}`)
  t.ok(record.windowMs >= 1000, `window ${record.windowMs} ms`)
  t.same(new NodeMetricsReader({ backend }).fresh().get(nodeName), record, 'stored as sampled (whole numbers only)')
  await runtime.removeSandbox(sandbox.id)
})
