// Goal: a real daemon takes exec/attach/port-forward upgrades on its HTTPS Kubernetes API and
// authenticates them like every other request: no token or an unknown one is a 401 Status on
// the socket, a valid bearer token reaches the API (a pod that does not exist is then a 404
// NotFound, answered over TLS before any upgrade). Method: one daemon (`flotilla init`) on
// 127.0.0.1, its kubeconfig from `flotilla kubeconfig`, raw HTTPS upgrade requests with the
// cluster CA; polling with deadlines.
import { execFile } from 'node:child_process'
import { request as httpsRequest } from 'node:https'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import { DaemonCluster } from '../../cluster/daemon-cluster.ts'

const CLI = resolve(import.meta.dirname, '../../../node/src/cli.ts')
const run = promisify(execFile)

interface UpgradeReply {
  readonly status: number
  readonly json: any
}

function upgrade(server: string, ca: string, path: string, token: string | undefined): Promise<UpgradeReply> {
  return new Promise<UpgradeReply>((resolvePromise, reject) => {
    const headers: Record<string, string> = { connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' }
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`
    const outgoing = httpsRequest(`${server}${path}`, { method: 'POST', ca, headers, timeout: 10_000 })
    outgoing.on('upgrade', (response, socket) => {
      socket.destroy()
      resolvePromise({ status: response.statusCode ?? 0, json: undefined })
    })
    outgoing.on('response', (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => resolvePromise({ status: response.statusCode ?? 0, json: JSON.parse(text) }))
    })
    outgoing.on('timeout', () => outgoing.destroy(new Error('no answer within 10 s')))
    outgoing.on('error', reject)
    outgoing.end()
  })
}

t.test('the daemon authenticates upgrade requests', async (t) => {
  const cluster = new DaemonCluster({ FLOTILLA_CONTROLLERS: 'off' })
  t.teardown(() => cluster.destroy())
  await cluster.init('a', 'z1')
  await waitFor('the node to know the leader', 20_000, async () => (((await cluster.status('a'))?.leader ?? '') === '' ? undefined : true))
  const { stdout } = await run(process.execPath, [CLI, 'kubeconfig', '--data', cluster.dataDirectory('a')])
  const server = /server: (https:\/\/\S+)/.exec(stdout)![1]!
  const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(stdout)![1]!, 'base64').toString()
  const token = /token: (\S+)/.exec(stdout)![1]!
  const path = '/api/v1/namespaces/default/pods/nobody/exec?command=true&stdout=true'

  const anonymous = await upgrade(server, ca, path, undefined)
  t.same([anonymous.status, anonymous.json?.kind, anonymous.json?.reason], [401, 'Status', 'Unauthorized'], 'no token: 401 Unauthorized')
  t.equal((await upgrade(server, ca, path, 'flt_not-a-real-token')).status, 401, 'an unknown token: 401')
  const authenticated = await waitFor('an authenticated answer', 20_000, async () => {
    const reply = await upgrade(server, ca, path, token)
    return reply.status === 401 ? undefined : reply
  })
  t.same([authenticated.status, authenticated.json?.reason, authenticated.json?.message], [404, 'NotFound', 'pods "nobody" not found'], 'a valid token reaches the API')
})
