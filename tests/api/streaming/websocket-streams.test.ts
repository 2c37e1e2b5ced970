// Goal: the WebSocket side of exec, attach and port-forward serves @kubernetes/client-node 1.4
// (Exec, Attach and PortForward, which offer v5.channel.k8s.io first), plain v4 and the base64
// variant; and every request that cannot be served is refused before the upgrade with
// kube-apiserver's Status: missing command or streams, unknown or ambiguous containers,
// completed or unscheduled pods, protocols nobody shares (400 for WebSocket, so kubectl ≥ 1.30
// falls back to SPDY; 403 with the accepted versions for SPDY), plain requests without an
// upgrade, paths that take no upgrade, and a server without a PodStreams provider (503).
// Method: an ApiHandler on 127.0.0.1 with the test PodStreams (local `sh -c` processes, a TCP
// echo server as the pod's port); client-node against a kubeconfig with insecure-skip-tls-verify
// (it refuses plain http otherwise), the `ws` client for the other protocols, raw HTTP upgrade
// requests for the refusals; waits are polls with deadlines.
import * as k8s from '@kubernetes/client-node'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { waitFor } from '../../../lib/poll.ts'
import { StreamingServer, pod, startEchoServer } from './stream-harness.ts'

const PODS_PATH = '/api/v1/namespaces/default/pods'

function clientNodeConfig(server: StreamingServer): k8s.KubeConfig {
  const config = new k8s.KubeConfig()
  config.loadFromOptions({
    clusters: [{ name: 'local', server: server.url(), skipTLSVerify: true }],
    users: [{ name: 'me' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'me' }],
    currentContext: 'local',
  })
  return config
}

/** A writable that collects text; with `size`, it looks like a terminal to client-node. */
function collector(size?: { columns: number; rows: number }): PassThrough & { text: () => string } {
  const stream = new PassThrough() as PassThrough & { text: () => string; columns?: number; rows?: number }
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
  stream.text = () => text
  if (size !== undefined) {
    stream.columns = size.columns
    stream.rows = size.rows
  }
  return stream
}

async function startedServer(t: Test, options: { withProvider?: boolean } = {}): Promise<StreamingServer> {
  const server = await new StreamingServer(options).start(t)
  await server.createPod(pod('web'))
  await server.createPod(pod('multi', { containers: ['a', 'b'] }))
  await server.createPod(pod('done', { phase: 'Succeeded' }))
  await server.createPod(pod('pending', { nodeName: null, phase: 'Pending' }))
  return server
}

t.test('client-node Exec, Attach and PortForward', async (t) => {
  const server = await startedServer(t)
  const config = clientNodeConfig(server)

  const stdout = collector()
  const stderr = collector()
  let status: k8s.V1Status | undefined
  const socket = await new k8s.Exec(config).exec('default', 'web', 'app', ['sh', '-c', 'cat; echo to-stderr >&2; exit 4'], stdout, stderr, Readable.from(['from stdin\n']), false, (received) => (status = received))
  t.equal(socket.protocol, 'v5.channel.k8s.io', 'the first protocol client-node offers is chosen')
  await waitFor('the exec status', 20_000, () => status)
  t.equal(stdout.text(), 'from stdin\n', 'stdin reached cat, whose output is on stdout')
  t.equal(stderr.text(), 'to-stderr\n', 'stderr on its own channel')
  t.same(status, {
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: error executing command [sh -c cat; echo to-stderr >&2; exit 4], exit code 4',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '4' }] },
  }, 'the exit code as a NonZeroExitCode Status')
  await waitFor('the WebSocket to close', 10_000, () => (socket.readyState === WebSocket.CLOSED ? true : undefined))

  const terminal = collector({ columns: 91, rows: 33 })
  let ttyStatus: k8s.V1Status | undefined
  await new k8s.Exec(config).exec('default', 'web', 'app', ['sh', '-c', 'read line; echo got-$line; echo err >&2'], terminal, null, Readable.from(['line\n']), true, (received) => (ttyStatus = received))
  await waitFor('the tty exec status', 20_000, () => ttyStatus)
  t.equal(ttyStatus?.status, 'Success', 'a tty exec succeeds')
  t.equal(terminal.text(), 'got-line\nerr\n', 'with stderr merged into stdout')
  t.same(server.provider.resizes, [{ width: 91, height: 33 }], "the terminal's size (client-node writes lower-case keys) reaches the session")

  const attached = collector()
  const attachSocket = await new k8s.Attach(config).attach('default', 'web', 'app', attached, null, null, false)
  const session = await waitFor('the attach session', 10_000, () => server.provider.attaches[0])
  session.output.write('attached line\n')
  await waitFor('attach output', 10_000, () => (attached.text() === 'attached line\n' ? true : undefined))
  session.exit(0)
  await waitFor('the attach WebSocket to close', 10_000, () => (attachSocket.readyState === WebSocket.CLOSED ? true : undefined))
  t.pass('attach streams the main process output until it ends')

  const echo = await startEchoServer(t)
  const forwarded = collector()
  const input = new PassThrough()
  const forwardSocket = (await new k8s.PortForward(config).portForward('default', 'web', [echo.port], forwarded, null, input)) as WebSocket
  input.write('through the port-forward')
  await waitFor('the echo', 10_000, () => (forwarded.text() === 'through the port-forward' ? true : undefined))
  t.pass('port-forward carries bytes both ways (the port prefix of each channel is stripped by client-node)')
  input.end()
  await waitFor('the forward WebSocket to close', 10_000, () => (forwardSocket.readyState === WebSocket.CLOSED ? true : undefined))
  t.pass('ending the input (a v5 channel close) half-closes the pod connection, whose end closes the WebSocket')
  t.equal(server.logged.length, 0, 'nothing went wrong on the server')
})

