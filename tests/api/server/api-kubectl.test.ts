// Goal: the real kubectl 1.20 works with the API semantics of this handler: `get -w` prints
// server-side Table rows from a watch, `delete` waits for finalizers and propagation policies
// (`--cascade=foreground|orphan`), `delete namespace` waits for the namespace to empty and go,
// `--dry-run=server` persists nothing, and `apply --server-side` creates, conflicts with a
// `kubectl scale` and takes the field over with `--force-conflicts`. Method: an ApiHandler over an in-process store served
// over plain HTTP on 127.0.0.1 (kubectl sends no credentials over HTTP, which this server does not
// ask for); kubectl runs as a child process with its own discovery cache. Skipped when kubectl
// 1.20 is not installed (scripts/install-kubectl.sh).
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import { ApiHarness, configMap, ownerReference } from './api-harness.ts'

const KUBECTL = resolve(import.meta.dirname, '../../../.tools/kubectl120/usr/bin/kubectl')
const run = promisify(execFile)
const CM = '/api/v1/namespaces/default/configmaps'
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments'

interface KubectlResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

if (!existsSync(KUBECTL)) {
  t.test('kubectl against the API handler', { skip: `kubectl 1.20 is not installed at ${KUBECTL}` }, async () => {})
} else {
  /** An API handler on 127.0.0.1 and kubectl configured for it, both gone at the end of `t`. */
  const kubectlAgainstHandler = async (t: Test): Promise<{ api: ApiHarness; work: string; args: (...rest: string[]) => string[]; kubectl: (...rest: string[]) => Promise<KubectlResult> }> => {
    const api = await new ApiHarness().start()
    const work = mkdtempSync(join(tmpdir(), 'flotilla-api-kubectl-'))
    t.teardown(async () => {
      await api.stop()
      rmSync(work, { recursive: true, force: true })
    })
    const kubeconfig = join(work, 'kubeconfig')
    const server = `http://127.0.0.1:${api.port()}`
    writeFileSync(
      kubeconfig,
      ['apiVersion: v1', 'kind: Config', 'clusters: [{name: local, cluster: {server: "' + server + '"}}]', 'users: [{name: me, user: {}}]', 'contexts: [{name: local, context: {cluster: local, user: me}}]', 'current-context: local', ''].join('\n'),
    )
    const args = (...rest: string[]): string[] => ['--kubeconfig', kubeconfig, '--cache-dir', join(work, 'cache'), ...rest]
    const kubectl = async (...rest: string[]): Promise<KubectlResult> => {
      try {
        const { stdout, stderr } = await run(KUBECTL, args(...rest), { timeout: 30_000 })
        return { code: 0, stdout, stderr }
      } catch (error) {
        const failure = error as { code?: number; stdout?: string; stderr?: string }
        return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' }
      }
    }
    return { api, work, args, kubectl }
  }

  t.test('kubectl 1.20: get -w, delete with finalizers and cascades, namespaces, server dry run', async (t) => {
    const { api, work, args, kubectl } = await kubectlAgainstHandler(t)

    await api.post(CM, configMap('first', { data: { a: '1' } }))
    const watcher = spawn(KUBECTL, args('get', 'configmaps', '-w'))
    let watched = ''
    watcher.stdout.on('data', (chunk: Buffer) => (watched += chunk.toString()))
    t.teardown(() => watcher.kill())
    await waitFor('kubectl get -w to list the existing object', 15_000, () => (/first\s+1\s+\d+s/.test(watched) ? true : undefined))
    await api.post(CM, configMap('second', { data: { a: '1', b: '2' } }))
    await waitFor('kubectl get -w to print the new object', 15_000, () => (/second\s+2\s+\d+s/.test(watched) ? true : undefined))
    t.match(watched, /^NAME\s+DATA\s+AGE\n/, 'get -w prints the Table columns')
    t.equal(watched.match(/NAME\s+DATA/g)?.length, 1, 'with the header once')

    const manifest = join(work, 'cm.yaml')
    writeFileSync(manifest, ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: dry}', 'data: {x: "1"}', ''].join('\n'))
    const before = api.snapshot()
    t.match((await kubectl('create', '-f', manifest, '--dry-run=server')).stdout, /configmap\/dry created \(server dry run\)/, 'create --dry-run=server')
    t.match((await kubectl('delete', 'configmap', 'first', '--dry-run=server')).stdout, /configmap "first" deleted \(server dry run\)/, 'delete --dry-run=server')
    t.equal(api.snapshot(), before, 'nothing was written')

    await api.post(CM, configMap('held', { finalizers: ['example.com/hold'] }))
    const deleting = kubectl('delete', 'configmap', 'held', '--timeout=20s')
    await waitFor('kubectl to mark the object', 15_000, async () => ((await api.get(`${CM}/held`)).json?.metadata?.deletionTimestamp !== undefined ? true : undefined))
    await api.patch(`${CM}/held`, { metadata: { finalizers: null } })
    const deleted = await deleting
    t.equal(deleted.code, 0, 'kubectl delete waits for the finalizer and succeeds')
    t.match(deleted.stdout, /configmap "held" deleted/)

    const owner = (await api.post(CM, configMap('owner'))).json
    await api.post(CM, configMap('dependent', { ownerReferences: [ownerReference(owner, true)] }))
    t.equal((await kubectl('delete', 'configmap', 'owner', '--cascade=foreground')).code, 0, 'delete --cascade=foreground')
    t.equal((await api.get(`${CM}/dependent`)).status, 404, 'deleted the dependent')
    const parent = (await api.post(CM, configMap('parent'))).json
    await api.post(CM, configMap('orphan', { ownerReferences: [ownerReference(parent)] }))
    t.equal((await kubectl('delete', 'configmap', 'parent', '--cascade=orphan')).code, 0, 'delete --cascade=orphan')
    t.equal((await api.get(`${CM}/orphan`)).json.metadata.ownerReferences, undefined, 'released the dependent')

    t.match((await kubectl('create', 'namespace', 'team')).stdout, /namespace\/team created/)
    t.match((await kubectl('create', 'configmap', 'inside', '-n', 'team', '--from-literal=x=1')).stdout, /created/)
    const namespace = await kubectl('delete', 'namespace', 'team', '--timeout=20s')
    t.equal(namespace.code, 0, 'kubectl delete namespace returns')
    t.match(namespace.stdout, /namespace "team" deleted/)
    t.equal((await api.get('/api/v1/namespaces/team')).status, 404, 'once the namespace is gone')
    t.same(api.logged, [], 'nothing went wrong in the collection')
  })
  t.test('kubectl 1.20: apply --server-side creates, conflicts with kubectl scale, --force-conflicts takes over', async (t) => {
    const { api, work, kubectl } = await kubectlAgainstHandler(t)
    const manifest = join(work, 'web.yaml')
    const writeManifest = (replicas: number): void =>
      writeFileSync(manifest, ['apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: web}', 'spec:', `  replicas: ${replicas}`, '  selector: {matchLabels: {app: web}}', '  template:', '    metadata: {labels: {app: web}}', '    spec: {containers: [{name: main, image: "busybox:1.36"}]}', ''].join('\n'))
    writeManifest(2)
    const created = await kubectl('apply', '--server-side', '-f', manifest)
    t.equal(created.code, 0, 'apply --server-side succeeds')
    t.match(created.stdout, /deployment.apps\/web serverside-applied/, 'kubectl prints serverside-applied')
    const stored = (await api.get(`${DEPLOYMENTS}/web`)).json
    t.equal(stored.spec.replicas, 2, 'the object is created')
    t.ok(stored.metadata.managedFields.some((entry: any) => entry.manager === 'kubectl' && entry.operation === 'Apply'), 'with kubectl as its applier')
    const before = api.snapshot()
    t.match((await kubectl('apply', '--server-side', '-f', manifest)).stdout, /serverside-applied/, 'applying the same file again succeeds')
    t.equal(api.snapshot(), before, 'and writes nothing')

    t.match((await kubectl('scale', 'deployment/web', '--replicas=5')).stdout, /deployment.apps\/web scaled/, 'kubectl scale')
    writeManifest(3)
    const conflicted = await kubectl('apply', '--server-side', '-f', manifest)
    t.not(conflicted.code, 0, 'applying another replica count fails')
    t.match(conflicted.stderr, /Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps\/v1: \.spec\.replicas/, 'with kube-apiserver\'s conflict message')
    t.match(conflicted.stderr, /--force-conflicts/, 'and kubectl\'s advice')
    t.equal((await api.get(`${DEPLOYMENTS}/web`)).json.spec.replicas, 5, 'the scaled count stays')
    const forced = await kubectl('apply', '--server-side', '--force-conflicts', '-f', manifest)
    t.equal(forced.code, 0, 'apply --server-side --force-conflicts succeeds')
    t.match(forced.stdout, /serverside-applied/)
    t.equal((await api.get(`${DEPLOYMENTS}/web`)).json.spec.replicas, 3, 'and the applied count is stored')
  })
}
