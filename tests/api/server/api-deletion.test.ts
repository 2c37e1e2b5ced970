// Goal: DELETE behaves as on kube-apiserver with its garbage collector and namespace controller:
// DeleteOptions from body (JSON or YAML) or query, preconditions, finalizers that keep a marked
// object until they are removed, the Orphan, Background and Foreground propagation policies over
// ownerReferences, and namespaces that turn Terminating, empty themselves and go. Also kubectl's
// delete-and-wait request sequence. Method: an ApiHandler over an in-process store
// (api-harness.ts); each case reads the objects back through the API.
import t, { type Test } from 'tap'
import { ApiHarness, configMap, ownerReference } from './api-harness.ts'

const CM = '/api/v1/namespaces/default/configmaps'

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

async function exists(api: ApiHarness, path: string): Promise<boolean> {
  const reply = await api.get(path)
  if (reply.status !== 200 && reply.status !== 404) throw new Error(`GET ${path}: ${reply.status} ${reply.text}`)
  return reply.status === 200
}

t.test('DeleteOptions: body in JSON or YAML, query parameters, preconditions, bad values', async (t) => {
  const api = await harness(t)
  const created = (await api.post(CM, configMap('a'))).json
  await api.post(CM, configMap('b'))
  await api.post(CM, configMap('c'))
  const before = api.snapshot()
  const uidConflict = await api.delete(`${CM}/a`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'not-the-uid' } })
  t.equal(uidConflict.status, 409, 'a uid precondition that does not hold is 409')
  t.match(uidConflict.json.message, /Precondition failed: UID in precondition: not-the-uid, UID in object meta: /)
  const versionConflict = await api.delete(`${CM}/a`, 'preconditions:\n  resourceVersion: "1"\n', 'application/yaml')
  t.equal(versionConflict.status, 409, 'a resourceVersion precondition from a YAML body too')
  t.match(versionConflict.json.message, /ResourceVersion in precondition: 1/)
  t.equal((await api.delete(`${CM}/a?preconditions.uid=nope`)).status, 409, 'and from the query')
  for (const [what, path, body] of [
    ['an unknown propagationPolicy', `${CM}/a?propagationPolicy=Sometimes`, undefined],
    ['an unknown policy in the body', `${CM}/a`, { propagationPolicy: 'Later' }],
    ['a negative grace period', `${CM}/a?gracePeriodSeconds=-1`, undefined],
    ['both policy forms', `${CM}/a`, { propagationPolicy: 'Orphan', orphanDependents: true }],
    ['a body of another kind', `${CM}/a`, { kind: 'ConfigMap' }],
    ['a malformed body', `${CM}/a`, '{"propagationPolicy":'],
  ] as const) {
    const reply = await api.delete(path, body)
    t.equal(reply.status, 400, `${what}: 400`)
  }
  t.equal(api.snapshot(), before, 'none of the refused deletes changed anything')
  const ok = await api.delete(`${CM}/a`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: created.metadata.uid, resourceVersion: created.metadata.resourceVersion } })
  t.equal(ok.status, 200, 'preconditions that hold delete')
  t.same(ok.json.details, { name: 'a', kind: 'configmaps', uid: created.metadata.uid }, 'with a Success Status naming the object')
  t.equal((await api.delete(`${CM}/b`, 'propagationPolicy: Foreground\n', 'application/yaml')).status, 200, 'a YAML DeleteOptions body')
  t.notOk(await exists(api, `${CM}/b`), 'a foreground delete without dependents finishes at once')
  t.equal((await api.delete(`${CM}/c?propagationPolicy=Orphan&gracePeriodSeconds=0`)).status, 200, 'query options')
  t.equal((await api.delete(`${CM}/c`)).status, 404, 'deleting again is 404')
})

