// Goal: requests that once destroyed data or crashed the handler are refused cleanly, and nothing
// else changes: paths whose segments are `.` or `..` (also percent-encoded) or hold `/` are 400
// rather than resolved into another object (DELETE …/configmaps/.. used to delete the namespace);
// bodies nested deeper than NESTING_DEPTH_MAX are 400 while the deepest allowed object survives
// every verb; integers beyond their field's width are 422; a refused body is drained before the
// connection closes, so the client can finish sending and read the answer; an unexpected failure
// is a 500 with a fixed message and its details in the log. Method: an ApiHandler over an
// in-process store (api-harness.ts), raw sockets where the HTTP client would interfere.
import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { NESTING_DEPTH_MAX } from '../../../node/src/api/server/request-body.ts'
import { ApiHandler } from '../../../node/src/api/server/api-handler.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../../node/src/api/server/object-store.ts'
import type { StoreCommand } from '../../../node/src/store/commands.ts'
import { ApiHarness, configMap, deployment } from './api-harness.ts'

const CM = '/api/v1/namespaces/default/configmaps'
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments'

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

t.test('path segments that are dots or hold a slash are 400 and change nothing', async (t) => {
  const api = await harness(t)
  await api.post(CM, configMap('settings'))
  const before = api.snapshot()
  const paths = [
    ['GET', `${CM}/..`],
    ['GET', `${CM}/.`],
    ['DELETE', `${CM}/..`],
    ['DELETE', `${CM}/%2E%2E`],
    ['DELETE', `${CM}/%2e.`],
    ['DELETE', `${CM}/.`],
    ['DELETE', `${CM}/%2E`],
    ['DELETE', '/apis/apps/v1/namespaces/default/deployments/../../configmaps/settings'],
    ['DELETE', `/api/v1/namespaces/default/configmaps/settings/..`],
    ['GET', `${CM}/a%2Fb`],
    ['GET', `${CM}/a%2fb`],
    ['GET', `${CM}/x%25y`],
    ['GET', `${CM}/%`],
    ['GET', `${CM}/%E0%A4%A`],
    ['PUT', `${CM}/..`],
  ] as const
  for (const [method, path] of paths) {
    const reply = await api.request(method, path, method === 'PUT' ? { body: configMap('..') } : {})
    t.equal(reply.status, 400, `${method} ${path}: 400`)
    t.equal(reply.json?.reason, 'BadRequest', `${method} ${path}: BadRequest`)
  }
  t.match((await api.get(`${CM}/..`)).json.message, /invalid path segment "\.\.": may not be '\.\.'/, 'the message names the segment')
  const backslashes = await api.delete(`${CM}/x\\..\\..`)
  t.equal(backslashes.status, 404, 'a backslash is part of a name, not a separator')
  t.equal(api.snapshot(), before, 'nothing changed')
  t.equal((await api.get('/api/v1/namespaces/default')).status, 200, 'the namespace is still there')
  t.equal((await api.get(`${CM}/%73ettings`)).json?.metadata?.name, 'settings', 'percent-encoded ordinary characters still name objects')
  t.equal((await api.get('/api/v1/')).status, 200, 'a trailing slash still reaches discovery')
})

/** `{"a":{"a":…{}…}}` with `depth` levels of objects. */
function nested(depth: number): unknown {
  let value: unknown = {}
  for (let level = 1; level < depth; level++) value = { a: value }
  return value
}

