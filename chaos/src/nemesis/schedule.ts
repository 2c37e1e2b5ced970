/**
 * Seeded fault schedules: the same seed always gives the same faults, targets and timings, so a
 * failing run can be replayed with `--seed N`. Pure: no lab needed to generate or test one.
 */
import { RandomXoshiro } from '../../../lib/random.ts'

export type FaultSpec =
  | { readonly kind: 'kill-leader-host' }
  | { readonly kind: 'kill-host'; readonly host: string }
  | { readonly kind: 'kill-zone'; readonly zone: string }
  | { readonly kind: 'partition-minority'; readonly minority: readonly string[] }
  | { readonly kind: 'partition-one-way'; readonly from: readonly string[]; readonly to: readonly string[] }
  | { readonly kind: 'freeze'; readonly host: string }
  | { readonly kind: 'loss'; readonly from: string; readonly to: string; readonly percent: number }
  | { readonly kind: 'bandwidth'; readonly host: string; readonly rate: string }
  | { readonly kind: 'daemon-crash'; readonly host: string }
  | { readonly kind: 'latency'; readonly from: readonly string[]; readonly to: readonly string[]; readonly delayMs: number; readonly jitterMs: number }
  | { readonly kind: 'clock-skew'; readonly host: string; readonly skewMs: number }

export interface ScheduledFault {
  readonly fault: FaultSpec
  /** Quiet time before the fault is injected. */
  readonly delayMs: number
  /** How long the fault stays before it is healed. */
  readonly durationMs: number
}

export interface ScheduleOptions {
  readonly seed: number
  readonly hosts: readonly { readonly name: string; readonly zone: string }[]
}

function pick<T>(random: RandomXoshiro, items: readonly T[]): T {
  return items[random.int(0, items.length)]!
}

function shuffled<T>(random: RandomXoshiro, items: readonly T[]): T[] {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.int(0, i + 1)
    ;[copy[i], copy[j]] = [copy[j]!, copy[i]!]
  }
  return copy
}

/** The short (CI) suite: kill the leader's host, partition a minority, kill a zone — in that order. */
export function shortSchedule(options: ScheduleOptions): ScheduledFault[] {
  const random = new RandomXoshiro(options.seed)
  const names = options.hosts.map((host) => host.name)
  const zones = [...new Set(options.hosts.map((host) => host.zone))]
  const minoritySize = Math.max(1, Math.floor((names.length - 1) / 2))
  return [
    { fault: { kind: 'kill-leader-host' }, delayMs: random.int(1_000, 3_000), durationMs: random.int(12_000, 16_000) },
    { fault: { kind: 'partition-minority', minority: shuffled(random, names).slice(0, minoritySize).sort() }, delayMs: random.int(1_000, 3_000), durationMs: random.int(6_000, 10_000) },
    { fault: { kind: 'kill-zone', zone: pick(random, zones) }, delayMs: random.int(1_000, 3_000), durationMs: random.int(15_000, 20_000) },
  ]
}

/** The long suite: `count` faults of every kind, random targets and timings. */
export function longSchedule(options: ScheduleOptions & { readonly count?: number }): ScheduledFault[] {
  const random = new RandomXoshiro(options.seed)
  const names = options.hosts.map((host) => host.name)
  const zones = [...new Set(options.hosts.map((host) => host.zone))]
  const minoritySize = Math.max(1, Math.floor((names.length - 1) / 2))
  const makers: (() => FaultSpec)[] = [
    () => ({ kind: 'kill-leader-host' }),
    () => ({ kind: 'kill-host', host: pick(random, names) }),
    () => ({ kind: 'kill-zone', zone: pick(random, zones) }),
    () => ({ kind: 'partition-minority', minority: shuffled(random, names).slice(0, minoritySize).sort() }),
    () => {
      const [from, to] = shuffled(random, names)
      return { kind: 'partition-one-way', from: [from!], to: [to!] }
    },
    () => ({ kind: 'freeze', host: pick(random, names) }),
    () => {
      const [from, to] = shuffled(random, names)
      return { kind: 'loss', from: from!, to: to!, percent: random.int(10, 50) }
    },
    () => ({ kind: 'bandwidth', host: pick(random, names), rate: pick(random, ['1mbit', '4mbit', '16mbit']) }),
    () => ({ kind: 'daemon-crash', host: pick(random, names) }),
    () => {
      const [one, ...rest] = shuffled(random, names)
      return { kind: 'latency', from: [one!], to: rest, delayMs: pick(random, [20, 50, 100, 200]), jitterMs: random.int(0, 10) }
    },
    () => ({ kind: 'clock-skew', host: pick(random, names), skewMs: pick(random, [-1, 1]) * random.int(5_000, 120_000) }),
  ]
  const schedule: ScheduledFault[] = []
  for (let i = 0; i < (options.count ?? 12); i++) {
    schedule.push({ fault: pick(random, makers)(), delayMs: random.int(1_000, 5_000), durationMs: random.int(5_000, 20_000) })
  }
  return schedule
}

/** A seed for a run that did not ask for one (printed so the run can be replayed). */
export function freshSeed(): number {
  return Math.floor(Math.random() * 0x7fff_ffff)
}
