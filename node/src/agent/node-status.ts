/**
 * The node status the agent publishes about its machine and runtime: capacity and allocatable,
 * nodeInfo (kubelet and container runtime versions), the images present (the scheduler's
 * ImageLocality reads them), addresses and the kubelet endpoint.
 *
 * Conditions are not the agent's to keep up to date: liveness travels by gossip, and the node
 * lifecycle controller on the Raft leader owns Ready (Unknown while the node is silent, True when
 * it is heard again; node-conditions.ts). So the reporter merges: it writes the facts above when
 * they changed and keeps whatever conditions the Node has, adding the healthy set only to a Node
 * that has none. No heartbeat writes: an unchanged node costs one read per interval.
 *
 * Allocatable is capacity minus small reserves, as a kubelet with its default hard eviction
 * threshold (memory.available < 100Mi) reports it, plus 100m of CPU for the daemon itself.
 */
import { availableParallelism } from 'node:os'
import type { Timer, Timers } from '../../../lib/timers.ts'
import type { ContainerRuntime, ImageInfo, RuntimeVersion } from '../../../runtime/src/runtime.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { ApiError } from '../api/machinery/status.ts'
import { healthyNodeConditions } from '../controllers/manager/node-conditions.ts'
import type { ObjectClient } from '../controllers/manager/object-client.ts'
import { NODES } from '../controllers/manager/shared-informers.ts'
import { equalIgnoringNullFields, formatTime, listAt, statusOf } from '../controllers/object-fields.ts'
import { localNodeFacts, nodeAddresses, nodeInfo, type NodeFacts } from './node-registration.ts'

/** What the node keeps back from pods. */
export interface NodeReserves {
  readonly cpuMillis: number
  readonly memoryBytes: number
}

export const NODE_RESERVES_DEFAULT: NodeReserves = { cpuMillis: 100, memoryBytes: 100 * 1024 * 1024 }
/** Images listed in the status at most, largest first (the kubelet's nodeStatusMaxImages). */
export const NODE_STATUS_IMAGES_MAX = 50
const REPORT_INTERVAL_MS_DEFAULT = 60_000

/** `docker://20.10.24`: the runtime's version as Node.status.nodeInfo shows it. */
export function containerRuntimeVersionText(version: RuntimeVersion): string {
  return `${version.runtimeName}://${version.runtimeVersion}`
}

/**
 * This machine's facts for the agent: node-registration's, with the CPU count the process may
 * use (os.availableParallelism honours CPU affinity, cpus() does not) and the runtime's version.
 */
export function machineNodeFacts(options: { name: string; zone: string; runtimeVersion: RuntimeVersion; dataDirectory?: string; internalIp?: string }): NodeFacts {
  const facts = localNodeFacts({
    name: options.name,
    zone: options.zone,
    containerRuntimeVersion: containerRuntimeVersionText(options.runtimeVersion),
    ...(options.dataDirectory === undefined ? {} : { dataDirectory: options.dataDirectory }),
    ...(options.internalIp === undefined ? {} : { internalIp: options.internalIp }),
  })
  return { ...facts, cpuCount: availableParallelism() }
}

/** The images as Node.status.images lists them: names and sizes, largest first, bounded. */
export function nodeImages(images: readonly ImageInfo[]): JsonObject[] {
  return [...images]
    .sort((a, b) => b.sizeBytes - a.sizeBytes || a.id.localeCompare(b.id))
    .slice(0, NODE_STATUS_IMAGES_MAX)
    .map((image) => {
      const tags = image.repoTags.filter((tag) => tag !== '<none>:<none>')
      return { names: tags.length > 0 ? [...tags] : [image.id], sizeBytes: image.sizeBytes }
    })
}

