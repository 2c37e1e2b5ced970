// Goal: stock kubectl 1.20 accepts our discovery documents and OpenAPI protobuf: `version`,
// `api-resources`, `apply -f` with client-side validation on (create, unchanged, configure),
// and `diff -f` (which needs the dryRun parameter on PATCH operations). Method: real kubectl
// (scripts/install-kubectl.sh) against a throwaway in-memory API server on 127.0.0.1 that serves
// node/src/api's documents, with a temporary kubeconfig and discovery cache; assert on kubectl's
// output and exit codes and on the requests the server saw.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver.ts'

const KUBECTL = resolve(import.meta.dirname, '../../../.tools/kubectl120/usr/bin/kubectl')
const KUBECTL_TIMEOUT_MS = 60_000

interface KubectlResult {
  code: number
  stdout: string
  stderr: string
}

if (!existsSync(KUBECTL)) {
  t.test('kubectl 1.20 end-to-end', { skip: `kubectl 1.20 is not installed at ${KUBECTL}: run scripts/install-kubectl.sh to enable this test` }, async () => {})
} else {
  let server: FakeApiServer
  let dir: string

  /** Runs kubectl asynchronously (the server lives in this process). */
  function kubectl(...args: string[]): Promise<KubectlResult> {
    return new Promise((resolvePromise) => {
      execFile(
        KUBECTL,
        ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args],
        { timeout: KUBECTL_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
          resolvePromise({ code, stdout, stderr })
        },
      )
    })
  }

  async function manifest(name: string, text: string): Promise<string> {
    const file = join(dir, name)
    await writeFile(file, text)
    return file
  }

  const configMap = (value: string): string => `apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
  namespace: default
data:
  greeting: ${value}
`

  const deployment = (image: string): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: ${image}
        ports:
        - containerPort: 80
`

  t.before(async () => {
    server = await startFakeApiServer()
    dir = await mkdtemp(join(tmpdir(), 'flotilla-kubectl-'))
    await writeFile(join(dir, 'kubeconfig'), `apiVersion: v1
kind: Config
clusters:
- name: flotilla
  cluster: {server: "${server.url}"}
contexts:
- name: flotilla
  context: {cluster: flotilla, namespace: default, user: nobody}
users:
- name: nobody
  user: {}
