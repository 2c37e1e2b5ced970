/**
 * The pod startup benchmark's Flotilla side: ONE real daemon (`./flotilla init`,
 * bench/flotilla-daemons.ts) with the Docker runtime (FLOTILLA_RUNTIME=docker, what `--runtime
 * docker` sets), a one-node cluster like the one-node swarm it is compared with. Its node name is
 * unique to the run, and every container labelled `dev.flotilla.node=<name>` is removed at the
 * end, at exit too.
 *
 * One size: a pod watch (label selector `app=<deployment>`) is opened, then the Deployment of N
 * replicas of `flotilla/busybox:local` running `sleep 3600` is POSTed through the Kubernetes API
 * over HTTPS (bearer token, as `flotilla kubeconfig` gives). A pod has started when an event shows
 * it in phase Running with every container running; its startup is the time from sending the POST
 * to that event arriving (client side: it includes the agent's status write and the watch
 * delivery). Then the Deployment is deleted (propagationPolicy Background) and the benchmark
 * waits until its pods are gone from the API and the node has no container left, so that sizes do
 * not overlap (the node takes 110 pods).
 */
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { isJsonObject, type JsonObject } from '../node/src/api/machinery/canonical.ts'
import { listAt, metadataOf, objectAt, specOf, statusOf, stringAt, uidOf } from '../node/src/controllers/object-fields.ts'
import { KubeClient, UnexpectedKubeResponseError } from './controllers-kube-client.ts'
import { FlotillaDaemons } from './flotilla-daemons.ts'
import { snippet, type LineStream } from './http.ts'
import { describeError, measureCpu } from './load.ts'
import { atExit, cancelAtExit, removeContainers, removeContainersSync, waitContainersGone } from './pods-docker.ts'
import { PodsDeadlineError, sampleOf, sizeDeadlineMs, type StartupSample } from './pods-shape.ts'
import { pollUntil, sleep } from './processes.ts'

/** The image every node builds locally from busybox-static (runtime/src/local-images.ts). */
export const FLOTILLA_POD_IMAGE = 'flotilla/busybox:local'
const NAMESPACE = 'default'
/** The runtime label that ties a container to its node (runtime/src/runtime.ts RUNTIME_LABELS). */
const NODE_LABEL_KEY = 'dev.flotilla.node'
/** Deadline for the daemon's Node to be Ready on Docker (it may build its local images first). */
const NODE_READY_DEADLINE_MS = 180_000
/** How often the loop checks whether the watch has seen every pod; timestamps come from the watch. */
const DONE_CHECK_MS = 20
/** How often the teardown lists the size's pods. */
const POD_GONE_POLL_MS = 250

/** What the daemon reported about the Flotilla side, for the output. */
export interface FlotillaPodsInfo {
  readonly version: string
  readonly nodeName: string
  /** From starting the daemon to its Node Ready with the Docker runtime. */
  readonly readyAfterMs: number
  readonly containerRuntimeVersion: string
  readonly notes: readonly string[]
}

/** A Flotilla sample also says how much CPU the daemon used while the pods started. */
export interface FlotillaStartupSample extends StartupSample {
  /** utime + stime of the daemon from the POST to the last pod Running (dockerd not included). */
  readonly daemonCpuMs?: number
  /**
   * Where the time went, per pod, ms from the POST, ascending: the first event showing the pod
   * (the ReplicaSet controller created it) and the first showing it bound (the scheduler).
   */
  readonly createdMs?: readonly number[]
  readonly boundMs?: readonly number[]
}

export class FlotillaPodsPath {
  readonly info: FlotillaPodsInfo
  private readonly daemons: FlotillaDaemons
  private readonly client: KubeClient
  private stopped = false

  private constructor(info: FlotillaPodsInfo, daemons: FlotillaDaemons, client: KubeClient) {
    this.info = info
    this.daemons = daemons
    this.client = client
  }

