/**
 * The server side of a SPDY/3.1 connection on an upgraded HTTP socket, as kubectl's exec, attach
 * and port-forward use it: the client opens every stream (SYN_STREAM, odd ids), the server
 * answers each with SYN_REPLY and both ends exchange DATA until each has sent FIN (or one sends
 * RST_STREAM). PINGs from the client are echoed, GOAWAY ends the connection, SETTINGS are read.
 *
 * Flow control, and why it is one-sided: SPDY/3.1 gives every stream and the session a 64 KiB
 * window that the receiver reopens with WINDOW_UPDATE. We send WINDOW_UPDATEs for what we
 * receive, so a client that honours windows never stalls, but we do not hold our own sends to
 * the client's windows: moby/spdystream, which kubectl uses, never sends WINDOW_UPDATE (it
 * ignores the frame type altogether), so honouring windows would stop every exec after 64 KiB of
 * output. Back-pressure comes from TCP instead: a write waits for the socket to drain, and a
 * stream whose reader is slow pauses reading the socket.
 *
 * Frames are written in the order they are queued; a SYN_REPLY is queued before the stream is
 * handed to its handler, so no DATA can overtake it.
 */
import { Duplex } from 'node:stream'
import { FlotillaError } from '../../../../lib/errors.ts'
import {
  GOAWAY_STATUS,
  HeaderCodec,
  RST_STREAM_STATUS,
  SETTINGS_ID,
  SPDY_INITIAL_WINDOW_BYTES,
  SpdyFrameSplitter,
  SpdyProtocolError,
  decodeFrame,
  encodeDataFrame,
  encodeFrame,
  type RawFrame,
  type SpdyFrame,
  type SpdyHeaders,
} from './spdy-framer.ts'

/** Data frames we send carry at most this much (kubectl reads in 32 KiB pieces). */
export const SPDY_DATA_FRAME_BYTES_MAX = 32 * 1024
/** The most streams open at once; further SYN_STREAMs are refused (REFUSED_STREAM). */
export const SPDY_STREAMS_OPEN_MAX = 1024
/** How long `end` waits for the client to close the connection before destroying it. */
export const SPDY_CLOSE_GRACE_MS = 5_000
/** Received bytes after which a WINDOW_UPDATE reopens the window (half of it, as browsers did). */
const WINDOW_UPDATE_THRESHOLD_BYTES = SPDY_INITIAL_WINDOW_BYTES / 2
/** Frames decoded but not yet handled after which the socket is paused (bounds queued work). */
const PENDING_FRAMES_MAX = 256

/** The peer reset a stream (RST_STREAM); `status` is the RST_STREAM status code. */
export class SpdyStreamResetError extends FlotillaError {
  override name = 'SpdyStreamResetError'
  readonly status: number
  constructor(streamId: number, status: number) {
    super(`SPDY stream ${streamId} was reset by the peer (status ${status})`)
    this.status = status
  }
}

/** What a stream needs from its session (kept narrow so the stream cannot reach the socket). */
interface StreamOwner {
  sendData(streamId: number, data: Buffer, fin: boolean): Promise<void>
  sendReset(streamId: number, status: number): void
  readingWanted(stream: SpdyStream): void
  forget(stream: SpdyStream): void
}

/**
 * One SPDY stream as a Node Duplex: what the client sends is readable (ending at its FIN), what
 * is written goes out as DATA frames, and `end()` sends FIN. Destroying a stream that is not
 * closed both ways resets it (RST_STREAM CANCEL).
 */
export class SpdyStream extends Duplex {
  readonly id: number
  /** The SYN_STREAM's headers (lower-case names). */
  readonly headers: SpdyHeaders
  private readonly owner: StreamOwner
  /** True once the client's FIN arrived (nothing more will be pushed). */
  remoteClosed = false
  /** True once our FIN was sent. */
  private localClosed = false
  /** True once either end reset the stream. */
  private resetDone = false
  /** Bytes received since the last WINDOW_UPDATE. */
  unacknowledgedBytes = 0

  constructor(id: number, headers: SpdyHeaders, owner: StreamOwner) {
    super({ allowHalfOpen: true })
    this.id = id
    this.headers = headers
    this.owner = owner
  }

