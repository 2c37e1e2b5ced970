// Goal: five real daemons form one cluster from join tokens and share a replicated, watchable
// store: writes on any node are readable on all, a watch on one node sees writes made on another
// in order without gaps, writes resume after the leader is killed with -9, a node restarted from
// its data directory resumes without rejoining, and losing a whole zone (2 of 5 nodes) keeps the
// store writable. Method: `flotilla init`/`join`/`start` processes on 127.0.0.1 (libp2p), driven
// through their local API; every wait polls with a deadline.
import t from 'tap'
import { waitFor } from '../../node/src/local-cluster.ts'
import { DaemonCluster } from './daemon-cluster.ts'

const ZONES: Record<string, string> = { n1: 'z1', n2: 'z2', n3: 'z3', n4: 'z1', n5: 'z2' }

async function votersOf(cluster: DaemonCluster, name: string): Promise<number> {
  const status = await cluster.status(name)
  return status?.members.filter((member) => member.raftRole === 'voter').length ?? 0
}

t.test('a 5-node cluster forms from tokens, replicates, watches, fails over and survives a zone loss', async (t) => {
  const cluster = new DaemonCluster()
  t.teardown(() => cluster.destroy())
  const token = await cluster.init('n1', ZONES['n1']!)
  for (const name of ['n2', 'n3', 'n4', 'n5']) await cluster.join(name, ZONES[name]!, token)
  await waitFor('5 voters', 30_000, async () => ((await votersOf(cluster, 'n1')) === 5 ? true : undefined))
  t.pass('five members, all voters, across three zones')

  // Writes on any node are readable (linearizably) on all.
  for (const name of cluster.names()) await cluster.put(name, `from-${name}`, `hello ${name}`)
  for (const reader of cluster.names()) {
    const values = await Promise.all(cluster.names().map((writer) => cluster.get(reader, `from-${writer}`)))
    t.same(values, cluster.names().map((writer) => `hello ${writer}`), `${reader} reads every node's write`)
  }

  // A watch on n2 sees writes made on n3 in order, without gaps.
  const startRevision = (await cluster.status('n2'))!.revision + 1
  const controller = new AbortController()
  const watched: Array<{ key: string; modRevision: number }> = []
  const watchResponse = await fetch(`http://127.0.0.1:${cluster.apiPort('n2')}/v1/watch?prefix=watched/&fromRevision=${startRevision}`, { signal: controller.signal })
  const reading = (async () => {
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of watchResponse.body as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true })
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      for (const line of lines) if (line !== '') watched.push(JSON.parse(line) as { key: string; modRevision: number })
    }
  })().catch(() => {})
  const revisions: number[] = []
  for (let i = 0; i < 30; i++) revisions.push(await cluster.put('n3', `watched/${String(i).padStart(2, '0')}`, `v${i}`))
  await waitFor('the watch to see 30 events', 10_000, async () => (watched.length >= 30 ? true : undefined))
  controller.abort()
  await reading
  t.same(watched.map((event) => event.key), revisions.map((_, i) => `watched/${String(i).padStart(2, '0')}`), 'events arrive in write order')
  t.same(watched.map((event) => event.modRevision), revisions, 'with the revisions the writers got, no gaps or duplicates')

  // kill -9 the leader: the survivors keep accepting writes.
  const leader = await cluster.leader()
  await cluster.kill(leader)
  const survivor = cluster.names().find((name) => name !== leader)!
  const killedAt = performance.now()
  await cluster.put(survivor, 'after-leader-kill', 'yes', 15_000)
  t.comment(`writes resumed ${Math.round(performance.now() - killedAt)} ms after killing leader ${leader}`)
  const newLeader = await cluster.leader()
  t.not(newLeader, leader, 'a new leader was elected')

  // The killed node restarts from its data directory without rejoining, and catches up.
  await cluster.start(leader)
  await waitFor(`${leader} to catch up`, 15_000, async () => {
    try {
      return (await cluster.get(leader, 'after-leader-kill')) === 'yes' ? true : undefined
    } catch {
      return undefined
    }
  })
  t.pass(`${leader} restarted from disk and serves the write made while it was down`)

  // Zone loss: kill both nodes of zone z1 (2 of 5 voters); the other 3 keep the store writable.
  await waitFor('5 voters again', 30_000, async () => ((await votersOf(cluster, survivor)) === 5 ? true : undefined))
  const zone1 = cluster.names().filter((name) => ZONES[name] === 'z1')
  for (const name of zone1) await cluster.kill(name)
  const remaining = cluster.names().find((name) => ZONES[name] !== 'z1')!
  const zoneKilledAt = performance.now()
  await cluster.put(remaining, 'after-zone-loss', 'still writable', 20_000)
  t.comment(`writable ${Math.round(performance.now() - zoneKilledAt)} ms after losing zone z1`)
  t.equal(await cluster.get(remaining, 'after-zone-loss'), 'still writable', 'the store stays writable without zone z1')
})
