/**
 * The cluster DNS server over real UDP and TCP on 127.0.0.1: cluster answers, NXDOMAIN,
 * truncation and the TCP retry, forwarding to a fake upstream resolver (also on 127.0.0.1),
 * upstream failure → SERVFAIL, the cache and its TTL ageing, malformed packets, and busybox
 * nslookup as an independent client when the host has it.
 */
import { execFile, spawnSync } from 'node:child_process'
import * as dgram from 'node:dgram'
import * as net from 'node:net'
import t, { type Test } from 'tap'
import { TimersOs, type Timer, type Timers } from '../../lib/timers.ts'
import { ClusterRecords } from '../../network/src/dns/cluster-records.ts'
import { DnsServer, upstreamsFromResolvConf, type Upstream } from '../../network/src/dns/dns-server.ts'
import { CLASS_IN, encodeMessage, parseMessage, RCODE, RR_TYPE, type DnsMessage, type ResourceRecord } from '../../network/src/dns/wire.ts'

const HOST = '127.0.0.1'
const REPLY_TIMEOUT_MS = 5_000

/** Real timers whose clock the test can move forward (for cache expiry without waiting). */
class SkippableTimers implements Timers {
  skippedMs = 0
  private readonly os = new TimersOs()
  monotonicMs(): number {
    return this.os.monotonicMs() + this.skippedMs
  }
  realtimeMs(): number {
    return this.os.realtimeMs() + this.skippedMs
  }
  after(delayMs: number, callback: () => void): Timer {
    return this.os.after(delayMs, callback)
  }
}

function clusterRecords(endpointCount = 2): ClusterRecords {
  return new ClusterRecords({
    services: [
      { metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
      { metadata: { namespace: 'default', name: 'big' }, spec: { clusterIP: 'None' } },
      { metadata: { namespace: 'default', name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.org' } },
    ],
    endpointSlices: [
      {
        metadata: { namespace: 'default', name: 'big-1', labels: { 'kubernetes.io/service-name': 'big' } },
        endpoints: Array.from({ length: endpointCount }, (_, index) => ({ addresses: [`10.244.${Math.floor(index / 250)}.${(index % 250) + 1}`], conditions: { ready: true } })),
      },
    ],
    pods: [],
  })
}

function query(name: string, type: number, options: { id?: number; edns?: number } = {}): DnsMessage {
  return {
    header: { id: options.id ?? 4242, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name, type, class: CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
    ...(options.edns === undefined ? {} : { edns: { udpPayloadBytes: options.edns, version: 0, dnssecOk: false } }),
  }
}

/** Sends raw bytes over UDP; resolves with the reply bytes, or undefined after `timeoutMs`. */
function sendUdp(port: number, bytes: Uint8Array, timeoutMs = REPLY_TIMEOUT_MS): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4')
    const timer = setTimeout(() => finish(undefined), timeoutMs)
    const finish = (reply: Uint8Array | undefined): void => {
      clearTimeout(timer)
      socket.close()
      resolve(reply)
    }
    socket.on('message', (message) => finish(new Uint8Array(message)))
    socket.send(bytes, port, HOST)
  })
}

async function askUdp(port: number, message: DnsMessage): Promise<DnsMessage> {
  const reply = await sendUdp(port, encodeMessage(message))
  if (reply === undefined) throw new Error(`no UDP reply for ${message.questions[0]?.name}`)
  return parseMessage(reply).message
}

async function askTcp(port: number, message: DnsMessage): Promise<DnsMessage> {
  const bytes = encodeMessage(message)
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port })
    let buffered = Buffer.alloc(0)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error('no TCP reply'))
    }, REPLY_TIMEOUT_MS)
    socket.on('error', reject)
    socket.on('connect', () => {
      const prefix = Buffer.alloc(2)
      prefix.writeUInt16BE(bytes.length)
      // Two writes: the server must reassemble frames split across segments.
      socket.write(Buffer.concat([prefix, bytes.subarray(0, 5)]))
      setImmediate(() => socket.write(bytes.subarray(5)))
    })
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        clearTimeout(timer)
        socket.destroy()
        resolve(parseMessage(new Uint8Array(buffered.subarray(2, 2 + buffered.readUInt16BE(0)))).message)
      }
    })
  })
}

type UpstreamBehaviour = (question: DnsMessage, transport: 'udp' | 'tcp') => Omit<DnsMessage, 'header' | 'questions'> & { rcode?: number; tc?: boolean } | 'silent'

