/**
 * Pod IPs for hollow sandboxes from one CIDR range (default 10.244.0.0/16), handed out in order
 * and reused only after the range wraps, as Docker's IPAM does, so a recreated pod usually gets a
 * new address.
 */
import { InvalidConfigError } from '../../../lib/errors.ts'
import { RuntimeError } from '../runtime.ts'

export const DEFAULT_POD_CIDR = '10.244.0.0/16'

export class IpAllocator {
  private readonly baseAddress: number
  private readonly size: number
  private readonly used = new Set<number>()
  /** The next offset to try; offsets 0 (network) and 1 (gateway) are never handed out. */
  private cursor = 2

  constructor(cidr: string = DEFAULT_POD_CIDR) {
    const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr)
    const octets = match?.slice(1, 5).map(Number) ?? []
    const prefixBits = Number(match?.[5])
    if (match === null || octets.some((octet) => octet > 255) || prefixBits < 8 || prefixBits > 30) {
      throw new InvalidConfigError(`Pod CIDR "${cidr}" is not an IPv4 range between /8 and /30`)
    }
    const address = octets.reduce((value, octet) => value * 256 + octet, 0)
    this.size = 2 ** (32 - prefixBits)
    this.baseAddress = address - (address % this.size)
  }

  allocate(): string {
    // The last offset is the broadcast address; the rest of the range is usable.
    for (let tried = 0; tried < this.size; tried++) {
      const offset = this.cursor
      this.cursor = this.cursor + 1 >= this.size - 1 ? 2 : this.cursor + 1
      const lastOctet = (this.baseAddress + offset) % 256
      if (this.used.has(offset) || lastOctet === 0 || lastOctet === 255) continue
      this.used.add(offset)
      return addressText(this.baseAddress + offset)
    }
    throw new RuntimeError(`No free pod IP left in ${addressText(this.baseAddress)}/${32 - Math.log2(this.size)}`)
  }

  release(ip: string): void {
    const octets = ip.split('.').map(Number)
    const address = octets.reduce((value, octet) => value * 256 + octet, 0)
    this.used.delete(address - this.baseAddress)
  }
}

function addressText(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.')
}
