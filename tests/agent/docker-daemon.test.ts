// Goal: pods really run. Two real daemons with `--runtime docker` on the local engine: a
// Deployment of busybox httpd becomes Running and serves; a crashing container backs off
// (CrashLoopBackOff); a failing liveness probe restarts its container; readiness gates Ready;
// config map and secret values arrive as env and files (and files follow updates); a memory limit
// ends in OOMKilled; an image that is not on the node waits with ErrImageNeverPull; kubectl logs,
// exec (through the other node, which proxies) and graceful deletion work; a restarted daemon
// keeps its containers running.
// Method: DaemonCluster processes on 127.0.0.1, the API over HTTPS, kubectl 1.20; pods pinned
// with spec.nodeName; each wait polls with a deadline. Node names are unique per run and every
// container labelled with them is removed at the end. No image is ever pulled.
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { get as httpGet } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { DaemonCluster } from '../cluster/daemon-cluster.ts'
import { engineUnavailable } from '../runtime/docker-engine.ts'
import { KUBECTL, clusterEndpoints, field, httpsJson, kubectlAt, type Endpoint, type Json } from '../cluster/cluster-client.ts'

const run = promisify(execFile)
const IMAGE = 'flotilla/busybox:local'

function httpText(url: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const request = httpGet(url, { timeout: 2000 }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => resolvePromise(text))
    })
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)))
    request.on('error', reject)
  })
}

async function removeContainersOf(nodeNames: readonly string[]): Promise<void> {
  for (const name of nodeNames) {
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', `label=dev.flotilla.node=${name}`]).catch(() => ({ stdout: '' }))
    const ids = stdout.split('\n').filter((id) => id !== '')
    if (ids.length > 0) await run('docker', ['rm', '-f', ...ids]).catch(() => undefined)
  }
}

