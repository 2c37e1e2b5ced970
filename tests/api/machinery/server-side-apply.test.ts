// Goal: server-side apply and Update recording give the objects, managedFields and 409 conflicts a
// real kube-apiserver gives for the same sequence of writes. Method: scenarios built from what
// kubectl does (apply --server-side, client-side apply, scale, edit), each checking the stored
// object, the FieldsV1 of every manager and the exact conflict text; then a seeded random walk of
// applies and updates by several managers that checks idempotence, ownership and the applied
// fields after every step.
import t, { type Test } from 'tap'
import { RandomXoshiro, type Random } from '../../../lib/random.ts'
import { cloneJson, isJsonObject, jsonEqual, type JsonObject, type JsonValue } from '../../../node/src/api/machinery/canonical.ts'
import { decodeToken, FieldSet, fieldSetOf, formatPath, valueAtPath } from '../../../node/src/api/machinery/field-set.ts'
import {
  ANCIENT_CHANGES_MANAGER,
  capUpdateManagers,
  decodeManagedFields,
  describeManager,
  fieldManagerErrors,
  InvalidManagedFieldsError,
  managedFieldsOf,
  managerFromUserAgent,
  MANAGED_FIELDS_UPDATE_MANAGERS_MAX,
  recordUpdate,
  trackedFields,
  type ManagedFieldsEntry,
} from '../../../node/src/api/machinery/managed-fields.ts'
import { ApplyConflictError, serverSideApply, type ServerSideApplyOptions } from '../../../node/src/api/machinery/server-side-apply.ts'
import { ApiError } from '../../../node/src/api/machinery/status.ts'

const T0 = '2021-03-01T10:00:00Z'
const T1 = '2021-03-01T10:01:00Z'
const T2 = '2021-03-01T10:02:00Z'
const T3 = '2021-03-01T10:03:00Z'

/** The manifest of `kubectl apply --server-side -f web.yaml`. */
function webManifest(overrides: { replicas?: number; image?: string; labels?: JsonObject } = {}): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: overrides.labels ?? { app: 'web' } },
    spec: {
      ...(overrides.replicas === undefined ? {} : { replicas: overrides.replicas }),
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'nginx', image: overrides.image ?? 'nginx:1.21' }] },
      },
    },
  }
}

/** What the store adds on create: the server-owned metadata and defaulted fields. */
function stored(object: JsonObject): JsonObject {
  const copy = cloneJson(object)
  const metadata = copy['metadata'] as JsonObject
  Object.assign(metadata, { uid: 'uid-1', resourceVersion: '7', creationTimestamp: T0, generation: 1 })
  return copy
}

function apply(live: JsonObject | undefined, applied: JsonObject, manager: string, overrides: Partial<ServerSideApplyOptions> = {}): JsonObject {
  return serverSideApply({ live, applied, manager, force: false, nowIso: T1, apiVersion: 'apps/v1', ...overrides }).object
}

function entriesOf(object: JsonObject): ManagedFieldsEntry[] {
  return decodeManagedFields((object['metadata'] as JsonObject)['managedFields'])
}

/** The fields of `manager`'s entry, printed the way conflict messages print paths. */
function owned(object: JsonObject, manager: string, operation: 'Apply' | 'Update' = 'Apply'): string[] {
  const entry = entriesOf(object).find((candidate) => candidate.manager === manager && candidate.operation === operation)
  return entry === undefined ? [] : entry.fields.paths().map(formatPath)
}

function spec(object: JsonObject): JsonObject {
  return object['spec'] as JsonObject
}

function containers(object: JsonObject): JsonObject[] {
  return ((spec(object)['template'] as JsonObject)['spec'] as JsonObject)['containers'] as JsonObject[]
}

