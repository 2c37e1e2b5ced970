// Goal: the SPDY/3 framer reads and writes every frame type kubectl's spdystream uses, and its
// header blocks interoperate with any zlib that uses the SPDY/3 dictionary. Method: frames are
// encoded by one end's HeaderCodec and decoded by another's (the two directions of a connection),
// several header blocks in a row so the zlib state spanning frames is exercised; a block
// compressed the way Go's framer does it (a fresh zlib stream at best compression, primed with the
// dictionary, sync-flushed) is decoded; byte streams are split at every possible boundary; and
// malformed frames are refused with SpdyProtocolError.
import { constants as zlibConstants, createDeflate, createInflate } from 'node:zlib'
import t, { type Test } from 'tap'
import {
  HeaderCodec,
  RST_STREAM_STATUS,
  SPDY_CONTROL_FRAME_BYTES_MAX,
  SPDY_HEADER_DICTIONARY,
  SpdyFrameSplitter,
  SpdyProtocolError,
  decodeFrame,
  decodeHeaderBlock,
  encodeControlFrame,
  encodeFrame,
  encodeHeaderBlock,
  type SpdyFrame,
} from '../../../node/src/api/streaming/spdy-framer.ts'

/** Adler-32 (RFC 1950), the checksum zlib uses to name a preset dictionary. */
function adler32(bytes: Buffer): number {
  let a = 1
  let b = 0
  for (const byte of bytes) {
    a = (a + byte) % 65521
    b = (b + a) % 65521
  }
  return ((b << 16) | a) >>> 0
}

/** Encodes with `sender`, splits, and decodes with `receiver`: one frame through the wire. */
async function roundTrip(t: Test, frame: SpdyFrame, sender: HeaderCodec, receiver: HeaderCodec): Promise<SpdyFrame | undefined> {
  const bytes = await encodeFrame(frame, sender)
  const raws = new SpdyFrameSplitter().push(bytes)
  t.equal(raws.length, 1, `${frame.type} encodes to exactly one frame`)
  return decodeFrame(raws[0]!, receiver)
}

const headers = (entries: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(entries))

t.test('the header dictionary is the SPDY/3 one', async (t) => {
  t.equal(SPDY_HEADER_DICTIONARY.subarray(0, 11).toString('latin1'), '\u0000\u0000\u0000\u0007options', 'it starts with the length-prefixed word "options"')
  t.ok(SPDY_HEADER_DICTIONARY.toString('latin1').endsWith('utf-,*,enq=0.'), 'and ends with the common values')
  // A compressed block names its dictionary by checksum in the zlib header (FDICT).
  const codec = new HeaderCodec()
  const compressed = await codec.compress(headers({ streamtype: ['error'] }))
  t.equal(compressed[1]! & 0x20, 0x20, 'compressed blocks declare a preset dictionary')
  t.equal(compressed.readUInt32BE(2), adler32(SPDY_HEADER_DICTIONARY), 'which is the SPDY dictionary')
  codec.close()
})

t.test('header blocks: names lower-cased, several values joined by NUL, truncation refused', async (t) => {
  const block = encodeHeaderBlock(headers({ StreamType: ['data'], port: ['80'], multi: ['a', 'b'] }))
  const decoded = decodeHeaderBlock(block)
  t.same([...decoded.entries()], [['streamtype', ['data']], ['port', ['80']], ['multi', ['a', 'b']]])
  t.throws(() => decodeHeaderBlock(block.subarray(0, block.length - 1)), SpdyProtocolError, 'a truncated block is refused')
  t.throws(() => decodeHeaderBlock(Buffer.concat([block, Buffer.from([0])])), SpdyProtocolError, 'trailing bytes are refused')
  t.throws(() => decodeHeaderBlock(Buffer.from([0xff, 0xff, 0xff, 0xff])), SpdyProtocolError, 'an absurd pair count is refused')
})

t.test('every frame type survives a round trip, header blocks in sequence share zlib state', async (t) => {
  const client = new HeaderCodec()
  const server = new HeaderCodec()
  t.teardown(() => {
    client.close()
    server.close()
  })
  const frames: SpdyFrame[] = [
    { type: 'synStream', streamId: 1, associatedStreamId: 0, priority: 0, fin: false, unidirectional: false, headers: headers({ streamtype: ['error'], port: ['8080'], requestid: ['0'] }) },
    { type: 'synStream', streamId: 3, associatedStreamId: 0, priority: 7, fin: true, unidirectional: true, headers: headers({ streamtype: ['data'], port: ['8080'], requestid: ['0'] }) },
    { type: 'synStream', streamId: 5, associatedStreamId: 1, priority: 3, fin: false, unidirectional: false, headers: headers({ streamtype: ['stdout'] }) },
    { type: 'synReply', streamId: 1, fin: false, headers: new Map() },
    { type: 'synReply', streamId: 3, fin: true, headers: headers({ status: ['200'] }) },
    { type: 'headers', streamId: 5, fin: false, headers: headers({ extra: ['x', 'y'] }) },
    { type: 'data', streamId: 7, fin: true, data: Buffer.from('hello') },
    { type: 'data', streamId: 0x7fffffff, fin: false, data: Buffer.alloc(0) },
    { type: 'rstStream', streamId: 9, status: RST_STREAM_STATUS.cancel },
    { type: 'settings', clearPersisted: true, entries: [{ id: 7, flags: 1, value: 65536 }, { id: 4, flags: 0, value: 100 }] },
    { type: 'ping', id: 0xfffffffe },
    { type: 'goAway', lastGoodStreamId: 11, status: 1 },
    { type: 'windowUpdate', streamId: 0, deltaWindowBytes: 0x7fffffff },
  ]
  for (const frame of frames) {
    // Both directions: the client compresses with its codec and the server decompresses with its own, and back.
    t.same(await roundTrip(t, frame, client, server), frame, `${frame.type} client to server`)
    t.same(await roundTrip(t, frame, server, client), frame, `${frame.type} server to client`)
  }
})