  /** The first value of a header, or undefined. */
  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0]
  }

  /** Resets the stream (RST_STREAM) and destroys it. */
  reset(status: number = RST_STREAM_STATUS.cancel): void {
    if (!this.resetDone) {
      this.resetDone = true
      this.owner.sendReset(this.id, status)
    }
    this.destroy()
  }

  /** The session's side: the peer reset the stream. */
  resetByPeer(status: number): void {
    this.resetDone = true
    this.destroy(status === RST_STREAM_STATUS.cancel ? undefined : new SpdyStreamResetError(this.id, status))
  }

  /** The session's side: the connection is gone; end quietly, without frames. */
  abandon(): void {
    this.resetDone = true
    if (!this.remoteClosed) {
      this.remoteClosed = true
      this.push(null)
    }
    this.destroy()
  }

  /** The session's side: the client's FIN arrived. */
  receiveFin(): void {
    if (this.remoteClosed) return
    this.remoteClosed = true
    this.push(null)
    this.forgetWhenClosed()
  }

  /**
   * Once both ends have sent FIN no frame of this stream can come: the session forgets it, even
   * if nobody has read the last bytes yet (they stay readable here).
   */
  private forgetWhenClosed(): void {
    if (this.localClosed && this.remoteClosed) this.owner.forget(this)
  }

  override _read(): void {
    this.owner.readingWanted(this)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    void this.sendPieces(chunk).then(() => callback(), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.localClosed = true
    this.forgetWhenClosed()
    void this.owner.sendData(this.id, Buffer.alloc(0), true).then(() => callback(), callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.resetDone && !(this.localClosed && this.remoteClosed)) {
      this.resetDone = true
      this.owner.sendReset(this.id, RST_STREAM_STATUS.cancel)
    }
    this.owner.forget(this)
    callback(error)
  }

  private async sendPieces(chunk: Buffer): Promise<void> {
    for (let offset = 0; offset < chunk.length; offset += SPDY_DATA_FRAME_BYTES_MAX) {
      await this.owner.sendData(this.id, chunk.subarray(offset, offset + SPDY_DATA_FRAME_BYTES_MAX), false)
    }
  }
}

export interface SpdySessionOptions {
  /**
   * Called for every stream the client opens, after its SYN_REPLY is queued. Returning false
   * refuses it (RST_STREAM REFUSED_STREAM). The handler must listen for 'error': a reset by the
   * peer destroys the stream with SpdyStreamResetError.
   */
  readonly onStream: (stream: SpdyStream) => boolean
  /** Where protocol violations are reported (they also end the connection). */
  readonly log?: (line: string) => void
}

/** A server-side SPDY/3.1 session over an upgraded socket. */
export class SpdySession implements StreamOwner {
  private readonly socket: Duplex
  private readonly options: SpdySessionOptions
  private readonly codec = new HeaderCodec()
  private readonly splitter = new SpdyFrameSplitter()
  private readonly streams = new Map<number, SpdyStream>()
  /** Streams whose readers are full; the socket stays paused while any is. */
  private readonly blocked = new Set<SpdyStream>()
  private lastClientStreamId = 0
  private sessionUnacknowledgedBytes = 0
  private pendingFrames = 0
  private incoming: Promise<void> = Promise.resolve()
  private outgoing: Promise<void> = Promise.resolve()
  private goneAway = false
  private closeTimer: ReturnType<typeof setTimeout> | undefined
  private finishTimer: ReturnType<typeof setTimeout> | undefined
  private closedResolve!: () => void
  /** Settles once the socket is closed and every stream is gone. */
  readonly closed: Promise<void> = new Promise<void>((resolve) => (this.closedResolve = resolve))
  private isClosed = false

  /** `head` is what the HTTP parser read past the upgrade request (usually nothing). */
  constructor(socket: Duplex, head: Buffer, options: SpdySessionOptions) {
    this.socket = socket
    this.options = options
    socket.on('data', (chunk: Buffer) => this.receiveBytes(chunk))
    socket.on('error', () => this.teardown())
    socket.on('close', () => this.teardown())
    socket.on('end', () => {
      // The client will send nothing more (kubectl closes the connection when it is done, or it
      // exited): no stream gets another byte, and our side closes once what is queued is out.
      for (const stream of this.streams.values()) stream.receiveFin()
      void this.outgoing.then(() => this.closeSocket())
    })
    if (head.length > 0) this.receiveBytes(head)
  }

