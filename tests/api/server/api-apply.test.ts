// Goal: server-side apply and managedFields over HTTP behave as kube-apiserver's: an apply creates
// (201) or updates (200) the object and records an Apply entry, re-applying the same
// configuration writes nothing, a field another manager owns is a 409 conflict naming the manager
// and the field unless force=true, and every other write (POST, PUT, PATCH, /scale, /status)
// records its manager from fieldManager or the User-Agent. Bad apply requests are refused before
// anything is written. Method: an ApiHandler over an in-process store (api-harness.ts); the
// stored objects and their managedFields are read back through the API.
import t, { type Test } from 'tap'
import { ApiHarness, configMap, deployment } from './api-harness.ts'

const CM = '/api/v1/namespaces/default/configmaps'
const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments'
const APPLY = 'application/apply-patch+yaml'

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

interface Entry {
  manager: string
  operation: string
  apiVersion: string
  time?: string
  fieldsType: string
  fieldsV1: any
  subresource?: string
}

function entries(object: any): Entry[] {
  return object?.metadata?.managedFields ?? []
}

function entryOf(object: any, manager: string, operation = 'Apply'): Entry | undefined {
  return entries(object).find((entry) => entry.manager === manager && entry.operation === operation)
}

/** Sends an apply configuration (JSON text, as kubectl does, unless a string is given). */
function apply(api: ApiHarness, path: string, configuration: unknown, query = 'fieldManager=tester'): ReturnType<ApiHarness['request']> {
  return api.request('PATCH', `${path}?${query}`, { body: typeof configuration === 'string' ? configuration : JSON.stringify(configuration), contentType: APPLY })
}

