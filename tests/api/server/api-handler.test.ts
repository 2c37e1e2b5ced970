// Goal: the API handler gives the Kubernetes semantics real clients rely on: request bodies in
// JSON or YAML within limits, dryRun, DELETE with finalizers and propagation, namespace
// termination, PATCH on subresources, protected metadata, field selectors, and that any request
// that fails changes nothing. Method: an ApiHandler over an in-process MemoryObjectBackend served
// by node:http on 127.0.0.1:0 (api-harness.ts); every failure case compares a snapshot of the
// whole store before and after. Watches are covered in api-watch.test.ts and deletion cascades
// in api-deletion.test.ts.
import t, { type Test } from 'tap'
import { ApiHarness, configMap, deployment } from './api-harness.ts'

const CM = '/api/v1/namespaces/default/configmaps'
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments'

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

/** Runs `failing`, checks its status (and message), and that the store did not change. */
async function refusedWithoutChange(t: Test, api: ApiHarness, what: string, failing: () => Promise<{ status: number; json: any }>, status: number, message?: RegExp): Promise<void> {
  const before = api.snapshot()
  const reply = await failing()
  t.equal(reply.status, status, `${what}: ${status}`)
  t.equal(reply.json?.kind, 'Status', `${what}: a Status body`)
  if (message !== undefined) t.match(reply.json?.message ?? '', message, `${what}: says why`)
  t.equal(api.snapshot(), before, `${what}: the store is unchanged`)
}

