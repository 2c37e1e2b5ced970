// Goal: the small decisions inside the verbs match kubectl: what apply reports, which log
// request `logs` sends, how watch lines are read, how `top` formats usage, how `cluster status`
// judges health. Method: tables over the pure helpers, and `top` run in process against a fake
// server that serves metrics.k8s.io.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { DaemonStatus } from '../../node/src/daemon.ts'
import { applyOutcome } from '../../node/src/kubectl/apply-command.ts'
import { parseArguments } from '../../node/src/kubectl/arguments.ts'
import { clusterHealth } from '../../node/src/kubectl/cluster-status-command.ts'
import type { CommandIo } from '../../node/src/kubectl/command-context.ts'
import { propagationPolicy } from '../../node/src/kubectl/delete-command.ts'
import { LOGS_FLAGS, logQuery, podNameOf } from '../../node/src/kubectl/logs-command.ts'
import { readsAsNonString } from '../../node/src/kubectl/object-printer.ts'
import { runKubectlVerb } from '../../node/src/kubectl/run-verb.ts'
import { formatCpu, formatMemory } from '../../node/src/kubectl/top-command.ts'
import { parseWatchLine, resourceVersionOf } from '../../node/src/kubectl/watch-events.ts'
import { kubeconfigText } from './test-api-server.ts'

t.test('applyOutcome tells created, unchanged and configured apart', async (t) => {
  t.equal(applyOutcome(undefined, 200, '5'), 'created', 'absent before')
  t.equal(applyOutcome('4', 201, '5'), 'created', '201 Created')
  t.equal(applyOutcome('4', 200, '4'), 'unchanged')
  t.equal(applyOutcome('4', 200, '5'), 'configured')
  t.equal(applyOutcome(null, 200, '5'), 'serverside-applied', 'before unknown: kubectl wording')
})

t.test('logs and delete translate flags into the request kubectl sends', async (t) => {
  t.equal(podNameOf('web-1'), 'web-1')
  t.equal(podNameOf('pod/web-1'), 'web-1')
  t.equal(podNameOf('po/web-1'), 'web-1')
  t.throws(() => podNameOf('deploy/web'), /logs takes a pod name/)
  const query = (argv: string[]) => Object.fromEntries(Object.entries(logQuery(parseArguments(argv, LOGS_FLAGS))).filter(([, value]) => value !== undefined))
  t.same(query(['-c', 'app', '-f', '--tail', '10', '--previous', '--timestamps', '--since', '90s']), { container: 'app', follow: 'true', tailLines: '10', previous: 'true', timestamps: 'true', sinceSeconds: '90' })
  t.same(query(['--tail=-1']), {}, '--tail=-1 means everything')
  t.equal(propagationPolicy(undefined), 'Background')
  t.equal(propagationPolicy('foreground'), 'Foreground')
  t.equal(propagationPolicy('false'), 'Orphan', "kubectl's old boolean spelling")
})

t.test('parseWatchLine reads events and turns ERROR events into Status errors', async (t) => {
  t.same(parseWatchLine('{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"7"}}}'), { type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '7' } } })
  t.equal(parseWatchLine('not json'), undefined)
  t.equal(parseWatchLine('{"type":"SOMETHING","object":{}}'), undefined)
  t.throws(() => parseWatchLine('{"type":"ERROR","object":{"kind":"Status","reason":"Expired","message":"too old resource version: 1 (9)","code":410}}'), { name: 'ServerError', code: 410, message: 'too old resource version: 1 (9)' })
  t.equal(resourceVersionOf({ kind: 'Table', metadata: { resourceVersion: '3' }, rows: [{ cells: [], object: { metadata: { resourceVersion: '9' } } }] }), '9', 'a Table event: its row object')
  t.equal(resourceVersionOf({ kind: 'Pod', metadata: { resourceVersion: '4' } }), '4')
})

t.test('YAML output quotes exactly the strings YAML 1.1 readers would misread', async (t) => {
  for (const text of ['yes', 'No', 'on', 'OFF', 'y', 'true', 'null', '~', '', '42', '-7', '0x1F', '0755', '3.14', '.5', '1e+3', '.inf', '.NaN', '2026-01-01', '2026-01-01T10:00:00Z', '1:30']) t.ok(readsAsNonString(text), text)
  for (const text of ['nginx:1.20', 'hello', 'v1', '10.0.0.1', '1.2.3', 'yes-please', '25%', '100m', '2026-01-01x']) t.notOk(readsAsNonString(text), text)
})