/** Runs an exec over a raw WebSocket with `protocol`; returns the messages per channel until it closes. */
async function rawExec(server: StreamingServer, protocol: string, query: string, send: (webSocket: WebSocket) => void): Promise<{ protocol: string; channels: Map<number, string> }> {
  const webSocket = new WebSocket(`ws://127.0.0.1:${server.port()}${PODS_PATH}/web/exec?${query}`, [protocol])
  const channels = new Map<number, string>()
  webSocket.on('message', (data: Buffer, isBinary: boolean) => {
    const channel = isBinary ? data[0]! : Number(String.fromCharCode(data[0]!))
    const payload = isBinary ? data.subarray(1) : Buffer.from(data.subarray(1).toString(), 'base64')
    channels.set(channel, (channels.get(channel) ?? '') + payload.toString())
  })
  await new Promise<void>((resolve, reject) => {
    webSocket.once('open', () => {
      send(webSocket)
      resolve()
    })
    webSocket.once('error', reject)
  })
  await new Promise<void>((resolve) => webSocket.once('close', () => resolve()))
  return { protocol: webSocket.protocol, channels }
}

t.test('v4 and base64 WebSocket channel protocols', async (t) => {
  const server = await startedServer(t)
  const v4 = await rawExec(server, 'v4.channel.k8s.io', 'command=sh&command=-c&command=echo%20v4;%20echo%20e%20%3E%262;%20exit%205&stdout=true&stderr=true', () => {})
  t.equal(v4.protocol, 'v4.channel.k8s.io', 'v4 is accepted')
  t.equal(v4.channels.get(1), 'v4\n', 'stdout on channel 1')
  t.equal(v4.channels.get(2), 'e\n', 'stderr on channel 2')
  t.match(JSON.parse(v4.channels.get(3) ?? '{}'), { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '5' }] } }, 'the Status on channel 3')

  const base64 = await rawExec(server, 'v4.base64.channel.k8s.io', 'command=head&command=-n1&stdin=true&stdout=true', (webSocket) => webSocket.send(`0${Buffer.from('typed in base64\n').toString('base64')}`))
  t.equal(base64.protocol, 'v4.base64.channel.k8s.io', 'the base64 variant is accepted')
  t.equal(base64.channels.get(1), 'typed in base64\n', 'stdin and stdout travel as base64 text')
  t.same(JSON.parse(base64.channels.get(3) ?? '{}'), { metadata: {}, status: 'Success' }, 'Success on the error channel')
})

interface UpgradeReply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly json: any
}

/** Sends an upgrade request and reads the refusal (or reports the 101). */
function upgradeRequest(server: StreamingServer, path: string, headers: Record<string, string>, method = 'POST'): Promise<UpgradeReply> {
  return new Promise<UpgradeReply>((resolve, reject) => {
    const outgoing = httpRequest(server.url(path), { method, headers: { connection: 'Upgrade', ...headers } })
    outgoing.on('upgrade', (response, socket) => {
      socket.destroy()
      resolve({ status: response.statusCode ?? 0, headers: response.headers, json: undefined })
    })
    outgoing.on('response', (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, json: JSON.parse(text) }))
    })
    outgoing.on('error', reject)
    outgoing.end()
  })
}

