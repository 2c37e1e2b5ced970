// Goal: on a simulated cluster the StatefulSet controller (run by the controller manager) scales
// up in order (pod i appears only when pods 0..i-1 exist and web-(i-1) is Ready; at every step
// the pods form a prefix of the ordinals), scales down in reverse, survives a leader change with
// the old manager still running (fenced out), and never runs one identity twice:
// - a crashed node's stateful pod is replaced only after the eviction deleted it, under the same
//   name and claim;
// - property, checked at every step of the whole run: an identity runs on at most one node.
//   "Runs" is tracked per node as a kubelet would: a connected node runs what the store says is
//   Running on it; a crashed node runs nothing; a partitioned node keeps running what it ran
//   until the partition heals and it hears the pod was deleted. So a partitioned node's copy can
//   overlap with the replacement, and the test checks that it only ever does once the old pod
//   was deleted (its uid is gone: the deletion is the fence, as in Kubernetes, which has the
//   same limit). Before that deletion, never.
// Method: SimCluster (memory store, simulated time, hollow agents, seed printed,
// FLOTILLA_SIM_SEED replays).
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { isBeingDeleted, metadataOf, nameOf, specOf, statusOf, uidOf } from '../../../node/src/controllers/object-fields.ts'
import { PERSISTENT_VOLUME_CLAIMS, STATEFUL_SETS } from '../../../node/src/controllers/statefulset.ts'
import { isReady, nodeOf, SimCluster, simSeed } from './sim-cluster.ts'

/** Per node, the identities (pod name → uid) its "kubelet" runs. */
class RunningTracker {
  private readonly running = new Map<string, Map<string, string>>()
  private readonly partitioned = new Set<string>()
  private readonly crashed = new Set<string>()
  /** Steps at which a partitioned node's copy overlapped with another node's (after deletion). */
  fencedOverlaps = 0
  checks = 0

  partition(node: string): void {
    this.partitioned.add(node)
  }

  crash(node: string): void {
    this.crashed.add(node)
    this.running.set(node, new Map())
  }

  heal(node: string): void {
    this.partitioned.delete(node)
    this.crashed.delete(node)
  }

  /** Updates what connected nodes run and returns a violation, if any. */
  observe(pods: readonly JsonObject[], nodes: readonly string[]): string | undefined {
    const live = new Map(pods.map((pod) => [nameOf(pod), uidOf(pod)]))
    for (const node of nodes) {
      if (this.partitioned.has(node) || this.crashed.has(node)) continue
      const mine = new Map<string, string>()
      for (const pod of pods) {
        if (nodeOf(pod) === node && statusOf(pod)['phase'] === 'Running' && !isBeingDeleted(pod)) mine.set(nameOf(pod), uidOf(pod))
      }
      this.running.set(node, mine)
    }
    this.checks++
    const where = new Map<string, Array<{ node: string; uid: string }>>()
    for (const [node, identities] of this.running) {
      for (const [name, uid] of identities) where.set(name, [...(where.get(name) ?? []), { node, uid }])
    }
    for (const [name, copies] of where) {
      if (copies.length <= 1) continue
      // Only a copy whose pod object is gone (deleted: fenced) may still run on a partitioned node.
      const unfenced = copies.filter((copy) => live.get(name) === copy.uid)
      const stale = copies.filter((copy) => live.get(name) !== copy.uid)
      if (unfenced.length > 1 || !stale.every((copy) => this.partitioned.has(copy.node))) {
        return `${name} runs on ${copies.map((copy) => `${copy.node} (uid ${copy.uid})`).join(' and ')}`
      }
      this.fencedOverlaps++
    }
    return undefined
  }
}

async function statefulSetOf(cluster: SimCluster): Promise<JsonObject> {
  return cluster.objects.get(STATEFUL_SETS, 'default', 'db')
}

