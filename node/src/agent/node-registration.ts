/**
 * The node's own core/v1 Node object, as a kubelet registers it: created at daemon start or, when
 * it exists (a restart), updated with today's facts while keeping what others set (taints, pod
 * CIDR, cordoning, users' labels and annotations).
 *
 * Facts: labels kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch (and their beta
 * twins, which kube 1.20 still sets), topology.kubernetes.io/zone = the node's zone; capacity
 * and allocatable from the machine (cpu count, memory, 110 pods, and ephemeral storage of the
 * data directory's file system); addresses InternalIP and Hostname; nodeInfo with kubelet version
 * v1.20.2-flotilla and the container runtime's version; conditions as a healthy kubelet posts
 * them. After registration, liveness travels by gossip, not by status writes; the leader's node
 * lifecycle controller turns silence into Ready=Unknown.
 */
import { readFileSync, statfsSync } from 'node:fs'
import { arch, cpus, hostname, networkInterfaces, release, totalmem, type } from 'node:os'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { ApiError } from '../api/machinery/status.ts'
import { metadataOf, objectAt, specOf, stringMapAt } from '../controllers/object-fields.ts'
import { healthyNodeConditions } from '../controllers/manager/node-conditions.ts'
import { ZONE_LABEL } from '../controllers/manager/node-lifecycle-rules.ts'
import type { ObjectClient } from '../controllers/manager/object-client.ts'
import { NODES } from '../controllers/manager/shared-informers.ts'

/** The kubelet version Flotilla reports (the API it speaks, plus who serves it). */
export const KUBELET_VERSION = 'v1.20.2-flotilla'
const REGISTRATION_ATTEMPTS_MAX = 8

/** What a Node object says about its machine. */
export interface NodeFacts {
  readonly name: string
  readonly zone: string
  readonly internalIp: string
  readonly hostname: string
  readonly cpuCount: number
  readonly memoryBytes: number
  /** Bytes of the data directory's file system, when known. */
  readonly ephemeralStorageBytes?: number
  readonly pods: number
  /** Kubernetes' name for the architecture: amd64, arm64, … */
  readonly architecture: string
  readonly osImage: string
  readonly kernelVersion: string
  /** `hollow://0.1`, or `docker://<version>` with the Docker agent. */
  readonly containerRuntimeVersion: string
  readonly machineId?: string
  readonly bootId?: string
}

const ARCHITECTURES: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' }

function readTrimmed(path: string): string | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim()
    return text === '' ? undefined : text
  } catch {
    return undefined
  }
}

/** The operating system's pretty name (/etc/os-release), as the kubelet reports osImage. */
function osImage(): string {
  const osRelease = readTrimmed('/etc/os-release')
  const pretty = osRelease === undefined ? undefined : /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1]
  return pretty ?? `${type()} ${release()}`
}

/** The first non-internal IPv4 address, else loopback. */
function internalIp(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((candidate) => candidate !== undefined && candidate.family === 'IPv4' && !candidate.internal)
  return address?.address ?? '127.0.0.1'
}

/** This machine's facts, for the node `name` in `zone`. */
export function localNodeFacts(options: { name: string; zone: string; containerRuntimeVersion: string; dataDirectory?: string; internalIp?: string }): NodeFacts {
  let ephemeralStorageBytes: number | undefined
  if (options.dataDirectory !== undefined) {
    try {
      const stats = statfsSync(options.dataDirectory)
      ephemeralStorageBytes = stats.blocks * stats.bsize
    } catch {
      ephemeralStorageBytes = undefined
    }
  }
  const facts: NodeFacts = {
    name: options.name,
    zone: options.zone,
    internalIp: options.internalIp ?? internalIp(),
    hostname: hostname(),
    cpuCount: cpus().length,
    memoryBytes: totalmem(),
    pods: 110,
    architecture: ARCHITECTURES[arch()] ?? arch(),
    osImage: osImage(),
    kernelVersion: release(),
    containerRuntimeVersion: options.containerRuntimeVersion,
    ...(ephemeralStorageBytes !== undefined ? { ephemeralStorageBytes } : {}),
  }
  const machineId = readTrimmed('/etc/machine-id')
  const bootId = readTrimmed('/proc/sys/kernel/random/boot_id')
  return { ...facts, ...(machineId !== undefined ? { machineId } : {}), ...(bootId !== undefined ? { bootId } : {}) }
}