/** capacity and allocatable of a machine. */
export function nodeResources(facts: NodeFacts, reserves: NodeReserves = NODE_RESERVES_DEFAULT): { capacity: Record<string, string>; allocatable: Record<string, string> } {
  const capacity: Record<string, string> = {
    cpu: String(facts.cpuCount),
    memory: `${Math.floor(facts.memoryBytes / 1024)}Ki`,
    pods: String(facts.pods),
  }
  if (facts.ephemeralStorageBytes !== undefined) capacity['ephemeral-storage'] = `${Math.floor(facts.ephemeralStorageBytes / 1024)}Ki`
  const cpuMillis = Math.max(0, facts.cpuCount * 1000 - reserves.cpuMillis)
  const allocatable: Record<string, string> = {
    ...capacity,
    cpu: cpuMillis % 1000 === 0 ? String(cpuMillis / 1000) : `${cpuMillis}m`,
    memory: `${Math.floor(Math.max(0, facts.memoryBytes - reserves.memoryBytes) / 1024)}Ki`,
  }
  return { capacity, allocatable }
}

/**
 * The Node's status with the agent's facts merged in: the agent's fields replaced, conditions
 * kept (healthy ones only when there are none), everything else others wrote kept.
 */
export function agentNodeStatus(input: { facts: NodeFacts; images: readonly ImageInfo[]; previous: JsonObject | undefined; nowMs: number; reserves?: NodeReserves }): JsonObject {
  const { facts } = input
  const before = input.previous === undefined ? {} : statusOf(input.previous)
  const { capacity, allocatable } = nodeResources(facts, input.reserves)
  const conditions = listAt(before['conditions']).length > 0 ? before['conditions'] ?? [] : healthyNodeConditions(input.previous, formatTime(input.nowMs))
  return {
    ...before,
    capacity,
    allocatable,
    conditions,
    addresses: nodeAddresses(facts),
    daemonEndpoints: before['daemonEndpoints'] ?? { kubeletEndpoint: { Port: 0 } },
    nodeInfo: nodeInfo(facts),
    images: nodeImages(input.images),
  }
}

export interface NodeStatusReporterOptions {
  readonly client: ObjectClient
  readonly runtime: ContainerRuntime
  /** The machine's facts (node-registration's localNodeFacts, or machineNodeFacts). */
  readonly facts: () => NodeFacts
  readonly timers: Timers
  readonly log: (line: string) => void
  readonly reserves?: NodeReserves
  /** How often images and capacity are looked at again (default 60 s). */
  readonly intervalMs?: number
}

/** Publishes the agent's node status now and every interval, writing only when it changed. */
export class NodeStatusReporter {
  private readonly options: NodeStatusReporterOptions
  private timer: Timer | undefined
  private stopped = false

  constructor(options: NodeStatusReporterOptions) {
    this.options = options
  }

  start(): void {
    void this.loop()
  }

  stop(): void {
    this.stopped = true
    this.timer?.cancel()
  }

  /**
   * Reads the Node, merges the agent's facts, and writes the status when it differs.
   * @returns whether it wrote. @throws ApiError 404 while the Node is not registered.
   */
  async reportOnce(): Promise<boolean> {
    const facts = this.options.facts()
    const images = await this.options.runtime.listImages()
    for (let attempt = 0; attempt < 3; attempt++) {
      const node = await this.options.client.get(NODES, undefined, facts.name)
      const status = agentNodeStatus({ facts, images, previous: node, nowMs: this.options.timers.realtimeMs(), ...(this.options.reserves === undefined ? {} : { reserves: this.options.reserves }) })
      if (equalIgnoringNullFields(statusOf(node), status)) return false
      try {
        await this.options.client.updateStatus(NODES, undefined, facts.name, { ...node, status })
        return true
      } catch (error) {
        // The lifecycle controller wrote conditions meanwhile: merge again onto its version.
        if (!(error instanceof ApiError && error.code === 409)) throw error
      }
    }
    return false
  }

  private async loop(): Promise<void> {
    if (this.stopped) return
    try {
      await this.reportOnce()
    } catch (error) {
      this.options.log(`node status of ${this.options.facts().name} not published: ${(error as Error).message}`)
    }
    if (this.stopped) return
    this.timer = this.options.timers.after(this.options.intervalMs ?? REPORT_INTERVAL_MS_DEFAULT, () => void this.loop())
  }
}