t.test('apply creates with an Apply entry, re-applies without a write, and updates a changed field', async (t) => {
  const api = await harness(t)
  const created = await apply(api, `${DEPLOYMENTS}/web`, deployment('web', 2))
  t.equal(created.status, 201, 'an apply of a missing object creates it')
  const entry = entryOf(created.json, 'tester')
  t.ok(entry, 'with an Apply entry for the manager')
  t.equal(entry?.apiVersion, 'apps/v1')
  t.equal(entry?.fieldsType, 'FieldsV1')
  t.same(entry?.fieldsV1['f:spec']['f:replicas'], {}, 'which owns spec.replicas')
  t.notOk('f:revisionHistoryLimit' in entry!.fieldsV1['f:spec'], 'but not the fields defaulting added')
  t.equal(created.json.spec.revisionHistoryLimit, 10, 'which are there nevertheless')
  t.equal(entries(created.json).length, 1, 'and no other entry')
  t.same((await api.get(`${DEPLOYMENTS}/web`)).json, created.json, 'the object is stored as answered')

  const before = api.snapshot()
  const again = await apply(api, `${DEPLOYMENTS}/web`, deployment('web', 2))
  t.equal(again.status, 200, 're-applying the same configuration answers 200')
  t.equal(again.json.metadata.resourceVersion, created.json.metadata.resourceVersion, 'with the same resourceVersion')
  t.equal(api.snapshot(), before, 'and writes nothing')

  const changed = await apply(api, `${DEPLOYMENTS}/web`, deployment('web', 4))
  t.equal(changed.status, 200, 'an apply that changes a field answers 200')
  t.equal(changed.json.spec.replicas, 4, 'with the new value')
  t.ok(Number(changed.json.metadata.resourceVersion) > Number(created.json.metadata.resourceVersion), 'under a new resourceVersion')
  t.equal(changed.json.metadata.generation, 2, 'and the next generation')

  const yaml = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: from-yaml', 'data:', '  a: "1"', '  b: "2"', ''].join('\n')
  const fromYaml = await apply(api, `${CM}/from-yaml`, yaml)
  t.equal(fromYaml.status, 201, 'a YAML configuration is accepted too')
  t.same(fromYaml.json.data, { a: '1', b: '2' })
  const pruned = await apply(api, `${CM}/from-yaml`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-yaml' }, data: { a: '1' } })
  t.same(pruned.json.data, { a: '1' }, 'a field the manager stops applying is removed')
})

t.test('a field another manager owns is a conflict unless forced', async (t) => {
  const api = await harness(t)
  t.equal((await apply(api, `${DEPLOYMENTS}/web`, deployment('web', 2), 'fieldManager=kubectl')).status, 201)
  const scaled = await api.request('PATCH', `${DEPLOYMENTS}/web/scale?fieldManager=kubectl-scale`, { body: { spec: { replicas: 5 } }, contentType: 'application/merge-patch+json' })
  t.equal(scaled.status, 200, 'kubectl scale: a merge patch on /scale')
  const afterScale = (await api.get(`${DEPLOYMENTS}/web`)).json
  const scaleEntry = entryOf(afterScale, 'kubectl-scale', 'Update')
  t.equal(scaleEntry?.subresource, 'scale', 'records an Update entry for the scale subresource')
  t.same(scaleEntry?.fieldsV1, { 'f:spec': { 'f:replicas': {} } }, 'owning spec.replicas')
  t.notOk('f:replicas' in entryOf(afterScale, 'kubectl')!.fieldsV1['f:spec'], 'which the applier no longer owns')

  const before = api.snapshot()
  const conflicted = await apply(api, `${DEPLOYMENTS}/web`, deployment('web', 3), 'fieldManager=kubectl')
  t.equal(conflicted.status, 409, 'applying another replica count conflicts')
  t.equal(conflicted.json.reason, 'Conflict')
  t.equal(conflicted.json.message, 'Apply failed with 1 conflict: conflict with "kubectl-scale" with subresource "scale" using apps/v1: .spec.replicas', 'naming the owner and the field')
  t.same(conflicted.json.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-scale" with subresource "scale" using apps/v1', field: '.spec.replicas' }])
  t.equal(api.snapshot(), before, 'and writes nothing')

  const same = await apply(api, `${DEPLOYMENTS}/web`, deployment('web', 5), 'fieldManager=kubectl')
  t.equal(same.status, 200, 'applying the value the owner set is no conflict (the field is shared)')
  const forced = await apply(api, `${DEPLOYMENTS}/web`, deployment('web', 3), 'fieldManager=kubectl&force=true')
  t.equal(forced.status, 200, 'force=true takes the field')
  t.equal(forced.json.spec.replicas, 3)
  t.equal(entryOf(forced.json, 'kubectl-scale', 'Update'), undefined, 'and the scaler, left with no fields, is gone')
  t.ok('f:replicas' in entryOf(forced.json, 'kubectl')!.fieldsV1['f:spec'], 'the applier owns spec.replicas again')
})

t.test('POST, PUT, PATCH, /scale and /status record their manager from fieldManager or the User-Agent', async (t) => {
  const api = await harness(t)
  const kubectl = { 'user-agent': 'kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19' }
  const created = await api.request('POST', `${CM}?fieldManager=creator`, { body: configMap('settings', { data: { a: '1' } }) })
  t.equal(created.status, 201)
  t.same(entries(created.json).map((entry) => [entry.manager, entry.operation, entry.apiVersion]), [['creator', 'Update', 'v1']], 'POST: the fieldManager')
  t.ok('f:a' in (entryOf(created.json, 'creator', 'Update')?.fieldsV1['f:data'] ?? {}), 'owning what it set')

  const replaced = await api.request('PUT', `${CM}/settings`, { body: { ...created.json, data: { a: '1', b: '2' } }, headers: kubectl })
  t.same(entryOf(replaced.json, 'kubectl', 'Update')?.fieldsV1, { 'f:data': { 'f:b': {} } }, 'PUT without fieldManager: the User-Agent up to its first slash, owning what it changed')
  t.ok(entryOf(replaced.json, 'creator', 'Update'), 'the creator keeps the rest')

  const patched = await api.request('PATCH', `${CM}/settings?fieldManager=patcher`, { body: { data: { a: 'changed' } }, contentType: 'application/merge-patch+json' })
  t.same(entryOf(patched.json, 'patcher', 'Update')?.fieldsV1, { 'f:data': { 'f:a': {} } }, 'PATCH: the fieldManager takes the field it changed')
  t.notOk('f:a' in (entryOf(patched.json, 'creator', 'Update')?.fieldsV1?.['f:data'] ?? {}), 'away from its previous owner')
  const anonymous = await api.request('PATCH', `${CM}/settings`, { body: { data: { c: '3' } }, contentType: 'application/merge-patch+json' })
  t.ok(entryOf(anonymous.json, 'unknown', 'Update'), 'without fieldManager or User-Agent the manager is "unknown"')

  await api.post(DEPLOYMENTS, deployment('web'))
  await api.request('PUT', `${DEPLOYMENTS}/web/scale?fieldManager=scaler`, { body: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 3 } } })
  await api.request('PATCH', `${DEPLOYMENTS}/web/status?fieldManager=controller`, { body: { status: { replicas: 3 } }, contentType: 'application/merge-patch+json' })
  const web = (await api.get(`${DEPLOYMENTS}/web`)).json
  t.same(entryOf(web, 'scaler', 'Update')?.subresource, 'scale', '/scale: an entry with subresource scale')
  const status = entryOf(web, 'controller', 'Update')
  t.equal(status?.subresource, 'status', '/status: an entry with subresource status')
  t.same(Object.keys(status?.fieldsV1 ?? {}), ['f:status'], 'owning only status')
  t.ok('f:replicas' in (status?.fieldsV1['f:status'] ?? {}), 'the status it wrote')

  const before = api.snapshot()
  const same = await api.request('PATCH', `${CM}/settings?fieldManager=someone-else`, { body: { data: { c: '3' } }, contentType: 'application/merge-patch+json' })
  t.equal(same.json.metadata.resourceVersion, anonymous.json.metadata.resourceVersion, 'a write that changes nothing records nobody')
  t.equal(api.snapshot(), before, 'and writes nothing')
})

