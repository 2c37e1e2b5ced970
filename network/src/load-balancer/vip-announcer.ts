/**
 * The LoadBalancer address announcer of one node (layer 2, like MetalLB's L2 mode and kube-vip's
 * ARP mode): the node that vip-plan.ts chooses for an address adds `VIP/32` to its underlay
 * interface — the kernel then answers ARP for it and the service proxy's DNAT (service-rules.ts)
 * takes the packets — and sends gratuitous ARP so that peers and routers move their neighbour
 * entries at once instead of after they go stale. Every other node removes the address if it
 * holds it.
 *
 * Each node decides alone, from its own caches and its gossip liveness view, every
 * `reconcileIntervalMs` (1 s) and shortly after a change; so when the announcer dies the others
 * agree on its successor as soon as gossip declares it dead, without waiting for Raft or for the
 * leader to mark the Node NotReady. Two nodes may announce one address for a moment (a partition,
 * differing views); ARP then follows the last announcement, which is the usual failure mode of
 * layer-2 load balancers and heals at the next reconcile.
 *
 * Ownership: the addresses are added with the label `<interface>:lb`, so after a crash or restart
 * the node finds and removes the ones it no longer should hold, and never touches addresses it did
 * not add. `stop()` removes every address this node holds.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Timer, Timers } from '../../../lib/timers.ts'
import { IpCommandError, Iproute2, type IpAddrInfo } from '../pod-network/ip.ts'
import { planVipAssignments, vipsFor, type KubeObject } from './vip-plan.ts'

/** Linux interface names (and so address labels) are at most 15 characters. */
const LABEL_LENGTH_MAX = 15
const LABEL_SUFFIX = ':lb'
const RECONCILE_INTERVAL_DEFAULT_MS = 1000
const DEBOUNCE_DEFAULT_MS = 50
export const BUSYBOX_PATH = '/bin/busybox'
/** Two unsolicited ARPs a second apart: one may be lost while a switch port comes up. */
const GRATUITOUS_ARP_COUNT = 2
const ARPING_TIMEOUT_MS = 10_000

/** `ip -j addr` with the labels of IPv4 addresses. */
interface LabelledAddrInfo {
  readonly ifname: string
  readonly addr_info: ReadonlyArray<{ readonly family: string; readonly local: string; readonly prefixlen: number; readonly label?: string }>
}

/** What the announcer reads at every reconcile: the node's current caches. */
export interface VipSnapshot {
  readonly services: readonly KubeObject[]
  readonly nodes: readonly KubeObject[]
  readonly endpointSlices: readonly KubeObject[]
}

/** Sends gratuitous ARP for `ip` on `interfaceName`; rejects when it could not. */
export type GratuitousArp = (interfaceName: string, ip: string) => Promise<void>

export interface VipAnnouncerOptions {
  readonly nodeName: string
  /** The node's underlay address: the interface holding it carries the VIPs. */
  readonly underlayIp: string
  readonly timers: Timers
  readonly snapshot: () => VipSnapshot
  /** This node's gossip view of a node's liveness (its own node must be alive). */
  readonly isAlive: (nodeName: string) => boolean
  readonly log: (line: string) => void
  readonly ip?: Iproute2
  /** Default: `busybox arping -U`, or nothing (logged once) when busybox is not there. */
  readonly gratuitousArp?: GratuitousArp
  readonly reconcileIntervalMs?: number
  readonly debounceMs?: number
}

/** One reconcile's outcome. */
export interface VipReconcileReport {
  readonly interfaceName: string | undefined
  readonly added: readonly string[]
  readonly removed: readonly string[]
  readonly held: readonly string[]
  readonly error?: unknown
}