t.test('request bodies: JSON and YAML objects, size limits, malformed bodies, type mismatches', async (t) => {
  const api = await harness(t)
  const yaml = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: from-yaml', '  labels: {tier: web}', 'data:', '  mode: "fast"', ''].join('\n')
  const created = await api.post(CM, yaml, 'application/yaml')
  t.equal(created.status, 201, 'a YAML body creates')
  t.same(created.json.data, { mode: 'fast' }, 'with its data')
  t.equal(created.json.metadata.labels.tier, 'web', 'and its labels')
  const replaced = await api.put(`${CM}/from-yaml`, yaml.replace('"fast"', '"slow"'), 'application/yaml; charset=utf-8')
  t.equal(replaced.status, 200, 'PUT takes YAML too (media type parameters are ignored)')
  t.equal(replaced.json.data.mode, 'slow')
  t.equal((await api.post(CM, { metadata: { name: 'no-type' }, data: {} }, '')).status, 201, 'a body without Content-Type is JSON')

  await refusedWithoutChange(t, api, 'several YAML documents', () => api.post(CM, `${yaml}---\n${yaml}`, 'application/yaml'), 400, /exactly one YAML document, found 2/)
  await refusedWithoutChange(t, api, 'a YAML list', () => api.post(CM, '- a\n- b\n', 'application/yaml'), 400, /must be an object/)
  await refusedWithoutChange(t, api, 'malformed YAML', () => api.post(CM, 'metadata: {name: x\n', 'application/yaml'), 400, /not valid YAML/)
  await refusedWithoutChange(t, api, 'duplicate YAML keys', () => api.post(CM, 'metadata: {name: a}\nmetadata: {name: b}\n', 'application/yaml'), 400, /not valid YAML/)
  await refusedWithoutChange(t, api, 'malformed JSON', () => api.post(CM, '{"metadata": {"name": "x"', 'application/json'), 400, /not valid JSON/)
  await refusedWithoutChange(t, api, 'an empty body', () => api.post(CM, '', 'application/json'), 400, /empty/)
  await refusedWithoutChange(t, api, 'a JSON string', () => api.post(CM, '"text"'), 400, /must be an object/)
  await refusedWithoutChange(t, api, 'an unknown body media type', () => api.post(CM, 'x=1', 'application/x-www-form-urlencoded'), 415)
  await refusedWithoutChange(t, api, 'invalid UTF-8', () => api.post(CM, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 400, /UTF-8/)
  await refusedWithoutChange(
    t,
    api,
    'an apiVersion the URL does not serve',
    () => api.post('/apis/apps/v1/namespaces/default/deployments', { ...deployment('web'), apiVersion: 'apps/v1beta1' }),
    400,
    /the API version in the data \(apps\/v1beta1\) does not match the expected API version \(apps\/v1\)/,
  )
  await refusedWithoutChange(t, api, 'a kind the URL does not serve', () => api.post(CM, { ...configMap('x'), kind: 'Secret' }), 400, /kind in the data \(Secret\) does not match the expected kind \(ConfigMap\)/)
  await refusedWithoutChange(t, api, 'a PUT with another kind', () => api.put(`${CM}/from-yaml`, { ...configMap('from-yaml'), kind: 'Secret' }), 400)

  const limitBytes = 3 * 1024 * 1024
  await refusedWithoutChange(t, api, 'a declared Content-Length over 3 MiB', () => api.rawRequest('POST', CM, { declaredBytes: limitBytes + 1 }), 413, /Request entity too large/)
  const oversized = JSON.stringify(configMap('huge', { data: { blob: 'x'.repeat(limitBytes) } }))
  const chunks = Array.from({ length: Math.ceil(oversized.length / 65536) }, (_, index) => Buffer.from(oversized.slice(index * 65536, (index + 1) * 65536)))
  await refusedWithoutChange(t, api, 'a streamed body over 3 MiB', () => api.rawRequest('POST', CM, { chunks }), 413, /Request entity too large/)
  t.equal((await api.get(`${CM}/from-yaml`)).status, 200, 'the server still answers after refusing large bodies')
  const nearLimit = configMap('large', { data: { blob: 'y'.repeat(1024 * 1024) } })
  t.equal((await api.post(CM, nearLimit)).status, 201, 'a 1 MiB body under the limit is accepted')
})

t.test('PATCH content types: each patch type, 415 for unknown ones, 422 for an apply without a field manager', async (t) => {
  const api = await harness(t)
  await api.post(CM, configMap('settings', { data: { a: '1' } }))
  t.equal((await api.patch(`${CM}/settings`, { data: { b: '2' } }, 'application/merge-patch+json')).json.data.b, '2', 'merge patch')
  t.equal((await api.patch(`${CM}/settings`, { data: { c: '3' } }, 'application/strategic-merge-patch+json')).json.data.c, '3', 'strategic merge patch')
  t.equal((await api.patch(`${CM}/settings`, [{ op: 'add', path: '/data/d', value: '4' }], 'application/json-patch+json')).json.data.d, '4', 'JSON patch')
  await refusedWithoutChange(t, api, 'an unknown patch type', () => api.patch(`${CM}/settings`, { data: {} }, 'application/json'), 415, /application\/json-patch\+json/)
  await refusedWithoutChange(t, api, 'server-side apply without a fieldManager', () => api.patch(`${CM}/settings`, 'data: {x: "1"}', 'application/apply-patch+yaml'), 422, /PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch/)
  await refusedWithoutChange(t, api, 'a malformed patch body', () => api.patch(`${CM}/settings`, '{"data":', 'application/merge-patch+json'), 400, /not valid JSON/)
  await refusedWithoutChange(t, api, 'a failed JSON patch test', () => api.patch(`${CM}/settings`, [{ op: 'test', path: '/data/a', value: 'nope' }], 'application/json-patch+json'), 422)
  await refusedWithoutChange(t, api, 'a patch that changes the kind', () => api.patch(`${CM}/settings`, { kind: 'Secret' }), 400)
  await refusedWithoutChange(t, api, 'a patch with a stale resourceVersion', () => api.patch(`${CM}/settings`, { metadata: { resourceVersion: '1' }, data: { z: '9' } }), 409, /the object has been modified/)
  t.equal((await api.patch('/api/v1/namespaces/default/configmaps/missing', { data: {} })).status, 404, 'patching a missing object is 404')
})

t.test('dryRun=All validates and defaults every write but persists nothing', async (t) => {
  const api = await harness(t)
  await api.post(DEPLOYMENTS, deployment('web', 2))
  await api.post(CM, configMap('keep', { labels: { batch: 'x' } }))
  const before = api.snapshot()
  const created = await api.post(`${DEPLOYMENTS}?dryRun=All`, deployment('dry'))
  t.equal(created.status, 201, 'POST answers as if created')
  t.equal(created.json.spec.revisionHistoryLimit, 10, 'with defaults applied')
  t.ok(created.json.metadata.uid, 'and server fields filled in')
  t.equal((await api.post(`${DEPLOYMENTS}?dryRun=All`, { ...deployment('bad'), spec: { ...(deployment('bad') as any).spec, replicas: -1 } })).status, 422, 'a dry run still validates')
  t.equal((await api.post(`${DEPLOYMENTS}?dryRun=All`, deployment('web'))).status, 409, 'and still sees existing objects')
  const current = (await api.get(`${DEPLOYMENTS}/web`)).json
  const put = await api.put(`${DEPLOYMENTS}/web?dryRun=All`, { ...current, spec: { ...current.spec, replicas: 7 } })
  t.equal(put.json.spec.replicas, 7, 'PUT returns the would-be object')
  t.equal(put.json.metadata.generation, 2, 'with the generation it would have')
  t.equal((await api.patch(`${DEPLOYMENTS}/web?dryRun=All`, { spec: { replicas: 9 } })).json.spec.replicas, 9, 'PATCH returns the would-be object')
  t.equal((await api.patch(`${DEPLOYMENTS}/web/scale?dryRun=All`, { spec: { replicas: 4 } })).json.spec.replicas, 4, 'scale PATCH')
  t.equal((await api.put(`${DEPLOYMENTS}/web/scale?dryRun=All`, { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web' }, spec: { replicas: 5 } })).json.spec.replicas, 5, 'scale PUT')
  t.equal((await api.patch(`${DEPLOYMENTS}/web/status?dryRun=All`, { status: { readyReplicas: 2 } })).json.status.readyReplicas, 2, 'status PATCH')
  t.equal((await api.put(`${DEPLOYMENTS}/web/status?dryRun=All`, { ...current, status: { replicas: 3 } })).json.status.replicas, 3, 'status PUT')
  const deleted = await api.delete(`${DEPLOYMENTS}/web?dryRun=All`)
  t.equal(deleted.status, 200, 'DELETE answers')
  t.equal(deleted.json.status, 'Success', 'as if deleted')
  t.equal((await api.delete(`${CM}/keep`, { kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'] })).status, 200, 'dryRun in a DeleteOptions body')
  const collection = await api.delete(`${CM}?labelSelector=batch%3Dx&dryRun=All`)
  t.equal(collection.json.items.length, 1, 'deletecollection lists what it would delete')
  t.equal((await api.delete('/api/v1/namespaces/kube-node-lease?dryRun=All')).json.status.phase, 'Terminating', 'a namespace delete shows the Terminating namespace')
  t.equal(api.snapshot(), before, 'and nothing was written: same keys, values and revision')
  await refusedWithoutChange(t, api, 'dryRun=Some', () => api.post(`${CM}?dryRun=Some`, configMap('x')), 400, /dryRun: Unsupported value: "Some"/)
  await refusedWithoutChange(t, api, 'an empty dryRun', () => api.delete(`${CM}/keep?dryRun=`), 400)
})

t.test('PATCH and PUT: no-op writes keep the resourceVersion; identity fields are protected', async (t) => {
  const api = await harness(t)
  const created = (await api.post(DEPLOYMENTS, deployment('web'))).json
  const version = created.metadata.resourceVersion
  const same = await api.patch(`${DEPLOYMENTS}/web`, { metadata: { labels: { app: 'web' } } })
  t.equal(same.status, 200, 'a patch that changes nothing succeeds')
  t.equal(same.json.metadata.resourceVersion, version, 'without a new resourceVersion')
  t.equal((await api.put(`${DEPLOYMENTS}/web`, created)).json.metadata.resourceVersion, version, 'so does a PUT of the same object')
  t.equal((await api.patch(`${DEPLOYMENTS}/web/scale`, { spec: { replicas: 1 } })).json.metadata.resourceVersion, version, 'and a scale to the current count')
  t.equal((await api.patch(`${DEPLOYMENTS}/web/status`, { status: null })).json.metadata.resourceVersion, version, 'and an empty status write')

  await refusedWithoutChange(t, api, 'a uid change', () => api.patch(`${DEPLOYMENTS}/web`, { metadata: { uid: 'another' } }), 422, /metadata.uid: Invalid value: "another": field is immutable/)
  await refusedWithoutChange(t, api, 'a name change by PATCH', () => api.patch(`${DEPLOYMENTS}/web`, { metadata: { name: 'other' } }), 400, /the name of the object \(other\) does not match the name on the URL \(web\)/)
  await refusedWithoutChange(t, api, 'a name mismatch in PUT', () => api.put(`${DEPLOYMENTS}/web`, { ...created, metadata: { ...created.metadata, name: 'other' } }), 400)
  await refusedWithoutChange(t, api, 'a namespace change', () => api.patch(`${DEPLOYMENTS}/web`, { metadata: { namespace: 'kube-system' } }), 400, /namespace of the provided object does not match/)
  await refusedWithoutChange(t, api, 'setting a deletionTimestamp', () => api.patch(`${DEPLOYMENTS}/web`, { metadata: { deletionTimestamp: '2020-01-01T00:00:00Z' } }), 422, /deletionTimestamp/)
  await refusedWithoutChange(t, api, 'a PUT with a stale resourceVersion', () => api.put(`${DEPLOYMENTS}/web`, { ...created, metadata: { ...created.metadata, resourceVersion: '1' } }), 409)
  const touched = await api.patch(`${DEPLOYMENTS}/web`, { metadata: { creationTimestamp: '2001-01-01T00:00:00Z', generation: 40, labels: { extra: 'yes' } } })
  t.equal(touched.status, 200, 'server-owned fields in a patch do not fail it')
  t.equal(touched.json.metadata.creationTimestamp, created.metadata.creationTimestamp, 'creationTimestamp is kept')
  t.equal(touched.json.metadata.generation, 1, 'generation is the server’s (no spec change)')
  t.equal(touched.json.metadata.uid, created.metadata.uid, 'uid is kept')
  const namespaceStatus = await api.patch('/api/v1/namespaces/default', { spec: { finalizers: [] }, status: { phase: 'Terminating' } })
  t.same(namespaceStatus.json.spec.finalizers, ['kubernetes'], 'a namespace keeps its finalizers through the main resource')
  t.equal(namespaceStatus.json.status.phase, 'Active', 'and its status')
})

t.test('status and scale subresources take every patch type', async (t) => {
  const api = await harness(t)
  await api.post(DEPLOYMENTS, deployment('web', 2))
  const strategic = await api.patch(`${DEPLOYMENTS}/web/status`, { status: { conditions: [{ type: 'Available', status: 'True' }] } }, 'application/strategic-merge-patch+json')
  t.equal(strategic.status, 200, 'strategic merge patch on status')
  const merged = await api.patch(`${DEPLOYMENTS}/web/status`, { status: { conditions: [{ type: 'Progressing', status: 'True' }] } }, 'application/strategic-merge-patch+json')
  t.same(merged.json.status.conditions.map((condition: any) => condition.type).sort(), ['Available', 'Progressing'], 'conditions merge by type')
  const json = await api.patch(`${DEPLOYMENTS}/web/status`, [{ op: 'add', path: '/status/replicas', value: 2 }], 'application/json-patch+json')
  t.equal(json.json.status.replicas, 2, 'JSON patch on status')
  t.equal(json.json.spec.replicas, 2, 'spec untouched by status writes')
  const specThroughStatus = await api.patch(`${DEPLOYMENTS}/web/status`, { spec: { replicas: 9 }, status: { readyReplicas: 1 } })
  t.equal(specThroughStatus.json.spec.replicas, 2, 'a status write cannot change spec')
  t.equal((await api.patch(`${DEPLOYMENTS}/web/scale`, { spec: { replicas: 3 } }, 'application/strategic-merge-patch+json')).json.spec.replicas, 3, 'strategic merge patch on scale')
  t.equal((await api.patch(`${DEPLOYMENTS}/web/scale`, [{ op: 'replace', path: '/spec/replicas', value: 4 }], 'application/json-patch+json')).json.spec.replicas, 4, 'JSON patch on scale')
  const scaled = (await api.get(`${DEPLOYMENTS}/web`)).json
  t.equal(scaled.spec.replicas, 4, 'scale writes spec.replicas')
  t.equal(scaled.metadata.generation, 3, 'and bumps the generation per change')
  await refusedWithoutChange(t, api, 'a negative scale', () => api.patch(`${DEPLOYMENTS}/web/scale`, { spec: { replicas: -1 } }), 422)
  await refusedWithoutChange(t, api, 'an unknown patch type on status', () => api.patch(`${DEPLOYMENTS}/web/status`, {}, 'text/plain'), 415)
  await refusedWithoutChange(t, api, 'a Scale of another kind', () => api.put(`${DEPLOYMENTS}/web/scale`, { apiVersion: 'autoscaling/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 1 } }), 400)
})

t.test('field and label selectors: per-resource field labels, 400 for unknown labels and bad syntax', async (t) => {
  const api = await harness(t)
  const pod = (name: string, nodeName?: string) => ({ metadata: { name }, spec: { ...(nodeName !== undefined ? { nodeName } : {}), containers: [{ name: 'main', image: 'busybox:1.36' }] } })
  await api.post('/api/v1/namespaces/default/pods', pod('placed', 'n1'))
  await api.post('/api/v1/namespaces/default/pods', pod('pending'))
  const names = (reply: { json: any }): string[] => reply.json.items.map((item: any) => item.metadata.name).sort()
  t.same(names(await api.get('/api/v1/pods?fieldSelector=spec.nodeName%3Dn1')), ['placed'], 'pods by spec.nodeName')
  t.same(names(await api.get('/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D')), ['pending'], 'an empty value selects unset fields')
  t.same(names(await api.get('/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DPending,metadata.name!%3Dplaced')), ['pending'], 'several terms are ANDed')
  await api.post('/api/v1/namespaces/default/events', { metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'placed' }, reason: 'Started', type: 'Normal', source: { component: 'kubelet' } })
  t.same(names(await api.get('/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dplaced,source%3Dkubelet,type%3DNormal')), ['e1'], 'events by involvedObject, source and type')
  await api.post('/api/v1/nodes', { metadata: { name: 'n1' } })
  await api.post('/api/v1/nodes', { metadata: { name: 'n2' }, spec: { unschedulable: true } })
  t.same(names(await api.get('/api/v1/nodes?fieldSelector=spec.unschedulable%3Dfalse')), ['n1'], 'an absent spec.unschedulable is false')
  await api.post('/api/v1/namespaces/default/secrets', { metadata: { name: 's' }, type: 'Opaque' })
  t.same(names(await api.get('/api/v1/namespaces/default/secrets?fieldSelector=type%3DOpaque')), ['s'], 'secrets by type')
  t.same(names(await api.get('/api/v1/namespaces?fieldSelector=status.phase%3DActive,metadata.name%3Ddefault')), ['default'], 'namespaces by status.phase')
  for (const [what, path, message] of [
    ['an unknown field label', '/api/v1/namespaces/default/pods?fieldSelector=spec.bogus%3Dx', /field label not supported: spec.bogus/],
    ['a pod label on configmaps', `${CM}?fieldSelector=spec.nodeName%3Dn1`, /field label not supported/],
    ['a field selector without operator', `${CM}?fieldSelector=metadata.name`, /invalid selector/],
    ['a malformed label selector', `${CM}?labelSelector=tier%20in%20(a,`, /unable to parse requirement|found/],
    ['a bad label key', `${CM}?labelSelector=-bad%3Dx`, /./],
    ['bad selectors on watch', `${CM}?watch=true&fieldSelector=spec.bogus%3Dx`, /field label not supported/],
    ['bad selectors on deletecollection', `${CM}?fieldSelector=spec.bogus%3Dx`, /field label not supported/],
  ] as const) {
    const method = what.includes('deletecollection') ? 'DELETE' : 'GET'
    await refusedWithoutChange(t, api, what, () => api.request(method, path), 400, message)
  }
})

t.test('creation: namespaces must exist and be active; generateName; PUT does not create', async (t) => {
  const api = await harness(t)
  await refusedWithoutChange(t, api, 'a missing namespace', () => api.post('/api/v1/namespaces/nowhere/configmaps', configMap('x')), 404, /namespaces "nowhere" not found/)
  await refusedWithoutChange(t, api, 'a body namespace that is not the URL one', () => api.post(CM, configMap('x', { namespace: 'kube-system' })), 400, /does not match the namespace sent on the request/)
  await refusedWithoutChange(t, api, 'an invalid name', () => api.post(CM, configMap('Bad_Name')), 422, /metadata.name: Invalid value: "Bad_Name"/)
  await refusedWithoutChange(t, api, 'an invalid finalizer', () => api.post(CM, configMap('x', { finalizers: ['not a name!'] })), 422, /metadata.finalizers\[0\]/)
  await refusedWithoutChange(t, api, 'a PUT of a missing object', () => api.put(`${CM}/missing`, configMap('missing')), 404)
  const generated = await api.post(CM, { metadata: { generateName: 'job-' }, data: {} })
  t.match(generated.json.metadata.name, /^job-[bcdfghjklmnpqrstvwxz2456789]{5}$/, 'generateName adds five characters')
  const namespace = await api.post('/api/v1/namespaces', { metadata: { name: 'team' } })
  t.same(namespace.json.spec.finalizers, ['kubernetes'], 'a new namespace carries the kubernetes finalizer')
  t.equal(namespace.json.status.phase, 'Active', 'and is Active')
  const all = await api.post('/api/v1/configmaps', configMap('in-body', { namespace: 'team' }))
  t.equal(all.json.metadata.namespace, 'team', 'a POST without a namespace in the URL uses the body’s')
})
