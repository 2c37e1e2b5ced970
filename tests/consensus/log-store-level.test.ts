// Goal: LogStoreLevel makes Raft state durable exactly (a reload rebuilds the same MemoryStorage
// the driver mirrored), keeps it consistent across crashes at any point, and never serves damaged
// data: every kind of damage ends in CorruptDataError naming what is wrong.
// Method: drive the store and a reference MemoryStorage with the same operations and compare after
// reopening; SIGKILL a child process that writes batches in a loop (tests/consensus/fixtures/
// log-store-writer.ts) at random moments and check every acknowledged batch survived; damage
// records through LevelDB and LevelDB's files on disk, then open and load.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, existsSync, openSync, writeSync, closeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClassicLevel } from 'classic-level'
import { AssertionError } from '../../lib/assert.ts'
import { crc32 } from '../../lib/crc32.ts'
import { CorruptDataError } from '../../lib/errors.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { encodeMsgpack } from '../../consensus/src/codec.ts'
import {
  CORRUPTION_MARKER_FILE,
  LogStoreLevel,
  SNAPSHOT_CHUNK_MAX_BYTES,
  encodeRecord,
  entryKey,
  type PersistUpdate,
  type StateMachineOp,
} from '../../consensus/src/level/log-store-level.ts'
import { MemoryStorage } from '../../consensus/src/storage.ts'
import type { ConfState, Entry, Snapshot } from '../../consensus/src/types.ts'
import {
  APPLIED_STATE_KEY,
  encodeAppliedState,
  entryFor,
  snapshotDataFor,
  termFor,
} from './fixtures/log-store-writer.ts'

const root = mkdtempSync(path.join(os.tmpdir(), 'flotilla-log-store-'))
t.teardown(() => rmSync(root, { recursive: true, force: true }))
let directoryCount = 0

function freshDirectory(): string {
  directoryCount++
  return path.join(root, `node-${directoryCount}`)
}

const CONF: ConfState = { voters: ['a', 'b', 'c'], learners: ['d'] }

function normal(index: number, term: number, text = `entry ${index}`): Entry {
  return { type: 'normal', term, index, data: new TextEncoder().encode(text) }
}

function range(first: number, last: number, term: number): Entry[] {
  const entries: Entry[] = []
  for (let index = first; index <= last; index++) entries.push(normal(index, term))
  return entries
}

function patternedBytes(size: number, seed: number): Uint8Array {
  const random = new RandomXoshiro(seed)
  const bytes = new Uint8Array(size)
  for (let position = 0; position < size; position++) bytes[position] = random.int(0, 256)
  return bytes
}

/** Everything the core can observe through LogStorage. */
function dump(storage: MemoryStorage): unknown {
  const first = storage.firstIndex()
  const last = storage.lastIndex()
  const terms: unknown[] = []
  for (let index = first - 1; index <= last; index++) terms.push(storage.term(index))
  return {
    initialState: storage.initialState(),
    first,
    last,
    entries: last >= first ? storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [],
    terms,
    termBeforeFirst: storage.term(first - 2),
    snapshot: storage.snapshot(),
  }
}

/** The store plus the MemoryStorage mirror a driver would keep, updated the same way. */
class Harness {
  readonly store: LogStoreLevel
  readonly mirror: MemoryStorage
  applied: number

  private constructor(store: LogStoreLevel, mirror: MemoryStorage, applied: number) {
    this.store = store
    this.mirror = mirror
    this.applied = applied
  }

  /** Opens the store; `previous` carries the reference mirror across a reopen. */
  static async open(directory: string, previous?: Harness): Promise<Harness> {
    const store = await LogStoreLevel.open(directory)
    await store.load()
    return new Harness(store, previous?.mirror ?? new MemoryStorage(), previous?.applied ?? 0)
  }

  async persist(update: PersistUpdate): Promise<void> {
    await this.store.persist(update)
    if (update.snapshot !== undefined) this.mirror.applySnapshot(update.snapshot)
    if (update.entries !== undefined) this.mirror.append(update.entries)
    if (update.hardState !== undefined) this.mirror.setHardState(update.hardState)
  }

