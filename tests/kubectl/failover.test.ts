// Goal: a Flotilla cluster has no master, so the CLI must keep working when the node it talks to
// is down: requests move on to the next node of the kubeconfig (same cluster CA), reads also when
// a node breaks off or answers 503, writes only when they cannot have reached the dead node, and
// a watch resumes through another node without losing events. Over HTTPS the cluster CA and the
// bearer token are used. Method: in-process API servers on 127.0.0.1 (two HTTP servers over one
// store stand for two nodes of one cluster), dead ports, misbehaving servers, a CA and serving
// certificate made with openssl; the CLI as a child process, and RestClient directly.
import { createServer as createHttpsServer } from 'node:https'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { createCertificateAuthority, issueServingCertificate } from '../../node/src/api/auth/tls.ts'
import { RestClient } from '../../node/src/kubectl/rest-client.ts'
import type { Endpoint } from '../../node/src/kubectl/kubeconfig.ts'
import { CONFIGMAPS, deadPort, flotilla, flotillaBackground, startTestApiServer, workDirectory } from './test-api-server.ts'

const WAIT_MS = 20_000

async function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return (server.address() as AddressInfo).port
}

function close(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

const endpoint = (server: string): Endpoint => ({ server, clusterName: server, insecureSkipTlsVerify: false, user: {} })

t.test('the CLI goes on through the next node when the first is dead', async (t) => {
  const api = await startTestApiServer()
  const dead = await deadPort()
  const work = workDirectory([`http://127.0.0.1:${dead}`, api.url])
  t.teardown(async () => {
    await api.close()
    work.cleanup()
  })
  await api.objects.create(CONFIGMAPS, 'default', { metadata: { name: 'survivor' } })
  const result = await flotilla(work.dir, work.kubeconfig, ['get', 'cm', '-o', 'name'])
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stdout, 'configmap/survivor\n')
  t.equal(result.stderr, `Warning: http://127.0.0.1:${dead} is unreachable (connection refused); trying ${api.url}\n`, 'one warning per dead node, not one per request')
  const write = await flotilla(work.dir, work.kubeconfig, ['delete', 'cm', 'survivor'])
  t.equal(write.code, 0, 'writes fail over too when the dead node never got the request')
  t.equal(write.stdout, 'configmap "survivor" deleted\n')
})

t.test('when every node is down the CLI says so in one line', async (t) => {
  const dead = [await deadPort(), await deadPort()]
  const work = workDirectory(dead.map((port) => `http://127.0.0.1:${port}`))
  t.teardown(() => work.cleanup())
  const result = await flotilla(work.dir, work.kubeconfig, ['get', 'pods'])
  t.equal(result.code, 1)
  const lastLine = result.stderr.trim().split('\n').pop()
  t.equal(lastLine, `Unable to connect to the server: no server of the cluster answered: http://127.0.0.1:${dead[0]} (connection refused), http://127.0.0.1:${dead[1]} (connection refused)`)
  t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
})

t.test('a watch survives the death of its node and resumes through another', async (t) => {
  // Two HTTP servers over one API handler and store: two nodes of one cluster.
  const api = await startTestApiServer()
  const second = createServer((request, response) => void api.handler.handle(request, response))
  const secondUrl = `http://127.0.0.1:${await listen(second)}`
  const work = workDirectory([api.url, secondUrl])
  t.teardown(async () => {
    await close(second)
    work.cleanup()
  })
  await api.objects.create(CONFIGMAPS, 'default', { metadata: { name: 'before' } })
  const watch = flotillaBackground(work.dir, work.kubeconfig, ['get', 'cm', '-w', '-o', 'name'])
  t.teardown(() => watch.stop())
  await waitFor('the initial list', WAIT_MS, () => (watch.output().includes('configmap/before') ? true : undefined))
  await api.close()
  await api.objects.create(CONFIGMAPS, 'default', { metadata: { name: 'after' } })
  await waitFor('the event after the first node died', WAIT_MS, () => (watch.output().includes('configmap/after') ? true : undefined))
  t.equal(watch.output(), 'configmap/before\nconfigmap/after\n', 'nothing lost, nothing repeated')
  t.match(watch.errors(), /is unreachable \(connection refused\); trying http:\/\/127.0.0.1:/)
})

