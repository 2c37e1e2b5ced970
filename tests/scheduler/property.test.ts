// Goal: on random clusters and random pods, every binding the scheduler makes is legal and every
// pod it leaves pending truly fits nowhere; no node is ever over-committed; a seed replays
// exactly. Method: a seeded generator draws nodes (zones, sizes, taints, cordons, labels) and pods
// (requests, selectors, node affinity, tolerations, host ports, pod (anti-)affinity, spread
// constraints); scheduleBatch places them in a few batches; an independent, naive oracle written
// here replays the decisions in order and checks each one against the pods placed before it.
// The seed of a failing case is in the assertion name.
import t from 'tap'
import type { JsonObject, JsonValue } from '../../node/src/api/machinery/canonical.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { FILTER_PLUGIN_NAMES } from '../../node/src/scheduler/framework.ts'
import { DEFAULT_SCHEDULER_PROFILE, schedulerProfile, type SchedulerProfile } from '../../node/src/scheduler/profile.ts'
import { scheduleBatch } from '../../node/src/scheduler/schedule.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { makeNode, makePod } from './fixtures.ts'

const SEEDS = 30
const ZONE = 'topology.kubernetes.io/zone'
const HOSTNAME = 'kubernetes.io/hostname'
const APPS = ['web', 'db', 'cache']
const TAINT_KEYS = ['gpu', 'spot', 'maint']

/** What the generator decided, in plain terms the oracle reads (not the JSON). */
interface NodeModel {
  name: string
  labels: Record<string, string>
  cpuMilli: number
  memoryMi: number
  pods: number
  taints: Array<{ key: string; value: string; effect: string }>
  unschedulable: boolean
}

interface TermModel {
  app: string
  topologyKey: string
}

interface PodModel {
  key: string
  name: string
  namespace: string
  app: string
  cpuMilli: number
  memoryMi: number
  nodeSelector: Record<string, string> | undefined
  /** Required node affinity: one term, expressions ANDed. */
  nodeTerm: Array<{ key: string; operator: string; values?: string[] }> | undefined
  tolerations: Array<{ key?: string; operator: string; value?: string; effect?: string; tolerationSeconds?: number }>
  hostPort: number | undefined
  antiAffinity: TermModel[]
  affinity: TermModel[]
  spread: Array<{ topologyKey: string; maxSkew: number; app: string }>
}

function pick<T>(random: RandomXoshiro, items: readonly T[]): T {
  return items[random.int(0, items.length)] as T
}

function generateNodes(random: RandomXoshiro): NodeModel[] {
  const zones = ['z1', 'z2', 'z3', 'z4'].slice(0, random.int(1, 5))
  return Array.from({ length: random.int(3, 16) }, (_, i) => {
    const name = `n${String(i).padStart(2, '0')}`
    const labels: Record<string, string> = { [HOSTNAME]: name, cores: String(pick(random, [2, 4, 8, 16])) }
    if (!random.chance(0.1)) labels[ZONE] = pick(random, zones)
    if (random.chance(0.5)) labels.disk = pick(random, ['ssd', 'hdd'])
    const taints = random.chance(0.25) ? [{ key: pick(random, TAINT_KEYS), value: 'yes', effect: pick(random, ['NoSchedule', 'NoExecute', 'PreferNoSchedule']) }] : []
    return { name, labels, cpuMilli: pick(random, [1000, 2000, 4000]), memoryMi: pick(random, [1024, 2048, 4096]), pods: random.int(2, 12), taints, unschedulable: random.chance(0.1) }
  })
}