  async persistApplied(applied: number, confState: ConfState, operations: StateMachineOp[] = []): Promise<void> {
    await this.store.persistApplied(applied, confState, operations)
    this.mirror.setConfState(confState)
    this.applied = applied
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.store.saveSnapshot(snapshot)
    this.mirror.createSnapshot(snapshot.meta.index, snapshot.meta.confState, snapshot.data)
    this.mirror.compact(snapshot.meta.index)
  }
}

/** Closes `harness`, reopens its directory and checks the reload equals the mirror. */
async function reloadMatches(t: Test, directory: string, harness: Harness, label: string): Promise<LogStoreLevel> {
  await harness.store.close()
  const store = await LogStoreLevel.open(directory)
  const { storage, applied } = await store.load()
  t.same(dump(storage), dump(harness.mirror), `${label}: reload equals the mirror`)
  t.equal(applied, harness.applied, `${label}: applied index`)
  return store
}

async function raftKeys(database: ClassicLevel<string, Uint8Array>, prefix: string): Promise<string[]> {
  return database.keys({ gte: prefix, lt: `${prefix}\xff` }).all()
}

/** Opens and loads; expects CorruptDataError matching `pattern` from one of the two. */
async function expectCorrupt(t: Test, directory: string, pattern: RegExp, label: string): Promise<void> {
  let store: LogStoreLevel | undefined
  try {
    store = await LogStoreLevel.open(directory)
    await store.load()
    t.fail(`${label}: open and load succeeded`)
  } catch (error) {
    t.ok(error instanceof CorruptDataError, `${label}: CorruptDataError (got ${String(error)})`)
    t.match((error as Error).message, pattern, `${label}: message`)
  } finally {
    await store?.close()
  }
}

