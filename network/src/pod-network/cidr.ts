/** IPv4 addresses and CIDR blocks as numbers: parsing, formatting, containment and overlap. */
import { InvalidConfigError } from '../../../lib/errors.ts'

/** An IPv4 block: `base` is the network address (host bits zero) as an unsigned 32-bit number. */
export interface Ipv4Cidr {
  readonly base: number
  readonly prefixLength: number
  /** How many addresses the block holds (2^(32 - prefixLength)). */
  readonly size: number
}

/** The address as an unsigned 32-bit number, or undefined when it is not dotted-quad IPv4. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined
    value = value * 256 + Number(part)
  }
  return value
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.')
}

/** Parses `a.b.c.d/n`; throws InvalidConfigError for anything else or for host bits set. */
export function parseCidr(text: string): Ipv4Cidr {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(text)
  const address = match === null ? undefined : parseIpv4(match[1]!)
  const prefixLength = match === null ? NaN : Number(match[2])
  if (address === undefined || !(prefixLength >= 0 && prefixLength <= 32)) throw new InvalidConfigError(`"${text}" is not an IPv4 CIDR block like 10.244.1.0/24`)
  const size = 2 ** (32 - prefixLength)
  if (address % size !== 0) throw new InvalidConfigError(`"${text}" has host bits set; the block is ${formatIpv4(address - (address % size))}/${prefixLength}`)
  return { base: address, prefixLength, size }
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.base)}/${cidr.prefixLength}`
}

export function cidrContains(cidr: Ipv4Cidr, address: number): boolean {
  return address >= cidr.base && address < cidr.base + cidr.size
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size
}
