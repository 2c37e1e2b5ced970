// Goal: the RaftNode driver keeps the Ready contract with real LevelDB storage: writes through any
// node are applied everywhere, linearizable reads see them, the group survives losing its leader,
// and a node restarted from its data directory catches up (through a snapshot when the log it
// missed was compacted). Method: three RaftNodes in one process over the in-memory transport,
// each with its own LevelDB directory; every wait polls with a deadline.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { waitFor as waitForCondition } from '../../lib/poll.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { NetworkMemory } from '../../network/src/sim/transport-memory.ts'
import { encodeKvCommand, KvStateMachine } from '../../node/src/kv-state-machine.ts'
import { RaftNode } from '../../node/src/raft-node.ts'

const IDS = ['a', 'b', 'c']
const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface Member {
  node: RaftNode
  kv: KvStateMachine
}

class Cluster {
  readonly root = mkdtempSync(join(tmpdir(), 'flotilla-raft-node-'))
  readonly network = new NetworkMemory({ random: new RandomXoshiro(7) })
  readonly members = new Map<string, Member>()

  async start(id: string, options: { joining?: boolean } = {}): Promise<Member> {
    const kv = new KvStateMachine()
    const transport = this.network.endpoint(id)
    transport.setPeers(new Map([...IDS, 'd'].map((peer) => [peer, peer])))
    const node = new RaftNode({
      id,
      // A joining machine bootstraps nothing: it learns the membership from the log.
      initialVoters: options.joining === true ? [] : IDS,
      dataDirectory: join(this.root, id),
      transport,
      stateMachine: kv,
      random: new RandomXoshiro(id.charCodeAt(0)),
      tickMs: 5,
      raft: { heartbeatIntervalTicks: 2, electionTimeoutTicks: 20 },
      snapshotEveryEntries: 20,
      requestTimeoutMs: 2000,
    })
    await node.start()
    const member = { node, kv }
    this.members.set(id, member)
    return member
  }

  async stop(id: string): Promise<void> {
    await this.members.get(id)?.node.stop()
    this.members.delete(id)
  }

  async leader(): Promise<string> {
    return waitFor('a leader', 5000, () => {
      for (const [id, member] of this.members) if (member.node.status().role === 'leader') return id
      return undefined
    })
  }

  /** Puts through `id`, retrying while leadership settles. */
  async put(id: string, key: string, value: string): Promise<void> {
    await waitFor(`put ${key}`, 5000, async () => {
      try {
        await this.members.get(id)!.node.propose(encodeKvCommand({ op: 'put', key, value: encoder.encode(value) }))
        return true
      } catch {
        return undefined
      }
    })
  }

  /** A linearizable read through `id`, retried while that node does not know the leader yet. */
  async read(id: string, key: string): Promise<string | undefined> {
    const member = this.members.get(id)!
    await waitFor(`a read barrier on ${id}`, 5000, async () => {
      try {
        await member.node.readBarrier()
        return true
      } catch (error) {
        if ((error as Error).name === 'NotLeaderError') return undefined
        throw error
      }
    })
    const value = member.kv.get(key)
    return value === undefined ? undefined : decoder.decode(value)
  }

  async shutdown(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.stop(id)
    rmSync(this.root, { recursive: true, force: true })
  }
}

/** Polls every 10 ms: in-process nodes move fast. */
function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  return waitForCondition(what, timeoutMs, probe, 10)
}


t.test('RaftNode replicates writes from any node and serves linearizable reads everywhere', async (t) => {
  const cluster = new Cluster()
  t.teardown(() => cluster.shutdown())
  for (const id of IDS) await cluster.start(id)
  const leader = await cluster.leader()
  const follower = IDS.find((id) => id !== leader)!
  await cluster.put(follower, 'x', 'from-follower')
  await cluster.put(leader, 'y', 'from-leader')
  for (const id of IDS) {
    t.equal(await cluster.read(id, 'x'), 'from-follower', `${id} reads x`)
    t.equal(await cluster.read(id, 'y'), 'from-leader', `${id} reads y`)
  }
})

