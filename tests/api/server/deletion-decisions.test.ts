// Goal: the pure rules behind DELETE and the garbage collector decide as Kubernetes does.
// - decideDeletion: kube-apiserver's BeforeDelete + pod CheckGracefulDelete (grace from the
//   options, the spec, 30; 0 for unbound and finished pods; deletionTimestamp = now + grace; only
//   shortening of a running grace period; finalizers and foreground deletions mark).
// - isReadyToVanish: a Terminating pod whose grace period runs does not vanish on update.
// - planOwnerReferences: kube-controller-manager's attemptToDeleteItem (solid, dangling and
//   waiting owners → keep, detach, delete with a policy).
// Method: table-driven cases over small JSON objects.
import t from 'tap'
import { decideDeletion, isReadyToVanish, podGracePeriodSeconds, withDeletionMark } from '../../../node/src/api/server/deletion-state.ts'
import { planOwnerReferences } from '../../../node/src/api/server/garbage-collection.ts'
import type { ResourceRef } from '../../../node/src/api/server/object-store.ts'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'

const PODS: ResourceRef = { group: '', resource: 'pods', kind: 'Pod', apiVersion: 'v1', namespaced: true }
const CONFIG_MAPS: ResourceRef = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }
const NOW = '2026-01-01T00:00:00Z'

function pod(extra: { nodeName?: string; grace?: number; phase?: string; finalizers?: string[]; deletionTimestamp?: string; deletionGracePeriodSeconds?: number } = {}): JsonObject {
  return {
    metadata: {
      name: 'p',
      uid: 'u',
      ...(extra.finalizers !== undefined ? { finalizers: extra.finalizers } : {}),
      ...(extra.deletionTimestamp !== undefined ? { deletionTimestamp: extra.deletionTimestamp, deletionGracePeriodSeconds: extra.deletionGracePeriodSeconds ?? 0 } : {}),
    },
    spec: { ...(extra.nodeName !== undefined ? { nodeName: extra.nodeName } : {}), ...(extra.grace !== undefined ? { terminationGracePeriodSeconds: extra.grace } : {}), containers: [] },
    status: extra.phase !== undefined ? { phase: extra.phase } : {},
  }
}

t.test('a pod’s grace period (CheckGracefulDelete)', async (t) => {
  t.equal(podGracePeriodSeconds(pod({ nodeName: 'n' }), undefined), 30, 'default 30')
  t.equal(podGracePeriodSeconds(pod({ nodeName: 'n', grace: 7 }), undefined), 7, 'from the spec')
  t.equal(podGracePeriodSeconds(pod({ nodeName: 'n', grace: 7 }), 2), 2, 'from the options first')
  t.equal(podGracePeriodSeconds(pod({ grace: 7 }), 2), 0, 'unbound: 0')
  t.equal(podGracePeriodSeconds(pod({ nodeName: 'n', phase: 'Succeeded' }), 9), 0, 'Succeeded: 0')
  t.equal(podGracePeriodSeconds(pod({ nodeName: 'n', phase: 'Failed' }), undefined), 0, 'Failed: 0')
  t.equal(podGracePeriodSeconds(pod({ nodeName: 'n', grace: -3 }), undefined), 1, 'negative: 1')
})