t.test('create: the object is the applied configuration with one Apply entry', async (t) => {
  const manifest: JsonObject = { ...webManifest({ replicas: 2 }), status: { replicas: 9 } }
  ;(manifest['metadata'] as JsonObject)['uid'] = 'client-chosen'
  ;(manifest['metadata'] as JsonObject)['managedFields'] = [{ manager: 'forged', operation: 'Apply', fieldsV1: { 'f:spec': {} } }]
  const result = serverSideApply({ live: undefined, applied: manifest, manager: 'kubectl', force: false, nowIso: T0, apiVersion: 'apps/v1' })
  t.equal(result.changed, true)
  const object = result.object
  t.equal(object['status'], undefined, 'status is not applied on the main resource')
  t.equal((object['metadata'] as JsonObject)['uid'], undefined, 'server-owned metadata is dropped')
  t.same(spec(object)['replicas'], 2)
  t.same((object['metadata'] as JsonObject)['managedFields'], [
    {
      manager: 'kubectl',
      operation: 'Apply',
      apiVersion: 'apps/v1',
      time: T0,
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': {
          'f:replicas': {},
          'f:selector': { 'f:matchLabels': { 'f:app': {} } },
          'f:template': {
            'f:metadata': { 'f:labels': { 'f:app': {} } },
            'f:spec': { 'f:containers': { 'k:{"name":"nginx"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
          },
        },
      },
    },
  ])
  t.same(manifest['status'], { replicas: 9 }, 'the input is not modified')
})

t.test('re-applying the same configuration changes nothing, not even the time', async (t) => {
  const live = stored(apply(undefined, webManifest({ replicas: 2 }), 'kubectl'))
  const again = serverSideApply({ live, applied: webManifest({ replicas: 2 }), manager: 'kubectl', force: false, nowIso: T3, apiVersion: 'apps/v1' })
  t.equal(again.changed, false)
  t.same(again.object, live)
  t.equal(entriesOf(again.object)[0]?.time, T1)
  const changed = serverSideApply({ live, applied: webManifest({ replicas: 3 }), manager: 'kubectl', force: false, nowIso: T3, apiVersion: 'apps/v1' })
  t.equal(changed.changed, true)
  t.equal(entriesOf(changed.object)[0]?.time, T3, 'a change moves the time')
  t.same((changed.object['metadata'] as JsonObject)['uid'], 'uid-1', 'server-owned metadata is kept')
  t.same((changed.object['metadata'] as JsonObject)['resourceVersion'], '7')
})

t.test('a field the manager stops applying is removed', async (t) => {
  const manifest = webManifest({ replicas: 2, labels: { app: 'web', tier: 'front' } })
  ;(manifest['metadata'] as JsonObject)['annotations'] = { note: 'x' }
  containers(manifest).push({ name: 'sidecar', image: 'busybox', args: ['sleep', '1d'] })
  const live = stored(apply(undefined, manifest, 'kubectl'))
  const next = apply(live, webManifest({ labels: { app: 'web' } }), 'kubectl', { nowIso: T2 })
  t.equal(spec(next)['replicas'], undefined, 'replicas removed')
  t.same((next['metadata'] as JsonObject)['labels'], { app: 'web' }, 'one label removed')
  t.equal((next['metadata'] as JsonObject)['annotations'], undefined, 'an object left empty goes too')
  t.same(containers(next), [{ name: 'nginx', image: 'nginx:1.21' }], 'the dropped container is removed')
  t.notOk(owned(next, 'kubectl').includes('.spec.replicas'))
})

t.test('fields nobody applied survive a prune', async (t) => {
  const live = stored(apply(undefined, webManifest({ replicas: 2 }), 'kubectl'))
  // Defaulting by the server: owned by nobody, never pruned.
  ;(spec(live) as JsonObject)['revisionHistoryLimit'] = 10
  ;(containers(live)[0] as JsonObject)['imagePullPolicy'] = 'IfNotPresent'
  const next = apply(live, webManifest(), 'kubectl')
  t.equal(spec(next)['revisionHistoryLimit'], 10)
  t.equal(containers(next)[0]?.['imagePullPolicy'], 'IfNotPresent')
  t.equal(spec(next)['replicas'], undefined)
})

t.test('two appliers share a field set to the same value', async (t) => {
  let live = stored(apply(undefined, webManifest({ replicas: 3 }), 'alice'))
  live = apply(live, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 3 } }, 'bob')
  t.ok(owned(live, 'alice').includes('.spec.replicas'))
  t.same(owned(live, 'bob'), ['.spec.replicas'])
  live = apply(live, webManifest(), 'alice', { nowIso: T2 })
  t.equal(spec(live)['replicas'], 3, 'still owned by bob, so alice dropping it keeps it')
  t.notOk(owned(live, 'alice').includes('.spec.replicas'))
  live = apply(live, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { paused: true } }, 'bob', { nowIso: T3 })
  t.equal(spec(live)['replicas'], undefined, 'the last owner dropping it removes it')
  t.equal(spec(live)['paused'], true)
})

