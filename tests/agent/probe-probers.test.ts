// Goal: each prober judges a container as the kubelet's would: httpGet by status (2xx/3xx pass),
// with the probe's headers, Host override, HTTPS without verification and a timeout; tcpSocket
// by whether a connection opens; exec by exit code with a timeout; named ports resolved from the
// container's ports; probes that cannot run are `unknown`. Method: real HTTP, HTTPS and TCP
// servers on 127.0.0.1, and exec through the hollow runtime on simulated time.
import t from 'tap'
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer, type AddressInfo } from 'node:net'
import { waitFor } from '../../lib/poll.ts'
import { TimersSim } from '../../lib/timers.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { createCertificateAuthority } from '../../node/src/api/auth/tls.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { resolveContainerPort, runProbe, type ProbeRun } from '../../node/src/agent/probes/prober.ts'
import type { ProbeOutcome } from '../../node/src/agent/probes/probe-state.ts'
import { RuntimeHollow } from '../../runtime/src/hollow-runtime.ts'
import { BUSYBOX_IMAGE } from '../../runtime/src/local-images.ts'

const HOST = '127.0.0.1'
/** Probes to local servers answer in milliseconds; a generous timeout keeps CI load from flaking them. */
const TIMEOUT_MS = 5_000

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
  return (server.address() as AddressInfo).port
}