/** `busybox arping -U -c 2 -I <interface> <ip>`: unsolicited ARP requests for the address. */
export function busyboxGratuitousArp(busyboxPath = BUSYBOX_PATH): GratuitousArp {
  return (interfaceName, ip) =>
    new Promise((resolve, reject) => {
      const args = ['arping', '-U', '-c', String(GRATUITOUS_ARP_COUNT), '-I', interfaceName, ip]
      execFile(busyboxPath, args, { timeout: ARPING_TIMEOUT_MS, killSignal: 'SIGKILL', encoding: 'utf8' }, (error, _stdout, stderr) => {
        // arping -U exits 1 when nobody answers, which is the normal case for unsolicited ARP.
        if (error === null || error.code === 1) resolve()
        else reject(new Error(`${busyboxPath} ${args.join(' ')} failed: ${stderr.trim() || error.message}`))
      })
    })
}

/** The address label that marks our addresses on `interfaceName` (undefined: name too long). */
export function vipLabelFor(interfaceName: string): string | undefined {
  const label = `${interfaceName}${LABEL_SUFFIX}`
  return label.length <= LABEL_LENGTH_MAX ? label : undefined
}

export class VipAnnouncer {
  private readonly options: VipAnnouncerOptions
  private readonly ip: Iproute2
  private readonly gratuitousArp: GratuitousArp | undefined
  private interfaceName: string | undefined
  /** Addresses we added (the label finds them again after a restart; this covers long names). */
  private readonly added = new Set<string>()
  private timer: Timer | undefined
  private running: Promise<VipReconcileReport> | undefined
  private stopped = false
  private changePending = false
  private lastError = ''

  constructor(options: VipAnnouncerOptions) {
    this.options = options
    this.ip = options.ip ?? new Iproute2()
    if (options.gratuitousArp !== undefined) this.gratuitousArp = options.gratuitousArp
    else if (existsSync(BUSYBOX_PATH)) this.gratuitousArp = busyboxGratuitousArp()
    else options.log(`load balancer: ${BUSYBOX_PATH} is missing, so no gratuitous ARP: peers learn a moved address only when their ARP entries expire`)
  }

  /** The addresses this node holds, as of the last reconcile. */
  get held(): string[] {
    return [...this.added].sort()
  }

  /** Starts reconciling: now, then every interval and after changes. */
  start(): void {
    this.schedule(0)
  }

  /** Something the plan reads changed: reconcile after a short quiet period. */
  changed(): void {
    // A burst of changes costs one reconcile, and constant churn cannot postpone it for ever.
    if (this.changePending) return
    this.changePending = true
    this.schedule(this.options.debounceMs ?? DEBOUNCE_DEFAULT_MS)
  }

  /** Stops reconciling and removes every address this node holds. */
  async stop(): Promise<void> {
    this.stopped = true
    this.timer?.cancel()
    this.timer = undefined
    await this.running?.catch(() => undefined)
    const interfaceName = this.interfaceName
    if (interfaceName === undefined) return
    const held = await this.heldAddresses(interfaceName).catch(() => [...this.added])
    for (const vip of held) await this.remove(interfaceName, vip).catch((error: Error) => this.options.log(`load balancer: cannot remove ${vip} from ${interfaceName}: ${error.message}`))
  }

