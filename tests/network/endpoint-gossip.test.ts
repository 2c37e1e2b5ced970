/**
 * Endpoint gossip (network/src/endpoint-gossip): the wire format rejects what is malformed,
 * oversized or of another version without throwing; the pure overlay corrects EndpointSlices by
 * a table of cases; and simulated clusters (GossipMemory + TimersSim, seeded) show that readiness
 * and deletions reach every other node within 1 s of simulated time, that a silent node's
 * endpoints stop being ready after the expiry, and that late old reports are ignored.
 *
 * GossipMemory delivers on setImmediate while TimersSim moves only when told to, so the
 * simulation advances time in small steps and yields one event-loop turn after each.
 */
import t from 'tap'
import { RandomXoshiro, type Random } from '../../lib/random.ts'
import { TimersSim } from '../../lib/timers.ts'
import { GossipNetworkMemory, type GossipMemory } from '../../network/src/sim/gossip-memory.ts'
import { EndpointGossipService, podReportOf } from '../../network/src/endpoint-gossip/endpoint-gossip-service.ts'
import { ENDPOINTS_TOPIC, EXPIRY_INTERVALS } from '../../network/src/endpoint-gossip/endpoint-gossip.ts'
import { overlayEndpointSlices } from '../../network/src/endpoint-gossip/endpoint-overlay.ts'
import {
  decodeReport,
  encodeReport,
  ENDPOINT_REPORT_BYTES_MAX,
  POD_REPORTS_MAX,
  type EndpointReport,
  type PodReport,
} from '../../network/src/endpoint-gossip/endpoint-reports.ts'
import type { KubeObject } from '../../network/src/service-proxy/service-rules.ts'
import { PODS } from '../../node/src/controllers/plan.ts'
import { AgentWorld } from '../agent/agent-world.ts'

// ---------------------------------------------------------------------------------------------
// Helpers

const encoder = new TextEncoder()

function podReport(uid: string, ip: string, fields: Partial<PodReport> = {}): PodReport {
  return { uid, namespace: 'default', name: `pod-${uid}`, ip, ready: true, terminating: false, ...fields }
}

function report(node: string, pods: PodReport[], fields: Partial<EndpointReport> = {}): EndpointReport {
  return { node, sequence: 1, complete: true, pods, ...fields }
}

interface EndpointSpec {
  readonly ip: string
  readonly node?: string
  readonly uid?: string
  readonly ready?: boolean
  readonly serving?: boolean
  readonly terminating?: boolean
  readonly refKind?: string
}

function endpoint(spec: EndpointSpec): KubeObject {
  const conditions: Record<string, boolean> = {}
  if (spec.ready !== undefined) conditions['ready'] = spec.ready
  if (spec.serving !== undefined) conditions['serving'] = spec.serving
  if (spec.terminating !== undefined) conditions['terminating'] = spec.terminating
  return {
    addresses: [spec.ip],
    conditions,
    ...(spec.node === undefined ? {} : { nodeName: spec.node }),
    ...(spec.uid === undefined ? {} : { targetRef: { kind: spec.refKind ?? 'Pod', namespace: 'default', name: `pod-${spec.uid}`, uid: spec.uid } }),
  }
}

function slice(name: string, endpoints: KubeObject[], service = 'web'): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    endpoints,
  }
}

/** The conditions as the service proxy reads them (unset ready/serving true, terminating false). */
function conditionsOf(endpointObject: unknown): { ready: boolean; serving: boolean; terminating: boolean } {
  const conditions = ((endpointObject as KubeObject)['conditions'] ?? {}) as Record<string, unknown>
  return { ready: conditions['ready'] !== false, serving: conditions['serving'] !== false, terminating: conditions['terminating'] === true }
}

