/**
 * port-forward: TCP connections from a client to a port in the pod, over either transport.
 *
 *   SPDY/3.1 (kubectl, protocol `portforward.k8s.io`): one connection per SPDY session, many
 *   forwarded connections. For every local connection kubectl opens two streams with headers
 *   `streamtype` (`error`, then `data`), `port` and `requestid` (the pair's key). The data stream
 *   carries the bytes both ways; the error stream carries a message if forwarding fails, and
 *   kubectl reads it to its end before it finishes the connection, so it is always closed.
 *   WebSocket (client-node, `GET …/portforward?ports=80`): channel 2i carries the data of the
 *   i-th port and 2i+1 its errors; the first message on each carries the port, little-endian
 *   uint16 (the kubelet's convention, which client-node strips).
 *
 * A forwarded connection ends as containerd's does: when one direction ends (the pod's side
 * closes, or the client's FIN half-closes the pod's side), the other gets PORT_FORWARD_LINGER_MS
 * to finish, then the pod connection is closed and the client's streams are ended.
 */
import type { Duplex, Readable, Writable } from 'node:stream'
import { SpdySession, type SpdyStream } from './spdy-session.ts'
import { STREAM_CREATION_TIMEOUT_MS } from './exec-stream.ts'
import type { ChannelWebSocket } from './websocket-channels.ts'

/** How long the other direction may still flow once one direction of a connection has ended. */
export const PORT_FORWARD_LINGER_MS = 1_000

/** Opens a connection to a port of the pod (PodStreams.portForward, bound to one pod). */
export type PortDialer = (port: number) => Promise<Duplex>

/** The pod as forwarding errors name it: `name_namespace` and its uid (the kubelet's wording). */
export interface PodIdentity {
  readonly name: string
  readonly namespace: string
  readonly uid: string
}

function forwardingError(pod: PodIdentity, port: number, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return `error forwarding port ${port} to pod ${pod.name}_${pod.namespace}, uid ${pod.uid}: ${message}`
}

/**
 * Parses a port as the kubelet does (`strconv.ParseUint(s, 10, 16)`, and not 0); the error text
 * otherwise.
 */
export function parsePort(text: string): number | string {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 0xffff) return `unable to parse ${JSON.stringify(text)} as a port`
  const port = Number(text)
  if (port < 1) return `port ${JSON.stringify(text)} must be > 0`
  return port
}

/** The client's side of one forwarded connection. */
interface ClientSide {
  readonly incoming: Readable
  readonly outgoing: Writable
}

/**
 * Copies bytes both ways between the pod's connection and the client until both directions have
 * ended (or one has, plus the linger time), then destroys the pod's connection and calls
 * `onDone` with the failure, if any. Returns a function that stops everything at once.
 */
function forwardConnection(target: Duplex, client: ClientSide, onDone: (error: Error | undefined) => void): () => void {
  let directionsEnded = 0
  let done = false
  let lingerTimer: ReturnType<typeof setTimeout> | undefined
  const finish = (error: Error | undefined): void => {
    if (done) return
    done = true
    clearTimeout(lingerTimer)
    client.incoming.unpipe(target)
    target.unpipe(client.outgoing)
    target.destroy()
    onDone(error)
  }
  const directionEnded = (): void => {
    directionsEnded++
    if (directionsEnded === 2) finish(undefined)
    else lingerTimer ??= setTimeout(() => finish(undefined), PORT_FORWARD_LINGER_MS)
  }
  // pipe() ends the destination when the source ends: the pod's FIN reaches the client and the
  // client's FIN half-closes the pod's side, but an error never tears down the other stream.
  target.pipe(client.outgoing)
  client.incoming.pipe(target)
  target.once('end', directionEnded)
  client.incoming.once('end', directionEnded)
  target.on('error', (error: Error) => finish(error))
  target.once('close', () => finish(undefined))
  client.incoming.once('close', () => finish(undefined))
  client.outgoing.on('error', () => finish(undefined))
  return () => finish(undefined)
}

// -----------------------------------------------------------------------------------------------
// SPDY

interface StreamPair {
  data?: SpdyStream
  error?: SpdyStream
  readonly timer: ReturnType<typeof setTimeout>
}

