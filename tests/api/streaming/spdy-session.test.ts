// Goal: the server-side SPDY session behaves as spdystream (kubectl) expects: every SYN_STREAM is
// answered with SYN_REPLY before any data of that stream, DATA and FIN flow both ways per stream,
// client PINGs are echoed, refused streams are reset, a reset from the client tears the stream
// down without disturbing others, received data is acknowledged with WINDOW_UPDATEs (stream and
// session), and protocol violations end the connection with GOAWAY. Method: a raw SPDY client
// built from the framer talks to a SpdySession over a real TCP connection on 127.0.0.1; the
// server's streams echo, refuse or reset depending on their `streamtype` header; every wait is a
// poll with a deadline.
import { createServer, connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import { GOAWAY_STATUS, HeaderCodec, RST_STREAM_STATUS, SpdyFrameSplitter, decodeFrame, encodeFrame, type SpdyFrame } from '../../../node/src/api/streaming/spdy-framer.ts'
import { SpdySession, type SpdyStream } from '../../../node/src/api/streaming/spdy-session.ts'

const DEADLINE_MS = 10_000

/** A minimal SPDY client: sends frames in order, records every frame it receives. */
class RawSpdyClient {
  readonly socket: Socket
  readonly frames: SpdyFrame[] = []
  closed = false
  private readonly codec = new HeaderCodec()
  private readonly splitter = new SpdyFrameSplitter()
  private incoming: Promise<void> = Promise.resolve()
  private outgoing: Promise<void> = Promise.resolve()

  constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      for (const raw of this.splitter.push(chunk)) {
        this.incoming = this.incoming.then(async () => {
          const frame = await decodeFrame(raw, this.codec)
          if (frame !== undefined) this.frames.push(frame)
        })
      }
    })
    socket.on('close', () => (this.closed = true))
    socket.on('error', () => undefined)
  }

  send(frame: SpdyFrame): void {
    const bytes = encodeFrame(frame, this.codec)
    this.outgoing = this.outgoing.then(async () => void this.socket.write(await bytes))
  }

  open(streamId: number, streamtype: string): void {
    this.send({ type: 'synStream', streamId, associatedStreamId: 0, priority: 0, fin: false, unidirectional: false, headers: new Map([['streamtype', [streamtype]]]) })
  }

  data(streamId: number, text: string | Buffer, fin = false): void {
    this.send({ type: 'data', streamId, fin, data: Buffer.isBuffer(text) ? text : Buffer.from(text) })
  }

  /** The bytes received on a stream so far, and whether its FIN arrived. */
  received(streamId: number): { text: string; fin: boolean } {
    const frames = this.frames.filter((frame): frame is Extract<SpdyFrame, { type: 'data' }> => frame.type === 'data' && frame.streamId === streamId)
    return { text: Buffer.concat(frames.map((frame) => frame.data)).toString(), fin: frames.some((frame) => frame.fin) }
  }

  until<T>(what: string, probe: () => T | undefined): Promise<T> {
    return waitFor(what, DEADLINE_MS, probe)
  }

  close(): void {
    this.codec.close()
    this.socket.destroy()
  }
}