function endpointsOf(sliceObject: KubeObject): KubeObject[] {
  return sliceObject['endpoints'] as KubeObject[]
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

// ---------------------------------------------------------------------------------------------
// Wire format

t.test('wire format: a report survives encoding, sorted by uid', async (t) => {
  const original = report('node-a', [podReport('b', '10.244.1.3', { ready: false }), podReport('a', '10.244.1.2', { terminating: true })], { sequence: 1_700_000_000_123 })
  const decoded = decodeReport(encodeReport(original))
  t.ok(decoded.ok)
  if (!decoded.ok) return
  t.same(decoded.report, { ...original, pods: [original.pods[1], original.pods[0]] })
})

t.test('wire format: malformed, oversized and other-version messages are rejected with a reason, never thrown', async (t) => {
  const valid = JSON.parse(new TextDecoder().decode(encodeReport(report('node-a', [podReport('a', '10.244.1.2')])))) as Record<string, unknown>
  const validPod = (valid['pods'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>
  const withPod = (fields: Record<string, unknown>): Record<string, unknown> => ({ ...valid, pods: [{ ...validPod, ...fields }] })
  const cases: Array<{ name: string; bytes: Uint8Array; reason: string }> = [
    { name: 'not UTF-8', bytes: new Uint8Array([0xff, 0xfe, 0x7b]), reason: 'not-json' },
    { name: 'not JSON', bytes: encoder.encode('{"v":1,'), reason: 'not-json' },
    { name: 'empty', bytes: new Uint8Array(), reason: 'not-json' },
    { name: 'an array', bytes: encoder.encode('[1,2]'), reason: 'malformed' },
    { name: 'null', bytes: encoder.encode('null'), reason: 'malformed' },
    { name: 'no version', bytes: encoder.encode(JSON.stringify({ ...valid, v: undefined })), reason: 'wrong-version' },
    { name: 'version 2', bytes: encoder.encode(JSON.stringify({ ...valid, v: 2 })), reason: 'wrong-version' },
    { name: 'version "1"', bytes: encoder.encode(JSON.stringify({ ...valid, v: '1' })), reason: 'wrong-version' },
    { name: 'empty node', bytes: encoder.encode(JSON.stringify({ ...valid, node: '' })), reason: 'malformed' },
    { name: 'node too long', bytes: encoder.encode(JSON.stringify({ ...valid, node: 'n'.repeat(254) })), reason: 'malformed' },
    { name: 'negative sequence', bytes: encoder.encode(JSON.stringify({ ...valid, sequence: -1 })), reason: 'malformed' },
    { name: 'fractional sequence', bytes: encoder.encode(JSON.stringify({ ...valid, sequence: 1.5 })), reason: 'malformed' },
    { name: 'sequence as string', bytes: encoder.encode(JSON.stringify({ ...valid, sequence: '5' })), reason: 'malformed' },
    { name: 'complete missing', bytes: encoder.encode(JSON.stringify({ ...valid, complete: undefined })), reason: 'malformed' },
    { name: 'pods not a list', bytes: encoder.encode(JSON.stringify({ ...valid, pods: {} })), reason: 'malformed' },
    { name: 'bad pod IP', bytes: encoder.encode(JSON.stringify(withPod({ ip: '10.244.1.999' }))), reason: 'malformed' },
    { name: 'pod ready as string', bytes: encoder.encode(JSON.stringify(withPod({ ready: 'true' }))), reason: 'malformed' },
    { name: 'pod without uid', bytes: encoder.encode(JSON.stringify(withPod({ uid: undefined }))), reason: 'malformed' },
    { name: 'pod namespace too long', bytes: encoder.encode(JSON.stringify(withPod({ namespace: 'x'.repeat(64) }))), reason: 'malformed' },
    { name: 'pod is a string', bytes: encoder.encode(JSON.stringify({ ...valid, pods: ['pod'] })), reason: 'malformed' },
    { name: 'duplicate uid', bytes: encoder.encode(JSON.stringify({ ...valid, pods: [validPod, validPod] })), reason: 'malformed' },
    { name: 'too many pods', bytes: encoder.encode(JSON.stringify({ ...valid, pods: Array.from({ length: POD_REPORTS_MAX + 1 }, (_, i) => ({ ...validPod, uid: `u${i}` })) })), reason: 'malformed' },
    { name: 'over the byte bound', bytes: encoder.encode(JSON.stringify({ ...valid, padding: 'x'.repeat(ENDPOINT_REPORT_BYTES_MAX) })), reason: 'too-large' },
  ]
  for (const testCase of cases) {
    const decoded = decodeReport(testCase.bytes)
    t.same(decoded, { ok: false, reason: testCase.reason }, testCase.name)
  }
})

t.test('wire format: seeded mutations of a valid report never throw', async (t) => {
  const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000)
  t.comment(`seed ${seed}`)
  const random = new RandomXoshiro(seed)
  const valid = encodeReport(report('node-a', [podReport('a', '10.244.1.2'), podReport('b', '10.244.1.3', { ready: false })]))
  let accepted = 0
  for (let round = 0; round < 2000; round++) {
    const bytes = new Uint8Array(valid)
    for (let flips = random.int(1, 4); flips > 0; flips--) bytes[random.int(0, bytes.length)] = random.int(0, 256)
    const decoded = decodeReport(bytes.subarray(0, random.chance(0.2) ? random.int(0, bytes.length) : bytes.length))
    if (decoded.ok) {
      accepted++
      t.equal(decodeReport(encodeReport(decoded.report)).ok, true)
    }
  }
  t.ok(accepted < 2000, `${accepted} of 2000 mutations still decoded (seed ${seed})`)
})

t.test('wire format: a report over the pod bound is cut and marked incomplete', async (t) => {
  const pods = Array.from({ length: POD_REPORTS_MAX + 5 }, (_, i) => podReport(`uid-${String(i).padStart(5, '0')}`, `10.244.${Math.floor(i / 250)}.${(i % 250) + 2}`))
  const bytes = encodeReport(report('node-a', pods))
  t.ok(bytes.byteLength <= ENDPOINT_REPORT_BYTES_MAX)
  const decoded = decodeReport(bytes)
  t.ok(decoded.ok)
  if (!decoded.ok) return
  t.equal(decoded.report.pods.length, POD_REPORTS_MAX)
  t.equal(decoded.report.complete, false)
})

t.test('wire format: a malformed message from a peer is dropped and counted', async (t) => {
  const timers = new TimersSim()
  const network = new GossipNetworkMemory()
  const service = new EndpointGossipService({ nodeName: 'b', gossip: network.endpoint('b'), timers, log: () => {} })
  service.start()
  t.teardown(() => service.stop())
  const forger = network.endpoint('forger')
  await forger.publish(ENDPOINTS_TOPIC, encoder.encode('not json'))
  await forger.publish(ENDPOINTS_TOPIC, encoder.encode(JSON.stringify({ v: 9 })))
  await forger.publish(ENDPOINTS_TOPIC, encoder.encode(JSON.stringify({ v: 1, node: 'x' })))
  await turn()
  t.same(service.stats.rejected, { 'too-large': 0, 'not-json': 1, 'wrong-version': 1, malformed: 1 })
  t.equal(service.stats.accepted, 0)
})

t.test('podReportOf: reads uid, IP, the Ready condition and the deletion mark; no IP, no report', async (t) => {
  const pod = { metadata: { uid: 'u1', namespace: 'shop', name: 'web-0', deletionTimestamp: '2026-01-01T00:00:00Z' } }
  const status = { podIP: '10.244.1.7', conditions: [{ type: 'ContainersReady', status: 'True' }, { type: 'Ready', status: 'True' }] }
  t.same(podReportOf(pod, status), { uid: 'u1', namespace: 'shop', name: 'web-0', ip: '10.244.1.7', ready: true, terminating: true })
  t.same(podReportOf({ metadata: { uid: 'u1', namespace: 'shop', name: 'web-0' } }, { ...status, conditions: [{ type: 'Ready', status: 'False' }] })?.ready, false)
  t.equal(podReportOf(pod, { conditions: status.conditions }), undefined)
  t.equal(podReportOf(pod, { podIP: 'not-an-ip' }), undefined)
})

// ---------------------------------------------------------------------------------------------
// The overlay

type Expected = 'unchanged' | { ready: boolean; serving: boolean; terminating: boolean }

interface OverlayCase {
  readonly name: string
  readonly endpoint: EndpointSpec
  readonly reports: EndpointReport[]
  readonly gone?: string[]
  readonly publishNotReady?: boolean
  readonly expected: Expected
}

const NOT_READY = { ready: false, serving: false, terminating: false }
const READY = { ready: true, serving: true, terminating: false }

const OVERLAY_CASES: OverlayCase[] = [
  { name: 'reported ready, stored not ready: stays not ready (gossip only takes readiness away)', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: false, serving: false }, reports: [report('a', [podReport('p1', '10.244.1.2')])], expected: 'unchanged' },
  { name: 'reported not ready, stored ready: not ready', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true, serving: true }, reports: [report('a', [podReport('p1', '10.244.1.2', { ready: false })])], expected: NOT_READY },
  { name: 'stored conditions unset count as ready: a not-ready report changes them', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1' }, reports: [report('a', [podReport('p1', '10.244.1.2', { ready: false })])], expected: NOT_READY },
  { name: 'report agrees with the store: unchanged', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true, serving: true, terminating: false }, reports: [report('a', [podReport('p1', '10.244.1.2')])], expected: 'unchanged' },
  { name: 'reported terminating and ready: serving, terminating, not ready', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true }, reports: [report('a', [podReport('p1', '10.244.1.2', { terminating: true })])], expected: { ready: false, serving: true, terminating: true } },
  { name: 'stored terminating, reported ready: stays terminating and not serving', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: false, serving: false, terminating: true }, reports: [report('a', [podReport('p1', '10.244.1.2')])], expected: 'unchanged' },
  { name: 'missing from a complete report: gone', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true }, reports: [report('a', [podReport('p2', '10.244.1.3')])], expected: NOT_READY },
  { name: 'missing from an empty complete report: gone', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true }, reports: [report('a', [])], expected: NOT_READY },
  { name: 'missing from an incomplete report: unchanged', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true }, reports: [report('a', [], { complete: false })], expected: 'unchanged' },
  { name: 'listed in an incomplete report: follows it', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true }, reports: [report('a', [podReport('p1', '10.244.1.2', { ready: false })], { complete: false })], expected: NOT_READY },
  { name: 'node gone silent: not ready', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true, serving: true }, reports: [report('b', [])], gone: ['a'], expected: NOT_READY },
  { name: 'node gone silent keeps the stored terminating', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: false, serving: true, terminating: true }, reports: [], gone: ['a'], expected: { ready: false, serving: false, terminating: true } },
  { name: 'node never reported: unchanged', endpoint: { ip: '10.244.1.2', node: 'hollow-7', uid: 'p1', ready: true }, reports: [report('a', [])], gone: ['b'], expected: 'unchanged' },
  { name: 'no report at all: unchanged', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: false }, reports: [], expected: 'unchanged' },
  { name: 'no targetRef: matched by address', endpoint: { ip: '10.244.1.2', node: 'a', ready: true }, reports: [report('a', [podReport('p1', '10.244.1.2', { ready: false })])], expected: NOT_READY },
  { name: 'no targetRef and an address two pods share (host network): absent from a complete report', endpoint: { ip: '192.168.1.10', node: 'a', ready: true }, reports: [report('a', [podReport('h1', '192.168.1.10', { ready: false }), podReport('h2', '192.168.1.10')])], expected: NOT_READY },
  { name: 'shared address, matched by uid', endpoint: { ip: '192.168.1.10', node: 'a', uid: 'h1', ready: true }, reports: [report('a', [podReport('h1', '192.168.1.10', { ready: false }), podReport('h2', '192.168.1.10')])], expected: NOT_READY },
  { name: 'uid listed with another address (new sandbox): the old address is gone', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true }, reports: [report('a', [podReport('p1', '10.244.1.9')])], expected: NOT_READY },
  { name: 'address reused by another pod: the endpoint\'s uid decides (gone)', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'old', ready: true }, reports: [report('a', [podReport('new', '10.244.1.2')])], expected: NOT_READY },
  { name: 'targetRef of another kind: matched by address', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'x', refKind: 'Node', ready: true }, reports: [report('a', [podReport('p1', '10.244.1.2', { ready: false })])], expected: NOT_READY },
  { name: 'no nodeName: found by uid in some report', endpoint: { ip: '10.244.2.2', uid: 'p9', ready: true }, reports: [report('a', []), report('b', [podReport('p9', '10.244.2.2', { ready: false })])], expected: NOT_READY },
  { name: 'no nodeName, in no report: unchanged', endpoint: { ip: '10.244.2.2', uid: 'p9', ready: true }, reports: [report('a', []), report('b', [])], expected: 'unchanged' },
  { name: 'publishNotReadyAddresses: not ready pod stays ready, not serving', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true, serving: true }, reports: [report('a', [podReport('p1', '10.244.1.2', { ready: false })])], publishNotReady: true, expected: { ready: true, serving: false, terminating: false } },
  { name: 'publishNotReadyAddresses: a gone pod is not ready', endpoint: { ip: '10.244.1.2', node: 'a', uid: 'p1', ready: true }, reports: [report('a', [])], publishNotReady: true, expected: NOT_READY },
]

