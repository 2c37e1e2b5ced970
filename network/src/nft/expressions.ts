/**
 * The pieces of nft's JSON expression language both of our tables' planners use, and the hash that
 * keeps their generated chain and set names short, unique and stable.
 */

export const SADDR = { payload: { protocol: 'ip', field: 'saddr' } }
export const DADDR = { payload: { protocol: 'ip', field: 'daddr' } }
export const L4PROTO = { meta: { key: 'l4proto' } }
export const DPORT = { payload: { protocol: 'th', field: 'dport' } }
export const MARK = { meta: { key: 'mark' } }

/** `left == right`. */
export function equals(left: unknown, right: unknown): unknown {
  return { match: { op: '==', left, right } }
}

/**
 * A short stable hash (FNV-1a 32-bit, base 32, 7 characters) for object names, as kube-proxy's
 * hashed prefixes: it keeps names unique even where their readable part is ambiguous or cut.
 */
export function shortHash(text: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash.toString(32).toUpperCase().padStart(7, '0')
}

/** The transport protocols a Kubernetes port can name, as nft spells them. */
export type L4Protocol = 'tcp' | 'udp' | 'sctp'

/** A Kubernetes `protocol` field as nft spells it (TCP when unset); undefined when unknown. */
export function protocolOf(value: unknown): L4Protocol | undefined {
  const protocol = value === undefined || value === null ? 'TCP' : value
  if (protocol === 'TCP') return 'tcp'
  if (protocol === 'UDP') return 'udp'
  if (protocol === 'SCTP') return 'sctp'
  return undefined
}

/** A TCP/UDP/SCTP port number (1-65535). */
export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535
}
