/**
 * The controllers benchmark's in-process path: ObjectStore over MemoryObjectBackend (no Raft, no
 * HTTP), the ControllerManager as leader of term 1 on real timers (TimersOs), the hollow Node
 * objects registered as a kubelet would, then one Deployment created through the same client the
 * API uses. A pod informer in the same process watches pods appear and get bound.
 *
 * Every node is reported alive to the node lifecycle controller (they have no agents; see
 * controllers-shape.ts), so nothing is tainted or evicted while the pods are placed.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { RandomXoshiro } from '../lib/random.ts'
import { MemoryObjectBackend } from '../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../node/src/api/server/object-store.ts'
import { NAMESPACES } from '../node/src/api/server/resource-refs.ts'
import { registerNode } from '../node/src/agent/node-registration.ts'
import { ControllerManager } from '../node/src/controllers/manager/controller-manager.ts'
import { Informer } from '../node/src/controllers/manager/informer.ts'
import { ObjectClient } from '../node/src/controllers/manager/object-client.ts'
import { TimersOs } from '../lib/timers.ts'
import { formatTime, objectAt, specOf } from '../node/src/controllers/object-fields.ts'
import { DEPLOYMENTS, PODS } from '../node/src/controllers/plan.ts'
import { sleep } from './processes.ts'
import { benchDeployment, BindingTracker, bindingDeadlineMs, DEPLOYMENT_NAME, DEPLOYMENT_NAMESPACE, hollowNodeFacts, type ControllersPathResult } from './controllers-shape.ts'

const runFile = promisify(execFile)

/** How long to wait for the manager to take the fence and start its controllers. */
const MANAGER_START_DEADLINE_MS = 30_000
/** Log lines kept for the error message when the run fails. */
const LOG_TAIL_LINES = 20

export interface InProcessOptions {
  readonly nodes: number
  readonly replicas: number
  readonly seed: number
  /**
   * Scheduler only: the Deployment's pods are created as pending Pod objects before the manager
   * starts (no Deployment, no ReplicaSet), and the clock starts with the manager, as
   * kube-scheduler's scheduler_perf measures. Otherwise the full path from the Deployment.
   */
  readonly schedulerOnly?: boolean
}

/** Runs the in-process path once; failures are reported in `error`, not thrown. */
export async function benchInProcess(options: InProcessOptions): Promise<ControllersPathResult> {
  const notes = [
    'ObjectStore over MemoryObjectBackend (no Raft, no HTTP); ControllerManager leader of term 1, real timers',
    `${options.nodes} Node objects registered directly, all reported alive; no agents (pods are bound, never started)`,
    'CPU and max RSS: the whole process running this path (controllers, store, and the pod informer that measures)',
  ]
  if (options.schedulerOnly === true) {
    notes.push(`scheduler only: ${options.replicas} pending pods created before the manager starts; the clock starts with the manager: its fence, its informers' lists (pods included), then every scheduling batch (up to 1,000 pods, writes in flight together); the binding-phase rate is not given (it would time one burst of writes)`)
  }
  const base = { path: options.schedulerOnly === true ? 'in process, scheduler only' : 'in process', notes, nodes: options.nodes, replicas: options.replicas }
  const logTail: string[] = []
  const log = (line: string): void => {
    logTail.push(line)
    if (logTail.length > LOG_TAIL_LINES) logTail.shift()
  }
  const timers = new TimersOs()
  const backend = new MemoryObjectBackend()
  const objects = new ObjectStore(backend, { nowIso: () => formatTime(timers.realtimeMs()) })
  const client = new ObjectClient(objects, { log })
  const manager = new ControllerManager({
    backend,
    leadership: { status: () => ({ isLeader: true, term: 1 }) },
    liveness: { silentForMs: () => 0 },
    timers,
    random: new RandomXoshiro(options.seed),
    log,
    identity: 'bench-manager',
  })
  const tracker = new BindingTracker(options.replicas)
  const pods = new Informer({ objects, resource: PODS, timers, log })
  pods.addHandlers({ onAdd: (pod) => tracker.observe(pod), onUpdate: (_previous, pod) => tracker.observe(pod) })
  try {
    const setupStartMs = performance.now()
    for (const name of ['default', 'kube-system']) {
      await objects.create(NAMESPACES, undefined, { metadata: { name }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } })
    }
    const nowText = formatTime(timers.realtimeMs())
    for (let index = 0; index < options.nodes; index++) await registerNode(client, hollowNodeFacts(index), nowText)
    if (options.schedulerOnly === true) {
      const template = objectAt(specOf(benchDeployment(options.replicas))['template'])
      for (let index = 0; index < options.replicas; index++) {
        await client.create(PODS, DEPLOYMENT_NAMESPACE, { apiVersion: 'v1', kind: 'Pod', metadata: { ...objectAt(template['metadata']), name: `${DEPLOYMENT_NAME}-${index}` }, spec: objectAt(template['spec']) })
      }
    }
    await pods.start()
    let setupMs = performance.now() - setupStartMs
    let cpuStart = process.cpuUsage()
    if (options.schedulerOnly === true) tracker.start()
    manager.start()
    const managerDeadlineMs = performance.now() + MANAGER_START_DEADLINE_MS
    while (!manager.running) {
      if (performance.now() > managerDeadlineMs) throw new Error(`the controller manager did not start within ${MANAGER_START_DEADLINE_MS} ms`)
      await sleep(5)
    }
    if (options.schedulerOnly !== true) {
      setupMs = performance.now() - setupStartMs
      cpuStart = process.cpuUsage()
      tracker.start()
      await client.create(DEPLOYMENTS, DEPLOYMENT_NAMESPACE, benchDeployment(options.replicas))
    }
    await tracker.waitDone(bindingDeadlineMs(options.replicas), base.path)
    const cpu = process.cpuUsage(cpuStart)
    const { bindingPhasePodsPerSecond, ...figures } = tracker.figures()
    return {
      ...base,
      ...figures,
      // The scheduler binds a batch of up to 1,000 pods with all its writes in flight at once, so
      // with every pod pending from the start, first-to-last binding times a burst of writes.
      ...(options.schedulerOnly === true || bindingPhasePodsPerSecond === undefined ? {} : { bindingPhasePodsPerSecond }),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      setupMs,
    }
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return { ...base, ...tracker.figures(), error: `${message}\n  last log lines:\n  ${logTail.join('\n  ')}` }
  } finally {
    manager.stop()
    pods.stop()
  }
}

/** Runs `benchInProcess` in a child Node process (controllers-inprocess-child.ts) and returns its result. */
export async function benchInProcessIsolated(options: InProcessOptions): Promise<ControllersPathResult> {
  const child = fileURLToPath(new URL('./controllers-inprocess-child.ts', import.meta.url))
  const base = { path: options.schedulerOnly === true ? 'in process, scheduler only' : 'in process', notes: [], nodes: options.nodes, replicas: options.replicas }
  try {
    const { stdout } = await runFile(process.execPath, [child, JSON.stringify(options)], { timeout: bindingDeadlineMs(options.replicas) + 120_000, maxBuffer: 16 * 1024 * 1024 })
    return JSON.parse(stdout.trim().split('\n').pop() ?? '') as ControllersPathResult
  } catch (error) {
    return { ...base, error: `the child process failed: ${error instanceof Error ? error.message : String(error)}` }
  }
}
