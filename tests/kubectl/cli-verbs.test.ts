// Goal: the `flotilla` Kubernetes verbs work end to end against Flotilla's API server: get
// (tables, -o yaml/json/name, -A, selectors, -w), describe, apply, delete, scale, rollout
// status/history/undo, logs, top and cluster status, with kubectl's output and errors. Method: the
// CLI as a child process (`node node/src/cli.ts …`) against an in-process ApiHandler over
// MemoryObjectBackend served on 127.0.0.1 over plain HTTP, with a kubeconfig pointing at it; the
// test reads and writes the same store directly to set up state and check effects.
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { waitFor } from '../../lib/poll.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { applyDefaults } from '../../node/src/api/server/kinds.ts'
import type { CommandIo } from '../../node/src/kubectl/command-context.ts'
import { runKubectlVerb } from '../../node/src/kubectl/run-verb.ts'
import { CONFIGMAPS, DEPLOYMENTS, EVENTS, PODS, REPLICASETS, flotilla, flotillaBackground, startTestApiServer, workDirectory } from './test-api-server.ts'

const WAIT_MS = 20_000

const server = await startTestApiServer()
const work = workDirectory([server.url])
t.teardown(async () => {
  await server.close()
  work.cleanup()
})
const run = (...args: string[]) => flotilla(work.dir, work.kubeconfig, args)
const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '')

/**
 * A deployment with three revisions (ReplicaSets), the newest current, and an event about it.
 * Objects get the server's defaults, as the controllers' writes through the API would.
 */
async function createDeploymentWithHistory(name: string): Promise<JsonObject> {
  const template = (image: string) => ({ metadata: { labels: { app: name } }, spec: { containers: [{ name: 'nginx', image }] } })
  const deployment = await server.objects.create(DEPLOYMENTS, 'default', applyDefaults('Deployment', {
    metadata: { name, labels: { app: name }, annotations: { 'deployment.kubernetes.io/revision': '3' } },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: template('nginx:1.22') },
    status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2, readyReplicas: 2 },
  }))
  const uid = (deployment['metadata'] as JsonObject)['uid']!
  const images = ['nginx:1.20', 'nginx:1.21', 'nginx:1.22']
  for (const [index, image] of images.entries()) {
    const hash = `h${index + 1}`
    const base = template(image)
    await server.objects.create(REPLICASETS, 'default', applyDefaults('ReplicaSet', {
      metadata: {
        name: `${name}-${hash}`,
        labels: { app: name, 'pod-template-hash': hash },
        annotations: { 'deployment.kubernetes.io/revision': String(index + 1), ...(index === 1 ? { 'kubernetes.io/change-cause': 'upgrade to 1.21' } : {}) },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid, controller: true }],
      },
      spec: { replicas: index === 2 ? 2 : 0, selector: { matchLabels: { app: name, 'pod-template-hash': hash } }, template: { ...base, metadata: { labels: { app: name, 'pod-template-hash': hash } } } },
      status: { replicas: index === 2 ? 2 : 0 },
    }))
  }
  await server.objects.create(EVENTS, 'default', {
    metadata: { name: `${name}.1` },
    involvedObject: { kind: 'Deployment', name, namespace: 'default', uid },
    type: 'Normal',
    reason: 'ScalingReplicaSet',
    message: `Scaled up replica set ${name}-h3 to 2`,
    source: { component: 'deployment-controller' },
    firstTimestamp: new Date().toISOString(),
    lastTimestamp: new Date().toISOString(),
    count: 1,
  })
  return deployment
}