t.test('a header block compressed as Go does it (fresh zlib, best compression, dictionary, sync flush) decodes', async (t) => {
  const block = encodeHeaderBlock(headers({ streamtype: ['stdin'] }))
  const deflate = createDeflate({ dictionary: SPDY_HEADER_DICTIONARY, level: zlibConstants.Z_BEST_COMPRESSION })
  const chunks: Buffer[] = []
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk))
  deflate.write(block)
  await new Promise<void>((resolve) => deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => resolve()))
  deflate.close()
  const compressed = Buffer.concat(chunks)
  const payload = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), compressed])
  const codec = new HeaderCodec()
  const frame = await decodeFrame({ control: true, streamIdOrVersion: 3, controlType: 1, flags: 0, payload }, codec)
  t.same(frame?.type === 'synStream' ? [...frame.headers] : undefined, [['streamtype', ['stdin']]])
  // And our compressed blocks inflate with any zlib primed with the dictionary.
  const ours = await codec.compress(headers({ streamtype: ['stdout'] }))
  const inflate = createInflate({ dictionary: SPDY_HEADER_DICTIONARY })
  const inflated: Buffer[] = []
  inflate.on('data', (chunk: Buffer) => inflated.push(chunk))
  inflate.write(ours)
  await new Promise<void>((resolve) => inflate.flush(zlibConstants.Z_SYNC_FLUSH, () => resolve()))
  inflate.close()
  t.same([...decodeHeaderBlock(Buffer.concat(inflated))], [['streamtype', ['stdout']]])
  codec.close()
})

t.test('the splitter reassembles frames cut at any byte boundary', async (t) => {
  const codec = new HeaderCodec()
  const stream = Buffer.concat([
    await encodeFrame({ type: 'synStream', streamId: 1, associatedStreamId: 0, priority: 0, fin: false, unidirectional: false, headers: headers({ streamtype: ['error'] }) }, codec),
    await encodeFrame({ type: 'data', streamId: 1, fin: false, data: Buffer.from('abc') }, codec),
    encodeControlFrame({ type: 'ping', id: 1 }),
    await encodeFrame({ type: 'data', streamId: 1, fin: true, data: Buffer.alloc(0) }, codec),
  ])
  codec.close()
  const whole = new SpdyFrameSplitter().push(stream)
  t.equal(whole.length, 4, 'four frames in one chunk')
  for (const piece of [1, 2, 3, 7, 13]) {
    const splitter = new SpdyFrameSplitter()
    const frames = []
    for (let offset = 0; offset < stream.length; offset += piece) frames.push(...splitter.push(stream.subarray(offset, offset + piece)))
    t.same(frames.map((frame) => [frame.control, frame.controlType, frame.flags, frame.payload.toString('hex')]), whole.map((frame) => [frame.control, frame.controlType, frame.flags, frame.payload.toString('hex')]), `pieces of ${piece} bytes`)
    t.equal(splitter.pendingBytes, 0, 'nothing left over')
  }
})

t.test('malformed frames are protocol errors', async (t) => {
  const codec = new HeaderCodec()
  t.teardown(() => codec.close())
  const oversized = Buffer.alloc(8)
  oversized.writeUInt32BE(0x80030001, 0)
  oversized.writeUIntBE(SPDY_CONTROL_FRAME_BYTES_MAX + 1, 5, 3)
  t.throws(() => new SpdyFrameSplitter().push(oversized), SpdyProtocolError, 'a control frame over the limit')
  const raw = (controlType: number, payload: Buffer, version = 3) => ({ control: true, streamIdOrVersion: version, controlType, flags: 0, payload })
  await t.rejects(decodeFrame(raw(3, Buffer.alloc(4)), codec), SpdyProtocolError, 'RST_STREAM of the wrong length')
  await t.rejects(decodeFrame(raw(6, Buffer.alloc(4), 2), codec), SpdyProtocolError, 'SPDY/2')
  await t.rejects(decodeFrame(raw(4, Buffer.from([0, 0, 0, 2, 0, 0, 0, 7])), codec), SpdyProtocolError, 'SETTINGS whose count does not match its length')
  await t.rejects(decodeFrame({ control: false, streamIdOrVersion: 0, controlType: 0, flags: 0, payload: Buffer.alloc(0) }, codec), SpdyProtocolError, 'data for stream 0')
  await t.rejects(decodeFrame(raw(1, Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('not zlib')])), new HeaderCodec()), SpdyProtocolError, 'a header block that is not zlib')
  t.equal(await decodeFrame(raw(10, Buffer.alloc(4)), codec), undefined, 'an unknown control frame type decodes to nothing (ignored)')
})
