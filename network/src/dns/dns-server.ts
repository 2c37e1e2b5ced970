/**
 * The cluster DNS server every node runs: UDP and TCP on one address and port, answering names in
 * the cluster domain from ClusterRecords (authoritatively: a missing cluster name is NXDOMAIN,
 * never forwarded) and forwarding every other name to the host's resolvers.
 *
 * Forwarding: the client's query goes out over UDP with a fresh random ID from a fresh socket
 * (port randomisation against spoofing), to each upstream in turn with `upstreamTimeoutMs` each;
 * a truncated answer is asked again over TCP; an answer counts only when it comes from the
 * upstream's address and port with the ID and question we sent. When no upstream answers, the
 * client gets SERVFAIL. Answers are cached by their smallest TTL (negative answers by their SOA's,
 * RFC 2308), at most `cacheEntriesMax` entries, the least recently used dropped first; a cache hit
 * is the stored bytes with the client's ID and TTLs aged by the time spent in the cache.
 *
 * Robustness: malformed queries get FORMERR when their header is readable and are dropped
 * otherwise; responses sent to us are dropped (no reflection loops); opcodes other than QUERY get
 * NOTIMP; an unexpected failure while answering gets SERVFAIL. Nothing a client sends can make the
 * server throw. Concurrency is bounded: at most `inflightMax` queries at once (UDP beyond it is
 * dropped, as a loaded server does), `tcpConnectionsMax` TCP connections, each closed after
 * `tcpIdleTimeoutMs` without a query.
 *
 * Not done: DNSSEC, EDNS versions above 0 (BADVERS), EDNS options, PTR records for cluster IPs,
 * zone transfers.
 */
import * as dgram from 'node:dgram'
import * as net from 'node:net'
import { randomInt } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { InvalidConfigError } from '../../../lib/errors.ts'
import { TimersOs, type Timers } from '../../../lib/timers.ts'
import type { ClusterAnswer, ClusterRecords } from './cluster-records.ts'
import { parseResolvConf } from './resolv-conf.ts'
import {
  canonicalName,
  CLASS_IN,
  encodeMessage,
  errorResponseBytes,
  HEADER_BYTES,
  OPCODE_QUERY,
  parseMessage,
  RCODE,
  responseHeader,
  RR_TYPE,
  udpLimitBytes,
  type DnsMessage,
  type DnsQuestion,
  type ParsedMessage,
  type ResourceRecord,
} from './wire.ts'

/** A resolver to forward to. */
export interface Upstream {
  readonly host: string
  readonly port: number
}

export interface DnsServerOptions {
  /** The address to listen on: the node's address in production (pods must reach it). */
  readonly host: string
  /** 53 in production; 0 picks a free port (the same one for UDP and TCP). */
  readonly port: number
  readonly records: ClusterRecords
  /** Default: the nameservers of /etc/resolv.conf, port 53. */
  readonly upstreams?: readonly Upstream[]
  /** How long to wait for each upstream. */
  readonly upstreamTimeoutMs?: number
  readonly cacheEntriesMax?: number
  /** Upper bound on how long any upstream answer is cached. */
  readonly cacheTtlSecondsMax?: number
  /** The largest UDP answer this server sends to an EDNS client (1232: the DNS flag day 2020 value, no fragmentation). */
  readonly udpPayloadBytesMax?: number
  readonly inflightMax?: number
  readonly tcpConnectionsMax?: number
  readonly tcpIdleTimeoutMs?: number
  readonly timers?: Timers
}

/** Counters since start; read them with `metrics()`. */
export interface DnsServerMetrics {
  queriesUdp: number
  queriesTcp: number
  /** Answered from the cluster records (including NXDOMAIN for missing cluster names). */
  answeredCluster: number
  clusterNxdomain: number
  /** Queries sent upstream (cache misses). */
  forwarded: number
  cacheHits: number
  cacheMisses: number
  /** Upstream attempts that timed out or failed. */
  upstreamFailures: number
  servfail: number
  formerr: number
  /** UDP answers sent truncated (TC). */
  truncated: number
  /** UDP queries dropped because `inflightMax` queries were being answered. */
  droppedOverload: number
}