t.test('clusterHealth judges a cluster by its leader, members and voter quorum', async (t) => {
  const member = (nodeId: string, raftRole: string, alive: boolean) => ({ nodeId, name: nodeId, zone: 'z', peerId: nodeId, addresses: [], raftRole, alive })
  const status = (leader: string, members: ReturnType<typeof member>[]): DaemonStatus => ({ clusterId: 'c', nodeId: 'a', name: 'a', zone: 'z', role: 'follower', leader, leaderName: leader, term: 1, commit: 1, applied: 1, revision: 1, members })
  t.equal(clusterHealth(status('a', [member('a', 'voter', true), member('b', 'voter', true), member('c', 'learner', true)])).verdict, 'healthy')
  t.equal(clusterHealth(status('a', [member('a', 'voter', true), member('b', 'voter', true), member('c', 'voter', false)])).verdict, 'degraded')
  t.equal(clusterHealth(status('a', [member('a', 'voter', true), member('b', 'voter', false), member('c', 'voter', false)])).verdict, 'unavailable', 'no quorum of voters')
  t.equal(clusterHealth(status('', [member('a', 'voter', true)])).verdict, 'unavailable', 'no leader')
  t.same(clusterHealth(status('a', [member('a', 'voter', true), member('b', 'voter', true), member('c', 'voter', false), member('d', 'voter', true), member('e', 'voter', true)])), { verdict: 'degraded', membersAlive: 4, members: 5, votersAlive: 4, voters: 5, quorum: 3 })
})

t.test('top prints usage from metrics.k8s.io like kubectl top', async (t) => {
  t.equal(formatCpu(250n), '250m')
  t.equal(formatMemory(1536n * 1024n * 1024n + 5n), '1536Mi')
  const documents: Record<string, unknown> = {
    '/api': { kind: 'APIVersions', versions: ['v1'] },
    '/apis': { kind: 'APIGroupList', groups: [{ name: 'metrics.k8s.io', versions: [{ groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' }], preferredVersion: { groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' } }] },
    '/api/v1': { kind: 'APIResourceList', resources: [{ name: 'nodes', kind: 'Node', namespaced: false, verbs: ['get', 'list'] }, { name: 'pods', kind: 'Pod', namespaced: true, verbs: ['get', 'list'] }] },
    '/apis/metrics.k8s.io/v1beta1': { kind: 'APIResourceList', resources: [{ name: 'nodes', kind: 'NodeMetrics', namespaced: false, verbs: ['get', 'list'] }, { name: 'pods', kind: 'PodMetrics', namespaced: true, verbs: ['get', 'list'] }] },
    '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods': {
      kind: 'PodMetricsList',
      items: [
        { metadata: { name: 'web-1', namespace: 'default' }, containers: [{ name: 'a', usage: { cpu: '1234567n', memory: '10240Ki' } }, { name: 'b', usage: { cpu: '5m', memory: '2Mi' } }] },
        { metadata: { name: 'db-0', namespace: 'default' }, containers: [{ name: 'db', usage: { cpu: '1', memory: '1Gi' } }] },
      ],
    },
    '/apis/metrics.k8s.io/v1beta1/nodes': { kind: 'NodeMetricsList', items: [{ metadata: { name: 'alpha' }, usage: { cpu: '500m', memory: '2Gi' } }] },
    '/api/v1/nodes': {
      kind: 'NodeList',
      items: [
        { metadata: { name: 'alpha' }, status: { allocatable: { cpu: '2', memory: '8Gi' } } },
        { metadata: { name: 'beta' }, status: { allocatable: { cpu: '2', memory: '8Gi' } } },
      ],
    },
  }
  const server = createServer((request, response) => {
    const body = documents[new URL(request.url ?? '/', 'http://x').pathname]
    response.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' })
    response.end(JSON.stringify(body ?? { kind: 'Status', reason: 'NotFound', message: 'not found', code: 404 }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-top-'))
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, kubeconfigText([`http://127.0.0.1:${(server.address() as AddressInfo).port}`]))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
    server.closeAllConnections()
    server.close()
  })
  const run = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    const captured = { out: '', err: '' }
    const io: CommandIo = { write: (text) => void (captured.out += text), error: (text) => void (captured.err += text), isTty: false, readStdin: async () => '', nowMs: () => 0 }
    const code = await runKubectlVerb('top', [...args, '--kubeconfig', kubeconfig], io)
    return { code, ...captured }
  }
  const pods = await run('pods')
  t.equal(pods.code, 0, pods.err)
  t.equal(pods.out, 'NAME    CPU(cores)   MEMORY(bytes)\nweb-1   7m           12Mi\ndb-0    1000m        1024Mi\n', 'containers summed; cpu rounded up to millicores')
  const nodes = await run('nodes')
  t.equal(nodes.out, 'NAME    CPU(cores)   CPU%        MEMORY(bytes)   MEMORY%\nalpha   500m         25%         2048Mi          25%\nbeta    <unknown>    <unknown>   <unknown>       <unknown>\n', 'percent of allocatable; nodes without metrics are unknown')
  t.equal((await run('volumes')).err, 'error: top needs "nodes" or "pods", got "volumes"\n')
})
