/**
 * CNI-bridge-style pod plumbing on one node: a bridge (`cbr0`) holding the pod CIDR's gateway
 * address, and per pod a veth pair — one end in the pod's sandbox namespace as `eth0` with the
 * pod's address and a default route via the gateway, the other on the bridge with hairpin on
 * (a pod that reaches a Service VIP load-balanced to itself needs its frame sent back out of the
 * port it came in on; without hairpin those connections stall).
 *
 * Every operation is idempotent: re-running it after a crash or a daemon restart converges on the
 * same state instead of failing on "File exists".
 */
import { createHash } from 'node:crypto'
import { FlotillaError } from '../../../lib/errors.ts'
import { Iproute2, type IpAddrInfo, type IpLink } from './ip.ts'

/** The pod-side interface name, as Kubernetes pods expect. */
export const POD_INTERFACE = 'eth0'
export const DEFAULT_BRIDGE = 'cbr0'

/** The sandbox's namespace cannot be plumbed (no namespace path, namespace gone). */
export class PodPlumbingError extends FlotillaError {
  override name = 'PodPlumbingError'
}

export interface BridgeOptions {
  readonly bridge?: string
  /** The gateway address the bridge holds, e.g. 10.244.1.1. */
  readonly gatewayIp: string
  readonly prefixLength: number
  /** The bridge's MTU (and the pods'): the underlay's, less the overlay's encapsulation. */
  readonly mtuBytes: number
  readonly iproute?: Iproute2
  /**
   * A process in the namespace that holds the bridge (default: this process). The veth pair is
   * created inside the sandbox and its host end moved here by this PID, which works for any
   * sandbox namespace path.
   */
  readonly hostNetnsPid?: number
}

export interface AttachRequest {
  readonly podUid: string
  /** The sandbox's network namespace, e.g. /proc/<pid>/ns/net. */
  readonly netnsPath: string
  readonly podIp: string
}

/** The host end's name: `vfl` + 12 hex digits of the pod uid's hash (interface names hold 15 characters). */
export function hostInterfaceName(podUid: string): string {
  return `vfl${createHash('sha256').update(podUid).digest('hex').slice(0, 12)}`
}

export class BridgePlumbing {
  readonly bridge: string
  private readonly options: BridgeOptions
  private readonly ip: Iproute2
  private readonly hostNetnsPid: number

  constructor(options: BridgeOptions) {
    this.options = options
    this.bridge = options.bridge ?? DEFAULT_BRIDGE
    this.ip = options.iproute ?? new Iproute2()
    this.hostNetnsPid = options.hostNetnsPid ?? process.pid
  }

  /** Creates the bridge if missing and gives it the gateway address, the MTU and state up. */
  async ensureBridge(): Promise<void> {
    const { gatewayIp, prefixLength, mtuBytes } = this.options
    if ((await this.ip.link(this.bridge)) === undefined) {
      await this.ip.ip(['link', 'add', this.bridge, 'mtu', String(mtuBytes), 'type', 'bridge'])
    }
    await this.ip.ip(['link', 'set', this.bridge, 'mtu', String(mtuBytes), 'up'])
    await this.ip.ip(['addr', 'replace', `${gatewayIp}/${prefixLength}`, 'dev', this.bridge])
  }

  /**
   * Plumbs the pod: a veth pair whose sandbox end is `eth0` with `podIp/prefix` and a default
   * route via the gateway, and whose host end is on the bridge with hairpin on. A pair already
   * in place (same peer, same address) is kept; a stale host end is replaced.
   */
  async attach(request: AttachRequest): Promise<void> {
    const { mtuBytes, gatewayIp, prefixLength } = this.options
    const pod = { netnsPath: request.netnsPath }
    const hostEnd = hostInterfaceName(request.podUid)
    let existingHost = await this.ip.link(hostEnd)
    let podEnd: IpLink | undefined
    try {
      podEnd = await this.ip.link(POD_INTERFACE, pod)
    } catch (error) {
      throw new PodPlumbingError(`cannot enter the sandbox network namespace ${request.netnsPath} of pod ${request.podUid}`, { cause: error })
    }
    const paired = existingHost !== undefined && podEnd !== undefined && isPeerOf(existingHost, podEnd)
    if (!paired) {
      // A host end without its peer here belongs to an earlier sandbox of the pod; an eth0 that
      // is not ours (the runtime gave the sandbox a network after all) is refused below.
      if (existingHost !== undefined) await this.ip.deleteIfPresent('ip', ['link', 'del', hostEnd])
      if (podEnd !== undefined) throw new PodPlumbingError(`sandbox ${request.netnsPath} of pod ${request.podUid} already has an ${POD_INTERFACE} that is not this node's veth; was it created with network "none"?`)
      await this.ip.ip(['link', 'add', POD_INTERFACE, 'mtu', String(mtuBytes), 'type', 'veth', 'peer', 'name', hostEnd, 'mtu', String(mtuBytes), 'netns', String(this.hostNetnsPid)], pod)
      existingHost = await this.ip.link(hostEnd)
    }
    if (existingHost === undefined) throw new PodPlumbingError(`the host end ${hostEnd} of pod ${request.podUid}'s veth did not appear in the bridge's namespace`)
    await this.ip.ip(['addr', 'replace', `${request.podIp}/${prefixLength}`, 'dev', POD_INTERFACE], pod)
    await this.ip.ip(['link', 'set', POD_INTERFACE, 'up'], pod)
    await this.ip.ip(['link', 'set', 'lo', 'up'], pod)
    await this.ip.ip(['route', 'replace', 'default', 'via', gatewayIp, 'dev', POD_INTERFACE], pod)
    if (existingHost.master !== this.bridge) await this.ip.ip(['link', 'set', hostEnd, 'master', this.bridge])
    await this.ip.ip(['link', 'set', hostEnd, 'up'])
    await this.ip.bridge(['link', 'set', 'dev', hostEnd, 'hairpin', 'on'])
  }

  /**
   * Removes the pod's veth pair. Usually a no-op: the pair dies with the sandbox's namespace;
   * this covers a sandbox whose namespace outlives it.
   */
  async detach(podUid: string): Promise<void> {
    await this.ip.deleteIfPresent('ip', ['link', 'del', hostInterfaceName(podUid)])
  }

  /** The pod-side addresses of the sandbox (for tests and diagnostics). */
  async podAddresses(netnsPath: string): Promise<string[]> {
    const infos = await this.ip.ipJson<IpAddrInfo>(['addr', 'show', 'dev', POD_INTERFACE], { netnsPath })
    return infos.flatMap((info) => info.addr_info.filter((address) => address.family === 'inet').map((address) => address.local))
  }
}

/**
 * Whether two veth ends are each other's peer: each names the other's interface index as its
 * link. (Indices are per namespace, so both directions must agree.)
 */
function isPeerOf(hostEnd: IpLink, podEnd: IpLink): boolean {
  return hostEnd.link_index === podEnd.ifindex && podEnd.link_index === hostEnd.ifindex
}
