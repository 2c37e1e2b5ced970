/**
 * The controllers benchmark's path through Raft: real daemons (`./flotilla init`, and `join`s
 * when more than one; bench/flotilla-daemons.ts) with `--runtime none` (FLOTILLA_RUNTIME), the
 * controllers on the Raft leader as in production. Everything goes through the Kubernetes API of
 * daemon n1 over HTTPS with a bearer token: the hollow Node objects (POST /api/v1/nodes), then the
 * Deployment (POST /apis/apps/v1/namespaces/default/deployments). A pod watch on the same API,
 * opened before the Deployment is sent, timestamps every pod's creation and binding; a final full
 * list checks the counts.
 *
 * The hollow nodes have no gossip beacons. The node lifecycle controller gives a Node it has just
 * started watching a full grace period (node-lifecycle-controller.ts, `firstSeenMs`), then marks
 * it NotReady, taints it and evicts its pods; with the default 5 s grace that would happen in
 * the middle of the run. So the benchmark daemons run with FLOTILLA_NODE_NOT_READY_GRACE_MS and
 * FLOTILLA_POD_EVICTION_TIMEOUT_MS of one day, and the output says so.
 */
import type { JsonObject } from '../node/src/api/machinery/canonical.ts'
import { formatTime, metadataOf, objectAt, statusOf } from '../node/src/controllers/object-fields.ts'
import { benchDeployment, BindingTracker, bindingDeadlineMs, boundNodeOf, DeadlineExceededError, DEPLOYMENT_NAMESPACE, hollowNodeObject, type ControllersPathResult } from './controllers-shape.ts'
import { KubeClient } from './controllers-kube-client.ts'
import { FIVE_DAEMONS, FlotillaDaemons } from './flotilla-daemons.ts'
import type { LineStream } from './http.ts'
import { measureCpu, readMemoryMiB } from './load.ts'
import { sleep } from './processes.ts'

/** Node lifecycle timers of the benchmark daemons: a day, longer than any run. */
export const BENCH_NODE_GRACE_MS = 86_400_000
/** Node creations in flight at once. */
const NODE_CREATE_CONCURRENCY = 16
/** The final list of every pod can be tens of MB: give it time. */
const FINAL_LIST_TIMEOUT_MS = 120_000

export interface DaemonPathOptions {
  readonly nodes: number
  readonly replicas: number
  /** 1 (a one-voter Raft group) or 3. */
  readonly daemons: number
}