async function setPods(cluster: SimCluster): Promise<JsonObject[]> {
  return (await cluster.pods()).filter((pod) => /^db-\d+$/.test(nameOf(pod)))
}

async function scaleSet(cluster: SimCluster, replicas: number): Promise<void> {
  const set = await statefulSetOf(cluster)
  await cluster.client.update(STATEFUL_SETS, 'default', 'db', { ...set, spec: { ...specOf(set), replicas } })
}

/** All `replicas` pods exist, Running and Ready on live nodes, and the status says so. */
async function converged(cluster: SimCluster, replicas: number): Promise<boolean> {
  const pods = await setPods(cluster)
  const status = statusOf(await statefulSetOf(cluster))
  if (pods.length !== replicas || !pods.every((pod) => isReady(pod) && cluster.isAlive(nodeOf(pod)))) return false
  return Number(status['readyReplicas'] ?? 0) === replicas && Number(status['replicas'] ?? 0) === replicas
}

t.test(`seed ${simSeed(7100)}: ordered scaling, a leader change, node crash and partition; one identity never runs twice`, async (t) => {
  const seed = simSeed(7100)
  const cluster = new SimCluster({ seed, manager: { nodeNotReadyGraceMs: 5000, podEvictionTimeoutMs: 5000 } })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (let index = 0; index < 6; index++) await cluster.addNode({ name: `node-${String(index).padStart(2, '0')}`, zone: `zone-${index % 2}` })
  const first = cluster.addManager('node-00', { isLeader: true, term: 1 })
  const tracker = new RunningTracker()
  const appearedAt = new Map<string, number>()
  const problems: string[] = []
  let step = 0
  // Failures leave gaps (an evicted pod's ordinal is missing until it is back); scaling never does.
  let scaling = true
  const check = async (): Promise<void> => {
    step++
    const pods = await setPods(cluster)
    const violation = tracker.observe(pods, cluster.nodeNames())
    if (violation !== undefined) problems.push(`step ${step}: ${violation}`)
    const ordinals = pods.map((pod) => Number(nameOf(pod).slice(3))).sort((a, b) => a - b)
    for (const pod of pods) {
      const name = nameOf(pod)
      if (appearedAt.has(name)) continue
      appearedAt.set(name, step)
      const ordinal = Number(name.slice(3))
      const predecessor = pods.find((other) => nameOf(other) === `db-${ordinal - 1}`)
      if (ordinal > 0 && (predecessor === undefined || !isReady(predecessor))) problems.push(`step ${step}: ${name} appeared before db-${ordinal - 1} was ready`)
    }
    if (scaling && !ordinals.every((ordinal, index) => ordinal === index)) problems.push(`step ${step}: pods ${ordinals.join(',')} are not a prefix of the ordinals`)
  }

  await cluster.client.create(STATEFUL_SETS, 'default', {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db' },
    spec: {
      replicas: 2,
      serviceName: 'db',
      selector: { matchLabels: { app: 'db' } },
      template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'postgres:13' }] } },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  })
  await cluster.runUntil('2 pods run', 60_000, () => converged(cluster, 2), check)

  // Scale up to 5; leadership moves half way, the old manager keeps running (fenced out).
  await scaleSet(cluster, 5)
  let second: { leadership: { isLeader: boolean; term: number } } | undefined
  await cluster.runUntil('5 pods run', 90_000, () => converged(cluster, 5), async () => {
    await check()
    if (second === undefined && (await setPods(cluster)).length >= 3) second = cluster.addManager('node-01', { isLeader: true, term: 2 })
  })
  t.ok(second !== undefined, 'leadership moved during the scale-up')
  t.equal(first.leadership.isLeader, true, 'the old manager still thinks it leads')
  const order = [...appearedAt.entries()].sort((a, b) => a[1] - b[1]).map(([name]) => name)
  t.same(order, ['db-0', 'db-1', 'db-2', 'db-3', 'db-4'], 'pods appeared in ordinal order')
  const claims = (await cluster.objects.list(PERSISTENT_VOLUME_CLAIMS, 'default')).items.map(nameOf).sort()
  t.same(claims, ['data-db-0', 'data-db-1', 'data-db-2', 'data-db-3', 'data-db-4'], 'one claim per identity')

  scaling = false
  // A crash: the node's pod is not replaced until the eviction deletes it.
  const pods = await setPods(cluster)
  const crashVictim = pods.find((pod) => nodeOf(pod) !== 'node-00' && nodeOf(pod) !== 'node-01')!
  const crashNode = nodeOf(crashVictim)
  t.comment(`seed ${seed}: crashing ${crashNode}, which runs ${nameOf(crashVictim)}`)
  cluster.killNode(crashNode)
  tracker.crash(crashNode)
  let replacedBeforeDeletion = false
  await cluster.runUntil(`${nameOf(crashVictim)} runs again elsewhere`, 60_000, async () => {
    const again = (await setPods(cluster)).find((pod) => nameOf(pod) === nameOf(crashVictim))
    return again !== undefined && uidOf(again) !== uidOf(crashVictim) && isReady(again)
  }, async () => {
    await check()
    const same = (await setPods(cluster)).filter((pod) => nameOf(pod) === nameOf(crashVictim))
    if (same.some((pod) => uidOf(pod) !== uidOf(crashVictim)) && same.some((pod) => uidOf(pod) === uidOf(crashVictim))) replacedBeforeDeletion = true
  })
  t.notOk(replacedBeforeDeletion, 'never a replacement while the old pod exists')
  const replacement = (await setPods(cluster)).find((pod) => nameOf(pod) === nameOf(crashVictim))!
  t.not(nodeOf(replacement), crashNode, 'the replacement runs on another node')
  const volumes = JSON.stringify(specOf(replacement)['volumes'])
  t.match(volumes, `data-${nameOf(crashVictim)}`, 'with the same claim')
  cluster.reviveNode(crashNode)
  tracker.heal(crashNode)

  // A partition: the node keeps running its pod, unheard; the replacement comes after the eviction.
  const partitionVictim = (await setPods(cluster)).find((pod) => !['node-00', 'node-01', crashNode].includes(nodeOf(pod)))!
  const partitionNode = nodeOf(partitionVictim)
  t.comment(`seed ${seed}: partitioning ${partitionNode}, which runs ${nameOf(partitionVictim)}`)
  cluster.killNode(partitionNode)
  tracker.partition(partitionNode)
  await cluster.runUntil('the set is whole again during the partition', 60_000, () => converged(cluster, 5), check)
  t.ok(tracker.fencedOverlaps > 0, 'the partitioned node still ran its (deleted) copy: the documented limit')
  cluster.reviveNode(partitionNode)
  tracker.heal(partitionNode)
  await cluster.step()
  await check()

  // Scale down: highest ordinal first; claims stay.
  scaling = true
  await scaleSet(cluster, 2)
  await cluster.runUntil('2 pods again', 60_000, () => converged(cluster, 2), check)
  t.same((await setPods(cluster)).map(nameOf).sort(), ['db-0', 'db-1'], 'the lowest ordinals remain')
  const claimsAfter = (await cluster.objects.list(PERSISTENT_VOLUME_CLAIMS, 'default')).items.map(nameOf).sort()
  t.same(claimsAfter, claims, 'claims are retained on scale-down')
  const status = statusOf(await statefulSetOf(cluster))
  t.equal(status['observedGeneration'], metadataOf(await statefulSetOf(cluster))['generation'])
  t.equal(status['currentRevision'], status['updateRevision'])

  t.same(problems, [], 'at every step: identities run at most once (a deleted copy on a partitioned node aside), pods are an ordinal prefix, created in order')
  t.comment(`${tracker.checks} steps checked; ${tracker.fencedOverlaps} with a fenced (deleted) copy still running on the partitioned node`)
})