t.test('conflict with an Update manager: 409 with the kube-apiserver text; force takes the field', async (t) => {
  // Client-side kubectl apply created the object and later changed replicas: both are Updates.
  const created = recordUpdate({ previous: undefined, next: stored(webManifest({ replicas: 1 })), manager: 'kubectl-client-side-apply', nowIso: T0, apiVersion: 'apps/v1' })
  const scaled = recordUpdate({ previous: created, next: { ...created, spec: { ...spec(created), replicas: 3 } }, manager: 'kubectl-client-side-apply', nowIso: T1, apiVersion: 'apps/v1' })
  const attempt = (): JsonObject => apply(scaled, webManifest({ replicas: 5 }), 'kubectl', { nowIso: T2 })
  t.throws(attempt, ApplyConflictError)
  let error: unknown
  try {
    attempt()
  } catch (caught) {
    error = caught
  }
  t.ok(error instanceof ApiError, 'an ApiError the handler can send')
  const conflict = error as ApplyConflictError
  t.equal(conflict.name, 'ApplyConflictError')
  t.equal(conflict.message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas')
  t.same(conflict.toStatus(), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas',
    reason: 'Conflict',
    details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-client-side-apply" using apps/v1', field: '.spec.replicas' }] },
    code: 409,
  })
  t.same(conflict.conflicts, [{ manager: '"kubectl-client-side-apply" using apps/v1', field: '.spec.replicas' }])

  const forced = apply(scaled, webManifest({ replicas: 5 }), 'kubectl', { nowIso: T2, force: true })
  t.equal(spec(forced)['replicas'], 5)
  t.ok(owned(forced, 'kubectl').includes('.spec.replicas'))
  t.notOk(owned(forced, 'kubectl-client-side-apply', 'Update').includes('.spec.replicas'), 'ownership moved')
  t.ok(owned(forced, 'kubectl-client-side-apply', 'Update').includes('.spec.template.spec.containers[name="nginx"].image'), 'shared fields stay shared')
  t.ok(owned(forced, 'kubectl').includes('.spec.template.spec.containers[name="nginx"].image'))

  const sameValue = apply(scaled, webManifest({ replicas: 3 }), 'kubectl', { nowIso: T2 })
  t.equal(spec(sameValue)['replicas'], 3, 'applying the value the field already has is no conflict')
  t.ok(owned(sameValue, 'kubectl-client-side-apply', 'Update').includes('.spec.replicas'))
})

t.test('conflict messages: subresource managers, appliers, several conflicts grouped by manager', async (t) => {
  const live = stored(apply(undefined, webManifest({ replicas: 1 }), 'kubectl', { nowIso: T0 }))
  const scaled = recordUpdate({ previous: live, next: { ...live, spec: { ...spec(live), replicas: 4 } }, manager: 'kubectl', nowIso: T1, apiVersion: 'apps/v1', subresource: 'scale' })
  t.same(owned(scaled, 'kubectl', 'Update'), ['.spec.replicas'])
  t.notOk(owned(scaled, 'kubectl').includes('.spec.replicas'), 'the update took replicas from the applier')
  t.throws(() => apply(scaled, webManifest({ replicas: 1 }), 'kubectl'), {
    message: 'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas',
  })
  const kept = apply(scaled, webManifest(), 'kubectl', { nowIso: T2 })
  t.equal(spec(kept)['replicas'], 4, 'replicas no longer belongs to the applier, so omitting it keeps it')

  const other = webManifest({ replicas: 1, image: 'nginx:1.22', labels: { app: 'web', extra: 'x' } })
  let error: ApplyConflictError | undefined
  try {
    apply(scaled, other, 'ci')
  } catch (caught) {
    error = caught as ApplyConflictError
  }
  t.equal(
    error?.message,
    'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.template.spec.containers[name="nginx"].image\nconflicts with "kubectl" with subresource "scale" using apps/v1:\n- .spec.replicas',
  )
  t.same(error?.toStatus().details?.causes, [
    { reason: 'FieldManagerConflict', message: 'conflict with "kubectl"', field: '.spec.template.spec.containers[name="nginx"].image' },
    { reason: 'FieldManagerConflict', message: 'conflict with "kubectl" with subresource "scale" using apps/v1', field: '.spec.replicas' },
  ])
  t.equal(describeManager({ manager: 'a', operation: 'Update', apiVersion: 'v1', subresource: undefined }), '"a" using v1')
})

