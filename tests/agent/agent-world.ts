/**
 * A world for the node agent's loop tests: an in-process API (MemoryObjectBackend, ObjectClient,
 * informers), simulated time (TimersSim), the hollow runtime on that time, a real VolumeManager
 * in a temporary directory, and a PodAgent. Probes come from a controllable fake (`FakeProbes`)
 * that honours the probe manager's contract, so a test can fail a liveness probe at will, or from
 * the real probe manager (`realProbes`).
 *
 * `step(ms)` advances simulated time and then lets the event loop run until the agent and the
 * event recorder are idle (or a bounded number of rounds passed: a sync may be waiting for
 * simulated time, such as a graceful stop). `runUntil` steps until a condition holds.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TimersSim } from '../../lib/timers.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { RuntimeHollow } from '../../runtime/src/hollow-runtime.ts'
import type { HollowEngine } from '../../runtime/src/hollow/engine.ts'
import type { ContainerStatus } from '../../runtime/src/runtime.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { MemoryObjectBackend } from '../../node/src/api/server/memory-backend.ts'
import { ObjectStore, type ResourceRef } from '../../node/src/api/server/object-store.ts'
import { NAMESPACES } from '../../node/src/api/server/resource-refs.ts'
import { informerConfigSources, PodAgent, type PodAgentOptions, type PodProbes, type PodProbesOptions, type PodProbeTarget } from '../../node/src/agent/pod-agent.ts'
import type { ProbeResult } from '../../node/src/agent/pod-actions.ts'
import { ProbeManager } from '../../node/src/agent/probes/probe-manager.ts'
import { VolumeManager } from '../../node/src/agent/volumes/volume-manager.ts'
import { EventRecorder } from '../../node/src/controllers/manager/event-recorder.ts'
import { Informer } from '../../node/src/controllers/manager/informer.ts'
import { ObjectClient } from '../../node/src/controllers/manager/object-client.ts'
import { formatTime, listAt, objectAt, statusOf } from '../../node/src/controllers/object-fields.ts'
import { EVENTS, PODS } from '../../node/src/controllers/plan.ts'

export const CONFIG_MAPS: ResourceRef = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }
export const SECRETS: ResourceRef = { group: '', resource: 'secrets', kind: 'Secret', apiVersion: 'v1', namespaced: true }

const SETTLE_ROUNDS_MAX = 200

/** Probe results a test sets; every container is started and ready unless told otherwise. */
export class FakeProbes implements PodProbes {
  private readonly onChange: (uid: string) => void
  /** uid/name → the container id the results belong to, and the results. */
  private readonly results = new Map<string, { containerId: string; result: ProbeResult }>()
  readonly updates: string[] = []

  constructor(options: PodProbesOptions) {
    this.onChange = (uid) => options.onChange(uid)
  }

  updatePod(pod: JsonObject, running: readonly PodProbeTarget[]): void {
    for (const target of running) {
      const key = `${target.podUid}/${target.containerName}`
      // A new container id resets that container's results, as the probe manager does.
      if (this.results.get(key)?.containerId !== target.containerId) this.results.set(key, { containerId: target.containerId, result: { ready: true, started: true, livenessFailed: false } })
    }
    void pod
  }

  removePod(podUid: string): void {
    for (const key of [...this.results.keys()]) if (key.startsWith(`${podUid}/`)) this.results.delete(key)
  }

  resultOf(podUid: string, containerName: string): ProbeResult {
    return this.results.get(`${podUid}/${containerName}`)?.result ?? { ready: false, started: false, livenessFailed: false }
  }

  /** Sets a container's results (for its current instance) and tells the agent. */
  set(podUid: string, containerName: string, result: Partial<ProbeResult>): void {
    const key = `${podUid}/${containerName}`
    const entry = this.results.get(key)
    if (entry === undefined) throw new Error(`no running container ${key} to set probe results for`)
    entry.result = { ...entry.result, ...result }
    this.onChange(podUid)
  }

  stop(): void {}
}

export interface AgentWorldOptions {
  readonly nodeName?: string
  readonly images?: readonly string[]
  readonly crashBackoffInitialMs?: number
  readonly engine?: HollowEngine
  /** The probe manager of the agent (probes/probe-manager.ts) instead of FakeProbes. */
  readonly realProbes?: boolean
}

export class AgentWorld {
  readonly timers = new TimersSim({ epochMs: Date.UTC(2026, 10, 23, 10, 0, 0) })
  readonly backend = new MemoryObjectBackend({ nowMs: () => this.timers.realtimeMs() })
  readonly objects = new ObjectStore(this.backend, { nowIso: () => formatTime(this.timers.realtimeMs()) })
  readonly logs: string[] = []
  readonly log = (line: string): void => void this.logs.push(line)
  readonly client = new ObjectClient(this.objects, { log: this.log })
  readonly recorder = new EventRecorder(this.client, { log: this.log })
  readonly pods = new Informer({ objects: this.objects, resource: PODS, timers: this.timers, log: this.log })
  readonly configMaps = new Informer({ objects: this.objects, resource: CONFIG_MAPS, timers: this.timers, log: this.log })
  readonly secrets = new Informer({ objects: this.objects, resource: SECRETS, timers: this.timers, log: this.log })
  readonly nodeName: string
  readonly runtime: RuntimeHollow
  readonly rootDir = mkdtempSync(join(tmpdir(), 'flotilla-agent-'))
  readonly volumes: VolumeManager
  agent: PodAgent | undefined
  probes: FakeProbes | undefined
  private readonly options: AgentWorldOptions

