// Goal: the agents' metrics records in the store are small, exact and cheap: they round-trip
// through the compact layout, a value that is not a valid record is skipped (never served), a
// writer writes only changed figures (or a refresh before the stored record goes stale),
// withdraws its record, and readers drop records older than three periods. Method: a
// MemoryObjectBackend and a hand-driven clock.
import t from 'tap'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import {
  decodeNodeMetrics,
  encodeNodeMetrics,
  NODE_METRICS_PREFIX,
  NodeMetricsReader,
  NodeMetricsWriter,
  nodeMetricsKey,
  type NodeMetricsRecord,
} from '../../../node/src/api/server/node-metrics-store.ts'

const PERIOD_MS = 15_000
const T0 = 1_700_000_000_000

function record(overrides: Partial<NodeMetricsRecord> = {}): NodeMetricsRecord {
  return {
    node: 'n1',
    timestampMs: T0,
    windowMs: PERIOD_MS,
    periodMs: PERIOD_MS,
    usage: { cpuNanoCores: 250_000_000, memoryBytes: 1 << 30 },
    pods: [{ namespace: 'default', name: 'web', uid: 'u-1', containers: [{ name: 'app', cpuNanoCores: 1_234_567, memoryBytes: 10_485_760 }] }],
    ...overrides,
  }
}

function writes(backend: MemoryObjectBackend): number {
  return backend.store.rangeAll(NODE_METRICS_PREFIX).revision
}

t.test('records round-trip through the compact layout, keyed by node', async (t) => {
  const full = record()
  const bytes = encodeNodeMetrics(full)
  t.same(decodeNodeMetrics(nodeMetricsKey('n1'), bytes), full)
  const withoutUsage = record({ usage: undefined, pods: [] })
  const { usage: _usage, ...expected } = withoutUsage
  t.same(decodeNodeMetrics(nodeMetricsKey('n1'), encodeNodeMetrics(withoutUsage)), expected, 'the node usage is optional')
  t.notMatch(new TextDecoder().decode(bytes), /n1|cpuNanoCores|namespace/, 'neither the node name nor field names are stored')
  const named = JSON.stringify(full).length
  t.ok(bytes.byteLength < 0.6 * named, `one pod in ${bytes.byteLength} bytes, against ${named} with field names`)
  t.throws(() => nodeMetricsKey('a/b'), { name: 'AssertionError' })
  t.throws(() => encodeNodeMetrics(record({ usage: { cpuNanoCores: 1.5, memoryBytes: 0 } })), { name: 'AssertionError' }, 'figures are whole numbers')
})

t.test('a value that is not a valid record is skipped', async (t) => {
  const key = nodeMetricsKey('n1')
  const text = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
  const valid = { v: 1, t: T0, w: 1, p: 1, pods: [] }
  t.ok(decodeNodeMetrics(key, text(valid)))
  for (const [what, value] of [
    ['not JSON', '{'],
    ['not an object', 'null'],
    ['a newer layout', { ...valid, v: 2 }],
    ['a zero period', { ...valid, p: 0 }],
    ['a negative time', { ...valid, t: -1 }],
    ['a bad node usage', { ...valid, u: [1] }],
    ['a pod that is not a tuple', { ...valid, pods: [{ name: 'x' }] }],
    ['a fractional figure', { ...valid, pods: [['ns', 'p', 'u', [['c', 0.5, 1]]]] }],
    ['a container without memory', { ...valid, pods: [['ns', 'p', 'u', [['c', 1]]]] }],
  ] as const) {
    t.equal(decodeNodeMetrics(key, text(value)), undefined, what)
  }
  t.equal(decodeNodeMetrics('/registry/other/n1', text(valid)), undefined, 'a key outside the prefix')
})

t.test('the writer writes changed figures, refreshes unchanged ones before they go stale, and withdraws', async (t) => {
  const backend = new MemoryObjectBackend()
  const writer = new NodeMetricsWriter({ backend, nodeName: 'n1' })
  t.equal(await writer.publish(record()), true, 'the first record is written')
  t.equal(writes(backend), 1)
  t.equal(await writer.publish(record({ timestampMs: T0 + PERIOD_MS })), false, 'same figures a period later: no write')
  t.equal(await writer.publish(record({ timestampMs: T0 + PERIOD_MS, windowMs: PERIOD_MS + 3 })), false, 'a different window alone is no change')
  t.equal(writes(backend), 1)
  t.equal(await writer.publish(record({ timestampMs: T0 + 2 * PERIOD_MS })), true, 'two periods after the stored one: refreshed')
  t.equal(await writer.publish(record({ timestampMs: T0 + 2 * PERIOD_MS + 1, pods: [] })), true, 'changed figures are written at once')
  t.equal(writes(backend), 3)
  const stored = backend.get(nodeMetricsKey('n1'))
  t.same(decodeNodeMetrics(stored!.key, stored!.value)?.pods, [])

  await writer.withdraw()
  t.equal(backend.get(nodeMetricsKey('n1')), undefined, 'withdrawn')
  await writer.withdraw()
  t.equal(await writer.publish(record({ timestampMs: T0 + 2 * PERIOD_MS + 2, pods: [] })), true, 'after a withdrawal the same figures are written again')
  await t.rejects(writer.publish(record({ node: 'n2' })), { name: 'AssertionError' }, 'a writer writes only its own node')
})

t.test('a failed write is retried by the next publish even with unchanged figures', async (t) => {
  const backend = new MemoryObjectBackend()
  let failing = false
  const flaky = Object.assign(Object.create(backend) as MemoryObjectBackend, {
    write: (command: Parameters<MemoryObjectBackend['write']>[0]) => (failing ? Promise.reject(new Error('no leader')) : backend.write(command)),
  })
  const writer = new NodeMetricsWriter({ backend: flaky, nodeName: 'n1' })
  await writer.publish(record())
  failing = true
  await t.rejects(writer.publish(record({ timestampMs: T0 + 2 * PERIOD_MS })), /no leader/)
  failing = false
  t.equal(await writer.publish(record({ timestampMs: T0 + 2 * PERIOD_MS + 1 })), true)
})

t.test('readers serve fresh records only and decode each write once', async (t) => {
  const backend = new MemoryObjectBackend()
  let nowMs = T0
  const reader = new NodeMetricsReader({ backend, nowMs: () => nowMs })
  await new NodeMetricsWriter({ backend, nodeName: 'n1' }).publish(record())
  await new NodeMetricsWriter({ backend, nodeName: 'n2' }).publish(record({ node: 'n2', periodMs: 60_000 }))
  await backend.write({ op: 'put', key: nodeMetricsKey('broken'), value: new TextEncoder().encode('{') })
  await reader.readBarrier()
  t.same([...reader.fresh().keys()], ['n1', 'n2'], 'the broken record is skipped')
  t.equal(reader.fresh().get('n1'), reader.fresh().get('n1'), 'an unchanged key is not decoded again')

  nowMs = T0 + 3 * PERIOD_MS
  t.same([...reader.fresh().keys()], ['n1', 'n2'], 'exactly three periods old: still served')
  nowMs += 1
  t.same([...reader.fresh().keys()], ['n2'], 'older: stale; each record by its own period')
  await new NodeMetricsWriter({ backend, nodeName: 'n1' }).publish(record({ timestampMs: nowMs }))
  t.same([...reader.fresh().keys()], ['n1', 'n2'], 'a new write is read at once')
  await backend.write({ op: 'delete', key: nodeMetricsKey('n2') })
  t.same([...reader.fresh().keys()], ['n1'])
})
