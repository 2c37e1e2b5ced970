/**
 * tcpSocket probes: success when a TCP connection to host:port opens within the timeout; the
 * connection is closed at once. Messages follow Go's dial errors, which is what `kubectl
 * describe` shows for a failing kubelet probe (`dial tcp 10.244.0.5:80: connect: connection
 * refused`).
 */
import { connect } from 'node:net'
import { dialErrorMessage, joinHostPort } from './prober-messages.ts'
import type { ProbeOutcome } from './probe-state.ts'

export interface TcpProbeRequest {
  readonly host: string
  readonly port: number
  readonly timeoutMs: number
}

export function probeTcp(request: TcpProbeRequest): Promise<ProbeOutcome> {
  const address = joinHostPort(request.host, request.port)
  return new Promise((resolve) => {
    const socket = connect({ host: request.host, port: request.port })
    const timer = setTimeout(() => finish({ result: 'failure', message: `dial tcp ${address}: i/o timeout` }), request.timeoutMs)
    function finish(outcome: ProbeOutcome): void {
      clearTimeout(timer)
      socket.destroy()
      resolve(outcome)
    }
    socket.once('connect', () => finish({ result: 'success' }))
    socket.on('error', (error) => finish({ result: 'failure', message: dialErrorMessage(address, error) }))
  })
}
