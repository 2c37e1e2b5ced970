// Goal: the real kubectl 1.20 works against any node of a running Flotilla cluster for the generic
// verbs: version, api-resources, create, apply (create, unchanged, configured), diff, get -o
// yaml/json, label, selectors, delete, watch; bad input gets Kubernetes Status errors. Method:
// three daemons on 127.0.0.1, HTTPS with the cluster CA and bearer tokens (anonymous requests get
// 401), a kubeconfig per node from `flotilla kubeconfig`, kubectl run as a
// process against a different node for each step. Skipped when kubectl 1.20 is not installed
// (`./run test` installs it through scripts/install-kubectl.sh).
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { waitFor } from '../../node/src/local-cluster.ts'
import { DaemonCluster } from '../cluster/daemon-cluster.ts'

function httpsGet(url: string, ca: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const request = httpsRequest(url, { ca, headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, timeout: 5000 }, (response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => (body += chunk.toString()))
      response.on('end', () => resolvePromise({ status: response.statusCode ?? 0, body }))
    })
    request.on('error', reject)
    request.end()
  })
}

function httpsRequestJson(url: string, ca: string, token: string, method: string, contentType: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const request = httpsRequest(url, { ca, method, headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, timeout: 5000 }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => resolvePromise({ status: response.statusCode ?? 0, body: text }))
    })
    request.on('error', reject)
    request.end(body)
  })
}

const KUBECTL = resolve(import.meta.dirname, '../../.tools/kubectl120/usr/bin/kubectl')
const CLI = resolve(import.meta.dirname, '../../node/src/cli.ts')
const run = promisify(execFile)