function generatePod(random: RandomXoshiro, index: number): PodModel {
  const app = pick(random, APPS)
  const namespace = random.chance(0.8) ? 'default' : 'other'
  const term = (): TermModel => ({ app: pick(random, APPS), topologyKey: random.chance(0.5) ? HOSTNAME : ZONE })
  return {
    key: `${namespace}/p${index}`,
    name: `p${index}`,
    namespace,
    app,
    cpuMilli: random.chance(0.15) ? 0 : pick(random, [100, 250, 500, 1000]),
    memoryMi: random.chance(0.15) ? 0 : pick(random, [64, 256, 512, 1024]),
    nodeSelector: random.chance(0.15) ? { disk: pick(random, ['ssd', 'hdd']) } : undefined,
    nodeTerm: random.chance(0.15)
      ? [pick(random, [{ key: 'cores', operator: 'Gt', values: ['3'] }, { key: 'disk', operator: 'NotIn', values: ['hdd'] }, { key: ZONE, operator: 'Exists' }, { key: ZONE, operator: 'In', values: ['z1', 'z2'] }])]
      : undefined,
    tolerations: random.chance(0.3) ? [pick(random, [
      { key: pick(random, TAINT_KEYS), operator: 'Exists' },
      { key: pick(random, TAINT_KEYS), operator: 'Equal', value: 'yes', effect: 'NoExecute', tolerationSeconds: 30 },
      { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
      { operator: 'Exists' },
    ])] : [],
    hostPort: random.chance(0.1) ? pick(random, [80, 443]) : undefined,
    antiAffinity: random.chance(0.2) ? [term()] : [],
    affinity: random.chance(0.1) ? [term()] : [],
    spread: random.chance(0.2) ? [{ topologyKey: random.chance(0.7) ? ZONE : HOSTNAME, maxSkew: random.int(1, 3), app: random.chance(0.8) ? app : pick(random, APPS) }] : [],
  }
}

function nodeObject(model: NodeModel): JsonObject {
  const node = makeNode(model.name, { cpu: `${model.cpuMilli}m`, memory: `${model.memoryMi}Mi`, pods: model.pods, labels: model.labels, taints: model.taints, unschedulable: model.unschedulable })
  return node
}

function podObject(model: PodModel): JsonObject {
  const selector = (app: string): JsonObject => ({ matchLabels: { app } })
  const affinity: JsonObject = {}
  if (model.nodeTerm !== undefined) affinity.nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: model.nodeTerm as JsonValue[] }] } }
  if (model.antiAffinity.length > 0) affinity.podAntiAffinity = { requiredDuringSchedulingIgnoredDuringExecution: model.antiAffinity.map((term) => ({ labelSelector: selector(term.app), topologyKey: term.topologyKey })) }
  if (model.affinity.length > 0) affinity.podAffinity = { requiredDuringSchedulingIgnoredDuringExecution: model.affinity.map((term) => ({ labelSelector: selector(term.app), topologyKey: term.topologyKey })) }
  const options: Parameters<typeof makePod>[1] = { namespace: model.namespace, labels: { app: model.app }, tolerations: model.tolerations as JsonValue[] }
  if (model.cpuMilli > 0) options.cpu = `${model.cpuMilli}m`
  if (model.memoryMi > 0) options.memory = `${model.memoryMi}Mi`
  if (model.nodeSelector !== undefined) options.nodeSelector = model.nodeSelector
  if (Object.keys(affinity).length > 0) options.affinity = affinity
  if (model.hostPort !== undefined) options.hostPorts = [model.hostPort]
  if (model.spread.length > 0) {
    options.topologySpreadConstraints = model.spread.map((constraint) => ({ maxSkew: constraint.maxSkew, topologyKey: constraint.topologyKey, whenUnsatisfiable: 'DoNotSchedule', labelSelector: selector(constraint.app) }))
  }
  return makePod(model.name, options)
}

// ---- The oracle: the filters' rules, written naively and independently of the plugins ----

interface Placed {
  pod: PodModel
  node: NodeModel
}

function tolerates(pod: PodModel, taint: { key: string; value: string; effect: string }): boolean {
  return pod.tolerations.some((toleration) => {
    if (toleration.effect !== undefined && toleration.effect !== '' && toleration.effect !== taint.effect) return false
    if (toleration.key !== undefined && toleration.key !== '' && toleration.key !== taint.key) return false
    return toleration.operator === 'Exists' || toleration.value === taint.value
  })
}

function nodeSelectionAllows(pod: PodModel, node: NodeModel): boolean {
  for (const [key, value] of Object.entries(pod.nodeSelector ?? {})) if (node.labels[key] !== value) return false
  for (const expression of pod.nodeTerm ?? []) {
    const label = node.labels[expression.key]
    const values = expression.values ?? []
    const ok = expression.operator === 'In' ? label !== undefined && values.includes(label)
      : expression.operator === 'NotIn' ? label === undefined || !values.includes(label)
      : expression.operator === 'Exists' ? label !== undefined
      : label !== undefined && /^\d+$/.test(label) && Number(label) > Number(values[0])
    if (!ok) return false
  }
  return true
}

