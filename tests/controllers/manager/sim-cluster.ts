/**
 * A simulated cluster for the controller manager: one in-process store (MemoryObjectBackend, no
 * Raft), simulated time (TimersSim), a hollow agent per simulated node, gossip liveness as a table
 * the test controls, and one or more ControllerManagers whose leadership the test decides.
 * Everything random comes from one seed: print it, and FLOTILLA_SIM_SEED=<n> replays a run.
 *
 * `step()` advances simulated time by one tick, lets every node that is alive "gossip" (its
 * last-heard time moves), and then lets the event loop run until managers, agents and event
 * writes are all idle — so an assertion after a step sees a settled world.
 */
import { assert } from '../../../lib/assert.ts'
import { RandomXoshiro, type Random } from '../../../lib/random.ts'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../../node/src/api/server/object-store.ts'
import { NAMESPACES } from '../../../node/src/api/server/resource-refs.ts'
import { ensureDefaultStorageClass } from '../../../node/src/api/server/default-storage-class.ts'
import { HollowAgent } from '../../../node/src/agent/hollow-agent.ts'
import { HOLLOW_RUNTIME_VERSION } from '../../../node/src/agent/hollow-pod-status.ts'
import { registerNode, type NodeFacts } from '../../../node/src/agent/node-registration.ts'
import { ControllerManager, type ControllerManagerOptions } from '../../../node/src/controllers/manager/controller-manager.ts'
import { EventRecorder } from '../../../node/src/controllers/manager/event-recorder.ts'
import { Informer } from '../../../node/src/controllers/manager/informer.ts'
import { ObjectClient } from '../../../node/src/controllers/manager/object-client.ts'
import { NODES } from '../../../node/src/controllers/manager/shared-informers.ts'
import { TimersSim } from '../../../lib/timers.ts'
import { controllerRefOf, formatTime, metadataOf, nameOf, specOf, statusOf, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { DEPLOYMENTS, EVENTS, PODS, REPLICA_SETS } from '../../../node/src/controllers/plan.ts'

/** The seed of a run: FLOTILLA_SIM_SEED when set, else `fallback`. */
export function simSeed(fallback: number): number {
  const fromEnv = process.env['FLOTILLA_SIM_SEED']
  return fromEnv === undefined ? fallback : Number(fromEnv)
}

export interface SimNodeOptions {
  readonly name: string
  readonly zone: string
  readonly cpuCount?: number
  readonly memoryBytes?: number
  readonly pods?: number
}

interface SimNode {
  readonly facts: NodeFacts
  agent: HollowAgent | undefined
  alive: boolean
  lastHeardMs: number
}

/** What a simulated leader is told about its node's role. */
export interface SimLeadership {
  isLeader: boolean
  term: number
}

export interface SimClusterOptions {
  readonly seed: number
  /** Simulated milliseconds per step (default 100). */
  readonly stepMs?: number
  /** Container start delay of the hollow agents (default 100–1500 ms). */
  readonly startDelayMs?: { readonly min: number; readonly max: number }
  /** Overrides for every manager. */
  readonly manager?: Partial<ControllerManagerOptions>
}

const SETTLE_ROUNDS_MAX = 10_000

export class SimCluster {
  readonly seed: number
  readonly random: Random
  readonly timers: TimersSim
  readonly backend: MemoryObjectBackend
  readonly objects: ObjectStore
  /** The users' and agents' client (not fenced: they are not controllers). */
  readonly client: ObjectClient
  readonly recorder: EventRecorder
  readonly log: string[] = []
  private readonly options: SimClusterOptions
  private readonly podInformer: Informer
  private readonly nodes = new Map<string, SimNode>()
  readonly managers: Array<{ manager: ControllerManager; leadership: SimLeadership; name: string }> = []
  private nodeIndex = 0

  constructor(options: SimClusterOptions) {
    this.options = options
    this.seed = options.seed
    this.random = new RandomXoshiro(options.seed)
    this.timers = new TimersSim()
    const timers = this.timers
    this.backend = new MemoryObjectBackend({ nowMs: () => timers.realtimeMs() })
    this.objects = new ObjectStore(this.backend, { nowIso: () => formatTime(timers.realtimeMs()) })
    const log = (line: string): void => void this.log.push(`${timers.monotonicMs()} ${line}`)
    this.client = new ObjectClient(this.objects, { log })
    this.recorder = new EventRecorder(this.client, { log })
    this.podInformer = new Informer({ objects: this.objects, resource: PODS, timers, log })
  }

  /** Creates the system namespaces and the default StorageClass, as a founding node does, and starts the agents' shared pod informer. */
  async start(): Promise<void> {
    for (const name of ['default', 'kube-system']) {
      await this.objects.create(NAMESPACES, undefined, { metadata: { name }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } })
    }
    await ensureDefaultStorageClass(this.objects)
    await this.podInformer.start()
  }

  /** Adds a node: registers its Node object and starts its hollow agent; it is alive. */
  async addNode(options: SimNodeOptions): Promise<void> {
    const index = this.nodeIndex++
    const facts: NodeFacts = {
      name: options.name,
      zone: options.zone,
      internalIp: `192.168.${Math.floor(index / 250)}.${(index % 250) + 1}`,
      hostname: options.name,
      cpuCount: options.cpuCount ?? 4,
      memoryBytes: options.memoryBytes ?? 16 * 1024 ** 3,
      pods: options.pods ?? 110,
      architecture: 'amd64',
      osImage: 'Simulated Linux',
      kernelVersion: '6.0.0-sim',
      containerRuntimeVersion: HOLLOW_RUNTIME_VERSION,
    }
    await registerNode(this.client, facts, formatTime(this.timers.realtimeMs()))
    const node: SimNode = { facts, agent: undefined, alive: true, lastHeardMs: this.timers.monotonicMs() }
    this.nodes.set(options.name, node)
    this.startAgent(node)
  }

  private startAgent(node: SimNode): void {
    const agent = new HollowAgent({
      client: this.client,
      recorder: this.recorder,
      nodeName: node.facts.name,
      pods: this.podInformer,
      timers: this.timers,
      random: this.random,
      log: (line) => void this.log.push(`${this.timers.monotonicMs()} ${line}`),
      startDelayMs: this.options.startDelayMs ?? { min: 100, max: 1500 },
    })
    node.agent = agent
    agent.start()
  }

  /** Kills a node: its agent stops and it is no longer heard from. */
  killNode(name: string): void {
    const node = this.nodes.get(name)
    assert(node !== undefined, `node ${name} exists`)
    node.agent?.stop()
    node.agent = undefined
    node.alive = false
  }

  /** Brings a killed node back (a new agent, heard again). */
  reviveNode(name: string): void {
    const node = this.nodes.get(name)
    assert(node !== undefined && !node.alive, `node ${name} exists and is dead`)
    node.alive = true
    node.lastHeardMs = this.timers.monotonicMs()
    this.startAgent(node)
  }

  nodeNames(): string[] {
    return [...this.nodes.keys()].sort()
  }

  isAlive(name: string): boolean {
    return this.nodes.get(name)?.alive === true
  }

  /** Adds a controller manager with its own leadership switch (not leading until told). */
  addManager(name: string, leadership: SimLeadership = { isLeader: false, term: 0 }): { manager: ControllerManager; leadership: SimLeadership } {
    const log = (line: string): void => void this.log.push(`${this.timers.monotonicMs()} [${name}] ${line}`)
    const manager = new ControllerManager({
      backend: this.backend,
      leadership: { status: () => ({ isLeader: leadership.isLeader, term: leadership.term }) },
      liveness: { silentForMs: (nodeName) => this.silentForMs(nodeName) },
      timers: this.timers,
      random: this.random,
      log,
      identity: name,
      ...(this.nodes.has(name) ? { selfNodeName: name } : {}),
      ...this.options.manager,
    })
    const entry = { manager, leadership, name }
    this.managers.push(entry)
    manager.start()
    return entry
  }

  private silentForMs(nodeName: string): number {
    const node = this.nodes.get(nodeName)
    return node === undefined ? Number.POSITIVE_INFINITY : this.timers.monotonicMs() - node.lastHeardMs
  }

  /** One tick: time moves, alive nodes are heard, and the world settles. */
  async step(ms = this.options.stepMs ?? 100): Promise<void> {
    this.timers.advance(ms)
    for (const node of this.nodes.values()) if (node.alive) node.lastHeardMs = this.timers.monotonicMs()
    await this.settle()
  }

  /** Lets the event loop run until every manager, agent and event write is idle. */
  async settle(): Promise<void> {
    let quiet = 0
    for (let round = 0; round < SETTLE_ROUNDS_MAX; round++) {
      await new Promise((resolve) => setImmediate(resolve))
      const idle =
        this.managers.every(({ manager }) => manager.idle) &&
        [...this.nodes.values()].every((node) => node.agent === undefined || node.agent.idle) &&
        this.recorder.pending === 0
      quiet = idle ? quiet + 1 : 0
      if (quiet >= 3) return
    }
    throw new Error(`seed ${this.seed}: the simulated cluster did not settle`)
  }

  /** Steps until `done` returns true; throws after `maxSimMs` of simulated time. */
  async runUntil(what: string, maxSimMs: number, done: () => boolean | Promise<boolean>, onStep: () => void | Promise<void> = () => {}): Promise<number> {
    const startMs = this.timers.monotonicMs()
    for (;;) {
      if (await done()) return this.timers.monotonicMs() - startMs
      if (this.timers.monotonicMs() - startMs > maxSimMs) throw new Error(`seed ${this.seed}: ${what}: not done after ${maxSimMs} simulated ms\n${this.log.slice(-30).join('\n')}`)
      await this.step()
      await onStep()
    }
  }

  stop(): void {
    for (const { manager } of this.managers) manager.stop()
    for (const node of this.nodes.values()) node.agent?.stop()
    this.podInformer.stop()
  }

  // --- What users do --------------------------------------------------------------------------

  /** Creates a Deployment of `replicas` pods running `image` (each requesting `cpu`). */
  async createDeployment(options: { name: string; replicas: number; image?: string; cpu?: string; maxSurge?: number | string; maxUnavailable?: number | string; namespace?: string }): Promise<JsonObject> {
    const container: JsonObject = { name: 'app', image: options.image ?? 'app:v1' }
    if (options.cpu !== undefined) container['resources'] = { requests: { cpu: options.cpu } }
    const spec: JsonObject = {
      replicas: options.replicas,
      selector: { matchLabels: { app: options.name } },
      template: { metadata: { labels: { app: options.name } }, spec: { containers: [container] } },
    }
    if (options.maxSurge !== undefined || options.maxUnavailable !== undefined) {
      spec['strategy'] = { type: 'RollingUpdate', rollingUpdate: { maxSurge: options.maxSurge ?? '25%', maxUnavailable: options.maxUnavailable ?? '25%' } }
    }
    return this.client.create(DEPLOYMENTS, options.namespace ?? 'default', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: options.name }, spec })
  }

  /** `kubectl set image` on the Deployment's first container. */
  async setImage(name: string, image: string): Promise<void> {
    await this.updateDeploymentSpec(name, (spec) => {
      const template = spec['template'] as JsonObject
      const podSpec = template['spec'] as JsonObject
      const containers = (podSpec['containers'] as JsonObject[]).map((container, index) => (index === 0 ? { ...container, image } : container))
      return { ...spec, template: { ...template, spec: { ...podSpec, containers } } }
    })
  }

  /** `kubectl scale`. */
  async scale(name: string, replicas: number): Promise<void> {
    await this.updateDeploymentSpec(name, (spec) => ({ ...spec, replicas }))
  }

  private async updateDeploymentSpec(name: string, change: (spec: JsonObject) => JsonObject): Promise<void> {
    const deployment = await this.client.get(DEPLOYMENTS, 'default', name)
    await this.client.update(DEPLOYMENTS, 'default', name, { ...deployment, spec: change(specOf(deployment)) })
  }

  // --- What the tests look at -----------------------------------------------------------------

  async pods(): Promise<JsonObject[]> {
    return (await this.objects.list(PODS, undefined)).items
  }

  async nodesObjects(): Promise<JsonObject[]> {
    return (await this.objects.list(NODES, undefined)).items
  }

  async node(name: string): Promise<JsonObject> {
    return this.objects.get(NODES, undefined, name)
  }

  async deployment(name: string): Promise<JsonObject> {
    return this.objects.get(DEPLOYMENTS, 'default', name)
  }

  async events(): Promise<JsonObject[]> {
    return (await this.objects.list(EVENTS, undefined)).items
  }

  /** The pods a Deployment owns through its ReplicaSets. */
  async podsOf(deploymentName: string): Promise<JsonObject[]> {
    const deployment = await this.deployment(deploymentName)
    const replicaSets = (await this.objects.list(REPLICA_SETS, 'default')).items.filter((rs) => controllerRefOf(rs)?.['uid'] === uidOf(deployment))
    const owners = new Set(replicaSets.map(uidOf))
    return (await this.pods()).filter((pod) => owners.has(String(controllerRefOf(pod)?.['uid'] ?? '')))
  }

  /** True when the Deployment's status and pods show `replicas` available pods and nothing else. */
  async converged(name: string): Promise<boolean> {
    const deployment = await this.deployment(name)
    const replicas = Number(specOf(deployment)['replicas'])
    const status = statusOf(deployment)
    if (status['availableReplicas'] !== replicas && !(replicas === 0 && status['availableReplicas'] === undefined)) return false
    if (Number(status['replicas'] ?? 0) !== replicas || Number(status['updatedReplicas'] ?? 0) !== replicas) return false
    if (Number(status['observedGeneration'] ?? 0) < Number(metadataOf(deployment)['generation'] ?? 1)) return false
    const pods = await this.podsOf(name)
    return pods.length === replicas && pods.every((pod) => statusOf(pod)['phase'] === 'Running' && this.isAlive(String(specOf(pod)['nodeName'])))
  }
}

/** A pod's node. */
export function nodeOf(pod: JsonObject): string {
  return String(specOf(pod)['nodeName'] ?? '')
}

/** True when the pod's Ready condition is True. */
export function isReady(pod: JsonObject): boolean {
  const conditions = (statusOf(pod)['conditions'] ?? []) as JsonObject[]
  return conditions.some((condition) => condition['type'] === 'Ready' && condition['status'] === 'True')
}

export { nameOf }