t.test('overlay: one endpoint per case', async (t) => {
  for (const testCase of OVERLAY_CASES) {
    const input = deepFreeze(slice('web-abc', [endpoint(testCase.endpoint)]))
    const [output] = overlayEndpointSlices({
      slices: [input],
      reports: testCase.reports,
      goneNodes: new Set(testCase.gone ?? []),
      publishNotReadyServices: new Set(testCase.publishNotReady === true ? ['default/web'] : []),
    })
    if (output === undefined) {
      t.fail(testCase.name)
      continue
    }
    if (testCase.expected === 'unchanged') {
      t.equal(output, input, `${testCase.name}: the same object`)
      continue
    }
    t.not(output, input, `${testCase.name}: a new slice object`)
    const [adjusted] = endpointsOf(output)
    t.same(conditionsOf(adjusted), testCase.expected, testCase.name)
    t.same({ ...adjusted, conditions: undefined }, { ...endpointsOf(input)[0], conditions: undefined }, `${testCase.name}: other fields kept`)
  }
})

t.test('overlay: deterministic, order-independent in reports, never mutates, shares what did not change', async (t) => {
  const slices = deepFreeze([
    slice('web-1', [endpoint({ ip: '10.244.1.2', node: 'a', uid: 'p1' }), endpoint({ ip: '10.244.2.2', node: 'b', uid: 'p2' })]),
    slice('db-1', [endpoint({ ip: '10.244.3.2', node: 'c', uid: 'p3' })], 'db'),
    { metadata: { namespace: 'default', name: 'odd' } },
  ])
  const reports = [report('a', [podReport('p1', '10.244.1.2', { ready: false })]), report('b', [podReport('p2', '10.244.2.2')])]
  const first = overlayEndpointSlices({ slices, reports, goneNodes: new Set() })
  const second = overlayEndpointSlices({ slices, reports: [...reports].reverse(), goneNodes: new Set() })
  t.same(first, second)
  t.equal(first.length, 3)
  t.not(first[0], slices[0])
  t.equal(endpointsOf(first[0] as KubeObject)[1], endpointsOf(slices[0] as KubeObject)[1], 'the unchanged endpoint is shared')
  t.equal(first[1], slices[1])
  t.equal(first[2], slices[2])
})

