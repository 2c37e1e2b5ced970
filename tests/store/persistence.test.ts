// Goal: the store's state survives exactly through the two ways it leaves memory: a Raft snapshot
// image (snapshot → restore into another store) and LevelDB (apply batches committed with
// persistApplied → reopen → load), and damaged data is refused with CorruptDataError.
// Method: build state with seeded random commands, dump everything observable (range over all
// keys, revision, compacted revision, last stamp), and compare the dumps; LevelDB runs in a temp
// directory through a real LogStoreLevel, as RaftNode drives it.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { encodeMsgpack } from '../../consensus/src/codec.ts'
import { LogStoreLevel, encodeRecord } from '../../consensus/src/level/log-store-level.ts'
import type { ConfState } from '../../consensus/src/types.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import type { BatchOperation } from '../../node/src/raft-node.ts'
import { encodeCommand, type StoreCommand } from '../../node/src/store/commands.ts'
import { CompactedError } from '../../node/src/store/errors.ts'
import { RevisionedStore } from '../../node/src/store/revisioned-store.ts'
import { Applier, Recorder, bytes, waitFor } from './helpers.ts'

const root = mkdtempSync(join(tmpdir(), 'flotilla-store-'))
t.teardown(() => rmSync(root, { recursive: true, force: true }))
let directories = 0
const CONF: ConfState = { voters: ['a'], learners: [] }

/** Everything a reader can observe of a store. */
function dump(store: RevisionedStore): unknown {
  return {
    revision: store.revision(),
    compactedRevision: store.compactedRevision(),
    timeMs: store.lastAppliedTimeMs(),
    items: store.range({ prefix: '' }).items.map((kv) => ({ ...kv, value: [...kv.value] })),
  }
}

/** Seeded commands over a small key space, including CAS conflicts, transactions and a compaction. */
function randomCommands(count: number, seed: number): StoreCommand[] {
  const random = new RandomXoshiro(seed)
  const commands: StoreCommand[] = []
  for (let i = 0; i < count; i++) {
    const key = `/r/${random.int(0, 30)}`
    const roll = random.float()
    if (roll < 0.5) commands.push({ op: 'put', key, value: bytes(`v${i}`) })
    else if (roll < 0.6) commands.push({ op: 'put', key, value: bytes(`cas${i}`), ifModRevision: random.int(0, i + 1) })
    else if (roll < 0.8) commands.push({ op: 'delete', key })
    else commands.push({ op: 'txn', compares: [{ key, modRevision: 0 }], success: [{ op: 'put', key, value: bytes(`t${i}`) }], failure: [{ op: 'delete', key }] })
    if (i === Math.floor(count / 2)) commands.push({ op: 'compact', revision: Math.floor(i / 4) })
  }
  return commands
}

t.test('snapshot and restore: the restored store equals the original', async (t) => {
  const original = new Applier(new RevisionedStore())
  for (const command of randomCommands(400, 1)) original.apply(command)
  t.ok(original.store.compactedRevision() > 0 && original.store.size() > 5, 'a store with keys and a compaction')

  const copy = new Applier(new RevisionedStore())
  copy.put('/r/stale', 'only in the copy')
  copy.put('/r/1', 'overwritten')
  const batch: BatchOperation[] = []
  copy.store.restore(original.store.snapshot(), batch)
  t.same(dump(copy.store), dump(original.store), 'range over everything, revision, compacted revision and stamp agree')
  t.same(copy.store.snapshot(), original.store.snapshot(), 'and it snapshots to the same bytes')
  t.ok(batch.some((op) => op.type === 'del' && op.key === 's/kv//r/stale'), 'the restore batch deletes keys the image lacks')
  t.equal(batch.filter((op) => op.type === 'put' && op.key.startsWith('s/kv/')).length, original.store.size(), 'and writes every key of the image')

  // Both continue identically from there.
  const next: StoreCommand = { op: 'put', key: '/r/1', value: bytes('after') }
  t.same(copy.apply(next), original.apply(next), 'the next command gives the same result on both')
})

t.test('a damaged snapshot image is refused and leaves the store as it was', async (t) => {
  const a = new Applier(new RevisionedStore())
  a.put('k', 'v')
  const before = dump(a.store)
  const images: Array<[string, Uint8Array]> = [
    ['not msgpack', Uint8Array.of(0x92, 1)],
    ['wrong format', encodeMsgpack({ format: 99, revision: 1, compactedRevision: 0, timeMs: 0, keys: [] })],
    ['key beyond revision', encodeMsgpack({ format: 1, revision: 1, compactedRevision: 0, timeMs: 0, keys: [['k', bytes('v'), 1, 2, 1]] })],
    ['repeated key', encodeMsgpack({ format: 1, revision: 2, compactedRevision: 0, timeMs: 0, keys: [['k', bytes('v'), 1, 1, 1], ['k', bytes('v'), 2, 2, 1]] })],
    ['compacted beyond revision', encodeMsgpack({ format: 1, revision: 1, compactedRevision: 2, timeMs: 0, keys: [] })],
    ['bad tuple', encodeMsgpack({ format: 1, revision: 1, compactedRevision: 0, timeMs: 0, keys: [['k', 'not bytes', 1, 1, 1]] })],
  ]
  for (const [label, image] of images) {
    const batch: BatchOperation[] = []
    t.throws(() => a.store.restore(image, batch), { name: 'CorruptDataError' }, label)
    t.same(batch, [], `${label}: nothing written`)
  }
  t.same(dump(a.store), before, 'state unchanged')
})