t.test('keyed lists: containers belong to whoever applied them', async (t) => {
  let live = stored(apply(undefined, webManifest(), 'alice'))
  const bobs = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'envoy' }] } } } }
  live = apply(live, bobs, 'bob')
  t.same(containers(live).map((container) => container['name']), ['nginx', 'sidecar'])
  t.same(owned(live, 'bob'), ['.spec.template.spec.containers[name="sidecar"]', '.spec.template.spec.containers[name="sidecar"].image', '.spec.template.spec.containers[name="sidecar"].name'])
  live = apply(live, webManifest({ image: 'nginx:1.22' }), 'alice', { nowIso: T2 })
  t.same(containers(live), [{ name: 'nginx', image: 'nginx:1.22' }, { name: 'sidecar', image: 'envoy' }], "alice re-applying without bob's container keeps it")
  t.throws(() => apply(live, { ...bobs, spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'envoy' }, { name: 'nginx', image: 'nginx:1.0' }] } } } }, 'bob'), {
    message: 'Apply failed with 1 conflict: conflict with "alice": .spec.template.spec.containers[name="nginx"].image',
  })
  const both = apply(live, { ...bobs, spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'envoy' }, { name: 'nginx', image: 'nginx:1.22' }] } } } }, 'bob')
  t.ok(owned(both, 'bob').includes('.spec.template.spec.containers[name="nginx"].image'), 'the same image is shared')
  const alone = apply(both, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 1 } }, 'alice', { nowIso: T3 })
  t.same(containers(alone), [{ name: 'nginx', image: 'nginx:1.22' }, { name: 'sidecar', image: 'envoy' }], 'a container bob also owns stays when alice drops it')
  const gone = apply(alone, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } }, 'bob', { nowIso: T3 })
  t.same(gone['spec'], { replicas: 1 }, 'when nobody owns any container the list goes, and the objects it leaves empty')
})

t.test('keyed lists: new items go next to their neighbours in the configuration', async (t) => {
  const live = stored(apply(undefined, webManifest(), 'alice'))
  const manifest = webManifest()
  const list = containers(manifest)
  list.unshift({ name: 'first', image: 'x' })
  list.push({ name: 'last', image: 'y' })
  const next = apply(live, manifest, 'alice')
  t.same(containers(next).map((container) => container['name']), ['first', 'nginx', 'last'])
  t.same(apply(next, manifest, 'alice'), next, 'applying again keeps the order')
})

t.test('finalizers merge as a set of values', async (t) => {
  const base = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' } }
  const withFinalizers = (finalizers: string[]): JsonObject => ({ ...base, metadata: { ...base.metadata, finalizers } })
  let live = stored(apply(undefined, withFinalizers(['example.com/a']), 'alice', { apiVersion: 'v1' }))
  live = apply(live, withFinalizers(['example.com/b']), 'bob', { apiVersion: 'v1' })
  t.same((live['metadata'] as JsonObject)['finalizers'], ['example.com/a', 'example.com/b'])
  t.same(owned(live, 'alice'), ['.metadata.finalizers[="example.com/a"]'])
  t.same(entriesOf(live).find((entry) => entry.manager === 'bob')?.fields.toFieldsV1(), { 'f:metadata': { 'f:finalizers': { 'v:"example.com/b"': {} } } })
  live = apply(live, withFinalizers([]), 'alice', { apiVersion: 'v1' })
  t.same((live['metadata'] as JsonObject)['finalizers'], ['example.com/b'])
  t.same(owned(live, 'alice'), [], 'alice owns nothing any more')
  t.equal(entriesOf(live).length, 1, 'and her entry is gone')
})

t.test('status and server-owned metadata are never owned', async (t) => {
  const live = stored(apply(undefined, webManifest(), 'kubectl'))
  live['status'] = { replicas: 2, readyReplicas: 2 }
  const manifest: JsonObject = { ...webManifest(), status: { replicas: 100 } }
  Object.assign(manifest['metadata'] as JsonObject, { resourceVersion: '3', uid: 'other', generation: 9, creationTimestamp: T3 })
  const next = apply(live, manifest, 'kubectl')
  t.same(next['status'], { replicas: 2, readyReplicas: 2 })
  const metadata = next['metadata'] as JsonObject
  t.same([metadata['uid'], metadata['resourceVersion'], metadata['generation'], metadata['creationTimestamp']], ['uid-1', '7', 1, T0])
  const fields = entriesOf(next)[0]?.fields ?? FieldSet.EMPTY
  for (const path of [['f:apiVersion'], ['f:kind'], ['f:metadata', 'f:name'], ['f:metadata', 'f:namespace'], ['f:status']]) t.notOk(fields.hasAtOrBelow(path), formatPath(path))

  const statusApply = serverSideApply({ live: next, applied: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 50 }, status: { replicas: 1 } }, manager: 'controller', force: false, nowIso: T2, apiVersion: 'apps/v1', subresource: 'status' }).object
  t.same(statusApply['status'], { replicas: 1, readyReplicas: 2 })
  t.equal(spec(statusApply)['replicas'], undefined, 'a status apply leaves the spec alone')
  const entry = entriesOf(statusApply).find((candidate) => candidate.manager === 'controller')
  t.same(entry?.subresource, 'status')
  t.same(entry?.fields.toFieldsV1(), { 'f:status': { 'f:replicas': {} } })
})

