// Goal: a rolling update run by the controller manager keeps its promises at every moment:
// available pods ≥ replicas − maxUnavailable and pods not terminating ≤ replicas + maxSurge, and it ends
// with every pod on the new image and `rollout status` done. The same holds when leadership moves
// to another manager mid-rollout (the old one stopped, or — worse — still running and fenced
// out): the new leader finishes the rollout and no extra pods appear beyond maxSurge.
// Method: SimCluster with 20–40 nodes; the replica count, maxSurge and maxUnavailable come from
// the seed (printed; FLOTILLA_SIM_SEED replays). The invariants are checked after every
// simulated step (100 ms), from the pods in the store.
import t, { type Test } from 'tap'
import { RandomXoshiro } from '../../../lib/random.ts'
import type { JsonObject, JsonValue } from '../../../node/src/api/machinery/canonical.ts'
import { isBeingDeleted, specOf } from '../../../node/src/controllers/object-fields.ts'
import { deploymentRolloutStatus } from '../../../node/src/controllers/rollout-status.ts'
import { isReady, SimCluster, simSeed, type SimLeadership } from './sim-cluster.ts'

const SEEDS = Number(process.env['FLOTILLA_MANAGER_SIM_SEEDS'] ?? 3)

function imageOf(pod: JsonObject): string {
  const containers = specOf(pod)['containers'] as JsonObject[]
  return String(containers[0]?.['image'])
}

/** The bounds, computed here independently of rollout-math.ts. */
function bounds(maxSurge: JsonValue, maxUnavailable: JsonValue, replicas: number): { surge: number; unavailable: number } {
  const resolve = (value: JsonValue, roundUp: boolean): number => {
    if (typeof value === 'number') return value
    const exact = (Number(String(value).replace('%', '')) * replicas) / 100
    return roundUp ? Math.ceil(exact) : Math.floor(exact)
  }
  const surge = resolve(maxSurge, true)
  let unavailable = resolve(maxUnavailable, false)
  if (surge === 0 && unavailable === 0) unavailable = 1
  return { surge, unavailable: Math.min(unavailable, replicas) }
}

type Failover = 'none' | 'stop-old' | 'fence-old'

async function rollout(t: Test, seed: number, failover: Failover): Promise<void> {
  const shape = new RandomXoshiro(seed)
  const replicas = shape.int(2, 25)
  const maxSurge = [0, 1, 2, '25%', '50%'][shape.int(0, 5)] as number | string
  let maxUnavailable = [0, 1, '25%', '50%'][shape.int(0, 4)] as number | string
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1
  const nodeCount = shape.int(20, 41)
  const { surge, unavailable } = bounds(maxSurge, maxUnavailable, replicas)
  t.comment(`seed ${seed}: ${nodeCount} nodes, ${replicas} replicas, maxSurge ${String(maxSurge)} (${surge}), maxUnavailable ${String(maxUnavailable)} (${unavailable}), failover ${failover}`)
  const cluster = new SimCluster({ seed })
  t.teardown(() => cluster.stop())
  await cluster.start()
  for (let index = 0; index < nodeCount; index++) await cluster.addNode({ name: `node-${String(index).padStart(2, '0')}`, zone: `zone-${index % 3}` })
  const first = cluster.addManager('node-00', { isLeader: true, term: 1 })
  await cluster.createDeployment({ name: 'web', replicas, maxSurge, maxUnavailable })
  await cluster.runUntil('the first rollout', 60_000, () => cluster.converged('web'))

  let worstAvailable = replicas
  let mostPods = replicas
  const violations: string[] = []
  const check = async (): Promise<void> => {
    // Pods being deleted (Terminating until their agent has stopped them) count neither way, as
    // in Kubernetes: maxSurge bounds the pods that are not terminating.
    const pods = (await cluster.podsOf('web')).filter((pod) => !isBeingDeleted(pod))
    const available = pods.filter(isReady).length
    worstAvailable = Math.min(worstAvailable, available)
    mostPods = Math.max(mostPods, pods.length)
    if (available < replicas - unavailable) violations.push(`${cluster.timers.monotonicMs()} ms: ${available} available < ${replicas} − ${unavailable}`)
    if (pods.length > replicas + surge) violations.push(`${cluster.timers.monotonicMs()} ms: ${pods.length} pods > ${replicas} + ${surge}`)
  }

  await cluster.setImage('web', 'app:v2')
  let second: { leadership: SimLeadership } | undefined
  // Leadership moves once the rollout is under way: a few pods on the new image.
  const switchAfterMs = 200 + shape.int(0, 600)
  const startMs = cluster.timers.monotonicMs()
  const tookMs = await cluster.runUntil(
    'the rolling update',
    120_000,
    async () => {
      const pods = await cluster.podsOf('web')
      return (await cluster.converged('web')) && pods.every((pod) => imageOf(pod) === 'app:v2') && deploymentRolloutStatus(await cluster.deployment('web')).done
    },
    async () => {
      await check()
      if (failover !== 'none' && second === undefined && cluster.timers.monotonicMs() - startMs >= switchAfterMs) {
        if (failover === 'stop-old') first.leadership.isLeader = false
        second = cluster.addManager('node-01', { isLeader: true, term: 2 })
      }
    },
  )
  t.comment(`rolled out in ${tookMs} simulated ms; fewest available ${worstAvailable}, most pods ${mostPods}`)
  t.same(violations, [], `available ≥ ${replicas - unavailable} and pods ≤ ${replicas + surge} throughout`)
  const pods = await cluster.podsOf('web')
  t.equal(pods.length, replicas, 'the desired number of pods remains')
  t.ok(pods.every((pod) => imageOf(pod) === 'app:v2'), 'all on the new image')
  if (failover !== 'none') {
    t.ok(second !== undefined, 'leadership moved during the rollout')
    t.equal(cluster.managers[1]?.manager.activeTerm, 2, 'the new leader runs the controllers')
    t.notOk(first.manager.running, 'the old leader does not')
    if (failover === 'fence-old') t.match(cluster.log.join('\n'), /\[node-00\] controller manager: controllers of term 1 stopped: FencedOutError/, 'the old manager was fenced out by its first refused write')
  }
}

for (let run = 0; run < SEEDS; run++) {
  const seed = simSeed(2000 + run)
  t.test(`seed ${seed}: a rolling update stays within maxSurge and maxUnavailable`, (t) => rollout(t, seed, 'none'))
  t.test(`seed ${seed}: leadership moves mid-rollout (old manager stopped)`, (t) => rollout(t, seed, 'stop-old'))
  t.test(`seed ${seed}: leadership moves mid-rollout (old manager still running, fenced out)`, (t) => rollout(t, seed, 'fence-old'))
}