// ---------------------------------------------------------------------------------------------
// Simulated clusters

interface SimNode {
  readonly name: string
  readonly gossip: GossipMemory
  readonly service: EndpointGossipService
  /** The node's local pods as its agent last reported them. */
  readonly pods: Map<string, { ip: string; ready: boolean; terminating: boolean }>
  changes: number
}

const INTERVAL_MS = 1000
const STEP_MS = 10

async function turn(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
}

class SimCluster {
  readonly timers = new TimersSim()
  readonly network = new GossipNetworkMemory()
  readonly nodes = new Map<string, SimNode>()

  addNode(name: string, warmUpMs = 0): SimNode {
    const gossip = this.network.endpoint(name)
    const service = new EndpointGossipService({ nodeName: name, gossip, timers: this.timers, log: () => {}, warmUpMs })
    const node: SimNode = { name, gossip, service, pods: new Map(), changes: 0 }
    service.onChange(() => node.changes++)
    service.start()
    this.nodes.set(name, node)
    return node
  }

  removeNode(name: string): void {
    const node = this.nodes.get(name)
    node?.service.stop()
    node?.gossip.stop()
    this.nodes.delete(name)
  }

  stop(): void {
    for (const name of [...this.nodes.keys()]) this.removeNode(name)
  }

  /** The node's agent computed a status for its pod. */
  setPod(nodeName: string, uid: string, pod: { ip: string; ready: boolean; terminating?: boolean }): void {
    const node = this.nodes.get(nodeName)
    if (node === undefined) return
    const state = { ip: pod.ip, ready: pod.ready, terminating: pod.terminating ?? false }
    node.pods.set(uid, state)
    node.service.localPodStatus(
      { metadata: { uid, namespace: 'default', name: `pod-${uid}`, ...(state.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) } },
      { podIP: pod.ip, conditions: [{ type: 'Ready', status: pod.ready ? 'True' : 'False' }] },
    )
  }

