/**
 * The lab's naming and address plan for N hosts in Z zones: pure data, computed the same way by
 * `lab up`, `lab status` and `lab down`, and testable without root.
 *
 * Everything the lab creates on the machine is named with the `fl-` prefix (network namespaces
 * `fl-ul` and `fl-hN`, cgroups `fl-hN`, run directories `/run/fl-hN`), so teardown can never touch
 * another tool's objects. All addresses exist only inside the lab's namespaces.
 */
import { join } from 'node:path'
import { InvalidConfigError } from '../../../lib/errors.ts'

export const LAB_PREFIX = 'fl-'
export const DEFAULT_LAB_DIRECTORY = '/tmp/flotilla-lab'
/** The switch namespace: one bridge, one port per host, no IP and no uplink. */
export const SWITCH_NETNS = `${LAB_PREFIX}ul`
export const SWITCH_BRIDGE = 'br0'
export const UNDERLAY_PREFIX_LENGTH = 24
/** Flotilla's ports inside each host (each host has its own loopback and addresses, so they repeat). */
export const P2P_PORT = 7946
export const LOCAL_API_PORT = 7947
export const KUBE_API_PORT = 6443
/** The cgroup v1 controllers that get a `fl-hN` subtree per host (freeze, kill, memory per host). */
export const HOST_CGROUP_CONTROLLERS = ['freezer', 'memory', 'cpu', 'cpuacct', 'pids'] as const
/** 10.250.0.N and 10.244.N.0/24 leave room for hosts 1..250. */
export const MAX_HOSTS = 250

export type Overlay = 'host-gw' | 'vxlan'
export const OVERLAYS: readonly Overlay[] = ['host-gw', 'vxlan']

export interface HostPlan {
  /** 1-based; the last octet of the underlay address. */
  readonly index: number
  /** The Flotilla node name, and the host's name on the switch (its port there). */
  readonly name: string
  readonly zone: string
  readonly netns: string
  /** The switch-side end of the host's veth (in SWITCH_NETNS). */
  readonly switchPort: string
  readonly underlayIp: string
  /** Fixed, so peers' ARP entries stay valid when a host is rebuilt. */
  readonly underlayMac: string
  /** The host's pod range; its engine's default bridge takes the first address. */
  readonly podCidr: string
  readonly engineBridgeIp: string
  /** Volatile state (engine exec-root, socket, pidfile): lost when the host "reboots". */
  readonly runDirectory: string
  /** Persistent state (engine data-root, Flotilla data): the host's "disk". */
  readonly diskDirectory: string
  readonly dockerSocket: string
  readonly flotillaData: string
  /** The cgroup (under each controller) holding everything the host runs. */
  readonly cgroup: string
  readonly p2pListen: string
  readonly kubeListen: string
}

export interface LabPlan {
  readonly directory: string
  readonly overlay: Overlay
  readonly zones: number
  readonly hosts: readonly HostPlan[]
  readonly switchNetns: string
  readonly switchBridge: string
  readonly logDirectory: string
  readonly stateFile: string
}

export interface LabPlanOptions {
  readonly hosts: number
  readonly zones: number
  readonly directory?: string
  readonly overlay?: Overlay
}

/** The plan for `hosts` hosts, zones `z1..zZ` assigned round-robin (h1→z1, h2→z2, …). */
export function labPlan(options: LabPlanOptions): LabPlan {
  const { hosts, zones } = options
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > MAX_HOSTS) throw new InvalidConfigError(`--hosts must be a whole number from 1 to ${MAX_HOSTS}, got ${hosts}`)
  if (!Number.isInteger(zones) || zones < 1 || zones > hosts) throw new InvalidConfigError(`--zones must be a whole number from 1 to the number of hosts (${hosts}), got ${zones}`)
  const overlay = options.overlay ?? 'host-gw'
  if (!OVERLAYS.includes(overlay)) throw new InvalidConfigError(`--overlay must be host-gw or vxlan, got "${String(overlay)}"`)
  const directory = options.directory ?? DEFAULT_LAB_DIRECTORY
  const hostPlans: HostPlan[] = []
  for (let index = 1; index <= hosts; index++) hostPlans.push(hostPlan(directory, index, `z${((index - 1) % zones) + 1}`))
  return {
    directory,
    overlay,
    zones,
    hosts: hostPlans,
    switchNetns: SWITCH_NETNS,
    switchBridge: SWITCH_BRIDGE,
    logDirectory: join(directory, 'logs'),
    stateFile: join(directory, 'lab.json'),
  }
}

function hostPlan(directory: string, index: number, zone: string): HostPlan {
  const name = `h${index}`
  const underlayIp = `10.250.0.${index}`
  const runDirectory = `/run/${LAB_PREFIX}${name}`
  const diskDirectory = join(directory, name)
  return {
    index,
    name,
    zone,
    netns: `${LAB_PREFIX}${name}`,
    switchPort: name,
    underlayIp,
    underlayMac: `02:00:0a:fa:00:${index.toString(16).padStart(2, '0')}`,
    podCidr: `10.244.${index}.0/24`,
    engineBridgeIp: `10.244.${index}.1/24`,
    runDirectory,
    diskDirectory,
    dockerSocket: join(runDirectory, 'docker.sock'),
    flotillaData: join(diskDirectory, 'flotilla'),
    cgroup: `${LAB_PREFIX}${name}`,
    p2pListen: `/ip4/${underlayIp}/tcp/${P2P_PORT}`,
    kubeListen: `${underlayIp}:${KUBE_API_PORT}`,
  }
}
