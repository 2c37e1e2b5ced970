/**
 * The node agent as the daemon runs it: the pod loop (pod-agent.ts) over a container runtime,
 * with everything around it — the informers it reads (pods, config maps, secrets), the volume and
 * probe managers, the node status reporter, the metrics sampler (metrics.k8s.io, the HPA), and
 * the streams the API serves for local pods.
 *
 * One class for every runtime that runs pods for real or as a declared simulation (`docker`,
 * `hollow-runtime`): the agent does not know which it drives. The daemon's older `hollow` agent
 * (hollow-agent.ts, no runtime at all) stays the default for large simulated clusters.
 */
import { join } from 'node:path'
import type { ContainerRuntime, SandboxConfig } from '../../../runtime/src/runtime.ts'
import type { Random } from '../../../lib/random.ts'
import type { Timer, Timers } from '../../../lib/timers.ts'
import type { ResourceRef } from '../api/server/object-store.ts'
import type { ObjectBackend, ObjectStore } from '../api/server/object-store.ts'
import { NodeMetricsWriter } from '../api/server/node-metrics-store.ts'
import { MetricsSampler } from './metrics-sampler.ts'
import { procNodeStatsReader } from './proc-stats.ts'
import type { PodStreams } from '../api/streaming/pod-streams.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { nameOf, namespaceOf } from '../controllers/object-fields.ts'
import { PODS } from '../controllers/plan.ts'
import { EventRecorder } from '../controllers/manager/event-recorder.ts'
import { Informer } from '../controllers/manager/informer.ts'
import type { ObjectClient } from '../controllers/manager/object-client.ts'
import { LocalPodStreams } from './local-pod-streams.ts'
import type { NodeFacts } from './node-registration.ts'
import { NodeStatusReporter } from './node-status.ts'
import { LocalPathProvisioner } from './local-path-provisioner.ts'
import type { ConfigSources } from './container-env.ts'
import { mustRunAtMostOnce } from './node-fence.ts'
import { PodAgent, informerConfigSources, type PodNetworkHook, type PodVolumes } from './pod-agent.ts'
import { ProbeManager } from './probes/probe-manager.ts'
import { VolumeManager } from './volumes/volume-manager.ts'

/** How often released local volumes are looked for. */
const RECLAIM_INTERVAL_MS = 15_000

const CONFIG_MAPS: ResourceRef = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }
const SECRETS: ResourceRef = { group: '', resource: 'secrets', kind: 'Secret', apiVersion: 'v1', namespaced: true }

export interface NodeAgentOptions {
  readonly nodeName: string
  readonly hostIp: string
  readonly runtime: ContainerRuntime
  readonly objects: ObjectStore
  readonly client: ObjectClient
  /** The daemon's data directory: volumes live under `<dataDirectory>/agent`. */
  readonly dataDirectory: string
  /** The machine's facts, for the node status (capacity, addresses, versions). */
  readonly facts: () => NodeFacts
  readonly timers: Timers
  readonly random: Random
  readonly log: (line: string) => void
  /** First CrashLoopBackOff delay (Kubernetes: 10 s); tests shorten it. */
  readonly crashBackoffInitialMs?: number
  /** The store the node's metrics record goes to (the ObjectStore's backend). */
  readonly backend: ObjectBackend
  /** Between metrics samples (default 15 s, metrics-server's resolution). */
  readonly metricsPeriodMs?: number
  /**
   * Where the node's own usage comes from: the machine's /proc (one daemon per machine), or the
   * sum of its containers (several daemons sharing a machine, as in tests and the lab).
   */
  readonly nodeUsage?: 'proc' | 'containers'
  /** The pod network plugin: sandboxes get network "none" and their IPs from it (default: the engine's bridge). */
  readonly podNetwork?: PodNetworkHook
  /** The resolver configuration of each pod's sandbox (cluster DNS); none: the engine's default. */
  readonly dnsFor?: (pod: JsonObject) => SandboxConfig['dns']
  /** Each status the agent computes for a local pod, whatever the API write does (PodAgentOptions). */
  readonly onLocalPodStatus?: (pod: JsonObject, status: JsonObject) => void
  /** A local pod's containers and sandboxes are gone (PodAgentOptions). */
  readonly onLocalPodGone?: (uid: string) => void
  /** The node's self-fence (node-fence.ts): while it is up, StatefulSet pods do not run here. */
  readonly fence?: { readonly fenced: boolean }
}

export class NodeAgent {
  private readonly options: NodeAgentOptions
  private readonly informers: Informer[]
  private readonly agent: PodAgent
  private readonly statusReporter: NodeStatusReporter
  private readonly metricsSampler: MetricsSampler
  private provisioner: LocalPathProvisioner | undefined
  private reclaimTimer: Timer | undefined
  readonly streams: PodStreams
  private stopped = false

