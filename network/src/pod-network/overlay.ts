/**
 * The Flannel-like overlay between nodes: a pure planner that turns the nodes' announcements
 * (pod CIDR, underlay address, VTEP MAC) into the routes, FDB and neighbour entries this node
 * needs, and an applier that converges the kernel on a plan, touching only what changed.
 *
 * Backends, as Flannel's:
 * - `host-gw`: a route per peer, `10.244.M.0/24 via <peer underlay> dev eth0`. Needs every node
 *   on one L2 segment; no encapsulation, so the full underlay MTU.
 * - `vxlan`: the `flannel.1` VXLAN device (VNI 1, UDP 8472, no learning) holding this node's
 *   `10.244.N.0/32`; per peer a permanent neighbour `10.244.M.0 → <peer VTEP MAC>`, an FDB entry
 *   `<peer VTEP MAC> → dst <peer underlay>`, and `10.244.M.0/24 via 10.244.M.0 dev flannel.1
 *   onlink`. 50 bytes of encapsulation: pods get the underlay MTU less 50.
 *
 * VTEP MACs are derived from the node's underlay address (`0e:00:` + its four octets), not
 * random: a node rebuilt with the same address keeps its MAC, so peers' entries stay valid.
 */
import { FlotillaError } from '../../../lib/errors.ts'
import { cidrContains, cidrsOverlap, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from './cidr.ts'
import { Iproute2, type IpRoute } from './ip.ts'

export type OverlayBackend = 'host-gw' | 'vxlan'
export const OVERLAY_BACKENDS: readonly OverlayBackend[] = ['host-gw', 'vxlan']
export const VXLAN_DEVICE = 'flannel.1'
export const VXLAN_VNI = 1
export const VXLAN_PORT = 8472
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers. */
export const VXLAN_OVERHEAD_BYTES = 50
/** The whole pod network (every node's pod CIDR lies in it): routes in it are the overlay's. */
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/14'

/** What each node gossips about itself. */
export interface OverlayAnnouncement {
  readonly node: string
  readonly backend: OverlayBackend
  readonly podCidr: string
  readonly underlayIp: string
  readonly vtepMac: string
}

export interface OverlayRoute {
  readonly dst: string
  readonly via: string
  readonly dev: string
  readonly onlink: boolean
}

export interface OverlayFdbEntry {
  readonly mac: string
  readonly dst: string
}

export interface OverlayNeighbour {
  readonly ip: string
  readonly mac: string
}

/** The kernel state the overlay wants on one node. */
export interface OverlayEntries {
  readonly routes: readonly OverlayRoute[]
  readonly fdb: readonly OverlayFdbEntry[]
  readonly neighbours: readonly OverlayNeighbour[]
}

export interface OverlayPlan extends OverlayEntries {
  /** Peers left out, and why (overlapping pod CIDRs, another backend, bad addresses). */
  readonly conflicts: readonly string[]
}

/** The overlay's device could not be set up (wrong parameters, no underlay device). */
export class OverlayError extends FlotillaError {
  override name = 'OverlayError'
}

/** The VTEP MAC of the node at `underlayIp`: locally administered, `0e:00:` + the address's octets. */
export function vtepMacFor(underlayIp: string): string {
  const address = parseIpv4(underlayIp)
  if (address === undefined) throw new OverlayError(`"${underlayIp}" is not an IPv4 underlay address`)
  const octets = [0x0e, 0, address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255]
  return octets.map((octet) => octet.toString(16).padStart(2, '0')).join(':')
}

/** The VTEP's own address: the pod CIDR's network address (Flannel's choice, `10.244.N.0`). */
export function vtepAddressOf(podCidr: string): string {
  return formatIpv4(parseCidr(podCidr).base)
}

/**
 * The entries `self` needs to reach `peers` over `self.backend`. Peers are taken in name order,
 * so two nodes resolve a conflict the same way: a peer whose pod CIDR overlaps this node's or an
 * earlier peer's, that runs another backend, or that announces unusable addresses is left out
 * and reported in `conflicts`.
 */
export function planOverlay(self: OverlayAnnouncement, peers: Iterable<OverlayAnnouncement>, underlayDevice: string): OverlayPlan {
  const routes: OverlayRoute[] = []
  const fdb: OverlayFdbEntry[] = []
  const neighbours: OverlayNeighbour[] = []
  const conflicts: string[] = []
  const claimed: Array<{ node: string; cidr: Ipv4Cidr }> = [{ node: self.node, cidr: parseCidr(self.podCidr) }]
  const sorted = [...peers].filter((peer) => peer.node !== self.node).sort((a, b) => a.node.localeCompare(b.node))
  for (const peer of sorted) {
    let cidr: Ipv4Cidr
    try {
      cidr = parseCidr(peer.podCidr)
    } catch (error) {
      conflicts.push(`node ${peer.node}: ${(error as Error).message}`)
      continue
    }
    const overlapping = claimed.find((entry) => cidrsOverlap(entry.cidr, cidr))
    if (overlapping !== undefined) {
      conflicts.push(`node ${peer.node}: pod CIDR ${peer.podCidr} overlaps ${overlapping.node === self.node ? 'this node' : `node ${overlapping.node}`}'s ${formatIpv4(overlapping.cidr.base)}/${overlapping.cidr.prefixLength}`)
      continue
    }
    if (peer.backend !== self.backend) {
      conflicts.push(`node ${peer.node}: runs the ${peer.backend} overlay, this node ${self.backend}`)
      continue
    }
    if (parseIpv4(peer.underlayIp) === undefined || peer.underlayIp === self.underlayIp) {
      conflicts.push(`node ${peer.node}: unusable underlay address "${peer.underlayIp}"`)
      continue
    }
    claimed.push({ node: peer.node, cidr })
    if (self.backend === 'host-gw') {
      routes.push({ dst: peer.podCidr, via: peer.underlayIp, dev: underlayDevice, onlink: false })
    } else {
      const vtep = formatIpv4(cidr.base)
      neighbours.push({ ip: vtep, mac: peer.vtepMac })
      fdb.push({ mac: peer.vtepMac, dst: peer.underlayIp })
      routes.push({ dst: peer.podCidr, via: vtep, dev: VXLAN_DEVICE, onlink: true })
    }
  }
  return { routes, fdb, neighbours, conflicts }
}

/** What to delete and what to (re)write to go from `current` to `desired`. */
export interface OverlayDiff {
  readonly remove: OverlayEntries
  readonly add: OverlayEntries
}

export function diffOverlay(current: OverlayEntries, desired: OverlayEntries): OverlayDiff {
  const routeKey = (route: OverlayRoute): string => `${route.dst} ${route.via} ${route.dev} ${route.onlink}`
  const fdbKey = (entry: OverlayFdbEntry): string => `${entry.mac} ${entry.dst}`
  const neighbourKey = (entry: OverlayNeighbour): string => `${entry.ip} ${entry.mac}`
  const missing = <T>(from: readonly T[], other: readonly T[], key: (item: T) => string): T[] => {
    const keys = new Set(other.map(key))
    return from.filter((item) => !keys.has(key(item)))
  }
  // A changed entry is rewritten with `replace`; only keys no longer wanted at all are deleted.
  const gone = <T>(from: readonly T[], other: readonly T[], identity: (item: T) => string): T[] => {
    const keys = new Set(other.map(identity))
    return from.filter((item) => !keys.has(identity(item)))
  }
  return {
    remove: {
      routes: gone(current.routes, desired.routes, (route) => route.dst),
      fdb: gone(current.fdb, desired.fdb, (entry) => entry.mac),
      neighbours: gone(current.neighbours, desired.neighbours, (entry) => entry.ip),
    },
    add: {
      routes: missing(desired.routes, current.routes, routeKey),
      fdb: missing(desired.fdb, current.fdb, fdbKey),
      neighbours: missing(desired.neighbours, current.neighbours, neighbourKey),
    },
  }
}

export const EMPTY_ENTRIES: OverlayEntries = { routes: [], fdb: [], neighbours: [] }

export interface OverlayApplierOptions {
  readonly self: OverlayAnnouncement
  /** The underlay interface (the one holding self.underlayIp). */
  readonly underlayDevice: string
  /** The VXLAN device's MTU: the underlay's less VXLAN_OVERHEAD_BYTES. */
  readonly vxlanMtuBytes: number
  /** The bridge pods hang off: routes on it are not the overlay's. */
  readonly bridge: string
  readonly clusterCidr?: string
  readonly iproute?: Iproute2
}

/** Converges this node's kernel on overlay plans; remembers what it applied. */
export class OverlayApplier {
  private readonly options: OverlayApplierOptions
  private readonly ip: Iproute2
  private readonly clusterCidr: Ipv4Cidr
  private applied: OverlayEntries = EMPTY_ENTRIES

  constructor(options: OverlayApplierOptions) {
    this.options = options
    this.ip = options.iproute ?? new Iproute2()
    this.clusterCidr = parseCidr(options.clusterCidr ?? DEFAULT_CLUSTER_CIDR)
  }

  /** What the last `apply` (or `adopt`) left in place. */
  get current(): OverlayEntries {
    return this.applied
  }

  /**
   * Sets up the backend's device: for vxlan `flannel.1` with the fixed MAC, VNI, port, MTU and
   * the VTEP address (recreated when an existing one has other parameters); for host-gw, removes
   * a `flannel.1` left from an earlier vxlan run.
   */
  async ensureDevice(): Promise<void> {
    const { self, underlayDevice, vxlanMtuBytes } = this.options
    const existing = await this.ip.link(VXLAN_DEVICE)
    if (self.backend === 'host-gw') {
      if (existing !== undefined) await this.ip.deleteIfPresent('ip', ['link', 'del', VXLAN_DEVICE])
      return
    }
    if (existing !== undefined && !(await this.vxlanMatches())) await this.ip.ip(['link', 'del', VXLAN_DEVICE])
    if (existing === undefined || !(await this.vxlanMatches())) {
      await this.ip.ip(['link', 'add', VXLAN_DEVICE, 'address', self.vtepMac, 'type', 'vxlan', 'id', String(VXLAN_VNI), 'local', self.underlayIp, 'dev', underlayDevice, 'dstport', String(VXLAN_PORT), 'nolearning'])
    }
    await this.ip.ip(['link', 'set', VXLAN_DEVICE, 'mtu', String(vxlanMtuBytes), 'up'])
    await this.ip.ip(['addr', 'replace', `${vtepAddressOf(self.podCidr)}/32`, 'dev', VXLAN_DEVICE])
  }

  private async vxlanMatches(): Promise<boolean> {
    const details = await this.ip.ipJson<{ address?: string; linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number } } }>(['-d', 'link', 'show', 'dev', VXLAN_DEVICE]).catch(() => [])
    const link = details[0]
    const data = link?.linkinfo?.info_data
    return link?.address === this.options.self.vtepMac && link.linkinfo?.info_kind === 'vxlan' && data?.id === VXLAN_VNI && data.local === this.options.self.underlayIp && data.port === VXLAN_PORT
  }

  /**
   * Takes the overlay routes already in the kernel (a previous run of the daemon) as applied, so
   * the first `apply` deletes those of nodes that are gone and leaves the others untouched.
   */
  async adopt(): Promise<void> {
    const own = parseCidr(this.options.self.podCidr)
    const routes = await this.ip.ipJson<IpRoute>(['route', 'show'])
    const adopted: OverlayRoute[] = []
    for (const route of routes) {
      if (route.gateway === undefined || route.dev === this.options.bridge) continue
      let cidr: Ipv4Cidr
      try {
        cidr = parseCidr(route.dst)
      } catch {
        continue
      }
      if (!cidrContains(this.clusterCidr, cidr.base) || cidrsOverlap(cidr, own)) continue
      adopted.push({ dst: route.dst, via: route.gateway, dev: route.dev ?? '', onlink: route.flags?.includes('onlink') ?? false })
    }
    this.applied = { ...this.applied, routes: adopted }
  }

  /** Converges on `desired`: deletes what is no longer wanted (routes first), then writes the rest. */
  async apply(desired: OverlayEntries): Promise<void> {
    const diff = diffOverlay(this.applied, desired)
    for (const route of diff.remove.routes) await this.ip.deleteIfPresent('ip', ['route', 'del', route.dst])
    for (const entry of diff.remove.fdb) await this.ip.deleteIfPresent('bridge', ['fdb', 'del', entry.mac, 'dev', VXLAN_DEVICE])
    for (const entry of diff.remove.neighbours) await this.ip.deleteIfPresent('ip', ['neigh', 'del', entry.ip, 'dev', VXLAN_DEVICE])
    // Neighbour and FDB entries first: a route must not send traffic to a VTEP nobody can resolve.
    for (const entry of diff.add.neighbours) await this.ip.ip(['neigh', 'replace', entry.ip, 'lladdr', entry.mac, 'dev', VXLAN_DEVICE, 'nud', 'permanent'])
    for (const entry of diff.add.fdb) await this.ip.bridge(['fdb', 'replace', entry.mac, 'dev', VXLAN_DEVICE, 'dst', entry.dst])
    for (const route of diff.add.routes) await this.ip.ip(['route', 'replace', route.dst, 'via', route.via, 'dev', route.dev, ...(route.onlink ? ['onlink'] : [])])
    this.applied = desired
  }
}