/** A port that was just free: listened on, then closed, so connecting is refused. */
async function closedPort(): Promise<number> {
  const server = createTcpServer()
  const port = await listen(server)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** The last request's headers, and a server whose paths answer with the status they name. */
function statusServer(): { server: Server; lastHeaders: () => IncomingHttpHeaders; lastPath: () => string } {
  let headers: IncomingHttpHeaders = {}
  let path = ''
  const server = createHttpServer((request, response) => {
    headers = request.headers
    path = request.url ?? ''
    if (request.url === '/hang') return // never answers
    const status = Number(/^\/status\/(\d+)/.exec(request.url ?? '')?.[1] ?? 200)
    response.writeHead(status, status >= 300 && status < 400 ? { location: '/elsewhere' } : {})
    response.end(`answered ${status}`)
  })
  return { server, lastHeaders: () => headers, lastPath: () => path }
}

/** A ProbeRun for network probes (the runtime is never used by them); `podIp` null: none yet. */
function networkRun(runtime: RuntimeHollow, container: JsonObject = { name: 'app' }, podIp: string | null = HOST, timeoutMs = TIMEOUT_MS): ProbeRun {
  return { runtime, container, containerId: 'unused', podIp: podIp ?? undefined, timeoutMs }
}

const idleRuntime = new RuntimeHollow({ nodeName: 'probe-node', timers: new TimersSim(), random: new RandomXoshiro(1) })

t.test('httpGet: 2xx and 3xx pass, other statuses fail with the kubelet message', async (t) => {
  const { server } = statusServer()
  const port = await listen(server)
  t.teardown(() => void server.close())
  const probe = (path: string): Promise<ProbeOutcome> => runProbe({ httpGet: { path, port } }, networkRun(idleRuntime))
  t.same(await probe('/status/200'), { result: 'success', message: 'answered 200' }, 'the body is the success message')
  t.same(await probe('/status/204'), { result: 'success', message: '' })
  t.equal((await probe('/status/302')).result, 'success', 'a redirect passes (not followed)')
  t.equal((await probe('/status/399')).result, 'success')
  t.same(await probe('/status/400'), { result: 'failure', message: 'HTTP probe failed with statuscode: 400' })
  t.same(await probe('/status/500'), { result: 'failure', message: 'HTTP probe failed with statuscode: 500' })
})

t.test('httpGet: headers, Host override, default user agent, path with query', async (t) => {
  const { server, lastHeaders, lastPath } = statusServer()
  const port = await listen(server)
  t.teardown(() => void server.close())
  await runProbe({ httpGet: { path: '/healthz?verbose=1', port } }, networkRun(idleRuntime))
  t.equal(lastPath(), '/healthz?verbose=1')
  t.equal(lastHeaders()['user-agent'], 'kube-probe/1.20')
  t.equal(lastHeaders()['accept'], '*/*')
  t.equal(lastHeaders()['host'], `${HOST}:${port}`, 'the host names the pod IP by default')
  const httpHeaders = [
    { name: 'Host', value: 'app.example.com' },
    { name: 'X-Probe', value: 'one' },
    { name: 'User-Agent', value: 'custom' },
  ]
  const outcome = await runProbe({ httpGet: { path: 'no-slash', port, httpHeaders } }, networkRun(idleRuntime))
  t.equal(outcome.result, 'success')
  t.equal(lastPath(), '/no-slash', 'a path without a leading slash gets one')
  t.equal(lastHeaders()['host'], 'app.example.com', 'a Host header overrides')
  t.equal(lastHeaders()['x-probe'], 'one')
  t.equal(lastHeaders()['user-agent'], 'custom', "the probe's user agent wins")
})

t.test('httpGet: host field, named ports, no pod IP, refused connection, timeout', async (t) => {
  const { server } = statusServer()
  const port = await listen(server)
  t.teardown(() => void server.close())
  const container = { name: 'app', ports: [{ name: 'http', containerPort: port }] }
  t.equal((await runProbe({ httpGet: { path: '/', port: 'http' } }, networkRun(idleRuntime, container))).result, 'success', 'a named port resolves')
  t.equal((await runProbe({ httpGet: { path: '/', port: String(port) } }, networkRun(idleRuntime))).result, 'success', 'a number written as a string')
  t.equal((await runProbe({ httpGet: { host: HOST, path: '/', port } }, networkRun(idleRuntime, container, null))).result, 'success', 'the host field replaces the pod IP')
  t.same(await runProbe({ httpGet: { path: '/', port: 'metrics' } }, networkRun(idleRuntime, container)), { result: 'unknown', message: 'port metrics not found' })
  t.same(await runProbe({ httpGet: { path: '/', port } }, networkRun(idleRuntime, container, null)), { result: 'unknown', message: 'pod has no IP address yet' })

  const refused = await closedPort()
  t.same(await runProbe({ httpGet: { path: '/healthz', port: refused } }, networkRun(idleRuntime)), {
    result: 'failure',
    message: `Get "http://${HOST}:${refused}/healthz": dial tcp ${HOST}:${refused}: connect: connection refused`,
  })
  const started = performance.now()
  const hung = await runProbe({ httpGet: { path: '/hang', port } }, networkRun(idleRuntime, container, HOST, 200))
  t.same(hung, { result: 'failure', message: `Get "http://${HOST}:${port}/hang": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` })
  t.ok(performance.now() - started < TIMEOUT_MS, 'gave up at the probe timeout')
})

t.test('httpGet: HTTPS accepts a self-signed certificate, as the kubelet does', async (t) => {
  const { certPem, keyPem } = await createCertificateAuthority('probe-test')
  const server = createHttpsServer({ cert: certPem, key: keyPem }, (_request, response) => response.end('secure'))
  const port = await listen(server)
  t.teardown(() => void server.close())
  t.same(await runProbe({ httpGet: { scheme: 'HTTPS', path: '/', port } }, networkRun(idleRuntime)), { result: 'success', message: 'secure' })
  const plain = await runProbe({ httpGet: { scheme: 'HTTP', path: '/', port } }, networkRun(idleRuntime))
  t.equal(plain.result, 'failure', 'plain HTTP to a TLS port fails')
})

t.test('tcpSocket: an open port passes, a closed one fails with the dial error', async (t) => {
  const server = createTcpServer((socket) => socket.end())
  const port = await listen(server)
  t.teardown(() => void server.close())
  t.same(await runProbe({ tcpSocket: { port } }, networkRun(idleRuntime)), { result: 'success' })
  t.same(await runProbe({ tcpSocket: { port: 'db' } }, networkRun(idleRuntime, { name: 'app', ports: [{ name: 'db', containerPort: port }] })), { result: 'success' }, 'named port')
  t.same(await runProbe({ tcpSocket: { host: HOST, port } }, networkRun(idleRuntime, {}, null)), { result: 'success' }, 'host field')
  const refused = await closedPort()
  t.same(await runProbe({ tcpSocket: { port: refused } }, networkRun(idleRuntime)), { result: 'failure', message: `dial tcp ${HOST}:${refused}: connect: connection refused` })
  t.same(await runProbe({ tcpSocket: { port } }, networkRun(idleRuntime, {}, null)), { result: 'unknown', message: 'pod has no IP address yet' })
})

t.test('exec: exit 0 passes, non-zero fails with the output, a hung command times out', async (t) => {
  const timers = new TimersSim()
  const runtime = new RuntimeHollow({ nodeName: 'probe-node', timers, random: new RandomXoshiro(3) })
  const sandbox = await runtime.runSandbox({ pod: { uid: 'u1', name: 'p', namespace: 'default' }, hostname: 'p', network: 'bridge' })
  const containerId = await runtime.createContainer(sandbox.id, { name: 'app', attempt: 0, image: BUSYBOX_IMAGE, command: ['sleep', '100000'] })
  await runtime.startContainer(containerId)
  const run: ProbeRun = { runtime, container: { name: 'app' }, containerId, podIp: sandbox.ip, timeoutMs: 1_000 }

  t.same(await runProbe({ exec: { command: ['cat', '/tmp/healthy'] } }, run), { result: 'failure', message: "cat: can't open '/tmp/healthy': No such file or directory\n" })
  await runtime.execSync(containerId, ['sh', '-c', 'echo ok > /tmp/healthy'], 1_000)
  t.same(await runProbe({ exec: { command: ['cat', '/tmp/healthy'] } }, run), { result: 'success', message: 'ok\n' })
  t.same(await runProbe({ exec: { command: ['sh', '-c', 'exit 3'] } }, run), { result: 'failure', message: 'command "sh -c exit 3" exited with 3' }, 'no output: the exit code is the message')

  const hung = runProbe({ exec: { command: ['sleep', '30'] } }, run)
  let outcome: ProbeOutcome | undefined
  void hung.then((value) => (outcome = value))
  // The runtime's exec deadline runs on the simulated clock: move it past the probe timeout.
  await waitFor('the exec to start', 5_000, async () => {
    timers.advance(100)
    return outcome
  })
  t.same(outcome, { result: 'failure', message: 'command "sleep 30" timed out' })

  await runtime.stopContainer(containerId, 0)
  t.equal((await runProbe({ exec: { command: ['true'] } }, run)).result, 'unknown', 'a container that is not running cannot be probed: the result is thrown away')
  t.same(await runProbe({ exec: { command: [] } }, run), { result: 'unknown', message: 'exec probe has no command' })
})

t.test('runProbe: gRPC and handler-less probes cannot run', async (t) => {
  t.equal((await runProbe({ grpc: { port: 9000 } }, networkRun(idleRuntime))).result, 'unknown')
  t.equal((await runProbe({}, networkRun(idleRuntime))).result, 'unknown')
})

t.test('resolveContainerPort follows the kubelet: numbers, names, numeric strings, range', async (t) => {
  const container = { ports: [{ name: 'http', containerPort: 8080 }] }
  t.equal(resolveContainerPort(80, container), 80)
  t.equal(resolveContainerPort('http', container), 8080)
  t.equal(resolveContainerPort('443', container), 443)
  t.equal(resolveContainerPort('web', container), 'port web not found')
  t.equal(resolveContainerPort(0, container), 'invalid port number: 0')
  t.equal(resolveContainerPort(70000, container), 'invalid port number: 70000')
  t.equal(resolveContainerPort(undefined, container), 'probe has no port')
})