  podGone(nodeName: string, uid: string): void {
    const node = this.nodes.get(nodeName)
    node?.pods.delete(uid)
    node?.service.localPodGone(uid)
  }

  /** Moves simulated time by `ms` in steps, letting gossip deliver after each. */
  async run(ms: number): Promise<void> {
    for (let elapsed = 0; elapsed < ms; elapsed += STEP_MS) {
      this.timers.advance(STEP_MS)
      await turn()
    }
  }

  /** Runs until `condition` holds; resolves with the simulated ms it took, or fails past `limitMs`. */
  async until(limitMs: number, condition: () => boolean): Promise<number> {
    const startMs = this.timers.monotonicMs()
    await turn()
    while (!condition()) {
      if (this.timers.monotonicMs() - startMs > limitMs) return Number.POSITIVE_INFINITY
      this.timers.advance(STEP_MS)
      await turn()
    }
    return this.timers.monotonicMs() - startMs
  }
}

/** The slices the store holds: one per pod (names stable), all stored as ready. */
function storedSlices(pods: ReadonlyArray<{ uid: string; ip: string; node: string }>): KubeObject[] {
  return deepFreeze([slice('web-1', pods.map((pod) => endpoint({ ip: pod.ip, node: pod.node, uid: pod.uid, ready: true, serving: true, terminating: false })))])
}