/** Runs the path through Raft once; failures are reported in `error`, not thrown. */
export async function benchThroughDaemons(options: DaemonPathOptions): Promise<ControllersPathResult> {
  const notes = [
    `${options.daemons} real daemon${options.daemons === 1 ? '' : 's'} (./flotilla, --runtime none via FLOTILLA_RUNTIME), controllers on the Raft leader`,
    `Node objects and the Deployment sent through the Kubernetes API over HTTPS (bearer token) to n1; the daemons' own Node objects (real machine capacity) are schedulable too`,
    `FLOTILLA_NODE_NOT_READY_GRACE_MS = FLOTILLA_POD_EVICTION_TIMEOUT_MS = ${BENCH_NODE_GRACE_MS} ms: the hollow nodes send no gossip beacons and would otherwise be marked NotReady and evicted after 5 s`,
    'timing from a pod watch on n1 (client side: includes watch delivery); CPU = all daemons over the window; max RSS = peak (VmHWM) of the busiest daemon',
  ]
  const base = { path: `through Raft (${options.daemons} daemon${options.daemons === 1 ? '' : 's'})`, notes, nodes: options.nodes, replicas: options.replicas }
  const tracker = new BindingTracker(options.replicas)
  const saved = saveEnv(['FLOTILLA_RUNTIME', 'FLOTILLA_NODE_NOT_READY_GRACE_MS', 'FLOTILLA_POD_EVICTION_TIMEOUT_MS'])
  process.env['FLOTILLA_RUNTIME'] = 'none'
  process.env['FLOTILLA_NODE_NOT_READY_GRACE_MS'] = String(BENCH_NODE_GRACE_MS)
  process.env['FLOTILLA_POD_EVICTION_TIMEOUT_MS'] = String(BENCH_NODE_GRACE_MS)
  let daemons: FlotillaDaemons | undefined
  let client: KubeClient | undefined
  let watch: LineStream | undefined
  try {
    const setupStartMs = performance.now()
    daemons = await FlotillaDaemons.start({ daemons: FIVE_DAEMONS.slice(0, options.daemons), stepDeadlineMs: 60_000 })
    client = await KubeClient.connect(daemons, 0)
    await createNodes(client, options.nodes)
    const podsPath = `/api/v1/namespaces/${DEPLOYMENT_NAMESPACE}/pods`
    const before = await client.json('GET', `${podsPath}?limit=1`, 200)
    const revision = String(metadataOf(before)['resourceVersion'] ?? '')
    let watchError: Error | undefined
    watch = await client.watch(
      `${podsPath}?watch=true&resourceVersion=${encodeURIComponent(revision)}&timeoutSeconds=3600`,
      (type, object, receivedMs) => {
        if (type === 'ERROR') watchError = new Error(`pod watch: ERROR event ${JSON.stringify(object).slice(0, 300)}`)
        else if (type === 'ADDED' || type === 'MODIFIED') tracker.observe(object, receivedMs)
      },
      (error) => {
        if (error !== undefined && !tracker.done) watchError = error
      },
    )
    const setupMs = performance.now() - setupStartMs

    const pids = daemons.memberPids()
    const cpu = measureCpu(pids)
    tracker.start()
    await client.json('POST', `/apis/apps/v1/namespaces/${DEPLOYMENT_NAMESPACE}/deployments`, 201, benchDeployment(options.replicas))
    // Timestamps come from the watch (receivedMs), so this loop's period does not affect them.
    const deadlineMs = performance.now() + bindingDeadlineMs(options.replicas)
    while (!tracker.done) {
      if (watchError !== undefined) throw watchError
      if (performance.now() > deadlineMs) throw new DeadlineExceededError(`through Raft: ${tracker.created} of ${options.replicas} pods created, ${tracker.bound} bound after ${bindingDeadlineMs(options.replicas)} ms`)
      await sleep(20)
    }
    const used = cpu.stop()
    const maxRssMiB = Math.max(...pids.map((pid) => readMemoryMiB(pid).peak))
    const final = await client.json('GET', podsPath, 200, undefined, FINAL_LIST_TIMEOUT_MS)
    const items = Array.isArray(final['items']) ? (final['items'] as JsonObject[]) : []
    const boundAtEnd = items.filter((pod) => boundNodeOf(pod) !== '').length
    const figures = tracker.figures()
    if (items.length !== options.replicas || boundAtEnd !== options.replicas) {
      return { ...base, ...figures, setupMs, error: `the final list shows ${items.length} pods, ${boundAtEnd} bound (expected ${options.replicas})` }
    }
    return { ...base, ...figures, cpuSeconds: used.serversCpuMs / 1000, maxRssMiB, setupMs }
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return { ...base, ...tracker.figures(), error: message }
  } finally {
    watch?.close()
    client?.close()
    await daemons?.stop()
    restoreEnv(saved)
  }
}

/** POSTs the hollow Node objects, a few at a time; re-posts the status if create dropped it. */
async function createNodes(client: KubeClient, count: number): Promise<void> {
  const nowText = formatTime(Date.now())
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++
      const node = hollowNodeObject(index, nowText)
      const created = await client.json('POST', '/api/v1/nodes', 201, node)
      // Kubernetes keeps a Node's status on create (the kubelet registers that way); should an API
      // ever drop it, post it the way a kubelet updates it, or the scheduler sees no capacity.
      if (objectAt(statusOf(created)['allocatable'])['cpu'] === undefined) {
        await client.json('PUT', `/api/v1/nodes/${encodeURIComponent(String(metadataOf(created)['name']))}/status`, 200, { ...created, status: node['status'] as JsonObject })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(NODE_CREATE_CONCURRENCY, count) }, worker))
}

function saveEnv(names: readonly string[]): Map<string, string | undefined> {
  return new Map(names.map((name) => [name, process.env[name]]))
}

function restoreEnv(saved: ReadonlyMap<string, string | undefined>): void {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
}