t.test('finalizers keep a deleted object until the last one is removed', async (t) => {
  const api = await harness(t)
  await api.post(CM, configMap('held', { finalizers: ['example.com/cleanup', 'example.com/audit'] }))
  const watch = await api.watch(`${CM}?watch=1&fieldSelector=metadata.name%3Dheld`)
  t.teardown(() => watch.close())
  const deleted = await api.delete(`${CM}/held?gracePeriodSeconds=5`)
  t.equal(deleted.status, 200, 'DELETE answers 200')
  t.equal(deleted.json.kind, 'ConfigMap', 'with the object, not a Status')
  t.ok(deleted.json.metadata.deletionTimestamp, 'marked with a deletionTimestamp')
  t.equal(deleted.json.metadata.deletionGracePeriodSeconds, 5, 'and the grace period')
  const marked = (await api.get(`${CM}/held`)).json
  t.equal(marked.metadata.deletionTimestamp, deleted.json.metadata.deletionTimestamp, 'it is still there')
  const again = await api.delete(`${CM}/held`)
  t.equal(again.json.metadata.resourceVersion, marked.metadata.resourceVersion, 'a second DELETE changes nothing')

  const before = api.snapshot()
  const added = await api.patch(`${CM}/held`, { metadata: { finalizers: ['example.com/cleanup', 'example.com/audit', 'example.com/more'] } })
  t.equal(added.status, 422, 'no finalizer may be added while it is being deleted')
  t.match(added.json.message, /no new finalizers can be added if the object is being deleted/)
  t.equal(api.snapshot(), before, 'and the refusal changed nothing')
  const moved = await api.patch(`${CM}/held`, { metadata: { deletionTimestamp: '2001-01-01T00:00:00Z' }, data: { key: 'changed' } })
  t.equal(moved.json.metadata.deletionTimestamp, marked.metadata.deletionTimestamp, 'clients cannot move the deletionTimestamp')
  t.equal(moved.json.data.key, 'changed', 'while other updates go through')

  const one = await api.patch(`${CM}/held`, [{ op: 'remove', path: '/metadata/finalizers/0' }], 'application/json-patch+json')
  t.same(one.json.metadata.finalizers, ['example.com/audit'], 'removing one finalizer keeps the object')
  t.ok(await exists(api, `${CM}/held`))
  const last = await api.patch(`${CM}/held`, { metadata: { finalizers: null } })
  t.equal(last.status, 200, 'removing the last finalizer succeeds')
  t.notOk(await exists(api, `${CM}/held`), 'and deletes the object')
  await watch.until('the watch to see the object go', (events) => (events.some((event) => event.type === 'DELETED') ? true : undefined))
  t.same(
    watch.events.map((event) => event.type),
    ['ADDED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED'],
    'the watch saw the mark, the updates and the deletion',
  )
})

