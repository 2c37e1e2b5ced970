// Goal: `kubectl port-forward` works through the API with kubectl 1.20 (SPDY/3.1) and kubectl
// 1.32 (which first asks for SPDY tunnelled over WebSocket, is refused with 400 and falls back to
// SPDY): bytes round-trip, two connections forward in parallel over one SPDY session, large
// payloads flow, finished connections release the pod-side socket, and a port nobody listens on
// is reported on the error stream while the forward keeps serving. Method: an ApiHandler on
// 127.0.0.1 whose test PodStreams dials 127.0.0.1:<port>; a TCP echo server started by the test
// is "the pod's port"; kubectl port-forward runs as a child process (killed at teardown) and
// the test connects to the local port it prints; waits are polls with deadlines.
import { connect, createServer, type AddressInfo } from 'node:net'
import t from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import { KUBECTL_120, KUBECTL_132, Kubectl, StreamingServer, pod, startEchoServer, waitForOutput } from './stream-harness.ts'

const VERSIONS = [
  { name: 'kubectl 1.20', binary: KUBECTL_120 },
  { name: 'kubectl 1.32', binary: KUBECTL_132 },
]

/** Sends `payload` on a new connection to 127.0.0.1:`port`, half-closes, and returns all it read back. */
function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => socket.end(payload))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => resolve(Buffer.concat(chunks)))
    socket.on('error', reject)
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer within 20 s')))
  })
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

for (const version of VERSIONS) {
  if (!Kubectl.available(version.binary)) {
    t.test(`${version.name} port-forward`, { skip: `${version.binary} is not installed` }, async () => {})
    continue
  }

  t.test(`${version.name} port-forward: round trips, parallel connections, release`, async (t) => {
    const server = await new StreamingServer().start(t)
    await server.createPod(pod('web'))
    const echo = await startEchoServer(t)
    const kubectl = new Kubectl(t, version.binary, server)
    const forward = kubectl.start(['port-forward', 'pod/web', `:${echo.port}`])
    const localPort = Number((await waitForOutput('kubectl to listen', forward.stdout, /Forwarding from 127\.0\.0\.1:(\d+) ->/))[1])

    const small = Buffer.from('ping over the forward')
    t.same(await roundTrip(localPort, small), small, 'bytes come back through the forward')
    const first = Buffer.alloc(200_000, 'a')
    const second = Buffer.alloc(150_000, 'b')
    const [firstBack, secondBack] = await Promise.all([roundTrip(localPort, first), roundTrip(localPort, second)])
    t.ok(firstBack.equals(first), 'the first of two parallel connections gets its own bytes, all 200 KB')
    t.ok(secondBack.equals(second), 'and so does the second')
    t.equal(echo.connections(), 3, 'every local connection was one connection to the pod port')
    t.same(server.provider.calls.map((call) => [call.method, call.pod, call.port]), [0, 1, 2].map(() => ['portForward', 'web', echo.port]), 'the provider dialled the pod port each time')
    await waitFor('the pod-side sockets to close', 10_000, () => (server.provider.openForwards() === 0 ? true : undefined))
    t.pass('finished connections release their pod-side sockets')
    if (version.binary === KUBECTL_132) {
      t.match(server.upgrades.map((upgrade) => `${upgrade.upgrade} ${upgrade.protocols}`), [/^websocket SPDY\/3\.1\+portforward\.k8s\.io/, /^SPDY\/3\.1 portforward\.k8s\.io/], 'kubectl 1.32 tried SPDY over WebSocket, was refused, and fell back to SPDY')
    } else {
      t.match(server.upgrades.map((upgrade) => `${upgrade.upgrade} ${upgrade.protocols}`), [/^SPDY\/3\.1 portforward\.k8s\.io/], 'one SPDY session for all connections')
    }
    forward.child.kill('SIGINT')
    await forward.exited(10_000)
    t.equal(server.logged.length, 0, 'nothing went wrong on the server')
  })

  t.test(`${version.name} port-forward: a port nobody listens on`, async (t) => {
    const server = await new StreamingServer().start(t)
    await server.createPod(pod('web'))
    const port = await closedPort()
    const kubectl = new Kubectl(t, version.binary, server)
    const forward = kubectl.start(['port-forward', 'pod/web', `:${port}`])
    const localPort = Number((await waitForOutput('kubectl to listen', forward.stdout, /Forwarding from 127\.0\.0\.1:(\d+) ->/))[1])
    const reply = await roundTrip(localPort, Buffer.from('anyone?'))
    t.equal(reply.length, 0, 'the local connection is closed without data')
    await waitForOutput('kubectl to report the error', forward.stderr, /error forwarding port \d+ to pod web_default, uid [\w-]+: connect ECONNREFUSED/)
    t.pass('kubectl shows the error from the error stream')
    t.equal(forward.child.exitCode, null, 'and keeps forwarding')
    forward.child.kill('SIGINT')
    await forward.exited(10_000)
  })
}

if (Kubectl.available(KUBECTL_120)) {
  t.test('kubectl 1.20 port-forward to a pod that is not running', async (t) => {
    const server = await new StreamingServer().start(t)
    await server.createPod(pod('starting', { phase: 'Pending' }))
    const kubectl = new Kubectl(t, KUBECTL_120, server)
    const result = await kubectl.run(['port-forward', 'pod/starting', ':80'])
    t.not(result.code, 0, 'fails')
    t.match(result.stderr, /unable to forward port because pod is not running. Current status=Pending/, 'and says why')
  })
}
