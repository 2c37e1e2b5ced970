// Goal: on a simulated cluster the DaemonSet controller (run by the controller manager, its pods
// bound by the scheduler through the matchFields node affinity) keeps exactly one Running pod on
// every eligible node and follows the nodes: a joining node gets a pod, a node whose Node object
// is deleted loses it, a NoExecute taint removes it, a NoSchedule taint keeps the running pod
// but a nodeSelector change that excludes the node removes it; a dead (unreachable) node keeps
// its daemon pod (it tolerates the unreachable taint); an image change rolls out one node at a
// time (maxUnavailable 1). Method: SimCluster (seed printed, FLOTILLA_SIM_SEED replays).
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { DAEMON_SETS } from '../../../node/src/controllers/daemonset.ts'
import { NODES } from '../../../node/src/controllers/manager/shared-informers.ts'
import { labelsOf, nameOf, specOf, statusOf, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { CONTROLLER_REVISION_HASH_LABEL } from '../../../node/src/controllers/statefulset-revisions.ts'
import { isReady, nodeOf, SimCluster, simSeed } from './sim-cluster.ts'

async function daemonPods(cluster: SimCluster): Promise<JsonObject[]> {
  return (await cluster.pods()).filter((pod) => nameOf(pod).startsWith('agent-'))
}

/** Node name → number of the DaemonSet's pods there that are Running and Ready. */
async function readyByNode(cluster: SimCluster): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const pod of await daemonPods(cluster)) if (isReady(pod)) counts[nodeOf(pod)] = (counts[nodeOf(pod)] ?? 0) + 1
  return counts
}

function exactlyOn(counts: Record<string, number>, nodes: readonly string[]): boolean {
  return Object.keys(counts).length === nodes.length && nodes.every((node) => counts[node] === 1)
}

async function daemonSet(cluster: SimCluster): Promise<JsonObject> {
  return cluster.objects.get(DAEMON_SETS, 'kube-system', 'agent')
}

async function changeNode(cluster: SimCluster, name: string, change: (node: JsonObject) => JsonObject): Promise<void> {
  const node = await cluster.node(name)
  await cluster.client.update(NODES, undefined, name, change(node))
}