t.test('get prints tables, objects and names like kubectl get', async (t) => {
  await server.objects.create(CONFIGMAPS, 'default', { metadata: { name: 'app-config', labels: { tier: 'front' } }, data: { a: '1', b: '2' } })
  await server.objects.create(CONFIGMAPS, 'default', { metadata: { name: 'db-config', labels: { tier: 'back' } }, data: { url: 'x' } })
  await server.objects.create(CONFIGMAPS, 'kube-system', { metadata: { name: 'system-config' }, data: {} })

  const table = await run('get', 'configmaps')
  t.equal(table.code, 0, table.stderr)
  const rows = lines(table.stdout)
  t.match(rows[0], /^NAME\s+DATA\s+AGE$/)
  t.match(rows[1], /^app-config\s+2\s+\d+s$/)
  t.match(rows[2], /^db-config\s+1\s+\d+s$/)
  t.equal(rows[1]!.indexOf('2'), rows[0]!.indexOf('DATA'), 'columns aligned')

  const selected = await run('get', 'cm', '-l', 'tier=back', '-o', 'name')
  t.equal(selected.stdout, 'configmap/db-config\n')
  const byField = await run('get', 'cm', '--field-selector', 'metadata.name=app-config', '-o', 'name')
  t.equal(byField.stdout, 'configmap/app-config\n')

  const all = await run('get', 'cm', '-A')
  t.match(lines(all.stdout)[0], /^NAMESPACE\s+NAME\s+DATA\s+AGE$/)
  t.ok(lines(all.stdout).some((line) => /^kube-system\s+system-config\s+0\s/.test(line)), 'other namespaces with -A')

  const other = await run('get', 'cm', '-n', 'kube-system', '-o', 'name')
  t.equal(other.stdout, 'configmap/system-config\n', '-n picks the namespace')

  const yaml = await run('get', 'configmap/app-config', '-o', 'yaml')
  const object = parseYaml(yaml.stdout) as JsonObject
  t.equal(object['kind'], 'ConfigMap', 'a single object, not a List')
  t.same(object['data'], { a: '1', b: '2' })
  const json = await run('get', 'cm', '-o', 'json')
  const list = JSON.parse(json.stdout) as JsonObject
  t.equal(list['kind'], 'List')
  t.same((list['items'] as JsonObject[]).map((item) => [item['kind'], (item['metadata'] as JsonObject)['name']]), [['ConfigMap', 'app-config'], ['ConfigMap', 'db-config']], 'items carry kind')

  const empty = await run('get', 'pods', '-n', 'kube-public')
  t.equal(empty.code, 0)
  t.equal(empty.stdout, '')
  t.equal(empty.stderr, 'No resources found in kube-public namespace.\n')

  const missing = await run('get', 'cm', 'app-config', 'nope')
  t.equal(missing.code, 1)
  t.match(missing.stdout, /app-config/, 'the found object is still printed')
  t.equal(missing.stderr, 'Error from server (NotFound): configmaps "nope" not found\n')

  const unknown = await run('get', 'widgets')
  t.equal(unknown.code, 1)
  t.equal(unknown.stderr, 'error: the server doesn\'t have a resource type "widgets"\n')
  const badOutput = await run('get', 'cm', '-o', 'xml')
  t.equal(badOutput.code, 1)
  t.match(badOutput.stderr, /^error: unable to match a printer suitable for the output format "xml"/)
})

t.test('get -w prints the list, then every change as a row', async (t) => {
  await server.objects.create(CONFIGMAPS, 'default', { metadata: { name: 'watched-one' }, data: { a: '1' } })
  const watch = flotillaBackground(work.dir, work.kubeconfig, ['get', 'cm', '-w', '--field-selector', 'metadata.name!=app-config,metadata.name!=db-config'])
  t.teardown(() => watch.stop())
  await waitFor('the initial list', WAIT_MS, () => (watch.output().includes('watched-one') ? true : undefined))
  await server.objects.create(CONFIGMAPS, 'default', { metadata: { name: 'watched-two' }, data: { a: '1', b: '2', c: '3' } })
  await waitFor('the ADDED row', WAIT_MS, () => (watch.output().includes('watched-two') ? true : undefined))
  await server.objects.delete(CONFIGMAPS, 'default', 'watched-one')
  const printed = await waitFor('the DELETED row', WAIT_MS, () => {
    const rows = lines(watch.output())
    return rows.filter((row) => row.startsWith('watched-one')).length === 2 ? rows : undefined
  })
  t.match(printed[0], /^NAME\s+DATA\s+AGE$/, 'one header')
  t.equal(printed.filter((row) => row.startsWith('NAME')).length, 1)
  t.match(printed.find((row) => row.startsWith('watched-two')), /^watched-two\s+3\s+\d+s$/, 'rows of changes have the table columns')
  t.equal(watch.errors(), '')
})