  /** Starts the daemon on Docker and waits until its Node is Ready. */
  static async start(): Promise<FlotillaPodsPath> {
    const nodeName = `pods-bench-${randomBytes(3).toString('hex')}`
    const label = `${NODE_LABEL_KEY}=${nodeName}`
    atExit(`flotilla containers of ${nodeName}`, () => removeContainersSync(label))
    const startMs = performance.now()
    const savedRuntime = process.env['FLOTILLA_RUNTIME']
    process.env['FLOTILLA_RUNTIME'] = 'docker'
    let daemons: FlotillaDaemons | undefined
    let client: KubeClient | undefined
    try {
      daemons = await FlotillaDaemons.start({ daemons: [{ name: nodeName, zone: 'z1' }], stepDeadlineMs: 60_000 })
      client = await KubeClient.connect(daemons, 0)
      const node = await waitNodeReady(client, nodeName)
      const containerRuntimeVersion = stringAt(objectAt(statusOf(node)['nodeInfo'])['containerRuntimeVersion'])
      const info: FlotillaPodsInfo = {
        version: daemons.version,
        nodeName,
        readyAfterMs: performance.now() - startMs,
        containerRuntimeVersion,
        notes: [
          `1 daemon (./flotilla init, FLOTILLA_RUNTIME=docker), node ${nodeName} (${containerRuntimeVersion}), Ready ${((performance.now() - startMs) / 1000).toFixed(1)} s after start`,
          `Deployment of N x ${FLOTILLA_POD_IMAGE} \`sleep 3600\` (terminationGracePeriodSeconds 0) POSTed over HTTPS with a bearer token`,
          'startup = POST sent -> watch event with phase Running and every container running (client side: includes the status write and the watch delivery)',
        ],
      }
      return new FlotillaPodsPath(info, daemons, client)
    } catch (error) {
      client?.close()
      await daemons?.stop()
      await removeContainers(label).catch(() => 0)
      throw error
    } finally {
      if (savedRuntime === undefined) delete process.env['FLOTILLA_RUNTIME']
      else process.env['FLOTILLA_RUNTIME'] = savedRuntime
    }
  }

  private get nodeLabel(): string {
    return `${NODE_LABEL_KEY}=${this.info.nodeName}`
  }