/** A resolver on 127.0.0.1 (UDP and TCP on one port) that answers as the test scripts it. */
class FakeUpstream {
  readonly queries: Array<{ name: string; transport: 'udp' | 'tcp' }> = []
  behaviour: UpstreamBehaviour
  private udp = dgram.createSocket('udp4')
  private tcp = net.createServer((socket) => this.serveTcp(socket))
  private readonly sockets = new Set<net.Socket>()

  constructor(behaviour: UpstreamBehaviour) {
    this.behaviour = behaviour
  }

  async start(): Promise<Upstream> {
    await new Promise<void>((resolve) => this.udp.bind(0, HOST, resolve))
    const port = this.udp.address().port
    await new Promise<void>((resolve) => this.tcp.listen(port, HOST, resolve))
    this.udp.on('message', (bytes, remote) => {
      const reply = this.reply(new Uint8Array(bytes), 'udp')
      if (reply !== undefined) this.udp.send(reply, remote.port, remote.address)
    })
    return { host: HOST, port }
  }

  private reply(bytes: Uint8Array, transport: 'udp' | 'tcp'): Uint8Array | undefined {
    const asked = parseMessage(bytes).message
    this.queries.push({ name: asked.questions[0]?.name ?? '', transport })
    const outcome = this.behaviour(asked, transport)
    if (outcome === 'silent') return undefined
    const header = { ...asked.header, qr: true, ra: true, rcode: outcome.rcode ?? RCODE.NOERROR, tc: outcome.tc ?? false }
    return encodeMessage({ header, questions: asked.questions, answers: outcome.answers, authorities: outcome.authorities, additionals: outcome.additionals })
  }

  private serveTcp(socket: net.Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    let buffered = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return
      const reply = this.reply(new Uint8Array(buffered.subarray(2, 2 + buffered.readUInt16BE(0))), 'tcp')
      buffered = Buffer.alloc(0)
      if (reply === undefined) return
      const prefix = Buffer.alloc(2)
      prefix.writeUInt16BE(reply.length)
      socket.write(Buffer.concat([prefix, reply]))
    })
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.udp.close(() => resolve()))
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()))
  }
}

function a(name: string, address: string, ttlSeconds: number): ResourceRecord {
  return { name, class: CLASS_IN, ttlSeconds, data: { kind: 'A', address } }
}

/** An upstream that knows example.org (TTL 300) and nothing else (NXDOMAIN with an SOA, TTL 60). */
function exampleOrg(asked: DnsMessage): ReturnType<UpstreamBehaviour> {
  const name = asked.questions[0]?.name ?? ''
  if (name.toLowerCase() === 'example.org') return { answers: [a(name, '93.184.216.34', 300)], authorities: [], additionals: [] }
  const soa: ResourceRecord = {
    name: 'org',
    class: CLASS_IN,
    ttlSeconds: 900,
    data: { kind: 'SOA', primary: 'a0.org', mailbox: 'hostmaster.org', serial: 1, refreshSeconds: 1, retrySeconds: 1, expireSeconds: 1, minimumSeconds: 60 },
  }
  return { rcode: RCODE.NXDOMAIN, answers: [], authorities: [soa], additionals: [] }
}

async function startServer(t: Test, options: { upstreams?: Upstream[]; timers?: Timers; upstreamTimeoutMs?: number; records?: ClusterRecords; cacheEntriesMax?: number } = {}): Promise<{ server: DnsServer; port: number }> {
  const server = new DnsServer({ host: HOST, port: 0, records: options.records ?? clusterRecords(), upstreams: options.upstreams ?? [], upstreamTimeoutMs: options.upstreamTimeoutMs ?? 2_000, ...(options.timers ? { timers: options.timers } : {}), ...(options.cacheEntriesMax ? { cacheEntriesMax: options.cacheEntriesMax } : {}) })
  const { port } = await server.start()
  t.teardown(() => server.stop())
  return { server, port }
}

async function startUpstream(t: Test, behaviour: UpstreamBehaviour): Promise<{ upstream: FakeUpstream; address: Upstream }> {
  const upstream = new FakeUpstream(behaviour)
  const address = await upstream.start()
  t.teardown(() => upstream.stop())
  return { upstream, address }
}

