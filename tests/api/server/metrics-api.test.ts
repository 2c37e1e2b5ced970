// Goal: metrics.k8s.io/v1beta1 is served as metrics-server serves it, from the agents' records:
// discovery lists the group (only when the API has a metrics source) and its two read-only
// resources; NodeMetrics/PodMetrics and their lists have metrics-server's exact shapes and
// canonical quantities; items exist only for live Nodes and Pods (uid and node checked), label
// and field selectors select on the live objects, stale records are not served, unknown items
// are metrics-server's 404s, and writes, watches and unknown paths are refused without touching
// the store. Then the real kubectl 1.20 `top pods|nodes` and `flotilla top` print the figures.
// Method: an ApiHandler over MemoryObjectBackend with a MetricsApi, on 127.0.0.1 over plain HTTP,
// records written through NodeMetricsWriter, a hand-driven clock for staleness.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { ApiHandler } from '../../../node/src/api/server/api-handler.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { goDuration, MetricsApi, rfc3339, usageOf } from '../../../node/src/api/server/metrics-api.ts'
import { NODE_METRICS_PREFIX, NodeMetricsReader, NodeMetricsWriter, type NodeMetricsRecord } from '../../../node/src/api/server/node-metrics-store.ts'
import { ObjectStore, type ResourceRef } from '../../../node/src/api/server/object-store.ts'
import { flotilla, workDirectory } from '../../kubectl/test-api-server.ts'

const KUBECTL = resolve(import.meta.dirname, '../../../.tools/kubectl120/usr/bin/kubectl')
const run = promisify(execFile)
const PERIOD_MS = 15_000
const T0 = 1_700_000_000_000
const MIB = 1024 * 1024
const GIB = 1024 * MIB
const BASE = '/apis/metrics.k8s.io/v1beta1'

const NODES: ResourceRef = { group: '', resource: 'nodes', kind: 'Node', apiVersion: 'v1', namespaced: false }
const PODS: ResourceRef = { group: '', resource: 'pods', kind: 'Pod', apiVersion: 'v1', namespaced: true }

interface Reply {
  readonly status: number
  readonly json: any
}

/** An API with (or without) metrics on 127.0.0.1, its store, and a clock the test moves. */
interface MetricsWorld {
  readonly backend: MemoryObjectBackend
  readonly objects: ObjectStore
  readonly url: string
  nowMs: number
  get(path: string, method?: string): Promise<Reply>
  /** Writes a record as node `node`'s agent would. */
  publish(node: string, record: Omit<NodeMetricsRecord, 'node' | 'periodMs' | 'windowMs' | 'timestampMs'> & { timestampMs?: number }): Promise<void>
  /** Pod uids by `namespace/name`, as `cluster` created them. */
  readonly uids: Map<string, string>
  uid(namespace: string, name: string): string
}

async function metricsWorld(t: Test, options: { metrics?: boolean } = {}): Promise<MetricsWorld> {
  const backend = new MemoryObjectBackend()
  const world = { nowMs: T0 } as MetricsWorld
  const objects = new ObjectStore(backend, { nowIso: () => rfc3339(world.nowMs) })
  const metrics = options.metrics === false ? undefined : new MetricsApi({ objects, records: new NodeMetricsReader({ backend, nowMs: () => world.nowMs }) })
  const api = new ApiHandler({ objects, serverAddress: '127.0.0.1:1', log: (line) => t.comment(line), ...(metrics === undefined ? {} : { metrics }) })
  await api.ensureSystemNamespaces()
  const server: Server = createServer((request, response) => void api.handle(request, response))
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  t.teardown(() => new Promise<void>((done) => {
    server.closeAllConnections()
    server.close(() => done())
  }))
  const port = (server.address() as AddressInfo).port
  const uids = new Map<string, string>()
  const writers = new Map<string, NodeMetricsWriter>()
  return Object.assign(world, {
    backend,
    objects,
    url: `http://127.0.0.1:${port}`,
    get: (path: string, method = 'GET') =>
      new Promise<Reply>((done, fail) => {
        const outgoing = httpRequest({ host: '127.0.0.1', port, path, method }, (response) => {
          let text = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => (text += chunk))
          response.on('end', () => done({ status: response.statusCode ?? 0, json: text === '' ? undefined : JSON.parse(text) }))
        })
        outgoing.on('error', fail)
        outgoing.end(method === 'POST' ? '{}' : undefined)
      }),
    publish: async (node: string, record: Parameters<MetricsWorld['publish']>[1]) => {
      let writer = writers.get(node)
      if (writer === undefined) writers.set(node, (writer = new NodeMetricsWriter({ backend, nodeName: node })))
      await writer.publish({ node, periodMs: PERIOD_MS, windowMs: PERIOD_MS, timestampMs: world.nowMs, ...record })
    },
    uids,
    uid: (namespace: string, name: string) => uids.get(`${namespace}/${name}`) ?? 'no-such-uid',
  })
}

