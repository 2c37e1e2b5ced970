/**
 * A whole nftables table as data, and the one `nft -j` batch that makes a table hold it: what the
 * service proxy (ip flotilla-proxy) and the NetworkPolicy enforcer (inet flotilla-policy) share.
 * Each owns one table and plans its content (service-rules.ts, policy-rules.ts); this module only
 * knows how such a plan becomes a flush-and-replace transaction and how to read back which chains
 * and sets a table holds. Pure: the same input gives byte-identical batches.
 */
import { assert } from '../../../lib/assert.ts'
import { compareStrings, listAt, objectAt } from './json-values.ts'

/** One command of an `nft -j` batch: `{ add: { rule: {...} } }` and the like. */
export type NftCommand = Readonly<Record<string, unknown>>

/** A table of ours: `family` as nft names it (ip, inet, …) and the table's name. */
export interface NftTable {
  readonly family: string
  readonly name: string
}

/** A chain of the table; base chains carry their hook (their policy is always accept). */
export interface ChainSpec {
  readonly name: string
  readonly hook?: { readonly type: 'nat' | 'filter'; readonly hook: string; readonly prio: number }
}

/** A set or verdict map whose elements every sync writes (flushed and refilled). */
export interface StaticSetSpec {
  readonly name: string
  readonly kind: 'set' | 'map'
  readonly type: string | readonly string[]
  /** Elements may be ranges (`flags interval`). */
  readonly interval?: boolean
  readonly elements: readonly unknown[]
  readonly timeoutSeconds?: undefined
}

/**
 * A dynamic set (ClientIP affinity): the data path adds its elements and they time out. A sync
 * declares it only when absent and never flushes it, so its elements survive unrelated syncs.
 */
export interface DynamicSetSpec {
  readonly name: string
  readonly kind: 'set'
  readonly type: string | readonly string[]
  readonly timeoutSeconds: number
  readonly elements?: undefined
  readonly interval?: undefined
}

/** A set or verdict map of the table. */
export type SetSpec = StaticSetSpec | DynamicSetSpec

export interface RuleSpec {
  readonly chain: string
  readonly expr: readonly unknown[]
}

/** The whole desired content of a table, sorted. */
export interface DesiredRuleset {
  readonly chains: readonly ChainSpec[]
  readonly sets: readonly SetSpec[]
  readonly rules: readonly RuleSpec[]
}

/** What the table holds now (names only), so a sync can delete what is no longer wanted. */
export interface ExistingObjects {
  readonly chains: readonly string[]
  readonly sets: readonly string[]
  readonly maps: readonly string[]
}

export const NO_EXISTING_OBJECTS: ExistingObjects = { chains: [], sets: [], maps: [] }

function isDynamic(set: SetSpec): set is DynamicSetSpec {
  return set.timeoutSeconds !== undefined
}

/**
 * The one `nft -j` batch that turns `table`, whatever it holds (`existing`), into `desired`:
 * create the table if absent, flush every rule, (re)declare chains and sets, flush and refill the
 * sets and maps we write, add the rules, then delete chains and sets no longer wanted. nft applies
 * a batch as one transaction, so packets see either the old ruleset or the new one.
 *
 * Dynamic sets are declared only when absent and never flushed (`flush table` leaves set elements
 * alone). Other tables are never named.
 */
export function tableSyncBatch(table: NftTable, desired: DesiredRuleset, existing: ExistingObjects = NO_EXISTING_OBJECTS): { nftables: NftCommand[] } {
  const tableRef = { family: table.family, name: table.name }
  const inTable = { family: table.family, table: table.name }
  const commands: NftCommand[] = [{ add: { table: tableRef } }, { flush: { table: tableRef } }]
  for (const chain of desired.chains) {
    const hook = chain.hook === undefined ? {} : { type: chain.hook.type, hook: chain.hook.hook, prio: chain.hook.prio, policy: 'accept' }
    commands.push({ add: { chain: { ...inTable, name: chain.name, ...hook } } })
  }
  const existingSets = new Set([...existing.sets, ...existing.maps])
  for (const set of desired.sets) {
    if (isDynamic(set)) {
      if (existingSets.has(set.name)) continue
      commands.push({ add: { set: { ...inTable, name: set.name, type: set.type, flags: ['timeout'], timeout: set.timeoutSeconds } } })
      continue
    }
    assert(set.elements !== undefined, `static set ${set.name} has elements`)
    const declaration = { ...inTable, name: set.name, type: set.type, ...(set.kind === 'map' ? { map: 'verdict' } : {}), ...(set.interval === true ? { flags: ['interval'] } : {}) }
    commands.push({ add: { [set.kind]: declaration } }, { flush: { [set.kind]: { ...inTable, name: set.name } } })
  }
  for (const rule of desired.rules) commands.push({ add: { rule: { ...inTable, chain: rule.chain, expr: rule.expr } } })
  for (const set of desired.sets) {
    if (isDynamic(set) || set.elements.length === 0) continue
    commands.push({ add: { element: { ...inTable, name: set.name, elem: set.elements } } })
  }
  const wantedChains = new Set(desired.chains.map((chain) => chain.name))
  for (const chain of [...existing.chains].sort(compareStrings)) {
    if (!wantedChains.has(chain)) commands.push({ delete: { chain: { ...inTable, name: chain } } })
  }
  const wantedSets = new Set(desired.sets.map((set) => set.name))
  for (const name of [...existing.sets].sort(compareStrings)) if (!wantedSets.has(name)) commands.push({ delete: { set: { ...inTable, name } } })
  for (const name of [...existing.maps].sort(compareStrings)) if (!wantedSets.has(name)) commands.push({ delete: { map: { ...inTable, name } } })
  return { nftables: commands }
}

/** The objects of `table` named in an `nft -j list table` answer (the inverse of what tableSyncBatch declares). */
export function existingObjectsOf(listing: unknown, table: NftTable): ExistingObjects {
  const chains: string[] = []
  const sets: string[] = []
  const maps: string[] = []
  for (const item of listAt(objectAt(listing)['nftables']).map(objectAt)) {
    for (const [key, names] of [['chain', chains], ['set', sets], ['map', maps]] as const) {
      const object = objectAt(item[key])
      if (object['table'] === table.name && object['family'] === table.family && typeof object['name'] === 'string') names.push(object['name'])
    }
  }
  return { chains: chains.sort(compareStrings), sets: sets.sort(compareStrings), maps: maps.sort(compareStrings) }
}