function matches(pod: PodModel, namespace: string, app: string): boolean {
  return pod.namespace === namespace && pod.app === app
}

function sameDomain(a: NodeModel, b: NodeModel, key: string): boolean {
  return a.labels[key] !== undefined && a.labels[key] === b.labels[key]
}

/** Why `pod` may not go on `node` given the pods placed so far (undefined: it may). */
function illegal(pod: PodModel, node: NodeModel, placed: readonly Placed[], nodes: readonly NodeModel[]): string | undefined {
  if (node.unschedulable && !tolerates(pod, { key: 'node.kubernetes.io/unschedulable', value: '', effect: 'NoSchedule' })) return 'cordoned'
  if (node.taints.some((taint) => taint.effect !== 'PreferNoSchedule' && !tolerates(pod, taint))) return 'taint'
  if (!nodeSelectionAllows(pod, node)) return 'node selection'
  const onNode = placed.filter((item) => item.node === node)
  if (pod.hostPort !== undefined && onNode.some((item) => item.pod.hostPort === pod.hostPort)) return 'port'
  if (onNode.length + 1 > node.pods) return 'pods'
  if (pod.cpuMilli > 0 && onNode.reduce((sum, item) => sum + item.pod.cpuMilli, 0) + pod.cpuMilli > node.cpuMilli) return 'cpu'
  if (pod.memoryMi > 0 && onNode.reduce((sum, item) => sum + item.pod.memoryMi, 0) + pod.memoryMi > node.memoryMi) return 'memory'
  for (const constraint of pod.spread) {
    if (node.labels[constraint.topologyKey] === undefined) return 'spread label'
    const eligible = nodes.filter((candidate) => pod.spread.every((c) => candidate.labels[c.topologyKey] !== undefined) && nodeSelectionAllows(pod, candidate))
    const counts = new Map<string, number>()
    for (const candidate of eligible) counts.set(candidate.labels[constraint.topologyKey] as string, 0)
    for (const item of placed) {
      const value = item.node.labels[constraint.topologyKey]
      if (value !== undefined && counts.has(value) && eligible.includes(item.node) && matches(item.pod, pod.namespace, constraint.app)) counts.set(value, (counts.get(value) ?? 0) + 1)
    }
    const minimum = counts.size === 0 ? 0 : Math.min(...counts.values())
    const self = pod.app === constraint.app ? 1 : 0
    if ((counts.get(node.labels[constraint.topologyKey] as string) ?? 0) + self - minimum > constraint.maxSkew) return 'spread skew'
  }
  if (pod.affinity.length > 0) {
    if (pod.affinity.some((term) => node.labels[term.topologyKey] === undefined)) return 'affinity label'
    const matchesAll = (other: PodModel) => pod.affinity.every((term) => matches(other, pod.namespace, term.app))
    const partners = placed.filter((item) => matchesAll(item.pod))
    const satisfied = pod.affinity.every((term) => partners.some((item) => sameDomain(item.node, node, term.topologyKey)))
    const anyPair = pod.affinity.some((term) => partners.some((item) => item.node.labels[term.topologyKey] !== undefined))
    if (!satisfied && (anyPair || !matchesAll(pod))) return 'affinity'
  }
  for (const term of pod.antiAffinity) {
    if (placed.some((item) => matches(item.pod, pod.namespace, term.app) && sameDomain(item.node, node, term.topologyKey))) return 'anti-affinity'
  }
  for (const item of placed) {
    for (const term of item.pod.antiAffinity) {
      if (matches(pod, item.pod.namespace, term.app) && sameDomain(item.node, node, term.topologyKey)) return 'existing anti-affinity'
    }
  }
  return undefined
}

