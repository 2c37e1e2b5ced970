/**
 * The join handshake over libp2p (`/flotilla/join/1.0.0`): a new machine, already admitted by the
 * join secret in the Noise handshake, asks any member to register it. The member writes the
 * registry records through Raft (a transaction that also claims the name), and answers with the
 * current members so the newcomer can reach them; the leader's membership controller then adds
 * it to the Raft group as a learner.
 *
 * Messages are one length-prefixed JSON request and one response per stream.
 */
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import type { Libp2pHost } from '../../../network/src/libp2p/host-libp2p.ts'
import type { MemberRecord } from './membership-plan.ts'
import { JoinRefusedError } from './registry.ts'

export const JOIN_PROTOCOL = '/flotilla/join/1.0.0'
const MESSAGE_BYTES_MAX = 1024 * 1024

export interface JoinRequest {
  readonly clusterId: string
  readonly member: MemberRecord
}

export type JoinResponse = { readonly ok: true; readonly members: readonly MemberRecord[] } | { readonly ok: false; readonly error: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Serves join requests; `handle` registers the member or throws JoinRefusedError. */
export async function serveJoin(host: Libp2pHost, handle: (request: JoinRequest) => Promise<readonly MemberRecord[]>, log: (line: string) => void): Promise<void> {
  await host.libp2p.handle(JOIN_PROTOCOL, async (stream: Stream) => {
    const channel = lpStream(stream, { maxDataLength: MESSAGE_BYTES_MAX })
    let response: JoinResponse
    try {
      const request = JSON.parse(decoder.decode((await channel.read({ signal: AbortSignal.timeout(5000) })).subarray())) as JoinRequest
      response = { ok: true, members: await handle(request) }
    } catch (error) {
      const message = error instanceof JoinRefusedError ? error.message : `join failed: ${(error as Error).message}`
      log(`join request refused: ${message}`)
      response = { ok: false, error: message }
    }
    try {
      await channel.write(encoder.encode(JSON.stringify(response)))
      await stream.close()
    } catch {
      // The requester went away; it will retry with another member.
    }
  })
}

/** Asks the member at `address` to register us. Throws JoinRefusedError when it says no. */
export async function requestJoin(host: Libp2pHost, address: string, request: JoinRequest, timeoutMs: number): Promise<readonly MemberRecord[]> {
  const signal = AbortSignal.timeout(timeoutMs)
  const stream = await host.libp2p.dialProtocol(multiaddr(address), JOIN_PROTOCOL, { signal })
  const channel = lpStream(stream, { maxDataLength: MESSAGE_BYTES_MAX })
  await channel.write(encoder.encode(JSON.stringify(request)), { signal })
  const response = JSON.parse(decoder.decode((await channel.read({ signal })).subarray())) as JoinResponse
  await stream.close().catch(() => {})
  if (!response.ok) throw new JoinRefusedError(response.error)
  return response.members
}