t.test('an applied configuration with duplicate or missing keys is 422', async (t) => {
  const duplicate = webManifest()
  containers(duplicate).push({ name: 'nginx', image: 'other' })
  t.throws(() => apply(undefined, duplicate, 'kubectl'), { code: 422, reason: 'Invalid', message: 'failed to create typed patch object: .spec.template.spec.containers: duplicate entries for key [name="nginx"]' })
  const missing = webManifest()
  containers(missing).push({ image: 'anonymous' })
  t.throws(() => apply(undefined, missing, 'kubectl'), { code: 422, message: 'failed to create typed patch object: .spec.template.spec.containers: associative list with keys has an element that omits key field "name"' })
})

t.test('recordUpdate: creates, updates and removals move ownership between managers', async (t) => {
  const created = recordUpdate({ previous: undefined, next: stored(webManifest({ replicas: 1 })), userAgent: 'kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19', nowIso: T0, apiVersion: 'apps/v1' })
  const [createdEntry] = entriesOf(created)
  t.equal(createdEntry?.manager, 'kubectl', 'the manager comes from the User-Agent')
  t.equal(createdEntry?.operation, 'Update')
  t.same(createdEntry?.fields.toFieldsV1(), {
    'f:metadata': { 'f:labels': { 'f:app': {} } },
    'f:spec': {
      'f:replicas': {},
      'f:selector': { 'f:matchLabels': { 'f:app': {} } },
      'f:template': {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': { 'f:containers': { 'k:{"name":"nginx"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
      },
    },
  }, 'a create owns every field it set, except the server-owned ones')

  const edited = recordUpdate({ previous: created, next: { ...created, metadata: { ...(created['metadata'] as JsonObject), labels: { app: 'web', owner: 'me' } } }, manager: 'kubectl-edit', nowIso: T1, apiVersion: 'apps/v1' })
  t.same(owned(edited, 'kubectl-edit', 'Update'), ['.metadata.labels.owner'])
  const unchanged = recordUpdate({ previous: edited, next: cloneJson(edited), manager: 'someone', nowIso: T2, apiVersion: 'apps/v1' })
  t.same(unchanged, edited, 'a write that changes nothing records nothing')
  const removed = recordUpdate({ previous: edited, next: { ...edited, metadata: { ...(edited['metadata'] as JsonObject), labels: { app: 'web' } } }, manager: 'kubectl-label', nowIso: T2, apiVersion: 'apps/v1' })
  t.same(entriesOf(removed).map((entry) => entry.manager), ['kubectl'], 'a manager whose fields are all removed disappears')
  const retyped = recordUpdate({ previous: removed, next: { ...removed, spec: { ...spec(removed), replicas: 2 } }, manager: 'kubectl', nowIso: T3, apiVersion: 'apps/v1' })
  t.same(entriesOf(retyped).map((entry) => [entry.manager, entry.time]), [['kubectl', T3]], 'the same manager keeps one entry, with the newest time')
  t.same(entriesOf(recordUpdate({ previous: undefined, next: { metadata: { name: 'x' }, data: { a: '1' } }, nowIso: T0, apiVersion: 'v1' })).map((entry) => entry.manager), ['unknown'], 'no fieldManager and no User-Agent')
  t.same(recordUpdate({ previous: undefined, next: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, nowIso: T0, apiVersion: 'v1' }), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, 'nothing to own: no managedFields')
})

t.test('recordUpdate: client-sent managedFields are honoured, [] clears them, garbage is ignored', async (t) => {
  const live = recordUpdate({ previous: undefined, next: stored(webManifest({ replicas: 1 })), manager: 'creator', nowIso: T0, apiVersion: 'apps/v1' })
  const metadata = live['metadata'] as JsonObject
  const cleared = recordUpdate({ previous: live, next: { ...live, metadata: { ...metadata, managedFields: [] } }, manager: 'x', nowIso: T1, apiVersion: 'apps/v1' })
  t.equal((cleared['metadata'] as JsonObject)['managedFields'], undefined)
  const clearedToo = recordUpdate({ previous: live, next: { ...live, metadata: { ...metadata, managedFields: [{}] } }, manager: 'x', nowIso: T1, apiVersion: 'apps/v1' })
  t.equal((clearedToo['metadata'] as JsonObject)['managedFields'], undefined)
  const custom = [{ manager: 'hand', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }]
  const handEdited = recordUpdate({ previous: live, next: { ...live, metadata: { ...metadata, managedFields: custom } }, manager: 'x', nowIso: T1, apiVersion: 'apps/v1' })
  t.same((handEdited['metadata'] as JsonObject)['managedFields'], custom)
  const garbage = recordUpdate({ previous: live, next: { ...live, metadata: { ...metadata, managedFields: [{ operation: 'Sideways' }] } }, manager: 'x', nowIso: T1, apiVersion: 'apps/v1' })
  t.same((garbage['metadata'] as JsonObject)['managedFields'], metadata['managedFields'])
  const viaStatus = recordUpdate({ previous: live, next: { ...live, metadata: { ...metadata, managedFields: [] }, status: { replicas: 1 } }, manager: 'controller', nowIso: T1, apiVersion: 'apps/v1', subresource: 'status' })
  t.same(entriesOf(viaStatus).map((entry) => [entry.manager, entry.subresource, entry.fields.paths().length > 0]), [['creator', undefined, true], ['controller', 'status', true]], 'a subresource write ignores sent managedFields')
  t.same(owned(viaStatus, 'controller', 'Update'), ['.status.replicas'])
})

t.test('managedFields decoding, the manager name and fieldManager validation', async (t) => {
  t.same(decodeManagedFields(undefined), [])
  t.throws(() => decodeManagedFields({}), InvalidManagedFieldsError)
  t.throws(() => decodeManagedFields([{ manager: 'a', operation: 'Apply', fieldsV1: { bad: {} } }]), InvalidManagedFieldsError)
  t.throws(() => decodeManagedFields([{ manager: 'a', operation: 'Apply' }, { manager: 'a', operation: 'Apply', apiVersion: 'v2' }]), /duplicate entry/)
  t.same(decodeManagedFields([{ manager: 'a', operation: 'Update', apiVersion: 'v1' }, { manager: 'a', operation: 'Update', apiVersion: 'v2' }]).length, 2, 'Update entries differ by apiVersion')
  t.same(managedFieldsOf({ metadata: { managedFields: 'nonsense' } }), [], 'unreadable entries count as none')
  t.equal(managerFromUserAgent('kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19'), 'kubectl')
  t.equal(managerFromUserAgent('helm/v3.8.1'), 'helm')
  t.equal(managerFromUserAgent('no-slash'), 'no-slash')
  t.equal(managerFromUserAgent('tab\there/1'), 'tabhere', 'unprintable characters are dropped')
  t.equal(managerFromUserAgent('x'.repeat(300)), 'x'.repeat(128))
  t.equal(managerFromUserAgent(undefined), 'unknown')
  t.equal(managerFromUserAgent(''), 'unknown')
  t.same(fieldManagerErrors('kubectl', { apply: true }), [])
  t.same(fieldManagerErrors(undefined, { apply: false }), [])
  t.same(fieldManagerErrors('', { apply: true }).map((error) => [error.type, error.field, error.detail]), [['FieldValueRequired', 'fieldManager', 'is required for apply patch']])
  t.same(fieldManagerErrors('y'.repeat(129), { apply: false }).map((error) => error.type), ['FieldValueTooLong'])
  t.same(fieldManagerErrors('a\u0007b', { apply: false }).map((error) => error.detail), ['invalid character U+0007 (at position 1)'])
  t.same(trackedFields(FieldSet.of([['f:metadata'], ['f:metadata', 'f:uid'], ['f:status', 'f:x'], ['f:spec', 'f:y']]), undefined).paths(), [['f:spec', 'f:y']])
})

t.test('at most 10 Update managers: the oldest merge into ancient-changes', async (t) => {
  let object: JsonObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} }
  for (let index = 0; index < 13; index++) {
    const next = { ...object, data: { ...(object['data'] as JsonObject), [`key${index}`]: 'v' } }
    object = recordUpdate({ previous: object, next, manager: `writer-${index}`, nowIso: `2021-03-01T10:${String(index).padStart(2, '0')}:00Z`, apiVersion: 'v1' })
  }
  const entries = entriesOf(object)
  t.equal(entries.length, MANAGED_FIELDS_UPDATE_MANAGERS_MAX)
  const bucket = entries.find((entry) => entry.manager === ANCIENT_CHANGES_MANAGER)
  t.ok(bucket !== undefined)
  t.ok(bucket?.fields.has(['f:data', 'f:key0']) && bucket.fields.has(['f:data', 'f:key3']), 'the bucket holds the oldest fields')
  t.notOk(entries.some((entry) => entry.manager === 'writer-0'))
  t.ok(entries.some((entry) => entry.manager === 'writer-12'))
  t.same(entries.map((entry) => entry.time), [...entries.map((entry) => entry.time)].sort(), 'entries sorted by time')
  const applier: ManagedFieldsEntry = { manager: 'a', operation: 'Apply', apiVersion: 'v1', time: T0, subresource: undefined, fields: FieldSet.of([['f:x']]) }
  t.same(capUpdateManagers([applier], 1), [applier], 'appliers are never merged')
})

