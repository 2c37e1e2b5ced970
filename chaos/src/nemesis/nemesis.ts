/**
 * The nemesis: every fault the lab can inject, each returning its heal, with a log of when each
 * fault began and was healed (for the report's timeline). `healAll()` heals whatever is still
 * active, then clears every switch rule, so a run always ends with a whole, connected lab.
 */
import type { HostPlan, LabPlan } from '../lab/plan.ts'
import { crashDaemon, freezeHost, killHost, restartDaemon, restartHost, thawHost } from './hosts.ts'
import { LatencyInjector } from './latency.ts'
import { partitionLinks, SwitchChaos, type Link } from './switch.ts'

export type Heal = () => Promise<void>

export interface FaultRecord {
  readonly id: string
  readonly kind: string
  readonly description: string
  readonly injectedMs: number
  healedMs?: number
  healError?: string
}

export class Nemesis {
  readonly plan: LabPlan
  readonly network: SwitchChaos
  readonly latency: LatencyInjector
  readonly log: FaultRecord[] = []
  private readonly now: () => number
  private readonly active = new Map<string, Heal>()
  private sequence = 0

  constructor(plan: LabPlan, now: () => number = () => performance.now()) {
    this.plan = plan
    this.network = new SwitchChaos(plan)
    this.latency = new LatencyInjector(plan.switchNetns)
    this.now = now
  }

  host(name: string): HostPlan {
    const host = this.plan.hosts.find((candidate) => candidate.name === name)
    if (host === undefined) throw new RangeError(`no host ${name} in the lab`)
    return host
  }

  hostsInZone(zone: string): HostPlan[] {
    return this.plan.hosts.filter((host) => host.zone === zone)
  }

  /** Kills a host (cable pulled, every process killed); heal = boot it again with its disk. */
  killHost(name: string): Promise<Heal> {
    const host = this.host(name)
    return this.inject('kill-host', `kill ${name}`, async () => {
      await killHost(this.network, host)
      return () => restartHost(this.plan, this.network, host)
    })
  }

  /** Kills every host of a zone at once; heal = boot them all again. */
  killZone(zone: string): Promise<Heal> {
    const hosts = this.hostsInZone(zone)
    return this.inject('kill-zone', `kill zone ${zone} (${hosts.map((host) => host.name).join(', ')})`, async () => {
      await Promise.all(hosts.map((host) => killHost(this.network, host)))
      return async () => {
        await Promise.all(hosts.map((host) => restartHost(this.plan, this.network, host)))
      }
    })
  }

  /** A hung host: every process frozen, the kernel still answering; `pullCable` makes it silent too. */
  freeze(name: string, pullCable = false): Promise<Heal> {
    const host = this.host(name)
    return this.inject('freeze', `freeze ${name}${pullCable ? ' (cable pulled)' : ''}`, async () => {
      await freezeHost(host)
      if (pullCable) await this.network.setPort(name, false)
      return async () => {
        await thawHost(host)
        if (pullCable) await this.network.setPort(name, true)
      }
    })
  }

  /** Symmetric partition: no frame crosses between the groups (host names). */
  partition(groups: readonly (readonly string[])[]): Promise<Heal> {
    return this.cut('partition', `partition ${groups.map((group) => `{${group.join(',')}}`).join(' | ')}`, partitionLinks(groups))
  }

  /** One-way partition: frames from `from` hosts to `to` hosts are dropped, the reverse flows. */
  partitionOneWay(from: readonly string[], to: readonly string[]): Promise<Heal> {
    return this.cut('partition-one-way', `one-way cut {${from.join(',')}} -> {${to.join(',')}}`, partitionLinks([from, to], true))
  }

  /** Drops `percent`% of frames from host `from` to host `to`. */
  packetLoss(from: string, to: string, percent: number): Promise<Heal> {
    return this.inject('loss', `${percent}% loss ${from} -> ${to}`, async (id) => {
      await this.network.loss(id, { from, to, percent })
      return () => this.network.unloss(id)
    })
  }