/** Runs `mutate` on the raw LevelDB of `directory` (the store must be closed). */
async function withRawDatabase(
  directory: string,
  mutate: (database: ClassicLevel<string, Uint8Array>) => Promise<void>,
): Promise<void> {
  const database = new ClassicLevel<string, Uint8Array>(directory, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await database.open()
  try {
    await mutate(database)
  } finally {
    await database.close()
  }
}

/** A store with a snapshot at 10, entries 11..20 in terms 2..3, commit 18, applied 15. */
async function buildTypicalStore(directory: string): Promise<void> {
  const harness = await Harness.open(directory)
  await harness.persist({ entries: range(1, 14, 2), hardState: { term: 2, vote: 'a', commit: 12 } })
  await harness.persist({ entries: range(15, 20, 3), hardState: { term: 3, vote: 'a', commit: 18 } })
  await harness.persistApplied(15, CONF, [{ type: 'put', key: 's/x', value: Uint8Array.of(1) }])
  await harness.saveSnapshot({
    meta: { index: 10, term: 2, confState: CONF },
    data: patternedBytes(SNAPSHOT_CHUNK_MAX_BYTES * 2 + 10, 1),
  })
  await harness.store.close()
}

t.test('crc32 matches the standard check values', async (t) => {
  const text = new TextEncoder().encode('123456789')
  t.equal(crc32(text), 0xcbf43926)
  t.equal(crc32(new Uint8Array(0)), 0)
  t.equal(crc32(new TextEncoder().encode('The quick brown fox jumps over the lazy dog')), 0x414fa339)
  t.equal(crc32(text.subarray(4), crc32(text.subarray(0, 4))), 0xcbf43926, 'incremental equals whole')
})

t.test('a fresh store loads empty', async (t) => {
  const store = await LogStoreLevel.open(freshDirectory())
  const { storage, applied } = await store.load()
  t.same(dump(storage), dump(new MemoryStorage()))
  t.equal(applied, 0)
  await store.close()
})

t.test('round-trips hard state, entries, snapshot and applied state', async (t) => {
  const directory = freshDirectory()
  const harness = await Harness.open(directory)
  await harness.persist({
    entries: [
      normal(1, 1),
      { type: 'conf', term: 1, index: 2, change: { type: 'add-learner', nodeId: 'd' } },
      { type: 'normal', term: 2, index: 3, data: new Uint8Array(0) },
      normal(4, 2),
    ],
    hardState: { term: 2, vote: 'b', commit: 3 },
  })
  await harness.persistApplied(3, CONF, [
    { type: 'put', key: 's/a', value: Uint8Array.of(1, 2) },
    { type: 'put', key: 's/b', value: Uint8Array.of(3) },
  ])
  await harness.saveSnapshot({ meta: { index: 2, term: 1, confState: CONF }, data: Uint8Array.of(9, 8, 7) })
  await harness.persistApplied(3, CONF, [{ type: 'del', key: 's/b' }])
  const store = await reloadMatches(t, directory, harness, 'mixed')
  t.same(await store.db.get('s/a'), Uint8Array.of(1, 2), 'state machine key written with applied')
  t.equal(await store.db.get('s/b'), undefined, 'state machine delete applied')
  const reloaded = await store.load()
  const entries = reloaded.storage.entries(3, 5, Number.MAX_SAFE_INTEGER)
  t.ok(Array.isArray(entries))
  for (const entry of Array.isArray(entries) ? entries : []) {
    if (entry.type === 'normal') t.equal(entry.data.constructor, Uint8Array, `entry ${entry.index} data is a Uint8Array`)
  }
  t.equal(reloaded.storage.snapshot().data.constructor, Uint8Array, 'snapshot data is a Uint8Array')
  await store.close()
})

t.test('new entries replace the conflicting suffix', async (t) => {
  const directory = freshDirectory()
  const harness = await Harness.open(directory)
  await harness.persist({ entries: range(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 4 } })
  await harness.persist({ entries: range(6, 7, 2), hardState: { term: 2, vote: '', commit: 4 } })
  t.same(await raftKeys(harness.store.db, 'r/e/'), [1, 2, 3, 4, 5, 6, 7].map(entryKey), 'entries 8..10 deleted')
  // Replacing from the middle with a longer run, then appending after it.
  await harness.persist({ entries: range(3, 12, 3) })
  await harness.persist({ entries: range(13, 13, 3), hardState: { term: 3, vote: 'c', commit: 11 } })
  const store = await reloadMatches(t, directory, harness, 'after replacements')
  const { storage } = await store.load()
  t.equal(storage.term(2), 1)
  t.equal(storage.term(3), 3)
  t.equal(storage.lastIndex(), 13)
  await store.close()
})

t.test('a snapshot installed by persist replaces the whole log', async (t) => {
  const directory = freshDirectory()
  const harness = await Harness.open(directory)
  await harness.persist({ entries: range(1, 20, 1), hardState: { term: 1, vote: 'a', commit: 5 } })
  await harness.persistApplied(5, { voters: ['a'], learners: [] })
  const snapshot: Snapshot = { meta: { index: 50, term: 4, confState: CONF }, data: patternedBytes(5000, 2) }
  await harness.persist({ snapshot, entries: [normal(50, 4), normal(51, 4), normal(52, 5)], hardState: { term: 5, vote: '', commit: 50 } })
  t.same(await raftKeys(harness.store.db, 'r/e/'), [entryKey(51), entryKey(52)], 'only entries after the snapshot remain')
  // A crash now leaves applied (5) below the snapshot (50): the membership comes from the snapshot.
  let store = await reloadMatches(t, directory, harness, 'before the state machine restored')
  let loaded = await store.load()
  t.same(loaded.storage.initialState().confState, CONF)
  t.equal(loaded.applied, 5, 'applied below the snapshot tells the driver to restore it')
  await store.persistApplied(50, CONF, [])
  await store.persist({ snapshot: { meta: { index: 30, term: 3, confState: CONF }, data: Uint8Array.of(1) } })
  await store.close()
  store = await LogStoreLevel.open(directory)
  loaded = await store.load()
  t.equal(loaded.storage.snapshot().meta.index, 50, 'an older snapshot is ignored')
  t.equal(loaded.storage.lastIndex(), 52)
  t.equal(loaded.applied, 50)
  await store.close()
})

t.test('snapshot data is chunked and stale chunks are removed', async (t) => {
  const directory = freshDirectory()
  let harness = await Harness.open(directory)
  await harness.persist({ entries: range(1, 30, 1), hardState: { term: 1, vote: 'a', commit: 30 } })
  await harness.persistApplied(30, CONF)
  const big = patternedBytes(SNAPSHOT_CHUNK_MAX_BYTES * 2 + 17, 3)
  await harness.saveSnapshot({ meta: { index: 10, term: 1, confState: CONF }, data: big })
  t.equal((await raftKeys(harness.store.db, 'r/sd/')).length, 3, 'three chunks for 2 MiB + 17 bytes')
  await (await reloadMatches(t, directory, harness, 'big snapshot')).close()
  harness = await Harness.open(directory, harness)
  await harness.saveSnapshot({ meta: { index: 20, term: 1, confState: CONF }, data: patternedBytes(SNAPSHOT_CHUNK_MAX_BYTES, 4) })
  t.same(await raftKeys(harness.store.db, 'r/sd/'), ['r/sd/00000000'], 'exactly 1 MiB is one chunk; stale chunks deleted')
  t.same(await raftKeys(harness.store.db, 'r/e/'), range(21, 30, 1).map((entry) => entryKey(entry.index)))
  await harness.saveSnapshot({ meta: { index: 25, term: 1, confState: CONF }, data: new Uint8Array(0) })
  t.same(await raftKeys(harness.store.db, 'r/sd/'), [], 'an empty snapshot has no chunks')
  const store = await reloadMatches(t, directory, harness, 'empty snapshot')
  const { storage } = await store.load()
  t.same(storage.snapshot().data, new Uint8Array(0))
  t.equal(storage.firstIndex(), 26)
  await store.close()
})

t.test('compaction', async (t) => {
  const directory = freshDirectory()
  const harness = await Harness.open(directory)
  await harness.persist({ entries: range(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 8 } })
  await harness.persistApplied(8, CONF)
  await harness.saveSnapshot({ meta: { index: 6, term: 1, confState: CONF }, data: Uint8Array.of(6) })
  t.same(await raftKeys(harness.store.db, 'r/e/'), range(7, 10, 1).map((entry) => entryKey(entry.index)), 'saveSnapshot compacts')
  // Entries an older layout might have left behind at or below the snapshot are removed.
  await harness.store.db.put(entryKey(3), encodeRecord(entryKey(3), normal(3, 1)))
  await harness.store.compact(6)
  t.same(await raftKeys(harness.store.db, 'r/e/'), range(7, 10, 1).map((entry) => entryKey(entry.index)), 'compact removes them')
  await t.rejects(harness.store.compact(7), AssertionError, 'compaction past the snapshot would lose the log start')
  const store = await reloadMatches(t, directory, harness, 'compacted')
  await store.close()
})

t.test('write-time invariants', async (t) => {
  const directory = freshDirectory()
  const store = await LogStoreLevel.open(directory)
  await t.rejects(store.persist({ entries: [normal(1, 1)] }), AssertionError, 'writes before load are refused')
  await store.load()
  await store.persist({ entries: range(1, 5, 2), hardState: { term: 2, vote: 'a', commit: 3 } })
  await t.rejects(store.persist({ entries: [normal(7, 2)] }), AssertionError, 'gap')
  await t.rejects(store.persist({ entries: [normal(3, 1)] }), AssertionError, 'term below the preceding entry')
  await t.rejects(store.persist({ entries: [normal(2, 2)] }), AssertionError, 'truncating below commit')
  await t.rejects(store.persist({ hardState: { term: 2, vote: 'a', commit: 6 } }), AssertionError, 'commit beyond last')
  await t.rejects(store.persistApplied(4, CONF, []), AssertionError, 'applied beyond commit')
  await t.rejects(
    store.persistApplied(1, CONF, [{ type: 'put', key: 'r/hs', value: Uint8Array.of(0) }]),
    AssertionError,
    'state machine writing into r/',
  )
  await t.rejects(store.saveSnapshot({ meta: { index: 3, term: 1, confState: CONF }, data: Uint8Array.of(1) }), AssertionError, 'wrong term')
  await store.close()
  const reopened = await LogStoreLevel.open(directory)
  const { storage } = await reopened.load()
  t.equal(storage.lastIndex(), 5, 'nothing refused was written')
  t.equal(storage.initialState().hardState.commit, 3)
  await reopened.close()
})

t.test('random operation sequences reload identically', async (t) => {
  const random = new RandomXoshiro(99)
  for (let round = 0; round < 4; round++) {
    const directory = freshDirectory()
    let harness = await Harness.open(directory)
    let term = 1
    for (let step = 0; step < 60; step++) {
      const last = harness.mirror.lastIndex()
      const snapshotIndex = harness.mirror.snapshot().meta.index
      const commit = harness.mirror.initialState().hardState.commit
      const choice = random.int(0, 10)
      if (choice < 5) {
        // Append or replace from a point after the commit index.
        const from = random.int(Math.max(commit, snapshotIndex) + 1, last + 2)
        if (random.chance(0.3)) term++
        const count = random.int(1, 6)
        const entries = range(from, from + count - 1, term)
        const newCommit = Math.min(from + count - 1, commit + random.int(0, 4))
        await harness.persist({ entries, hardState: { term, vote: 'a', commit: newCommit } })
      } else if (choice < 7 && commit > harness.applied) {
        await harness.persistApplied(random.int(harness.applied, commit + 1), CONF, [
          { type: 'put', key: `s/${step}`, value: Uint8Array.of(step) },
        ])
      } else if (choice < 8 && harness.applied > snapshotIndex) {
        const index = random.int(snapshotIndex, harness.applied + 1)
        const snapshotTerm = harness.mirror.term(index)
        if (typeof snapshotTerm !== 'number') throw new Error('term of a live index')
        await harness.saveSnapshot({
          meta: { index, term: snapshotTerm, confState: CONF },
          data: patternedBytes(random.int(0, 3000), step),
        })
      } else if (choice < 9) {
        const index = last + random.int(1, 30)
        term++
        await harness.persist({
          snapshot: { meta: { index, term, confState: CONF }, data: patternedBytes(random.int(0, 2000), step) },
          hardState: { term, vote: '', commit: index },
        })
        await harness.persistApplied(index, CONF)
      } else {
        const store = await reloadMatches(t, directory, harness, `round ${round} step ${step}`)
        await store.close()
        harness = await Harness.open(directory, harness)
      }
    }
    const store = await reloadMatches(t, directory, harness, `round ${round} end`)
    await store.close()
  }
})

t.test('crash recovery: every acknowledged batch survives SIGKILL', async (t) => {
  const directory = freshDirectory()
  const fixture = fileURLToPath(new URL('./fixtures/log-store-writer.ts', import.meta.url))
  const seed = Date.now()
  t.comment(`kill points from seed ${seed}`)
  const random = new RandomXoshiro(seed)
  const rounds = 4
  let lastPrinted = 0
  for (let round = 0; round < rounds; round++) {
    const killAfterAcks = random.int(3, 45)
    const printed = await runWriterUntilKilled(directory, fixture, killAfterAcks)
    t.ok(printed.length >= killAfterAcks, `round ${round}: ${printed.length} batches acknowledged before SIGKILL`)
    const maxPrinted = Math.max(...printed)
    t.ok(maxPrinted > lastPrinted, `round ${round}: progress past ${lastPrinted}`)
    lastPrinted = maxPrinted

    const store = await LogStoreLevel.open(directory)
    const { storage, applied } = await store.load()
    const snapshotIndex = storage.snapshot().meta.index
    const lastIndex = storage.lastIndex()
    t.ok(lastIndex >= maxPrinted, `round ${round}: last index ${lastIndex} covers acknowledged ${maxPrinted}`)
    t.ok(lastIndex <= maxPrinted + 3, `round ${round}: at most the batch in flight beyond it`)
    const commit = storage.initialState().hardState.commit
    t.ok(commit >= maxPrinted - 1, `round ${round}: commit ${commit} covers acknowledged ${maxPrinted - 1}`)
    let mismatches = 0
    for (let index = Math.max(1, snapshotIndex + 1); index <= maxPrinted; index++) {
      const found = storage.entries(index, index + 1, Number.MAX_SAFE_INTEGER)
      const expected = entryFor(index)
      if (!Array.isArray(found) || found[0]?.type !== 'normal' || found[0].term !== termFor(index)) mismatches++
      else if (Buffer.compare(found[0].data, expected.data) !== 0) mismatches++
    }
    t.equal(mismatches, 0, `round ${round}: entries ${snapshotIndex + 1}..${maxPrinted} intact`)
    if (snapshotIndex > 0) {
      t.equal(storage.snapshot().meta.term, termFor(snapshotIndex))
      t.same(storage.snapshot().data, snapshotDataFor(snapshotIndex), `round ${round}: snapshot at ${snapshotIndex} intact`)
    }
    const appliedState = await store.db.get(APPLIED_STATE_KEY)
    t.same(appliedState ?? encodeAppliedState(0), encodeAppliedState(applied), `round ${round}: state machine agrees with applied ${applied}`)
    await store.close()
  }
})

/** Starts the writer, SIGKILLs it after `killAfterAcks` acknowledgements, returns what it printed. */
function runWriterUntilKilled(directory: string, fixture: string, killAfterAcks: number): Promise<number[]> {
  const DEADLINE_MS = 60_000
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, directory, '100000'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const printed: number[] = []
    let pending = ''
    let stderr = ''
    let killed = false
    const deadline = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`writer acknowledged only ${printed.length} of ${killAfterAcks} batches in ${DEADLINE_MS} ms: ${stderr}`))
    }, DEADLINE_MS)
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      pending += text
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      // Only complete lines count: a partial line was not fully printed, so maybe not acknowledged.
      for (const line of lines) printed.push(Number(line))
      if (!killed && printed.length >= killAfterAcks) {
        killed = true
        child.kill('SIGKILL')
      }
    })
    child.on('exit', (code, signal) => {
      clearTimeout(deadline)
      if (signal === 'SIGKILL' && killed) resolve(printed)
      else reject(new Error(`writer exited on its own (code ${code}, signal ${signal}): ${stderr}`))
    })
  })
}