/** How `viewer` sees the endpoint of `uid`. */
function seenBy(viewer: EndpointGossipService, slices: readonly KubeObject[], uid: string): { ready: boolean; serving: boolean; terminating: boolean } {
  for (const adjusted of viewer.adjust(slices)) {
    for (const candidate of endpointsOf(adjusted)) {
      if (((candidate['targetRef'] ?? {}) as Record<string, unknown>)['uid'] === uid) return conditionsOf(candidate)
    }
  }
  throw new Error(`no endpoint for ${uid}`)
}

t.test('sim: a pod turning unready on node a is not ready on node b within 1 s', async (t) => {
  const cluster = new SimCluster()
  t.teardown(() => cluster.stop())
  const a = cluster.addNode('a')
  const b = cluster.addNode('b')
  cluster.setPod('a', 'p1', { ip: '10.244.1.2', ready: true })
  const slices = storedSlices([{ uid: 'p1', ip: '10.244.1.2', node: 'a' }])
  await cluster.run(INTERVAL_MS)
  t.same(seenBy(b.service, slices, 'p1'), READY)
  const changesBefore = b.changes
  cluster.setPod('a', 'p1', { ip: '10.244.1.2', ready: false })
  t.same(seenBy(a.service, slices, 'p1'), NOT_READY, 'the local node sees it at once')
  const tookMs = await cluster.until(1000, () => !seenBy(b.service, slices, 'p1').ready)
  t.comment(`unready reached node b after ${tookMs} ms of simulated time`)
  t.ok(tookMs <= 1000, `within 1 s (took ${tookMs} ms)`)
  t.ok(b.changes > changesBefore, 'onChange fired on node b')
  // Re-announcements that say nothing new do not fire onChange.
  const changesAfter = b.changes
  await cluster.run(3 * INTERVAL_MS)
  t.equal(b.changes, changesAfter)
  t.same(seenBy(b.service, slices, 'p1'), NOT_READY)
})

t.test('sim: seeded readiness flips and deletions reach every node within 1 s', async (t) => {
  const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000)
  t.comment(`seed ${seed}`)
  const random: Random = new RandomXoshiro(seed)
  const cluster = new SimCluster()
  t.teardown(() => cluster.stop())
  const names = ['a', 'b', 'c', 'd']
  for (const name of names) cluster.addNode(name)
  const pods: Array<{ uid: string; ip: string; node: string }> = []
  names.forEach((node, nodeIndex) => {
    for (let i = 0; i < 5; i++) pods.push({ uid: `${node}-${i}`, ip: `10.244.${nodeIndex}.${i + 2}`, node })
  })
  for (const pod of pods) cluster.setPod(pod.node, pod.uid, { ip: pod.ip, ready: true })
  const slices = storedSlices(pods)
  await cluster.run(INTERVAL_MS)
  let slowestMs = 0
  for (let round = 0; round < 30; round++) {
    const pod = pods[random.int(0, pods.length)]
    if (pod === undefined) continue
    const local = cluster.nodes.get(pod.node)?.pods.get(pod.uid)
    let expected: { ready: boolean; serving: boolean; terminating: boolean }
    if (local === undefined) {
      cluster.setPod(pod.node, pod.uid, { ip: pod.ip, ready: true })
      expected = READY
    } else if (random.chance(0.2)) {
      cluster.podGone(pod.node, pod.uid)
      expected = NOT_READY
    } else if (random.chance(0.2)) {
      cluster.setPod(pod.node, pod.uid, { ip: pod.ip, ready: local.ready, terminating: true })
      expected = { ready: false, serving: local.ready, terminating: true }
    } else {
      cluster.setPod(pod.node, pod.uid, { ip: pod.ip, ready: !local.ready })
      expected = !local.ready ? READY : NOT_READY
    }
    const viewers = [...cluster.nodes.values()]
    const tookMs = await cluster.until(1000, () => viewers.every((viewer) => JSON.stringify(seenBy(viewer.service, slices, pod.uid)) === JSON.stringify(expected)))
    t.ok(tookMs <= 1000, `round ${round}: ${pod.uid} → ${JSON.stringify(expected)} everywhere in ${tookMs} ms (seed ${seed})`)
    slowestMs = Math.max(slowestMs, tookMs)
    await cluster.run(random.int(0, 3) * 100)
  }
  t.comment(`slowest propagation ${slowestMs} ms of simulated time`)
})