t.test('cluster names over UDP and TCP: A, SRV with additional addresses, NXDOMAIN with SOA', async (t) => {
  const { server, port } = await startServer(t)
  const web = await askUdp(port, query('web.default.svc.cluster.local', RR_TYPE.A, { id: 777 }))
  t.equal(web.header.id, 777)
  t.equal(web.header.qr, true)
  t.equal(web.header.aa, true, 'authoritative for the cluster zone')
  t.equal(web.header.rd, true, 'RD echoed')
  t.equal(web.header.rcode, RCODE.NOERROR)
  t.same(web.answers, [a('web.default.svc.cluster.local', '10.96.0.10', 5)])

  const srv = await askTcp(port, query('_http._tcp.web.default.svc.cluster.local', RR_TYPE.SRV))
  t.same(srv.answers.map((record) => record.data), [{ kind: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }])
  t.same(srv.additionals, [a('web.default.svc.cluster.local', '10.96.0.10', 5)])

  const missing = await askUdp(port, query('nope.default.svc.cluster.local', RR_TYPE.A))
  t.equal(missing.header.rcode, RCODE.NXDOMAIN)
  t.equal(missing.authorities[0]?.data.kind, 'SOA')
  t.equal(server.metrics().forwarded, 0, 'cluster names are never forwarded')
  t.equal(server.metrics().clusterNxdomain, 1)
  t.equal(server.metrics().queriesUdp, 2)
  t.equal(server.metrics().queriesTcp, 1)
})