t.test(`bodies are refused past ${NESTING_DEPTH_MAX} levels; the deepest allowed object survives every verb`, async (t) => {
  const api = await harness(t)
  // The body is one level (the ConfigMap) above its `extra` field.
  const deepest = { ...configMap('deep'), extra: nested(NESTING_DEPTH_MAX - 1) }
  const created = await api.post(CM, deepest)
  t.equal(created.status, 201, `a body ${NESTING_DEPTH_MAX} levels deep is created`)
  const watch = await api.watch(`${CM}?watch=true&resourceVersion=${created.json.metadata.resourceVersion}`)
  t.teardown(() => watch.close())
  const tableWatch = await api.watch(`${CM}?watch=true`, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' })
  t.teardown(() => tableWatch.close())
  t.equal((await api.get(`${CM}/deep`)).status, 200, 'read back')
  t.equal((await api.get(CM)).json.items.length, 1, 'listed')
  t.equal((await api.get(`${CM}?includeObject=Object`, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' })).json.kind, 'Table', 'listed as a Table with its object')
  const current = (await api.get(`${CM}/deep`)).json
  t.equal((await api.put(`${CM}/deep`, { ...current, data: { key: 'put' } })).status, 200, 'replaced')
  t.equal((await api.patch(`${CM}/deep`, { data: { key: 'merged' } })).status, 200, 'merge-patched')
  t.equal((await api.patch(`${CM}/deep`, { data: { key: 'strategic' } }, 'application/strategic-merge-patch+json')).status, 200, 'strategic-merge-patched')
  const applied = await api.request('PATCH', `${CM}/deep?fieldManager=deep&force=true`, { body: JSON.stringify({ ...deepest, data: { key: 'applied' } }), contentType: 'application/apply-patch+yaml' })
  t.equal(applied.status, 200, 'applied')
  await watch.until('the watch to see every change', (events) => (events.length >= 4 ? true : undefined))
  await tableWatch.until('the Table watch to see them', (events) => (events.length >= 4 ? true : undefined))
  t.equal((await api.delete(`${CM}/deep`)).status, 200, 'deleted')

  const before = api.snapshot()
  const refused = async (what: string, reply: Promise<Awaited<ReturnType<ApiHarness['request']>>>, message = new RegExp(`nested more than ${NESTING_DEPTH_MAX} levels deep`)): Promise<void> => {
    const answer = await reply
    t.equal(answer.status, 400, `${what}: 400`)
    t.match(answer.json?.message ?? '', message, `${what}: says why`)
  }
  const deeper = { ...configMap('deeper'), extra: nested(NESTING_DEPTH_MAX) }
  await refused('POST one level deeper', api.post(CM, deeper))
  // The YAML parser runs out of stack some hundreds of levels down, before the limit.
  await refused('a YAML body that deep', api.post(CM, JSON.stringify(deeper), 'application/yaml'), /nested more deeply than this server can parse as YAML/)
  await refused('a 10,001-level body', api.post(CM, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":${'{"a":'.repeat(10_001)}"x"${'}'.repeat(10_001)}}}`))
  t.equal(api.snapshot(), before, 'nothing was written')

  await api.post(CM, { ...configMap('almost'), extra: nested(NESTING_DEPTH_MAX - 2) })
  const beforePatch = api.snapshot()
  const deepPath = `/extra${'/a'.repeat(NESTING_DEPTH_MAX - 3)}/b`
  await refused('a JSON patch whose result is too deep', api.patch(`${CM}/almost`, [{ op: 'add', path: deepPath, value: { c: { d: {} } } }], 'application/json-patch+json'))
  t.equal(api.snapshot(), beforePatch, 'the patch changed nothing')
})

t.test('integers beyond their field\'s width are 422', async (t) => {
  const api = await harness(t)
  const withReplicas = (name: string, replicas: number | string): string => JSON.stringify(deployment(name)).replace('"replicas":1', `"replicas":${replicas}`)
  const before = api.snapshot()
  for (const replicas of ['2147483648', '99999999999999999999', '1e20', '-2147483649']) {
    const reply = await api.post(DEPLOYMENTS, withReplicas('huge', replicas))
    t.equal(reply.status, 422, `replicas ${replicas}: 422`)
    t.match(reply.json?.message ?? '', /spec\.replicas: Invalid value/, `replicas ${replicas}: names the field`)
  }
  t.equal(api.snapshot(), before, 'nothing was written')
  t.equal((await api.post(DEPLOYMENTS, withReplicas('largest', '2147483647'))).status, 201, 'the largest int32 is accepted')
  t.match((await api.post(DEPLOYMENTS, withReplicas('over', '2147483648'))).json.message, /must be a 32-bit integer/, 'the message says why')
  const scale = await api.request('PUT', `${DEPLOYMENTS}/largest/scale`, { body: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'largest', namespace: 'default' }, spec: { replicas: 2 ** 31 } } })
  t.equal(scale.status, 422, 'a Scale beyond int32 is 422')
  const job = (parallelism: number, activeDeadlineSeconds: number): unknown => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `job-${parallelism}` },
    spec: { parallelism, activeDeadlineSeconds, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.36' }] } } },
  })
  t.equal((await api.post('/apis/batch/v1/namespaces/default/jobs', job(2 ** 31, 1))).status, 422, 'a Job parallelism beyond int32 is 422')
  t.equal((await api.post('/apis/batch/v1/namespaces/default/jobs', job(1, 2 ** 40))).status, 201, 'its activeDeadlineSeconds is an int64 and may be larger')
})

t.test('a refused body is read to its end before the connection closes', async (t) => {
  const api = await harness(t)
  const bodyBytes = 4 * 1024 * 1024
  const socket = connect(api.port(), '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  let ended = false
  const errors: string[] = []
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => (received += chunk))
  socket.on('end', () => (ended = true))
  socket.on('error', (error) => errors.push(error.message))
  socket.write(`POST ${CM} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${bodyBytes}\r\n\r\n`)
  const { waitFor } = await import('../../../lib/poll.ts')
  await waitFor('the 413 before any of the body is sent', 5000, () => (/\r\n\r\n\{.*\}$/s.test(received) ? true : undefined))
  t.match(received, /^HTTP\/1\.1 413 /, 'the answer is a 413')
  t.match(received, /\r\nconnection: close\r\n/i, 'that closes the connection')
  t.match(received, /"reason":"RequestEntityTooLarge"/)
  // The client only now sends the body, as a client that writes first and reads later does.
  const chunk = Buffer.alloc(64 * 1024, 'x')
  for (let sent = 0; sent < bodyBytes; sent += chunk.byteLength) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve))
  }
  await waitFor('the server to close once the body is in', 5000, () => (ended || errors.length > 0 ? true : undefined))
  t.same(errors, [], 'the client sent its whole body without a reset or a broken pipe')
  t.ok(ended, 'and then the server closed the connection')
})

