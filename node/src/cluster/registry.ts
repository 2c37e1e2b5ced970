/**
 * The member registry in the replicated store: one record per machine that joined, and a name
 * index that keeps node names unique. The leader's membership controller reconciles the Raft
 * configuration against it (membership-plan.ts).
 */
import { Packr } from 'msgpackr'
import { FlotillaError } from '../../../lib/errors.ts'
import type { MemberRecord } from './membership-plan.ts'

export const MEMBERS_PREFIX = '/registry/flotilla/members/'
export const NAMES_PREFIX = '/registry/flotilla/names/'
const packr = new Packr({ useRecords: false })

/** A join that conflicts with the registry (duplicate name, wrong cluster). */
export class JoinRefusedError extends FlotillaError {
  override name = 'JoinRefusedError'
}

export function memberKey(nodeId: string): string {
  return MEMBERS_PREFIX + nodeId
}

export function nameKey(name: string): string {
  return NAMES_PREFIX + name
}

export function encodeMember(record: MemberRecord): Uint8Array {
  return packr.pack(record)
}

export function decodeMember(bytes: Uint8Array): MemberRecord {
  const value = packr.unpack(bytes) as MemberRecord
  const record: MemberRecord = { nodeId: value.nodeId, name: value.name, zone: value.zone, peerId: value.peerId, addresses: [...value.addresses] }
  return typeof value.apiAddress === 'string' ? { ...record, apiAddress: value.apiAddress } : record
}

/** The member's libp2p addresses with `/p2p/<peer id>` appended where missing. */
export function dialableAddresses(record: MemberRecord): string[] {
  return record.addresses.map((address) => (address.includes('/p2p/') ? address : `${address}/p2p/${record.peerId}`))
}