const unavailable = await engineUnavailable()
const reachable = unavailable === undefined
if (!reachable && process.env['CI'] !== 'true') {
  t.test('pods on the Docker engine through two daemons', { skip: `${unavailable}; CI requires it` }, () => {})
} else {
  t.test('pods on the Docker engine through two daemons', async (t) => {
    t.ok(reachable, unavailable ?? 'the Docker engine answers (CI sets it up)')
    if (!reachable) return
    const suffix = Math.random().toString(36).slice(2, 7)
    const [a, b] = [`dk${suffix}a`, `dk${suffix}b`] as const
    const cluster = new DaemonCluster({ FLOTILLA_RUNTIME: 'docker', FLOTILLA_CRASH_BACKOFF_INITIAL_MS: '300', FLOTILLA_METRICS_PERIOD_MS: '1000', FLOTILLA_NODE_USAGE: 'containers' })
    const work = mkdtempSync(join(tmpdir(), 'flotilla-docker-'))
    t.teardown(async () => {
      await cluster.destroy()
      await removeContainersOf([a, b])
      rmSync(work, { recursive: true, force: true })
    })
    const token = await cluster.init(a, 'z1')
    await cluster.join(b, 'z2', token)
    t.teardown(() => {
      if (t.passing()) return
      for (const name of [a, b]) console.error(`--- ${name}\n${cluster.output(name).split('\n').slice(-60).join('\n')}`)
    })
    const endpoints = await clusterEndpoints(cluster, [a, b], work)
    const at = (name: string): Endpoint => endpoints.get(name)!
    const api = async (method: string, path: string, body?: unknown, contentType?: string): Promise<Json> => (await httpsJson(at(a), method, path, body, contentType)).json
    const kubectl = (node: string, args: readonly string[], input?: string) => kubectlAt(at(node), work, args, input === undefined ? {} : { input })
    const pod = (name: string): Promise<Json> => api('GET', `/api/v1/namespaces/default/pods/${name}`)
    const containerStatus = async (name: string): Promise<Json | undefined> => field(await pod(name), 'status', 'containerStatuses', 0) as Json | undefined
    const createPod = (name: string, nodeName: string, spec: Json): Promise<Json> =>
      api('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { test: 'docker' } }, spec: { nodeName, terminationGracePeriodSeconds: 1, ...spec } })

    await waitFor('both nodes Ready with the Docker runtime', 60_000, async () => {
      const nodes = ((await api('GET', '/api/v1/nodes'))['items'] ?? []) as Json[]
      const ready = nodes.filter((node) => String(field(node, 'status', 'nodeInfo', 'containerRuntimeVersion')).startsWith('docker://'))
      return ready.length === 2 ? true : undefined
    })

    await t.test('a Deployment of busybox httpd becomes Running, Ready and serves', async (t) => {
      const deployment = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'httpd',
                  image: IMAGE,
                  command: ['sh', '-c', 'mkdir -p /www && echo "hello from $HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www'],
                  readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      }
      t.equal(field(await api('POST', '/apis/apps/v1/namespaces/default/deployments', deployment), 'metadata', 'name'), 'web')
      const rollout = await kubectl(b, ['rollout', 'status', 'deployment/web', '--timeout=90s'])
      t.equal(rollout.code, 0, `kubectl rollout status: ${rollout.stdout}${rollout.stderr}`)
      const pods = ((await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb'))['items'] ?? []) as Json[]
      t.equal(pods.length, 2)
      for (const item of pods) {
        const name = String(field(item, 'metadata', 'name'))
        t.match(String(field(item, 'status', 'containerStatuses', 0, 'containerID')), /^docker:\/\/[0-9a-f]{64}$/, `${name} runs in a Docker container`)
        const ip = String(field(item, 'status', 'podIP'))
        t.equal((await httpText(`http://${ip}:8080/`)).trim(), `hello from ${name}`, `${name} serves on its pod IP ${ip}`)
      }
    })

    await t.test('kubectl port-forward reaches a pod through the node that does not run it', async (t) => {
      const pods = ((await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb'))['items'] ?? []) as Json[]
      const target = pods[0]!
      const runsOn = String(field(target, 'spec', 'nodeName'))
      const via = runsOn === a ? b : a
      const child = spawn(KUBECTL, ['--kubeconfig', at(via).kubeconfig, 'port-forward', `pod/${String(field(target, 'metadata', 'name'))}`, ':8080'], { stdio: ['ignore', 'pipe', 'pipe'] })
      t.teardown(() => void child.kill())
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
      const port = await waitFor('kubectl to listen', 30_000, async () => /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output)?.[1])
      const body = await httpText(`http://127.0.0.1:${port}/`)
      t.equal(body.trim(), `hello from ${String(field(target, 'metadata', 'name'))}`, `served through ${via} to the pod on ${runsOn}`)
    })

    await t.test('kubectl top reads the agents\' container stats (metrics.k8s.io)', async (t) => {
      const pods = await waitFor('metrics for both web pods', 30_000, async () => {
        const result = await kubectl(a, ['top', 'pods', '-l', 'app=web', '--no-headers'])
        const lines = result.stdout.split("\n").map((line) => line.trim()).filter((line) => /^web-/.test(line))
        return result.code === 0 && lines.length === 2 ? lines : undefined
      })
      for (const line of pods) t.match(line, /^web-\S+\s+\d+m\s+\d+Mi$/, `a usage row: ${line}`)
      const nodes = await waitFor('metrics for both nodes', 30_000, async () => {
        const result = await kubectl(b, ['top', 'nodes', '--no-headers'])
        return result.code === 0 && !result.stdout.includes('<unknown>') && result.stdout.trim().split('\n').length === 2 ? result.stdout : undefined
      })
      t.match(nodes, new RegExp(`^${a}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm'))
    })

    await t.test('a crashing container backs off: CrashLoopBackOff, logs of the previous run', async (t) => {
      await createPod('crasher', a, { containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo "run at $(date +%s%N)"; exit 2'] }] })
      const status = await waitFor('CrashLoopBackOff with restarts', 60_000, async () => {
        const current = await containerStatus('crasher')
        return field(current, 'state', 'waiting', 'reason') === 'CrashLoopBackOff' && Number(field(current, 'restartCount')) >= 2 ? current : undefined
      })
      t.equal(field(status, 'lastState', 'terminated', 'exitCode'), 2)
      t.equal(field(status, 'lastState', 'terminated', 'reason'), 'Error')
      const get = await kubectl(b, ['get', 'pod', 'crasher'])
      t.match(get.stdout, /crasher\s+0\/1\s+CrashLoopBackOff/)
      const previous = await kubectl(b, ['logs', 'crasher', '--previous'])
      t.equal(previous.code, 0, previous.stderr)
      t.match(previous.stdout, /^run at \d+/)
    })

    await t.test('a failing liveness probe restarts the container; readiness gates Ready', async (t) => {
      await createPod('probed', b, {
        containers: [
          {
            name: 'main',
            image: IMAGE,
            command: ['sh', '-c', 'touch /alive; exec sleep 3600'],
            livenessProbe: { exec: { command: ['test', '-f', '/alive'] }, periodSeconds: 1, failureThreshold: 1 },
            readinessProbe: { exec: { command: ['test', '-f', '/ready'] }, periodSeconds: 1 },
          },
        ],
      })
      await waitFor('probed running', 60_000, async () => (field(await containerStatus('probed'), 'state', 'running') !== undefined ? true : undefined))
      t.equal(field(await containerStatus('probed'), 'ready'), false, 'not ready before the readiness file exists')
      const touch = await kubectl(a, ['exec', 'probed', '--', 'touch', '/ready'])
      t.equal(touch.code, 0, `exec through the other node: ${touch.stderr}`)
      await waitFor('probed Ready', 30_000, async () => {
        const conditions = (field(await pod('probed'), 'status', 'conditions') ?? []) as Json[]
        return conditions.some((condition) => condition['type'] === 'Ready' && condition['status'] === 'True') ? true : undefined
      })
      t.pass('Ready once the readiness probe passes')
      const kill = await kubectl(a, ['exec', 'probed', '--', 'rm', '/alive'])
      t.equal(kill.code, 0, kill.stderr)
      const restarted = await waitFor('a liveness restart', 60_000, async () => {
        const current = await containerStatus('probed')
        return Number(field(current, 'restartCount')) >= 1 && field(current, 'state', 'running') !== undefined ? current : undefined
      })
      t.ok(field(restarted, 'lastState', 'terminated') !== undefined, 'the killed run is the last state')
      const events = ((await api('GET', '/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dprobed'))['items'] ?? []) as Json[]
      t.ok(
        events.some((event) => event['reason'] === 'Unhealthy' || event['reason'] === 'Killing'),
        'events tell why the container was restarted',
      )
    })

    await t.test('config maps and secrets as env and files; files follow updates', async (t) => {
      await api('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { greeting: 'hello', 'app.conf': 'level=1' } })
      await api('POST', '/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, data: { password: Buffer.from('s3cret').toString('base64') } })
      await createPod('configured', a, {
        containers: [
          {
            name: 'main',
            image: IMAGE,
            command: ['sleep', '3600'],
            env: [
              { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'settings', key: 'greeting' } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
              { name: 'MESSAGE', value: '$(GREETING) world' },
            ],
            volumeMounts: [
              { name: 'config', mountPath: '/etc/app' },
              { name: 'secret', mountPath: '/etc/creds' },
            ],
          },
        ],
        volumes: [
          { name: 'config', configMap: { name: 'settings' } },
          { name: 'secret', secret: { secretName: 'creds' } },
        ],
      })
      await waitFor('configured running', 60_000, async () => (field(await containerStatus('configured'), 'state', 'running') !== undefined ? true : undefined))
      const env = await kubectl(b, ['exec', 'configured', '--', 'sh', '-c', 'echo "$GREETING|$PASSWORD|$MESSAGE"'])
      t.equal(env.stdout.trim(), 'hello|s3cret|hello world', env.stderr)
      const files = await kubectl(b, ['exec', 'configured', '--', 'sh', '-c', 'cat /etc/app/app.conf; echo; cat /etc/creds/password'])
      t.equal(files.stdout.trim(), 'level=1\ns3cret', files.stderr)
      const configMap = await api('GET', '/api/v1/namespaces/default/configmaps/settings')
      await api('PUT', '/api/v1/namespaces/default/configmaps/settings', { ...configMap, data: { greeting: 'hello', 'app.conf': 'level=2' } })
      await waitFor('the config file to follow the update', 30_000, async () => {
        const current = await kubectl(b, ['exec', 'configured', '--', 'cat', '/etc/app/app.conf'])
        return current.stdout.trim() === 'level=2' ? true : undefined
      })
      t.pass('the mounted file changed with the ConfigMap')
      const readOnly = await kubectl(b, ['exec', 'configured', '--', 'sh', '-c', 'echo x > /etc/app/app.conf'])
      t.not(readOnly.code, 0, 'config map volumes are read-only')
    })

    await t.test('a persistentVolumeClaim gets a local volume on the pod\'s node and keeps its data', async (t) => {
      await api('POST', '/api/v1/namespaces/default/persistentvolumeclaims', {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Mi' } } },
      })
      const writer = (name: string, command: string): Json => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          terminationGracePeriodSeconds: 1,
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', command], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
        },
      })
      await api('POST', '/api/v1/namespaces/default/pods', writer('store', 'echo kept > /data/file'))
      const first = await waitFor('the writer to finish', 60_000, async () => {
        const current = await pod('store')
        return field(current, 'status', 'phase') === 'Succeeded' ? current : undefined
      })
      const claim = await api('GET', '/api/v1/namespaces/default/persistentvolumeclaims/data')
      t.equal(field(claim, 'status', 'phase'), 'Bound', 'the claim was bound by the node that first used it')
      const volume = await api('GET', `/api/v1/persistentvolumes/${String(field(claim, 'spec', 'volumeName'))}`)
      t.equal(field(volume, 'spec', 'storageClassName'), 'local-path', 'the default class')
      await api('POST', '/api/v1/namespaces/default/pods', writer('load', 'cat /data/file'))
      const second = await waitFor('the reader to finish', 60_000, async () => {
        const current = await pod('load')
        return field(current, 'status', 'phase') === 'Succeeded' ? current : undefined
      })
      t.equal(field(second, 'spec', 'nodeName'), field(first, 'spec', 'nodeName'), 'the scheduler sent the second pod to the volume\'s node')
      const logs = await kubectl(b, ['logs', 'load'])
      t.equal(logs.stdout, 'kept\n', 'the data written by the first pod')
    })

    await t.test('a memory limit ends in OOMKilled', async (t) => {
      await createPod('hog', b, {
        restartPolicy: 'Never',
        containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'], resources: { limits: { memory: '8Mi' } } }],
      })
      const status = await waitFor('the hog to be killed', 60_000, async () => {
        const current = await containerStatus('hog')
        return field(current, 'state', 'terminated') !== undefined ? current : undefined
      })
      t.equal(field(status, 'state', 'terminated', 'reason'), 'OOMKilled')
      t.equal(field(await pod('hog'), 'status', 'phase'), 'Failed')
    })

    await t.test('an image that is not on the node waits with ErrImageNeverPull', async (t) => {
      await createPod('ghost', a, { containers: [{ name: 'main', image: 'registry.invalid/none:1' }] })
      const status = await waitFor('ErrImageNeverPull', 30_000, async () => {
        const current = await containerStatus('ghost')
        return field(current, 'state', 'waiting', 'reason') === 'ErrImageNeverPull' ? current : undefined
      })
      t.match(String(field(status, 'state', 'waiting', 'message')), /registry\.invalid\/none:1/)
      t.equal(field(await pod('ghost'), 'status', 'phase'), 'Pending', 'the pod waits, nothing crashed')
    })

    await t.test('logs, exec and graceful deletion through kubectl', async (t) => {
      await createPod('talker', a, { containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'for i in 1 2 3; do echo line $i; done; exec sleep 3600'] }] })
      await waitFor('talker running', 60_000, async () => (field(await containerStatus('talker'), 'state', 'running') !== undefined ? true : undefined))
      const logs = await waitFor('three lines of logs', 20_000, async () => {
        const result = await kubectl(b, ['logs', 'talker'])
        return result.stdout.trim().split('\n').length === 3 ? result : undefined
      })
      t.equal(logs.stdout, 'line 1\nline 2\nline 3\n', 'logs through the node that does not run the pod')
      const tail = await kubectl(a, ['logs', 'talker', '--tail=1'])
      t.equal(tail.stdout, 'line 3\n')
      const exec = await kubectl(b, ['exec', 'talker', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'])
      t.equal(exec.code, 3, 'the exit code comes back')
      t.equal(exec.stdout, 'out\n')
      t.match(exec.stderr, /err/)
      const stdin = await kubectl(b, ['exec', '-i', 'talker', '--', 'cat'], 'round trip\n')
      t.equal(stdin.stdout, 'round trip\n', 'stdin reaches the container')
      const containerId = String(field(await containerStatus('talker'), 'containerID')).replace('docker://', '')
      const deleted = await kubectl(b, ['delete', 'pod', 'talker', '--wait=true', '--timeout=60s'])
      t.equal(deleted.code, 0, deleted.stderr)
      await waitFor('the container to be gone', 30_000, async () => {
        const { stdout } = await run('docker', ['ps', '-aq', '--no-trunc', '--filter', `id=${containerId}`])
        return stdout.trim() === '' ? true : undefined
      })
      t.pass('deleting the pod stopped and removed its container')
    })

    await t.test('a restarted daemon adopts its running containers', async (t) => {
      await createPod('steady', b, { containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }] })
      const before = await waitFor('steady running', 60_000, async () => {
        const current = await containerStatus('steady')
        return field(current, 'state', 'running') !== undefined ? current : undefined
      })
      await cluster.kill(b)
      await cluster.start(b)
      await waitFor(`${b} to report again`, 60_000, async () => {
        const nodes = ((await api('GET', '/api/v1/nodes'))['items'] ?? []) as Json[]
        const node = nodes.find((item) => field(item, 'metadata', 'name') === b)
        const conditions = (field(node, 'status', 'conditions') ?? []) as Json[]
        return conditions.some((condition) => condition['type'] === 'Ready' && condition['status'] === 'True') ? true : undefined
      })
      const exec = await waitFor('exec into steady after the restart', 30_000, async () => {
        const result = await kubectl(a, ['exec', 'steady', '--', 'echo', 'still here'])
        return result.code === 0 ? result : undefined
      })
      t.equal(exec.stdout, 'still here\n')
      const after = await containerStatus('steady')
      t.equal(field(after, 'containerID'), field(before, 'containerID'), 'the same container, not a new one')
      t.equal(field(after, 'restartCount'), 0)
      t.equal(field(after, 'state', 'running', 'startedAt'), field(before, 'state', 'running', 'startedAt'))
    })
  })
}
