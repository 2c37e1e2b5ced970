/**
 * NodeInfo: one node as the scheduler sees it, with the running totals of the pods placed on it.
 *
 * The totals (requested resources, the non-zero variant for scoring, host ports in use, the pods
 * themselves) change in O(1) as pods are added and removed, so filters and scores read them
 * without walking the node's pods. A NodeInfo may exist without its Node object ("ghost"): pods
 * still bound to a node that left the cluster keep their place until they are deleted, and the
 * node is not offered to new pods.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { assert } from '../../../lib/assert.ts'
import { objectAt, stringMapAt } from './json-access.ts'
import type { HostPort, PodInfo } from './pod-info.ts'
import { addResources, emptyResources, nodeAllocatable, type Resources } from './resources.ts'
import { parseTaints, type Taint } from './taints.ts'

/** The hostname label: the topology key of "per node" spreading and anti-affinity. */
export const LABEL_HOSTNAME = 'kubernetes.io/hostname'
/** The zone label. */
export const LABEL_ZONE = 'topology.kubernetes.io/zone'

const EMPTY_LABELS: Readonly<Record<string, string>> = Object.freeze({})

/** A node and the pods placed on it. Mutated only by ClusterSnapshot. */
export class NodeInfo {
  readonly name: string
  /** The Node object; undefined for a ghost (see the module comment). */
  node: JsonObject | undefined = undefined
  labels: Readonly<Record<string, string>> = EMPTY_LABELS
  taints: readonly Taint[] = []
  /** `spec.unschedulable` (cordoned). */
  unschedulable = false
  allocatable: Resources = emptyResources()
  allocatablePods = 0
  /** The sum of the requests of the pods on the node. */
  readonly requested: Resources = emptyResources()
  /** The sum of the non-zero requests (see resources.ts), for scoring. */
  nonZeroRequestedMilliCpu = 0
  nonZeroRequestedMemoryBytes = 0
  readonly pods = new Map<string, PodInfo>()
  /** Host ports in use: `protocol/port` → host IP → number of pods binding it. */
  readonly usedPorts = new Map<string, Map<string, number>>()

  constructor(name: string) {
    this.name = name
  }

  /** Installs (or replaces) the Node object and everything parsed from it. */
  setNode(node: JsonObject): void {
    this.node = node
    this.labels = stringMapAt(objectAt(node, 'metadata'), 'labels')
    this.taints = parseTaints(node)
    this.unschedulable = objectAt(node, 'spec')?.unschedulable === true
    const allocatable = nodeAllocatable(node)
    this.allocatable = allocatable.resources
    this.allocatablePods = allocatable.pods
  }

  /** Forgets the Node object; the pods stay (a ghost). */
  clearNode(): void {
    this.node = undefined
    this.labels = EMPTY_LABELS
    this.taints = []
    this.unschedulable = false
    this.allocatable = emptyResources()
    this.allocatablePods = 0
  }

  /** Adds a pod placed on this node. */
  addPod(pod: PodInfo): void {
    assert(pod.nodeName === this.name, `pod ${pod.key} is placed on ${pod.nodeName}, not ${this.name}`)
    assert(!this.pods.has(pod.key), `pod ${pod.key} is already on node ${this.name}`)
    this.pods.set(pod.key, pod)
    addResources(this.requested, pod.requests, 1)
    this.nonZeroRequestedMilliCpu += pod.nonZeroMilliCpu
    this.nonZeroRequestedMemoryBytes += pod.nonZeroMemoryBytes
    for (const port of pod.hostPorts) this.changePort(port, 1)
  }

  /** Removes a pod previously added with the same PodInfo. */
  removePod(pod: PodInfo): void {
    assert(this.pods.get(pod.key) === pod, `pod ${pod.key} is not on node ${this.name}`)
    this.pods.delete(pod.key)
    addResources(this.requested, pod.requests, -1)
    this.nonZeroRequestedMilliCpu -= pod.nonZeroMilliCpu
    this.nonZeroRequestedMemoryBytes -= pod.nonZeroMemoryBytes
    for (const port of pod.hostPorts) this.changePort(port, -1)
  }

  /** True when one of `ports` conflicts with a host port in use (0.0.0.0 conflicts with any IP). */
  hostPortsConflict(ports: readonly HostPort[]): boolean {
    for (const port of ports) {
      const ips = this.usedPorts.get(`${port.protocol}/${port.port}`)
      if (ips === undefined) continue
      if (port.ip === ANY_IP || ips.has(ANY_IP) || ips.has(port.ip)) return true
    }
    return false
  }

  private changePort(port: HostPort, delta: 1 | -1): void {
    const key = `${port.protocol}/${port.port}`
    let ips = this.usedPorts.get(key)
    if (ips === undefined) {
      ips = new Map()
      this.usedPorts.set(key, ips)
    }
    const count = (ips.get(port.ip) ?? 0) + delta
    if (count > 0) ips.set(port.ip, count)
    else ips.delete(port.ip)
    if (ips.size === 0) this.usedPorts.delete(key)
  }
}

const ANY_IP = '0.0.0.0'
