/**
 * The node's pod network: pod addresses from the node's pod CIDR (pod-ipam.ts), the bridge and a
 * veth per pod (bridge-plumbing.ts), and the overlay to every other node (overlay.ts) spread by
 * gossip — each node announces its pod CIDR, underlay address and VTEP MAC on OVERLAY_TOPIC every
 * announce interval; peers program routes (and for vxlan FDB and neighbour entries) for every
 * node heard within the last EXPIRY_INTERVALS intervals and withdraw those of nodes that fell
 * silent (left, died, or cut off). Gossip, not Raft: the data plane keeps converging while the
 * cluster has no quorum, and stale routes to a dead node cost nothing but unreachable pods there.
 *
 * Stopping the service leaves the kernel state in place: pods keep their network while the
 * daemon restarts, and the restarted daemon adopts what it finds.
 */
import { join } from 'node:path'
import { assert } from '../../../lib/assert.ts'
import { FlotillaError } from '../../../lib/errors.ts'
import type { Timer, Timers } from '../../../lib/timers.ts'
import type { Gossip, GossipVerdict } from '../gossip.ts'
import { BridgePlumbing, DEFAULT_BRIDGE } from './bridge-plumbing.ts'
import { cidrContains, formatIpv4, parseCidr, parseIpv4 } from './cidr.ts'
import { Iproute2, type IpAddrInfo } from './ip.ts'
import { DEFAULT_CLUSTER_CIDR, OVERLAY_BACKENDS, OverlayApplier, OverlayError, planOverlay, VXLAN_OVERHEAD_BYTES, vtepMacFor, type OverlayAnnouncement, type OverlayBackend } from './overlay.ts'
import { PodIpam } from './pod-ipam.ts'

export const OVERLAY_TOPIC = 'flotilla/overlay/1'
export const ANNOUNCE_INTERVAL_MS_DEFAULT = 2000
/** An announcement not refreshed for this many intervals is withdrawn. */
export const EXPIRY_INTERVALS = 3
/** Host-originated traffic to Service VIPs needs a route before the service proxy's DNAT. */
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12'

/** `setUpPod` before `start`, or a sandbox without a network namespace. */
export class PodNetworkError extends FlotillaError {
  override name = 'PodNetworkError'
}

export interface PodNetworkOptions {
  readonly nodeName: string
  readonly gossip: Gossip
  /** The daemon's data directory; the IPAM state lives in `<dir>/pod-network/ipam.json`. */
  readonly dataDirectory: string
  readonly timers: Timers
  readonly log: (line: string) => void
  readonly announceIntervalMs?: number
  readonly bridge?: string
  readonly clusterCidr?: string
  /** Routed onto the bridge (none when empty). */
  readonly serviceCidr?: string
  readonly iproute?: Iproute2
  /** A process in the bridge's namespace (default: this one); see BridgePlumbing. */
  readonly hostNetnsPid?: number
}

export interface PodNetworkConfig {
  /** The Node's spec.podCIDR. */
  readonly podCidr: string
  /** This node's address on the underlay, which peers route (host-gw) or tunnel (vxlan) to. */
  readonly underlayIp: string
  readonly backend: OverlayBackend
}

/** What `setUpPod` needs of a sandbox (runtime SandboxStatus fits). */
export interface PodSandboxRef {
  readonly netnsPath?: string
}

export interface PodNetworkPodRef {
  readonly uid: string
  readonly name: string
  readonly namespace: string
}

interface Heard {
  announcement: OverlayAnnouncement
  heardAtMs: number
}

export class PodNetwork {
  private readonly options: PodNetworkOptions
  private readonly ip: Iproute2
  private readonly intervalMs: number
  private readonly peers = new Map<string, Heard>()
  private self: OverlayAnnouncement | undefined
  private ipam: PodIpam | undefined
  private plumbing: BridgePlumbing | undefined
  private applier: OverlayApplier | undefined
  private underlayDevice = ''
  private timer: Timer | undefined
  /** Serializes kernel updates; `dirty` asks the running one for another pass. */
  private programming: Promise<void> | undefined
  private dirty = false
  /** The last pass failed: the next round retries it. */
  private failed = false
  private lastConflicts = ''
  private stopped = false

  constructor(options: PodNetworkOptions) {
    this.options = options
    this.ip = options.iproute ?? new Iproute2()
    this.intervalMs = options.announceIntervalMs ?? ANNOUNCE_INTERVAL_MS_DEFAULT
  }

  /** This node's announcement (after `start`). */
  get announcement(): OverlayAnnouncement | undefined {
    return this.self
  }

  /** The bridge's address, the pods' default gateway (after `start`): where node-local services for pods listen. */
  get gatewayIp(): string | undefined {
    return this.ipam?.gateway
  }

  /** The peers currently programmed or about to be, by node name. */
  livePeers(): OverlayAnnouncement[] {
    return [...this.peers.values()].map((heard) => heard.announcement)
  }

