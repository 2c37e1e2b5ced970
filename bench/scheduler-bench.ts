/**
 * Scheduler benchmark: the pure scheduler (node/src/scheduler/) placing the pods of one large
 * Deployment on hollow nodes, in process, with no API server or Raft in the loop.
 *
 *   ./run node bench/scheduler-bench.ts [--nodes 1000] [--pods 10000] [--batch 500] [--seed 1]
 *       [--scenario all|plain|most-allocated|zone-spread|anti-affinity|sampled]
 *
 * For each scenario: 1,000 nodes (4 cpu, 16Gi, 110 pods, 3 zones) and a 10,000-replica
 * Deployment (100m cpu, 128Mi each). The clock starts when the pods are handed to the scheduler as
 * Pod objects and stops when every pod has a binding and its writes (pod update, Binding, Event):
 * that is the "Deployment to all pods bound" time, minus the Raft commits the controller adds.
 * Pods bound per second = pods / that time. The process CPU time is printed beside it, since on a
 * shared machine the wall clock also measures the neighbours. Prints figures only; judges nothing.
 */
import { parseArgs } from 'node:util'
import type { JsonObject, JsonValue } from '../node/src/api/machinery/canonical.ts'
import { schedulerProfile, type SchedulerConfigOverrides } from '../node/src/scheduler/profile.ts'
import { scheduleBatch } from '../node/src/scheduler/schedule.ts'
import { batchWrites } from '../node/src/scheduler/scheduling-writes.ts'
import { ClusterSnapshot } from '../node/src/scheduler/snapshot.ts'
import { makeNodes, makePod } from '../tests/scheduler/fixtures.ts'

interface Scenario {
  readonly name: string
  readonly what: string
  readonly config: SchedulerConfigOverrides
  readonly spec: { affinity?: JsonObject; topologySpreadConstraints?: JsonValue[] }
}

const SELECTOR = { matchLabels: { app: 'web' } }

const SCENARIOS: readonly Scenario[] = [
  { name: 'plain', what: 'LeastAllocated, every node scored', config: {}, spec: {} },
  { name: 'most-allocated', what: 'MostAllocated (bin-packing)', config: { scoringStrategy: 'MostAllocated' }, spec: {} },
  {
    name: 'zone-spread',
    what: 'zone spread maxSkew 1 DoNotSchedule + hostname ScheduleAnyway',
    config: {},
    spec: {
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: SELECTOR },
        { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: SELECTOR },
      ],
    },
  },
  {
    name: 'anti-affinity',
    what: 'preferred pod anti-affinity by hostname',
    config: {},
    spec: {
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: SELECTOR, topologyKey: 'kubernetes.io/hostname' } }],
        },
      },
    },
  },
  { name: 'sampled', what: "kube's adaptive percentageOfNodesToScore", config: { percentageOfNodesToScore: 0 }, spec: {} },
]

function deploymentPods(count: number, spec: Scenario['spec']): JsonObject[] {
  return Array.from({ length: count }, (_, i) => {
    const pod = makePod(`web-${i}`, { labels: { app: 'web', 'pod-template-hash': 'abc123' }, cpu: '100m', memory: '128Mi', uid: `uid-${i}` })
    Object.assign(pod.spec as JsonObject, spec)
    return pod
  })
}

function run(scenario: Scenario, options: { nodes: number; pods: number; batch: number; seed: number }): void {
  const snapshot = ClusterSnapshot.from({ nodes: makeNodes(options.nodes, { cpu: '4', memory: '16Gi', pods: 110, zones: ['z1', 'z2', 'z3'] }) })
  const profile = schedulerProfile(scenario.config)
  const pods = deploymentPods(options.pods, scenario.spec)
  const now = new Date()
  let bound = 0
  let failed = 0
  const started = performance.now()
  const cpuStarted = process.cpuUsage()
  for (let offset = 0; offset < pods.length; offset += options.batch) {
    const result = scheduleBatch(pods.slice(offset, offset + options.batch), snapshot, options.seed, profile)
    batchWrites(result, { now })
    bound += result.bindings.length
    failed += result.failures.length
  }
  const elapsedMs = performance.now() - started
  const cpu = process.cpuUsage(cpuStarted)
  const cpuMs = (cpu.user + cpu.system) / 1000
  const perNode = [...snapshot.nodes()].map((node) => node.pods.size)
  const rate = Math.round(bound / (elapsedMs / 1000))
  console.log(
    `${scenario.name.padEnd(15)} ${String(bound).padStart(6)} bound ${String(failed).padStart(5)} failed  ` +
      `${(elapsedMs / 1000).toFixed(2).padStart(6)} s  ${String(rate).padStart(6)} pods/s  ` +
      `(cpu ${(cpuMs / 1000).toFixed(2)} s, ${Math.round(bound / (cpuMs / 1000))} pods per cpu-s)  ` +
      `pods per node ${Math.min(...perNode)}–${Math.max(...perNode)}   (${scenario.what})`,
  )
}

function main(): void {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '1000' },
      pods: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '500' },
      seed: { type: 'string', default: '1' },
      scenario: { type: 'string', default: 'all' },
    },
  })
  const options = { nodes: Number(values.nodes), pods: Number(values.pods), batch: Number(values.batch), seed: Number(values.seed) }
  const chosen = values.scenario === 'all' ? SCENARIOS : SCENARIOS.filter((scenario) => scenario.name === values.scenario)
  if (chosen.length === 0) throw new RangeError(`Unknown scenario "${values.scenario}": expected all or one of ${SCENARIOS.map((s) => s.name).join(', ')}`)
  console.log(`scheduler: ${options.nodes} nodes, a ${options.pods}-replica Deployment, batches of ${options.batch}, seed ${options.seed}, node ${process.version}`)
  for (const scenario of chosen) run(scenario, options)
}

main()
