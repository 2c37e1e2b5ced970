// Goal: watches behave as client-go informers and `kubectl get -w` expect: the current state then
// changes, replay from a resourceVersion, 410 Expired for a compacted one, bookmarks (periodic and
// before the stream ends at timeoutSeconds), ADDED/DELETED when objects start or stop matching a
// selector, one-row Tables for `as=Table`, headers before any event, 400 for bad parameters.
// Method: an ApiHandler over an in-process store (api-harness.ts) with a short bookmark interval;
// watch streams are read line by line and polled with deadlines.
import t, { type Test } from 'tap'
import { ApiHarness, configMap } from './api-harness.ts'

const CM = '/api/v1/namespaces/default/configmaps'
const BOOKMARK_INTERVAL_MS = 100

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness({ watchBookmarkIntervalMs: BOOKMARK_INTERVAL_MS }).start()
  t.teardown(() => api.stop())
  return api
}

const summary = (events: ReadonlyArray<{ type: string; object: any }>): string[] => events.map((event) => `${event.type} ${event.object?.metadata?.name ?? ''}`)

t.test('watch without a resourceVersion: the current objects as ADDED, then changes', async (t) => {
  const api = await harness(t)
  const quiet = await api.watch(`${CM}?watch=1&labelSelector=none%3Dnone`)
  t.teardown(() => quiet.close())
  t.equal(quiet.status, 200, 'the headers of a watch arrive before it has any event')
  t.same(quiet.events, [], 'on an empty selection')
  await api.post(CM, configMap('first'))
  const watch = await api.watch(`${CM}?watch=1`)
  t.teardown(() => watch.close())
  t.equal(watch.status, 200)
  await watch.until('the initial ADDED', (events) => (events.length >= 1 ? true : undefined))
  await api.post(CM, configMap('second'))
  await api.patch(`${CM}/first`, { data: { key: 'changed' } })
  await api.delete(`${CM}/second`)
  await watch.until('three more events', (events) => (events.length >= 4 ? true : undefined))
  t.same(summary(watch.events), ['ADDED first', 'ADDED second', 'MODIFIED first', 'DELETED second'])
  const versions = watch.events.map((event) => Number(event.object.metadata.resourceVersion))
  t.ok(versions.slice(1).every((version, index) => version > versions[index]!), 'resourceVersions increase')
  const zero = await api.watch(`${CM}?watch=true&resourceVersion=0`)
  t.teardown(() => zero.close())
  await zero.until('the state', (events) => (events.length >= 1 ? true : undefined))
  t.same(summary(zero.events), ['ADDED first'], 'resourceVersion=0 also starts with the current state')
})

t.test('watch from a resourceVersion replays history; a compacted one is 410 Expired', async (t) => {
  const api = await harness(t)
  const start = api.revision()
  await api.post(CM, configMap('a'))
  await api.post(CM, configMap('b'))
  await api.delete(`${CM}/a`)
  const replay = await api.watch(`${CM}?watch=true&resourceVersion=${start}`)
  t.teardown(() => replay.close())
  await replay.until('the replayed events', (events) => (events.length >= 3 ? true : undefined))
  t.same(summary(replay.events), ['ADDED a', 'ADDED b', 'DELETED a'], 'every change after the version, in order')

  const compactTo = api.revision()
  await api.backend.write({ op: 'compact', revision: compactTo })
  const expired = await api.watch(`${CM}?watch=true&resourceVersion=${start}`)
  await expired.until('the stream to end', () => (expired.ended ? true : undefined))
  t.equal(expired.status, 200, 'the watch starts')
  t.equal(expired.events.length, 1, 'with a single event')
  t.equal(expired.events[0]!.type, 'ERROR', 'an ERROR')
  t.match(expired.events[0]!.object, { kind: 'Status', code: 410, reason: 'Expired' }, 'carrying 410 Expired')
  t.match(expired.events[0]!.object.message, new RegExp(`too old resource version: ${start} \\(${compactTo}\\)`))
  const current = await api.watch(`${CM}?watch=true&resourceVersion=${compactTo}`)
  t.teardown(() => current.close())
  await api.post(CM, configMap('c'))
  await current.until('an event after the compaction', (events) => (events.length >= 1 ? true : undefined))
  t.same(summary(current.events), ['ADDED c'], 'a watch from the compacted revision itself works')

  for (const [what, query] of [
    ['a resourceVersion that is not a number', 'watch=true&resourceVersion=abc'],
    ['a bad timeoutSeconds', 'watch=true&timeoutSeconds=soon'],
    ['a bad allowWatchBookmarks', 'watch=true&allowWatchBookmarks=maybe'],
    ['a bad watch flag', 'watch=perhaps'],
  ] as const) {
    const reply = await api.get(`${CM}?${query}`)
    t.equal(reply.status, 400, `${what}: 400 before the stream starts`)
    t.equal(reply.json?.kind, 'Status', `${what}: a Status`)
  }
})