/** A backend whose writes fail with an error no layer expects. */
class BrokenBackend extends MemoryObjectBackend {
  override async write(command: StoreCommand): ReturnType<MemoryObjectBackend['write']> {
    if (command.op === 'put' && command.key.includes('/broken')) throw new TypeError('cannot read properties of undefined (reading "secret internals")')
    return super.write(command)
  }
}

t.test('an unexpected failure is a 500 with a fixed message, and the details go to the log', async (t) => {
  const logged: string[] = []
  const api = new ApiHandler({ objects: new ObjectStore(new BrokenBackend()), serverAddress: '127.0.0.1:1', log: (line) => logged.push(line) })
  await api.ensureSystemNamespaces()
  const { createServer } = await import('node:http')
  const server = createServer((request, response) => void api.handle(request, response))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const port = (server.address() as { port: number }).port
  const reply = await fetch(`http://127.0.0.1:${port}${CM}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(configMap('broken')) })
  const status = (await reply.json()) as { code: number; message: string }
  t.equal(reply.status, 500)
  t.equal(status.message, 'Internal error occurred: an unexpected error occurred; see the server log', 'the client learns nothing of the internals')
  t.equal(logged.length, 1, 'one line is logged')
  t.match(logged[0], /POST \/api\/v1\/namespaces\/default\/configmaps: TypeError: cannot read properties of undefined \(reading "secret internals"\)/, 'with the request and the error')
})
