// Goal: workloads on a real 3-node cluster (3 zones): each daemon registers its Node; the Raft
// leader's controller manager turns a Deployment created over HTTPS into bound, Running (hollow)
// pods spread over the nodes and reports them available; kubectl 1.20's `rollout status` and
// `get nodes` agree. When a non-leader node is SIGKILLed its Node goes NotReady and its pods are
// recreated on the others; when the leader is killed, the next leader's manager takes over (a
// scale to 8 converges).
// Method: DaemonCluster (real daemons as processes on 127.0.0.1), the Kubernetes API over HTTPS
// with the cluster CA and a bearer token from `flotilla kubeconfig`; every wait polls with a
// deadline. Failover times are measured and logged, never asserted.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { KUBECTL, clusterEndpoints, field, httpsJson, type Json } from './cluster-client.ts'
import { DaemonCluster } from './daemon-cluster.ts'

const run = promisify(execFile)
const NAMES = ['a', 'b', 'c']

function readyStatus(node: Json): string | undefined {
  const conditions = (field(node, 'status', 'conditions') ?? []) as Json[]
  return conditions.find((condition) => condition['type'] === 'Ready')?.['status'] as string | undefined
}

function podIsReady(pod: Json): boolean {
  const conditions = (field(pod, 'status', 'conditions') ?? []) as Json[]
  return field(pod, 'status', 'phase') === 'Running' && conditions.some((condition) => condition['type'] === 'Ready' && condition['status'] === 'True')
}

