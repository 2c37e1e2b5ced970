// Goal: `GET pods/{name}/log` serves a container's output as kube-apiserver does: text/plain,
// chunked, headers flushed at once for follow, the query parameters handed to the provider
// (container, follow, previous, tailLines, timestamps, sinceSeconds/sinceTime, limitBytes, the
// last also enforced here), the container defaulted or checked with kube-apiserver's messages,
// bad parameters refused (400 for what does not parse, 422 Invalid for what breaks the rules),
// and a follow that stops when the client leaves. Then kubectl 1.20 `logs` with --tail,
// --timestamps, -c, --previous, --since, --limit-bytes and -f. Method: an ApiHandler on
// 127.0.0.1 with a test PodStreams whose log lines the test holds and appends to; raw HTTP
// requests and kubectl processes; polling with deadlines.
import { request as httpRequest, type IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import { KUBECTL_120, Kubectl, StreamingServer, pod, waitForOutput } from './stream-harness.ts'

const LOG = '/api/v1/namespaces/default/pods'

interface Reply {
  readonly status: number
  readonly headers: IncomingMessage['headers']
  readonly text: string
  readonly json: any
}

function get(server: StreamingServer, path: string, method = 'GET'): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const outgoing = httpRequest(server.url(path), { method }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => {
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json })
      })
    })
    outgoing.on('error', reject)
    outgoing.end()
  })
}

/** A server with pods `web` (one container), `multi` (a, b and init container `init`) and `pending` (not scheduled). */
async function logServer(t: Test, options: { withProvider?: boolean } = {}): Promise<StreamingServer> {
  const server = await new StreamingServer(options).start(t)
  await server.createPod(pod('web'))
  await server.createPod(pod('multi', { containers: ['a', 'b'], initContainers: ['init'] }))
  await server.createPod(pod('pending', { nodeName: null, phase: 'Pending' }))
  const hourAgoMs = Date.now() - 2 * 3600_000
  server.provider.logLines.set('app', [
    { timeMs: hourAgoMs, text: 'old line' },
    { timeMs: Date.now() - 1000, text: 'recent line one' },
    { timeMs: Date.now(), text: 'recent line two' },
  ])
  server.provider.logLines.set('previous:app', [{ timeMs: hourAgoMs, text: 'before the restart' }])
  server.provider.logLines.set('b', [{ timeMs: Date.now(), text: 'from container b' }])
  return server
}

t.test('log responses, options handed to the provider, container defaulting', async (t) => {
  const server = await logServer(t)
  const plain = await get(server, `${LOG}/web/log`)
  t.equal(plain.status, 200)
  t.equal(plain.headers['content-type'], 'text/plain', 'text/plain')
  t.equal(plain.headers['transfer-encoding'], 'chunked', 'chunked')
  t.equal(plain.text, 'old line\nrecent line one\nrecent line two\n', 'the only container is the default')
  const call = server.provider.calls.at(-1)
  t.same(call, { method: 'logs', pod: 'web', container: 'app', options: { follow: false, previous: false, timestamps: false } }, 'plain options')

  const before = Date.now()
  const tuned = await get(server, `${LOG}/web/log?container=app&tailLines=2&timestamps=true&sinceSeconds=3600&limitBytes=1000&previous=false`)
  const options = server.provider.calls.at(-1)?.options as { sinceMs: number; tailLines: number; timestamps: boolean; limitBytes: number }
  t.equal(options.tailLines, 2, 'tailLines')
  t.equal(options.timestamps, true, 'timestamps')
  t.equal(options.limitBytes, 1000, 'limitBytes')
  t.ok(options.sinceMs >= before - 3600_000 - 1000 && options.sinceMs <= Date.now() - 3600_000, 'sinceSeconds becomes a time an hour ago')
  t.match(tuned.text, /^\d{4}-\d\d-\d\dT[\d:.]+Z recent line one\n\S+ recent line two\n$/, 'the provider applied them')

  const sinceTime = new Date(Date.now() - 3600_000).toISOString()
  await get(server, `${LOG}/web/log?sinceTime=${encodeURIComponent(sinceTime)}`)
  t.equal((server.provider.calls.at(-1)?.options as { sinceMs: number }).sinceMs, Date.parse(sinceTime), 'sinceTime is passed as a time')

  t.equal((await get(server, `${LOG}/web/log?previous=true`)).text, 'before the restart\n', 'previous')
  t.equal((await get(server, `${LOG}/multi/log?container=b`)).text, 'from container b\n', 'a named container')
  t.equal((await get(server, `${LOG}/web/log?limitBytes=10`)).text, 'old line\nr', 'limitBytes is enforced by the API even when the provider sends more')
  const pending = await get(server, `${LOG}/pending/log`)
  t.same([pending.status, pending.text], [200, ''], 'an unscheduled pod has an empty log')
})

