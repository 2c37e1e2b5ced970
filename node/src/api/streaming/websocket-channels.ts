/**
 * Kubernetes' channel protocol over WebSocket (k8s.io/apimachinery wsstream), used by
 * @kubernetes/client-node for exec, attach and port-forward and by kubectl ≥ 1.30 for exec:
 * every binary message starts with a channel byte (exec: 0 stdin, 1 stdout, 2 stderr, 3 error,
 * 4 resize; port-forward: 2i data and 2i+1 error of the i-th port) followed by that channel's
 * bytes.
 *
 *   v4.channel.k8s.io          binary messages as above
 *   v5.channel.k8s.io          v4 plus message [255, channel]: the sender closes that channel
 *                              (client-node and kubectl send it for stdin EOF)
 *   v4.base64.channel.k8s.io   text messages: the channel as an ASCII digit, then base64
 *
 * The protocol is the first one the client offers that the endpoint supports (client order, as
 * wsstream chooses). The server never sends [255, channel] itself: client-node reacts to it by
 * ending *its process's* stdout (web-socket-handler.js `closeStream` defaults to
 * process.stdout), and no client needs it, because every session ends by closing the WebSocket.
 */
import type { IncomingMessage } from 'node:http'
import { Readable, Writable, type Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'

export const CHANNEL_PROTOCOL_V5 = 'v5.channel.k8s.io'
export const CHANNEL_PROTOCOL_V4 = 'v4.channel.k8s.io'
export const CHANNEL_PROTOCOL_V4_BASE64 = 'v4.base64.channel.k8s.io'

/** The v5 message that closes a channel: [CLOSE_CHANNEL, channel]. */
export const CLOSE_CHANNEL = 255

/** The largest message accepted from a client (kubectl and client-node send at most 32 KiB). */
export const WEBSOCKET_MESSAGE_BYTES_MAX = 4 * 1024 * 1024

/** The protocols a client offers (`Sec-WebSocket-Protocol`, comma-separated, possibly repeated). */
export function offeredProtocols(request: IncomingMessage): string[] {
  const header = request.headers['sec-websocket-protocol']
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header]
  return values.flatMap((value) => value.split(',')).map((value) => value.trim()).filter((value) => value !== '')
}

/** The first offered protocol that is supported, or undefined. */
export function selectProtocol(offered: readonly string[], supported: readonly string[]): string | undefined {
  return offered.find((protocol) => supported.includes(protocol))
}

/** Whether the request asks for a WebSocket (`Upgrade: websocket`). */
export function isWebSocketRequest(request: IncomingMessage): boolean {
  return (request.headers.upgrade ?? '').toLowerCase() === 'websocket'
}

/**
 * Completes the WebSocket handshake (101 with `protocol`) on an upgraded socket. Rejects when the
 * handshake is malformed (ws has then answered 400 and closed the socket).
 */
export function acceptWebSocket(request: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): Promise<WebSocket> {
  const server = new WebSocketServer({
    noServer: true,
    // One server per upgrade, so nothing needs the set of its clients.
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: WEBSOCKET_MESSAGE_BYTES_MAX,
    handleProtocols: () => protocol,
  })
  return new Promise<WebSocket>((resolve, reject) => {
    const onClose = (): void => reject(new Error('the WebSocket handshake failed'))
    socket.once('close', onClose)
    server.handleUpgrade(request, socket, head, (webSocket) => {
      socket.off('close', onClose)
      resolve(webSocket)
    })
  })
}

/**
 * A WebSocket carrying numbered channels. Readers exist only for the channels named at
 * construction (messages on others are dropped, as wsstream ignores writes to output channels);
 * writers may be made for any channel.
 */
export class ChannelWebSocket {
  readonly protocol: string
  private readonly webSocket: WebSocket
  private readonly base64: boolean
  private readonly readers = new Map<number, ChannelReader>()
  private readonly fullReaders = new Set<ChannelReader>()
  private closedResolve!: () => void
  /** Settles when the WebSocket has closed (either side). */
  readonly closed: Promise<void> = new Promise<void>((resolve) => (this.closedResolve = resolve))