t.test('describe shows the object, its ReplicaSets and its events', async (t) => {
  await createDeploymentWithHistory('web')
  const result = await run('describe', 'deployment', 'web')
  t.equal(result.code, 0, result.stderr)
  const text = result.stdout
  t.match(text, /^Name:\s+web\nNamespace:\s+default\n/)
  t.match(text, /\nReplicas:\s+2 desired \| 2 updated \| 2 total \| 2 available \| 0 unavailable\n/)
  t.match(text, /\nPod Template:\n  Labels:  app=web\n  Containers:\n   nginx:\n    Image:\s+nginx:1.22\n/)
  t.match(text, /\nNewReplicaSet:\s+web-h3 \(2\/2 replicas created\)\n/)
  t.match(text, /\nOldReplicaSets:\s+<none>\n/, 'old sets scaled to zero are not listed')
  t.match(text, /\nEvents:\n  Type    Reason\s+Age\s+From\s+Message\n  ----    ------\s+----\s+----\s+-------\n  Normal  ScalingReplicaSet\s+\d+s\s+deployment-controller\s+Scaled up replica set web-h3 to 2\n$/)
  const eventQuery = server.requests.find((request) => request.url.startsWith('/api/v1/namespaces/default/events?'))
  t.match(decodeURIComponent(eventQuery?.url ?? ''), /fieldSelector=involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=/)

  await server.objects.create(PODS, 'default', {
    metadata: { name: 'web-h3-abcde', labels: { app: 'web' } },
    spec: { nodeName: 'alpha', containers: [{ name: 'nginx', image: 'nginx:1.22', ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIP: '10.1.0.5', hostIP: '192.168.1.10', containerStatuses: [{ name: 'nginx', ready: true, restartCount: 1, state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }] },
  })
  const pod = await run('describe', 'pod/web-h3-abcde')
  t.equal(pod.code, 0, pod.stderr)
  t.match(pod.stdout, /\nNode:\s+alpha\/192.168.1.10\n/)
  t.match(pod.stdout, /\nStatus:\s+Running\n/)
  t.match(pod.stdout, /\n    State:\s+Running\n      Started:\s+Thu, 01 Jan 2026 00:00:00 \+0000\n    Ready:\s+True\n    Restart Count:\s+1\n/)
  t.match(pod.stdout, /\nEvents:\s+<none>\n$/)
  const missing = await run('describe', 'deploy', 'nope')
  t.equal(missing.code, 1)
  t.equal(missing.stderr, 'Error from server (NotFound): deployments.apps "nope" not found\n')
})

t.test('scale patches the scale subresource', async (t) => {
  await createDeploymentWithHistory('scaled')
  const result = await run('scale', 'deploy/scaled', '--replicas', '5')
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stdout, 'deployment.apps/scaled scaled\n')
  const stored = await server.objects.get(DEPLOYMENTS, 'default', 'scaled')
  t.equal((stored['spec'] as JsonObject)['replicas'], 5)
  t.ok(server.requests.some((request) => request.method === 'PATCH' && request.url === '/apis/apps/v1/namespaces/default/deployments/scaled/scale' && request.contentType === 'application/merge-patch+json'))
  const bad = await run('scale', 'deploy/scaled', '--replicas', 'many')
  t.equal(bad.code, 1)
  t.equal(bad.stderr, 'error: invalid argument "many" for "--replicas" flag: expected a whole number\n')
  const missingFlag = await run('scale', 'deploy/scaled')
  t.equal(missingFlag.stderr, 'error: required flag(s) "replicas" not set\n')
})

t.test('rollout history lists revisions and undo goes back to one', async (t) => {
  await createDeploymentWithHistory('app')
  const history = await run('rollout', 'history', 'deployment/app')
  t.equal(history.code, 0, history.stderr)
  t.equal(history.stdout, 'deployment.apps/app \nREVISION  CHANGE-CAUSE\n1         <none>\n2         upgrade to 1.21\n3         <none>\n\n')
  const one = await run('rollout', 'history', 'deploy/app', '--revision', '1')
  t.match(one.stdout, /^deployment.apps\/app with revision #1\nPod Template:\n  Labels:  app=app\n\s+pod-template-hash=h1\n/)
  t.match(one.stdout, /Image:\s+nginx:1.20/)

  const undo = await run('rollout', 'undo', 'deploy/app')
  t.equal(undo.code, 0, undo.stderr)
  t.equal(undo.stdout, 'deployment.apps/app rolled back\n')
  const patched = await server.objects.get(DEPLOYMENTS, 'default', 'app')
  const template = (patched['spec'] as JsonObject)['template'] as JsonObject
  t.equal(((template['spec'] as JsonObject)['containers'] as JsonObject[])[0]!['image'], 'nginx:1.21', 'the previous revision (2)')
  t.same((template['metadata'] as JsonObject)['labels'], { app: 'app' }, 'without the pod-template-hash label')
  t.equal(((patched['metadata'] as JsonObject)['annotations'] as JsonObject)['kubernetes.io/change-cause'], 'upgrade to 1.21', 'the change cause comes back')
  t.ok(server.requests.some((request) => request.method === 'PATCH' && request.url === '/apis/apps/v1/namespaces/default/deployments/app' && request.contentType === 'application/json-patch+json'))

  const again = await run('rollout', 'undo', 'deploy/app', '--to-revision', '2')
  t.equal(again.stdout, 'deployment.apps/app skipped rollback (current template already matches revision 2)\n')
  const missing = await run('rollout', 'undo', 'deploy/app', '--to-revision', '9')
  t.equal(missing.code, 1)
  t.equal(missing.stderr, 'error: unable to find specified revision 9 in history\n')
  const wrongKind = await run('rollout', 'history', 'cm/app-config')
  t.equal(wrongKind.stderr, 'error: no history viewer has been implemented for "ConfigMap"\n')
})

t.test('rollout status follows the deployment until it has rolled out', async (t) => {
  let deployment = await server.objects.create(DEPLOYMENTS, 'default', {
    metadata: { name: 'rolling' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'rolling' } }, template: { metadata: { labels: { app: 'rolling' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
  })
  const status = flotillaBackground(work.dir, work.kubeconfig, ['rollout', 'status', 'deploy/rolling', '--timeout', '1m'])
  t.teardown(() => status.stop())
  await waitFor('the first status line', WAIT_MS, () => (status.output().includes('\n') ? true : undefined))
  const stages: JsonObject[] = [
    { observedGeneration: 1, replicas: 1, updatedReplicas: 1 },
    { observedGeneration: 1, replicas: 3, updatedReplicas: 2, availableReplicas: 2 },
    { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 1 },
    { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
  ]
  for (const stage of stages) {
    deployment = await server.objects.update(DEPLOYMENTS, 'default', 'rolling', { ...deployment, status: stage })
    // Each stage must be seen before the next replaces it, as a controller's updates would be.
    const before = lines(status.output()).length
    await waitFor('the next status line', WAIT_MS, () => (lines(status.output()).length > before || status.child.exitCode !== null ? true : undefined))
  }
  await waitFor('the command to end', WAIT_MS, () => (status.child.exitCode !== null ? true : undefined))
  t.equal(status.child.exitCode, 0, status.errors())
  t.same(lines(status.output()), [
    'Waiting for deployment spec update to be observed...',
    'Waiting for deployment "rolling" rollout to finish: 1 out of 2 new replicas have been updated...',
    'Waiting for deployment "rolling" rollout to finish: 1 old replicas are pending termination...',
    'Waiting for deployment "rolling" rollout to finish: 1 of 2 updated replicas are available...',
    'deployment "rolling" successfully rolled out',
  ], 'plain lines when stdout is not a terminal')
})

t.test('rollout status on a terminal rewrites one progress line', async (t) => {
  let deployment = await server.objects.create(DEPLOYMENTS, 'default', {
    metadata: { name: 'tty' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'tty' } }, template: { metadata: { labels: { app: 'tty' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 0 },
  })
  let output = ''
  const io: CommandIo = { write: (text) => void (output += text), error: (text) => void (output += `[stderr] ${text}`), isTty: true, readStdin: async () => '', nowMs: () => Date.now() }
  // In process, so that the terminal can be simulated; the server answers from this process too.
  const done = runKubectlVerb('rollout', ['status', 'deploy/tty', '--kubeconfig', work.kubeconfig], io)
  await waitFor('the first status', WAIT_MS, () => (output.includes('new replicas') ? true : undefined))
  deployment = await server.objects.update(DEPLOYMENTS, 'default', 'tty', { ...deployment, status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 } })
  t.equal(await done, 0)
  t.equal(output, '\r\x1b[2KWaiting for deployment "tty" rollout to finish: 0 out of 1 new replicas have been updated...\r\x1b[2Kdeployment "tty" successfully rolled out\n')
})

t.test('delete removes objects by name, selector and manifest, and waits until they are gone', async (t) => {
  for (const name of ['gone-1', 'gone-2', 'gone-3']) await server.objects.create(CONFIGMAPS, 'default', { metadata: { name, labels: { doomed: 'yes' } } })
  const byName = await run('delete', 'configmap', 'gone-1')
  t.equal(byName.code, 0, byName.stderr)
  t.equal(byName.stdout, 'configmap "gone-1" deleted\n')
  await t.rejects(server.objects.get(CONFIGMAPS, 'default', 'gone-1'), { code: 404 })
  const deleteRequest = server.requests.findLast((request) => request.method === 'DELETE')
  t.equal(deleteRequest?.url, '/api/v1/namespaces/default/configmaps/gone-1')
  const waited = server.requests.some((request) => request.method === 'GET' && decodeURIComponent(request.url).includes('fieldSelector=metadata.name=gone-1'))
  t.ok(waited, '--wait (the default) checks that the object is gone')

  const bySelector = await run('delete', 'cm', '-l', 'doomed=yes', '--wait=false')
  t.equal(bySelector.stdout, 'configmap "gone-2" deleted\nconfigmap "gone-3" deleted\n')

  const manifest = join(work.dir, 'delete-me.yaml')
  await server.objects.create(CONFIGMAPS, 'default', { metadata: { name: 'from-file' } })
  writeFileSync(manifest, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-file\n')
  const byFile = await run('delete', '-f', manifest, '--cascade=foreground')
  t.equal(byFile.stdout, 'configmap "from-file" deleted\n')
  t.equal(byFile.code, 0, byFile.stderr)

  const missing = await run('delete', 'cm', 'never-was')
  t.equal(missing.code, 1)
  t.equal(missing.stderr, 'Error from server (NotFound): configmaps "never-was" not found\n')
  t.equal((await run('delete', 'cm', 'never-was', '--ignore-not-found')).code, 0)
  const noName = await run('delete', 'cm')
  t.equal(noName.stderr, 'error: resource(s) were provided, but no name, label selector, or --all flag specified\n')
  const badCascade = await run('delete', 'cm', 'x', '--cascade=sideways')
  t.match(badCascade.stderr, /^error: invalid cascade value \(sideways\)/)
})

t.test('apply sends server-side apply patches and reports what happened', async (t) => {
  const manifest = join(work.dir, 'apply')
  mkdirSync(manifest)
  const write = (value: string): void => writeFileSync(join(manifest, 'objects.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  greeting: ${value}\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: applied-too}\n`)
  write('hello')
  const first = await run('apply', '-f', manifest)
  const sent = server.requests.filter((request) => request.method === 'PATCH' && request.url.startsWith('/api/v1/namespaces/default/configmaps/applied'))
  t.same(sent.map((request) => [request.url, request.contentType]), [
    ['/api/v1/namespaces/default/configmaps/applied?fieldManager=flotilla', 'application/apply-patch+yaml'],
    ['/api/v1/namespaces/default/configmaps/applied-too?fieldManager=flotilla', 'application/apply-patch+yaml'],
  ], 'one apply patch per object, with the field manager')
  t.test('apply creates, leaves alone and configures', async (t) => {
    t.equal(first.code, 0, first.stderr)
    t.equal(first.stdout, 'configmap/applied created\nconfigmap/applied-too created\n')
    const unchanged = await run('apply', '-f', manifest)
    t.equal(unchanged.stdout, 'configmap/applied unchanged\nconfigmap/applied-too unchanged\n')
    write('bonjour')
    const configured = await run('apply', '-f', join(manifest, 'objects.yaml'), '--force-conflicts')
    t.equal(configured.stdout, 'configmap/applied configured\nconfigmap/applied-too unchanged\n')
    const stored = await server.objects.get(CONFIGMAPS, 'default', 'applied')
    t.same(stored['data'], { greeting: 'bonjour' })
    t.ok(server.requests.some((request) => request.url === '/api/v1/namespaces/default/configmaps/applied?fieldManager=flotilla&force=true'), '--force-conflicts sends force=true')
  })
  await run('apply', '-f', join(manifest, 'objects.yaml'), '-n', 'kube-system')
  t.ok(server.requests.some((request) => request.method === 'PATCH' && request.url.startsWith('/api/v1/namespaces/kube-system/configmaps/applied?')), 'objects without a namespace go to -n')
  writeFileSync(join(work.dir, 'namespaced.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n')
  const mismatch = await run('apply', '-f', join(work.dir, 'namespaced.yaml'), '-n', 'kube-system')
  t.equal(mismatch.code, 1)
  t.match(mismatch.stderr, /^error: the namespace from the provided object "default" does not match the namespace "kube-system"/)
})

t.test('apply reads stdin and refuses documents without apiVersion', async (t) => {
  const result = await flotilla(work.dir, work.kubeconfig, ['apply', '-f', '-'], { stdin: 'kind: ConfigMap\nmetadata: {name: x}\n' })
  t.equal(result.code, 1)
  t.equal(result.stderr, 'error: error validating "-" (object 1): [apiVersion not set]\n')
})

t.test('logs asks the pod log endpoint and prints what the server says', async (t) => {
  const result = await run('logs', 'pod/web-h3-abcde', '-c', 'nginx', '--tail', '20')
  const request = server.requests.findLast((candidate) => candidate.url.startsWith('/api/v1/namespaces/default/pods/web-h3-abcde/log'))
  t.equal(request?.url, '/api/v1/namespaces/default/pods/web-h3-abcde/log?container=nginx&tailLines=20')
  if (result.code === 0) t.pass('the server serves pod logs')
  else t.match(result.stderr, /^Error from server( \([A-Za-z]+\))?: .+\n$/, 'until the node agent serves logs, its error is one readable line')
})

t.test('top needs the metrics API', async (t) => {
  const result = await run('top', 'pods')
  t.equal(result.code, 1)
  t.equal(result.stderr, 'error: Metrics API not available\n')
})

t.test('cluster status reads the local daemon API', async (t) => {
  const status = {
    clusterId: 'c-123', nodeId: 'n1', name: 'alpha', zone: 'z1', role: 'leader', leader: 'n1', leaderName: 'alpha', term: 4, commit: 90, applied: 90, revision: 77,
    members: [
      { nodeId: 'n1', name: 'alpha', zone: 'z1', peerId: 'p1', addresses: [], apiAddress: '10.0.0.1:6443', raftRole: 'voter', alive: true },
      { nodeId: 'n2', name: 'beta', zone: 'z2', peerId: 'p2', addresses: [], apiAddress: '10.0.0.2:6443', raftRole: 'voter', alive: false },
      { nodeId: 'n3', name: 'gamma', zone: 'z3', peerId: 'p3', addresses: [], raftRole: 'voter', alive: true },
    ],
  }
  const daemon = createServer((request, response) => {
    response.writeHead(request.url === '/v1/status' ? 200 : 404, { 'content-type': 'application/json' })
    response.end(JSON.stringify(request.url === '/v1/status' ? status : { error: 'not found' }))
  })
  await new Promise<void>((resolve) => daemon.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => daemon.close(() => resolve())))
  const data = join(work.dir, 'node-a')
  mkdirSync(data)
  writeFileSync(join(data, 'node.json'), JSON.stringify({ clusterId: 'c-123', nodeId: 'n1', name: 'alpha', zone: 'z1', listen: [], apiPort: (daemon.address() as AddressInfo).port, kubeListen: '127.0.0.1:0' }))
  writeFileSync(join(data, 'secret'), Buffer.alloc(32), { mode: 0o600 })
  const result = await run('cluster', 'status', '--data', data)
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /^Cluster:\s+c-123\nHealth:\s+degraded: 2 of 3 members alive, 2 of 3 voters alive \(quorum 2\)\nLeader:\s+alpha \(term 4\)\nZones:\s+z1 \(1\/1 alive\), z2 \(0\/1 alive\), z3 \(1\/1 alive\)\n/)
  t.match(result.stdout, /\nNAME\s+ZONE\s+RAFT\s+STATUS\s+KUBERNETES API\s+NODE ID\nalpha\s+z1\s+voter \(leader\)\s+alive\s+10.0.0.1:6443\s+n1\nbeta\s+z2\s+voter\s+down\s+10.0.0.2:6443\s+n2\ngamma\s+z3\s+voter\s+alive\s+<none>\s+n3\n$/)
  const json = await run('cluster', 'status', '--data', data, '-o', 'json')
  t.same(JSON.parse(json.stdout), status)
  const stopped = await run('cluster', 'status', '--data', join(work.dir, 'no-node'))
  t.equal(stopped.code, 1)
  t.match(stopped.stderr, /^error: .*holds no Flotilla node/)
})