/**
 * Serves port-forward over a SPDY connection until the client closes it; every forwarded
 * connection dials the pod through `dial`.
 */
export function serveSpdyPortForward(socket: Duplex, head: Buffer, pod: PodIdentity, dial: PortDialer, log: (line: string) => void): SpdySession {
  const pairs = new Map<string, StreamPair>()
  const stops = new Set<() => void>()
  const session = new SpdySession(socket, head, {
    log,
    onStream: (stream) => {
      stream.on('error', () => undefined)
      const type = stream.header('streamtype')
      if (type !== 'data' && type !== 'error') return false
      // Clients older than requestid pair an error stream with the data stream opened next.
      const requestId = stream.header('requestid') ?? String(type === 'error' ? stream.id : stream.id - 2)
      let pair = pairs.get(requestId)
      if (pair === undefined) {
        const timer = setTimeout(() => {
          pairs.delete(requestId)
          pair?.error?.end('timed out waiting for the data and error streams of a forwarded connection')
          pair?.data?.end()
        }, STREAM_CREATION_TIMEOUT_MS)
        pair = { timer }
        pairs.set(requestId, pair)
      }
      if (pair[type] !== undefined) return false
      pair[type] = stream
      if (pair.data !== undefined && pair.error !== undefined) {
        clearTimeout(pair.timer)
        pairs.delete(requestId)
        void forwardPair(pair.data, pair.error, pod, dial, stops)
      }
      return true
    },
  })
  void session.closed.then(() => {
    for (const pair of pairs.values()) clearTimeout(pair.timer)
    for (const stop of [...stops]) stop()
  })
  return session
}

async function forwardPair(data: SpdyStream, error: SpdyStream, pod: PodIdentity, dial: PortDialer, stops: Set<() => void>): Promise<void> {
  const port = parsePort(data.header('port') ?? '')
  if (typeof port === 'string') {
    error.end(port)
    data.end()
    return
  }
  let target: Duplex
  try {
    target = await dial(port)
  } catch (failure) {
    error.end(forwardingError(pod, port, failure))
    data.end()
    return
  }
  const stop = forwardConnection(target, { incoming: data, outgoing: data }, (failure) => {
    stops.delete(stop)
    if (failure !== undefined) error.write(forwardingError(pod, port, failure))
    error.end()
    if (!data.writableEnded) data.end()
  })
  stops.add(stop)
}

// -----------------------------------------------------------------------------------------------
// WebSocket

/** The channel carrying the data (`2i`) and the errors (`2i + 1`) of the i-th port. */
export function portForwardChannels(portIndex: number): { data: number; error: number } {
  return { data: 2 * portIndex, error: 2 * portIndex + 1 }
}

/**
 * Serves port-forward over an accepted channel WebSocket: one connection per requested port,
 * for the life of the WebSocket, which is closed once every connection has ended.
 */
export async function serveWebSocketPortForward(channels: ChannelWebSocket, ports: readonly number[], pod: PodIdentity, dial: PortDialer): Promise<void> {
  const stops = new Set<() => void>()
  void channels.closed.then(() => {
    for (const stop of [...stops]) stop()
  })
  for (const [index, port] of ports.entries()) {
    const prefix = Buffer.alloc(2)
    prefix.writeUInt16LE(port)
    channels.send(portForwardChannels(index).data, prefix)
    channels.send(portForwardChannels(index).error, prefix)
  }
  await Promise.all(
    ports.map(async (port, index) => {
      const numbers = portForwardChannels(index)
      let target: Duplex
      try {
        target = await dial(port)
      } catch (failure) {
        channels.send(numbers.error, Buffer.from(forwardingError(pod, port, failure)))
        return
      }
      await new Promise<void>((resolve) => {
        const stop = forwardConnection(target, { incoming: channels.reader(numbers.data), outgoing: channels.writer(numbers.data) }, (failure) => {
          stops.delete(stop)
          if (failure !== undefined) channels.send(numbers.error, Buffer.from(forwardingError(pod, port, failure)))
          resolve()
        })
        stops.add(stop)
      })
    }),
  )
  channels.close()
}