t.test(`seed ${simSeed(7200)}: a DaemonSet follows nodes joining, leaving and tainted`, async (t) => {
  const seed = simSeed(7200)
  const cluster = new SimCluster({ seed, manager: { nodeNotReadyGraceMs: 5000, podEvictionTimeoutMs: 5000 } })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (let index = 0; index < 4; index++) await cluster.addNode({ name: `node-0${index}`, zone: 'zone-0' })
  cluster.addManager('node-00', { isLeader: true, term: 1 })
  let duplicates: string[] = []
  const noDuplicates = async (): Promise<void> => {
    const perNode = new Map<string, number>()
    for (const pod of await daemonPods(cluster)) if (nodeOf(pod) !== '') perNode.set(nodeOf(pod), (perNode.get(nodeOf(pod)) ?? 0) + 1)
    duplicates = [...duplicates, ...[...perNode].filter(([, count]) => count > 1).map(([node]) => node)]
  }
  await cluster.client.create(DAEMON_SETS, 'kube-system', {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }] } },
    },
  })
  const all = ['node-00', 'node-01', 'node-02', 'node-03']
  await cluster.runUntil('a pod on every node', 30_000, async () => exactlyOn(await readyByNode(cluster), all), noDuplicates)
  const status = statusOf(await daemonSet(cluster))
  t.same([status['desiredNumberScheduled'], status['currentNumberScheduled'], status['numberReady'], status['updatedNumberScheduled'], status['numberMisscheduled']], [4, 4, 4, 4, 0])
  const pod = (await daemonPods(cluster))[0]!
  t.ok(JSON.stringify(specOf(pod)['affinity']).includes('metadata.name'), 'pods are pinned by a matchFields affinity and bound by the scheduler')

  await cluster.addNode({ name: 'node-04', zone: 'zone-0' })
  await cluster.runUntil('the joining node gets a pod', 30_000, async () => exactlyOn(await readyByNode(cluster), [...all, 'node-04']), noDuplicates)
  t.pass('a joining node gets a pod')

  // node-04 leaves the cluster: its Node object is deleted.
  cluster.killNode('node-04')
  const node04 = await cluster.node('node-04')
  await cluster.client.delete(NODES, undefined, 'node-04', uidOf(node04))
  await cluster.runUntil('the removed node has no pod', 30_000, async () => (await daemonPods(cluster)).every((item) => nodeOf(item) !== 'node-04'), noDuplicates)
  t.pass('a deleted node loses its pod')

  // A NoExecute taint removes the pod; a NoSchedule taint does not.
  await changeNode(cluster, 'node-03', (node) => ({ ...node, spec: { ...specOf(node), taints: [{ key: 'maintenance', value: 'true', effect: 'NoExecute' }] } }))
  await changeNode(cluster, 'node-02', (node) => ({ ...node, spec: { ...specOf(node), taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] } }))
  await cluster.runUntil('node-03 loses its pod', 30_000, async () => exactlyOn(await readyByNode(cluster), ['node-00', 'node-01', 'node-02']), noDuplicates)
  for (let step = 0; step < 10; step++) await cluster.step()
  t.ok(exactlyOn(await readyByNode(cluster), ['node-00', 'node-01', 'node-02']), 'the NoSchedule-tainted node keeps its running pod')
  t.equal(statusOf(await daemonSet(cluster))['desiredNumberScheduled'], 2, 'but it no longer counts as desired')

  // An unreachable node keeps its daemon pod (tolerated), unlike ordinary pods.
  cluster.killNode('node-01')
  for (let step = 0; step < 150; step++) await cluster.step()
  t.ok((await daemonPods(cluster)).some((item) => nodeOf(item) === 'node-01'), 'the dead node still has its daemon pod after grace + eviction timeout')
  cluster.reviveNode('node-01')

  // A rolling update, one node at a time.
  await changeNode(cluster, 'node-02', (node) => ({ ...node, spec: { ...specOf(node), taints: [] } }))
  await cluster.runUntil('back on node-00..02', 30_000, async () => exactlyOn(await readyByNode(cluster), ['node-00', 'node-01', 'node-02']), noDuplicates)
  const before = await daemonSet(cluster)
  const template = specOf(before)['template'] as JsonObject
  await cluster.client.update(DAEMON_SETS, 'kube-system', 'agent', { ...before, spec: { ...specOf(before), template: { ...template, spec: { ...specOf(template), containers: [{ name: 'agent', image: 'agent:2' }] } } } })
  let worstReady = 3
  await cluster.runUntil('every pod on agent:2', 60_000, async () => {
    const pods = await daemonPods(cluster)
    const images = pods.map((item) => JSON.stringify(specOf(item)['containers']))
    return exactlyOn(await readyByNode(cluster), ['node-00', 'node-01', 'node-02']) && images.every((image) => image.includes('agent:2'))
  }, async () => {
    await noDuplicates()
    worstReady = Math.min(worstReady, Object.keys(await readyByNode(cluster)).length)
  })
  t.ok(worstReady >= 2, `at most one node without a ready pod during the update (fewest ready nodes: ${worstReady})`)
  const hashes = new Set((await daemonPods(cluster)).map((item) => labelsOf(item)[CONTROLLER_REVISION_HASH_LABEL]))
  t.equal(hashes.size, 1, 'one revision left')

  // A nodeSelector that excludes node-02 removes its pod.
  await changeNode(cluster, 'node-00', (node) => ({ ...node, metadata: { ...(node['metadata'] as JsonObject), labels: { ...labelsOf(node), tier: 'agent' } } }))
  await changeNode(cluster, 'node-01', (node) => ({ ...node, metadata: { ...(node['metadata'] as JsonObject), labels: { ...labelsOf(node), tier: 'agent' } } }))
  const current = await daemonSet(cluster)
  const currentTemplate = specOf(current)['template'] as JsonObject
  await cluster.client.update(DAEMON_SETS, 'kube-system', 'agent', { ...current, spec: { ...specOf(current), template: { ...currentTemplate, spec: { ...specOf(currentTemplate), nodeSelector: { tier: 'agent' } } } } })
  await cluster.runUntil('only the selected nodes', 60_000, async () => exactlyOn(await readyByNode(cluster), ['node-00', 'node-01']) && (await daemonPods(cluster)).length === 2, noDuplicates)
  t.pass('a node that no longer matches the selector loses its pod')
  t.same(duplicates, [], 'never two daemon pods on one node')
})