if (!existsSync(KUBECTL)) {
  t.test('kubectl against daemons', { skip: `kubectl 1.20 is not installed at ${KUBECTL}; run scripts/install-kubectl.sh` }, async () => {})
} else {
  t.test('kubectl 1.20 against every node of a 3-node cluster', async (t) => {
    const cluster = new DaemonCluster()
    const work = mkdtempSync(join(tmpdir(), 'flotilla-kubectl-'))
    t.teardown(async () => {
      await cluster.destroy()
      rmSync(work, { recursive: true, force: true })
    })
    const token = await cluster.init('a', 'z1')
    await cluster.join('b', 'z2', token)
    await cluster.join('c', 'z3', token)
    const kubeconfigs = new Map<string, string>()
    for (const name of ['a', 'b', 'c']) {
      const { stdout } = await run(process.execPath, [CLI, 'kubeconfig', '--data', cluster.dataDirectory(name)])
      const path = join(work, `${name}.kubeconfig`)
      writeFileSync(path, stdout)
      kubeconfigs.set(name, path)
    }
    const kubectl = async (node: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
      try {
        const { stdout, stderr } = await run(KUBECTL, ['--kubeconfig', kubeconfigs.get(node)!, '--cache-dir', join(work, `cache-${node}`), ...args], { timeout: 30_000 })
        return { code: 0, stdout, stderr }
      } catch (error) {
        const failure = error as { code?: number; stdout?: string; stderr?: string }
        return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' }
      }
    }
    // Every node needs a leader before it serves linearizable reads.
    await waitFor('every node to know the leader', 20_000, async () => {
      for (const name of ['a', 'b', 'c']) if (((await cluster.status(name))?.leader ?? '') === '') return undefined
      return true
    })

    // The kubeconfig lists every node over HTTPS with the cluster CA and a bearer token.
    const contexts = await kubectl('a', 'config', 'get-contexts', '-o', 'name')
    t.same(contexts.stdout.trim().split('\n').sort(), ['a', 'b', 'c'], 'one context per node')
    const kubeconfigText = readFileSync(kubeconfigs.get('a')!, 'utf8')
    const server = /server: (https:\/\/\S+)/.exec(kubeconfigText)![1]!
    const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(kubeconfigText)![1]!, 'base64').toString()
    const anonymous = await httpsGet(`${server}/api/v1/namespaces`, ca)
    t.equal(anonymous.status, 401, 'an anonymous request is refused with 401')
    t.match(anonymous.body, /"reason":"Unauthorized"/, 'as a Status object')
    t.equal((await httpsGet(`${server}/api/v1/namespaces`, ca, 'flt_not-a-real-token')).status, 401, 'an unknown token is refused')
    t.equal((await httpsGet(`${server}/healthz`, ca)).body, 'ok', 'health needs no token')

    const version = await kubectl('a', 'version', '--short')
    t.match(version.stdout, /Server Version: v1\.20\.2/, 'kubectl version')
    const resources = await kubectl('b', 'api-resources')
    t.match(resources.stdout, /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/, 'api-resources lists deployments with their short name')

    t.match((await kubectl('c', 'create', 'namespace', 'team-a')).stdout, /namespace\/team-a created/)
    t.match((await kubectl('a', 'create', 'namespace', 'team-a')).stderr, /AlreadyExists.*namespaces "team-a" already exists/, 'a duplicate is AlreadyExists')
    t.match((await kubectl('a', 'create', 'configmap', 'settings', '--from-literal=mode=fast', '-n', 'team-a')).stdout, /configmap\/settings created/)
    const yaml = await kubectl('b', 'get', 'configmap', 'settings', '-n', 'team-a', '-o', 'yaml')
    t.match(yaml.stdout, /mode: fast/, 'another node reads the object')
    t.match(yaml.stdout, /resourceVersion: "\d+"/, 'with a resourceVersion')

    const manifest = join(work, 'deploy.yaml')
    const deployment = (replicas: number): string =>
      ['apiVersion: apps/v1', 'kind: Deployment', 'metadata:', '  name: web', '  namespace: team-a', '  labels: {app: web}', 'spec:', `  replicas: ${replicas}`, '  selector: {matchLabels: {app: web}}', '  template:', '    metadata: {labels: {app: web}}', '    spec:', '      containers:', '      - name: web', '        image: busybox:local', ''].join('\n')
    writeFileSync(manifest, deployment(2))
    t.match((await kubectl('c', 'apply', '-f', manifest)).stdout, /deployment.apps\/web created/, 'apply creates')
    t.match((await kubectl('a', 'apply', '-f', manifest)).stdout, /deployment.apps\/web unchanged/, 're-apply is unchanged')
    writeFileSync(manifest, deployment(3))
    const diff = await kubectl('b', 'diff', '-f', manifest)
    t.equal(diff.code, 1, 'diff reports a difference')
    t.match(diff.stdout, /\+  replicas: 3/, 'and shows it')
    t.match((await kubectl('b', 'apply', '-f', manifest)).stdout, /deployment.apps\/web configured/, 'apply configures')
    const json = JSON.parse((await kubectl('c', 'get', 'deploy', 'web', '-n', 'team-a', '-o', 'json')).stdout) as { spec: { replicas: number }; metadata: { generation: number } }
    t.equal(json.spec.replicas, 3, 'the change is visible on every node')
    t.equal(json.metadata.generation, 2, 'and bumped the generation once')
    const deployments = await kubectl('a', 'get', 'deploy', '-n', 'team-a')
    t.match(deployments.stdout, /NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+\d\/3\s+\d\s+\d\s+\d+s/, 'kubectl get shows the Deployment columns')
    t.match((await kubectl('b', 'get', 'cm', 'settings', '-n', 'team-a')).stdout, /NAME\s+DATA\s+AGE\nsettings\s+1\s+/, 'and the ConfigMap columns for a single object')
    // The EndpointSlice controller on the leader writes the slices of a Service with a selector.
    t.match((await kubectl('c', 'create', 'service', 'clusterip', 'web', '--tcp=80:8080', '-n', 'team-a')).stdout, /service\/web created/)
    const slices = await waitFor('an EndpointSlice for the service', 20_000, async () => {
      const listed = (await kubectl('a', 'get', 'endpointslices', '-n', 'team-a')).stdout
      // Ports show once a pod of the service has an IP (the placeholder before has none).
      return /\nweb-[a-z0-9]{5}\s+IPv4\s+(8080|<unset>)\s+/.test(listed) ? listed : undefined
    }, 250)
    t.match(slices, /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE\n/, 'kubectl get endpointslices prints the kube-apiserver columns')

    // Defaults are applied and printed; a selector that misses the template labels is refused.
    const defaulted = await kubectl('a', 'get', 'deploy', 'web', '-n', 'team-a', '-o', 'yaml')
    t.match(defaulted.stdout, /revisionHistoryLimit: 10/, 'Deployment defaults are stored')
    t.match(defaulted.stdout, /imagePullPolicy: IfNotPresent/, 'and container defaults')
    const broken = join(work, 'broken.yaml')
    writeFileSync(broken, deployment(1).replace('  selector: {matchLabels: {app: web}}', '  selector: {matchLabels: {app: other}}').replace('name: web\n  namespace', 'name: broken\n  namespace'))
    t.match((await kubectl('b', 'apply', '-f', broken)).stderr, /The Deployment "broken" is invalid: spec.template.metadata.labels: Invalid value: .*`selector` does not match template `labels`/, 'a selector that misses the template is 422 Invalid')

    // The scale and status subresources.
    t.match((await kubectl('c', 'scale', 'deploy', 'web', '-n', 'team-a', '--replicas=5')).stdout, /deployment.apps\/web scaled/, 'kubectl scale')
    t.match((await kubectl('a', 'get', 'deploy', 'web', '-n', 'team-a')).stdout, /web\s+\d\/5/, 'changes spec.replicas')
    await kubectl('b', 'patch', 'deploy', 'web', '-n', 'team-a', '--type=merge', '-p', '{"status":{"readyReplicas":99}}')
    t.notMatch((await kubectl('a', 'get', 'deploy', 'web', '-n', 'team-a')).stdout, /web\s+99\/5/, 'status is not writable through the main resource')
    const kubeconfigB = readFileSync(kubeconfigs.get('b')!, 'utf8')
    const tokenB = /token: (\S+)/.exec(kubeconfigB)![1]!
    const serverB = /server: (https:\/\/\S+)/.exec(kubeconfigB)![1]!
    const statusWrite = await httpsRequestJson(`${serverB}/apis/apps/v1/namespaces/team-a/deployments/web/status`, ca, tokenB, 'PATCH', 'application/merge-patch+json', '{"status":{"observedGeneration":99}}')
    t.equal(statusWrite.status, 200, 'the status subresource accepts a merge patch')
    // The Deployment controller owns this status and rewrites it at once, so the check reads the
    // subresource's answer rather than a later GET.
    t.equal((JSON.parse(statusWrite.body) as { status: { observedGeneration: number } }).status.observedGeneration, 99, 'and writes the status')

    await kubectl('a', 'label', 'configmap', 'settings', '-n', 'team-a', 'tier=backend')
    t.match((await kubectl('b', 'get', 'cm', '-n', 'team-a', '-l', 'tier=backend')).stdout, /settings/, 'label selector matches')
    t.notMatch((await kubectl('b', 'get', 'cm', '-n', 'team-a', '-l', 'tier!=backend')).stdout, /settings/, 'and excludes')
    t.match((await kubectl('c', 'get', 'cm', '-n', 'team-a', '-l', 'tier in (a,')).stderr, /unable to parse requirement|found/, 'a malformed selector is a clear error')

    // A watch on one node sees a change made through another.
    const watcher = spawn(KUBECTL, ['--kubeconfig', kubeconfigs.get('a')!, '--cache-dir', join(work, 'cache-watch'), 'get', 'cm', '-n', 'team-a', '-w', '-o', 'name'])
    let watched = ''
    watcher.stdout.on('data', (chunk: Buffer) => (watched += chunk.toString()))
    t.teardown(() => watcher.kill())
    await waitFor('the watch to list the existing object', 15_000, async () => (watched.includes('configmap/settings') ? true : undefined))
    await kubectl('c', 'create', 'configmap', 'later', '-n', 'team-a', '--from-literal=x=1')
    await waitFor('the watch to see the new object', 15_000, async () => (watched.includes('configmap/later') ? true : undefined))
    t.pass('a watch through node a sees a create through node c')

    const bad = await kubectl('a', 'create', 'configmap', 'Bad_Name', '-n', 'team-a')
    t.match(bad.stderr, /is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/, 'an invalid name is 422 Invalid with the field')
    t.match((await kubectl('b', 'get', 'deploy', 'nope', '-n', 'team-a')).stderr, /NotFound.*deployments.apps "nope" not found/, 'a missing object is NotFound')
    t.match((await kubectl('c', 'delete', 'configmap', 'settings', '-n', 'team-a')).stdout, /configmap "settings" deleted/)
    t.match((await kubectl('a', 'get', 'configmap', 'settings', '-n', 'team-a')).stderr, /NotFound/, 'the delete is visible on every node')

    // Wide output, annotate, set image, describe, server-side apply with conflicts, delete -f.
    t.match((await kubectl('b', 'get', 'deploy', 'web', '-n', 'team-a', '-o', 'wide')).stdout, /CONTAINERS\s+IMAGES\s+SELECTOR\nweb\s+.*\s+web\s+busybox:local\s+app=web/, 'get -o wide adds containers, images and selector')
    t.match((await kubectl('c', 'annotate', 'deploy', 'web', '-n', 'team-a', 'owner=team-a')).stdout, /deployment.apps\/web annotated/, 'kubectl annotate')
    t.equal((await kubectl('a', 'get', 'deploy', 'web', '-n', 'team-a', '-o', 'jsonpath={.metadata.annotations.owner}')).stdout, 'team-a', 'the annotation is visible on another node')
    t.match((await kubectl('a', 'set', 'image', 'deploy/web', '-n', 'team-a', 'web=busybox:v2')).stdout, /deployment.apps\/web image updated/, 'kubectl set image')
    t.equal((await kubectl('b', 'get', 'deploy', 'web', '-n', 'team-a', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).stdout, 'busybox:v2', 'the strategic merge by container name changed the image')
    const described = await kubectl('c', 'describe', 'deploy', 'web', '-n', 'team-a')
    t.match(described.stdout, /Name:\s+web\nNamespace:\s+team-a/, 'kubectl describe prints the object')
    t.match(described.stdout, /Image:\s+busybox:v2/, 'with its pod template')
    t.match(described.stdout, /Annotations:[\s\S]*owner: team-a/, 'and annotations')

    const applied = join(work, 'applied.yaml')
    const appliedConfig = (replicas: number): string =>
      ['apiVersion: apps/v1', 'kind: Deployment', 'metadata:', '  name: api', '  namespace: team-a', 'spec:', `  replicas: ${replicas}`, '  selector: {matchLabels: {app: api}}', '  template:', '    metadata: {labels: {app: api}}', '    spec:', '      containers:', '      - name: api', '        image: busybox:local', ''].join('\n')
    writeFileSync(applied, appliedConfig(2))
    t.match((await kubectl('a', 'apply', '--server-side', '-f', applied)).stdout, /deployment.apps\/api serverside-applied/, 'server-side apply creates')
    const managed = await kubectl('b', 'get', 'deploy', 'api', '-n', 'team-a', '-o', 'json')
    const managers = (JSON.parse(managed.stdout) as { metadata: { managedFields?: { manager: string; operation: string }[] } }).metadata.managedFields ?? []
    t.ok(managers.some((entry) => entry.manager === 'kubectl' && entry.operation === 'Apply'), 'and records the applier in managedFields')
    writeFileSync(applied, appliedConfig(4))
    const conflicted = await kubectl('c', 'apply', '--server-side', '--field-manager=team-b', '-f', applied)
    t.not(conflicted.code, 0, 'another manager changing an owned field fails')
    t.match(conflicted.stderr, /Apply failed with 1 conflict: conflict with "kubectl".*\.spec\.replicas/, 'with the conflicting field and its owner')
    t.match((await kubectl('c', 'apply', '--server-side', '--field-manager=team-b', '--force-conflicts', '-f', applied)).stdout, /deployment.apps\/api serverside-applied/, '--force-conflicts takes the field over')
    t.equal((await kubectl('a', 'get', 'deploy', 'api', '-n', 'team-a', '-o', 'jsonpath={.spec.replicas}')).stdout, '4', 'and the forced value is stored')
    t.match((await kubectl('b', 'create', 'configmap', 'dry', '-n', 'team-a', '--dry-run=server', '--from-literal=a=1')).stdout, /configmap\/dry created \(server dry run\)/, 'a server dry run answers')
    t.match((await kubectl('c', 'get', 'configmap', 'dry', '-n', 'team-a')).stderr, /NotFound/, 'and stores nothing')
    t.match((await kubectl('b', 'delete', '-f', applied)).stdout, /deployment.apps "api" deleted/, 'delete -f')
    t.match((await kubectl('c', 'get', 'deploy', 'api', '-n', 'team-a')).stderr, /NotFound/, 'the deleted object is gone on every node')

    // get -w prints Table rows as objects change through another node.
    const tableWatcher = spawn(KUBECTL, ['--kubeconfig', kubeconfigs.get('b')!, '--cache-dir', join(work, 'cache-watch-table'), 'get', 'deploy', '-n', 'team-a', '-w'])
    let tableWatched = ''
    tableWatcher.stdout.on('data', (chunk: Buffer) => (tableWatched += chunk.toString()))
    t.teardown(() => tableWatcher.kill())
    await waitFor('the table watch to print the header and the deployment', 15_000, async () => (/NAME\s+READY\s+UP-TO-DATE/.test(tableWatched) && /\nweb\s+\d+\/\d/.test(tableWatched) ? true : undefined))
    await kubectl('a', 'scale', 'deploy', 'web', '-n', 'team-a', '--replicas=6')
    await waitFor('the table watch to print the scaled deployment', 15_000, async () => (/\nweb\s+\d+\/6/.test(tableWatched) ? true : undefined))
    t.pass('kubectl get -w prints rows for changes made through another node')

    // Namespaces: the system ones exist, objects need an existing namespace, deleting one empties it.
    const namespaces = await kubectl('b', 'get', 'namespaces', '-o', 'name')
    for (const name of ['default', 'kube-system', 'kube-public']) t.match(namespaces.stdout, new RegExp(`namespace/${name}\\b`), `namespace ${name} exists`)
    t.match((await kubectl('a', 'create', 'configmap', 'orphan', '-n', 'nowhere')).stderr, /NotFound.*namespaces "nowhere" not found/, 'creating in a missing namespace is NotFound')
    for (const name of ['one', 'two', 'keep']) await kubectl('c', 'create', 'configmap', name, '-n', 'default', '--from-literal=x=1')
    await kubectl('c', 'label', 'configmap', 'one', 'two', '-n', 'default', 'batch=old')
    t.match((await kubectl('a', 'delete', 'configmap', '-l', 'batch=old', '-n', 'default')).stdout, /configmap "one" deleted\nconfigmap "two" deleted/, 'delete by label selector')
    t.match((await kubectl('b', 'get', 'configmap', '-n', 'default', '-o', 'name')).stdout, /configmap\/keep/, 'leaves the others')
    t.match((await kubectl('a', 'delete', 'namespace', 'team-a')).stdout, /namespace "team-a" deleted/)
    t.match((await kubectl('b', 'get', 'deploy,cm', '-n', 'team-a')).stderr, /No resources found/, 'deleting a namespace deletes its objects')
  })
}