t.test('bookmarks: periodic, and one before the stream ends at timeoutSeconds', async (t) => {
  const api = await harness(t)
  await api.post(CM, configMap('a'))
  const watch = await api.watch(`${CM}?watch=true&allowWatchBookmarks=true&timeoutSeconds=1`)
  // Changes elsewhere advance the store revision; a bookmark carries it forward.
  await api.post('/api/v1/namespaces/default/secrets', { metadata: { name: 's' } })
  const bookmark = await watch.until('a periodic bookmark', (events) => events.find((event) => event.type === 'BOOKMARK'))
  t.same(Object.keys(bookmark.object).sort(), ['apiVersion', 'kind', 'metadata'], 'a bookmark carries only its type and metadata')
  t.equal(bookmark.object.kind, 'ConfigMap')
  t.equal(bookmark.object.apiVersion, 'v1')
  await watch.until('the stream to end at its timeout', () => (watch.ended ? true : undefined), 5000)
  const bookmarks = watch.events.filter((event) => event.type === 'BOOKMARK')
  t.ok(bookmarks.length >= 2, 'bookmarks came periodically')
  t.equal(watch.events.at(-1)!.type, 'BOOKMARK', 'and the last event before the end is a bookmark')
  t.equal(Number(bookmarks.at(-1)!.object.metadata.resourceVersion), api.revision(), 'at the store revision, past the unrelated write')
  const plain = await api.watch(`${CM}?watch=true&timeoutSeconds=1`)
  await plain.until('the plain watch to end', () => (plain.ended ? true : undefined), 5000)
  t.notOk(plain.events.some((event) => event.type === 'BOOKMARK'), 'no bookmarks unless allowed')
})

t.test('selectors: objects that start matching are ADDED, those that stop are DELETED', async (t) => {
  const api = await harness(t)
  await api.post(CM, configMap('a', { labels: { tier: 'web' } }))
  await api.post(CM, configMap('b', { labels: { tier: 'db' } }))
  const watch = await api.watch(`${CM}?watch=true&labelSelector=tier%3Dweb`)
  t.teardown(() => watch.close())
  await watch.until('the state', (events) => (events.length >= 1 ? true : undefined))
  await api.patch(`${CM}/b`, { metadata: { labels: { tier: 'web' } } })
  await api.patch(`${CM}/a`, { metadata: { labels: { tier: 'cache' } } })
  await api.patch(`${CM}/b`, { data: { key: 'v2' } })
  await api.patch(`${CM}/a`, { data: { key: 'v3' } })
  await api.delete(`${CM}/b`)
  await watch.until('five events', (events) => (events.length >= 4 ? true : undefined))
  await api.post(CM, configMap('marker', { labels: { tier: 'web' } }))
  await watch.until('the marker', (events) => (events.some((event) => event.object.metadata.name === 'marker') ? true : undefined))
  t.same(summary(watch.events), ['ADDED a', 'ADDED b', 'DELETED a', 'MODIFIED b', 'DELETED b', 'ADDED marker'], 'transitions, and nothing for changes outside the selection')
  const left = watch.events[2]!
  t.equal(left.object.metadata.labels.tier, 'web', 'the DELETED object is its last matching state')
  t.ok(Number(left.object.metadata.resourceVersion) > Number(watch.events[1]!.object.metadata.resourceVersion), 'at the revision of the change')

  const byField = await api.watch(`${CM}/marker?watch=true`)
  t.teardown(() => byField.close())
  await api.patch(`${CM}/marker`, { data: { key: 'x' } })
  await api.post(CM, configMap('unrelated'))
  await api.patch(`${CM}/marker`, { data: { key: 'y' } })
  await byField.until('two changes of marker', (events) => (events.length >= 3 ? true : undefined))
  t.same(summary(byField.events), ['ADDED marker', 'MODIFIED marker', 'MODIFIED marker'], 'a watch on an object’s URL follows only that object')
})

t.test('as=Table: every event carries a one-row Table (kubectl get -w)', async (t) => {
  const api = await harness(t)
  await api.post(CM, configMap('a'))
  const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'
  const watch = await api.watch(`${CM}?watch=true`, { accept })
  t.teardown(() => watch.close())
  const patched = (await api.patch(`${CM}/a`, { data: { one: '1', two: '2' } })).json
  await watch.until('two events', (events) => (events.length >= 2 ? true : undefined))
  for (const event of watch.events) {
    t.equal(event.object.kind, 'Table', `${event.type}: a Table`)
    t.equal(event.object.apiVersion, 'meta.k8s.io/v1')
    t.equal(event.object.rows.length, 1, 'with one row')
    t.ok(event.object.columnDefinitions.length > 0, 'and its columns')
  }
  t.equal(watch.events[1]!.object.rows[0].cells[0], 'a', 'the row names the object')
  t.equal(watch.events[1]!.object.rows[0].object.metadata.name, 'a', 'and carries its metadata')
  t.equal(watch.events[1]!.object.rows[0].cells[1], Object.keys(patched.data).length, 'with the kind’s columns (ConfigMap DATA)')
  const whole = await api.watch(`${CM}?watch=true&includeObject=Object`, { accept })
  t.teardown(() => whole.close())
  const first = await whole.until('the state', (events) => events[0])
  t.same(first.object.rows[0].object.data, patched.data, 'includeObject=Object puts the whole object in the row')
  const bare = await api.get(`${CM}?includeObject=None`, { accept })
  t.equal(bare.json.rows[0].object, undefined, 'includeObject=None leaves it out of a listed Table')
  const refused = await api.get(`${CM}?watch=true&includeObject=All`, { accept })
  t.equal(refused.status, 400, 'an unknown includeObject is 400')
})

t.test('watch streams end when the client goes away', async (t) => {
  const api = await harness(t)
  const watchers = (): number => api.backend.store.watchStats().watchers
  const before = watchers()
  const watch = await api.watch(`${CM}?watch=true`)
  await watch.until('the store watcher to start', () => (watchers() === before + 1 ? true : undefined))
  watch.close()
  await watch.until('the store watcher to be released', () => (watchers() === before ? true : undefined))
  t.pass('the store watcher is canceled')
})
