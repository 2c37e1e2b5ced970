// Goal: the controller manager, run on a simulated cluster of 20–100 nodes in three zones with
// hollow agents, brings every Deployment to its desired replicas: each pod bound to a live node
// that has room for it, Running, and each Deployment's status reporting them available; a
// converged world stays quiet (no further writes).
// Method: SimCluster (in-process store, simulated time, one seed for everything). The node count,
// the Deployments and their sizes come from the seed; the seed is printed and
// FLOTILLA_SIM_SEED=<n> replays it; FLOTILLA_MANAGER_SIM_SEEDS=<n> runs more seeds (default 3).
import t from 'tap'
import { RandomXoshiro } from '../../../lib/random.ts'
import { specOf, statusOf } from '../../../node/src/controllers/object-fields.ts'
import { nodeOf, SimCluster, simSeed } from './sim-cluster.ts'

const SEEDS = Number(process.env['FLOTILLA_MANAGER_SIM_SEEDS'] ?? 3)
const ZONES = ['zone-a', 'zone-b', 'zone-c']

for (let run = 0; run < SEEDS; run++) {
  const seed = simSeed(1000 + run)
  t.test(`seed ${seed}: deployments converge on a simulated cluster`, async (t) => {
    const shape = new RandomXoshiro(seed)
    const nodeCount = shape.int(20, 101)
    const deployments = Array.from({ length: shape.int(3, 9) }, (_, index) => ({ name: `app-${index}`, replicas: shape.int(1, 31) }))
    t.comment(`seed ${seed}: ${nodeCount} nodes, deployments ${deployments.map((d) => `${d.name}×${d.replicas}`).join(' ')}`)
    const cluster = new SimCluster({ seed })
    t.teardown(() => cluster.stop())
    await cluster.start()
    for (let index = 0; index < nodeCount; index++) await cluster.addNode({ name: `node-${String(index).padStart(3, '0')}`, zone: ZONES[index % ZONES.length] as string })
    const leader = cluster.addManager('node-000', { isLeader: true, term: 1 })
    for (const deployment of deployments) await cluster.createDeployment({ ...deployment, cpu: '100m' })

    const tookMs = await cluster.runUntil('every deployment converges', 120_000, async () => {
      for (const deployment of deployments) if (!(await cluster.converged(deployment.name))) return false
      return true
    })
    t.comment(`converged after ${tookMs} simulated ms`)
    t.ok(leader.manager.running, 'the leader runs the controllers')

    const pods = await cluster.pods()
    t.equal(pods.length, deployments.reduce((sum, deployment) => sum + deployment.replicas, 0), 'exactly the desired number of pods exists')
    const names = new Set(cluster.nodeNames())
    t.ok(pods.every((pod) => names.has(nodeOf(pod))), 'every pod is bound to a node')
    const ips = pods.map((pod) => String(statusOf(pod)['podIP']))
    t.equal(new Set(ips).size, ips.length, 'pod IPs are unique')
    const perNode = new Map<string, number>()
    for (const pod of pods) perNode.set(nodeOf(pod), (perNode.get(nodeOf(pod)) ?? 0) + 1)
    const cpuPerNode = Math.max(...perNode.values()) * 100
    t.ok(cpuPerNode <= 4000, `no node is over-committed (most loaded: ${cpuPerNode}m of 4000m cpu)`)
    if (pods.length >= nodeCount) t.ok(perNode.size >= Math.min(nodeCount, 3), 'pods spread over several nodes')
    for (const deployment of deployments) {
      const object = await cluster.deployment(deployment.name)
      t.equal(statusOf(object)['availableReplicas'], deployment.replicas, `${deployment.name} reports ${deployment.replicas} available`)
      t.equal(specOf(object)['replicas'], deployment.replicas)
    }

    // Quiet: a few more seconds change nothing.
    const revision = cluster.objects.revision()
    for (let step = 0; step < 20; step++) await cluster.step()
    t.equal(cluster.objects.revision(), revision, 'a converged cluster makes no writes')
  })
}
