// Goal: the HorizontalPodAutoscaler reconcile computes desired = ceil(ratio × pods) from pod usage
// against the target with Kubernetes' 10 % tolerance, conservative handling of pods without
// samples, the min/max bounds, the scale-down stabilisation window and the behavior rate limits;
// writes the target's spec.replicas with a SuccessfulRescale event; reports status and the
// AbleToScale/ScalingActive/ScalingLimited conditions; and without a metrics source says so
// (ScalingActive False, FailedGetResourceMetric) instead of scaling.
// Method: crafted autoscalers, Deployments and pods with a hollow metrics source; assertions on plans.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { EMPTY_HPA_HISTORY, HPA_SYNC_PERIOD_MS, reconcileHorizontalPodAutoscaler, type HpaHistory, type HpaInputs } from '../../node/src/controllers/hpa.ts'
import { HollowPodMetrics } from '../../node/src/controllers/hpa-metrics.ts'
import { DEPLOYMENTS, type EventAction, type UpdateAction, type UpdateStatusAction } from '../../node/src/controllers/plan.ts'
import { T0_MS } from './fixtures.ts'

function autoscaler(options: { min?: number; max?: number; utilization?: number; behavior?: JsonObject; status?: JsonObject } = {}): JsonObject {
  const spec: JsonObject = {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    minReplicas: options.min ?? 1,
    maxReplicas: options.max ?? 10,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: options.utilization ?? 100 } } }],
  }
  if (options.behavior !== undefined) spec['behavior'] = options.behavior
  return { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'default', uid: 'hpa-uid', generation: 1, resourceVersion: '9' }, spec, status: options.status ?? {} }
}

function deployment(replicas: number): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'd-uid', resourceVersion: '20' },
    spec: { replicas, selector: { matchLabels: { app: 'web' } } },
    status: { replicas },
  }
}

function pods(count: number, options: { ready?: boolean } = {}): JsonObject[] {
  return Array.from({ length: count }, (_, index) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `web-${index}`, namespace: 'default', labels: { app: 'web' } },
    spec: { containers: [{ name: 'app', image: 'web', resources: { requests: { cpu: '100m' } } }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }] },
  }))
}

function metricsAt(cpuMillicores: number): HollowPodMetrics {
  const metrics = new HollowPodMetrics()
  metrics.setNamespace('default', { cpuMillicores, memoryBytes: 1 << 20 })
  return metrics
}

function run(inputs: Partial<HpaInputs> & { replicas: number }) {
  return reconcileHorizontalPodAutoscaler({
    autoscaler: inputs.autoscaler ?? autoscaler(),
    target: 'target' in inputs ? inputs.target : deployment(inputs.replicas),
    pods: inputs.pods ?? pods(inputs.replicas),
    metrics: 'metrics' in inputs ? inputs.metrics : metricsAt(100),
    history: inputs.history ?? EMPTY_HPA_HISTORY,
    nowMs: inputs.nowMs ?? T0_MS,
    ...(inputs.targetError !== undefined ? { targetError: inputs.targetError } : {}),
  })
}

const scaleTo = (result: ReturnType<typeof run>): number | undefined => {
  const update = result.plan.actions.find((action): action is UpdateAction => action.type === 'update')
  return update === undefined ? undefined : Number((update.object['spec'] as JsonObject)['replicas'])
}
const statusOfPlan = (result: ReturnType<typeof run>): JsonObject => ((result.plan.actions.find((action): action is UpdateStatusAction => action.type === 'updateStatus')?.object['status'] ?? {}) as JsonObject)
const condition = (status: JsonObject, type: string): JsonObject | undefined => (status['conditions'] as JsonObject[] | undefined)?.find((item) => item['type'] === type)

t.test('200% of the target doubles the replicas, with an event and status', async (t) => {
  const result = run({ replicas: 2, metrics: metricsAt(200) })
  t.equal(scaleTo(result), 4)
  const update = result.plan.actions[0] as UpdateAction
  t.equal(update.resource, DEPLOYMENTS)
  t.equal((update.object['metadata'] as JsonObject)['resourceVersion'], '20', 'the scale write carries the target\'s resourceVersion')
  const event = result.plan.actions.find((action): action is EventAction => action.type === 'event')
  t.equal(event?.event['reason'], 'SuccessfulRescale')
  t.equal(event?.event['message'], 'New size: 4; reason: cpu resource utilization (percentage of request) above target')
  const status = statusOfPlan(result)
  t.equal(status['desiredReplicas'], 4)
  t.equal(status['currentReplicas'], 2)
  t.same(status['currentMetrics'], [{ type: 'Resource', resource: { name: 'cpu', current: { averageValue: '200m', averageUtilization: 200 } } }])
  t.equal(condition(status, 'AbleToScale')?.['reason'], 'SucceededRescale')
  t.equal(condition(status, 'ScalingActive')?.['reason'], 'ValidMetricFound')
  t.equal(condition(status, 'ScalingLimited')?.['status'], 'False')
  t.equal(result.plan.requeueAfterMs, HPA_SYNC_PERIOD_MS)
  t.same(result.history.scalings, [{ atMs: T0_MS, change: 2 }])
})