t.test('sim: a node that falls silent has its endpoints dropped after the expiry, and back when it returns', async (t) => {
  const cluster = new SimCluster()
  t.teardown(() => cluster.stop())
  cluster.addNode('a')
  const b = cluster.addNode('b')
  cluster.setPod('a', 'p1', { ip: '10.244.1.2', ready: true })
  const slices = storedSlices([{ uid: 'p1', ip: '10.244.1.2', node: 'a' }])
  await cluster.run(2 * INTERVAL_MS)
  t.same(seenBy(b.service, slices, 'p1'), READY)
  cluster.network.isolate('a')
  const tookMs = await cluster.until(10 * INTERVAL_MS, () => !seenBy(b.service, slices, 'p1').ready)
  t.comment(`node a's endpoints dropped ${tookMs} ms after it fell silent`)
  t.ok(tookMs >= (EXPIRY_INTERVALS - 1) * INTERVAL_MS, `not before the expiry (took ${tookMs} ms)`)
  t.ok(tookMs <= (EXPIRY_INTERVALS + 1.5) * INTERVAL_MS, `soon after the expiry (took ${tookMs} ms)`)
  t.same(seenBy(b.service, slices, 'p1'), NOT_READY)
  cluster.network.isolate('a', false)
  const backMs = await cluster.until(2 * INTERVAL_MS, () => seenBy(b.service, slices, 'p1').ready)
  t.ok(backMs <= INTERVAL_MS + STEP_MS, `ready again at the next announcement (took ${backMs} ms)`)
})

t.test('sim: an old report arriving late is ignored; a restarted node is believed', async (t) => {
  const cluster = new SimCluster()
  t.teardown(() => cluster.stop())
  cluster.addNode('a')
  const b = cluster.addNode('b')
  const slices = storedSlices([{ uid: 'p1', ip: '10.244.1.2', node: 'a' }])
  cluster.setPod('a', 'p1', { ip: '10.244.1.2', ready: true })
  await cluster.run(INTERVAL_MS)
  // Capture an early report of a's, as a slow path through the mesh would deliver it later.
  const early = encodeReport(report('a', [podReport('p1', '10.244.1.2')], { sequence: Math.floor(cluster.timers.realtimeMs()) - 500 }))
  cluster.setPod('a', 'p1', { ip: '10.244.1.2', ready: false })
  await cluster.until(1000, () => !seenBy(b.service, slices, 'p1').ready)
  const staleBefore = b.service.stats.stale
  await cluster.network.endpoint('relay').publish(ENDPOINTS_TOPIC, early)
  await turn()
  t.equal(b.service.stats.stale, staleBefore + 1, 'counted as stale')
  t.same(seenBy(b.service, slices, 'p1'), NOT_READY, 'the late report changed nothing')
  // A restart: a new daemon for node a, whose sequence starts from the wall clock again.
  cluster.removeNode('a')
  await cluster.run(100)
  const { accepted, stale } = b.service.stats
  cluster.addNode('a')
  cluster.setPod('a', 'p1', { ip: '10.244.1.2', ready: true, terminating: true })
  const tookMs = await cluster.until(1000, () => seenBy(b.service, slices, 'p1').terminating)
  t.ok(tookMs <= 1000, `the restarted node's report is accepted (took ${tookMs} ms)`)
  t.ok(b.service.stats.accepted > accepted)
  t.equal(b.service.stats.stale, stale, 'nothing of the restarted node was taken for stale')
})