// ---------------------------------------------------------------------------------------------
// Property test

const APPLIERS = ['alpha', 'beta', 'gamma'] as const
const UPDATERS = ['kubectl-edit', 'controller'] as const

function pick<T>(random: Random, items: readonly T[]): T {
  return items[random.int(0, items.length)] as T
}

function subset<T>(random: Random, items: readonly T[]): T[] {
  return items.filter(() => random.chance(0.5))
}

/** A random Deployment configuration over small value pools, so that managers collide often. */
function randomConfiguration(random: Random): JsonObject {
  const metadata: JsonObject = { name: 'web', namespace: 'default' }
  const labels = Object.fromEntries(subset(random, ['a', 'b', 'c']).map((key) => [key, pick(random, ['1', '2'])]))
  if (random.chance(0.6)) metadata['labels'] = labels
  if (random.chance(0.4)) metadata['finalizers'] = subset(random, ['f/x', 'f/y', 'f/z'])
  const specification: JsonObject = {}
  if (random.chance(0.5)) specification['replicas'] = random.int(1, 4)
  if (random.chance(0.3)) specification['paused'] = random.chance(0.5)
  if (random.chance(0.2)) specification['strategy'] = random.chance(0.5) ? { type: 'Recreate' } : {}
  const containerList = subset(random, ['a', 'b', 'c']).map((name) => {
    const container: JsonObject = { name }
    if (random.chance(0.7)) container['image'] = pick(random, ['img:1', 'img:2'])
    if (random.chance(0.3)) container['args'] = subset(random, ['-v', '-q'])
    if (random.chance(0.3)) container['env'] = subset(random, ['E1', 'E2']).map((env) => ({ name: env, value: pick(random, ['x', 'y']) }))
    if (random.chance(0.3)) container['ports'] = subset(random, [80, 443]).map((port) => ({ containerPort: port }))
    return container
  })
  if (containerList.length > 0 || random.chance(0.2)) specification['template'] = { spec: { containers: containerList } }
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec: specification }
}

