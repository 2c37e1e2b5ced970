// Goal: the pod garbage collector's plan (node/src/controllers/pod-gc.ts) force-deletes exactly
// the pods Kubernetes' PodGC would, plus Terminating pods of nodes lost for the eviction timeout:
// NodeLost before Orphaned before Unscheduled before TerminatedOverThreshold, oldest finished pods
// first, at most maxDeletes per pass, and nothing on a Ready node or a node not yet lost long.
// Method: table-driven inputs of pods and nodes; the time is an input.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { formatTime } from '../../node/src/controllers/object-fields.ts'
import { nodesMissingFrom, notReadySinceMs, planPodGc, type PodGcInput } from '../../node/src/controllers/pod-gc.ts'

const NOW_MS = Date.parse('2026-01-01T01:00:00Z')

function node(name: string, ready: 'True' | 'False' | 'Unknown', sinceMsAgo = 0): JsonObject {
  return { metadata: { name }, status: { conditions: [{ type: 'Ready', status: ready, lastTransitionTime: formatTime(NOW_MS - sinceMsAgo) }] } }
}

function pod(name: string, options: { nodeName?: string; deleting?: boolean; phase?: string; createdMsAgo?: number } = {}): JsonObject {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, creationTimestamp: formatTime(NOW_MS - (options.createdMsAgo ?? 60_000)), ...(options.deleting === true ? { deletionTimestamp: formatTime(NOW_MS), deletionGracePeriodSeconds: 30 } : {}) },
    spec: options.nodeName !== undefined ? { nodeName: options.nodeName } : {},
    status: { phase: options.phase ?? 'Running' },
  }
}

function input(pods: JsonObject[], nodes: JsonObject[], extra: Partial<PodGcInput> = {}): PodGcInput {
  return { pods, nodes, nowMs: NOW_MS, podEvictionTimeoutMs: 5000, terminatedPodThreshold: 12_500, missingNodes: new Set(), maxDeletes: 100, ...extra }
}

function planned(result: ReturnType<typeof planPodGc>): string[] {
  return result.map(({ pod, reason }) => `${String((pod['metadata'] as JsonObject)['name'])}:${reason}`)
}

t.test('Terminating pods of lost nodes, and only those', async (t) => {
  const nodes = [node('ready', 'True', 60_000), node('lost', 'Unknown', 6000), node('fresh', 'Unknown', 2000), node('sick', 'False', 10_000)]
  const pods = [
    pod('on-ready', { nodeName: 'ready', deleting: true }),
    pod('on-lost', { nodeName: 'lost', deleting: true }),
    pod('on-lost-running', { nodeName: 'lost' }),
    pod('on-fresh', { nodeName: 'fresh', deleting: true }),
    pod('on-sick', { nodeName: 'sick', deleting: true }),
  ]
  t.same(planned(planPodGc(input(pods, nodes))), ['on-lost:NodeLost', 'on-sick:NodeLost'], 'Terminating pods of nodes not Ready for the timeout; running ones stay (eviction decides)')
  t.equal(notReadySinceMs(nodes[0]!), undefined, 'a Ready node is not lost')
  t.equal(notReadySinceMs({ metadata: { name: 'silent' } }), undefined, 'nor a node without a Ready condition')
})

t.test('orphaned, unscheduled and finished pods; order and limits', async (t) => {
  const nodes = [node('ready', 'True', 60_000), node('lost', 'Unknown', 60_000)]
  const pods = [
    pod('gone-node', { nodeName: 'vanished' }),
    pod('unscheduled', { deleting: true }),
    pod('pending'),
    pod('old-done', { nodeName: 'ready', phase: 'Succeeded', createdMsAgo: 90_000 }),
    pod('new-done', { nodeName: 'ready', phase: 'Failed', createdMsAgo: 10_000 }),
    pod('mid-done', { nodeName: 'ready', phase: 'Succeeded', createdMsAgo: 50_000 }),
    pod('lost-one', { nodeName: 'lost', deleting: true }),
  ]
  t.same(nodesMissingFrom(pods, nodes), new Set(['vanished']), 'the missing nodes bound pods name')
  t.same(planned(planPodGc(input(pods, nodes))), ['lost-one:NodeLost', 'unscheduled:Unscheduled'], 'a node missing but not confirmed is left alone')
  const all = planPodGc(input(pods, nodes, { missingNodes: new Set(['vanished']), terminatedPodThreshold: 1 }))
  t.same(planned(all), ['lost-one:NodeLost', 'gone-node:Orphaned', 'unscheduled:Unscheduled', 'old-done:TerminatedOverThreshold', 'mid-done:TerminatedOverThreshold'], 'urgent first; the oldest finished pods beyond the threshold')
  t.same(planned(planPodGc(input(pods, nodes, { missingNodes: new Set(['vanished']), terminatedPodThreshold: 1, maxDeletes: 2 }))), ['lost-one:NodeLost', 'gone-node:Orphaned'], 'at most maxDeletes per pass')
  t.same(planned(planPodGc(input(pods, nodes, { terminatedPodThreshold: 0 }))), ['lost-one:NodeLost', 'unscheduled:Unscheduled'], 'a threshold of 0 keeps every finished pod')
  t.same(planned(planPodGc(input([...pods].reverse(), [...nodes].reverse(), { missingNodes: new Set(['vanished']), terminatedPodThreshold: 1 }))), planned(all), 'the plan does not depend on the cache order')
})