t.test('damaged records are rejected, naming the key', async (t) => {
  type Damage = [label: string, mutate: (database: ClassicLevel<string, Uint8Array>) => Promise<void>, pattern: RegExp]
  const key3 = entryKey(13)
  const damages: Damage[] = [
    [
      'a flipped byte in an entry',
      async (database) => {
        const value = Uint8Array.from((await database.get(key3))!)
        value[value.length - 1]! ^= 0x40
        await database.put(key3, value)
      },
      /r\/e\/000000000000000d.*checksum mismatch/,
    ],
    [
      'a record too short for its checksum',
      async (database) => database.put(key3, Uint8Array.of(1, 2)),
      /r\/e\/000000000000000d.*cannot hold the 4-byte checksum/,
    ],
    [
      'a valid checksum over bytes that are not MessagePack',
      async (database) => {
        const payload = Uint8Array.of(0xc1, 0xc1)
        const value = new Uint8Array(4 + payload.length)
        const keyCrc = crc32(new TextEncoder().encode(key3))
        new DataView(value.buffer).setUint32(0, crc32(payload, keyCrc))
        value.set(payload, 4)
        await database.put(key3, value)
      },
      /r\/e\/000000000000000d.*fails to decode/,
    ],
    [
      'a valid record of the wrong shape',
      async (database) => database.put(key3, encodeRecord(key3, { type: 'normal', term: -2, index: 13, data: new Uint8Array(0) })),
      /r\/e\/000000000000000d.*fails to decode.*term/,
    ],
    [
      'a value copied under another key',
      async (database) => database.put(key3, (await database.get(entryKey(14)))!),
      /r\/e\/000000000000000d.*checksum mismatch/,
    ],
    [
      'an entry stored under the wrong index',
      async (database) => database.put(key3, encodeRecord(key3, normal(14, 2))),
      /r\/e\/000000000000000d.*holds entry 14/,
    ],
    ['a missing entry', async (database) => database.del(key3), /r\/e\/000000000000000e.*not contiguous/],
    [
      'a decreasing term',
      async (database) => database.put(entryKey(16), encodeRecord(entryKey(16), normal(16, 2))),
      /r\/e\/0000000000000010.*term 2 decreases from 3/,
    ],
    [
      'an entry the snapshot covers',
      async (database) => database.put(entryKey(9), encodeRecord(entryKey(9), normal(9, 2))),
      /r\/e\/0000000000000009.*snapshot at 10 covers it/,
    ],
    ['a missing last entry', async (database) => database.del(entryKey(20)), /r\/mf.*last index 20, but the stored log ends at 19/],
    ['a missing manifest', async (database) => database.del('r/mf'), /r\/mf.*missing/],
    ['a missing hard state', async (database) => database.del('r/hs'), /r\/hs.*missing/],
    ['a missing applied record', async (database) => database.del('r/ap'), /r\/ap.*missing/],
    ['a missing snapshot meta', async (database) => database.del('r/sm'), /r\/sm.*missing/],
    ['a missing snapshot chunk', async (database) => database.del('r/sd/00000001'), /r\/sd\/00000001.*missing/],
    [
      'a damaged snapshot chunk',
      async (database) => {
        const value = Uint8Array.from((await database.get('r/sd/00000002'))!)
        value[6]! ^= 1
        await database.put('r/sd/00000002', value)
      },
      /r\/sd\/00000002.*checksum mismatch/,
    ],
    ['a stray chunk', async (database) => database.put('r/sd/00000007', encodeRecord('r/sd/00000007', 1)), /r\/sd\/00000007.*beyond/],
    ['an unknown key under r/', async (database) => database.put('r/zz', Uint8Array.of(1)), /r\/zz.*not a key this store writes/],
    [
      'commit beyond the last index',
      async (database) => database.put('r/hs', encodeRecord('r/hs', { term: 3, vote: 'a', commit: 21 })),
      /r\/hs.*commit 21 beyond the last index 20/,
    ],
    [
      'commit below the snapshot',
      async (database) => database.put('r/hs', encodeRecord('r/hs', { term: 3, vote: 'a', commit: 9 })),
      /r\/hs.*commit 9 below the snapshot index 10/,
    ],
    [
      'applied beyond commit',
      async (database) => database.put('r/ap', encodeRecord('r/ap', { applied: 19, confState: CONF })),
      /r\/ap.*applied 19 beyond commit 18/,
    ],
    [
      'a manifest that disagrees with the snapshot',
      async (database) => database.put('r/mf', encodeRecord('r/mf', { hasSnapshot: true, snapshotIndex: 8, lastIndex: 20 })),
      /r\/mf.*snapshot index 8/,
    ],
  ]
  for (const [label, mutate, pattern] of damages) {
    const directory = freshDirectory()
    await buildTypicalStore(directory)
    await withRawDatabase(directory, mutate)
    await expectCorrupt(t, directory, pattern, label)
  }
})

