/**
 * Per-node pod address allocation (the CNI "host-local" IPAM): addresses of the node's pod CIDR,
 * the first one (`.1` of a /24) being the bridge's gateway and the last the broadcast address, so
 * pods get `.2`…`.254`. Allocations are keyed by pod uid and kept in a small JSON file under the
 * daemon's data directory, so a restarted daemon gives its running pods the same addresses and
 * never hands out one still in use. Like host-local, the next allocation starts after the last
 * one handed out rather than at the lowest free address: a just-released address is reused last,
 * which keeps stale connection-tracking entries and peers' ARP caches from reaching a new pod.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { assert } from '../../../lib/assert.ts'
import { FlotillaError } from '../../../lib/errors.ts'
import { cidrContains, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from './cidr.ts'

/** Every pod address of the node's pod CIDR is in use. */
export class PodSubnetExhaustedError extends FlotillaError {
  override name = 'PodSubnetExhaustedError'
}

/** The node's pod CIDR is too small to hold a gateway and at least one pod. */
export class PodCidrTooSmallError extends FlotillaError {
  override name = 'PodCidrTooSmallError'
}

/** What the state file holds. */
interface IpamState {
  readonly podCidr: string
  /** The last address handed out: the next search starts after it. */
  readonly last: string | undefined
  /** Pod uid → address. */
  readonly allocations: Record<string, string>
}

export interface PodIpamOptions {
  /** The node's spec.podCIDR, e.g. 10.244.1.0/24. */
  readonly podCidr: string
  /** The JSON file that persists allocations (created on the first allocation). */
  readonly stateFile: string
  readonly log?: (line: string) => void
}

export class PodIpam {
  readonly podCidr: string
  /** The bridge's address: the first of the block. */
  readonly gateway: string
  readonly prefixLength: number
  private readonly cidr: Ipv4Cidr
  private readonly stateFile: string
  private readonly byUid = new Map<string, number>()
  private readonly inUse = new Set<number>()
  private last: number | undefined

  constructor(options: PodIpamOptions) {
    this.cidr = parseCidr(options.podCidr)
    // A /30 holds network, gateway, one pod and broadcast: the smallest useful block.
    if (this.cidr.prefixLength > 30) throw new PodCidrTooSmallError(`pod CIDR ${options.podCidr} is too small: it needs room for a gateway and at least one pod (at most /30)`)
    this.podCidr = options.podCidr
    this.prefixLength = this.cidr.prefixLength
    this.gateway = formatIpv4(this.cidr.base + 1)
    this.stateFile = options.stateFile
    this.load(options.log ?? (() => {}))
  }

  /** How many pods the block can hold. */
  get capacity(): number {
    return this.cidr.size - 3
  }

  /** The pod's address: the one it already has, else a free one (persisted before it is returned). */
  allocate(podUid: string): string {
    const existing = this.byUid.get(podUid)
    if (existing !== undefined) return formatIpv4(existing)
    const first = this.cidr.base + 2
    const count = this.capacity
    const start = this.last === undefined ? 0 : this.last - first + 1
    for (let step = 0; step < count; step++) {
      const candidate = first + ((start + step) % count)
      if (this.inUse.has(candidate)) continue
      this.byUid.set(podUid, candidate)
      this.inUse.add(candidate)
      this.last = candidate
      this.save()
      return formatIpv4(candidate)
    }
    throw new PodSubnetExhaustedError(`no pod address left in ${this.podCidr}: all ${count} addresses are in use (pods on this node are limited by its pod CIDR)`)
  }

  /** Frees the pod's address; no effect when it has none. */
  release(podUid: string): void {
    const address = this.byUid.get(podUid)
    if (address === undefined) return
    this.byUid.delete(podUid)
    this.inUse.delete(address)
    this.save()
  }

  ipOf(podUid: string): string | undefined {
    const address = this.byUid.get(podUid)
    return address === undefined ? undefined : formatIpv4(address)
  }

  /** Pod uid → address, for every allocation. */
  allocations(): Map<string, string> {
    return new Map([...this.byUid].map(([uid, address]) => [uid, formatIpv4(address)]))
  }

  private load(log: (line: string) => void): void {
    let state: IpamState
    try {
      state = JSON.parse(readFileSync(this.stateFile, 'utf8')) as IpamState
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') log(`pod IPAM: ignoring unreadable ${this.stateFile}: ${(error as Error).message}`)
      return
    }
    if (state.podCidr !== this.podCidr) {
      // A node's pod CIDR never changes while its Node object lives; a different one means a new
      // node identity on this disk, whose old pods' addresses mean nothing any more.
      log(`pod IPAM: ${this.stateFile} is for ${state.podCidr}, not ${this.podCidr}; starting afresh`)
      return
    }
    for (const [uid, text] of Object.entries(state.allocations ?? {})) {
      const address = parseIpv4(text)
      if (address === undefined || !this.isPodAddress(address) || this.inUse.has(address)) {
        log(`pod IPAM: dropping invalid or duplicate allocation ${uid} → ${text}`)
        continue
      }
      this.byUid.set(uid, address)
      this.inUse.add(address)
    }
    const last = state.last === undefined ? undefined : parseIpv4(state.last)
    this.last = last !== undefined && this.isPodAddress(last) ? last : undefined
  }

  private isPodAddress(address: number): boolean {
    return cidrContains(this.cidr, address) && address >= this.cidr.base + 2 && address < this.cidr.base + this.cidr.size - 1
  }

  /** Writes the whole state to a temporary file and renames it over the old one (atomic on POSIX). */
  private save(): void {
    assert(this.byUid.size === this.inUse.size, 'every allocated address belongs to exactly one pod')
    const state: IpamState = { podCidr: this.podCidr, last: this.last === undefined ? undefined : formatIpv4(this.last), allocations: Object.fromEntries(this.allocations()) }
    mkdirSync(dirname(this.stateFile), { recursive: true })
    const temporary = `${this.stateFile}.tmp`
    writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`)
    renameSync(temporary, this.stateFile)
  }
}