/** A TCP server whose connections become SpdySessions with test behaviour per stream type. */
async function spdyServer(t: Test): Promise<{ client: () => Promise<RawSpdyClient>; sessions: SpdySession[]; streams: SpdyStream[]; logged: string[] }> {
  const sessions: SpdySession[] = []
  const streams: SpdyStream[] = []
  const logged: string[] = []
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const session = new SpdySession(socket, Buffer.alloc(0), {
      log: (line) => logged.push(line),
      onStream: (stream) => {
        streams.push(stream)
        stream.on('error', () => undefined)
        const type = stream.header('streamtype')
        if (type === 'refuse') return false
        if (type === 'echo') stream.pipe(stream)
        if (type === 'sink') stream.resume()
        if (type === 'greet') stream.end('hello from the server')
        return true
      },
    })
    sessions.push(session)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const clients: RawSpdyClient[] = []
  t.teardown(async () => {
    for (const client of clients) client.close()
    for (const session of sessions) session.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const port = (server.address() as AddressInfo).port
  return {
    sessions,
    streams,
    logged,
    client: async () => {
      const socket = connect(port, '127.0.0.1')
      await new Promise<void>((resolve) => socket.once('connect', resolve))
      const client = new RawSpdyClient(socket)
      clients.push(client)
      return client
    },
  }
}

t.test('streams are replied to before their data, echo both ways and close with FIN', async (t) => {
  const { client: newClient, sessions } = await spdyServer(t)
  const client = await newClient()
  client.open(1, 'greet')
  client.open(3, 'echo')
  client.open(5, 'echo')
  await client.until('three replies', () => (client.frames.filter((frame) => frame.type === 'synReply').length === 3 ? true : undefined))
  const greetReply = client.frames.findIndex((frame) => frame.type === 'synReply' && frame.streamId === 1)
  const greetData = client.frames.findIndex((frame) => frame.type === 'data' && frame.streamId === 1)
  await client.until('the greeting', () => (client.received(1).fin ? true : undefined))
  t.ok(greetReply >= 0 && greetReply < greetData, 'the SYN_REPLY precedes the first DATA of its stream')
  t.same(client.received(1), { text: 'hello from the server', fin: true }, 'data written by the handler, then FIN')
  t.same(client.frames.find((frame) => frame.type === 'synReply' && frame.streamId === 3), { type: 'synReply', streamId: 3, fin: false, headers: new Map() }, 'replies carry no headers (as the kubelet sends them)')

  client.data(3, 'first ')
  client.data(5, 'other stream')
  client.data(3, 'second', true)
  await client.until('the echo to end', () => (client.received(3).fin ? true : undefined))
  t.same(client.received(3), { text: 'first second', fin: true }, 'the echo ends with a FIN once the client sent its FIN')
  t.same(client.received(5), { text: 'other stream', fin: false }, 'the other stream is independent and still open')
  client.data(1, '', true)
  await client.until('streams closed both ways to be forgotten', () => (sessions[0]!.openStreams === 1 ? true : undefined))
  t.pass('streams closed in both directions are forgotten; the half-open one stays')
})

t.test('pings are echoed, refused streams reset, a client reset ends only its stream', async (t) => {
  const { client: newClient, streams } = await spdyServer(t)
  const client = await newClient()
  client.send({ type: 'ping', id: 7 })
  await client.until('the ping echo', () => client.frames.find((frame) => frame.type === 'ping'))
  t.same(client.frames.find((frame) => frame.type === 'ping'), { type: 'ping', id: 7 }, 'the client ping comes back unchanged')

  client.open(1, 'refuse')
  const reset = await client.until('the refusal', () => client.frames.find((frame) => frame.type === 'rstStream' && frame.streamId === 1))
  t.same(reset, { type: 'rstStream', streamId: 1, status: RST_STREAM_STATUS.refusedStream }, 'a refused stream is reset with REFUSED_STREAM')

  client.open(3, 'echo')
  client.open(5, 'echo')
  await client.until('two echo streams', () => (streams.length === 3 ? true : undefined))
  const closed = new Promise<void>((resolve) => streams[1]!.once('close', () => resolve()))
  client.send({ type: 'rstStream', streamId: 3, status: RST_STREAM_STATUS.cancel })
  await closed
  t.ok(streams[1]!.destroyed, 'the reset stream is destroyed on the server')
  client.data(3, 'late data for a reset stream')
  client.data(5, 'still alive')
  await client.until('the other stream to echo', () => (client.received(5).text === 'still alive' ? true : undefined))
  t.equal(client.received(3).text, '', 'nothing comes back on the reset stream')

  streams[2]!.destroy()
  const serverReset = await client.until('the server to reset', () => client.frames.find((frame) => frame.type === 'rstStream' && frame.streamId === 5))
  t.equal(serverReset.type === 'rstStream' ? serverReset.status : -1, RST_STREAM_STATUS.cancel, 'a stream the server destroys half-open is reset with CANCEL')
})

t.test('received data is acknowledged with WINDOW_UPDATE for the stream and the session', async (t) => {
  const { client: newClient } = await spdyServer(t)
  const client = await newClient()
  client.open(1, 'sink')
  for (let piece = 0; piece < 4; piece++) client.data(1, Buffer.alloc(16 * 1024, piece))
  const updates = await client.until('window updates', () => {
    const found = client.frames.filter((frame) => frame.type === 'windowUpdate')
    return found.some((frame) => frame.streamId === 0) && found.some((frame) => frame.streamId === 1) ? found : undefined
  })
  const total = (streamId: number): number => updates.filter((frame) => frame.type === 'windowUpdate' && frame.streamId === streamId).reduce((sum, frame) => sum + (frame.type === 'windowUpdate' ? frame.deltaWindowBytes : 0), 0)
  t.equal(total(1), 64 * 1024, 'the stream window is reopened by what was received')
  t.equal(total(0), 64 * 1024, 'and so is the session window (SPDY/3.1)')
})

t.test('protocol violations end the connection with GOAWAY', async (t) => {
  const { client: newClient, logged, sessions } = await spdyServer(t)
  const client = await newClient()
  client.open(3, 'echo')
  client.open(1, 'echo')
  const goAway = await client.until('GOAWAY', () => client.frames.find((frame) => frame.type === 'goAway'))
  t.same(goAway, { type: 'goAway', lastGoodStreamId: 3, status: GOAWAY_STATUS.protocolError }, 'a stream id that goes backwards is a protocol error')
  await client.until('the connection to close', () => (client.closed ? true : undefined))
  await sessions[0]!.closed
  t.match(logged.join('\n'), /stream id 1 after 3/, 'the reason is logged')
  t.equal(sessions[0]!.openStreams, 0, 'every stream is gone')
})

t.test('a client that goes away ends every stream of the session', async (t) => {
  const { client: newClient, sessions, streams } = await spdyServer(t)
  const client = await newClient()
  client.open(1, 'echo')
  await client.until('the stream', () => (streams.length === 1 ? true : undefined))
  const ended = new Promise<void>((resolve) => streams[0]!.once('close', () => resolve()))
  client.socket.destroy()
  await sessions[0]!.closed
  await ended
  t.equal(sessions[0]!.openStreams, 0, 'no stream is left')
})