const SPDY = { upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' }
const WEBSOCKET = { upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': Buffer.alloc(16, 7).toString('base64'), 'sec-websocket-protocol': 'v4.channel.k8s.io' }

t.test('requests that cannot be served are refused before the upgrade', async (t) => {
  const server = await startedServer(t)
  const exec = (name: string, query: string): string => `${PODS_PATH}/${name}/exec?${query}`
  const cases: Array<[string, string, Record<string, string>, number, string]> = [
    ['no command', exec('web', 'stdout=true'), SPDY, 400, 'you must specify at least one command for the container'],
    ['no stream', exec('web', 'command=true'), SPDY, 400, 'you must specify at least 1 of stdin, stdout, stderr'],
    ['an unknown pod', exec('ghost', 'command=true&stdout=true'), SPDY, 404, 'pods "ghost" not found'],
    ['an ambiguous container', exec('multi', 'command=true&stdout=true'), SPDY, 400, 'a container name must be specified for pod multi, choose one of: [a b]'],
    ['an unknown container', exec('web', 'command=true&stdout=true&container=nope'), SPDY, 400, 'container nope is not valid for pod web'],
    ['a completed pod', exec('done', 'command=true&stdout=true'), SPDY, 400, 'cannot exec into a container in a completed pod; current phase is Succeeded'],
    ['an unscheduled pod', exec('pending', 'command=true&stdout=true'), SPDY, 400, 'pod pending does not have a host assigned'],
    ['attach to a completed pod', `${PODS_PATH}/done/attach?stdout=true`, SPDY, 400, 'cannot attach to a container in a completed pod; current phase is Succeeded'],
    ['no SPDY protocol version', exec('web', 'command=true&stdout=true'), { upgrade: 'SPDY/3.1' }, 400, 'X-Stream-Protocol-Version is required'],
    ['an unknown upgrade', exec('web', 'command=true&stdout=true'), { upgrade: 'h2c' }, 400, 'unsupported upgrade "h2c"'],
    ['only old WebSocket protocols', exec('web', 'command=true&stdout=true'), { ...WEBSOCKET, 'sec-websocket-protocol': 'channel.k8s.io' }, 400, 'no supported WebSocket protocol offered'],
    ['SPDY tunnelled over WebSocket (kubectl ≥ 1.30 port-forward)', `${PODS_PATH}/web/portforward`, { ...WEBSOCKET, 'sec-websocket-protocol': 'SPDY/3.1+portforward.k8s.io' }, 400, 'SPDY over WebSocket is not supported'],
    ['a WebSocket port-forward without ports', `${PODS_PATH}/web/portforward`, WEBSOCKET, 400, 'query parameter "ports" is required'],
    ['a WebSocket port-forward to a bad port', `${PODS_PATH}/web/portforward?ports=http`, WEBSOCKET, 400, 'unable to parse "http" as a port'],
    ['port-forward to a pod that is not running', `${PODS_PATH}/pending/portforward`, { upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'portforward.k8s.io' }, 400, 'does not have a host assigned'],
    ['an upgrade of a path that takes none', '/api/v1/namespaces/default/configmaps', SPDY, 400, 'does not accept a connection upgrade'],
    ['an upgrade of the log', `${PODS_PATH}/web/log`, SPDY, 400, 'the log subresource is not served over an upgraded connection'],
  ]
  for (const [what, path, headers, code, message] of cases) {
    const reply = await upgradeRequest(server, path, headers, headers.upgrade === 'websocket' ? 'GET' : 'POST')
    t.equal(reply.status, code, `${what}: ${code}`)
    t.equal(reply.json?.kind, 'Status', `${what}: a Status`)
    t.ok(String(reply.json?.message).includes(message), `${what}: ${message} (got ${String(reply.json?.message)})`)
  }
  const negotiation = await upgradeRequest(server, exec('web', 'command=true&stdout=true'), { upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v3.channel.k8s.io' })
  t.equal(negotiation.status, 403, 'no shared SPDY protocol version is 403')
  t.equal(negotiation.headers['x-accepted-stream-protocol-versions'], 'v4.channel.k8s.io', 'naming the versions the server accepts')
  t.equal(server.provider.calls.length, 0, 'the provider was never asked')

  const plain = await new Promise<UpgradeReply>((resolve, reject) => {
    const outgoing = httpRequest(server.url(exec('web', 'command=true&stdout=true')), { method: 'POST' }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, json: JSON.parse(text) }))
    })
    outgoing.on('error', reject)
    outgoing.end()
  })
  t.same([plain.status, plain.json?.message], [400, 'Upgrade request required'], 'exec without an upgrade is a 400')
  const accepted = await upgradeRequest(server, exec('web', 'command=true&stdout=true'), SPDY)
  t.equal(accepted.status, 101, 'a good request is switched to SPDY')

  const unserved = await startedServer(t, { withProvider: false })
  const unavailable = await upgradeRequest(unserved, exec('web', 'command=true&stdout=true'), SPDY)
  t.same([unavailable.status, unavailable.json?.reason], [503, 'ServiceUnavailable'], 'without a provider the API answers 503')
})
