/**
 * The LoadBalancer address pool: the text of the ConfigMap `kube-system/flotilla-loadbalancer`,
 * key `addresses`, parsed into IPv4 ranges (pure: no I/O, no clock).
 *
 * The text is a list of entries separated by commas or newlines; blank entries and `#` comments
 * (to the end of a line) are ignored. An entry is either
 *   - a range `10.250.0.200-10.250.0.220` (both ends included), or
 *   - a CIDR block `10.250.0.192/28`. Blocks of /30 and larger leave out their network and
 *     broadcast addresses, which no host on the subnet can use; /31 and /32 keep every address.
 *
 * Parsing never half-succeeds: one bad entry makes the whole pool invalid (the result names every
 * bad entry), so a typo can never shrink a pool and move allocated addresses.
 */
import { formatIpv4, parseIpv4 } from '../pod-network/cidr.ts'

/** Where the pool lives. */
export const ADDRESS_POOL_NAMESPACE = 'kube-system'
export const ADDRESS_POOL_NAME = 'flotilla-loadbalancer'
export const ADDRESS_POOL_KEY = 'addresses'

/**
 * The most addresses a pool may hold (a /16): allocation walks the pool in order, and a pool of
 * millions of addresses is a typo, not a plan.
 */
export const POOL_ADDRESSES_MAX = 65_536

/** Inclusive range of IPv4 addresses as unsigned 32-bit numbers (`first <= last`). */
export interface AddressRange {
  readonly first: number
  readonly last: number
}

/** A parsed pool: its ranges in the order written, overlaps removed. */
export interface AddressPool {
  readonly ranges: readonly AddressRange[]
  /** How many distinct addresses the pool holds. */
  readonly size: number
}

/** One entry that could not be parsed, and why (sentence case, no trailing period). */
export interface PoolEntryError {
  readonly entry: string
  readonly reason: string
}

export type PoolParseResult = { readonly ok: true; readonly pool: AddressPool } | { readonly ok: false; readonly errors: readonly PoolEntryError[] }

function parseRange(entry: string): AddressRange | string {
  const dash = entry.indexOf('-')
  if (dash >= 0) {
    const firstText = entry.slice(0, dash).trim()
    const lastText = entry.slice(dash + 1).trim()
    const first = parseIpv4(firstText)
    const last = parseIpv4(lastText)
    if (first === undefined) return `"${firstText}" is not an IPv4 address`
    if (last === undefined) return `"${lastText}" is not an IPv4 address`
    if (last < first) return `the range ends (${lastText}) before it starts (${firstText})`
    return { first, last }
  }
  const slash = entry.indexOf('/')
  if (slash >= 0) {
    const base = parseIpv4(entry.slice(0, slash).trim())
    const lengthText = entry.slice(slash + 1).trim()
    const prefixLength = /^\d{1,2}$/.test(lengthText) ? Number(lengthText) : NaN
    if (base === undefined || !(prefixLength >= 0 && prefixLength <= 32)) return 'not an IPv4 CIDR block like 10.250.0.192/28'
    const size = 2 ** (32 - prefixLength)
    if (base % size !== 0) return `host bits are set; the block is ${formatIpv4(base - (base % size))}/${prefixLength}`
    return size <= 2 ? { first: base, last: base + size - 1 } : { first: base + 1, last: base + size - 2 }
  }
  const single = parseIpv4(entry)
  if (single !== undefined) return { first: single, last: single }
  if (/^[\d.]+$/.test(entry)) return `"${entry}" is not an IPv4 address`
  return 'expected a range like 10.250.0.200-10.250.0.220 or a CIDR block like 10.250.0.192/28'
}

/** Splits the pool text into entries (commas and newlines; `#` starts a comment). */
export function poolEntries(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .flatMap((line) => line.split(','))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
}

/** Parses the pool text (see the module comment); an empty text is an empty, valid pool. */
export function parseAddressPool(text: string): PoolParseResult {
  const errors: PoolEntryError[] = []
  const ranges: AddressRange[] = []
  for (const entry of poolEntries(text)) {
    const parsed = parseRange(entry)
    if (typeof parsed === 'string') errors.push({ entry, reason: parsed })
    else ranges.push(parsed)
  }
  if (errors.length > 0) return { ok: false, errors }
  const merged = mergeRanges(ranges)
  const size = merged.reduce((sum, range) => sum + range.last - range.first + 1, 0)
  if (size > POOL_ADDRESSES_MAX) return { ok: false, errors: [{ entry: text.trim(), reason: `the pool holds ${size} addresses, more than the ${POOL_ADDRESSES_MAX} allowed` }] }
  return { ok: true, pool: { ranges: merged, size } }
}

/** The ranges sorted by address with overlapping and touching ranges joined. */
function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first || a.last - b.last)
  const merged: AddressRange[] = []
  for (const range of sorted) {
    const previous = merged[merged.length - 1]
    if (previous !== undefined && range.first <= previous.last + 1) merged[merged.length - 1] = { first: previous.first, last: Math.max(previous.last, range.last) }
    else merged.push(range)
  }
  return merged
}

/** True when `ip` (dotted quad) is one of the pool's addresses. */
export function poolContains(pool: AddressPool, ip: string): boolean {
  const address = parseIpv4(ip)
  return address !== undefined && pool.ranges.some((range) => address >= range.first && address <= range.last)
}

/** The pool's addresses in ascending order, lazily (a pool may hold tens of thousands). */
export function* poolAddresses(pool: AddressPool): Generator<string> {
  for (const range of pool.ranges) for (let address = range.first; address <= range.last; address++) yield formatIpv4(address)
}

/** `entry: reason; entry: reason` — how an invalid pool is reported in Events. */
export function describePoolErrors(errors: readonly PoolEntryError[]): string {
  return errors.map((error) => `"${error.entry}": ${error.reason}`).join('; ')
}