/** The labels the node sets on itself. */
export function nodeLabels(facts: NodeFacts): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': facts.architecture,
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': facts.architecture,
    'kubernetes.io/hostname': facts.name,
    'kubernetes.io/os': 'linux',
    [ZONE_LABEL]: facts.zone,
  }
}

/** The Node's status as its agent posts it at `nowText`. */
export function nodeStatus(facts: NodeFacts, previous: JsonObject | undefined, nowText: string): JsonObject {
  const capacity: Record<string, string> = {
    cpu: String(facts.cpuCount),
    memory: `${Math.floor(facts.memoryBytes / 1024)}Ki`,
    pods: String(facts.pods),
  }
  if (facts.ephemeralStorageBytes !== undefined) capacity['ephemeral-storage'] = `${Math.floor(facts.ephemeralStorageBytes / 1024)}Ki`
  return {
    capacity,
    allocatable: { ...capacity },
    conditions: healthyNodeConditions(previous, nowText),
    addresses: nodeAddresses(facts),
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: nodeInfo(facts),
  }
}

/** The Node's `status.addresses`. */
export function nodeAddresses(facts: NodeFacts): JsonObject[] {
  return [
    { type: 'InternalIP', address: facts.internalIp },
    { type: 'Hostname', address: facts.name },
  ]
}

/** The Node's `status.nodeInfo`, as the kubelet reports it. */
export function nodeInfo(facts: NodeFacts): JsonObject {
  return {
    machineID: facts.machineId ?? '',
    systemUUID: facts.machineId ?? '',
    bootID: facts.bootId ?? '',
    kernelVersion: facts.kernelVersion,
    osImage: facts.osImage,
    containerRuntimeVersion: facts.containerRuntimeVersion,
    kubeletVersion: KUBELET_VERSION,
    kubeProxyVersion: KUBELET_VERSION,
    operatingSystem: 'linux',
    architecture: facts.architecture,
  }
}

/** A new Node object for `facts`. */
export function newNodeObject(facts: NodeFacts, nowText: string): JsonObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: facts.name, labels: nodeLabels(facts) }, spec: {}, status: nodeStatus(facts, undefined, nowText) }
}

/**
 * Creates this node's Node object, or brings an existing one up to date (labels merged, spec
 * kept, status replaced). Retries lost races. Returns the stored object.
 */
export async function registerNode(client: ObjectClient, facts: NodeFacts, nowText: string): Promise<JsonObject> {
  for (let attempt = 1; ; attempt++) {
    let current: JsonObject | undefined
    try {
      current = await client.get(NODES, undefined, facts.name)
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 404)) throw error
    }
    try {
      if (current === undefined) return await client.create(NODES, undefined, newNodeObject(facts, nowText))
      const metadata = metadataOf(current)
      const labels = { ...stringMapAt(metadata['labels']), ...nodeLabels(facts) }
      const updated = await client.update(NODES, undefined, facts.name, { ...current, metadata: { ...metadata, labels }, spec: specOf(current) })
      return await client.updateStatus(NODES, undefined, facts.name, { ...updated, status: { ...objectAt(updated['status']), ...nodeStatus(facts, updated, nowText) } })
    } catch (error) {
      const lostRace = error instanceof ApiError && (error.code === 409 || error.code === 404)
      if (!lostRace || attempt >= REGISTRATION_ATTEMPTS_MAX) throw error
    }
  }
}
