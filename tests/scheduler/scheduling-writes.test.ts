// Goal: the objects the controller writes for a decision: the Binding, the pod with
// spec.nodeName and PodScheduled, and the Scheduled / FailedScheduling Events kubectl describe
// shows. Method: one pod through each builder, checking fields and that inputs stay untouched.
import t from 'tap'
import { cloneJson, type JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { scheduleBatch } from '../../node/src/scheduler/schedule.ts'
import {
  batchWrites,
  bindingWrites,
  failureWrites,
  kubeTime,
  needsScheduling,
  unschedulablePod,
} from '../../node/src/scheduler/scheduling-writes.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { makeNode, makePod } from './fixtures.ts'

const NOW = new Date('2024-05-01T12:00:00.123Z')

function pendingPod(): JsonObject {
  const pod = makePod('web-1', { namespace: 'team-a', uid: 'u-1', cpu: '100m' })
  ;(pod.metadata as JsonObject).resourceVersion = '42'
  return pod
}

t.test('bindingWrites: Binding, bound pod with PodScheduled=True, Normal Scheduled event', async (t) => {
  const pod = pendingPod()
  const before = cloneJson(pod)
  const writes = bindingWrites(pod, 'node-7', { now: NOW, reportingInstance: 'alpha' })
  t.same(writes.binding, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'web-1', namespace: 'team-a', uid: 'u-1' }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-7' } })
  t.equal((writes.pod.spec as JsonObject).nodeName, 'node-7')
  t.same((writes.pod.status as JsonObject).conditions, [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2024-05-01T12:00:00Z' }])
  t.match(writes.event, {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { namespace: 'team-a' },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: 'team-a', name: 'web-1', uid: 'u-1', resourceVersion: '42' },
    type: 'Normal',
    reason: 'Scheduled',
    message: 'Successfully assigned team-a/web-1 to node-7',
    source: { component: 'default-scheduler' },
    reportingComponent: 'default-scheduler',
    reportingInstance: 'alpha',
    firstTimestamp: '2024-05-01T12:00:00Z',
    lastTimestamp: '2024-05-01T12:00:00Z',
    count: 1,
  })
  t.match((writes.event.metadata as JsonObject).name, /^web-1\.[0-9a-f]+$/)
  t.same(pod, before, 'the input pod is not modified')
})

t.test('failureWrites: PodScheduled=False Unschedulable and a Warning FailedScheduling event', async (t) => {
  const message = '0/3 nodes are available: 3 Insufficient cpu.'
  const writes = failureWrites(pendingPod(), message, { now: NOW })
  t.same((writes.pod.status as JsonObject).conditions, [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: '2024-05-01T12:00:00Z' }])
  t.equal((writes.pod.status as JsonObject).phase, 'Pending')
  t.equal((writes.pod.spec as JsonObject).nodeName, undefined)
  t.match(writes.event, { type: 'Warning', reason: 'FailedScheduling', message, involvedObject: { kind: 'Pod', name: 'web-1' } })
})

t.test('PodScheduled keeps its transition time while the status stays, and replaces only itself', async (t) => {
  const first = unschedulablePod(pendingPod(), 'first', NOW)
  ;((first.status as JsonObject).conditions as JsonObject[]).unshift({ type: 'Ready', status: 'False' })
  const later = new Date('2024-05-01T12:05:00Z')
  const second = unschedulablePod(first, 'second', later)
  t.same((second.status as JsonObject).conditions, [
    { type: 'Ready', status: 'False' },
    { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'second', lastTransitionTime: '2024-05-01T12:00:00Z' },
  ])
  const bound = bindingWrites(second, 'n', { now: later }).pod
  t.same(((bound.status as JsonObject).conditions as JsonObject[])[1], { type: 'PodScheduled', status: 'True', lastTransitionTime: '2024-05-01T12:05:00Z' })
})

t.test('event names are stable for the same inputs and differ between events of one pod', async (t) => {
  const pod = pendingPod()
  const a = failureWrites(pod, 'm', { now: NOW }).event
  const b = failureWrites(pod, 'm', { now: NOW }).event
  const c = bindingWrites(pod, 'n', { now: NOW }).event
  t.equal((a.metadata as JsonObject).name, (b.metadata as JsonObject).name)
  t.not((a.metadata as JsonObject).name, (c.metadata as JsonObject).name)
  t.equal(kubeTime(NOW), '2024-05-01T12:00:00Z')
})

t.test('needsScheduling: unbound, ours, alive, ungated', async (t) => {
  t.ok(needsScheduling(makePod('p')))
  t.notOk(needsScheduling(makePod('p', { nodeName: 'n' })), 'already bound')
  const other = makePod('p')
  ;(other.spec as JsonObject).schedulerName = 'my-scheduler'
  t.notOk(needsScheduling(other), 'another scheduler')
  t.ok(needsScheduling(other, 'my-scheduler'))
  const gated = makePod('p')
  ;(gated.spec as JsonObject).schedulingGates = [{ name: 'wait' }]
  t.notOk(needsScheduling(gated), 'gated')
  const deleting = makePod('p')
  ;(deleting.metadata as JsonObject).deletionTimestamp = '2024-01-01T00:00:00Z'
  t.notOk(needsScheduling(deleting), 'being deleted')
  t.notOk(needsScheduling(makePod('p', { phase: 'Failed' })), 'finished')
})

t.test('batchWrites turns a batch result into writes in order', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('n', { cpu: '1' })] })
  const result = scheduleBatch([makePod('a', { cpu: '600m' }), makePod('b', { cpu: '600m' })], snapshot, 1)
  const writes = batchWrites(result, { now: NOW })
  t.same(writes.bindings.map((write) => [(write.binding.metadata as JsonObject).name, (write.binding.target as JsonObject).name]), [['a', 'n']])
  t.same(writes.failures.map((write) => write.event.message), ['0/1 nodes are available: 1 Insufficient cpu.'])
})