function runScenario(seed: number, profile: SchedulerProfile = DEFAULT_SCHEDULER_PROFILE): { placements: string[]; failures: string[]; errors: string[] } {
  const random = new RandomXoshiro(seed)
  const nodes = generateNodes(random)
  const pods = Array.from({ length: random.int(20, 80) }, (_, i) => generatePod(random, i))
  const snapshot = ClusterSnapshot.from({ nodes: nodes.map(nodeObject) })
  const byName = new Map(nodes.map((node) => [node.name, node]))
  const placed: Placed[] = []
  const placements: string[] = []
  const failures: string[] = []
  const errors: string[] = []
  const batchSize = random.int(5, 40)
  for (let offset = 0; offset < pods.length; offset += batchSize) {
    const batch = pods.slice(offset, offset + batchSize)
    const result = scheduleBatch(batch.map(podObject), snapshot, seed * 1000 + offset, profile)
    const boundTo = new Map(result.bindings.map((binding) => [binding.pod.key, binding.nodeName]))
    const failed = new Map(result.failures.map((failure) => [failure.key, failure.failure]))
    for (const pod of batch) {
      const nodeName = boundTo.get(pod.key)
      if (nodeName !== undefined) {
        const node = byName.get(nodeName) as NodeModel
        const why = illegal(pod, node, placed, nodes)
        if (why !== undefined) errors.push(`${pod.key} bound to ${nodeName} although ${why}`)
        placed.push({ pod, node })
        placements.push(`${pod.key}@${nodeName}`)
        continue
      }
      const failure = failed.get(pod.key)
      if (failure === undefined) {
        errors.push(`${pod.key} neither bound nor failed`)
        continue
      }
      const legal = nodes.filter((node) => illegal(pod, node, placed, nodes) === undefined).map((node) => node.name)
      if (legal.length > 0) errors.push(`${pod.key} failed ("${failure.message}") although it fits ${legal.join(', ')}`)
      if (!failure.message.startsWith(`0/${nodes.length} nodes are available: `)) errors.push(`${pod.key}: unexpected message "${failure.message}"`)
      const reasonsCounted = [...failure.reasons.values()].reduce((sum, count) => sum + count, 0)
      if (reasonsCounted < nodes.length) errors.push(`${pod.key}: ${reasonsCounted} reasons for ${nodes.length} nodes`)
      failures.push(`${pod.key}: ${failure.message}`)
    }
  }
  for (const node of snapshot.nodes()) {
    const model = byName.get(node.name) as NodeModel
    if (node.requested.milliCpu > model.cpuMilli || node.requested.memoryBytes > model.memoryMi * 1024 * 1024 || node.pods.size > model.pods) {
      errors.push(`${node.name} is over-committed`)
    }
  }
  return { placements, failures, errors }
}

t.test('random clusters: every binding is legal, every failure fits nowhere, nothing over-commits', async (t) => {
  let bound = 0
  let failed = 0
  for (let seed = 1; seed <= SEEDS; seed++) {
    const { placements, failures, errors } = runScenario(seed)
    t.same(errors, [], `seed ${seed}: ${placements.length} bound, ${failures.length} pending`)
    bound += placements.length
    failed += failures.length
  }
  // The generator must exercise both outcomes, or the property says little.
  t.ok(bound > SEEDS * 10, `${bound} bindings checked`)
  t.ok(failed > SEEDS / 2, `${failed} failures checked`)
})

t.test('random clusters: a seed replays the same decisions', async (t) => {
  for (const seed of [3, 17]) {
    const first = runScenario(seed)
    const second = runScenario(seed)
    t.same(second.placements, first.placements, `seed ${seed} placements`)
    t.same(second.failures, first.failures, `seed ${seed} failures`)
  }
})

t.test('the oracle is strong enough to notice a scheduler that skips any one filter', async (t) => {
  // NodeName only matters for pods that name a node, and VolumeBinding for pods with claims, which
  // the generator does not draw (volume-binding.test.ts covers VolumeBinding).
  for (const name of FILTER_PLUGIN_NAMES.filter((filter) => filter !== 'NodeName' && filter !== 'VolumeBinding')) {
    const sabotaged = schedulerProfile({ disabledFilters: [name] })
    let caught: number | undefined
    for (let seed = 1; seed <= SEEDS && caught === undefined; seed++) {
      if (runScenario(seed, sabotaged).errors.length > 0) caught = seed
    }
    t.ok(caught !== undefined, `without ${name} the oracle objects (first at seed ${caught})`)
  }
})