t.test('RestClient moves reads on after a broken connection or a 503, but not writes', async (t) => {
  let brokenHits = 0
  const broken = createServer((request) => {
    brokenHits += 1
    request.socket.destroy()
  })
  const unavailable = createServer((_request, response) => {
    response.writeHead(503, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'ServiceUnavailable', message: 'no leader', code: 503 }))
  })
  const healthy = createServer((request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ kind: 'Answer', method: request.method }))
  })
  const urls = [`http://127.0.0.1:${await listen(broken)}`, `http://127.0.0.1:${await listen(unavailable)}`, `http://127.0.0.1:${await listen(healthy)}`]
  const warnings: string[] = []
  const client = new RestClient({ endpoints: urls.map(endpoint), onFailover: (message) => warnings.push(message) })
  t.teardown(async () => {
    client.close()
    await Promise.all([close(broken), close(unavailable), close(healthy)])
  })
  t.same(await client.json({ method: 'GET', path: '/anything' }), { kind: 'Answer', method: 'GET' }, 'the read reached the healthy node')
  t.equal(warnings.length, 2)
  t.match(warnings[1], /cannot serve now \(503\)/)
  t.same(await client.json({ method: 'POST', path: '/anything', body: '{}' }), { kind: 'Answer', method: 'POST' }, 'later requests start at the node that answered')

  const writer = new RestClient({ endpoints: urls.map(endpoint) })
  t.teardown(() => writer.close())
  const hitsBefore = brokenHits
  await t.rejects(writer.json({ method: 'POST', path: '/anything', body: '{}' }), { name: 'ConnectionError', message: /after the request was sent; the POST may or may not have been applied/ })
  t.equal(brokenHits, hitsBefore + 1, 'the write was not sent again anywhere')
})

t.test('over HTTPS the CLI trusts the kubeconfig CA, sends the bearer token, and fails over', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca')
  const serving = await issueServingCertificate(ca, { commonName: 'node', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] })
  const api = await startTestApiServer()
  const token = 'tok-3f9a'
  let seenAuthorization: string | undefined
  const secure = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, (request, response) => {
    seenAuthorization = request.headers.authorization
    if (request.headers.authorization !== `Bearer ${token}`) {
      response.writeHead(401, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }))
      return
    }
    void api.handler.handle(request, response)
  })
  const port = await listen(secure)
  const dead = await deadPort()
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-https-'))
  t.teardown(async () => {
    await new Promise<void>((resolve) => {
      secure.closeAllConnections()
      secure.close(() => resolve())
    })
    await api.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const caData = Buffer.from(ca.certPem).toString('base64')
  const kubeconfig = (userToken: string, authority: string): string => {
    const file = join(dir, `kubeconfig-${userToken}-${authority.length}`)
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: https://127.0.0.1:${dead}\n    certificate-authority-data: ${authority}\n- name: live\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority-data: ${authority}\ncontexts:\n- name: dead\n  context: {cluster: dead, user: admin, namespace: kube-system}\ncurrent-context: dead\nusers:\n- name: admin\n  user:\n    token: ${userToken}\n`,
    )
    return file
  }
  const ok = await flotilla(dir, kubeconfig(token, caData), ['get', 'namespaces', '-o', 'name'])
  t.equal(ok.code, 0, ok.stderr)
  t.equal(ok.stdout, 'namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\nnamespace/kube-system\n')
  t.equal(seenAuthorization, `Bearer ${token}`)
  t.match(ok.stderr, new RegExp(`https://127.0.0.1:${dead} is unreachable`))
  const namespaced = await flotilla(dir, kubeconfig(token, caData), ['get', 'cm'])
  t.equal(namespaced.stderr.split('\n').filter((line) => !line.startsWith('Warning:')).join('\n'), 'No resources found in kube-system namespace.\n', 'the context namespace')

  const denied = await flotilla(dir, kubeconfig('wrong', caData), ['get', 'pods'])
  t.equal(denied.code, 1)
  t.equal(denied.stderr.trim().split('\n').pop(), 'Error from server (Unauthorized): Unauthorized')

  const otherCa = await createCertificateAuthority('someone-else')
  const untrusted = await flotilla(dir, kubeconfig(token, Buffer.from(otherCa.certPem).toString('base64')), ['get', 'pods'])
  t.equal(untrusted.code, 1)
  t.match(untrusted.stderr.trim().split('\n').pop(), /^Unable to connect to the server: no server of the cluster answered: .*\(x509: /, 'a server the CA does not vouch for is refused')
})
