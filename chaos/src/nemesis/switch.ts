/**
 * Network faults on the lab's switch namespace, out of reach of the daemons under test (they own
 * the host namespaces and their nft state): partitions and packet loss in the nft bridge table
 * `fl-chaos`, bandwidth limits as tbf on a switch port, and pulled cables (port down).
 *
 * Partitions and loss are kept as a desired state (a cut set and a list of loss rules, each owned
 * by one fault) and every change rewrites the table in ONE atomic `nft -j` batch, so the switch is
 * never half-partitioned and healing one fault never disturbs another.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../lab/exec.ts'
import type { LabPlan } from '../lab/plan.ts'

export const CHAOS_TABLE = 'fl-chaos'
/** Before any other bridge filter, so a cut frame is dropped before anything sees it. */
const FORWARD_PRIORITY = -200

/** A frame from port `from` to port `to` (host names, which are the switch's port names). */
export interface Link {
  readonly from: string
  readonly to: string
}

export interface LossRule extends Link {
  /** 0–100: the share of frames dropped. */
  readonly percent: number
}

type NftCommand = Record<string, unknown>

const table = { family: 'bridge', name: CHAOS_TABLE }
const ref = { family: 'bridge', table: CHAOS_TABLE }
const meta = (key: string): unknown => ({ meta: { key } })
const equals = (left: unknown, right: unknown): unknown => ({ match: { op: '==', left, right } })

export class SwitchChaos {
  private readonly plan: LabPlan
  private readonly cuts = new Map<string, readonly Link[]>()
  private readonly losses = new Map<string, LossRule>()
  private readonly shaped = new Set<string>()
  private readonly portsDown = new Set<string>()

  constructor(plan: LabPlan) {
    this.plan = plan
  }

  /** Links `links` stop carrying frames until `uncut(id)`; returns nothing until applied. */
  async cut(id: string, links: readonly Link[]): Promise<void> {
    this.cuts.set(id, links)
    await this.apply()
  }

  async uncut(id: string): Promise<void> {
    if (this.cuts.delete(id)) await this.apply()
  }

  async loss(id: string, rule: LossRule): Promise<void> {
    this.losses.set(id, rule)
    await this.apply()
  }

  async unloss(id: string): Promise<void> {
    if (this.losses.delete(id)) await this.apply()
  }

  /** Limits traffic TO `host` (the egress of its switch port) to `rate` (tc syntax: 8mbit). */
  async limitBandwidth(host: string, rate: string): Promise<void> {
    await this.inSwitch(['tc', 'qdisc', 'replace', 'dev', host, 'root', 'tbf', 'rate', rate, 'burst', '32kbit', 'latency', '200ms'])
    this.shaped.add(host)
  }

  async unlimitBandwidth(host: string): Promise<void> {
    if (!this.shaped.delete(host)) return
    await this.inSwitch(['tc', 'qdisc', 'del', 'dev', host, 'root']).catch(() => undefined)
  }

  /** Pulls or plugs the host's cable: its switch port goes down or up. */
  async setPort(host: string, up: boolean): Promise<void> {
    await run('ip', ['-n', this.plan.switchNetns, 'link', 'set', host, up ? 'up' : 'down'])
    if (up) this.portsDown.delete(host)
    else this.portsDown.add(host)
  }

  /** Removes every network fault: the table, every tbf, every pulled cable. */
  async healAll(): Promise<void> {
    this.cuts.clear()
    this.losses.clear()
    await this.inSwitch(['nft', 'delete', 'table', 'bridge', CHAOS_TABLE]).catch(() => undefined)
    for (const host of [...this.shaped]) await this.unlimitBandwidth(host)
    for (const host of [...this.portsDown]) await this.setPort(host, true)
  }

  /** The batch that makes the table match the desired state (creating it when absent). */
  batch(): { nftables: NftCommand[] } {
    const links = dedupe([...this.cuts.values()].flat())
    const commands: NftCommand[] = [
      { add: { table } },
      { add: { set: { ...ref, name: 'cut', type: ['ifname', 'ifname'] } } },
      { add: { chain: { ...ref, name: 'loss' } } },
      { add: { chain: { ...ref, name: 'forward', type: 'filter', hook: 'forward', prio: FORWARD_PRIORITY, policy: 'accept' } } },
      { flush: { chain: { ...ref, name: 'forward' } } },
      { add: { rule: { ...ref, chain: 'forward', expr: [equals({ concat: [meta('iifname'), meta('oifname')] }, '@cut'), { counter: null }, { drop: null }] } } },
      { add: { rule: { ...ref, chain: 'forward', expr: [{ jump: { target: 'loss' } }] } } },
      { flush: { set: { ...ref, name: 'cut' } } },
      { flush: { chain: { ...ref, name: 'loss' } } },
    ]
    if (links.length > 0) commands.push({ add: { element: { ...ref, name: 'cut', elem: links.map((link) => ({ concat: [link.from, link.to] })) } } })
    for (const rule of this.losses.values()) {
      commands.push({
        add: {
          rule: {
            ...ref,
            chain: 'loss',
            expr: [equals(meta('iifname'), rule.from), equals(meta('oifname'), rule.to), { match: { op: '<', left: { numgen: { mode: 'random', mod: 100, offset: 0 } }, right: rule.percent } }, { counter: null }, { drop: null }],
          },
        },
      })
    }
    return { nftables: commands }
  }

  private async apply(): Promise<void> {
    // A file, not stdin: nft opens /dev/stdin, which a Node pipe (a socket) cannot provide.
    const file = join(this.plan.directory, 'chaos-nft.json')
    writeFileSync(file, JSON.stringify(this.batch()))
    try {
      await run('nsenter', [`--net=/run/netns/${this.plan.switchNetns}`, '--', 'nft', '-j', '-f', file])
    } finally {
      rmSync(file, { force: true })
    }
  }

  private inSwitch(command: readonly string[]): Promise<string> {
    return run('nsenter', [`--net=/run/netns/${this.plan.switchNetns}`, '--', ...command])
  }
}

function dedupe(links: readonly Link[]): Link[] {
  const seen = new Map<string, Link>()
  for (const link of links) seen.set(`${link.from}>${link.to}`, link)
  return [...seen.values()]
}

/** Every link between the groups, both ways (symmetric) or only from group i to later groups. */
export function partitionLinks(groups: readonly (readonly string[])[], oneWay = false): Link[] {
  const links: Link[] = []
  for (let i = 0; i < groups.length; i++) {
    for (let j = 0; j < groups.length; j++) {
      if (i === j || (oneWay && j < i)) continue
      for (const from of groups[i]!) for (const to of groups[j]!) links.push({ from, to })
    }
  }
  return links
}