  constructor(webSocket: WebSocket, protocol: string, readableChannels: readonly number[]) {
    this.webSocket = webSocket
    this.protocol = protocol
    this.base64 = protocol === CHANNEL_PROTOCOL_V4_BASE64
    for (const channel of readableChannels) this.readers.set(channel, new ChannelReader(() => this.readingWanted(channel)))
    webSocket.on('message', (data: RawData, isBinary: boolean) => this.receive(toBuffer(data), isBinary))
    webSocket.on('error', () => webSocket.terminate())
    webSocket.on('close', () => {
      for (const reader of this.readers.values()) reader.finish()
      this.closedResolve()
    })
  }

  /** What the client sends on `channel`; ends when the client closes it (v5) or the WebSocket. */
  reader(channel: number): Readable {
    const reader = this.readers.get(channel)
    if (reader === undefined) throw new RangeError(`channel ${channel} was not opened for reading`)
    return reader
  }

  /** A stream whose writes go to the client on `channel`. Ending it sends nothing (see the header). */
  writer(channel: number): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => this.send(channel, chunk, callback),
    })
  }

  /** Sends one message on `channel`; `callback` runs once it is written (or failed). */
  send(channel: number, data: Buffer, callback: (error?: Error | null) => void = () => {}): void {
    if (this.webSocket.readyState !== this.webSocket.OPEN) {
      callback()
      return
    }
    if (this.base64) this.webSocket.send(`${channel}${data.toString('base64')}`, { binary: false }, (error) => callback(error ?? null))
    else this.webSocket.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, (error) => callback(error ?? null))
  }

  /** Closes the WebSocket normally, after everything already sent. */
  close(): void {
    if (this.webSocket.readyState === this.webSocket.OPEN) this.webSocket.close(1000)
  }

  /** Drops the connection at once. */
  terminate(): void {
    this.webSocket.terminate()
  }

  private receive(message: Buffer, isBinary: boolean): void {
    const decoded = this.base64 ? decodeBase64Message(message, isBinary) : message
    if (decoded === undefined || decoded.length === 0) return
    const channel = decoded[0]!
    if (channel === CLOSE_CHANNEL && this.protocol === CHANNEL_PROTOCOL_V5) {
      if (decoded.length >= 2) this.readers.get(decoded[1]!)?.finish()
      return
    }
    const reader = this.readers.get(channel)
    if (reader === undefined || decoded.length === 1) return
    if (!reader.deliver(decoded.subarray(1))) {
      this.fullReaders.add(reader)
      this.webSocket.pause()
    }
  }

  private readingWanted(channel: number): void {
    const reader = this.readers.get(channel)
    if (reader !== undefined) this.fullReaders.delete(reader)
    if (this.fullReaders.size === 0 && this.webSocket.isPaused) this.webSocket.resume()
  }
}

/** A channel's incoming bytes as a Readable. */
class ChannelReader extends Readable {
  private readonly wanted: () => void
  private finished = false

  constructor(wanted: () => void) {
    super()
    this.wanted = wanted
  }

  deliver(data: Buffer): boolean {
    if (this.finished) return true
    return this.push(data)
  }

  finish(): void {
    if (this.finished) return
    this.finished = true
    this.push(null)
  }

  override _read(): void {
    this.wanted()
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

/** A base64-protocol message as [channel, ...bytes]; undefined when it is not one. */
function decodeBase64Message(message: Buffer, isBinary: boolean): Buffer | undefined {
  if (isBinary) return undefined
  const text = message.toString('latin1')
  const channel = text.charCodeAt(0) - '0'.charCodeAt(0)
  if (!(channel >= 0 && channel <= 9)) return undefined
  return Buffer.concat([Buffer.from([channel]), Buffer.from(text.slice(1), 'base64')])
}