  /** Streams open now (for tests and limits). */
  get openStreams(): number {
    return this.streams.size
  }

  /**
   * Ends the connection politely: GOAWAY, then the socket's end once every queued frame is
   * written; destroys it if the client has not closed its side after SPDY_CLOSE_GRACE_MS.
   */
  end(): void {
    if (this.isClosed) return
    this.sendGoAway(GOAWAY_STATUS.ok)
    void this.outgoing.then(() => this.closeSocket())
  }

  /** Ends our side of the socket, and destroys it if the client keeps its side open too long. */
  private closeSocket(): void {
    if (this.isClosed) return
    this.socket.end()
    this.closeTimer ??= setTimeout(() => this.socket.destroy(), SPDY_CLOSE_GRACE_MS)
  }

  /**
   * Leaves closing to the client, for once the server has sent everything: the connection ends
   * (as `end` does) only if the client has not closed it `graceMs` after the queued frames are
   * written. Waiting matters because spdystream discards frames it has read but not handled when
   * the connection ends or a GOAWAY arrives, so ending first could cut the client's last output.
   */
  finishWhenClientCloses(graceMs: number): void {
    void this.outgoing.then(() => {
      if (this.isClosed) return
      this.finishTimer ??= setTimeout(() => this.end(), graceMs)
    })
  }

  /** Drops the connection at once (every stream ends without further frames). */
  destroy(): void {
    this.socket.destroy()
    this.teardown()
  }

  // --- StreamOwner ---------------------------------------------------------------------------

  sendData(streamId: number, data: Buffer, fin: boolean): Promise<void> {
    return this.enqueue(encodeDataFrame(streamId, data, fin))
  }

  sendReset(streamId: number, status: number): void {
    void this.send({ type: 'rstStream', streamId, status })
  }

  readingWanted(stream: SpdyStream): void {
    this.blocked.delete(stream)
    this.maybeResume()
  }

  forget(stream: SpdyStream): void {
    this.streams.delete(stream.id)
    this.blocked.delete(stream)
    this.maybeResume()
  }

  // --- Receiving ------------------------------------------------------------------------------

  private receiveBytes(chunk: Buffer): void {
    if (this.isClosed) return
    let frames: RawFrame[]
    try {
      frames = this.splitter.push(chunk)
    } catch (error) {
      return this.protocolError(error)
    }
    for (const raw of frames) {
      this.pendingFrames++
      if (this.pendingFrames > PENDING_FRAMES_MAX) this.socket.pause()
      this.incoming = this.incoming
        .then(() => this.receiveFrame(raw))
        .catch((error: unknown) => this.protocolError(error))
        .finally(() => {
          this.pendingFrames--
          this.maybeResume()
        })
    }
  }

  private async receiveFrame(raw: RawFrame): Promise<void> {
    if (this.isClosed) return
    const frame = await decodeFrame(raw, this.codec)
    if (frame === undefined) return
    switch (frame.type) {
      case 'synStream':
        return this.receiveSynStream(frame)
      case 'data':
        return this.receiveData(frame)
      case 'rstStream':
        this.streams.get(frame.streamId)?.resetByPeer(frame.status)
        return
      case 'ping':
        // Odd ids are the client's pings, to be echoed; even ones would be answers to ours (we send none).
        if (frame.id % 2 === 1) void this.send(frame)
        return
      case 'goAway':
        // The client opens no more streams; the ones open finish normally.
        this.goneAway = true
        return
      case 'settings':
        for (const entry of frame.entries) {
          if (entry.id === SETTINGS_ID.initialWindowSize && entry.value > 0x7fffffff) throw new SpdyProtocolError(`initial window size ${entry.value} out of range`)
        }
        return
      case 'windowUpdate':
      case 'headers':
        // Send windows are not honoured (see the header comment); extra headers carry nothing kubectl needs.
        return
      case 'synReply':
        throw new SpdyProtocolError(`SYN_REPLY for stream ${frame.streamId}, which the server never opened`)
    }
  }