  /**
   * Sets the node up: the bridge with the pod CIDR's gateway, the overlay device, the routes a
   * previous run left (adopted), then announces itself and programs peers as they are heard.
   */
  async start(config: PodNetworkConfig): Promise<void> {
    assert(this.self === undefined && !this.stopped, 'a pod network is started once')
    if (!OVERLAY_BACKENDS.includes(config.backend)) throw new OverlayError(`the overlay backend must be host-gw or vxlan, got "${String(config.backend)}"`)
    const cidr = parseCidr(config.podCidr)
    const clusterCidr = this.options.clusterCidr ?? DEFAULT_CLUSTER_CIDR
    const cluster = parseCidr(clusterCidr)
    // The overlay adopts and withdraws routes inside the cluster CIDR: the node's own must lie in it.
    if (!cidrContains(cluster, cidr.base) || !cidrContains(cluster, cidr.base + cidr.size - 1)) throw new OverlayError(`the pod CIDR ${config.podCidr} is not inside the cluster's pod network ${clusterCidr}`)
    if (parseIpv4(config.underlayIp) === undefined) throw new OverlayError(`"${config.underlayIp}" is not an IPv4 underlay address`)
    const underlay = await this.findUnderlay(config.underlayIp)
    this.underlayDevice = underlay.ifname
    const podMtuBytes = config.backend === 'vxlan' ? underlay.mtu - VXLAN_OVERHEAD_BYTES : underlay.mtu
    const bridge = this.options.bridge ?? DEFAULT_BRIDGE
    this.ipam = new PodIpam({ podCidr: config.podCidr, stateFile: join(this.options.dataDirectory, 'pod-network', 'ipam.json'), log: this.options.log })
    this.plumbing = new BridgePlumbing({
      bridge,
      gatewayIp: formatIpv4(cidr.base + 1),
      prefixLength: cidr.prefixLength,
      mtuBytes: podMtuBytes,
      iproute: this.ip,
      ...(this.options.hostNetnsPid !== undefined ? { hostNetnsPid: this.options.hostNetnsPid } : {}),
    })
    this.self = { node: this.options.nodeName, backend: config.backend, podCidr: config.podCidr, underlayIp: config.underlayIp, vtepMac: vtepMacFor(config.underlayIp) }
    this.applier = new OverlayApplier({ self: this.self, underlayDevice: underlay.ifname, vxlanMtuBytes: underlay.mtu - VXLAN_OVERHEAD_BYTES, bridge, iproute: this.ip, ...(this.options.clusterCidr !== undefined ? { clusterCidr: this.options.clusterCidr } : {}) })
    await this.plumbing.ensureBridge()
    const serviceCidr = this.options.serviceCidr ?? DEFAULT_SERVICE_CIDR
    if (serviceCidr !== '') await this.ip.ip(['route', 'replace', serviceCidr, 'dev', bridge])
    await this.applier.ensureDevice()
    await this.applier.adopt()
    // Malformed announcements count against the neighbour that relayed them, and go no further.
    this.options.gossip.setValidator(OVERLAY_TOPIC, (_from, data): GossipVerdict => (decodeAnnouncement(data) === undefined ? 'reject' : 'accept'))
    this.options.gossip.subscribe(OVERLAY_TOPIC, (_from, data) => this.heard(data))
    this.options.log(`pod network: ${config.backend} overlay, pod CIDR ${config.podCidr} on ${bridge} (MTU ${podMtuBytes}), underlay ${config.underlayIp} on ${underlay.ifname}`)
    this.requestProgramming()
    this.tick()
  }

  /** Stops announcing and listening; the kernel state stays (see the module comment). */
  stop(): void {
    this.stopped = true
    this.timer?.cancel()
    if (this.self !== undefined) {
      this.options.gossip.unsubscribe(OVERLAY_TOPIC)
      this.options.gossip.setValidator(OVERLAY_TOPIC, undefined)
    }
  }

  /**
   * Gives the pod its address (the one it already has, after a daemon restart or a new sandbox)
   * and plumbs the sandbox; resolves with the pod IP.
   */
  async setUpPod(pod: PodNetworkPodRef, sandbox: PodSandboxRef): Promise<string> {
    const { ipam, plumbing } = this.started()
    if (sandbox.netnsPath === undefined || sandbox.netnsPath === '') throw new PodNetworkError(`the sandbox of pod ${pod.namespace}/${pod.name} has no network namespace to plumb (is it running?)`)
    const podIp = ipam.allocate(pod.uid)
    await plumbing.attach({ podUid: pod.uid, netnsPath: sandbox.netnsPath, podIp })
    return podIp
  }

  /** Removes what is left of the pod's plumbing and frees its address. */
  async tearDownPod(podUid: string): Promise<void> {
    const { ipam, plumbing } = this.started()
    await plumbing.detach(podUid)
    ipam.release(podUid)
  }

  /** The uids of the pods that hold an address. */
  podsWithAddresses(): string[] {
    return this.ipam === undefined ? [] : [...this.ipam.allocations().keys()]
  }