/** A random edit of a live object, as an Update writer would make it. */
function randomEdit(random: Random, live: JsonObject): JsonObject {
  const next = cloneJson(live)
  const nextSpec = isJsonObject(next['spec']) ? next['spec'] : (next['spec'] = {})
  switch (random.int(0, 4)) {
    case 0:
      nextSpec['replicas'] = random.int(1, 6)
      break
    case 1: {
      const metadata = next['metadata'] as JsonObject
      metadata['labels'] = { ...(isJsonObject(metadata['labels']) ? metadata['labels'] : {}), [pick(random, ['a', 'b', 'd'])]: pick(random, ['1', '3']) }
      break
    }
    case 2: {
      const template = isJsonObject(nextSpec['template']) ? nextSpec['template'] : {}
      const podSpec = isJsonObject(template['spec']) ? template['spec'] : {}
      const list = Array.isArray(podSpec['containers']) ? podSpec['containers'] : []
      const [first] = list
      if (isJsonObject(first)) first['image'] = pick(random, ['img:3', 'img:1'])
      else list.push({ name: 'edited', image: 'img:9' })
      nextSpec['template'] = { ...template, spec: { ...podSpec, containers: list } }
      break
    }
    default:
      delete nextSpec['paused']
      delete nextSpec['replicas']
  }
  return next
}