t.test('propagation: Orphan releases dependents, Background deletes them (recursively), shared dependents stay', async (t) => {
  const api = await harness(t)
  const owner = (await api.post(CM, configMap('owner'))).json
  const other = (await api.post(CM, configMap('other-owner'))).json
  const child = (await api.post(CM, configMap('child', { ownerReferences: [ownerReference(owner)] }))).json
  await api.post(CM, configMap('grandchild', { ownerReferences: [ownerReference(child)] }))
  await api.post(CM, configMap('shared', { ownerReferences: [ownerReference(owner), ownerReference(other)] }))
  await api.post('/api/v1/namespaces', { metadata: { name: 'elsewhere' } })
  await api.post('/api/v1/namespaces/elsewhere/configmaps', configMap('same-uid-other-namespace', { ownerReferences: [ownerReference(owner)] }))

  const deleted = await api.delete(`${CM}/owner`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' })
  t.equal(deleted.json.status, 'Success', 'the owner is deleted at once')
  t.notOk(await exists(api, `${CM}/child`), 'its dependent is deleted')
  t.notOk(await exists(api, `${CM}/grandchild`), 'and the dependent’s dependent')
  const shared = (await api.get(`${CM}/shared`)).json
  t.same(shared.metadata.ownerReferences.map((reference: any) => reference.name), ['other-owner'], 'a dependent with another live owner stays, without the deleted owner')
  t.ok(await exists(api, '/api/v1/namespaces/elsewhere/configmaps/same-uid-other-namespace'), 'a namespaced owner has no dependents in other namespaces')

  const parent = (await api.post(CM, configMap('parent'))).json
  await api.post(CM, configMap('kept', { ownerReferences: [ownerReference(parent), ownerReference(other)] }))
  await api.post(CM, configMap('released', { ownerReferences: [ownerReference(parent)] }))
  await api.delete(`${CM}/parent?propagationPolicy=Orphan`)
  t.notOk(await exists(api, `${CM}/parent`), 'Orphan deletes the owner')
  const released = (await api.get(`${CM}/released`)).json
  t.equal(released.metadata.ownerReferences, undefined, 'its dependents stay, without the reference')
  t.same((await api.get(`${CM}/kept`)).json.metadata.ownerReferences.map((reference: any) => reference.name), ['other-owner'], 'other references are kept')
  t.same(api.logged, [], 'nothing went wrong in the collection')
})

t.test('propagation: a cluster-scoped owner collects dependents in every namespace', async (t) => {
  const api = await harness(t)
  const node = (await api.post('/api/v1/nodes', { metadata: { name: 'n1' } })).json
  await api.post('/api/v1/namespaces', { metadata: { name: 'team' } })
  await api.post(CM, configMap('lease-a', { ownerReferences: [ownerReference(node)] }))
  await api.post('/api/v1/namespaces/team/configmaps', configMap('lease-b', { ownerReferences: [ownerReference(node)] }))
  await api.post(CM, configMap('unrelated'))
  await api.delete('/api/v1/nodes/n1')
  t.notOk(await exists(api, `${CM}/lease-a`), 'dependents in default go')
  t.notOk(await exists(api, '/api/v1/namespaces/team/configmaps/lease-b'), 'and in team')
  t.ok(await exists(api, `${CM}/unrelated`), 'others stay')
})

t.test('propagation: Foreground deletes blocking dependents first and then the owner', async (t) => {
  const api = await harness(t)
  const owner = (await api.post(CM, configMap('owner'))).json
  const child = (await api.post(CM, configMap('child', { ownerReferences: [ownerReference(owner, true)] }))).json
  await api.post(CM, configMap('grandchild', { ownerReferences: [ownerReference(child, true)] }))
  await api.post(CM, configMap('slow', { ownerReferences: [ownerReference(owner, true)], finalizers: ['example.com/slow'] }))
  await api.post(CM, configMap('loose', { ownerReferences: [ownerReference(owner)] }))
  const watch = await api.watch(`${CM}?watch=1&resourceVersion=${api.revision()}`)
  t.teardown(() => watch.close())

  const deleted = await api.delete(`${CM}/owner`, { propagationPolicy: 'Foreground' })
  t.equal(deleted.status, 200)
  t.ok(deleted.json.metadata.deletionTimestamp, 'the owner is marked')
  t.same(deleted.json.metadata.finalizers, ['foregroundDeletion'], 'with the foregroundDeletion finalizer')
  t.notOk(await exists(api, `${CM}/child`), 'a blocking dependent is deleted')
  t.notOk(await exists(api, `${CM}/grandchild`), 'with its own dependents')
  t.notOk(await exists(api, `${CM}/loose`), 'non-blocking dependents are deleted too')
  const slow = (await api.get(`${CM}/slow`)).json
  t.ok(slow.metadata.deletionTimestamp, 'a blocking dependent with a finalizer is marked')
  const waiting = (await api.get(`${CM}/owner`)).json
  t.same(waiting.metadata.finalizers, ['foregroundDeletion'], 'and the owner waits for it')

  await api.patch(`${CM}/slow`, { metadata: { finalizers: null } })
  t.notOk(await exists(api, `${CM}/slow`), 'once its finalizer is removed the dependent goes')
  t.notOk(await exists(api, `${CM}/owner`), 'and then the owner')
  await watch.until('the owner’s DELETED event', (events) => (events.some((event) => event.type === 'DELETED' && event.object.metadata.name === 'owner') ? true : undefined))
  const deletions = watch.events.filter((event) => event.type === 'DELETED').map((event) => event.object.metadata.name)
  t.equal(deletions.at(-1), 'owner', 'the owner is deleted after all its dependents')
  t.ok(deletions.indexOf('grandchild') < deletions.indexOf('child'), 'and dependents before their owners')
  t.same(api.logged, [], 'nothing went wrong in the collection')
})

t.test('namespaces: Terminating, contents deleted, then gone; no new content meanwhile', async (t) => {
  const api = await harness(t)
  await api.post('/api/v1/namespaces', { metadata: { name: 'team' } })
  const TEAM = '/api/v1/namespaces/team/configmaps'
  await api.post(TEAM, configMap('plain'))
  await api.post(TEAM, configMap('held', { finalizers: ['example.com/hold'] }))
  await api.post('/apis/apps/v1/namespaces/team/deployments', {
    metadata: { name: 'web' },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } } },
  })
  const deleted = await api.delete('/api/v1/namespaces/team', { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' })
  t.equal(deleted.status, 200, 'DELETE answers 200')
  t.equal(deleted.json.kind, 'Namespace', 'with the namespace')
  t.equal(deleted.json.status.phase, 'Terminating', 'Terminating')
  t.ok(deleted.json.metadata.deletionTimestamp, 'marked for deletion')
  t.notOk(await exists(api, `${TEAM}/plain`), 'its contents are deleted')
  t.notOk(await exists(api, '/apis/apps/v1/namespaces/team/deployments/web'), 'of every resource')
  t.ok(await exists(api, `${TEAM}/held`), 'except what its finalizers hold')
  const namespace = (await api.get('/api/v1/namespaces/team')).json
  t.equal(namespace.status.phase, 'Terminating', 'which keeps the namespace Terminating')
  const before = api.snapshot()
  const refused = await api.post(TEAM, configMap('late'))
  t.equal(refused.status, 403, 'creating in a terminating namespace is 403')
  t.equal(refused.json.reason, 'Forbidden')
  t.equal(refused.json.message, 'configmaps "late" is forbidden: unable to create new content in namespace team because it is being terminated')
  t.equal(api.snapshot(), before, 'and writes nothing')
  await api.patch(`${TEAM}/held`, { metadata: { finalizers: [] } })
  t.notOk(await exists(api, `${TEAM}/held`), 'removing the finalizer deletes the last object')
  t.notOk(await exists(api, '/api/v1/namespaces/team'), 'and then the namespace')

  await api.post('/api/v1/namespaces', { metadata: { name: 'stuck' } })
  await api.post('/api/v1/namespaces/stuck/configmaps', configMap('held', { finalizers: ['example.com/hold'] }))
  await api.delete('/api/v1/namespaces/stuck')
  const stuck = (await api.get('/api/v1/namespaces/stuck')).json
  const finalize = await api.put('/api/v1/namespaces/stuck/finalize', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'stuck' }, spec: { finalizers: [] } })
  t.equal(finalize.status, 200, 'PUT /finalize releases a stuck namespace')
  t.equal(stuck.status.phase, 'Terminating')
  t.notOk(await exists(api, '/api/v1/namespaces/stuck'), 'which then goes')
  t.same(api.logged, [], 'nothing went wrong in the collection')
  // A namespace written without the finalizer (by an older version) still empties before it goes.
  await api.objects.create({ group: '', resource: 'namespaces', kind: 'Namespace', apiVersion: 'v1', namespaced: false }, undefined, { metadata: { name: 'legacy' } })
  await api.post('/api/v1/namespaces/legacy/configmaps', configMap('inside'))
  await api.delete('/api/v1/namespaces/legacy')
  t.notOk(await exists(api, '/api/v1/namespaces/legacy/configmaps/inside'), 'a namespace stored without the finalizer still loses its contents')
  t.notOk(await exists(api, '/api/v1/namespaces/legacy'), 'and goes')
  for (const name of ['default', 'kube-system', 'kube-public']) {
    const refused = await api.delete(`/api/v1/namespaces/${name}`)
    t.equal(refused.status, 403, `${name} cannot be deleted`)
    t.equal(refused.json.message, `namespaces "${name}" is forbidden: this namespace may not be deleted`)
  }
})

