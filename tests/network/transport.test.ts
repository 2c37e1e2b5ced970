/**
 * The transport compliance suite against TransportMemory and TransportTcp, then the TCP-only
 * behaviour: bounded queues, handshake refusals, frame limits, hostile bytes, exit after stop.
 * All TCP traffic stays on 127.0.0.1.
 */
import { spawn } from 'node:child_process'
import * as net from 'node:net'
import { pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { InvalidConfigError } from '../../lib/errors.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { NetworkMemory, type TransportMemory } from '../../network/src/sim/transport-memory.ts'
import { TransportTcp, type TransportTcpConfig } from '../../network/src/tcp/transport-tcp.ts'
import type { Transport } from '../../network/src/transport.ts'
import {
  record,
  seqFrame,
  seqOf,
  transportCompliance,
  waitFor,
  type TransportHarness,
} from '../compliance/transport.compliance.ts'

const HOST = '127.0.0.1'
const text = new TextEncoder()

function peersOf(transports: readonly Transport[], addressOf: (id: string) => string): Map<string, string> {
  return new Map(transports.map((transport) => [transport.localId, addressOf(transport.localId)]))
}

transportCompliance(t, 'memory', async (): Promise<TransportHarness> => {
  const network = new NetworkMemory({ random: new RandomXoshiro(1) })
  const made: TransportMemory[] = []
  return {
    async make(id) {
      const transport = network.endpoint(id)
      await transport.start()
      made.push(transport)
      return transport
    },
    connect(transports) {
      const peers = peersOf(transports, (id) => `memory:${id}`)
      for (const transport of transports) transport.setPeers(peers)
    },
    async teardown() {
      await Promise.all(made.map((transport) => transport.stop()))
    },
  }
})

transportCompliance(t, 'tcp', async (): Promise<TransportHarness> => {
  const random = new RandomXoshiro(2)
  // A restarted peer listens on its old port again, so the survivors must notice the broken
  // connection and redial the same address: the real reconnect path.
  const portById = new Map<string, number>()
  const made: TransportTcp[] = []
  return {
    async make(id) {
      const transport = new TransportTcp({
        localId: id,
        clusterName: 'compliance',
        listen: { host: HOST, port: portById.get(id) ?? 0 },
        random,
      })
      await transport.start()
      portById.set(id, transport.address().port)
      made.push(transport)
      return transport
    },
    connect(transports) {
      const peers = peersOf(transports, (id) => `${HOST}:${portById.get(id)}`)
      for (const transport of transports) transport.setPeers(peers)
    },
    async teardown() {
      await Promise.all(made.map((transport) => transport.stop()))
    },
  }
})

// TCP only ------------------------------------------------------------------------------------

interface Tcp {
  readonly transport: TransportTcp
  readonly logs: string[]
  readonly address: string
}

/** A started TransportTcp on 127.0.0.1, stopped when the test ends. */
async function tcp(t: Test, id: string, overrides: Partial<TransportTcpConfig> = {}): Promise<Tcp> {
  const logs: string[] = []
  const transport = new TransportTcp({
    localId: id,
    clusterName: 'test',
    listen: { host: HOST, port: 0 },
    random: new RandomXoshiro(id.length),
    log: (line) => logs.push(line),
    ...overrides,
  })
  t.teardown(() => transport.stop())
  await transport.start()
  return { transport, logs, address: `${HOST}:${transport.address().port}` }
}

/** A port on 127.0.0.1 that nothing listens on (just released by the kernel). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (typeof address !== 'object' || address === null) throw new Error('no address')
  return address.port
}

async function rawConnect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port })
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  return socket
}

function lengthPrefixed(payload: Uint8Array): Buffer {
  const header = Buffer.alloc(4)
  header.writeUInt32BE(payload.byteLength)
  return Buffer.concat([header, payload])
}

t.test('tcp: a full queue for an unreachable peer refuses sends', async (t) => {
  const ghost = `${HOST}:${await freePort()}`
  const { transport: a, logs } = await tcp(t, 'a', { queueFramesMax: 5, frameBytesMax: 1024, queueBytesMax: 4096 })
  a.setPeers(new Map([['ghost', ghost]]))
  for (let i = 0; i < 5; i++) t.ok(a.send('ghost', seqFrame(i, 100)), `frame ${i} queued`)
  t.notOk(a.send('ghost', seqFrame(5, 100)), 'the sixth frame is over queueFramesMax')
  t.same(a.stats(), { sentFrames: 0, droppedFrames: 1, receivedFrames: 0, queuedBytes: 500 })

  const { transport: b } = await tcp(t, 'b', { queueFramesMax: 100, frameBytesMax: 400, queueBytesMax: 1000 })
  b.setPeers(new Map([['ghost', ghost]]))
  t.ok(b.send('ghost', new Uint8Array(400)))
  t.ok(b.send('ghost', new Uint8Array(400)))
  t.notOk(b.send('ghost', new Uint8Array(400)), 'over queueBytesMax')
  t.ok(b.send('ghost', new Uint8Array(200)), 'a smaller frame still fits')
  t.equal(b.stats().queuedBytes, 1000)
  await waitFor('a logged the failing peer', () => logs.some((line) => line.includes('ghost')))
  t.match(logs[0], /connection to ghost .* failed/)
})

t.test('tcp: frames queued while a peer is down are sent once it comes up', async (t) => {
  const port = await freePort()
  const { transport: a, logs } = await tcp(t, 'a')
  a.setPeers(new Map([['b', `${HOST}:${port}`]]))
  for (let seq = 0; seq < 3; seq++) t.ok(a.send('b', seqFrame(seq)))
  // Let a fail to connect at least once, so the frames sit in the queue through a backoff.
  await waitFor('a failed to connect', () => logs.some((line) => /connection to b .* failed/.test(line)))
  t.equal(a.stats().sentFrames, 0)
  t.equal(a.stats().queuedBytes, 3 * 16)
  const { transport: b } = await tcp(t, 'b', { listen: { host: HOST, port } })
  const atB = record(b)
  await waitFor('the queued frames at b', () => atB.length === 3)
  t.same(
    atB.map((r) => seqOf(r.frame)),
    [0, 1, 2],
  )
})

t.test('tcp: a peer from another cluster is refused on both sides', async (t) => {
  const a = await tcp(t, 'a', { clusterName: 'red' })
  const b = await tcp(t, 'b', { clusterName: 'blue' })
  const atB = record(b.transport)
  a.transport.setPeers(new Map([['b', b.address]]))
  t.ok(a.transport.send('b', text.encode('hello?')), 'queued: the refusal comes later')
  await waitFor('b logged the refusal', () => b.logs.some((line) => line.includes('refused')))
  await waitFor('a logged the refusal', () => a.logs.some((line) => line.includes("cluster 'blue'")))
  t.match(b.logs.join('\n'), /refused connection from 'a'.*cluster 'red'/)
  t.equal(atB.length, 0, 'nothing delivered')
  t.equal(a.transport.stats().sentFrames, 0, 'nothing written past the handshake')
})

t.test('tcp: an address answering with another id is not used', async (t) => {
  const a = await tcp(t, 'a')
  const b = await tcp(t, 'b')
  const atB = record(b.transport)
  a.transport.setPeers(new Map([['c', b.address]]))
  t.ok(a.transport.send('c', text.encode('for c')))
  await waitFor('a logged the wrong id', () => a.logs.some((line) => line.includes("answered as 'b'")))
  t.equal(atB.length, 0)
})

t.test('tcp: oversize frames are dropped by the sender and refused by the receiver', async (t) => {
  const a = await tcp(t, 'a', { frameBytesMax: 1024 })
  const b = await tcp(t, 'b', { frameBytesMax: 512 })
  const atB = record(b.transport)
  a.transport.setPeers(new Map([['b', b.address]]))
  t.notOk(a.transport.send('b', new Uint8Array(1025)), 'over the sender limit')
  t.equal(a.transport.stats().droppedFrames, 1)
  t.match(a.logs.join('\n'), /1025 bytes/)
  // Within a's limit but over b's: b closes the connection on the length prefix.
  t.ok(a.transport.send('b', new Uint8Array(1000)))
  await waitFor('b closed the connection', () => b.logs.some((line) => line.includes('exceeds the limit')))
  // a reconnects; frames within both limits get through again.
  let seq = 0
  await waitFor('a small frame after the reconnect', () => {
    a.transport.send('b', seqFrame(seq++, 512))
    return atB.length > 0
  })
  t.ok(atB.every((r) => r.frame.byteLength === 512))
})

t.test('tcp: garbage on the listening port closes only that connection', async (t) => {
  const a = await tcp(t, 'a', { handshakeTimeoutMs: 200 })
  const b = await tcp(t, 'b')
  const atA = record(a.transport)
  const port = a.transport.address().port

  const http = await rawConnect(port)
  http.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  await waitFor('the HTTP connection closed', () => http.closed)

  const badMagic = await rawConnect(port)
  badMagic.write(lengthPrefixed(text.encode('not a hello at all')))
  await waitFor('the bad-hello connection closed', () => badMagic.closed)

  const badJson = await rawConnect(port)
  badJson.write(lengthPrefixed(text.encode('flotilla-transport/1 hello {"cluster":')))
  await waitFor('the truncated-hello connection closed', () => badJson.closed)

  const silent = await rawConnect(port)
  await waitFor('the silent connection closed by the handshake timeout', () => silent.closed)

  t.match(a.logs.join('\n'), /exceeds the limit/)
  t.match(a.logs.join('\n'), /not a Flotilla transport hello/)
  t.match(a.logs.join('\n'), /no hello within 200 ms/)

  b.transport.setPeers(new Map([['a', a.address]]))
  t.ok(b.transport.send('a', text.encode('still works')))
  await waitFor('a real peer still gets through', () => atA.length === 1)
  t.equal(atA[0]?.from, 'b')
})

t.test('tcp: a burst far beyond socket buffers arrives complete (drain handling)', async (t) => {
  const a = await tcp(t, 'a')
  const b = await tcp(t, 'b')
  const atB = record(b.transport)
  a.transport.setPeers(new Map([['b', b.address]]))
  const count = 48
  let accepted = 0
  for (let seq = 0; seq < count; seq++) if (a.transport.send('b', seqFrame(seq, 1024 * 1024))) accepted++
  t.equal(accepted, count, 'every 1 MiB frame queued')
  t.ok(a.transport.stats().queuedBytes > 0)
  await waitFor('48 MiB at b', () => atB.length === count)
  t.same(
    atB.map((r) => seqOf(r.frame)),
    Array.from({ length: count }, (_, i) => i),
  )
  t.equal(a.transport.stats().queuedBytes, 0)
})

t.test('tcp: a peer that moves to a new address is redialed there', async (t) => {
  const a = await tcp(t, 'a')
  const b1 = await tcp(t, 'b')
  const atB1 = record(b1.transport)
  a.transport.setPeers(new Map([['b', b1.address]]))
  t.ok(a.transport.send('b', seqFrame(0)))
  await waitFor('frame at the old address', () => atB1.length === 1)
  await b1.transport.stop()
  const b2 = await tcp(t, 'b')
  const atB2 = record(b2.transport)
  a.transport.setPeers(new Map([['b', b2.address]]))
  let seq = 1
  await waitFor('frames at the new address', () => {
    a.transport.send('b', seqFrame(seq++))
    return atB2.length > 0
  })
  t.equal(atB1.length, 1)
})

t.test('tcp: rejects bad configuration and addresses', async (t) => {
  const base = { localId: 'a', clusterName: 'c', listen: { host: HOST, port: 0 }, random: new RandomXoshiro(0) }
  t.throws(() => new TransportTcp({ ...base, frameBytesMax: 2048, queueBytesMax: 1024 }), InvalidConfigError)
  t.throws(() => new TransportTcp({ ...base, reconnectDelayMsMin: 500, reconnectDelayMsMax: 100 }), InvalidConfigError)
  t.throws(() => new TransportTcp({ ...base, localId: '' }), InvalidConfigError)
  const transport = new TransportTcp(base)
  t.throws(() => transport.setPeers(new Map([['b', 'localhost']])), InvalidConfigError)
  t.throws(() => transport.setPeers(new Map([['b', '127.0.0.1:99999']])), InvalidConfigError)
  t.doesNotThrow(() => transport.setPeers(new Map([['b', '[::1]:7000']])))
  await transport.stop()
})

t.test('tcp: the process exits on its own after stop()', async (t) => {
  const moduleUrl = pathToFileURL(new URL('../../network/src/tcp/transport-tcp.ts', import.meta.url).pathname).href
  const randomUrl = pathToFileURL(new URL('../../lib/random.ts', import.meta.url).pathname).href
  // A peer that is down keeps a reconnect timer armed, here for 60 s; stop() must cancel it, or
  // the child outlives the deadline below.
  const script = `
    import { TransportTcp } from ${JSON.stringify(moduleUrl)}
    import { RandomXoshiro } from ${JSON.stringify(randomUrl)}
    const logs = []
    const make = (id) => new TransportTcp({
      localId: id, clusterName: 'x', listen: { host: '127.0.0.1', port: 0 }, random: new RandomXoshiro(1),
      reconnectDelayMsMin: 60000, reconnectDelayMsMax: 60000, log: (line) => logs.push(line),
    })
    const a = make('a'), b = make('b')
    await a.start(); await b.start()
    let got = false
    b.onFrame(() => { got = true })
    a.setPeers(new Map([['b', '127.0.0.1:' + b.address().port], ['down', '127.0.0.1:${await freePort()}']]))
    a.send('b', new Uint8Array([1])); a.send('down', new Uint8Array([2]))
    while (!got || !logs.some((line) => line.includes('down'))) await new Promise((r) => setTimeout(r, 2))
    await Promise.all([a.stop(), b.stop()])
    console.log('stopped')
  `
  const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  let exitCode: number | null | undefined
  child.on('exit', (code) => (exitCode = code))
  t.teardown(() => {
    if (exitCode === undefined) child.kill()
  })
  await waitFor('the child to exit by itself', () => exitCode !== undefined)
  t.equal(exitCode, 0, output)
  t.match(output, /stopped/)
})