t.test('bad log requests get kube-apiserver Status errors', async (t) => {
  const server = await logServer(t)
  const cases: Array<[string, number, string, string]> = [
    [`${LOG}/multi/log`, 400, 'BadRequest', 'a container name must be specified for pod multi, choose one of: [a b] or one of the init containers: [init]'],
    [`${LOG}/web/log?container=nope`, 400, 'BadRequest', 'container nope is not valid for pod web'],
    [`${LOG}/ghost/log`, 404, 'NotFound', 'pods "ghost" not found'],
    [`${LOG}/web/log?tailLines=abc`, 400, 'BadRequest', 'strconv.ParseInt: parsing "abc": invalid syntax'],
    [`${LOG}/web/log?limitBytes=1.5`, 400, 'BadRequest', 'strconv.ParseInt: parsing "1.5": invalid syntax'],
    [`${LOG}/web/log?sinceTime=yesterday`, 400, 'BadRequest', 'parsing time "yesterday"'],
    [`${LOG}/web/log?tailLines=-1`, 422, 'Invalid', 'PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'],
    [`${LOG}/web/log?limitBytes=0`, 422, 'Invalid', 'PodLogOptions "web" is invalid: limitBytes: Invalid value: 0: must be greater than 0'],
    [`${LOG}/web/log?sinceSeconds=0`, 422, 'Invalid', 'sinceSeconds: Invalid value: 0: must be greater than 0'],
    [`${LOG}/web/log?sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z`, 422, 'Invalid', 'at most one of `sinceTime` or `sinceSeconds` may be specified'],
    [`${LOG}/multi/log?container=init`, 400, 'BadRequest', 'container "init" in pod "multi" is waiting to start: ContainerCreating'],
  ]
  for (const [path, code, reason, message] of cases) {
    const reply = await get(server, path)
    t.equal(reply.status, code, `${path}: ${code}`)
    t.equal(reply.json?.kind, 'Status', `${path}: a Status`)
    t.equal(reply.json?.reason, reason, `${path}: ${reason}`)
    t.ok(String(reply.json?.message).includes(message), `${path}: ${message}`)
  }
  t.equal((await get(server, `${LOG}/web/log`, 'POST')).status, 405, 'POST on log is not allowed')
  t.notOk(server.provider.calls.some((call) => call.pod === 'ghost'), 'the provider is not asked about a pod that does not exist')
  const unserved = await logServer(t, { withProvider: false })
  const reply = await get(unserved, `${LOG}/web/log`)
  t.same([reply.status, reply.json?.reason], [503, 'ServiceUnavailable'], 'without a provider the API answers 503')
})

t.test('follow: headers at once, lines as they come, stops when the client leaves', async (t) => {
  const server = await logServer(t)
  let received = ''
  let status = 0
  const outgoing = httpRequest(server.url(`${LOG}/web/log?follow=true&tailLines=1`), (response) => {
    status = response.statusCode ?? 0
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => (received += chunk))
    response.on('error', () => undefined)
  })
  outgoing.on('error', () => undefined)
  outgoing.end()
  t.teardown(() => outgoing.destroy())
  await waitFor('the response headers', 10_000, () => (status === 200 ? true : undefined))
  await waitFor('the tail line', 10_000, () => (received === 'recent line two\n' ? true : undefined))
  server.provider.appendLog('app', 'appended later')
  await waitFor('the appended line', 10_000, () => (received.endsWith('appended later\n') ? true : undefined))
  t.equal(server.provider.followerCount(), 1, 'one follower')
  outgoing.destroy()
  await waitFor('the follow to stop', 10_000, () => (server.provider.followerCount() === 0 ? true : undefined))
  t.pass('the log stream is destroyed when the client goes away')
})

if (!Kubectl.available(KUBECTL_120)) {
  t.test('kubectl logs', { skip: `kubectl 1.20 is not installed at ${KUBECTL_120}` }, async () => {})
} else {
  t.test('kubectl 1.20 logs: --tail, --timestamps, -c, --previous, --since, --limit-bytes, -f', async (t) => {
    const server = await logServer(t)
    const kubectl = new Kubectl(t, KUBECTL_120, server)
    t.equal((await kubectl.run(['logs', 'web'])).stdout, 'old line\nrecent line one\nrecent line two\n', 'logs')
    t.equal((await kubectl.run(['logs', 'web', '--tail=1'])).stdout, 'recent line two\n', '--tail')
    t.match((await kubectl.run(['logs', 'web', '--tail=1', '--timestamps'])).stdout, /^\d{4}-\d\d-\d\dT\S+Z recent line two\n$/, '--timestamps')
    t.equal((await kubectl.run(['logs', 'web', '--since=1h'])).stdout, 'recent line one\nrecent line two\n', '--since')
    t.equal((await kubectl.run(['logs', 'web', '--limit-bytes=3'])).stdout, 'old', '--limit-bytes')
    t.equal((await kubectl.run(['logs', 'web', '--previous'])).stdout, 'before the restart\n', '--previous')
    t.equal((await kubectl.run(['logs', 'multi', '-c', 'b'])).stdout, 'from container b\n', '-c')
    const ambiguous = await kubectl.run(['logs', 'multi'])
    t.not(ambiguous.code, 0, 'an ambiguous container fails')
    t.match(ambiguous.stderr, /a container name must be specified for pod multi, choose one of: \[a b\]/, 'with the choices')
    const missing = await kubectl.run(['logs', 'web', '-c', 'nope'])
    t.match(missing.stderr, /container nope is not valid for pod web/, 'an unknown container fails with its message')

    const follow = kubectl.start(['logs', '-f', 'web', '--tail=1'])
    await waitForOutput('kubectl logs -f to print the tail', follow.stdout, /recent line two\n/)
    server.provider.appendLog('app', 'first appended')
    server.provider.appendLog('app', 'second appended')
    await waitForOutput('kubectl logs -f to print new lines', follow.stdout, /second appended\n/)
    server.provider.endFollowers('app')
    const done = await follow.exited(20_000)
    t.equal(done.code, 0, 'logs -f exits 0 when the container stops writing for good')
    t.equal(done.stdout, 'recent line two\nfirst appended\nsecond appended\n', 'having printed every line once')
  })
}