  constructor(options: AgentWorldOptions = {}) {
    this.options = options
    this.nodeName = options.nodeName ?? 'node-a'
    this.runtime = new RuntimeHollow({
      nodeName: this.nodeName,
      ...(options.engine === undefined ? { timers: this.timers, random: new RandomXoshiro(7) } : { engine: options.engine }),
      ...(options.images === undefined ? {} : { images: options.images }),
    })
    this.volumes = new VolumeManager({ rootDir: this.rootDir, sources: informerConfigSources(this.configMaps, this.secrets) })
  }

  async start(): Promise<void> {
    for (const name of ['default', 'kube-system']) {
      await this.objects.create(NAMESPACES, undefined, { metadata: { name }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } })
    }
    await Promise.all([this.pods.start(), this.configMaps.start(), this.secrets.start()])
    this.startAgent()
  }

  /** A new agent (a daemon restart keeps the runtime's containers and the API). */
  startAgent(overrides: Partial<PodAgentOptions> = {}): PodAgent {
    const agent = new PodAgent({
      nodeName: this.nodeName,
      hostIp: '192.168.1.10',
      runtime: this.runtime,
      client: this.client,
      recorder: this.recorder,
      pods: this.pods,
      sources: informerConfigSources(this.configMaps, this.secrets),
      volumes: this.volumes,
      probes: (options) => (this.options.realProbes === true ? new ProbeManager(options) : (this.probes = new FakeProbes(options))),
      timers: this.timers,
      log: this.log,
      crashBackoff: { initialMs: this.options.crashBackoffInitialMs ?? 10_000 },
      ...overrides,
    })
    this.agent = agent
    agent.start()
    return agent
  }

  stop(): void {
    this.agent?.stop()
    this.pods.stop()
    this.configMaps.stop()
    this.secrets.stop()
    rmSync(this.rootDir, { recursive: true, force: true })
  }

  /** Lets the event loop run until the agent and the recorder are idle for a few rounds. */
  async settle(): Promise<void> {
    let quiet = 0
    for (let round = 0; round < SETTLE_ROUNDS_MAX && quiet < 3; round++) {
      await new Promise((resolve) => setImmediate(resolve))
      quiet = (this.agent?.idle ?? true) && this.recorder.pending === 0 ? quiet + 1 : 0
    }
  }

  async step(ms = 100): Promise<void> {
    this.timers.advance(ms)
    await this.settle()
  }

  /** Steps until `done` holds; throws after `maxSimMs` of simulated time. */
  async runUntil(what: string, maxSimMs: number, done: () => boolean | Promise<boolean>, stepMs = 100): Promise<number> {
    const startMs = this.timers.monotonicMs()
    await this.settle()
    for (;;) {
      if (await done()) return this.timers.monotonicMs() - startMs
      if (this.timers.monotonicMs() - startMs > maxSimMs) throw new Error(`${what}: not reached within ${maxSimMs} ms of simulated time; agent log:\n${this.logs.join('\n')}`)
      await this.step(stepMs)
    }
  }

  async createPod(pod: JsonObject): Promise<JsonObject> {
    return this.client.create(PODS, 'default', { apiVersion: 'v1', kind: 'Pod', ...pod })
  }

  async pod(name: string): Promise<JsonObject | undefined> {
    try {
      return await this.objects.get(PODS, 'default', name)
    } catch {
      return undefined
    }
  }

  /** The pod's status.containerStatuses entry of `container` (or of an init container). */
  async containerStatus(name: string, container: string): Promise<JsonObject | undefined> {
    const pod = await this.pod(name)
    if (pod === undefined) return undefined
    const status = statusOf(pod)
    return [...listAt(status['containerStatuses']), ...listAt(status['initContainerStatuses'])].map(objectAt).find((entry) => entry['name'] === container)
  }

  async containersOf(podUid: string): Promise<readonly ContainerStatus[]> {
    return this.runtime.listContainers({ podUid })
  }

  /** `reason: message` of the events about the pod, oldest first, with repeat counts. */
  async events(podName: string): Promise<string[]> {
    await this.recorder.flush()
    const { items } = await this.objects.list(EVENTS, 'default')
    return items
      .filter((event) => objectAt(event['involvedObject'])['name'] === podName)
      .sort((a, b) => String(a['firstTimestamp']).localeCompare(String(b['firstTimestamp'])) || String(objectAt(a['metadata'])['name']).localeCompare(String(objectAt(b['metadata'])['name'])))
      .map((event) => `${String(event['reason'])}: ${String(event['message'])}`)
  }
}

/** `waiting:Reason`, `running`, or `terminated:Reason` of a container status. */
export function stateText(status: JsonObject | undefined): string {
  const state = objectAt(status?.['state'])
  const kind = Object.keys(state)[0]
  if (kind === undefined) return 'none'
  const reason = objectAt(state[kind])['reason']
  return reason === undefined ? kind : `${kind}:${String(reason)}`
}