t.test('a database with state machine keys but no Raft records is rejected', async (t) => {
  const directory = freshDirectory()
  await withRawDatabase(directory, async (database) => database.put('s/orphan', Uint8Array.of(1)))
  await expectCorrupt(t, directory, /r\/mf.*missing/, 'orphaned state machine data')
})

/** The LevelDB files in `directory` whose names end with `suffix`, largest first. */
function levelFiles(directory: string, suffix: string): string[] {
  return readdirSync(directory)
    .filter((name) => name.endsWith(suffix))
    .map((name) => path.join(directory, name))
    .sort((a, b) => statSync(b).size - statSync(a).size)
}

function overwriteWithGarbage(file: string, start: number, length: number, seed: number): void {
  const descriptor = openSync(file, 'r+')
  try {
    writeSync(descriptor, patternedBytes(length, seed), 0, length, start)
  } finally {
    closeSync(descriptor)
  }
}

/** Builds the typical store, then opens and closes it once so LevelDB moves it into tables. */
async function buildStoreInTables(directory: string): Promise<string> {
  await buildTypicalStore(directory)
  const store = await LogStoreLevel.open(directory)
  await store.close()
  const table = levelFiles(directory, '.ldb')[0]
  if (table === undefined) throw new Error(`no .ldb file in ${directory}`)
  return table
}

