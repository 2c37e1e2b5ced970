// Goal: RevisionedStore works as the state machine of a real Raft group: writes proposed on one
// node are applied everywhere with the same revisions, a watch on another node sees them in order
// without gaps, a compare-and-swap conflict comes back to the proposer as a result, and a
// compaction proposed through the log applies on every replica.
// Method: three RaftNodes in one process over the in-memory transport, each with its own LevelDB
// directory and RevisionedStore (as tests/node/raft-node.test.ts sets up); every wait polls with
// a deadline.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import { NetworkMemory } from '../../network/src/sim/transport-memory.ts'
import { RaftNode } from '../../node/src/raft-node.ts'
import { encodeCommand, type PutResult, type StoreCommand, type StoreResult } from '../../node/src/store/commands.ts'
import { CompactedError } from '../../node/src/store/errors.ts'
import { RevisionedStore } from '../../node/src/store/revisioned-store.ts'
import { Recorder, bytes, text, waitFor } from './helpers.ts'

const IDS = ['a', 'b', 'c']

interface Member {
  readonly node: RaftNode
  readonly store: RevisionedStore
}

const root = mkdtempSync(join(tmpdir(), 'flotilla-store-raft-'))
const network = new NetworkMemory({ random: new RandomXoshiro(5) })
const members = new Map<string, Member>()

t.teardown(async () => {
  for (const member of members.values()) await member.node.stop()
  rmSync(root, { recursive: true, force: true })
})

async function start(id: string): Promise<void> {
  const store = new RevisionedStore()
  const transport = network.endpoint(id)
  transport.setPeers(new Map(IDS.map((peer) => [peer, peer])))
  const node = new RaftNode({
    id,
    initialVoters: IDS,
    dataDirectory: join(root, id),
    transport,
    stateMachine: store,
    random: new RandomXoshiro(id.charCodeAt(0)),
    tickMs: 5,
    raft: { heartbeatIntervalTicks: 2, electionTimeoutTicks: 20 },
    snapshotEveryEntries: 50,
    requestTimeoutMs: 2000,
  })
  await node.start()
  members.set(id, { node, store })
}

/** Proposes through `id`, retrying only while no leader is known (so no command applies twice). */
async function propose(id: string, command: StoreCommand): Promise<StoreResult> {
  return waitFor(`${command.op} through ${id}`, 5000, async () => {
    try {
      return (await members.get(id)!.node.propose(encodeCommand(command))) as StoreResult
    } catch (error) {
      if ((error as Error).name === 'NotLeaderError') return undefined
      throw error
    }
  })
}

t.test('three replicas: ordered watch on one node, writes and CAS through another', async (t) => {
  for (const id of IDS) await start(id)
  const leader = await waitFor('a leader', 5000, () => IDS.find((id) => members.get(id)!.node.status().role === 'leader'))
  const [writer, watcher] = IDS.filter((id) => id !== leader) as [string, string]
  const watchStore = members.get(watcher)!.store
  const watch = Recorder.watch(watchStore, { prefix: '/pods/' }, 1)
  const everything = Recorder.watch(watchStore, { prefix: '' }, 1)

  // Sequential writes, then a burst of concurrent ones (they share Raft batches).
  const revisions: number[] = []
  for (let i = 0; i < 20; i++) {
    const result = (await propose(writer, { op: 'put', key: `/pods/p${i % 5}`, value: bytes(`v${i}`) })) as PutResult
    t.equal(result.ok, true)
    if (result.ok) revisions.push(result.revision)
  }
  const burst = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      propose(writer, i % 4 === 3 ? { op: 'delete', key: `/pods/p${i % 5}` } : { op: 'put', key: i % 2 === 0 ? `/pods/p${i % 5}` : `/other/${i}`, value: bytes(`b${i}`) }),
    ),
  )
  await propose(writer, {
    op: 'txn',
    compares: [],
    success: [{ op: 'put', key: '/pods/txn-1', value: bytes('t') }, { op: 'put', key: '/pods/txn-2', value: bytes('t') }],
    failure: [],
  })
  t.same(revisions, Array.from({ length: 20 }, (_, i) => i + 1), 'sequential writes took revisions 1..20')
  t.ok(burst.every((result) => result.ok), 'every write of the burst applied')

  // CAS conflict reported to the proposer.
  const current = members.get(writer)!.store.get('/pods/txn-1')!
  const conflict = await propose(writer, { op: 'put', key: '/pods/txn-1', value: bytes('lost'), ifModRevision: 0 })
  t.same(conflict, { ok: false, reason: 'conflict', currentModRevision: current.modRevision, revision: current.modRevision }, 'the proposer learns the current modRevision')
  const swapped = (await propose(writer, { op: 'put', key: '/pods/txn-1', value: bytes('won'), ifModRevision: current.modRevision })) as PutResult
  t.match(swapped, { ok: true, revision: current.modRevision + 1 }, 'a CAS against the right revision wins')

  // The watching node sees everything in order without gaps.
  const head = members.get(writer)!.store.revision()
  await waitFor('the watcher to reach the head', 5000, () => (everything.events.at(-1)?.modRevision === head ? true : undefined))
  const seen = [...new Set(everything.events.map((event) => event.modRevision))]
  t.same(seen, Array.from({ length: head }, (_, i) => i + 1), `every revision 1..${head} once, in order`)
  t.same(watch.events, everything.events.filter((event) => event.key.startsWith('/pods/')), 'the prefix watch sees its part, in the same order')
  t.equal(everything.events.filter((event) => event.modRevision === current.modRevision + 1).length, 1, 'the CAS write is one event')
  t.same(
    everything.events.filter((event) => event.key.startsWith('/pods/txn-')).slice(0, 2).map((event) => event.modRevision),
    [head - 1, head - 1],
    'the transaction is one revision with two events',
  )
  t.same([...watch.errors, ...everything.errors], [])

  // Linearizable read on the watcher's node; all replicas converge to the same state.
  await members.get(watcher)!.node.readBarrier()
  t.equal(text(watchStore.get('/pods/txn-1')?.value), 'won')
  await waitFor('all replicas at the head', 5000, () => (IDS.every((id) => members.get(id)!.store.revision() === head) ? true : undefined))
  const dumps = IDS.map((id) => members.get(id)!.store.snapshot())
  t.same(dumps[1], dumps[0])
  t.same(dumps[2], dumps[0], 'all three replicas hold the same state')

  // A compaction goes through the log and applies on every replica.
  const compacted = await propose(writer, { op: 'compact', revision: 10 })
  t.same(compacted, { ok: true, revision: head, compactedRevision: 10 })
  await waitFor('compaction everywhere', 5000, () => (IDS.every((id) => members.get(id)!.store.compactedRevision() === 10) ? true : undefined))
  const tooOld = Recorder.watch(watchStore, { prefix: '' }, 10)
  await waitFor('the error', 2000, () => tooOld.errors[0])
  t.ok(tooOld.errors[0] instanceof CompactedError, 'a watch at the compacted revision fails on another node')
})