t.test('RaftNode survives losing the leader; the old leader restarts from disk and catches up by snapshot', async (t) => {
  const cluster = new Cluster()
  t.teardown(() => cluster.shutdown())
  for (const id of IDS) await cluster.start(id)
  const oldLeader = await cluster.leader()
  await cluster.put(oldLeader, 'before', '1')
  await cluster.stop(oldLeader)
  const survivor = IDS.find((id) => id !== oldLeader)!
  // More writes than snapshotEveryEntries, so the survivors compact past what the old leader has.
  for (let i = 0; i < 45; i++) await cluster.put(survivor, `k${i}`, `v${i}`)
  const newLeader = await cluster.leader()
  t.not(newLeader, oldLeader, 'a survivor leads')
  const restarted = await cluster.start(oldLeader)
  const target = cluster.members.get(newLeader)!.node.status().commit
  await waitFor('the restarted node to catch up', 5000, () => (restarted.node.status().applied >= target ? true : undefined))
  t.equal(decoder.decode(restarted.kv.get('k44')!), 'v44', 'the restarted node has the latest write')
  t.equal(decoder.decode(restarted.kv.get('before')!), '1', 'and the write from before it stopped')
  t.equal(await cluster.read(oldLeader, 'k0'), 'v0', 'a linearizable read through it works')
})

t.test('RaftNode keeps committed state across a restart of the whole group', async (t) => {
  const cluster = new Cluster()
  t.teardown(() => cluster.shutdown())
  for (const id of IDS) await cluster.start(id)
  const leader = await cluster.leader()
  for (let i = 0; i < 30; i++) await cluster.put(leader, `key${i}`, `value${i}`)
  for (const id of IDS) await cluster.stop(id)
  for (const id of IDS) await cluster.start(id)
  // Before any new election completes, the state machine already holds what was applied.
  for (const id of IDS) t.equal(decoder.decode(cluster.members.get(id)!.kv.get('key0') ?? new Uint8Array()), 'value0', `${id} loaded its state`)
  await cluster.leader()
  for (const id of IDS) t.equal(await cluster.read(id, 'key29'), 'value29', `${id} serves the last write after restart`)
})

t.test('RaftNode fails fast when a proposal cannot be placed', async (t) => {
  const cluster = new Cluster()
  t.teardown(() => cluster.shutdown())
  const lonely = await cluster.start('a')
  // Alone, 'a' cannot elect itself (it needs 2 of 3 votes), so no leader is known.
  await t.rejects(lonely.node.propose(encodeKvCommand({ op: 'put', key: 'k', value: new Uint8Array(1) })), { name: 'NotLeaderError' })
  await t.rejects(lonely.node.readBarrier(), { name: 'NotLeaderError' })
})

t.test('RaftNode membership: a machine with an empty disk joins as a learner, is promoted, and a founder is removed', async (t) => {
  const cluster = new Cluster()
  t.teardown(() => cluster.shutdown())
  for (const id of IDS) await cluster.start(id)
  const leaderId = await cluster.leader()
  await cluster.put(leaderId, 'before-join', 'yes')
  const joiner = await cluster.start('d', { joining: true })
  const leader = cluster.members.get(leaderId)!.node
  await leader.proposeConfChange({ type: 'add-learner', nodeId: 'd' })
  await waitFor('d to catch up as a learner', 5000, () => (joiner.node.status().applied >= leader.status().commit ? true : undefined))
  t.same(joiner.node.membership().learners, ['d'], 'd learned it is a learner from the replicated log')
  t.same([...joiner.node.membership().voters].sort(), IDS, 'and who the founding voters are')
  t.equal(decoder.decode(joiner.kv.get('before-join')!), 'yes', 'and has the data written before it joined')
  await leader.proposeConfChange({ type: 'add-voter', nodeId: 'd' })
  const removed = IDS.find((id) => id !== leaderId)!
  const afterRemoval = await leader.proposeConfChange({ type: 'remove', nodeId: removed })
  t.same([...afterRemoval.voters].sort(), [...IDS.filter((id) => id !== removed), 'd'].sort(), 'd is a voter, the removed founder is gone')
  await t.rejects(leader.proposeConfChange({ type: 'add-learner', nodeId: removed }), { name: 'NotLeaderError', message: /cannot be reused/ }, 'a removed id cannot come back')
  const follower = IDS.find((id) => id !== leaderId && id !== removed)!
  await t.rejects(cluster.members.get(follower)!.node.proposeConfChange({ type: 'add-learner', nodeId: 'e' }), { name: 'NotLeaderError' }, 'only the leader proposes membership changes')
  await cluster.put('d', 'after-promotion', 'ok')
  t.equal(await cluster.read(leaderId, 'after-promotion'), 'ok', 'writes through the new voter commit')
})
