/**
 * A Raft replica process with a small HTTP key-value API, for the demo and the benchmark.
 *
 *   node node/src/replica-main.ts --id n1 --raft 127.0.0.1:7101 --http 127.0.0.1:8101 \
 *     --peers n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103 --data .data/n1
 *
 * HTTP: PUT /v1/kv/<key> (body = value) → {"index"} once applied; GET /v1/kv/<key> → linearizable
 * read (?serializable=1 for a local read); GET /v1/status.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { parseArgs } from 'node:util'
import { NotLeaderError, TimeoutError } from '../../lib/errors.ts'
import { randomFromEntropy } from '../../lib/random.ts'
import { parseAddress, TransportTcp } from '../../network/src/tcp/transport-tcp.ts'
import { encodeKvCommand, KvStateMachine } from './kv-state-machine.ts'
import { RaftNode } from './raft-node.ts'

const VALUE_BYTES_MAX = 1024 * 1024

function usage(message: string): never {
  process.stderr.write(`replica: ${message}\nusage: replica-main.ts --id ID --raft HOST:PORT --http HOST:PORT --peers ID=HOST:PORT,... --data DIR [--tick-ms 10] [--heartbeat-ms 40] [--election-ms 400]\n`)
  process.exit(2)
}

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    raft: { type: 'string' },
    http: { type: 'string' },
    peers: { type: 'string' },
    data: { type: 'string' },
    'tick-ms': { type: 'string', default: '10' },
    'heartbeat-ms': { type: 'string', default: '40' },
    'election-ms': { type: 'string', default: '400' },
    'snapshot-every': { type: 'string', default: '10000' },
  },
})
const id = values.id ?? usage('--id is required')
const raftAddress = parseAddress(values.raft ?? usage('--raft is required'))
const httpAddress = parseAddress(values.http ?? usage('--http is required'))
const dataDirectory = values.data ?? usage('--data is required')
const peers = new Map<string, string>()
for (const item of (values.peers ?? usage('--peers is required')).split(',')) {
  const [peerId, address] = item.split('=')
  if (!peerId || !address) usage(`malformed peer "${item}" (expected ID=HOST:PORT)`)
  parseAddress(address)
  peers.set(peerId, address)
}
if (!peers.has(id)) usage(`--peers must include this node's id "${id}"`)
const tickMs = Number(values['tick-ms'])
const heartbeatTicks = Math.max(1, Math.round(Number(values['heartbeat-ms']) / tickMs))
const electionTicks = Math.max(heartbeatTicks + 1, Math.round(Number(values['election-ms']) / tickMs))
if (![tickMs, heartbeatTicks, electionTicks].every(Number.isFinite)) usage('timers must be numbers')

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${id} ${line}\n`)
}
const random = randomFromEntropy()
const transport = new TransportTcp({ localId: id, clusterName: 'flotilla-raft', listen: raftAddress, random, log })
transport.setPeers(peers)
const kv = new KvStateMachine()
const node = new RaftNode({
  id,
  initialVoters: [...peers.keys()],
  dataDirectory,
  transport,
  stateMachine: kv,
  random,
  tickMs,
  raft: { heartbeatIntervalTicks: heartbeatTicks, electionTimeoutTicks: electionTicks },
  snapshotEveryEntries: Number(values['snapshot-every']),
  log,
})
await node.start()

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  response.end(text)
}

function sendError(response: ServerResponse, error: unknown): void {
  if (error instanceof NotLeaderError) sendJson(response, 503, { error: error.message, leader: error.leaderId ?? null })
  else if (error instanceof TimeoutError) sendJson(response, 503, { error: error.message })
  else sendJson(response, 500, { error: (error as Error).message })
}

async function readBody(request: IncomingMessage): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.byteLength
    if (total > VALUE_BYTES_MAX) return undefined
    chunks.push(chunk)
  }
  return new Uint8Array(Buffer.concat(chunks))
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://replica')
  if (url.pathname === '/v1/status' && request.method === 'GET') {
    sendJson(response, 200, { ...node.status(), pid: process.pid, keys: kv.size() })
    return
  }
  if (!url.pathname.startsWith('/v1/kv/')) {
    sendJson(response, 404, { error: `No route for ${request.method} ${url.pathname}` })
    return
  }
  const key = decodeURIComponent(url.pathname.slice('/v1/kv/'.length))
  if (key === '') {
    sendJson(response, 400, { error: 'Key must not be empty' })
    return
  }
  if (request.method === 'PUT') {
    const value = await readBody(request)
    if (value === undefined) {
      sendJson(response, 413, { error: `Value larger than ${VALUE_BYTES_MAX} bytes` })
      return
    }
    await node.propose(encodeKvCommand({ op: 'put', key, value }))
    sendJson(response, 200, { index: node.status().applied })
  } else if (request.method === 'GET') {
    if (url.searchParams.get('serializable') !== '1') await node.readBarrier()
    const value = kv.get(key)
    if (value === undefined) {
      sendJson(response, 404, { error: `Key "${key}" not found` })
      return
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': value.byteLength })
    response.end(value)
  } else {
    sendJson(response, 405, { error: `Method ${request.method} not allowed on /v1/kv/` })
  }
}

const server = createServer((request, response) => {
  handle(request, response).catch((error: unknown) => sendError(response, error))
})
server.keepAliveTimeout = 60_000
server.listen(httpAddress.port, httpAddress.host, () => log(`http listening on ${httpAddress.host}:${httpAddress.port}`))

const shutdown = (): void => {
  server.close()
  node.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
