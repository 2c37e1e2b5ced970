// Goal: the HPA's metrics source over the agents' stored records gives a pod's usage as the HPA's
// metrics client computes it (containers summed, CPU millicores rounded up per container), skips
// stale records, prefers the newer record when two name one pod, reads the store at most once per
// refresh interval, and, fed by the real sampler on the hollow runtime, makes the HPA scale a busy
// Deployment up. Method: MemoryObjectBackend, NodeMetricsWriter, a hand-driven clock; the sampler
// on TimersSim with the hollow runtime; the pure HPA reconcile.
import t from 'tap'
import { TimersSim } from '../../lib/timers.ts'
import { RuntimeHollow } from '../../runtime/src/hollow-runtime.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { MemoryObjectBackend } from '../../node/src/api/server/memory-backend.ts'
import { NodeMetricsWriter, type NodeMetricsRecord } from '../../node/src/api/server/node-metrics-store.ts'
import { MetricsSampler } from '../../node/src/agent/metrics-sampler.ts'
import { EMPTY_HPA_HISTORY, reconcileHorizontalPodAutoscaler } from '../../node/src/controllers/hpa.ts'
import type { UpdateAction } from '../../node/src/controllers/plan.ts'
import { StoredPodMetrics } from '../../node/src/controllers/stored-pod-metrics.ts'

const PERIOD_MS = 15_000
const T0 = 1_700_000_000_000
const MIB = 1024 * 1024

function record(node: string, timestampMs: number, pods: NodeMetricsRecord['pods']): NodeMetricsRecord {
  return { node, timestampMs, windowMs: PERIOD_MS, periodMs: PERIOD_MS, pods }
}

t.test('a pod is the sum of its containers, CPU rounded up per container', async (t) => {
  const backend = new MemoryObjectBackend()
  const metrics = new StoredPodMetrics({ backend, nowMs: () => T0 })
  await new NodeMetricsWriter({ backend, nodeName: 'n1' }).publish(record('n1', T0, [
    { namespace: 'default', name: 'web', uid: 'u1', containers: [{ name: 'app', cpuNanoCores: 250_000_001, memoryBytes: 10 * MIB }, { name: 'sidecar', cpuNanoCores: 1_500, memoryBytes: MIB }] },
    { namespace: 'other', name: 'web', uid: 'u2', containers: [{ name: 'app', cpuNanoCores: 0, memoryBytes: 0 }] },
  ]))
  t.same(metrics.podUsage('default', 'web'), { cpuMillicores: 252, memoryBytes: 11 * MIB }, '250.000001m → 251m, 0.0015m → 1m')
  t.same(metrics.podUsage('other', 'web'), { cpuMillicores: 0, memoryBytes: 0 }, 'namespaces are kept apart')
  t.equal(metrics.podUsage('default', 'nope'), undefined)
})

t.test('stale records are skipped; the newer record wins; the store is read once per refresh', async (t) => {
  const backend = new MemoryObjectBackend()
  let nowMs = T0
  const metrics = new StoredPodMetrics({ backend, nowMs: () => nowMs, refreshMs: 1000 })
  const pod = (cpuNanoCores: number) => [{ namespace: 'default', name: 'web', uid: 'u1', containers: [{ name: 'app', cpuNanoCores, memoryBytes: MIB }] }]
  const n1 = new NodeMetricsWriter({ backend, nodeName: 'n1' })
  const n2 = new NodeMetricsWriter({ backend, nodeName: 'n2' })
  await n1.publish(record('n1', T0, pod(100_000_000)))
  t.equal(metrics.podUsage('default', 'web')?.cpuMillicores, 100)

  // The pod was recreated on n2; n1 has not yet published its next pass.
  await n2.publish(record('n2', T0 + 10, pod(300_000_000)))
  t.equal(metrics.podUsage('default', 'web')?.cpuMillicores, 100, 'within the refresh interval the index is reused')
  nowMs += 1000
  t.equal(metrics.podUsage('default', 'web')?.cpuMillicores, 300, 'then read again: the newer sample wins')

  nowMs = T0 + 10 + 3 * PERIOD_MS + 1
  t.equal(metrics.podUsage('default', 'web'), undefined, 'both records stale: no sample (the HPA treats the pod as unsampled)')
  await n1.publish(record('n1', nowMs, pod(50_000_000)))
  nowMs += 1000
  t.equal(metrics.podUsage('default', 'web')?.cpuMillicores, 50)
})

t.test('end to end: busy hollow containers, sampled and stored, make the HPA scale up', async (t) => {
  const timers = new TimersSim({ epochMs: T0 })
  const runtime = new RuntimeHollow({ nodeName: 'n1', timers })
  const backend = new MemoryObjectBackend()
  const writer = new NodeMetricsWriter({ backend, nodeName: 'n1' })
  const sampler = new MetricsSampler({ runtime, nodeName: 'n1', publish: (record) => writer.publish(record), timers, log: (line) => t.comment(line), periodMs: PERIOD_MS })
  const pods: JsonObject[] = []
  for (const [index, command] of [['sh', '-c', 'while :; do :; done'], ['sleep', 'infinity']].entries()) {
    const name = `web-${index}`
    const sandbox = await runtime.runSandbox({ pod: { uid: `u${index}`, name, namespace: 'default' }, hostname: name, network: 'bridge' })
    await runtime.startContainer(await runtime.createContainer(sandbox.id, { name: 'app', attempt: 0, image: 'flotilla/busybox:local', command }))
    pods.push({
      metadata: { name, namespace: 'default', uid: `u${index}`, labels: { app: 'web' } },
      spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'busybox', resources: { requests: { cpu: '500m' } } }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    })
  }
  await sampler.sampleOnce()
  timers.advance(PERIOD_MS)
  await sampler.sampleOnce()

  const metrics = new StoredPodMetrics({ backend, nowMs: () => timers.realtimeMs() })
  t.same(metrics.podUsage('default', 'web-0'), { cpuMillicores: 1000, memoryBytes: MIB }, 'the busy loop uses a core')
  t.same(metrics.podUsage('default', 'web-1'), { cpuMillicores: 1, memoryBytes: MIB }, 'the sleeper a trickle')

  const result = reconcileHorizontalPodAutoscaler({
    autoscaler: {
      apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web', namespace: 'default', uid: 'hpa-uid', generation: 1, resourceVersion: '9' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 10, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }] },
      status: {},
    },
    target: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default', uid: 'd-uid', resourceVersion: '20' }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } } }, status: { replicas: 2 } },
    pods,
    metrics,
    history: EMPTY_HPA_HISTORY,
    nowMs: timers.realtimeMs(),
  })
  const update = result.plan.actions.find((action): action is UpdateAction => action.type === 'update')
  // 1001m used of 1000m requested against a 50 % target: ratio 2.002, so ceil(2 × 2.002) = 5.
  t.equal((update?.object['spec'] as JsonObject | undefined)?.['replicas'], 5)
})