  private receiveSynStream(frame: Extract<SpdyFrame, { type: 'synStream' }>): void {
    const { streamId } = frame
    if (streamId % 2 === 0 || streamId <= this.lastClientStreamId) {
      throw new SpdyProtocolError(`SYN_STREAM with stream id ${streamId} after ${this.lastClientStreamId} (client ids are odd and increasing)`)
    }
    this.lastClientStreamId = streamId
    if (this.goneAway || this.streams.size >= SPDY_STREAMS_OPEN_MAX) {
      void this.send({ type: 'rstStream', streamId, status: RST_STREAM_STATUS.refusedStream })
      return
    }
    const stream = new SpdyStream(streamId, frame.headers, this)
    this.streams.set(streamId, stream)
    // Queued before the handler runs, so the reply precedes anything the handler writes.
    void this.send({ type: 'synReply', streamId, fin: false, headers: new Map() })
    // A unidirectional stream (client to server only) is not something kubectl opens; its
    // handler simply never writes to it.
    if (frame.fin) stream.receiveFin()
    if (!this.options.onStream(stream)) stream.reset(RST_STREAM_STATUS.refusedStream)
  }

  private receiveData(frame: Extract<SpdyFrame, { type: 'data' }>): void {
    const stream = this.streams.get(frame.streamId)
    // Frames for a stream already reset or finished are late, not wrong: drop them.
    if (stream === undefined) return
    if (stream.remoteClosed) {
      stream.reset(RST_STREAM_STATUS.streamAlreadyClosed)
      return
    }
    if (frame.data.length > 0) {
      if (!stream.push(frame.data)) {
        this.blocked.add(stream)
        this.socket.pause()
      }
      this.acknowledge(stream, frame.data.length)
    }
    if (frame.fin) stream.receiveFin()
  }

  /** Reopens the client's send windows (stream and session) once half of one is used. */
  private acknowledge(stream: SpdyStream, bytes: number): void {
    stream.unacknowledgedBytes += bytes
    this.sessionUnacknowledgedBytes += bytes
    if (stream.unacknowledgedBytes >= WINDOW_UPDATE_THRESHOLD_BYTES && !stream.remoteClosed) {
      void this.send({ type: 'windowUpdate', streamId: stream.id, deltaWindowBytes: stream.unacknowledgedBytes })
      stream.unacknowledgedBytes = 0
    }
    if (this.sessionUnacknowledgedBytes >= WINDOW_UPDATE_THRESHOLD_BYTES) {
      void this.send({ type: 'windowUpdate', streamId: 0, deltaWindowBytes: this.sessionUnacknowledgedBytes })
      this.sessionUnacknowledgedBytes = 0
    }
  }

  private maybeResume(): void {
    if (this.isClosed || this.blocked.size > 0 || this.pendingFrames > PENDING_FRAMES_MAX) return
    this.socket.resume()
  }

  private protocolError(error: unknown): void {
    if (this.isClosed) return
    const message = error instanceof Error ? error.message : String(error)
    this.options.log?.(`spdy: closing the connection: ${message}`)
    this.sendGoAway(GOAWAY_STATUS.protocolError)
    void this.outgoing.then(() => this.destroy())
  }

  // --- Sending --------------------------------------------------------------------------------

  private sendGoAway(status: number): void {
    if (this.goneAway && status === GOAWAY_STATUS.ok) return
    this.goneAway = true
    void this.send({ type: 'goAway', lastGoodStreamId: this.lastClientStreamId, status })
  }

  /** Encodes now (header blocks must be compressed in send order) and writes in queue order. */
  private send(frame: SpdyFrame): Promise<void> {
    return this.enqueue(encodeFrame(frame, this.codec))
  }

  private enqueue(bytes: Buffer | Promise<Buffer>): Promise<void> {
    const written = this.outgoing.then(async () => this.write(await bytes))
    this.outgoing = written.catch(() => undefined)
    return written
  }

  private write(bytes: Buffer): Promise<void> | undefined {
    if (this.isClosed || this.socket.writableEnded) return undefined
    if (this.socket.write(bytes)) return undefined
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        resolve()
      }
      this.socket.on('drain', done)
      this.socket.on('close', done)
    })
  }

  private teardown(): void {
    if (this.isClosed) return
    this.isClosed = true
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer)
    if (this.finishTimer !== undefined) clearTimeout(this.finishTimer)
    for (const stream of [...this.streams.values()]) stream.abandon()
    this.streams.clear()
    this.blocked.clear()
    this.codec.close()
    if (!this.socket.destroyed) this.socket.destroy()
    this.closedResolve()
  }
}
