/**
 * The quick-start demo: a local 3-replica Raft cluster on 127.0.0.1 (three processes, each with
 * its own LevelDB), shown doing what matters: electing a leader, accepting writes on any node,
 * serving linearizable reads everywhere, surviving `kill -9` of the leader, and bringing the killed
 * replica back from its disk.
 *
 *   ./run demo [--keep]    (--keep leaves the cluster running until Ctrl-C)
 */
import { LocalCluster, waitFor } from './local-cluster.ts'

const keep = process.argv.includes('--keep')

function line(text: string): void {
  process.stdout.write(`${text}\n`)
}

async function main(cluster: LocalCluster): Promise<void> {
  line(`Flotilla Raft demo: 3 replicas on 127.0.0.1, data in ${cluster.dataRoot}`)
  const electionStart = performance.now()
  await cluster.start(['n1', 'n2', 'n3'])
  const leader = await cluster.leader()
  const leaderStatus = (await cluster.status(leader))!
  line(`1. ${leader} was elected leader of term ${leaderStatus.term} ${Math.round(performance.now() - electionStart)} ms after the processes were spawned`)

  for (const [i, id] of cluster.ids().entries()) {
    const response = await cluster.request(id, 'PUT', `/v1/kv/greeting-${i}`, { body: `hello from ${id}` })
    line(`2. PUT greeting-${i} on ${id} (${id === leader ? 'leader' : 'follower, forwarded'}) → ${response.status} ${response.text}`)
  }
  for (const id of cluster.ids()) {
    const values = await Promise.all([0, 1, 2].map(async (i) => (await cluster.request(id, 'GET', `/v1/kv/greeting-${i}`)).text))
    line(`3. linearizable reads on ${id}: ${values.map((value) => JSON.stringify(value)).join(', ')}`)
  }

  line(`4. kill -9 the leader ${leader} (pid ${leaderStatus.pid})`)
  const killedAt = performance.now()
  await cluster.kill(leader)
  const survivor = cluster.ids().find((id) => id !== leader)!
  // A write forwarded to the dead leader is lost; like etcd's clients, give up after 250 ms.
  await waitFor('a write on the survivors', 15_000, async () => ((await cluster.tryPut(survivor, 'after-failover', 'still writable')) ? true : undefined))
  const newLeader = await cluster.leader()
  line(`5. writes resumed ${Math.round(performance.now() - killedAt)} ms after the kill; new leader ${newLeader}`)

  cluster.startReplica(leader)
  const caughtUp = await waitFor(`${leader} to catch up`, 15_000, async () => {
    const current = await cluster.status(leader)
    const reference = await cluster.status(newLeader)
    return current !== undefined && reference !== undefined && current.applied >= reference.commit ? current : undefined
  })
  const value = await cluster.request(leader, 'GET', '/v1/kv/after-failover')
  line(`6. ${leader} restarted from its disk as ${caughtUp.role}, applied index ${caughtUp.applied}, reads "${value.text}"`)

  if (keep) {
    line('Cluster left running; press Ctrl-C to stop.')
    for (const id of cluster.ids()) line(`   ${id}: http://127.0.0.1:${cluster.httpPort(id)}/v1/status`)
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()))
  }
}

const cluster = new LocalCluster()
try {
  await main(cluster)
  line('Demo finished: leader election, writes through any node, linearizable reads, failover and recovery.')
} catch (error) {
  process.stderr.write(`demo failed: ${(error as Error).message}\n`)
  process.exitCode = 1
} finally {
  await cluster.destroy()
}
