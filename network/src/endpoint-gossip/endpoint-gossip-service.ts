/**
 * The glue between the node agent, endpoint gossip and the service proxy: the agent tells it each
 * pod status it computes (`localPodStatus`, before and whether or not the Raft write succeeds) and
 * each pod it tears down (`localPodGone`); the service proxy's EndpointSlices pass through
 * `adjust` on their way in, and `onChange` says when they should be fed again because what the
 * nodes report changed. See endpoint-gossip.ts for the protocol and endpoint-overlay.ts for the
 * rules that correct the slices.
 */
import { isIP } from 'node:net'
import type { Timers } from '../../../lib/timers.ts'
import type { Gossip } from '../gossip.ts'
import type { KubeObject } from '../service-proxy/service-rules.ts'
import { EndpointReportPublisher, EndpointReportReceiver, type EndpointReceiverStats } from './endpoint-gossip.ts'
import { overlayEndpointSlices } from './endpoint-overlay.ts'
import { decodePod, type PodReport } from './endpoint-reports.ts'

export interface EndpointGossipServiceOptions {
  readonly nodeName: string
  readonly gossip: Gossip
  readonly timers: Timers
  readonly log: (line: string) => void
  /** Between re-announcements (default 1 s); peers expire a node after three silent intervals. */
  readonly announceIntervalMs?: number
  /** Pod changes within this window go out in one report (default 50 ms). */
  readonly debounceMs?: number
  /** How long after `start` this node's reports stay incomplete (default 5 s; see endpoint-gossip.ts). */
  readonly warmUpMs?: number
}

/** Endpoint gossip for one node; see the module comment. */
export class EndpointGossipService {
  private readonly publisher: EndpointReportPublisher
  private readonly receiver: EndpointReportReceiver
  private readonly listeners = new Set<() => void>()

  constructor(options: EndpointGossipServiceOptions) {
    const common = {
      nodeName: options.nodeName,
      gossip: options.gossip,
      timers: options.timers,
      log: options.log,
      ...(options.announceIntervalMs !== undefined ? { announceIntervalMs: options.announceIntervalMs } : {}),
    }
    this.publisher = new EndpointReportPublisher({
      ...common,
      ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
      ...(options.warmUpMs !== undefined ? { warmUpMs: options.warmUpMs } : {}),
    })
    this.receiver = new EndpointReportReceiver({ ...common, onChange: () => this.changed() })
  }

  /** Starts announcing this node's pods and listening to the others'. */
  start(): void {
    this.receiver.start()
    this.publisher.start()
  }

  stop(): void {
    this.publisher.stop()
    this.receiver.stop()
  }

  /**
   * The agent computed `status` for local `pod` (the hook PodAgentOptions.onLocalPodStatus). A
   * pod without an IP is left out of the report: no endpoint can point at it.
   */
  localPodStatus(pod: KubeObject, status: KubeObject): void {
    const report = podReportOf(pod, status)
    const metadata = objectAt(pod['metadata'])
    const changed = report !== undefined ? this.publisher.setPod(report) : this.publisher.removePod(stringAt(metadata['uid']))
    if (changed) this.changed()
  }

  /** The agent tore the pod down (the hook PodAgentOptions.onLocalPodGone). */
  localPodGone(uid: string): void {
    if (this.publisher.removePod(uid)) this.changed()
  }

  /**
   * This node's agent has looked at every pod it runs: its reports may now say that a pod they
   * do not list is gone (otherwise that happens when the warm-up ends).
   */
  markLocalPodsComplete(): void {
    if (this.publisher.markComplete()) this.changed()
  }

  /**
   * The slices with each endpoint's conditions as the nodes report them (endpoint-overlay.ts).
   * `services` (optional) lets endpoints of Services with publishNotReadyAddresses stay ready.
   * Inputs are never mutated; unchanged slices come back as the same objects.
   */
  adjust<T extends KubeObject>(slices: readonly T[], services: readonly KubeObject[] = []): T[] {
    const publishNotReadyServices = new Set<string>()
    for (const service of services) {
      if (objectAt(service['spec'])['publishNotReadyAddresses'] !== true) continue
      const metadata = objectAt(service['metadata'])
      publishNotReadyServices.add(`${stringAt(metadata['namespace'])}/${stringAt(metadata['name'])}`)
    }
    return overlayEndpointSlices({
      slices,
      reports: [this.publisher.current(), ...this.receiver.fresh()],
      goneNodes: this.receiver.goneNodes(),
      publishNotReadyServices,
    })
  }

  /**
   * Calls `listener` (synchronously, after the change) whenever `adjust` may return something
   * different for the same slices: a node's report said something new, a node fell silent or came
   * back, or a local pod changed. Re-announcements that say nothing new do not call it. Returns
   * the function that removes the listener. Listeners must not throw.
   */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  /** What the receiver did with messages (for metrics and tests). */
  get stats(): Readonly<EndpointReceiverStats> {
    return this.receiver.stats
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener()
  }
}

/** What the report says of a pod with `status`, or undefined when it has no usable IP (or fields out of bounds). */
export function podReportOf(pod: KubeObject, status: KubeObject): PodReport | undefined {
  const metadata = objectAt(pod['metadata'])
  const uid = stringAt(metadata['uid'])
  const ip = stringAt(status['podIP'])
  if (uid === '' || isIP(ip) === 0) return undefined
  const conditions = Array.isArray(status['conditions']) ? status['conditions'] : []
  const ready = conditions.some((condition: unknown) => {
    const fields = objectAt(condition)
    return fields['type'] === 'Ready' && fields['status'] === 'True'
  })
  const deletionTimestamp = metadata['deletionTimestamp']
  // The same checks as on receipt: one bad entry would make peers drop the node's whole report.
  return decodePod({
    uid,
    namespace: stringAt(metadata['namespace']) || 'default',
    name: stringAt(metadata['name']),
    ip,
    ready,
    terminating: typeof deletionTimestamp === 'string' && deletionTimestamp !== '',
  })
}

function objectAt(value: unknown): KubeObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as KubeObject) : {}
}

function stringAt(value: unknown): string {
  return typeof value === 'string' ? value : ''
}