/** Nodes n1, n2, n3 (n3 without a record) and pods on n1 and n2, with records for n1, n2 and a gone n9. */
async function cluster(world: MetricsWorld): Promise<void> {
  const node = (name: string, zone: string, cpu: string, memory: string): JsonObject => ({
    metadata: { name, labels: { zone, 'kubernetes.io/hostname': name } },
    status: { capacity: { cpu, memory, pods: '110' }, allocatable: { cpu, memory, pods: '110' } },
  })
  await world.objects.create(NODES, undefined, node('n1', 'a', '4', '8Gi'))
  await world.objects.create(NODES, undefined, node('n2', 'b', '2', '4Gi'))
  await world.objects.create(NODES, undefined, node('n3', 'b', '2', '4Gi'))
  const pod = async (namespace: string, name: string, nodeName: string, labels: Record<string, string>, containers: string[]) => {
    const created = await world.objects.create(PODS, namespace, { metadata: { name, labels }, spec: { nodeName, containers: containers.map((container) => ({ name: container, image: 'busybox' })) } })
    world.uids.set(`${namespace}/${name}`, String((created['metadata'] as JsonObject)['uid']))
  }
  await pod('default', 'web-1', 'n1', { app: 'web' }, ['app', 'sidecar'])
  await pod('default', 'web-2', 'n2', { app: 'web' }, ['app'])
  await pod('default', 'db', 'n1', { app: 'db' }, ['db'])
  await pod('default', 'moved', 'n2', { app: 'db' }, ['db'])
  await pod('default', 'recreated', 'n1', { app: 'db' }, ['db'])
  await pod('kube-system', 'dns', 'n2', { app: 'dns' }, ['dns'])
  await world.publish('n1', {
    usage: { cpuNanoCores: 1_250_000_000, memoryBytes: 3 * GIB },
    pods: [
      { namespace: 'default', name: 'web-1', uid: world.uid('default', 'web-1'), containers: [{ name: 'app', cpuNanoCores: 250_123_456, memoryBytes: 10_240 * 1024 }, { name: 'sidecar', cpuNanoCores: 1_000_000, memoryBytes: MIB }] },
      { namespace: 'default', name: 'db', uid: world.uid('default', 'db'), containers: [{ name: 'db', cpuNanoCores: 500_000_000, memoryBytes: GIB }] },
      // The pod now runs on n2; n1's entry for it is a leftover.
      { namespace: 'default', name: 'moved', uid: world.uid('default', 'moved'), containers: [{ name: 'db', cpuNanoCores: 7_000_000, memoryBytes: MIB }] },
      // A predecessor of the pod under the same name.
      { namespace: 'default', name: 'recreated', uid: 'old-uid', containers: [{ name: 'db', cpuNanoCores: 9_000_000, memoryBytes: MIB }] },
    ],
  })
  await world.publish('n2', {
    usage: { cpuNanoCores: 100_000_000, memoryBytes: 512 * MIB },
    pods: [
      { namespace: 'default', name: 'web-2', uid: world.uid('default', 'web-2'), containers: [{ name: 'app', cpuNanoCores: 1_500, memoryBytes: 12_345_678 }] },
      { namespace: 'kube-system', name: 'dns', uid: world.uid('kube-system', 'dns'), containers: [{ name: 'dns', cpuNanoCores: 2_000_000_000, memoryBytes: 20 * MIB }] },
    ],
  })
  await world.publish('n9', { usage: { cpuNanoCores: 1, memoryBytes: 1 }, pods: [] })
}