t.test('new records take effect at once; EDNS queries get an OPT back', async (t) => {
  const { server, port } = await startServer(t)
  server.setRecords(new ClusterRecords({ services: [{ metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.96.0.77' } }], endpointSlices: [], pods: [] }))
  const reply = await askUdp(port, query('web.default.svc.cluster.local', RR_TYPE.A, { edns: 4096 }))
  t.same(reply.answers.map((record) => record.data), [{ kind: 'A', address: '10.96.0.77' }])
  t.equal(reply.edns?.udpPayloadBytes, 1232, 'the server announces its own limit')
})

t.test('a cluster answer over 512 bytes is truncated over UDP and complete over TCP and with EDNS', async (t) => {
  const { server, port } = await startServer(t, { records: clusterRecords(60) })
  const name = 'big.default.svc.cluster.local'
  const udp = await askUdp(port, query(name, RR_TYPE.A))
  t.equal(udp.header.tc, true)
  t.same(udp.answers, [])
  const tcp = await askTcp(port, query(name, RR_TYPE.A))
  t.equal(tcp.header.tc, false)
  t.equal(tcp.answers.length, 60)
  const edns = await askUdp(port, query(name, RR_TYPE.A, { edns: 1232 }))
  t.equal(edns.header.tc, false)
  t.equal(edns.answers.length, 60, '60 records fit in 1232 bytes')
  t.equal(server.metrics().truncated, 1)
})

t.test('other names are forwarded and cached by TTL; the cache ages TTLs and expires', async (t) => {
  const timers = new SkippableTimers()
  const { upstream, address } = await startUpstream(t, exampleOrg)
  const { server, port } = await startServer(t, { upstreams: [address], timers })
  const first = await askUdp(port, query('example.org', RR_TYPE.A, { id: 1 }))
  t.equal(first.header.id, 1)
  t.equal(first.header.rcode, RCODE.NOERROR)
  t.same(first.answers, [a('example.org', '93.184.216.34', 300)])
  t.equal(upstream.queries.length, 1)

  timers.skippedMs = 100_000
  const second = await askUdp(port, query('EXAMPLE.org', RR_TYPE.A, { id: 2 }))
  t.equal(second.header.id, 2, 'a cache hit carries the new ID')
  t.equal(second.questions[0]?.name, 'EXAMPLE.org', 'and echoes the question as asked (0x20)')
  t.equal(second.answers[0]?.ttlSeconds, 200, 'and TTLs aged by the 100 s spent in the cache')
  t.equal(upstream.queries.length, 1, 'the upstream was not asked again')
  t.equal(server.metrics().cacheHits, 1)

  timers.skippedMs = 301_000
  await askUdp(port, query('example.org', RR_TYPE.A))
  t.equal(upstream.queries.length, 2, 'expired after the TTL')

  const negative = await askTcp(port, query('missing.example.org', RR_TYPE.A))
  t.equal(negative.header.rcode, RCODE.NXDOMAIN, 'forwarded over TCP too')
  await askUdp(port, query('missing.example.org', RR_TYPE.A))
  t.equal(upstream.queries.length, 3, 'NXDOMAIN cached by its SOA')
  timers.skippedMs += 61_000
  await askUdp(port, query('missing.example.org', RR_TYPE.A))
  t.equal(upstream.queries.length, 4, 'for the SOA minimum (60 s), not the SOA TTL')
  t.same(
    upstream.queries.map((entry) => entry.transport),
    ['udp', 'udp', 'udp', 'udp'],
    'the server always asks its upstream over UDP first',
  )
})

t.test('the cache is bounded', async (t) => {
  const { upstream, address } = await startUpstream(t, (asked) => ({ answers: [a(asked.questions[0]?.name ?? '', '192.0.2.1', 300)], authorities: [], additionals: [] }))
  const { port } = await startServer(t, { upstreams: [address], cacheEntriesMax: 2 })
  for (const name of ['one.test', 'two.test', 'three.test']) await askUdp(port, query(name, RR_TYPE.A))
  await askUdp(port, query('three.test', RR_TYPE.A))
  t.equal(upstream.queries.length, 3, 'the newest entry is cached')
  await askUdp(port, query('one.test', RR_TYPE.A))
  t.equal(upstream.queries.length, 4, 'the oldest was evicted')
})

t.test('a silent upstream gives SERVFAIL after the timeout; the next upstream is tried first', async (t) => {
  const { upstream: silent, address: silentAddress } = await startUpstream(t, () => 'silent')
  const { server, port } = await startServer(t, { upstreams: [silentAddress], upstreamTimeoutMs: 200 })
  const startedMs = performance.now()
  const reply = await askUdp(port, query('example.org', RR_TYPE.A, { id: 9 }))
  t.equal(reply.header.rcode, RCODE.SERVFAIL)
  t.equal(reply.header.id, 9)
  t.ok(performance.now() - startedMs >= 190, 'after the upstream timeout')
  t.equal(silent.queries.length, 1)
  t.equal(server.metrics().upstreamFailures, 1)
  t.equal(server.metrics().servfail, 1)
  await askUdp(port, query('example.org', RR_TYPE.A))
  t.equal(silent.queries.length, 2, 'failures are not cached')

  const { address: good } = await startUpstream(t, exampleOrg)
  const { port: fallbackPort } = await startServer(t, { upstreams: [silentAddress, good], upstreamTimeoutMs: 200 })
  const fallback = await askUdp(fallbackPort, query('example.org', RR_TYPE.A))
  t.same(fallback.answers, [a('example.org', '93.184.216.34', 300)])
})

t.test('an unreachable upstream (closed port) gives SERVFAIL', async (t) => {
  const closed = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => closed.bind(0, HOST, resolve))
  const deadPort = closed.address().port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const { port } = await startServer(t, { upstreams: [{ host: HOST, port: deadPort }], upstreamTimeoutMs: 300 })
  t.equal((await askUdp(port, query('example.org', RR_TYPE.A))).header.rcode, RCODE.SERVFAIL)
})

t.test('a truncated upstream answer is asked again over TCP', async (t) => {
  const { upstream, address } = await startUpstream(t, (asked, transport) =>
    transport === 'udp' ? { tc: true, answers: [], authorities: [], additionals: [] } : { answers: [a(asked.questions[0]?.name ?? '', '192.0.2.7', 60)], authorities: [], additionals: [] },
  )
  const { port } = await startServer(t, { upstreams: [address] })
  const reply = await askUdp(port, query('large.example', RR_TYPE.A))
  t.equal(reply.header.tc, false)
  t.same(reply.answers, [a('large.example', '192.0.2.7', 60)])
  t.same(upstream.queries.map((entry) => entry.transport), ['udp', 'tcp'])
})

t.test('an ExternalName CNAME out of the zone is chased upstream', async (t) => {
  const { address } = await startUpstream(t, exampleOrg)
  const { port } = await startServer(t, { upstreams: [address] })
  const reply = await askUdp(port, query('ext.default.svc.cluster.local', RR_TYPE.A))
  t.same(reply.answers.map((record) => [record.name, record.data]), [
    ['ext.default.svc.cluster.local', { kind: 'CNAME', target: 'example.org' }],
    ['example.org', { kind: 'A', address: '93.184.216.34' }],
  ])
})

t.test('malformed packets: FORMERR when the header is readable, silence otherwise, and the server lives on', async (t) => {
  const { server, port } = await startServer(t)
  t.equal(await sendUdp(port, Uint8Array.from([1, 2, 3]), 300), undefined, 'a runt gets no answer')
  const formerr = await sendUdp(port, Uint8Array.from([0x55, 0x66, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 0x61]))
  t.ok(formerr)
  const parsed = parseMessage(formerr as Uint8Array).message
  t.equal(parsed.header.id, 0x5566)
  t.equal(parsed.header.rcode, RCODE.FORMERR)
  const response = encodeMessage({ ...query('web.default.svc.cluster.local', RR_TYPE.A), header: { ...query('x', 1).header, qr: true } })
  t.equal(await sendUdp(port, response, 300), undefined, 'a response sent to the server is dropped')
  const twoQuestions = encodeMessage({ ...query('a.test', RR_TYPE.A), questions: [{ name: 'a.test', type: 1, class: 1 }, { name: 'b.test', type: 1, class: 1 }] })
  t.equal(parseMessage((await sendUdp(port, twoQuestions)) as Uint8Array).message.header.rcode, RCODE.FORMERR)
  const notify = encodeMessage({ ...query('a.test', RR_TYPE.A), header: { ...query('x', 1).header, opcode: 4 } })
  t.equal(parseMessage((await sendUdp(port, notify)) as Uint8Array).message.header.rcode, RCODE.NOTIMP)
  const garbageTcp = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: HOST, port }, () => socket.write(Buffer.from([0, 3, 1, 2, 3])))
    socket.on('close', () => resolve(true))
    socket.on('data', () => socket.destroy())
    setTimeout(() => {
      socket.destroy()
      resolve(true)
    }, 300)
  })
  t.ok(garbageTcp)
  const alive = await askUdp(port, query('web.default.svc.cluster.local', RR_TYPE.A))
  t.equal(alive.answers.length, 1, 'still answering')
  t.equal(server.metrics().formerr, 2)
})