/** A LevelDB-backed replica: commands become entries, applied and persisted as RaftNode does. */
class DiskReplica {
  readonly directory = join(root, `db-${++directories}`)
  log!: LogStoreLevel
  store!: RevisionedStore
  index = 0
  timeMs = 1_700_000_000_000

  async open(): Promise<void> {
    this.log = await LogStoreLevel.open(this.directory)
    const loaded = await this.log.load()
    this.index = loaded.applied
    this.store = new RevisionedStore()
    await this.store.load(this.log)
  }

  /** Appends `commands` as one run of entries, commits them, applies them, persists the batch. */
  async applyAll(commands: readonly StoreCommand[]): Promise<unknown[]> {
    const entries = commands.map((command) => ({ type: 'normal' as const, term: 1, index: ++this.index, data: encodeCommand(command), timeMs: (this.timeMs += 250) }))
    await this.log.persist({ entries, hardState: { term: 1, vote: 'a', commit: this.index } })
    const batch: BatchOperation[] = []
    const results = entries.map((entry) => this.store.apply(entry.data, entry.index, entry.timeMs, batch))
    await this.log.persistApplied(this.index, CONF, batch)
    return results
  }

  async close(): Promise<void> {
    await this.log.close()
  }
}

t.test('load rebuilds the applied state from LevelDB', async (t) => {
  const replica = new DiskReplica()
  await replica.open()
  t.equal(replica.store.revision(), 0, 'a fresh database is an empty store')
  const commands = randomCommands(300, 2)
  for (let start = 0; start < commands.length; start += 40) await replica.applyAll(commands.slice(start, start + 40))
  const before = dump(replica.store)
  const revision = replica.store.revision()
  await replica.close()

  const reopened = new DiskReplica()
  Object.assign(reopened, { directory: replica.directory })
  await reopened.open()
  t.same(dump(reopened.store), before, 'range over everything, revision, compacted revision and stamp agree')

  const early = Recorder.watch(reopened.store, { prefix: '' }, revision)
  await waitFor('the error', 2000, () => early.errors[0])
  t.ok(early.errors[0] instanceof CompactedError, 'the history starts empty: a watch from before the load revision fails')
  const live = Recorder.watch(reopened.store, { prefix: '' }, revision + 1)
  const [result] = await reopened.applyAll([{ op: 'put', key: '/r/0', value: bytes('after restart') }])
  t.match(result, { ok: true, revision: revision + 1 }, 'revisions continue')
  await waitFor('the live event', 2000, () => live.events[0])
  t.equal(live.events[0]!.modRevision, revision + 1, 'a watch from the load revision + 1 works')
  t.same(live.errors, [])
  await reopened.close()
})

t.test('a restore through LevelDB deletes what the image lacks', async (t) => {
  const replica = new DiskReplica()
  await replica.open()
  await replica.applyAll(randomCommands(100, 3))
  const source = new Applier(new RevisionedStore())
  for (const command of randomCommands(150, 4)) source.apply(command)
  const batch: BatchOperation[] = []
  replica.store.restore(source.store.snapshot(), batch)
  await replica.log.persistApplied(replica.index, CONF, batch)
  await replica.close()
  const reopened = new DiskReplica()
  Object.assign(reopened, { directory: replica.directory })
  await reopened.open()
  t.same(dump(reopened.store), dump(source.store), 'LevelDB holds exactly the image')
  await reopened.close()
})

t.test('damaged store records in LevelDB are refused with CorruptDataError', async (t) => {
  const cases: Array<[string, (db: LogStoreLevel['db']) => Promise<void>, RegExp]> = [
    ['garbage value', (db) => db.put('s/kv/k', Uint8Array.of(1, 2, 3, 4, 5)), /s\/kv\/k .*checksum mismatch/],
    ['record under another key', async (db) => db.put('s/kv/k', (await db.get('s/kv/other'))!), /s\/kv\/k .*checksum mismatch/],
    ['inconsistent revisions', (db) => db.put('s/kv/k', encodeRecord('s/kv/k', { value: bytes('v'), createRevision: 5, modRevision: 2, version: 1 })), /inconsistent revisions/],
    ['key beyond the revision', (db) => db.put('s/kv/k', encodeRecord('s/kv/k', { value: bytes('v'), createRevision: 1, modRevision: 99, version: 1 })), /beyond the store revision/],
    ['meta missing', (db) => db.del('s/meta'), /s\/meta .*missing while/],
  ]
  for (const [label, damage, pattern] of cases) {
    const replica = new DiskReplica()
    await replica.open()
    await replica.applyAll([
      { op: 'put', key: 'k', value: bytes('v') },
      { op: 'put', key: 'other', value: bytes('w') },
    ])
    await damage(replica.log.db)
    await t.rejects(new RevisionedStore().load(replica.log), { name: 'CorruptDataError', message: pattern }, label)
    await replica.close()
  }
})
