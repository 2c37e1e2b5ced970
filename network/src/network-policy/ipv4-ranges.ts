/**
 * IPv4 address ranges as inclusive number pairs: parsing addresses and CIDRs, subtracting
 * (`ipBlock.except`) and merging into the sorted, non-overlapping list an nftables interval set
 * accepts (nft refuses overlapping elements in a set without auto-merge).
 *
 * Addresses are plain numbers 0 … 2^32−1 (never 32-bit bit operations, which are signed in
 * JavaScript).
 */

/** The addresses `first` … `last`, both included; `first <= last`. */
export interface Ipv4Range {
  readonly first: number
  readonly last: number
}

const ADDRESS_COUNT = 2 ** 32
const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/** The address as a number, or undefined when `text` is not a dotted-quad IPv4 address. */
export function ipv4Number(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4 || !parts.every((part) => OCTET.test(part))) return undefined
  return parts.reduce((sum, part) => sum * 256 + Number(part), 0)
}

/** The dotted-quad text of an address number. */
export function ipv4Text(address: number): string {
  const octets: number[] = []
  let rest = address
  for (let i = 0; i < 4; i++) {
    octets.unshift(rest % 256)
    rest = Math.floor(rest / 256)
  }
  return octets.join('.')
}

/**
 * The range of an IPv4 CIDR (`10.0.0.0/8`; host bits are ignored, as Go's ParseCIDR does), a bare
 * address as its own /32, or undefined for anything else (IPv6 included).
 */
export function ipv4CidrRange(cidr: string): Ipv4Range | undefined {
  const [addressText = '', lengthText, ...extra] = cidr.split('/')
  if (extra.length > 0) return undefined
  const address = ipv4Number(addressText)
  const length = lengthText === undefined ? 32 : /^\d{1,2}$/.test(lengthText) ? Number(lengthText) : Number.NaN
  if (address === undefined || !(length >= 0 && length <= 32)) return undefined
  const size = 2 ** (32 - length)
  const first = Math.floor(address / size) * size
  return { first, last: first + size - 1 }
}

/** Sorted, with overlapping and adjacent ranges joined. */
export function mergeRanges(ranges: readonly Ipv4Range[]): Ipv4Range[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first || a.last - b.last)
  const merged: Ipv4Range[] = []
  for (const range of sorted) {
    const previous = merged[merged.length - 1]
    if (previous !== undefined && range.first <= previous.last + 1) merged[merged.length - 1] = { first: previous.first, last: Math.max(previous.last, range.last) }
    else merged.push(range)
  }
  return merged
}

/** `range` without the addresses of `holes` (sorted, merged). */
export function subtractRanges(range: Ipv4Range, holes: readonly Ipv4Range[]): Ipv4Range[] {
  const pieces: Ipv4Range[] = []
  let next = range.first
  for (const hole of mergeRanges(holes)) {
    if (hole.last < next || hole.first > range.last) continue
    if (hole.first > next) pieces.push({ first: next, last: hole.first - 1 })
    next = hole.last + 1
    if (next > range.last) return pieces
  }
  if (next <= range.last && next < ADDRESS_COUNT) pieces.push({ first: next, last: range.last })
  return pieces
}
