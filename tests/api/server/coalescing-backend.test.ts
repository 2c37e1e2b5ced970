// Goal: writes issued together commit as one transaction without changing any single write's
// outcome. Method: a CoalescingBackend over the in-memory store; count the revisions the writes
// got, and force the fall-back paths (a stale precondition, a repeated key, a refused transaction).
import t from 'tap'
import { CoalescingBackend } from '../../../node/src/api/server/coalescing-backend.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import type { StoreCommand, StoreResult } from '../../../node/src/store/commands.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : new TextDecoder().decode(value))

t.test('concurrent puts and deletes commit under one revision, each with its own result', async (t) => {
  const inner = new MemoryObjectBackend()
  await inner.write({ op: 'put', key: '/k/old', value: bytes('old') })
  const backend = new CoalescingBackend(inner)
  const results = await Promise.all([
    ...Array.from({ length: 50 }, (_, index) => backend.write({ op: 'put', key: `/k/${index}`, value: bytes(`v${index}`), ifModRevision: 0 })),
    backend.write({ op: 'delete', key: '/k/old' }),
  ])
  const revisions = new Set(results.map((result) => (result.ok ? (result as { revision: number }).revision : -1)))
  t.same([...revisions].length, 1, 'one revision for all')
  t.ok(results.every((result) => result.ok))
  t.equal(text((results[50] as { previous?: { value: Uint8Array } }).previous?.value), 'old', 'the delete reports what it removed')
  t.equal(text(inner.get('/k/7')?.value), 'v7')
  t.equal(inner.get('/k/old'), undefined)
  t.same(backend.stats, { transactions: 1, coalescedWrites: 51, fallbacks: 0 })
})

t.test('a stale precondition fails alone: the others still commit', async (t) => {
  const inner = new MemoryObjectBackend()
  await inner.write({ op: 'put', key: '/k/taken', value: bytes('first') })
  const backend = new CoalescingBackend(inner)
  const [fresh, stale, other] = await Promise.all([
    backend.write({ op: 'put', key: '/k/a', value: bytes('a'), ifModRevision: 0 }),
    backend.write({ op: 'put', key: '/k/taken', value: bytes('second'), ifModRevision: 0 }),
    backend.write({ op: 'put', key: '/k/b', value: bytes('b') }),
  ])
  t.ok(fresh?.ok && other?.ok)
  t.same(stale, { ok: false, reason: 'conflict', currentModRevision: inner.get('/k/taken')?.modRevision, revision: (stale as { revision: number }).revision })
  t.equal(text(inner.get('/k/taken')?.value), 'first', 'the stale write changed nothing')
  t.equal(backend.stats.fallbacks, 1)
})

t.test('a key written twice in one turn goes in two transactions, in issue order', async (t) => {
  const inner = new MemoryObjectBackend()
  const backend = new CoalescingBackend(inner)
  const [first, second] = await Promise.all([
    backend.write({ op: 'put', key: '/k/x', value: bytes('1'), ifModRevision: 0 }),
    backend.write({ op: 'put', key: '/k/x', value: bytes('2') }),
    backend.write({ op: 'put', key: '/k/y', value: bytes('y') }),
  ])
  t.ok(first?.ok && second?.ok)
  t.ok((second as { revision: number }).revision > (first as { revision: number }).revision, 'the second write lands after the first')
  t.equal(text(inner.get('/k/x')?.value), '2')
})

t.test('batches close at opsMax; a refused transaction falls back to single writes', async (t) => {
  const inner = new MemoryObjectBackend()
  const backend = new CoalescingBackend(inner, { opsMax: 4 })
  await Promise.all(Array.from({ length: 10 }, (_, index) => backend.write({ op: 'put', key: `/k/${index}`, value: bytes('v') })))
  t.same(backend.stats, { transactions: 3, coalescedWrites: 10, fallbacks: 0 }, 'batches of 4, 4 and 2')
  t.equal(inner.range('/k/').items.length, 10)

  // A store that refuses transactions (as the fence does when it moved) still gets each write.
  const refusing = new MemoryObjectBackend()
  const single: StoreCommand[] = []
  const wrapper = {
    readBarrier: () => refusing.readBarrier(),
    get: (key: string) => refusing.get(key),
    range: (prefix: string) => refusing.range(prefix),
    watch: (request: Parameters<MemoryObjectBackend['watch']>[0]) => refusing.watch(request),
    write: async (command: StoreCommand): Promise<StoreResult> => {
      if (command.op === 'txn') throw new Error('refused')
      single.push(command)
      return refusing.write(command)
    },
  }
  const fallback = new CoalescingBackend(wrapper)
  const results = await Promise.all([fallback.write({ op: 'put', key: '/a', value: bytes('a') }), fallback.write({ op: 'put', key: '/b', value: bytes('b') })])
  t.ok(results.every((result) => result.ok))
  t.equal(single.length, 2, 'each write went alone')
})