  /** Limits the bandwidth towards `host` (tc rate syntax, e.g. 1mbit). */
  bandwidth(name: string, rate: string): Promise<Heal> {
    return this.inject('bandwidth', `bandwidth to ${name} ${rate}`, async () => {
      await this.network.limitBandwidth(name, rate)
      return () => this.network.unlimitBandwidth(name)
    })
  }

  /** SIGKILLs the host's daemon only; its workloads keep running. Heal = `flotilla start`. */
  crashDaemon(name: string): Promise<Heal> {
    const host = this.host(name)
    return this.inject('daemon-crash', `crash the daemon of ${name}`, async () => {
      await crashDaemon(host)
      return () => restartDaemon(this.plan, host)
    })
  }

  /**
   * Adds `delayMs` (± `jitterMs`) of one-way latency to every frame from the `from` hosts to the
   * `to` hosts, and the same back unless `oneWay` (an NFQUEUE delayer in the switch; latency.ts).
   */
  addLatency(from: readonly string[], to: readonly string[], delayMs: number, jitterMs = 0, oneWay = false): Promise<Heal> {
    const links = partitionLinks([from, to], oneWay)
    const arrow = oneWay ? '->' : '<->'
    return this.inject('latency', `${delayMs}±${jitterMs} ms latency {${from.join(',')}} ${arrow} {${to.join(',')}}`, async (id) => {
      await this.latency.add(id, { links, delayMs, jitterMs })
      return () => this.latency.remove(id)
    })
  }

  /**
   * Restarts the host's daemon with its wall clock shifted by `skewMs` (FLOTILLA_CLOCK_SKEW_MS;
   * the monotonic clock behind Raft's timeouts is untouched); heal = restart it with the true clock.
   */
  clockSkew(name: string, skewMs: number): Promise<Heal> {
    const host = this.host(name)
    return this.inject('clock-skew', `clock of ${name} ${skewMs >= 0 ? '+' : ''}${skewMs} ms`, async () => {
      await crashDaemon(host)
      await restartDaemon(this.plan, host, skewMs)
      return async () => {
        await crashDaemon(host)
        await restartDaemon(this.plan, host)
      }
    })
  }

  /** Heals every active fault (newest first), then removes every switch rule. */
  async healAll(): Promise<void> {
    const errors: unknown[] = []
    for (const id of [...this.active.keys()].reverse()) {
      const heal = this.active.get(id)
      if (heal !== undefined) await heal().catch((error: unknown) => errors.push(error))
    }
    await this.network.healAll().catch((error: unknown) => errors.push(error))
    await this.latency.removeAll().catch((error: unknown) => errors.push(error))
    if (errors.length > 0) throw new AggregateError(errors, `healAll: ${errors.length} heal(s) failed`)
  }

  /** The faults injected and not yet healed. */
  activeFaults(): string[] {
    return [...this.active.keys()]
  }

  private cut(kind: string, description: string, links: readonly Link[]): Promise<Heal> {
    return this.inject(kind, description, async (id) => {
      await this.network.cut(id, links)
      return () => this.network.uncut(id)
    })
  }

  /** Injects a fault, logs it, and returns a heal that runs once and logs when it finished. */
  private async inject(kind: string, description: string, fault: (id: string) => Promise<Heal>): Promise<Heal> {
    const id = `${kind}-${++this.sequence}`
    const record: FaultRecord = { id, kind, description, injectedMs: this.now() }
    this.log.push(record)
    const rawHeal = await fault(id)
    let healing: Promise<void> | undefined
    const heal: Heal = () => {
      healing ??= (async () => {
        try {
          await rawHeal()
          record.healedMs = this.now()
        } catch (error) {
          record.healError = String(error)
          throw error
        } finally {
          this.active.delete(id)
        }
      })()
      return healing
    }
    this.active.set(id, heal)
    return heal
  }
}
