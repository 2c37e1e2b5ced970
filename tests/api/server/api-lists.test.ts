// Goal: lists and gets take the query parameters real clients send as kube-apiserver does: `limit`
// and `continue` page through a collection in key order (as JSON and as Tables), a continue token
// whose revision was compacted is 410 Expired, `resourceVersion` newer than the store is 504, an
// Exact match is served while the collection is unchanged and is 410 once it changed, and every
// malformed parameter is a 400 before anything is read. Method: an ApiHandler over an in-process
// store (api-harness.ts); compaction through the store's own `compact` command.
import t, { type Test } from 'tap'
import { ApiHarness, configMap } from './api-harness.ts'

const CM = '/api/v1/namespaces/default/configmaps'
const TABLE = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' }

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

async function createConfigMaps(api: ApiHarness, names: readonly string[], labels?: Record<string, string>): Promise<void> {
  for (const name of names) {
    const reply = await api.post(CM, configMap(name, labels === undefined ? {} : { labels }))
    if (reply.status !== 201) throw new Error(`Cannot create ${name}: ${reply.text}`)
  }
}

/** Follows continue tokens from `path` (which has a limit) and returns every page. */
async function allPages(api: ApiHarness, path: string, headers: Record<string, string> = {}): Promise<any[]> {
  const pages: any[] = []
  let token: string | undefined
  do {
    const reply = await api.get(token === undefined ? path : `${path}&continue=${encodeURIComponent(token)}`, headers)
    if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${reply.text}`)
    pages.push(reply.json)
    token = reply.json.metadata.continue
  } while (token !== undefined && pages.length < 100)
  return pages
}

t.test('limit and continue page through a collection in key order', async (t) => {
  const api = await harness(t)
  const names = ['a1', 'a2', 'b1', 'b2', 'c1', 'c2', 'd1']
  await createConfigMaps(api, [...names].reverse())
  const whole = (await api.get(CM)).json
  t.equal(whole.metadata.continue, undefined, 'a list without a limit has no continue token')
  t.same(whole.items.map((item: any) => item.metadata.name), names, 'and every item, in key order')

  const pages = await allPages(api, `${CM}?limit=3`)
  t.same(pages.map((page) => page.items.map((item: any) => item.metadata.name)), [['a1', 'a2', 'b1'], ['b2', 'c1', 'c2'], ['d1']], 'pages of three')
  t.same(pages.map((page) => page.metadata.remainingItemCount), [4, 1, undefined], 'each says how many items remain')
  t.ok(pages.every((page) => page.metadata.resourceVersion === pages[0].metadata.resourceVersion), 'every page carries the first page\'s resourceVersion')
  t.equal((await api.get(`${CM}?limit=0`)).json.items.length, names.length, 'limit=0 means no limit')
  t.equal((await api.get(`${CM}?limit=7`)).json.metadata.continue, undefined, 'a limit the list fits in gives no continue token')

  const selected = await allPages(api, `${CM}?limit=2&fieldSelector=${encodeURIComponent('metadata.name!=b1')}`)
  t.same(selected.flatMap((page) => page.items.map((item: any) => item.metadata.name)), names.filter((name) => name !== 'b1'), 'pages of a selection hold only what it selects')
  t.equal(selected[0].metadata.remainingItemCount, undefined, 'without a count of what remains (kube-apiserver gives none under a selector)')

  const tables = await allPages(api, `${CM}?limit=4`, TABLE)
  t.same(tables.map((page) => page.kind), ['Table', 'Table'], 'Table lists page too')
  t.same(tables.flatMap((page) => page.rows.map((row: any) => row.cells[0])), names, 'with the same rows in the same order')

  const [first] = pages
  await api.post(CM, configMap('b15'))
  await api.delete(`${CM}/c1`)
  const continued = (await api.get(`${CM}?limit=3&continue=${encodeURIComponent(first.metadata.continue)}`)).json
  t.same(continued.items.map((item: any) => item.metadata.name), ['b15', 'b2', 'c2'], 'a later page shows the objects as they are now, from its key on')
  t.equal(continued.metadata.resourceVersion, first.metadata.resourceVersion, 'under the first page\'s revision')

  const everywhere = await allPages(api, '/api/v1/configmaps?limit=2')
  t.ok(everywhere.flatMap((page) => page.items).length >= names.length, 'an all-namespaces list pages too')
})

t.test('a continue token whose revision was compacted is 410 Expired', async (t) => {
  const api = await harness(t)
  await createConfigMaps(api, ['a', 'b', 'c'])
  const first = (await api.get(`${CM}?limit=1`)).json
  await api.post(CM, configMap('d'))
  const result = await api.backend.write({ op: 'compact', revision: api.revision() })
  t.ok(result.ok, 'the store compacts its history')
  const expired = await api.get(`${CM}?limit=1&continue=${encodeURIComponent(first.metadata.continue)}`)
  t.equal(expired.status, 410, '410')
  t.equal(expired.json.reason, 'Expired')
  t.match(expired.json.message, /^The provided continue parameter is too old to display a consistent list result/)
})

t.test('resourceVersion on gets and lists', async (t) => {
  const api = await harness(t)
  await createConfigMaps(api, ['a'])
  const list = (await api.get(CM)).json
  const listed = Number(list.metadata.resourceVersion)
  t.equal((await api.get(`${CM}?resourceVersion=0`)).status, 200, 'resourceVersion=0: any state will do')
  t.equal((await api.get(`${CM}?resourceVersion=${listed}`)).json.metadata.resourceVersion, String(listed), 'the current revision is served')
  t.equal((await api.get(`${CM}/a?resourceVersion=${listed}`)).status, 200, 'a get at the current revision')
  const future = await api.get(`${CM}?resourceVersion=${listed + 50}`)
  t.equal(future.status, 504, 'a revision the store has not reached is 504')
  t.equal(future.json.reason, 'Timeout')
  t.match(future.json.message, new RegExp(`Too large resource version: ${listed + 50}, current: ${listed}`))
  t.equal((await api.get(`${CM}/a?resourceVersion=${listed + 50}`)).status, 504, 'for a get too')

  await api.post('/api/v1/namespaces/kube-system/configmaps', configMap('elsewhere'))
  const exact = await api.get(`${CM}?resourceVersion=${listed}&resourceVersionMatch=Exact`)
  t.equal(exact.status, 200, 'Exact: served while nothing in the collection changed since')
  t.equal(exact.json.metadata.resourceVersion, String(listed), 'at the revision asked for')
  t.same(exact.json.items.map((item: any) => item.metadata.name), ['a'])
  await api.patch(`${CM}/a`, { data: { key: 'changed' } })
  const gone = await api.get(`${CM}?resourceVersion=${listed}&resourceVersionMatch=Exact`)
  t.equal(gone.status, 410, 'Exact: 410 once the collection changed (the state at that revision is gone)')
  t.equal(gone.json.reason, 'Expired')
  t.equal((await api.get(`${CM}?resourceVersion=${listed}&resourceVersionMatch=NotOlderThan`)).status, 200, 'NotOlderThan serves the current state')
})

t.test('malformed list and get parameters are 400 before anything is read', async (t) => {
  const api = await harness(t)
  await createConfigMaps(api, ['a', 'b'])
  const token = (await api.get(`${CM}?limit=1`)).json.metadata.continue
  const cases: Array<[string, string]> = [
    ['limit=-1', `${CM}?limit=-1`],
    ['limit=abc', `${CM}?limit=abc`],
    ['limit=1.5', `${CM}?limit=1.5`],
    ['limit=1e3', `${CM}?limit=1e3`],
    ['timeoutSeconds=abc', `${CM}?timeoutSeconds=abc`],
    ['resourceVersion=abc', `${CM}?resourceVersion=abc`],
    ['resourceVersion=6e8', `${CM}?resourceVersion=6e8`],
    ['resourceVersion=0xa9', `${CM}?resourceVersion=0xa9`],
    ['resourceVersion=6.5', `${CM}?resourceVersion=6.5`],
    ['resourceVersion=-428', `${CM}?resourceVersion=-428`],
    ['get with resourceVersion=abc', `${CM}/a?resourceVersion=abc`],
    ['get with resourceVersionMatch', `${CM}/a?resourceVersion=1&resourceVersionMatch=Exact`],
    ['resourceVersionMatch=Sometimes', `${CM}?resourceVersion=1&resourceVersionMatch=Sometimes`],
    ['resourceVersionMatch without resourceVersion', `${CM}?resourceVersionMatch=NotOlderThan`],
    ['Exact at resourceVersion=0', `${CM}?resourceVersion=0&resourceVersionMatch=Exact`],
    ['continue that was never issued', `${CM}?limit=1&continue=not-a-token`],
    ['continue that is base64 of something else', `${CM}?limit=1&continue=${Buffer.from('{"v":"x"}').toString('base64url')}`],
    ['continue with a resourceVersion', `${CM}?limit=1&resourceVersion=1&continue=${encodeURIComponent(token)}`],
    ['continue with resourceVersionMatch', `${CM}?limit=1&resourceVersionMatch=Exact&continue=${encodeURIComponent(token)}`],
    ['watch with resourceVersionMatch', `${CM}?watch=true&resourceVersion=1&resourceVersionMatch=NotOlderThan`],
  ]
  for (const [what, path] of cases) {
    const reply = await api.get(path)
    t.equal(reply.status, 400, `${what}: 400`)
    t.equal(reply.json?.kind, 'Status', `${what}: a Status`)
  }
})