t.test('damaged LevelDB files on disk', async (t) => {
  await t.test('truncated table', async (t) => {
    const directory = freshDirectory()
    const table = await buildStoreInTables(directory)
    truncateSync(table, Math.floor(statSync(table).size / 2))
    await expectCorrupt(t, directory, /LevelDB in .* cannot be read/, 'truncated .ldb')
  })
  await t.test('table overwritten with garbage', async (t) => {
    const directory = freshDirectory()
    const table = await buildStoreInTables(directory)
    overwriteWithGarbage(table, 0, statSync(table).size, 5)
    await expectCorrupt(t, directory, /Corruption/, 'garbage .ldb')
  })
  await t.test('garbage inside a table', async (t) => {
    // Without paranoid checks LevelDB does not verify block checksums; the record checksums and
    // the manifest catch whatever the damaged block decodes to.
    // Half the attempts hit the first 4 KiB, where the small records (r/ap, r/e/...) sit.
    const random = new RandomXoshiro(11)
    for (let attempt = 0; attempt < 10; attempt++) {
      const directory = freshDirectory()
      const table = await buildStoreInTables(directory)
      const size = statSync(table).size
      const start = attempt % 2 === 0 ? random.int(0, 4096) : random.int(0, size - 200)
      overwriteWithGarbage(table, start, 64, attempt)
      await expectCorrupt(t, directory, /./, `64 garbage bytes inside .ldb, attempt ${attempt}`)
    }
  })
  await t.test('write-ahead log with garbage: refused now and on every later open', async (t) => {
    const directory = freshDirectory()
    await buildTypicalStore(directory) // Closed without reopening: the data is still in the .log.
    const log = levelFiles(directory, '.log')[0]
    if (log === undefined) throw new Error('no .log file')
    overwriteWithGarbage(log, 0, statSync(log).size, 6)
    await expectCorrupt(t, directory, /dropped damaged write-ahead-log records/, 'garbage .log')
    t.ok(existsSync(path.join(directory, CORRUPTION_MARKER_FILE)), 'marker written')
    await expectCorrupt(t, directory, /was found damaged earlier/, 'second open after garbage .log')
    // Removing the marker is the operator accepting LevelDB's repair. Everything was in the
    // damaged log, so what remains is an empty database, which opens as a fresh store.
    rmSync(path.join(directory, CORRUPTION_MARKER_FILE))
    const store = await LogStoreLevel.open(directory)
    const { storage } = await store.load()
    t.equal(storage.lastIndex(), 0, 'after the operator accepts, what LevelDB kept is served')
    await store.close()
  })
  await t.test('write-ahead log damaged in the middle', async (t) => {
    const directory = freshDirectory()
    await buildTypicalStore(directory)
    const log = levelFiles(directory, '.log')[0]!
    overwriteWithGarbage(log, Math.floor(statSync(log).size / 3), 100, 7)
    await expectCorrupt(t, directory, /dropped damaged write-ahead-log records/, 'damaged .log')
  })
  await t.test('truncated write-ahead log reads as a crash before the lost writes', async (t) => {
    // LevelDB cannot tell a log cut at a record boundary from one whose writer crashed there, and
    // neither can anything else without a second copy. The store must still load consistently.
    const directory = freshDirectory()
    await buildTypicalStore(directory)
    const log = levelFiles(directory, '.log')[0]!
    truncateSync(log, Math.floor(statSync(log).size / 2))
    const store = await LogStoreLevel.open(directory)
    const { storage } = await store.load()
    t.ok(storage.lastIndex() <= 20, `loads a consistent prefix (last index ${storage.lastIndex()})`)
    await store.close()
  })
  await t.test('damaged CURRENT and MANIFEST files', async (t) => {
    for (const name of ['CURRENT', 'MANIFEST-']) {
      const directory = freshDirectory()
      await buildStoreInTables(directory)
      const file = readdirSync(directory).find((entry) => entry.startsWith(name))!
      writeFileSync(path.join(directory, file), patternedBytes(statSync(path.join(directory, file)).size, 8))
      await expectCorrupt(t, directory, /cannot be opened.*Corruption/, `garbage ${name}`)
    }
  })
})

t.test('records carry the documented framing', async (t) => {
  const record = encodeRecord('r/hs', { term: 1, vote: '', commit: 0 })
  const payload = encodeMsgpack({ term: 1, vote: '', commit: 0 })
  t.same(record.subarray(4), payload, 'payload after the checksum')
  const expected = crc32(payload, crc32(new TextEncoder().encode('r/hs')))
  t.equal(new DataView(record.buffer, record.byteOffset).getUint32(0, false), expected, 'big-endian CRC of key and payload')
  t.equal(entryKey(255), 'r/e/00000000000000ff')
})
