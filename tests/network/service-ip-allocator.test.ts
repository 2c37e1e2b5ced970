/**
 * Cluster IP allocation through the Kubernetes API (ApiHandler over a MemoryObjectBackend on
 * 127.0.0.1): Services get a free address of 10.96.0.0/12 with a claim key written in the same
 * transaction; requested addresses are honoured, refused with 422 when taken or out of range;
 * headless and ExternalName Services get none; deleting a Service releases its address; parallel
 * creates never share one.
 */
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import { ApiHandler } from '../../node/src/api/server/api-handler.ts'
import { MemoryObjectBackend } from '../../node/src/api/server/memory-backend.ts'
import { ObjectStore, type ResourceRef } from '../../node/src/api/server/object-store.ts'
import { createWithServiceIp, parseIpv4, parseIpv4Range, SERVICE_IP_CLAIMS_PREFIX } from '../../node/src/api/server/service-ip-allocator.ts'

interface Api {
  readonly objects: ObjectStore
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: Record<string, unknown> }>
  close(): Promise<void>
}

async function startApi(): Promise<Api> {
  const objects = new ObjectStore(new MemoryObjectBackend())
  const api = new ApiHandler({ objects, serverAddress: '127.0.0.1:1', log: () => {} })
  await api.ensureSystemNamespaces()
  const server = http.createServer((req, res) => void api.handle(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    objects,
    async request(method, path, body, contentType = 'application/json') {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': contentType },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function serviceBody(name: string, spec: Record<string, unknown> = {}): unknown {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }], ...spec } }
}

function specOf(body: Record<string, unknown>): Record<string, unknown> {
  return (body['spec'] ?? {}) as Record<string, unknown>
}

const RANGE = parseIpv4Range('10.96.0.0/12')
const SERVICES = '/api/v1/namespaces/default/services'

function inRange(ip: unknown): boolean {
  const value = typeof ip === 'string' ? parseIpv4(ip) : undefined
  return value !== undefined && value >= RANGE.firstUsable && value <= RANGE.lastUsable
}

t.test('a Service gets a free address in 10.96.0.0/12, with its claim', async (t) => {
  const api = await startApi()
  t.teardown(() => api.close())
  const created = await api.request('POST', SERVICES, serviceBody('web'))
  t.equal(created.status, 201)
  const ip = specOf(created.body)['clusterIP']
  t.ok(inRange(ip), `allocated ${String(ip)}`)
  t.same(specOf(created.body)['clusterIPs'], [ip])
  t.same(specOf(created.body)['ipFamilies'], ['IPv4'])
  const read = await api.request('GET', `${SERVICES}/web`)
  t.equal(specOf(read.body)['clusterIP'], ip, 'stored')
  const claims = await api.objects.claimsUnder(SERVICE_IP_CLAIMS_PREFIX)
  t.same(claims.map((claim) => claim.key), [`${SERVICE_IP_CLAIMS_PREFIX}${String(ip)}`])
  t.equal(claims[0]?.modRevision, Number((created.body['metadata'] as Record<string, unknown>)['resourceVersion']), 'claim and Service written in one transaction')

  const updated = await api.request('PUT', `${SERVICES}/web`, { ...(read.body as object), spec: { ...specOf(read.body), ports: [{ port: 81 }] } })
  t.equal(updated.status, 200)
  t.equal(specOf(updated.body)['clusterIP'], ip, 'an update keeps the address')
})

t.test('requested addresses: honoured, 422 when taken or out of range', async (t) => {
  const api = await startApi()
  t.teardown(() => api.close())
  const first = await api.request('POST', SERVICES, serviceBody('a', { clusterIP: '10.96.0.10' }))
  t.equal(first.status, 201)
  t.equal(specOf(first.body)['clusterIP'], '10.96.0.10')

  const taken = await api.request('POST', SERVICES, serviceBody('b', { clusterIP: '10.96.0.10' }))
  t.equal(taken.status, 422)
  t.equal(taken.body['reason'], 'Invalid')
  t.match(String(taken.body['message']), /spec\.clusterIPs\[0\].*provided IP is already allocated/)

  for (const bad of ['10.95.255.254', '10.96.0.0', '10.111.255.255', '192.168.1.1']) {
    const outside = await api.request('POST', SERVICES, serviceBody('c', { clusterIP: bad }))
    t.equal(outside.status, 422, `${bad} refused`)
    t.match(String(outside.body['message']), /provided IP is not in the valid range. The range of valid IPs is 10\.96\.0\.0\/12/)
  }
  t.equal((await api.request('GET', `${SERVICES}/c`)).status, 404, 'nothing was created')

  const dry = await api.request('POST', `${SERVICES}?dryRun=All`, serviceBody('d', { clusterIP: '10.96.0.10' }))
  t.equal(dry.status, 422, 'a dry run checks the same')
})

t.test('headless and ExternalName Services get no address', async (t) => {
  const api = await startApi()
  t.teardown(() => api.close())
  const headless = await api.request('POST', SERVICES, serviceBody('h', { clusterIP: 'None' }))
  t.equal(headless.status, 201)
  t.equal(specOf(headless.body)['clusterIP'], 'None')
  const external = await api.request('POST', SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'e' }, spec: { type: 'ExternalName', externalName: 'example.com' } })
  t.equal(external.status, 201)
  t.equal(specOf(external.body)['clusterIP'], undefined)
  t.same(await api.objects.claimsUnder(SERVICE_IP_CLAIMS_PREFIX), [])
})

t.test('deleting a Service releases its address; a dry run claims nothing', async (t) => {
  const api = await startApi()
  t.teardown(() => api.close())
  t.equal((await api.request('POST', SERVICES, serviceBody('a', { clusterIP: '10.96.0.20' }))).status, 201)
  const dry = await api.request('POST', `${SERVICES}?dryRun=All`, serviceBody('dry'))
  t.equal(dry.status, 201)
  t.ok(inRange(specOf(dry.body)['clusterIP']), 'a dry run shows an address')
  t.equal((await api.objects.claimsUnder(SERVICE_IP_CLAIMS_PREFIX)).length, 1, 'but claims nothing')
  t.equal((await api.request('DELETE', `${SERVICES}/a`)).status, 200)
  const again = await api.request('POST', SERVICES, serviceBody('b', { clusterIP: '10.96.0.20' }))
  t.equal(again.status, 201, 'the address is free again')
  const claims = await api.objects.claimsUnder(SERVICE_IP_CLAIMS_PREFIX)
  t.equal(claims.length, 1)
  t.match(new TextDecoder().decode(claims[0]?.value), /"name":"b"/, 'the stale claim was taken over')
})

t.test('server-side apply of a new Service allocates too', async (t) => {
  const api = await startApi()
  t.teardown(() => api.close())
  const applied = await api.request('PATCH', `${SERVICES}/ssa?fieldManager=test`, serviceBody('ssa'), 'application/apply-patch+yaml')
  t.equal(applied.status, 201)
  t.ok(inRange(specOf(applied.body)['clusterIP']))
})

t.test('parallel creates never share an address, even from a tiny range', async (t) => {
  const objects = new ObjectStore(new MemoryObjectBackend())
  const resource: ResourceRef = { group: '', resource: 'services', kind: 'Service', apiVersion: 'v1', namespaced: true }
  // A /29 has 6 usable addresses: 6 creates must get all of them, the 7th must fail.
  const range = parseIpv4Range('10.96.0.0/29')
  const random = new RandomXoshiro(7)
  const create = (i: number): Promise<Record<string, unknown>> =>
    createWithServiceIp(objects, resource, 'default', { metadata: { name: `s${i}` }, spec: { type: 'ClusterIP', ports: [{ port: 80 }] } }, {}, { range, random })
  const created = await Promise.all([0, 1, 2, 3, 4, 5].map(create))
  const ips = created.map((service) => String(specOf(service)['clusterIP'])).sort()
  t.same(ips, ['10.96.0.1', '10.96.0.2', '10.96.0.3', '10.96.0.4', '10.96.0.5', '10.96.0.6'])
  const error = await create(6).then(() => undefined, (e: unknown) => e)
  t.match(String((error as Error).message), /exhausted/, 'an exhausted range is a clear error')
})

t.test('NodePort Services get free node ports of 30000–32767; requested ones are checked; deletes release them', async (t) => {
  const api = await startApi()
  t.teardown(() => api.close())
  const nodePortsOf = (body: Record<string, unknown>): unknown[] => ((specOf(body)['ports'] ?? []) as Record<string, unknown>[]).map((port) => port['nodePort'])
  const two = await api.request('POST', SERVICES, serviceBody('two', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }))
  t.equal(two.status, 201, JSON.stringify(two.body))
  const ports = nodePortsOf(two.body)
  t.equal(ports.length, 2)
  t.ok(ports.every((port) => typeof port === 'number' && port >= 30000 && port <= 32767), `allocated in range: ${JSON.stringify(ports)}`)
  t.not(ports[0], ports[1], 'distinct ports')
  const claims = (await api.objects.claimsUnder('/registry/flotilla/nodeports/')).map((item) => Number(item.key.split('/').pop()))
  t.same(claims.sort(), [...(ports as number[])].sort(), 'each port claimed in the create')

  const taken = await api.request('POST', SERVICES, serviceBody('taken', { type: 'NodePort', ports: [{ port: 80, nodePort: ports[0] }] }))
  t.equal(taken.status, 422)
  t.match(String(taken.body['message']), /spec\.ports\[0\]\.nodePort.*provided port is already allocated/)
  const outside = await api.request('POST', SERVICES, serviceBody('outside', { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] }))
  t.equal(outside.status, 422)

  const clusterIpOnly = await api.request('POST', SERVICES, serviceBody('plain'))
  t.equal(nodePortsOf(clusterIpOnly.body)[0], undefined, 'a ClusterIP Service gets no node port')

  t.equal((await api.request('DELETE', `${SERVICES}/two`)).status, 200)
  const reuse = await api.request('POST', SERVICES, serviceBody('reuse', { type: 'NodePort', ports: [{ port: 80, nodePort: ports[0] }] }))
  t.equal(reuse.status, 201, 'the deleted Service\'s port is free again')
  t.same(nodePortsOf(reuse.body), [ports[0]])
})