t.test('within the 10% tolerance nothing changes', async (t) => {
  t.equal(scaleTo(run({ replicas: 3, metrics: metricsAt(109) })), undefined)
  t.equal(scaleTo(run({ replicas: 3, metrics: metricsAt(91) })), undefined)
  t.equal(scaleTo(run({ replicas: 3, metrics: metricsAt(115) })), 4, 'ceil(1.15 × 3)')
})

t.test('without a metrics source autoscalers report it and do not scale', async (t) => {
  const result = run({ replicas: 2, metrics: undefined })
  t.equal(scaleTo(result), undefined)
  const active = condition(statusOfPlan(result), 'ScalingActive')
  t.equal(active?.['status'], 'False')
  t.equal(active?.['reason'], 'FailedGetResourceMetric')
  t.match(String(active?.['message']), /unable to get metrics/)
  t.ok(result.plan.actions.some((action) => action.type === 'event' && action.event['reason'] === 'FailedGetResourceMetric'), 'a warning event says why')
})

t.test('a missing target is reported as FailedGetScale', async (t) => {
  const result = run({ replicas: 2, target: undefined, targetError: 'deployments.apps "web" not found' })
  const able = condition(statusOfPlan(result), 'AbleToScale')
  t.equal(able?.['status'], 'False')
  t.equal(able?.['reason'], 'FailedGetScale')
})

t.test('scale-down waits for the stabilisation window (300 s by default)', async (t) => {
  const low = metricsAt(25)
  const history: HpaHistory = { recommendations: [{ atMs: T0_MS - 100_000, replicas: 4 }], scalings: [] }
  const held = run({ replicas: 4, metrics: low, history, autoscaler: autoscaler({ min: 2 }) })
  t.equal(scaleTo(held), undefined, 'a recommendation of 4 within the window holds the count')
  t.equal(condition(statusOfPlan(held), 'AbleToScale')?.['reason'], 'ScaleDownStabilized')
  const later = run({ replicas: 4, metrics: low, history: held.history, autoscaler: autoscaler({ min: 2 }), nowMs: T0_MS + 201_000 })
  t.equal(scaleTo(later), 2, 'after the window the lower recommendation wins, bounded by minReplicas')
  const limited = condition(statusOfPlan(later), 'ScalingLimited')
  t.equal(limited?.['reason'], 'TooFewReplicas')
  const behavior = { scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } }
  const stepwise = run({ replicas: 4, metrics: low, autoscaler: autoscaler({ behavior }) })
  t.equal(scaleTo(stepwise), 3, 'a Pods policy of 1 per 60 s removes one pod')
  t.equal(condition(statusOfPlan(stepwise), 'ScalingLimited')?.['reason'], 'ScaleDownLimit')
  const again = run({ replicas: 3, pods: pods(3), metrics: low, autoscaler: autoscaler({ behavior }), history: stepwise.history, nowMs: T0_MS + 30_000 })
  t.equal(scaleTo(again), undefined, 'and no more within the period')
})

t.test('scale-up is rate-limited by the default policies and bounded by maxReplicas', async (t) => {
  const hot = metricsAt(1000)
  const result = run({ replicas: 2, metrics: hot })
  t.equal(scaleTo(result), 6, 'max(2 + 4 pods, 2 × 200%) per 15 s')
  t.equal(condition(statusOfPlan(result), 'ScalingLimited')?.['reason'], 'ScaleUpLimit')
  const capped = run({ replicas: 2, metrics: hot, autoscaler: autoscaler({ max: 5 }) })
  t.equal(scaleTo(capped), 5)
  t.equal(condition(statusOfPlan(capped), 'ScalingLimited')?.['reason'], 'TooManyReplicas')
  t.equal(scaleTo(run({ replicas: 12, metrics: metricsAt(100) })), 10, 'a target above maxReplicas is brought back')
  t.equal(scaleTo(run({ replicas: 0, metrics: hot })), undefined, 'a target scaled to zero disables autoscaling')
})

t.test('pods without samples or not ready do not push the count too far', async (t) => {
  const metrics = new HollowPodMetrics()
  metrics.setPod('default', 'web-0', { cpuMillicores: 300, memoryBytes: 0 })
  metrics.setPod('default', 'web-1', { cpuMillicores: 300, memoryBytes: 0 })
  // Scale up: ratio 3 over 2 sampled pods, the 2 without samples count as idle: 600/400 → ceil(1.5 × 4).
  t.equal(scaleTo(run({ replicas: 4, pods: pods(4), metrics })), 6)
  const unready = [...pods(2), ...pods(4, { ready: false }).slice(2)]
  for (const pod of unready.slice(2)) metrics.setPod('default', String((pod['metadata'] as JsonObject)['name']), { cpuMillicores: 900, memoryBytes: 0 })
  t.equal(scaleTo(run({ replicas: 4, pods: unready, metrics })), 6, 'unready pods count as idle when scaling up')
  const quiet = new HollowPodMetrics()
  quiet.setPod('default', 'web-0', { cpuMillicores: 10, memoryBytes: 0 })
  quiet.setPod('default', 'web-1', { cpuMillicores: 10, memoryBytes: 0 })
  const down = run({ replicas: 4, pods: pods(4), metrics: quiet, autoscaler: autoscaler({ behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } }) })
  // Scale down: the 2 pods without samples count as at target: (10 + 10 + 200) / 400 → ceil(0.55 × 4), not ceil(0.1 × 2).
  t.equal(scaleTo(down), 3)
})