t.test('workloads on a 3-node cluster: scheduling, hollow pods, node failure, leader failover', async (t) => {
  const cluster = new DaemonCluster()
  const work = mkdtempSync(join(tmpdir(), 'flotilla-workloads-'))
  t.teardown(async () => {
    await cluster.destroy()
    rmSync(work, { recursive: true, force: true })
  })
  const token = await cluster.init('a', 'z1')
  await cluster.join('b', 'z2', token)
  await cluster.join('c', 'z3', token)
  await waitFor('every node to know the leader', 20_000, async () => {
    for (const name of NAMES) if (((await cluster.status(name))?.leader ?? '') === '') return undefined
    return true
  })
  // On failure, the daemons' last log lines say why.
  t.teardown(() => {
    if (t.passing()) return
    for (const name of NAMES) console.error(`--- ${name}\n${cluster.output(name).split('\n').slice(-40).join('\n')}`)
  })
  const endpoints = await clusterEndpoints(cluster, NAMES, work)
  /** A request through the first running node that answers (retrying through an election). */
  const api = async (method: string, path: string, body?: unknown, contentType?: string): Promise<Json> => {
    for (const name of NAMES) {
      if (!cluster.isRunning(name)) continue
      try {
        const response = await httpsJson(endpoints.get(name)!, method, path, body, contentType)
        if (response.status < 500) return response.json
      } catch {
        // Try the next node.
      }
    }
    throw new Error(`no running node answered ${method} ${path}`)
  }
  const kubectl = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const name = NAMES.find((candidate) => cluster.isRunning(candidate))!
    try {
      const { stdout, stderr } = await run(KUBECTL, ['--kubeconfig', endpoints.get(name)!.kubeconfig, '--cache-dir', join(work, 'cache'), ...args], { timeout: 90_000 })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const failure = error as { code?: number; stdout?: string; stderr?: string }
      return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' }
    }
  }
  const nodes = async (): Promise<Json[]> => ((await api('GET', '/api/v1/nodes'))['items'] ?? []) as Json[]
  const pods = async (): Promise<Json[]> => ((await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb'))['items'] ?? []) as Json[]
  const deployment = async (): Promise<Json> => api('GET', '/apis/apps/v1/namespaces/default/deployments/web')
  /** Converged: `replicas` pods, all Running and Ready on live nodes, and the status says so. */
  const converged = async (replicas: number): Promise<true | undefined> => {
    try {
      const current = await deployment()
      if (field(current, 'status', 'availableReplicas') !== replicas || field(current, 'status', 'replicas') !== replicas) return undefined
      const items = await pods()
      if (items.length !== replicas) return undefined
      return items.every((pod) => podIsReady(pod) && cluster.isRunning(String(field(pod, 'spec', 'nodeName')))) ? true : undefined
    } catch {
      return undefined
    }
  }

  // Every daemon registers its Node; the leader gives each a pod CIDR.
  const registered = await waitFor('3 Ready nodes with pod CIDRs', 30_000, async () => {
    const items = await nodes().catch(() => [])
    return items.length === 3 && items.every((node) => readyStatus(node) === 'True' && typeof field(node, 'spec', 'podCIDR') === 'string') ? items : undefined
  })
  t.same(registered.map((node) => field(node, 'metadata', 'name')).sort(), NAMES, 'one Node per daemon, named after it')
  const nodeA = registered.find((node) => field(node, 'metadata', 'name') === 'a')!
  t.equal(field(nodeA, 'metadata', 'labels', 'topology.kubernetes.io/zone'), 'z1', 'zone label')
  t.equal(field(nodeA, 'metadata', 'labels', 'kubernetes.io/hostname'), 'a', 'hostname label')
  t.equal(field(nodeA, 'status', 'nodeInfo', 'kubeletVersion'), 'v1.20.2-flotilla', 'kubelet version')
  t.equal(field(nodeA, 'status', 'nodeInfo', 'containerRuntimeVersion'), 'hollow://0.1', 'the hollow runtime')
  t.equal(field(nodeA, 'status', 'capacity', 'pods'), '110', '110 pods of capacity')

  // A Deployment of 6 replicas through the API.
  const startedMs = performance.now()
  const created = await api('POST', '/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 6,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.20', resources: { requests: { cpu: '50m', memory: '32Mi' } } }] } },
    },
  })
  t.equal(field(created, 'metadata', 'name'), 'web', 'the Deployment is created')
  await waitFor('6 available replicas', 60_000, () => converged(6), 200)
  t.comment(`create → 6 available: ${Math.round(performance.now() - startedMs)} ms`)
  const placed = await pods()
  const byNode = new Map<string, number>()
  for (const pod of placed) byNode.set(String(field(pod, 'spec', 'nodeName')), (byNode.get(String(field(pod, 'spec', 'nodeName'))) ?? 0) + 1)
  t.comment(`pods per node: ${[...byNode].map(([node, count]) => `${node}=${count}`).join(' ')}`)
  t.ok([...byNode.keys()].every((node) => NAMES.includes(node)), 'every pod is bound to a node of the cluster')
  t.ok(byNode.size >= 2, 'and they are spread over several nodes')
  t.ok(placed.every((pod) => /^10\.244\.\d+\.\d+$/.test(String(field(pod, 'status', 'podIP')))), 'pods have IPs from their nodes\' pod CIDRs')
  const events = ((await api('GET', '/api/v1/namespaces/default/events'))['items'] ?? []) as Json[]
  t.ok(events.some((event) => event['reason'] === 'Scheduled'), 'Scheduled events are recorded')
  t.ok(events.some((event) => event['reason'] === 'SuccessfulCreate'), 'and SuccessfulCreate')

  if (existsSync(KUBECTL)) {
    const status = await kubectl('rollout', 'status', 'deployment/web', '--timeout=60s')
    t.equal(status.code, 0, 'kubectl rollout status succeeds')
    t.match(status.stdout, /deployment "web" successfully rolled out/)
    const listed = await kubectl('get', 'nodes')
    t.equal(listed.stdout.split('\n').filter((line) => /^\S+\s+Ready\s/.test(line)).length, 3, `kubectl get nodes lists 3 Ready nodes\n${listed.stdout}`)
  } else t.comment(`kubectl 1.20 is not installed at ${KUBECTL}; skipping the kubectl checks`)

  // SIGKILL a non-leader node that runs pods.
  const leader = await cluster.leader()
  const victim = NAMES.filter((name) => name !== leader).sort((x, y) => (byNode.get(y) ?? 0) - (byNode.get(x) ?? 0))[0]!
  t.comment(`leader ${leader}; killing ${victim}, which runs ${byNode.get(victim) ?? 0} pods`)
  const killedMs = performance.now()
  await cluster.kill(victim)
  await waitFor(`${victim} to become NotReady`, 30_000, async () => {
    const node = (await nodes().catch(() => [])).find((item) => field(item, 'metadata', 'name') === victim)
    return node !== undefined && readyStatus(node) === 'Unknown' ? true : undefined
  }, 200)
  const notReadyMs = performance.now() - killedMs
  await waitFor('6 available replicas on the surviving nodes', 60_000, () => converged(6), 200)
  const replacedMs = performance.now() - killedMs
  t.comment(`failover: kill ${victim} → NotReady ${Math.round(notReadyMs)} ms → availableReplicas 6 again ${Math.round(replacedMs)} ms`)
  t.pass(`${victim}'s pods were recreated on the other nodes`)

  // Bring it back, then kill the leader: the next leader's manager carries on.
  await cluster.start(victim)
  await waitFor(`${victim} to be Ready again`, 30_000, async () => {
    const node = (await nodes().catch(() => [])).find((item) => field(item, 'metadata', 'name') === victim)
    return node !== undefined && readyStatus(node) === 'True' ? true : undefined
  }, 200)
  // While it was away the membership controller made it a learner; a leader may go only once
  // the cluster has three voters again (otherwise the survivors have no quorum).
  await waitFor('three voters again', 30_000, async () => {
    const status = await cluster.status(NAMES.find((name) => cluster.isRunning(name))!)
    return status !== undefined && status.members.filter((member) => member.raftRole === 'voter').length === 3 ? true : undefined
  }, 200)
  const oldLeader = await cluster.leader()
  const leaderKilledMs = performance.now()
  await cluster.kill(oldLeader)
  const newLeader = await cluster.leader(20_000)
  const electedMs = performance.now() - leaderKilledMs
  t.not(newLeader, oldLeader, `a new leader (${newLeader}) is elected`)
  await waitFor('the scale to 8 to be accepted', 20_000, async () => {
    const scaled = await api('PATCH', '/apis/apps/v1/namespaces/default/deployments/web', { spec: { replicas: 8 } }, 'application/merge-patch+json').catch(() => undefined)
    return field(scaled, 'spec', 'replicas') === 8 ? true : undefined
  }, 200)
  await waitFor('8 available replicas under the new leader', 60_000, () => converged(8), 200)
  const convergedMs = performance.now() - leaderKilledMs
  t.comment(`leader failover: kill ${oldLeader} → new leader ${newLeader} in ${Math.round(electedMs)} ms → 8 available ${Math.round(convergedMs)} ms`)
  t.pass('the new leader scheduled and replaced pods')
})