  /** One size: create, wait for every pod Running, delete and wait until nothing is left. */
  async measure(replicas: number, run: number): Promise<FlotillaStartupSample> {
    const name = `pods-bench-${replicas}-r${run}`
    const selector = encodeURIComponent(`app=${name}`)
    const podsPath = `/api/v1/namespaces/${NAMESPACE}/pods`
    const base = { system: 'flotilla' as const, replicas, run, loadAverage1m: os.loadavg()[0] ?? 0 }
    const createdMs = new Map<string, number>()
    const boundMs = new Map<string, number>()
    const runningMs = new Map<string, number>()
    let watch: LineStream | undefined
    let created = false
    let result: Omit<FlotillaStartupSample, 'teardownMs'>
    try {
      const before = await this.client.json('GET', `${podsPath}?labelSelector=${selector}`, 200)
      const revision = stringAt(metadataOf(before)['resourceVersion'])
      let watchError: Error | undefined
      let startMs = Number.NaN
      watch = await this.client.watch(
        `${podsPath}?watch=true&labelSelector=${selector}&resourceVersion=${encodeURIComponent(revision)}&timeoutSeconds=3600`,
        (type, pod, receivedMs) => {
          if (type === 'ERROR') watchError = new UnexpectedKubeResponseError(`pod watch: ERROR event ${JSON.stringify(pod).slice(0, 300)}`, 200)
          else if (type === 'ADDED' || type === 'MODIFIED') {
            const uid = uidOf(pod)
            const sinceStartMs = receivedMs - startMs
            if (!createdMs.has(uid)) createdMs.set(uid, sinceStartMs)
            if (!boundMs.has(uid) && stringAt(specOf(pod)['nodeName']) !== '') boundMs.set(uid, sinceStartMs)
            if (!runningMs.has(uid) && isRunning(pod)) runningMs.set(uid, sinceStartMs)
          }
        },
        (error) => {
          if (error !== undefined && runningMs.size < replicas) watchError = error
        },
      )
      const cpu = measureCpu(this.daemons.memberPids())
      startMs = performance.now()
      created = true
      await this.client.json('POST', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`, 201, podsDeployment(name, replicas))
      const createRequestMs = performance.now() - startMs
      const deadlineMs = sizeDeadlineMs(replicas)
      while (runningMs.size < replicas) {
        if (watchError !== undefined) throw watchError
        if (performance.now() - startMs > deadlineMs) throw new PodsDeadlineError(`${runningMs.size} of ${replicas} pods Running after ${deadlineMs} ms`)
        await sleep(DONE_CHECK_MS)
      }
      result = sampleOf({ ...base, createRequestMs, daemonCpuMs: cpu.stop().serversCpuMs }, [...runningMs.values()])
    } catch (error) {
      result = sampleOf({ ...base, error: describeError(error) }, [...runningMs.values()])
    } finally {
      watch?.close()
    }
    const ascending = (times: Map<string, number>): number[] => [...times.values()].sort((a, b) => a - b)
    result = { ...result, createdMs: ascending(createdMs), boundMs: ascending(boundMs) }
    if (!created) return result
    try {
      return { ...result, teardownMs: await this.teardown(name, selector) }
    } catch (error) {
      const teardownError = `teardown: ${describeError(error)}`
      return { ...result, error: result.error === undefined ? teardownError : `${result.error}; ${teardownError}` }
    }
  }

  /** Deletes the Deployment; waits until its pods are gone and the node has no container. */
  private async teardown(name: string, selector: string): Promise<number> {
    const startMs = performance.now()
    const deadlineMs = sizeDeadlineMs(0)
    const response = await this.client.request('DELETE', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${name}?propagationPolicy=Background`)
    // 404: the create never reached the store; the pods and containers are still waited for.
    if (response.status !== 200 && response.status !== 202 && response.status !== 404) {
      throw new UnexpectedKubeResponseError(`DELETE deployment ${name}: HTTP ${response.status} ${snippet(response.body)}`, response.status)
    }
    for (;;) {
      const list = await this.client.json('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${selector}`, 200)
      const left = listAt(list['items']).length
      if (left === 0) break
      if (performance.now() - startMs > deadlineMs) throw new PodsDeadlineError(`${left} pods of ${name} still exist ${deadlineMs} ms after the delete`)
      await sleep(POD_GONE_POLL_MS)
    }
    return waitContainersGone(this.nodeLabel, startMs, deadlineMs)
  }

  /** Stops the daemon and removes every container of its node. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.client.close()
    await this.daemons.stop()
    await removeContainers(this.nodeLabel)
    cancelAtExit(`flotilla containers of ${this.info.nodeName}`)
  }
}

/** The Deployment of one size: `replicas` busybox pods sleeping, no resource requests. */
export function podsDeployment(name: string, replicas: number): JsonObject {
  const labels = { app: name }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'sleep', image: FLOTILLA_POD_IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
        },
      },
    },
  }
}

/** Phase Running with every container running, as the agent reports it. */
export function isRunning(pod: JsonObject): boolean {
  const status = statusOf(pod)
  if (status['phase'] !== 'Running') return false
  const containers = listAt(status['containerStatuses'])
  return containers.length > 0 && containers.every((container) => isJsonObject(objectAt(objectAt(container)['state'])['running']))
}

/** Polls the node until it is Ready with a docker:// runtime; returns the Node object. */
async function waitNodeReady(client: KubeClient, nodeName: string): Promise<JsonObject> {
  return pollUntil(
    `node ${nodeName} Ready on Docker`,
    async () => {
      const node = await client.json('GET', `/api/v1/nodes/${encodeURIComponent(nodeName)}`, 200)
      const status = statusOf(node)
      const runtime = stringAt(objectAt(status['nodeInfo'])['containerRuntimeVersion'])
      const ready = listAt(status['conditions']).some((condition) => objectAt(condition)['type'] === 'Ready' && objectAt(condition)['status'] === 'True')
      return ready && runtime.startsWith('docker://') ? node : undefined
    },
    NODE_READY_DEADLINE_MS,
    200,
  )
}