const UPSTREAM_TIMEOUT_MS_DEFAULT = 2_000
const CACHE_ENTRIES_MAX_DEFAULT = 10_000
const CACHE_TTL_SECONDS_MAX_DEFAULT = 3_600
const UDP_PAYLOAD_BYTES_MAX_DEFAULT = 1_232
const INFLIGHT_MAX_DEFAULT = 1_024
const TCP_CONNECTIONS_MAX_DEFAULT = 256
const TCP_IDLE_TIMEOUT_MS_DEFAULT = 10_000
/** A TCP client that buffers more than this without completing frames is cut off. */
const TCP_BUFFER_BYTES_MAX = 2 * (65_535 + 2)
/** Tries to find a port free for both UDP and TCP when asked for port 0. */
const BIND_ATTEMPTS_MAX = 8

/** The upstreams named by resolv.conf text (port 53). */
export function upstreamsFromResolvConf(content: string): Upstream[] {
  return parseResolvConf(content)
    .servers.filter((server) => net.isIP(server.split('%')[0] as string) !== 0)
    .map((host) => ({ host, port: 53 }))
}

interface CacheEntry {
  readonly bytes: Uint8Array
  readonly ttlOffsets: readonly number[]
  readonly storedAtMs: number
  readonly expiresAtMs: number
}

/** The smallest TTL in a response worth caching, or undefined when it must not be cached. */
function cacheTtlSeconds(message: DnsMessage): number | undefined {
  const { header } = message
  if (header.tc || (header.rcode !== RCODE.NOERROR && header.rcode !== RCODE.NXDOMAIN)) return undefined
  if (header.rcode === RCODE.NXDOMAIN || message.answers.length === 0) {
    // RFC 2308 §5: a negative answer lives as long as min(SOA TTL, SOA minimum); without an SOA, not at all.
    const soa = message.authorities.find((record) => record.data.kind === 'SOA')
    if (soa === undefined || soa.data.kind !== 'SOA') return undefined
    return Math.min(soa.ttlSeconds, soa.data.minimumSeconds)
  }
  const records = [...message.answers, ...message.authorities, ...message.additionals]
  return Math.min(...records.map((record) => record.ttlSeconds))
}

function sameQuestion(a: DnsQuestion, b: DnsQuestion): boolean {
  return canonicalName(a.name) === canonicalName(b.name) && a.type === b.type && a.class === b.class
}

function withId(bytes: Uint8Array, id: number): Uint8Array {
  const copy = Uint8Array.from(bytes)
  copy[0] = (id >> 8) & 0xff
  copy[1] = id & 0xff
  return copy
}

export class DnsServer {
  private readonly options: DnsServerOptions
  private readonly timers: Timers
  private records: ClusterRecords
  private upstreams: readonly Upstream[]
  private readonly cache = new Map<string, CacheEntry>()
  private readonly counters: DnsServerMetrics = {
    queriesUdp: 0,
    queriesTcp: 0,
    answeredCluster: 0,
    clusterNxdomain: 0,
    forwarded: 0,
    cacheHits: 0,
    cacheMisses: 0,
    upstreamFailures: 0,
    servfail: 0,
    formerr: 0,
    truncated: 0,
    droppedOverload: 0,
  }
  private udp: dgram.Socket | undefined
  private tcp: net.Server | undefined
  private readonly tcpSockets = new Set<net.Socket>()
  /** Sockets of forwards in flight, closed by stop(). */
  private readonly forwardSockets = new Set<dgram.Socket | net.Socket>()
  private inflight = 0
  private boundPort = 0
  private stopped = false

  constructor(options: DnsServerOptions) {
    this.options = options
    this.timers = options.timers ?? new TimersOs()
    this.records = options.records
    this.upstreams = options.upstreams ?? upstreamsFromResolvConf(readResolvConf())
    const positive = (value: number | undefined, what: string): void => {
      if (value !== undefined && !(Number.isInteger(value) && value > 0)) throw new InvalidConfigError(`${what} must be a positive integer, got ${value}`)
    }
    positive(options.upstreamTimeoutMs, 'upstreamTimeoutMs')
    positive(options.cacheEntriesMax, 'cacheEntriesMax')
    positive(options.inflightMax, 'inflightMax')
    positive(options.tcpConnectionsMax, 'tcpConnectionsMax')
    positive(options.tcpIdleTimeoutMs, 'tcpIdleTimeoutMs')
    if (options.udpPayloadBytesMax !== undefined && (options.udpPayloadBytesMax < 512 || options.udpPayloadBytesMax > 65_535)) {
      throw new InvalidConfigError(`udpPayloadBytesMax must be within [512, 65535], got ${options.udpPayloadBytesMax}`)
    }
    if (net.isIP(options.host) === 0) throw new InvalidConfigError(`DNS listen host must be an IP address, got ${JSON.stringify(options.host)}`)
  }