current-context: flotilla
`)
  })

  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })

  t.test('kubectl version sees a 1.20.2 server', async (t) => {
    const result = await kubectl('version', '--short')
    t.equal(result.code, 0, result.stderr)
    t.match(result.stdout, /Client Version: v1\.20\.\d+/)
    t.match(result.stdout, /Server Version: v1\.20\.2/)
  })

  t.test('kubectl api-resources lists the registry', async (t) => {
    const result = await kubectl('api-resources')
    t.equal(result.code, 0, result.stderr)
    const rows = result.stdout.split('\n').map((line) => line.trim().split(/\s+/).join(' '))
    for (const row of [
      'pods po v1 true Pod',
      'services svc v1 true Service',
      'namespaces ns v1 false Namespace',
      'nodes no v1 false Node',
      'configmaps cm v1 true ConfigMap',
      'deployments deploy apps/v1 true Deployment',
      'statefulsets sts apps/v1 true StatefulSet',
      'cronjobs cj batch/v1 true CronJob',
      'horizontalpodautoscalers hpa autoscaling/v2 true HorizontalPodAutoscaler',
      'leases coordination.k8s.io/v1 true Lease',
      'events ev events.k8s.io/v1 true Event',
    ]) {
      t.ok(rows.includes(row), row)
    }
  })

  t.test('kubectl get all lists exactly the "all" category', async (t) => {
    const before = server.requests.length
    const all = await kubectl('get', 'all')
    t.equal(all.code, 0, all.stderr)
    t.match(all.stderr, /No resources found in default namespace/)
    const listed = server.requests.slice(before).filter((r) => r.method === 'GET' && r.query.get('limit') === '500').map((r) => r.path).sort()
    t.same(listed, [
      '/api/v1/namespaces/default/pods',
      '/api/v1/namespaces/default/services',
      '/apis/apps/v1/namespaces/default/daemonsets',
      '/apis/apps/v1/namespaces/default/deployments',
      '/apis/apps/v1/namespaces/default/replicasets',
      '/apis/apps/v1/namespaces/default/statefulsets',
      '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers',
      '/apis/batch/v1/namespaces/default/cronjobs',
      '/apis/batch/v1/namespaces/default/jobs',
    ])
    const shortName = await kubectl('get', 'deploy,sts,cj,hpa,cm,sa,pvc,quota,ev')
    t.equal(shortName.code, 0, shortName.stderr)
  })

  t.test('kubectl apply (validation on) creates, then leaves unchanged, then configures', async (t) => {
    const before = server.requests.length
    const first = await kubectl('apply', '-f', await manifest('cm1.yaml', configMap('hello')))
    t.equal(first.code, 0, first.stderr)
    t.equal(first.stdout.trim(), 'configmap/demo created')
    t.equal(first.stderr, '', 'no warnings')
    const seen = server.requests.slice(before)
    const openapi = seen.find((r) => r.path === '/openapi/v2')
    t.match(openapi?.accept, /protobuf/, 'kubectl asks for the protobuf')
    t.equal(openapi?.responseType, 'application/octet-stream')
    t.ok(seen.some((r) => r.method === 'GET' && r.path === '/api/v1/namespaces/default/configmaps/demo' && r.status === 404), 'GET → 404')
    const post = seen.find((r) => r.method === 'POST')
    t.equal(post?.path, '/api/v1/namespaces/default/configmaps')
    t.equal(post?.query.get('fieldManager'), 'kubectl-client-side-apply')
    t.equal(post?.status, 201)
    const stored = server.objects.get('default/configmaps/demo') as { data?: unknown; metadata?: { annotations?: Record<string, string> } } | undefined
    t.same(stored?.data, { greeting: 'hello' })
    t.ok(stored?.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], 'last-applied annotation stored')

    const again = await kubectl('apply', '-f', join(dir, 'cm1.yaml'))
    t.equal(again.code, 0, again.stderr)
    t.equal(again.stdout.trim(), 'configmap/demo unchanged')

    const change = await kubectl('apply', '-f', await manifest('cm2.yaml', configMap('bonjour')))
    t.equal(change.code, 0, change.stderr)
    t.equal(change.stdout.trim(), 'configmap/demo configured')
    t.equal(change.stderr, '', 'no warnings (kubectl computed the patch without complaint)')
    const patch = server.requests.findLast((r) => r.method === 'PATCH')
    t.equal(patch?.contentType, 'application/strategic-merge-patch+json')
    t.same((server.objects.get('default/configmaps/demo') as { data?: unknown } | undefined)?.data, { greeting: 'bonjour' })
  })

  t.test('kubectl diff uses server-side dry-run and persists nothing', async (t) => {
    const storedBefore = JSON.stringify(server.objects.get('default/configmaps/demo'))
    const result = await kubectl('diff', '-f', await manifest('cm3.yaml', configMap('hola')))
    t.equal(result.code, 1, `exit code 1 means "differences found"; stderr: ${result.stderr}`)
    t.match(result.stdout, /-\s+greeting: bonjour/)
    t.match(result.stdout, /\+\s+greeting: hola/)
    const dryRun = server.requests.findLast((r) => r.method === 'PATCH')
    t.equal(dryRun?.query.get('dryRun'), 'All')
    t.equal(JSON.stringify(server.objects.get('default/configmaps/demo')), storedBefore, 'dry run stored nothing')

    const same = await kubectl('diff', '-f', join(dir, 'cm2.yaml'))
    t.equal(same.code, 0, `no differences; stderr: ${same.stderr}`)
    t.equal(same.stdout, '')

    const created = await kubectl('diff', '-f', await manifest('cm-new.yaml', configMap('x').replace('name: demo', 'name: fresh')))
    t.equal(created.code, 1, created.stderr)
    t.match(created.stdout, /\+\s+name: fresh/)
    const post = server.requests.findLast((r) => r.method === 'POST')
    t.equal(post?.query.get('dryRun'), 'All')
    t.notOk(server.objects.has('default/configmaps/fresh'), 'dry-run create stored nothing')
  })

  t.test('kubectl apply of a Deployment: create, then a strategic merge patch without warnings', async (t) => {
    const created = await kubectl('apply', '-f', await manifest('web1.yaml', deployment('nginx:1.19')))
    t.equal(created.code, 0, created.stderr)
    t.equal(created.stdout.trim(), 'deployment.apps/web created')
    const changed = await kubectl('apply', '-f', await manifest('web2.yaml', deployment('nginx:1.20')))
    t.equal(changed.code, 0, changed.stderr)
    t.equal(changed.stdout.trim(), 'deployment.apps/web configured')
    t.equal(changed.stderr, '', 'no "error calculating patch from openapi spec" warning')
    const patch = server.requests.findLast((r) => r.method === 'PATCH')
    t.equal(patch?.path, '/apis/apps/v1/namespaces/default/deployments/web')
    // kubectl's own merge keys (containers by name) produce $setElementOrder.
    t.match(patch?.body, /"\$setElementOrder\/containers":\[\{"name":"nginx"\}\]/)
    const diff = await kubectl('diff', '-f', await manifest('web3.yaml', deployment('nginx:1.21')))
    t.equal(diff.code, 1, diff.stderr)
    t.match(diff.stdout, /\+\s+- image: nginx:1\.21|\+\s+image: nginx:1\.21/)
  })
}