  /** Reconciles now (after any running reconcile), for tests and the first start. */
  async reconcileNow(): Promise<VipReconcileReport> {
    while (this.running !== undefined) await this.running
    const run = this.reconcile()
    this.running = run
    try {
      return await run
    } finally {
      this.running = undefined
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return
    this.timer?.cancel()
    this.timer = this.options.timers.after(delayMs, () => {
      this.timer = undefined
      this.changePending = false
      void this.reconcileNow().then((report) => {
        if (report.error !== undefined) {
          const message = String(report.error)
          // Logged when the failure changes, not every second.
          if (message !== this.lastError) this.options.log(`load balancer: reconcile failed: ${message}`)
          this.lastError = message
        } else this.lastError = ''
        if (this.timer === undefined) this.schedule(this.options.reconcileIntervalMs ?? RECONCILE_INTERVAL_DEFAULT_MS)
      })
    })
  }

  private async reconcile(): Promise<VipReconcileReport> {
    const added: string[] = []
    const removed: string[] = []
    let interfaceName = this.interfaceName
    try {
      interfaceName ??= await this.findInterface()
      this.interfaceName = interfaceName
      const { services, nodes, endpointSlices } = this.options.snapshot()
      const assignments = planVipAssignments({ services, nodes, endpointSlices, isAlive: this.options.isAlive })
      const desired = new Set(vipsFor(this.options.nodeName, assignments))
      const held = await this.heldAddresses(interfaceName)
      for (const vip of held) {
        if (desired.has(vip) || this.stopped) continue
        await this.remove(interfaceName, vip)
        removed.push(vip)
        this.options.log(`load balancer: no longer announcing ${vip} on ${interfaceName}`)
      }
      for (const vip of desired) {
        if (held.includes(vip) || this.stopped) continue
        await this.add(interfaceName, vip)
        added.push(vip)
        const service = assignments.find((assignment) => assignment.ip === vip)?.service ?? ''
        this.options.log(`load balancer: announcing ${vip} (${service}) on ${interfaceName}`)
        this.announce(interfaceName, vip)
      }
      return { interfaceName, added, removed, held: this.held }
    } catch (error) {
      // The interface may have been renamed or recreated: look it up again next time.
      this.interfaceName = undefined
      return { interfaceName, added, removed, held: this.held, error }
    }
  }

  /** The interface that holds the underlay address. */
  private async findInterface(): Promise<string> {
    const interfaces = await this.ip.ipJson<IpAddrInfo>(['-4', 'addr', 'show'])
    const found = interfaces.find((entry) => entry.addr_info.some((address) => address.family === 'inet' && address.local === this.options.underlayIp))
    if (found === undefined) throw new Error(`no interface holds the underlay address ${this.options.underlayIp}`)
    return found.ifname
  }

  /** Our /32 addresses on the interface: labelled ones, plus those this process added. */
  private async heldAddresses(interfaceName: string): Promise<string[]> {
    const label = vipLabelFor(interfaceName)
    const [entry] = await this.ip.ipJson<LabelledAddrInfo>(['-4', 'addr', 'show', 'dev', interfaceName])
    const present = (entry?.addr_info ?? []).filter((address) => address.family === 'inet' && address.prefixlen === 32)
    const ours = present.filter((address) => (label !== undefined && address.label === label) || this.added.has(address.local)).map((address) => address.local)
    // Something else removed one of ours (an operator, an interface reset): forget it.
    for (const vip of [...this.added]) if (!present.some((address) => address.local === vip)) this.added.delete(vip)
    return [...new Set(ours)].sort()
  }

  private async add(interfaceName: string, vip: string): Promise<void> {
    const label = vipLabelFor(interfaceName)
    try {
      await this.ip.ip(['addr', 'add', `${vip}/32`, 'dev', interfaceName, ...(label === undefined ? [] : ['label', label])])
    } catch (error) {
      // Already there (unlabelled, added by someone else): it answers ARP anyway; do not own it.
      if (error instanceof IpCommandError && /File exists/.test(error.stderr)) return
      throw error
    }
    this.added.add(vip)
  }

  private async remove(interfaceName: string, vip: string): Promise<void> {
    try {
      await this.ip.ip(['addr', 'del', `${vip}/32`, 'dev', interfaceName])
    } catch (error) {
      if (!(error instanceof IpCommandError && /Cannot assign requested address|not found/i.test(error.stderr))) throw error
    }
    this.added.delete(vip)
  }

  /** Gratuitous ARP in the background: it takes a second and must not hold up the reconcile. */
  private announce(interfaceName: string, vip: string): void {
    this.gratuitousArp?.(interfaceName, vip).catch((error: Error) => this.options.log(`load balancer: gratuitous ARP for ${vip} failed: ${error.message}`))
  }
}