  /** Replaces the cluster records (build a new ClusterRecords whenever services, slices or pods change). */
  setRecords(records: ClusterRecords): void {
    this.records = records
  }

  /** A copy of the counters. */
  metrics(): DnsServerMetrics {
    return { ...this.counters }
  }

  /** The address both sockets listen on (after start). */
  address(): { host: string; port: number } {
    return { host: this.options.host, port: this.boundPort }
  }

  /** Binds UDP and TCP; with port 0, both on the same free port. */
  async start(): Promise<{ host: string; port: number }> {
    for (let attempt = 1; ; attempt++) {
      const udp = dgram.createSocket(net.isIP(this.options.host) === 6 ? 'udp6' : 'udp4')
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject)
          udp.bind(this.options.port, this.options.host, () => {
            udp.off('error', reject)
            resolve()
          })
        })
      } catch (error) {
        closeQuietly(udp)
        throw error
      }
      const port = udp.address().port
      const tcp = net.createServer((socket) => this.acceptTcp(socket))
      tcp.maxConnections = this.options.tcpConnectionsMax ?? TCP_CONNECTIONS_MAX_DEFAULT
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject)
          tcp.listen(port, this.options.host, () => {
            tcp.off('error', reject)
            resolve()
          })
        })
      } catch (error) {
        udp.close()
        if (this.options.port === 0 && attempt < BIND_ATTEMPTS_MAX && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') continue
        throw error
      }
      udp.on('error', () => {}) // Send errors to vanished clients are theirs, not ours.
      udp.on('message', (bytes, remote) => this.acceptUdp(bytes, remote))
      tcp.on('error', () => {})
      this.udp = udp
      this.tcp = tcp
      this.boundPort = port
      // Forwarding to ourselves would loop until every query timed out.
      this.upstreams = this.upstreams.filter((upstream) => !(upstream.port === port && upstream.host === this.options.host))
      return this.address()
    }
  }

  /** Closes every socket; pending forwards fail. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const socket of this.forwardSockets) closeQuietly(socket)
    this.forwardSockets.clear()
    for (const socket of this.tcpSockets) socket.destroy()
    const closing: Promise<void>[] = []
    if (this.udp !== undefined) {
      const udp = this.udp
      closing.push(new Promise((resolve) => udp.close(() => resolve())))
    }
    if (this.tcp !== undefined) {
      const tcp = this.tcp
      closing.push(new Promise((resolve) => tcp.close(() => resolve())))
    }
    this.udp = undefined
    this.tcp = undefined
    await Promise.all(closing)
  }

  private acceptUdp(bytes: Buffer, remote: dgram.RemoteInfo): void {
    this.counters.queriesUdp++
    if (this.inflight >= (this.options.inflightMax ?? INFLIGHT_MAX_DEFAULT)) {
      this.counters.droppedOverload++
      return
    }
    this.inflight++
    void this.answer(new Uint8Array(bytes), 'udp')
      .then((response) => {
        if (response !== undefined && this.udp !== undefined) this.udp.send(response, remote.port, remote.address)
      })
      .finally(() => this.inflight--)
  }

  private acceptTcp(socket: net.Socket): void {
    this.tcpSockets.add(socket)
    socket.setTimeout(this.options.tcpIdleTimeoutMs ?? TCP_IDLE_TIMEOUT_MS_DEFAULT, () => socket.destroy())
    socket.on('error', () => {})
    socket.on('close', () => this.tcpSockets.delete(socket))
    let buffered = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length > TCP_BUFFER_BYTES_MAX) {
        socket.destroy()
        return
      }
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0)
        if (buffered.length < 2 + length) break
        const frame = new Uint8Array(buffered.subarray(2, 2 + length))
        buffered = buffered.subarray(2 + length)
        this.counters.queriesTcp++
        if (this.inflight >= (this.options.inflightMax ?? INFLIGHT_MAX_DEFAULT)) {
          this.counters.droppedOverload++
          socket.destroy()
          return
        }
        this.inflight++
        void this.answer(frame, 'tcp')
          .then((response) => {
            if (response === undefined || socket.destroyed) return
            const prefix = Buffer.alloc(2)
            prefix.writeUInt16BE(response.length)
            socket.write(Buffer.concat([prefix, response]))
          })
          .finally(() => this.inflight--)
      }
    })
  }

  /**
   * The response bytes to one query (undefined: send nothing). Never rejects: any failure of our
   * own becomes SERVFAIL.
   */
  async answer(bytes: Uint8Array, transport: 'udp' | 'tcp'): Promise<Uint8Array | undefined> {
    let parsed: ParsedMessage
    try {
      parsed = parseMessage(bytes)
    } catch {
      const response = errorResponseBytes(bytes, RCODE.FORMERR)
      if (response !== undefined) this.counters.formerr++
      return response
    }
    const query = parsed.message
    if (query.header.qr) return undefined
    if (query.header.opcode !== OPCODE_QUERY) return errorResponseBytes(bytes, RCODE.NOTIMP)
    const question = query.questions[0]
    if (question === undefined || query.questions.length !== 1) {
      this.counters.formerr++
      return errorResponseBytes(bytes, RCODE.FORMERR)
    }
    try {
      const limitBytes = transport === 'udp' ? udpLimitBytes(query, this.udpPayloadBytesMax()) : 65_535
      const clusterAnswer = question.class === CLASS_IN ? this.records.lookup(question.name, question.type) : undefined
      if (clusterAnswer !== undefined) return await this.answerFromCluster(query, question, clusterAnswer, limitBytes)
      const forwarded = await this.forwardQuery(bytes, query, question)
      if (forwarded === undefined) return this.servfail(query)
      if (forwarded.length > limitBytes) {
        this.counters.truncated++
        return this.encode(query, { rcode: peekRcode(forwarded), tc: true, answers: [], authorities: [], additionals: [] })
      }
      return forwarded
    } catch {
      return this.servfail(query)
    }
  }

  private udpPayloadBytesMax(): number {
    return this.options.udpPayloadBytesMax ?? UDP_PAYLOAD_BYTES_MAX_DEFAULT
  }

  private servfail(query: DnsMessage): Uint8Array {
    this.counters.servfail++
    return this.encode(query, { rcode: RCODE.SERVFAIL, answers: [], authorities: [], additionals: [] })
  }

  private encode(
    query: DnsMessage,
    parts: { rcode: number; aa?: boolean; tc?: boolean; answers: readonly ResourceRecord[]; authorities: readonly ResourceRecord[]; additionals: readonly ResourceRecord[] },
    limitBytes?: number,
  ): Uint8Array {
    const edns = query.edns === undefined ? {} : { edns: { udpPayloadBytes: this.udpPayloadBytesMax(), version: 0, dnssecOk: false } }
    const header = responseHeader(query.header, { rcode: parts.rcode, aa: parts.aa ?? false, ra: true, tc: parts.tc ?? false })
    const response = encodeMessage({ header, questions: query.questions, answers: parts.answers, authorities: parts.authorities, additionals: parts.additionals, ...edns }, limitBytes)
    if (limitBytes !== undefined && (response[2] as number) & 0x02) this.counters.truncated++
    return response
  }

  private async answerFromCluster(query: DnsMessage, question: DnsQuestion, answer: ClusterAnswer, limitBytes: number): Promise<Uint8Array> {
    this.counters.answeredCluster++
    if (answer.rcode === RCODE.NXDOMAIN) this.counters.clusterNxdomain++
    let answers = answer.answers
    // An ExternalName service is a CNAME out of the zone: chase it, as stub resolvers do not.
    const last = answers[answers.length - 1]
    if (last !== undefined && last.data.kind === 'CNAME' && question.type !== RR_TYPE.CNAME && !this.records.isInZone(last.data.target)) {
      const chased = await this.resolveUpstream({ name: last.data.target, type: question.type, class: question.class })
      answers = [...answers, ...(chased ?? [])]
    }
    return this.encode(query, { rcode: answer.rcode, aa: true, answers, authorities: answer.authorities, additionals: answer.additionals }, limitBytes)
  }

  /** The answer records of a question asked upstream (cache included); undefined when none answered. */
  private async resolveUpstream(question: DnsQuestion): Promise<readonly ResourceRecord[] | undefined> {
    const query: DnsMessage = {
      header: { id: 0, qr: false, opcode: OPCODE_QUERY, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: RCODE.NOERROR },
      questions: [question],
      answers: [],
      authorities: [],
      additionals: [],
    }
    const response = await this.forwardQuery(encodeMessage(query), query, question)
    if (response === undefined) return undefined
    return parseMessage(response).message.answers
  }

  /** The upstream answer with the client's ID, from the cache or the upstreams; undefined when none answered. */
  private async forwardQuery(bytes: Uint8Array, query: DnsMessage, question: DnsQuestion): Promise<Uint8Array | undefined> {
    const key = `${canonicalName(question.name)}/${question.type}/${question.class}/${query.edns === undefined ? '-' : 'e'}`
    const nowMs = this.timers.monotonicMs()
    const cached = this.cache.get(key)
    if (cached !== undefined && cached.expiresAtMs > nowMs) {
      this.counters.cacheHits++
      this.cache.delete(key) // Re-inserted last: the map's order is least recently used first.
      this.cache.set(key, cached)
      return withQuestionNameOf(bytes, agedCopy(cached, query.header.id, Math.floor((nowMs - cached.storedAtMs) / 1000)))
    }
    if (cached !== undefined) this.cache.delete(key)
    this.counters.cacheMisses++
    this.counters.forwarded++
    let fallback: Uint8Array | undefined
    for (const upstream of this.upstreams) {
      if (this.stopped) return undefined
      const response = await this.exchange(upstream, bytes, question)
      if (response === undefined) continue
      const rcode = response.message.header.rcode
      // SERVFAIL or REFUSED from one resolver says little about the next: keep it only as a last resort.
      if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) {
        fallback ??= withId(response.bytes, query.header.id)
        continue
      }
      this.store(key, response, nowMs)
      return withId(response.bytes, query.header.id)
    }
    return fallback
  }

  private store(key: string, response: { bytes: Uint8Array; message: DnsMessage; ttlOffsets: readonly number[] }, nowMs: number): void {
    const ttlSeconds = cacheTtlSeconds(response.message)
    if (ttlSeconds === undefined || ttlSeconds <= 0) return
    const cappedSeconds = Math.min(ttlSeconds, this.options.cacheTtlSecondsMax ?? CACHE_TTL_SECONDS_MAX_DEFAULT)
    const entriesMax = this.options.cacheEntriesMax ?? CACHE_ENTRIES_MAX_DEFAULT
    while (this.cache.size >= entriesMax) {
      const oldest = this.cache.keys().next().value
      if (oldest === undefined) break
      this.cache.delete(oldest)
    }
    this.cache.set(key, { bytes: response.bytes, ttlOffsets: response.ttlOffsets, storedAtMs: nowMs, expiresAtMs: nowMs + cappedSeconds * 1000 })
  }

  /** One query to one upstream: UDP, then TCP when the UDP answer is truncated. */
  private async exchange(upstream: Upstream, bytes: Uint8Array, question: DnsQuestion): Promise<{ bytes: Uint8Array; message: DnsMessage; ttlOffsets: readonly number[] } | undefined> {
    const id = randomInt(0, 0x10000)
    const outgoing = withId(bytes, id)
    const accept = (response: Uint8Array | undefined): { bytes: Uint8Array; message: DnsMessage; ttlOffsets: readonly number[] } | undefined => {
      if (response === undefined) return undefined
      try {
        const parsed = parseMessage(response)
        const header = parsed.message.header
        const echoed = parsed.message.questions[0]
        if (!header.qr || header.id !== id || echoed === undefined || !sameQuestion(echoed, question)) return undefined
        return { bytes: response, ...parsed }
      } catch {
        return undefined
      }
    }
    let response = accept(await this.exchangeUdp(upstream, outgoing, id))
    if (response?.message.header.tc === true) response = accept(await this.exchangeTcp(upstream, outgoing)) ?? response
    if (response === undefined) this.counters.upstreamFailures++
    return response
  }

  private exchangeUdp(upstream: Upstream, bytes: Uint8Array, id: number): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const socket = dgram.createSocket(net.isIP(upstream.host) === 6 ? 'udp6' : 'udp4')
      this.forwardSockets.add(socket)
      let done = false
      const finish = (result: Uint8Array | undefined): void => {
        if (done) return
        done = true
        timer.cancel()
        this.forwardSockets.delete(socket)
        closeQuietly(socket)
        resolve(result)
      }
      const timer = this.timers.after(this.options.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS_DEFAULT, () => finish(undefined))
      socket.on('error', () => finish(undefined))
      socket.on('close', () => finish(undefined))
      socket.on('message', (message, remote) => {
        // Only the upstream we asked, with our ID, may answer; anything else is ignored (spoofing).
        if (remote.port !== upstream.port || remote.address !== upstream.host || message.length < HEADER_BYTES || message.readUInt16BE(0) !== id) return
        finish(new Uint8Array(message))
      })
      socket.send(bytes, upstream.port, upstream.host, (error) => {
        if (error) finish(undefined)
      })
    })
  }

  private exchangeTcp(upstream: Upstream, bytes: Uint8Array): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: upstream.host, port: upstream.port })
      this.forwardSockets.add(socket)
      let buffered = Buffer.alloc(0)
      let done = false
      const finish = (result: Uint8Array | undefined): void => {
        if (done) return
        done = true
        timer.cancel()
        this.forwardSockets.delete(socket)
        socket.destroy()
        resolve(result)
      }
      const timer = this.timers.after(this.options.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS_DEFAULT, () => finish(undefined))
      socket.on('error', () => finish(undefined))
      socket.on('close', () => finish(undefined))
      socket.on('connect', () => {
        const prefix = Buffer.alloc(2)
        prefix.writeUInt16BE(bytes.length)
        socket.write(Buffer.concat([prefix, bytes]))
      })
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        if (buffered.length > TCP_BUFFER_BYTES_MAX) return finish(undefined)
        if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) finish(new Uint8Array(buffered.subarray(2, 2 + buffered.readUInt16BE(0))))
      })
    })
  }
}