  constructor(options: NodeAgentOptions) {
    this.options = options
    const { objects, client, timers, log, runtime, nodeName } = options
    const pods = new Informer({ objects, resource: PODS, timers, log })
    const configMaps = new Informer({ objects, resource: CONFIG_MAPS, timers, log })
    const secrets = new Informer({ objects, resource: SECRETS, timers, log })
    this.informers = [pods, configMaps, secrets]
    const sources = informerConfigSources(configMaps, secrets)
    this.agent = new PodAgent({
      nodeName,
      hostIp: options.hostIp,
      runtime,
      client,
      recorder: new EventRecorder(client, { log }),
      pods,
      sources,
      volumes: this.podVolumes(sources),
      probes: (probeOptions) => new ProbeManager(probeOptions),
      timers,
      log,
      ...(options.crashBackoffInitialMs !== undefined ? { crashBackoff: { initialMs: options.crashBackoffInitialMs } } : {}),
      ...(options.podNetwork !== undefined ? { podNetwork: options.podNetwork, sandboxNetwork: 'none' as const } : {}),
      ...(options.dnsFor !== undefined ? { dnsFor: options.dnsFor } : {}),
      ...(options.onLocalPodStatus !== undefined ? { onLocalPodStatus: options.onLocalPodStatus } : {}),
      ...(options.onLocalPodGone !== undefined ? { onLocalPodGone: options.onLocalPodGone } : {}),
      ...(options.fence !== undefined ? { fenced: (pod: JsonObject) => options.fence?.fenced === true && mustRunAtMostOnce(pod) } : {}),
    })
    const changed = (kind: 'configMap' | 'secret') => (object: JsonObject): void => this.agent.configSourceChanged(kind, namespaceOf(object), nameOf(object))
    configMaps.addHandlers({ onAdd: changed('configMap'), onUpdate: (_previous, object) => changed('configMap')(object), onDelete: changed('configMap') })
    secrets.addHandlers({ onAdd: changed('secret'), onUpdate: (_previous, object) => changed('secret')(object), onDelete: changed('secret') })
    this.statusReporter = new NodeStatusReporter({ client, runtime, facts: options.facts, timers, log })
    this.streams = new LocalPodStreams({ runtime, nodeName })
    const metricsWriter = new NodeMetricsWriter({ backend: options.backend, nodeName })
    this.metricsSampler = new MetricsSampler({
      runtime,
      nodeName,
      timers,
      log,
      publish: (record) => metricsWriter.publish(record),
      withdraw: () => metricsWriter.withdraw(),
      ...(options.metricsPeriodMs !== undefined ? { periodMs: options.metricsPeriodMs } : {}),
      ...(options.nodeUsage === 'proc' ? { readNodeStats: procNodeStatsReader() } : {}),
    })
  }

  /**
   * The volume manager, with persistentVolumeClaims provisioned on this node first (local-path:
   * a directory under the data directory, bound to the claim the first time a pod uses it).
   */
  private podVolumes(sources: ConfigSources): PodVolumes {
    const { options } = this
    this.provisioner = new LocalPathProvisioner({ client: options.client, nodeName: options.nodeName, rootDir: join(options.dataDirectory, 'local-path'), log: options.log })
    const provisioner = this.provisioner
    const manager = new VolumeManager({ rootDir: join(options.dataDirectory, 'agent'), sources, persistentVolumePath: (pod, claim) => provisioner.pathOf(pod, claim) })
    return {
      setUp: async (pod) => {
        await provisioner.ensureClaims(pod)
        return manager.setUp(pod)
      },
      mountsFor: (pod, container, paths) => manager.mountsFor(pod, container, paths),
      tearDown: (uid) => manager.tearDown(uid),
      podsOnDisk: () => manager.podsOnDisk(),
    }
  }

  /** Lists the informers, then runs the pod loop and the status reporter. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.start()))
    if (this.stopped) return
    this.agent.start()
    this.statusReporter.start()
    this.metricsSampler.start()
    this.scheduleReclaim()
  }

  /**
   * Now and then: frees the local volumes of claims that are gone (Delete policy; Retain keeps),
   * and the pod addresses of pods that left no trace (pod-agent.ts releaseLeakedPodAddresses).
   */
  private scheduleReclaim(): void {
    if (this.stopped) return
    this.reclaimTimer = this.options.timers.after(RECLAIM_INTERVAL_MS, () => {
      const provisioner = this.provisioner?.reclaimReleased().catch((error: Error) => this.options.log(`local-path reclaim: ${error.message}`))
      const addresses = this.agent.releaseLeakedPodAddresses().catch((error: Error) => this.options.log(`pod address sweep: ${error.message}`))
      void Promise.all([provisioner, addresses]).finally(() => this.scheduleReclaim())
    })
  }

  /** The node's fence went up or down: every pod is synced again. */
  fenceChanged(): void {
    this.agent.fenceChanged()
  }

  /** Stops acting; containers keep running (a restarted daemon adopts them). */
  async stop(): Promise<void> {
    this.stopped = true
    this.statusReporter.stop()
    this.metricsSampler.stop()
    this.reclaimTimer?.cancel()
    await this.agent.stop()
    for (const informer of this.informers) informer.stop()
    await this.options.runtime.close()
  }
}