t.test('decideDeletion', async (t) => {
  const request = (gracePeriodSeconds?: number, foreground = false) => ({ nowIso: NOW, gracePeriodSeconds, foreground })
  const cases: Array<[string, ResourceRef, JsonObject, ReturnType<typeof request>, unknown]> = [
    ['a bound pod is marked for now + grace', PODS, pod({ nodeName: 'n' }), request(), { kind: 'mark', deletionTimestamp: '2026-01-01T00:00:30Z', deletionGracePeriodSeconds: 30, addFinalizers: [] }],
    ['grace 0 removes it', PODS, pod({ nodeName: 'n' }), request(0), { kind: 'remove' }],
    ['an unbound pod is removed', PODS, pod(), request(), { kind: 'remove' }],
    ['a finished pod is removed', PODS, pod({ nodeName: 'n', phase: 'Failed' }), request(), { kind: 'remove' }],
    ['grace 0 with a finalizer marks now', PODS, pod({ nodeName: 'n', finalizers: ['x'] }), request(0), { kind: 'mark', deletionTimestamp: NOW, deletionGracePeriodSeconds: 0, addFinalizers: [] }],
    ['a foreground deletion of an unbound pod marks it', PODS, pod(), request(undefined, true), { kind: 'mark', deletionTimestamp: NOW, deletionGracePeriodSeconds: 0, addFinalizers: ['foregroundDeletion'] }],
    ['a longer grace period changes nothing', PODS, pod({ nodeName: 'n', deletionTimestamp: '2026-01-01T00:00:30Z', deletionGracePeriodSeconds: 30 }), request(60), { kind: 'unchanged' }],
    ['no grace period changes nothing', PODS, pod({ nodeName: 'n', deletionTimestamp: '2026-01-01T00:00:30Z', deletionGracePeriodSeconds: 30 }), request(), { kind: 'unchanged' }],
    ['a shorter one moves the timestamp', PODS, pod({ nodeName: 'n', deletionTimestamp: '2026-01-01T00:00:30Z', deletionGracePeriodSeconds: 30 }), request(10), { kind: 'mark', deletionTimestamp: '2026-01-01T00:00:10Z', deletionGracePeriodSeconds: 10, addFinalizers: [] }],
    ['shortened to 0 it goes', PODS, pod({ nodeName: 'n', deletionTimestamp: '2026-01-01T00:00:30Z', deletionGracePeriodSeconds: 30 }), request(0), { kind: 'remove' }],
    ['shortened to 0 with a finalizer it is marked with 0', PODS, pod({ nodeName: 'n', finalizers: ['x'], deletionTimestamp: '2026-01-01T00:00:30Z', deletionGracePeriodSeconds: 30 }), request(0), { kind: 'mark', deletionTimestamp: NOW, deletionGracePeriodSeconds: 0, addFinalizers: [] }],
    ['a marked pod without grace or finalizer (a failed delete) goes', PODS, pod({ nodeName: 'n', deletionTimestamp: NOW, deletionGracePeriodSeconds: 0 }), request(), { kind: 'remove' }],
    ['a held pod whose grace is over: unchanged', PODS, pod({ nodeName: 'n', finalizers: ['x'], deletionTimestamp: NOW, deletionGracePeriodSeconds: 0 }), request(0), { kind: 'unchanged' }],
    ['a config map goes at once', CONFIG_MAPS, { metadata: { name: 'c' } }, request(5), { kind: 'remove' }],
    ['a config map with a finalizer is marked now', CONFIG_MAPS, { metadata: { name: 'c', finalizers: ['x'] } }, request(5), { kind: 'mark', deletionTimestamp: NOW, deletionGracePeriodSeconds: 5, addFinalizers: [] }],
    ['a marked config map: unchanged', CONFIG_MAPS, { metadata: { name: 'c', finalizers: ['x'], deletionTimestamp: NOW, deletionGracePeriodSeconds: 0 } }, request(), { kind: 'unchanged' }],
    ['a marked config map deleted in foreground gets the finalizer', CONFIG_MAPS, { metadata: { name: 'c', finalizers: ['x'], deletionTimestamp: NOW, deletionGracePeriodSeconds: 0 } }, request(undefined, true), { kind: 'mark', deletionTimestamp: NOW, deletionGracePeriodSeconds: 0, addFinalizers: ['foregroundDeletion'] }],
  ]
  for (const [what, resource, object, input, expected] of cases) t.same(decideDeletion(resource, object, input), expected, what)
})

t.test('a Terminating pod vanishes on update only when its grace is over and no finalizer holds it', async (t) => {
  const terminating = withDeletionMark(pod({ nodeName: 'n' }), { kind: 'mark', deletionTimestamp: NOW, deletionGracePeriodSeconds: 30, addFinalizers: [] })
  t.notOk(isReadyToVanish(PODS, terminating), 'grace running: it stays')
  t.ok(isReadyToVanish(PODS, pod({ nodeName: 'n', deletionTimestamp: NOW, deletionGracePeriodSeconds: 0 })), 'grace over, no finalizer: it goes')
  t.notOk(isReadyToVanish(PODS, pod({ nodeName: 'n', finalizers: ['x'], deletionTimestamp: NOW, deletionGracePeriodSeconds: 0 })), 'a finalizer holds it')
  t.ok(isReadyToVanish(CONFIG_MAPS, { metadata: { deletionTimestamp: NOW, deletionGracePeriodSeconds: 5 } }), 'other resources do not wait for a grace period')
})

t.test('planOwnerReferences (attemptToDeleteItem)', async (t) => {
  const plan = (owners: Array<[string, 'solid' | 'dangling' | 'waiting']>, hasDependents = false, finalizers: string[] = []) =>
    planOwnerReferences({ owners: owners.map(([uid, state]) => ({ uid, state })), hasDependents, finalizers })
  t.same(plan([]), { op: 'keep' }, 'no owner: keep')
  t.same(plan([['a', 'solid'], ['b', 'solid']]), { op: 'keep' }, 'solid owners: keep')
  t.same(plan([['a', 'solid'], ['b', 'dangling'], ['c', 'waiting']]), { op: 'detach', ownerUids: ['b', 'c'] }, 'a solid owner: detach the others')
  t.same(plan([['b', 'dangling']]), { op: 'delete', policy: 'Background' }, 'all dangling: delete in background')
  t.same(plan([['b', 'dangling']], false, ['orphan']), { op: 'delete', policy: 'Orphan' }, 'honouring an orphan finalizer')
  t.same(plan([['b', 'dangling']], false, ['foregroundDeletion']), { op: 'delete', policy: 'Foreground' }, 'and a foreground one')
  t.same(plan([['c', 'waiting']], true), { op: 'delete', policy: 'Foreground' }, 'a waiting owner and own dependents: foreground')
  t.same(plan([['c', 'waiting'], ['b', 'dangling']], false), { op: 'delete', policy: 'Background' }, 'a waiting owner, no dependents: background')
})
