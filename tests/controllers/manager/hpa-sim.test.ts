// Goal: on a running controller manager with a (hollow) metrics source, a HorizontalPodAutoscaler
// scales a Deployment up when its pods use 200 % of the target, settles once the load per pod is
// at target, and scales back down only after the 300-s stabilisation window once the load drops;
// the scalings are reported (SuccessfulRescale events, status). Without a metrics source the
// autoscaler reports ScalingActive=False, FailedGetResourceMetric, and does not scale.
// Method: SimCluster (in-process store, simulated time in 1-s steps, hollow agents; the seed is
// printed and FLOTILLA_SIM_SEED replays). The simulated load is a total in millicores spread
// evenly over the Deployment's running pods, re-spread after every step.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { HORIZONTAL_POD_AUTOSCALERS } from '../../../node/src/controllers/hpa.ts'
import { HollowPodMetrics } from '../../../node/src/controllers/hpa-metrics.ts'
import { specOf, statusOf } from '../../../node/src/controllers/object-fields.ts'
import { SimCluster, simSeed } from './sim-cluster.ts'

const seed = simSeed(5300)

function autoscalerObject(): JsonObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 2,
      maxReplicas: 10,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 100 } } }],
    },
  }
}

const conditionOf = (autoscaler: JsonObject, type: string): JsonObject | undefined =>
  ((statusOf(autoscaler)['conditions'] ?? []) as JsonObject[]).find((condition) => condition['type'] === type)

t.test(`seed ${seed}: an autoscaler scales a deployment up at 200% and down after the stabilisation window`, async (t) => {
  t.comment(`seed ${seed}`)
  const metrics = new HollowPodMetrics()
  const cluster = new SimCluster({ seed, stepMs: 1000, manager: { podMetrics: metrics } })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (const name of ['node-a', 'node-b', 'node-c']) await cluster.addNode({ name, zone: 'zone-a' })
  cluster.addManager('node-a', { isLeader: true, term: 1 })
  await cluster.createDeployment({ name: 'web', replicas: 2, cpu: '100m' })
  await cluster.runUntil('the deployment runs 2 pods', 30_000, () => cluster.converged('web'))

  let loadMillicores = 400
  const spreadLoad = async (): Promise<void> => {
    const running = (await cluster.podsOf('web')).filter((pod) => statusOf(pod)['phase'] === 'Running')
    for (const pod of running) metrics.setPod('default', String((pod['metadata'] as JsonObject)['name']), { cpuMillicores: loadMillicores / running.length, memoryBytes: 64 << 20 })
  }
  await spreadLoad()
  const replicas = async (): Promise<number> => Number(specOf(await cluster.deployment('web'))['replicas'])
  await cluster.client.create(HORIZONTAL_POD_AUTOSCALERS, 'default', autoscalerObject())

  await cluster.runUntil('the autoscaler doubles the deployment', 60_000, async () => (await replicas()) === 4, spreadLoad)
  await cluster.runUntil('4 pods run', 30_000, () => cluster.converged('web'), spreadLoad)
  const upEvent = (await cluster.events()).find((event) => event['reason'] === 'SuccessfulRescale')
  t.equal(upEvent?.['message'], 'New size: 4; reason: cpu resource utilization (percentage of request) above target')
  // At target (100m of 100m per pod) it stays, through several evaluations.
  for (let second = 0; second < 60; second++) {
    await cluster.step()
    await spreadLoad()
  }
  t.equal(await replicas(), 4, 'at target the count stays')
  const autoscaler = await cluster.objects.get(HORIZONTAL_POD_AUTOSCALERS, 'default', 'web')
  t.equal(statusOf(autoscaler)['currentReplicas'], 4)
  t.equal(statusOf(autoscaler)['desiredReplicas'], 4)
  t.equal(conditionOf(autoscaler, 'ScalingActive')?.['status'], 'True')
  t.same(statusOf(autoscaler)['currentMetrics'], [{ type: 'Resource', resource: { name: 'cpu', current: { averageValue: '100m', averageUtilization: 100 } } }])

  // The load drops to a quarter: the recommendation is 1 (min 2), held back by the window.
  loadMillicores = 100
  await spreadLoad()
  const droppedAtMs = cluster.timers.monotonicMs()
  const tookMs = await cluster.runUntil('the autoscaler scales down', 400_000, async () => (await replicas()) < 4, spreadLoad)
  t.comment(`scaled down ${tookMs} simulated ms after the load dropped`)
  t.ok(tookMs >= 300_000 - 15_000, `not before the 300-s window (after ${tookMs} ms)`)
  t.ok(tookMs <= 300_000 + 2 * 15_000, 'within two evaluations after the window')
  t.equal(await replicas(), 2, 'down to minReplicas')
  const after = await cluster.objects.get(HORIZONTAL_POD_AUTOSCALERS, 'default', 'web')
  t.equal(conditionOf(after, 'ScalingLimited')?.['reason'], 'TooFewReplicas')
  t.ok(cluster.timers.monotonicMs() > droppedAtMs)
  const messages = (await cluster.events()).filter((event) => event['reason'] === 'SuccessfulRescale').map((event) => event['message'])
  t.ok(messages.includes('New size: 2; reason: All metrics below target'), 'the scale-down is reported')
})

t.test(`seed ${seed}: without metrics an autoscaler says so and does not scale`, async (t) => {
  const cluster = new SimCluster({ seed, stepMs: 1000 })
  t.teardown(() => cluster.stop())
  await cluster.start()
  await cluster.addNode({ name: 'node-a', zone: 'zone-a' })
  cluster.addManager('node-a', { isLeader: true, term: 1 })
  await cluster.createDeployment({ name: 'web', replicas: 2, cpu: '100m' })
  await cluster.client.create(HORIZONTAL_POD_AUTOSCALERS, 'default', autoscalerObject())
  await cluster.runUntil('the autoscaler reports the missing metrics', 30_000, async () => {
    const autoscaler = await cluster.objects.get(HORIZONTAL_POD_AUTOSCALERS, 'default', 'web')
    return conditionOf(autoscaler, 'ScalingActive')?.['reason'] === 'FailedGetResourceMetric'
  })
  const autoscaler = await cluster.objects.get(HORIZONTAL_POD_AUTOSCALERS, 'default', 'web')
  t.equal(conditionOf(autoscaler, 'ScalingActive')?.['status'], 'False')
  t.match(String(conditionOf(autoscaler, 'ScalingActive')?.['message']), /unable to get metrics/)
  t.equal(Number(specOf(await cluster.deployment('web'))['replicas']), 2, 'the deployment is not scaled')
})