/** Every applied field is in the object with the applied value (objects and items: present). */
function checkAppliedFields(t: Test, configuration: JsonObject, object: JsonObject, context: string): void {
  const applied = trackedFields(fieldSetOf(configuration), undefined)
  for (const path of applied.paths()) {
    const want = valueAtPath(configuration, path)
    const have = valueAtPath(object, path)
    const last = path[path.length - 1] as string
    const isItem = decodeToken(last).kind !== 'field'
    const ok = isItem || isJsonObject(want) ? have !== undefined : jsonEqual(want as JsonValue, have as JsonValue)
    if (!ok) t.fail(`applied field ${formatPath(path)} is ${JSON.stringify(have)}, want ${JSON.stringify(want)}, ${context}`)
  }
}

/** Every owned field exists, identities are unique, and no one owns server fields. */
function checkOwnership(t: Test, object: JsonObject, context: string): void {
  const entries = entriesOf(object)
  for (const entry of entries) {
    if (entry.fields.isEmpty()) t.fail(`empty entry for ${entry.manager}, ${context}`)
    for (const path of entry.fields.paths()) {
      if (valueAtPath(object, path) === undefined) t.fail(`${entry.manager} owns missing ${formatPath(path)}, ${context}`)
    }
    if (!trackedFields(entry.fields, entry.subresource).equals(entry.fields)) t.fail(`${entry.manager} owns untracked fields, ${context}`)
  }
}

t.test('property: apply is idempotent, applied fields always land, ownership stays consistent', async (t) => {
  const seeds = 30
  const steps = 50
  let conflicts = 0
  for (let seed = 1; seed <= seeds; seed++) {
    const random = new RandomXoshiro(seed)
    let live: JsonObject | undefined
    for (let step = 0; step < steps; step++) {
      const context = `seed ${seed} step ${step}`
      const nowIso = new Date(Date.UTC(2021, 2, 1, 0, 0, step)).toISOString().replace('.000Z', 'Z')
      if (live !== undefined && random.chance(0.3)) {
        live = recordUpdate({ previous: live, next: randomEdit(random, live), manager: pick(random, UPDATERS), nowIso, apiVersion: 'apps/v1' })
        checkOwnership(t, live, `${context} (update)`)
        continue
      }
      const manager = pick(random, APPLIERS)
      const configuration = randomConfiguration(random)
      const options = { live, applied: configuration, manager, nowIso, apiVersion: 'apps/v1' }
      let result
      try {
        result = serverSideApply({ ...options, force: false })
      } catch (error) {
        if (!(error instanceof ApplyConflictError)) throw error
        conflicts++
        // Every reported field really is another manager's, and forcing takes them all.
        result = serverSideApply({ ...options, force: true })
        const mine = managedFieldsOf(result.object).find((entry) => entry.manager === manager && entry.operation === 'Apply')
        for (const conflict of error.conflicts) {
          const takenBack = managedFieldsOf(result.object).some((entry) => entry !== mine && entry.fields.paths().some((path) => formatPath(path) === conflict.field && describeManager(entry) === conflict.manager))
          if (takenBack) t.fail(`forced field ${conflict.field} still owned by ${conflict.manager}, ${context}`)
        }
      }
      const applied = stored(result.object)
      checkAppliedFields(t, configuration, applied, context)
      checkOwnership(t, applied, context)
      const own = managedFieldsOf(applied).find((entry) => entry.manager === manager && entry.operation === 'Apply')
      const expected = trackedFields(fieldSetOf(configuration), undefined)
      if (!(own?.fields ?? FieldSet.EMPTY).equals(expected)) t.fail(`the Apply entry is exactly the applied fields, ${context}`)
      const again = serverSideApply({ ...options, live: applied, force: false, nowIso: '2030-01-01T00:00:00Z' })
      if (again.changed || !jsonEqual(again.object, applied)) t.fail(`re-applying changed the object, ${context}: ${JSON.stringify(applied)} -> ${JSON.stringify(again.object)}`)
      live = applied
    }
  }
  t.ok(conflicts > 20, `conflicts happened and were forced (${conflicts})`)
  t.pass(`${seeds} seeds x ${steps} steps`)
})