t.test('kubectl delete: DELETE, then a list by name, then a watch until DELETED', async (t) => {
  const api = await harness(t)
  await api.post(CM, configMap('gone'))
  await api.post(CM, configMap('held', { finalizers: ['example.com/hold'] }))
  t.equal((await api.delete(`${CM}/gone`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' })).status, 200)
  const list = await api.get(`${CM}?fieldSelector=metadata.name%3Dgone`)
  t.same(list.json.items, [], 'the list by name is empty: kubectl is done')

  await api.delete(`${CM}/held`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' })
  const pending = await api.get(`${CM}?fieldSelector=metadata.name%3Dheld`)
  t.equal(pending.json.items.length, 1, 'an object held by a finalizer is still listed')
  const watch = await api.watch(`${CM}?fieldSelector=metadata.name%3Dheld&resourceVersion=${pending.json.metadata.resourceVersion}&watch=true`)
  t.teardown(() => watch.close())
  await api.patch(`${CM}/held`, { metadata: { finalizers: null } })
  const event = await watch.until('DELETED', (events) => events.find((candidate) => candidate.type === 'DELETED'))
  t.equal(event.object.metadata.name, 'held', 'the watch ends kubectl’s wait with DELETED')

  for (const name of ['x1', 'x2', 'y1']) await api.post(CM, configMap(name, { labels: { group: name[0]! } }))
  const collection = await api.delete(`${CM}?labelSelector=group%3Dx`)
  t.same(collection.json.items.map((item: any) => item.metadata.name), ['x1', 'x2'], 'deletecollection deletes what the selector matches')
  t.ok(await exists(api, `${CM}/y1`), 'and nothing else')
  t.equal((await api.delete('/api/v1/namespaces/default/services')).status, 405, 'resources without deletecollection refuse it')
})