const names = (reply: Reply): string[] => (reply.json.items as Array<{ metadata: { namespace?: string; name: string } }>).map(({ metadata }) => (metadata.namespace === undefined ? metadata.name : `${metadata.namespace}/${metadata.name}`))

t.test('discovery: the group is listed last in /apis, with two read-only resources', async (t) => {
  const world = await metricsWorld(t)
  const groups = (await world.get('/apis')).json.groups as Array<{ name: string }>
  t.equal(groups.at(-1)?.name, 'metrics.k8s.io', 'after the built-in groups, as aggregated groups are')
  t.same(groups.at(-1), { name: 'metrics.k8s.io', versions: [{ groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' }], preferredVersion: { groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' } })
  t.same((await world.get('/apis/metrics.k8s.io')).json, { kind: 'APIGroup', apiVersion: 'v1', ...groups.at(-1) })
  t.same((await world.get(BASE)).json, {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'metrics.k8s.io/v1beta1',
    resources: [
      { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ],
  })
  t.notOk(JSON.stringify((await world.get('/openapi/v2', 'GET')).json ?? {}).includes('PodMetrics'), 'not part of the stored resources\' OpenAPI')

  const without = await metricsWorld(t, { metrics: false })
  t.notOk(((await without.get('/apis')).json.groups as Array<{ name: string }>).some((group) => group.name === 'metrics.k8s.io'), 'absent without a metrics source')
  t.equal((await without.get('/apis/metrics.k8s.io')).status, 404)
  t.equal((await without.get(`${BASE}/pods`)).status, 404)
})

t.test('NodeMetrics: live nodes with fresh records, metrics-server\'s shapes', async (t) => {
  const world = await metricsWorld(t)
  await cluster(world)
  const list = await world.get(`${BASE}/nodes`)
  t.equal(list.status, 200)
  t.same(list.json, {
    kind: 'NodeMetricsList',
    apiVersion: 'metrics.k8s.io/v1beta1',
    metadata: {},
    items: [
      { metadata: { name: 'n1', creationTimestamp: rfc3339(T0), labels: { zone: 'a', 'kubernetes.io/hostname': 'n1' } }, timestamp: rfc3339(T0), window: '15s', usage: { cpu: '1250m', memory: '3Gi' } },
      { metadata: { name: 'n2', creationTimestamp: rfc3339(T0), labels: { zone: 'b', 'kubernetes.io/hostname': 'n2' } }, timestamp: rfc3339(T0), window: '15s', usage: { cpu: '100m', memory: '512Mi' } },
    ],
  }, 'n3 has no record; n9 has a record but no Node')
  const one = await world.get(`${BASE}/nodes/n2`)
  t.same(one.json, { kind: 'NodeMetrics', apiVersion: 'metrics.k8s.io/v1beta1', ...list.json.items[1] })
  t.same(names(await world.get(`${BASE}/nodes?labelSelector=zone%3Db`)), ['n2'], 'labels of the Node objects')
  t.same(names(await world.get(`${BASE}/nodes?fieldSelector=metadata.name%3Dn1`)), ['n1'])

  for (const name of ['n3', 'n9', 'nope']) {
    const missing = await world.get(`${BASE}/nodes/${name}`)
    t.equal(missing.status, 404)
    t.match(missing.json, { kind: 'Status', reason: 'NotFound', message: `nodemetrics.metrics.k8s.io "${name}" not found` }, `${name}: metrics-server's 404`)
  }
})

t.test('PodMetrics: live pods on the node that measured them, selectors on the pods', async (t) => {
  const world = await metricsWorld(t)
  await cluster(world)
  const list = await world.get(`${BASE}/namespaces/default/pods`)
  t.same(list.json, {
    kind: 'PodMetricsList',
    apiVersion: 'metrics.k8s.io/v1beta1',
    metadata: {},
    items: [
      { metadata: { name: 'db', namespace: 'default', creationTimestamp: rfc3339(T0), labels: { app: 'db' } }, timestamp: rfc3339(T0), window: '15s', containers: [{ name: 'db', usage: { cpu: '500m', memory: '1Gi' } }] },
      {
        metadata: { name: 'web-1', namespace: 'default', creationTimestamp: rfc3339(T0), labels: { app: 'web' } }, timestamp: rfc3339(T0), window: '15s',
        containers: [{ name: 'app', usage: { cpu: '250123456n', memory: '10Mi' } }, { name: 'sidecar', usage: { cpu: '1m', memory: '1Mi' } }],
      },
      { metadata: { name: 'web-2', namespace: 'default', creationTimestamp: rfc3339(T0), labels: { app: 'web' } }, timestamp: rfc3339(T0), window: '15s', containers: [{ name: 'app', usage: { cpu: '1500n', memory: '12345678' } }] },
    ],
  }, 'not "moved" (n1 measured it, it runs on n2) nor "recreated" (another uid)')
  t.same(names(await world.get(`${BASE}/pods`)), ['default/db', 'default/web-1', 'default/web-2', 'kube-system/dns'], 'every namespace')
  t.same(names(await world.get(`${BASE}/namespaces/default/pods?labelSelector=app%3Dweb`)), ['default/web-1', 'default/web-2'])
  t.same(names(await world.get(`${BASE}/pods?labelSelector=app+notin+(web)`)), ['default/db', 'kube-system/dns'])
  t.same(names(await world.get(`${BASE}/pods?fieldSelector=metadata.namespace%3Dkube-system`)), ['kube-system/dns'])
  const one = await world.get(`${BASE}/namespaces/kube-system/pods/dns`)
  t.same(one.json, { kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1', metadata: { name: 'dns', namespace: 'kube-system', creationTimestamp: rfc3339(T0), labels: { app: 'dns' } }, timestamp: rfc3339(T0), window: '15s', containers: [{ name: 'dns', usage: { cpu: '2', memory: '20Mi' } }] })
  for (const path of ['default/pods/recreated', 'default/pods/moved', 'default/pods/nope', 'other/pods/web-1']) {
    const missing = await world.get(`${BASE}/namespaces/${path}`)
    t.equal(missing.status, 404)
    const [namespace, , name] = path.split('/')
    t.match(missing.json, { kind: 'Status', reason: 'NotFound', message: `podmetrics.metrics.k8s.io "${namespace}/${name}" not found` }, path)
  }
  const bad = await world.get(`${BASE}/pods?labelSelector=app%3D%3D%3D`)
  t.equal(bad.status, 400, 'a malformed selector is a 400')
  t.equal((await world.get(`${BASE}/pods?fieldSelector=spec.nodeName%3Dn1`)).status, 400, 'unsupported field labels too')
})

t.test('stale records are not served; a new write brings the node back', async (t) => {
  const world = await metricsWorld(t)
  await cluster(world)
  world.nowMs = T0 + 3 * PERIOD_MS
  t.same(names(await world.get(`${BASE}/nodes`)), ['n1', 'n2'], 'three periods old: still fresh')
  world.nowMs += 1
  t.same(names(await world.get(`${BASE}/nodes`)), [], 'older: its agent stopped')
  t.same(names(await world.get(`${BASE}/pods`)), [])
  await world.publish('n2', { usage: { cpuNanoCores: 300_000_000, memoryBytes: GIB }, pods: [] })
  const back = await world.get(`${BASE}/nodes`)
  t.same(names(back), ['n2'])
  t.match(back.json.items[0], { timestamp: rfc3339(world.nowMs), usage: { cpu: '300m', memory: '1Gi' } })
})

t.test('read-only: writes, watches and unknown paths are refused and the store is untouched', async (t) => {
  const world = await metricsWorld(t)
  await cluster(world)
  const before = world.backend.store.rangeAll('').revision
  for (const [method, path, status] of [
    ['POST', `${BASE}/namespaces/default/pods`, 405],
    ['DELETE', `${BASE}/namespaces/default/pods/db`, 405],
    ['PUT', `${BASE}/nodes/n1`, 405],
    ['GET', `${BASE}/pods?watch=true`, 405],
    ['GET', `${BASE}/namespaces/default/pods/db/status`, 404],
    ['GET', `${BASE}/deployments`, 404],
    ['GET', '/apis/metrics.k8s.io/v1alpha1/pods', 404],
    ['GET', `${BASE}/namespaces/default`, 404],
  ] as const) {
    const reply = await world.get(path, method)
    t.equal(reply.status, status, `${method} ${path}`)
    t.equal(reply.json?.kind, 'Status')
  }
  t.equal(world.backend.store.rangeAll('').revision, before, 'nothing was written')
  t.same(world.backend.store.rangeAll('/registry/metrics.k8s.io/').items, [], 'no objects of the group exist')
  t.equal(world.backend.store.rangeAll(NODE_METRICS_PREFIX).items.length, 3)
})

t.test('quantities and windows as Kubernetes prints them', async (t) => {
  t.same(usageOf({ cpuNanoCores: 0, memoryBytes: 0 }), { cpu: '0', memory: '0' })
  t.same(usageOf({ cpuNanoCores: 1000, memoryBytes: 4096 * 3 }), { cpu: '1u', memory: '12Ki' })
  t.same(usageOf({ cpuNanoCores: 2_500_000_000, memoryBytes: 1536 * MIB }), { cpu: '2500m', memory: '1536Mi' })
  t.same(['0s', '500ms', '15s', '15.003s', '15.25s', '1m0s', '1m30.5s', '1h0m0s'], [0, 500, 15_000, 15_003, 15_250, 60_000, 90_500, 3_600_000].map(goDuration))
  t.equal(rfc3339(T0 + 999), '2023-11-14T22:13:20Z')
})

t.test('flotilla top reads the metrics API', async (t) => {
  const world = await metricsWorld(t)
  await cluster(world)
  const work = workDirectory([world.url])
  t.teardown(() => work.cleanup())
  const pods = await flotilla(work.dir, work.kubeconfig, ['top', 'pods'])
  t.equal(pods.code, 0, pods.stderr)
  t.match(pods.stdout, /^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\ndb\s+500m\s+1024Mi\s*\nweb-1\s+252m\s+11Mi\s*\nweb-2\s+1m\s+11Mi\s*\n$/)
  const nodes = await flotilla(work.dir, work.kubeconfig, ['top', 'nodes'])
  t.equal(nodes.code, 0, nodes.stderr)
  t.match(nodes.stdout, /^NAME\s+CPU\(cores\)\s+CPU%\s+MEMORY\(bytes\)\s+MEMORY%\s*\nn1\s+1250m\s+31%\s+3072Mi\s+37%\s*\nn2\s+100m\s+5%\s+512Mi\s+12%\s*\nn3\s+<unknown>/)
  const selected = await flotilla(work.dir, work.kubeconfig, ['top', 'pods', '-A', '-l', 'app in (dns)'])
  t.match(selected.stdout, /^NAMESPACE\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*\nkube-system\s+dns\s+2000m\s+20Mi\s*\n$/)
})

interface KubectlResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** kubectl 1.20 against `url` over plain HTTP, with its own kubeconfig and discovery cache. */
function kubectlFor(t: Test, url: string): (...args: string[]) => Promise<KubectlResult> {
  const work = mkdtempSync(join(tmpdir(), 'flotilla-metrics-kubectl-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const kubeconfig = join(work, 'kubeconfig')
  writeFileSync(kubeconfig, ['apiVersion: v1', 'kind: Config', `clusters: [{name: local, cluster: {server: "${url}"}}]`, 'users: [{name: me, user: {}}]', 'contexts: [{name: local, context: {cluster: local, user: me}}]', 'current-context: local', ''].join('\n'))
  return async (...args) => {
    try {
      const { stdout, stderr } = await run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(work, 'cache'), ...args], { timeout: 30_000 })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const failure = error as { code?: number; stdout?: string; stderr?: string }
      return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' }
    }
  }
}

if (!existsSync(KUBECTL)) {
  t.test('kubectl 1.20 top', { skip: `kubectl 1.20 is not installed at ${KUBECTL}` }, async () => {})
} else {
  t.test('kubectl 1.20 top pods', async (t) => {
    const world = await metricsWorld(t)
    await cluster(world)
    const kubectl = kubectlFor(t, world.url)
    const pods = await kubectl('top', 'pods')
    t.equal(pods.code, 0, pods.stderr)
    t.match(pods.stdout, /^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*\ndb\s+500m\s+1024Mi\s*\nweb-1\s+252m\s+11Mi\s*\nweb-2\s+1m\s+11Mi\s*\n$/, 'kubectl sums the containers')
    const all = await kubectl('top', 'pods', '-A', '-l', 'app!=web')
    t.match(all.stdout, /^NAMESPACE\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*\ndefault\s+db\s+500m\s+1024Mi\s*\nkube-system\s+dns\s+2000m\s+20Mi\s*\n$/)
    const containers = await kubectl('top', 'pod', 'web-1', '--containers')
    t.equal(containers.code, 0, containers.stderr)
    t.match(containers.stdout, /^POD\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*\nweb-1\s+app\s+251m\s+10Mi\s*\nweb-1\s+sidecar\s+1m\s+1Mi\s*\n$/)
    const missing = await kubectl('top', 'pod', 'recreated')
    t.not(missing.code, 0)
    t.equal(missing.stderr, 'Error from server (NotFound): podmetrics.metrics.k8s.io "default/recreated" not found\n')
    const got = await kubectl('get', 'podmetrics')
    t.match(got.stdout, /^NAME\s+AGE\s*\ndb\s.*\nweb-1\s.*\nweb-2\s/, 'kubectl get resolves the kind through discovery and lists the items')
    const empty = await kubectl('top', 'pods', '-n', 'kube-public')
    t.equal(empty.code, 0, empty.stderr)
    t.match(empty.stderr, /No resources found in kube-public namespace/, 'kubectl lists the pods to tell "none" from "not yet"')
  })

  t.test('kubectl 1.20 top nodes', async (t) => {
    const world = await metricsWorld(t)
    await cluster(world)
    const kubectl = kubectlFor(t, world.url)
    const nodes = await kubectl('top', 'nodes')
    t.equal(nodes.code, 0, nodes.stderr)
    t.match(nodes.stdout, /^NAME\s+CPU\(cores\)\s+CPU%\s+MEMORY\(bytes\)\s+MEMORY%\s*\nn1\s+1250m\s+31%\s+3072Mi\s+37%\s*\nn2\s+100m\s+5%\s+512Mi\s+12%\s*\nn3\s+<unknown>\s/, 'percentages of the Nodes\' allocatable; a node without metrics is <unknown>')
    const zone = await kubectl('top', 'nodes', '-l', 'zone=a')
    t.match(zone.stdout, /\nn1\s+1250m/)
    t.notMatch(zone.stdout, /n2/)
    const node = await kubectl('top', 'node', 'n2')
    t.match(node.stdout, /^NAME\s+CPU\(cores\).*\nn2\s+100m\s+5%\s+512Mi\s+12%\s*\n$/)
  })

  t.test('kubectl 1.20 top without a metrics source: the group is not served', async (t) => {
    const world = await metricsWorld(t, { metrics: false })
    const top = await kubectlFor(t, world.url)('top', 'pods')
    t.not(top.code, 0)
    t.equal(top.stderr, 'error: Metrics API not available\n')
  })
}