t.test('upstreams come from resolv.conf text; the server never forwards to itself', async (t) => {
  t.same(upstreamsFromResolvConf('nameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\n'), [
    { host: '10.0.0.2', port: 53 },
    { host: 'fe80::1%eth0', port: 53 },
  ])
  const probe = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => probe.bind(0, HOST, resolve))
  const freePort = probe.address().port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  const server = new DnsServer({ host: HOST, port: freePort, records: clusterRecords(), upstreams: [{ host: HOST, port: freePort }], upstreamTimeoutMs: 3_000 })
  await server.start()
  t.teardown(() => server.stop())
  const startedMs = performance.now()
  const reply = await askUdp(freePort, query('example.org', RR_TYPE.A))
  t.equal(reply.header.rcode, RCODE.SERVFAIL, 'its own address was dropped from the upstreams, leaving none')
  t.ok(performance.now() - startedMs < 2_500, 'at once, not after a timeout')
  t.equal(server.metrics().upstreamFailures, 0)
  await t.rejects(new DnsServer({ host: HOST, port: freePort, records: clusterRecords(), upstreams: [] }).start(), 'a second server cannot take the port')
})

/** Why the busybox case cannot run here, or false when it can. */
function busyboxNslookupMissing(): string | false {
  const probe = spawnSync('busybox', ['nslookup'], { encoding: 'utf8' })
  return probe.error === undefined && `${probe.stdout}${probe.stderr}`.includes('nslookup') ? false : 'busybox nslookup is not available on this host'
}

t.test('busybox nslookup resolves a service through the server', { skip: busyboxNslookupMissing() }, async (t) => {
  const { port } = await startServer(t)
  // busybox 1.35 parses the server argument with its host:port helper. The child runs
  // asynchronously: the server it queries lives in this process's event loop.
  const nslookup = (...args: string[]): Promise<{ code: number | null; output: string }> =>
    new Promise((resolve) => {
      execFile('busybox', ['nslookup', ...args, `${HOST}:${port}`], { encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, output: `${stdout}${stderr}` })
      })
    })
  const a = await nslookup('web.default.svc.cluster.local')
  t.match(a.output, /Address:\s*10\.96\.0\.10/, a.output)
  t.equal(a.code, 0, a.output)
  const srv = await nslookup('-type=srv', '_http._tcp.web.default.svc.cluster.local')
  t.match(srv.output, /service = 0 100 80 web\.default\.svc\.cluster\.local/, srv.output)
  const missing = await nslookup('nope.default.svc.cluster.local')
  t.match(missing.output, /NXDOMAIN/, missing.output)
})