  /** The pod's address, if it has one. */
  podIpOf(podUid: string): string | undefined {
    return this.ipam?.ipOf(podUid)
  }

  private started(): { ipam: PodIpam; plumbing: BridgePlumbing } {
    if (this.ipam === undefined || this.plumbing === undefined) throw new PodNetworkError('the pod network is not started yet (it waits for the Node\'s spec.podCIDR)')
    return { ipam: this.ipam, plumbing: this.plumbing }
  }

  private async findUnderlay(underlayIp: string): Promise<IpAddrInfo> {
    const interfaces = await this.ip.ipJson<IpAddrInfo>(['addr', 'show'])
    const found = interfaces.find((info) => info.addr_info.some((address) => address.family === 'inet' && address.local === underlayIp))
    if (found === undefined) throw new OverlayError(`no interface holds the underlay address ${underlayIp} (pass the node's own address with --underlay-ip)`)
    return found
  }

  /** Announces, expires silent peers, and schedules the next round. */
  private tick(): void {
    if (this.stopped) return
    void this.announce()
    const nowMs = this.options.timers.monotonicMs()
    let expired = false
    for (const [node, heard] of this.peers) {
      if (nowMs - heard.heardAtMs <= EXPIRY_INTERVALS * this.intervalMs) continue
      this.peers.delete(node)
      this.options.log(`pod network: withdrawing node ${node} (${heard.announcement.podCidr}): not heard for ${Math.round(nowMs - heard.heardAtMs)} ms`)
      expired = true
    }
    if (expired || this.failed) this.requestProgramming()
    this.timer = this.options.timers.after(this.intervalMs, () => this.tick())
  }

  private async announce(): Promise<void> {
    if (this.self === undefined) return
    await this.options.gossip.publish(OVERLAY_TOPIC, new TextEncoder().encode(JSON.stringify(this.self))).catch(() => {
      // No subscriber reachable yet (a lone node): the next round tries again.
    })
  }

  private heard(data: Uint8Array): void {
    const announcement = decodeAnnouncement(data)
    if (announcement === undefined || this.stopped || announcement.node === this.options.nodeName) return
    const previous = this.peers.get(announcement.node)
    this.peers.set(announcement.node, { announcement, heardAtMs: this.options.timers.monotonicMs() })
    if (previous !== undefined && sameAnnouncement(previous.announcement, announcement)) return
    this.options.log(`pod network: node ${announcement.node} at ${announcement.underlayIp} has ${announcement.podCidr}${previous === undefined ? '' : ' (changed)'}`)
    this.requestProgramming()
    // A newcomer learns about us at our next round; tell it now so its routes follow at once.
    if (previous === undefined) void this.announce()
  }

  /** Runs one programming pass at a time; a request during a pass schedules one more. */
  private requestProgramming(): void {
    if (this.programming !== undefined) {
      this.dirty = true
      return
    }
    this.programming = this.program().finally(() => {
      this.programming = undefined
      if (this.dirty && !this.stopped) {
        this.dirty = false
        this.requestProgramming()
      }
    })
  }

  /** Resolves once no programming pass is running or queued (for tests). */
  async settled(): Promise<void> {
    while (this.programming !== undefined) await this.programming
  }

  private async program(): Promise<void> {
    const { self, applier } = this
    if (self === undefined || applier === undefined) return
    const plan = planOverlay(self, this.livePeers(), this.underlayDevice)
    const conflicts = plan.conflicts.join('; ')
    if (conflicts !== this.lastConflicts && conflicts !== '') this.options.log(`pod network: peers left out: ${conflicts}`)
    this.lastConflicts = conflicts
    try {
      await applier.apply(plan)
      this.failed = false
    } catch (error) {
      // Retried at the next round; `replace` and tolerant deletes make a repeated pass safe.
      if (!this.failed) this.options.log(`pod network: programming the overlay failed: ${(error as Error).message}; retrying every ${this.intervalMs} ms`)
      this.failed = true
    }
  }
}

function sameAnnouncement(a: OverlayAnnouncement, b: OverlayAnnouncement): boolean {
  return a.node === b.node && a.backend === b.backend && a.podCidr === b.podCidr && a.underlayIp === b.underlayIp && a.vtepMac === b.vtepMac
}

const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** An announcement from gossip bytes, or undefined when they are not a well-formed one. */
export function decodeAnnouncement(data: Uint8Array): OverlayAnnouncement | undefined {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(data))
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { node, backend, podCidr, underlayIp, vtepMac } = value as Record<string, unknown>
  if (typeof node !== 'string' || node === '' || typeof podCidr !== 'string' || typeof underlayIp !== 'string' || typeof vtepMac !== 'string') return undefined
  if (!OVERLAY_BACKENDS.includes(backend as OverlayBackend) || !MAC_PATTERN.test(vtepMac) || parseIpv4(underlayIp) === undefined) return undefined
  try {
    parseCidr(podCidr)
  } catch {
    return undefined
  }
  return { node, backend: backend as OverlayBackend, podCidr, underlayIp, vtepMac }
}