t.test('server-side apply through /status owns only status', async (t) => {
  const api = await harness(t)
  await api.post(DEPLOYMENTS, deployment('web'))
  const status = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 9 }, status: { replicas: 1, readyReplicas: 1 } }
  const applied = await apply(api, `${DEPLOYMENTS}/web/status`, status, 'fieldManager=status-controller')
  t.equal(applied.status, 200)
  t.same(applied.json.status, { replicas: 1, readyReplicas: 1 }, 'the status is applied')
  t.equal(applied.json.spec.replicas, 1, 'and nothing else')
  const entry = entryOf(applied.json, 'status-controller')
  t.equal(entry?.subresource, 'status')
  t.same(entry?.fieldsV1, { 'f:status': { 'f:readyReplicas': {}, 'f:replicas': {} } })
})

t.test('bad apply requests are refused before anything is written', async (t) => {
  const api = await harness(t)
  await api.post(CM, configMap('settings'))
  const refused = async (what: string, reply: Promise<Awaited<ReturnType<ApiHarness['request']>>>, status: number, message?: RegExp): Promise<void> => {
    const before = api.snapshot()
    const answer = await reply
    t.equal(answer.status, status, `${what}: ${status}`)
    t.equal(answer.json?.kind, 'Status', `${what}: a Status`)
    if (message !== undefined) t.match(answer.json?.message, message, `${what}: says why`)
    t.equal(api.snapshot(), before, `${what}: nothing written`)
  }
  const valid = configMap('settings', { data: { key: 'applied' } })
  await refused('no fieldManager', apply(api, `${CM}/settings`, valid, ''), 422, /^PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch$/)
  await refused('a fieldManager over 128 bytes', apply(api, `${CM}/settings`, valid, `fieldManager=${'m'.repeat(129)}`), 422, /fieldManager: Too long/)
  await refused('force that is not a boolean', apply(api, `${CM}/settings`, valid, 'fieldManager=a&force=maybe'), 400)
  await refused('no kind', apply(api, `${CM}/settings`, { apiVersion: 'v1', metadata: { name: 'settings' } }), 400, /Kind' is missing/)
  await refused('no apiVersion', apply(api, `${CM}/settings`, { kind: 'ConfigMap', metadata: { name: 'settings' } }), 400, /apiVersion' is missing/)
  await refused('another kind', apply(api, `${CM}/settings`, { ...valid, kind: 'Secret' }), 400, /the kind in the data \(Secret\) does not match/)
  await refused('another name', apply(api, `${CM}/settings`, configMap('other')), 400, /does not match the name on the URL/)
  await refused('another namespace', apply(api, `${CM}/settings`, configMap('settings', { namespace: 'kube-system' })), 400, /namespace/)
  await refused('a list', apply(api, `${CM}/settings`, '[]'), 400)
  await refused('malformed YAML', apply(api, `${CM}/settings`, 'data: [unclosed'), 400)
  const stale = { ...valid, metadata: { name: 'settings', resourceVersion: '1' } }
  await refused('a stale resourceVersion', apply(api, `${CM}/settings`, stale), 409, /the object has been modified/)
  await refused('a resourceVersion for an object that does not exist', apply(api, `${CM}/nowhere`, { ...configMap('nowhere'), metadata: { name: 'nowhere', resourceVersion: '3' } }), 409)
  await refused('an invalid object', apply(api, `${CM}/settings`, { ...valid, data: { 'bad key!': 'x' } }), 422)
  await refused('an object in a missing namespace', apply(api, '/api/v1/namespaces/nowhere/configmaps/x', configMap('x')), 404, /namespaces "nowhere" not found/)
  await refused('generateName', apply(api, `${CM}/generated`, { ...configMap('generated'), metadata: { name: 'generated', generateName: 'gen-' } }), 422, /generateName/)
  const before = api.snapshot()
  t.equal((await apply(api, `${CM}/dry`, configMap('dry'), 'fieldManager=a&dryRun=All')).status, 201, 'a dry run answers as if it created')
  t.equal(api.snapshot(), before, 'but writes nothing')
  await refused('a force on a merge patch', api.request('PATCH', `${CM}/settings?force=true`, { body: { data: { a: 'b' } }, contentType: 'application/merge-patch+json' }), 422, /force: Forbidden: may not be specified for non-apply patch/)
  await refused('a fieldManager with a control character on POST', api.request('POST', `${CM}?fieldManager=a%01b`, { body: configMap('new') }), 422, /^CreateOptions.meta.k8s.io "" is invalid: fieldManager/)
  const matching = { ...valid, metadata: { name: 'settings', resourceVersion: (await api.get(`${CM}/settings`)).json.metadata.resourceVersion } }
  const accepted = await apply(api, `${CM}/settings`, matching, 'fieldManager=tester&force=true')
  t.equal(accepted.status, 200, 'a matching resourceVersion is accepted')
  t.same(accepted.json.data, { key: 'applied' })
})