function peekRcode(bytes: Uint8Array): number {
  return (bytes[3] ?? 0) & 0xf
}

/** The cached bytes with `id` and every TTL lowered by `elapsedSeconds` (not below 0). */
function agedCopy(entry: CacheEntry, id: number, elapsedSeconds: number): Uint8Array {
  const copy = withId(entry.bytes, id)
  const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength)
  for (const offset of entry.ttlOffsets) view.setUint32(offset, Math.max(0, view.getUint32(offset) - elapsedSeconds))
  return copy
}

/** The wire length of an uncompressed name at `offset`; undefined when it is compressed or cut short. */
function plainNameBytes(bytes: Uint8Array, offset: number): number | undefined {
  let position = offset
  for (;;) {
    const length = bytes[position]
    if (length === undefined || (length & 0xc0) !== 0) return undefined
    position += 1 + length
    if (length === 0) return position - offset
  }
}

/**
 * The response with the question name spelled exactly as in the query: the cache is keyed
 * case-insensitively, and resolvers that randomise the case of their queries (DNS 0x20) check
 * that the answer echoes it. Both names start right after the header and are uncompressed in
 * practice; otherwise the response is left as it is.
 */
function withQuestionNameOf(query: Uint8Array, response: Uint8Array): Uint8Array {
  const length = plainNameBytes(query, HEADER_BYTES)
  if (length === undefined || plainNameBytes(response, HEADER_BYTES) !== length) return response
  response.set(query.subarray(HEADER_BYTES, HEADER_BYTES + length), HEADER_BYTES)
  return response
}

function closeQuietly(socket: dgram.Socket | net.Socket): void {
  try {
    if (socket instanceof net.Socket) socket.destroy()
    else socket.close()
  } catch {
    // Already closed.
  }
}

function readResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
  } catch {
    return ''
  }
}
