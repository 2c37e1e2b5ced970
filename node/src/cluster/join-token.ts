/**
 * Join tokens: everything a new machine needs to join a cluster, in one pasteable string.
 *
 *   flotilla1.<base64url(msgpack { clusterId, secret, addresses })>.<crc32 hex>
 *
 * The secret is the cluster join secret (it gates the Noise handshake), so a token must be
 * treated like a password. The checksum catches copy-paste damage before any network traffic.
 */
import { Packr } from 'msgpackr'
import { crc32 } from '../../../lib/crc32.ts'
import { FlotillaError } from '../../../lib/errors.ts'

const TOKEN_PREFIX = 'flotilla1.'
const SECRET_BYTES = 32
const ADDRESSES_MAX = 64
const packr = new Packr({ useRecords: false })

/** A token that cannot be used: wrong prefix, damaged, or missing fields. */
export class InvalidJoinTokenError extends FlotillaError {
  override name = 'InvalidJoinTokenError'
}

export interface JoinToken {
  /** Random id of the cluster, so a token for another cluster is recognised as such. */
  readonly clusterId: string
  /** The 32-byte join secret. */
  readonly secret: Uint8Array
  /** libp2p multiaddrs (with /p2p/<peer id>) of members to contact first. */
  readonly addresses: readonly string[]
}

export function encodeJoinToken(token: JoinToken): string {
  const payload = packr.pack({ clusterId: token.clusterId, secret: token.secret, addresses: token.addresses })
  const body = Buffer.from(payload).toString('base64url')
  return `${TOKEN_PREFIX}${body}.${crc32(payload).toString(16).padStart(8, '0')}`
}

export function decodeJoinToken(text: string): JoinToken {
  const trimmed = text.trim()
  if (!trimmed.startsWith(TOKEN_PREFIX)) {
    throw new InvalidJoinTokenError(`Join token must start with "${TOKEN_PREFIX}" (got "${trimmed.slice(0, 12)}…"); copy it again from \`flotilla init\` or \`flotilla token\``)
  }
  const [body, checksum, ...rest] = trimmed.slice(TOKEN_PREFIX.length).split('.')
  if (body === undefined || checksum === undefined || rest.length > 0 || !/^[A-Za-z0-9_-]+$/.test(body)) {
    throw new InvalidJoinTokenError('Join token is malformed: expected flotilla1.<data>.<checksum>')
  }
  const payload = new Uint8Array(Buffer.from(body, 'base64url'))
  if (crc32(payload).toString(16).padStart(8, '0') !== checksum) {
    throw new InvalidJoinTokenError('Join token is damaged: its checksum does not match (was it truncated when copied?)')
  }
  let fields: { clusterId?: unknown; secret?: unknown; addresses?: unknown }
  try {
    fields = packr.unpack(payload) as typeof fields
  } catch (error) {
    throw new InvalidJoinTokenError('Join token is damaged: its data does not decode', { cause: error })
  }
  const { clusterId, secret, addresses } = fields ?? {}
  if (typeof clusterId !== 'string' || clusterId === '') throw new InvalidJoinTokenError('Join token has no cluster id')
  if (!(secret instanceof Uint8Array) || secret.byteLength !== SECRET_BYTES) {
    throw new InvalidJoinTokenError(`Join token secret must be ${SECRET_BYTES} bytes`)
  }
  if (!Array.isArray(addresses) || addresses.length === 0 || addresses.length > ADDRESSES_MAX || !addresses.every((address) => typeof address === 'string' && address.startsWith('/'))) {
    throw new InvalidJoinTokenError('Join token must list between 1 and 64 member addresses (multiaddrs)')
  }
  return { clusterId, secret: new Uint8Array(secret), addresses: addresses as string[] }
}