t.test('sim: while a node warms up, its reports do not take unlisted pods for gone', async (t) => {
  const cluster = new SimCluster()
  t.teardown(() => cluster.stop())
  cluster.addNode('a', 3 * INTERVAL_MS)
  const b = cluster.addNode('b')
  const slices = storedSlices([{ uid: 'p1', ip: '10.244.1.2', node: 'a' }, { uid: 'p2', ip: '10.244.1.3', node: 'a' }])
  cluster.setPod('a', 'p1', { ip: '10.244.1.2', ready: false })
  await cluster.run(INTERVAL_MS)
  t.same(seenBy(b.service, slices, 'p1'), NOT_READY, 'a listed pod follows the report')
  t.same(seenBy(b.service, slices, 'p2'), READY, 'an unlisted pod keeps the store\'s conditions')
  const tookMs = await cluster.until(4 * INTERVAL_MS, () => !seenBy(b.service, slices, 'p2').ready)
  t.ok(tookMs >= INTERVAL_MS, `after the warm-up, the unlisted pod is gone (took ${tookMs} ms)`)
})

// ---------------------------------------------------------------------------------------------
// The agent's hooks

t.test('agent hooks: readiness and deletion reach a peer even when status writes fail (no quorum)', async (t) => {
  const w = new AgentWorld()
  t.teardown(() => w.stop())
  await w.start()
  const network = new GossipNetworkMemory()
  const local = new EndpointGossipService({ nodeName: w.nodeName, gossip: network.endpoint(w.nodeName), timers: w.timers, log: () => {}, warmUpMs: 0 })
  const peer = new EndpointGossipService({ nodeName: 'node-b', gossip: network.endpoint('node-b'), timers: w.timers, log: () => {} })
  local.start()
  peer.start()
  t.teardown(() => {
    local.stop()
    peer.stop()
  })
  // A restarted agent with the hooks (the first one has no pods yet).
  w.agent?.stop()
  const gone: string[] = []
  w.startAgent({
    onLocalPodStatus: (pod, status) => local.localPodStatus(pod, status),
    onLocalPodGone: (uid) => {
      gone.push(uid)
      local.localPodGone(uid)
    },
  })
  const created = await w.createPod({
    metadata: { name: 'web' },
    spec: { nodeName: w.nodeName, terminationGracePeriodSeconds: 2, containers: [{ name: 'main', image: 'flotilla/busybox:local', command: ['sh', '-c', 'sleep 3600'] }] },
  })
  const uid = String((created['metadata'] as Record<string, unknown>)['uid'])
  await w.runUntil('the pod is Ready', 5000, async () => {
    const status = ((await w.pod('web'))?.['status'] ?? {}) as Record<string, unknown>
    return typeof status['podIP'] === 'string' && JSON.stringify(status['conditions'] ?? []).includes('"type":"Ready","status":"True"')
  })
  const podIp = String(((await w.pod('web'))?.['status'] as Record<string, unknown>)['podIP'])
  const slices = storedSlices([{ uid, ip: podIp, node: w.nodeName }])
  await w.runUntil('the peer hears the pod', 2000, () => seenBy(peer, slices, uid).ready)
  // From here on the API refuses every status write, as a node cut off from the quorum sees.
  w.client.updateStatus = async () => {
    throw new Error('no Raft quorum')
  }
  w.probes?.set(uid, 'main', { ready: false })
  const unreadyMs = await w.runUntil('the peer sees the pod not ready', 1000, () => !seenBy(peer, slices, uid).ready, 10)
  t.comment(`not ready on the peer ${unreadyMs} ms after the probe failed, with status writes failing`)
  t.ok(unreadyMs <= 1000)
  const stored = JSON.stringify(((await w.pod('web'))?.['status'] as Record<string, unknown>)['conditions'])
  t.match(stored, /"type":"Ready","status":"True"/, 'the store still says Ready: the peer learnt it from gossip')
  await w.client.delete(PODS, 'default', 'web', uid)
  const terminatingMs = await w.runUntil('the peer sees the pod terminating', 1000, () => seenBy(peer, slices, uid).terminating, 10)
  t.ok(terminatingMs <= 1000, `terminating on the peer after ${terminatingMs} ms`)
  t.same(seenBy(peer, slices, uid), { ready: false, serving: false, terminating: true }, 'with the readiness the agent last computed, not the last one written')
  await w.runUntil('the pod is torn down', 10_000, () => gone.includes(uid))
  await w.step(100)
  t.same(seenBy(peer, slices, uid), { ready: false, serving: false, terminating: false }, 'gone from its node: neither ready nor serving')
})
