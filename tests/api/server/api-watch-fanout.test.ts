// Goal: many watches of one collection cost one encoding per event, not one per watcher; a write
// is answered before any watcher is written to; and every watcher still gets every event it
// selects, in order, through bursts longer than a stream's queue. Method: an ApiHandler over an
// in-process store with a shared WatchEventEncoder whose counts the test reads; a plain node:http
// server that records when responses end and when watch streams are written; writes through the
// API and, for the burst, straight into the object store.
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import { ApiHandler } from '../../../node/src/api/server/api-handler.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../../node/src/api/server/object-store.ts'
import { WatchEventEncoder } from '../../../node/src/api/server/watch-encoding.ts'
import { WATCH_PENDING_EVENTS_MAX } from '../../../node/src/api/server/watch-stream.ts'
import { ApiHarness, configMap, type WatchReader } from './api-harness.ts'

const CM = '/api/v1/namespaces/default/configmaps'
const TABLE = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' }
const JSON_WATCHERS = 40
const TABLE_WATCHERS = 10
const SELECTING_WATCHERS = 10

const summary = (events: WatchReader['events']): string[] => events.map((event) => `${event.type} ${event.object?.metadata?.name ?? event.object?.rows?.[0]?.cells?.[0] ?? ''}`)

t.test('each event is encoded once per representation and every watcher gets its events in order', async (t) => {
  const encoder = new WatchEventEncoder()
  const api = await new ApiHarness({ watchEventEncoder: encoder }).start()
  t.teardown(() => api.stop())
  const open = async (count: number, path: string, headers: Record<string, string> = {}): Promise<WatchReader[]> => {
    const readers: WatchReader[] = []
    for (let i = 0; i < count; i++) readers.push(await api.watch(path, headers))
    for (const reader of readers) t.teardown(() => reader.close())
    return readers
  }
  const plain = await open(JSON_WATCHERS, `${CM}?watch=true`)
  const tables = await open(TABLE_WATCHERS, `${CM}?watch=true`, TABLE)
  const selecting = await open(SELECTING_WATCHERS, `${CM}?watch=true&labelSelector=tier%3Dfront`)
  const expected: string[] = []
  const expectedSelected: string[] = []
  for (let i = 0; i < 6; i++) {
    const labels = { tier: i % 2 === 0 ? 'front' : 'back' }
    await api.post(CM, configMap(`cm-${i}`, { labels }))
    expected.push(`ADDED cm-${i}`)
    if (i % 2 === 0) expectedSelected.push(`ADDED cm-${i}`)
  }
  await api.patch(`${CM}/cm-0`, { data: { key: 'changed' } })
  expected.push('MODIFIED cm-0')
  expectedSelected.push('MODIFIED cm-0')
  await api.patch(`${CM}/cm-1`, { metadata: { labels: { tier: 'front' } } })
  expected.push('MODIFIED cm-1')
  expectedSelected.push('ADDED cm-1')
  await api.delete(`${CM}/cm-2`)
  expected.push('DELETED cm-2')
  expectedSelected.push('DELETED cm-2')
  const storeEvents = expected.length

  for (const [readers, wanted, what] of [[plain, expected, 'JSON'], [tables, expected, 'Table'], [selecting, expectedSelected, 'selecting']] as const) {
    await waitFor(`every ${what} watcher to get its events`, 10_000, () => (readers.every((reader) => reader.events.length >= wanted.length) ? true : undefined))
    t.ok(readers.every((reader) => JSON.stringify(summary(reader.events)) === JSON.stringify(wanted)), `every ${what} watcher got ${wanted.length} events in order`)
  }
  t.same(summary(plain[0]!.events), expected)
  t.equal(tables[0]!.events[0]!.object.kind, 'Table', 'Table watchers get Tables')

  const { encodings, reuses } = encoder.stats()
  // One JSON line per store event (the selecting watchers' ADDED for cm-1 is a type of its own),
  // and one Table line per store event.
  t.equal(encodings, storeEvents * 2 + 1, `${encodings} encodings for ${storeEvents} store events and ${JSON_WATCHERS + TABLE_WATCHERS + SELECTING_WATCHERS} watchers`)
  t.equal(encodings + reuses, storeEvents * (JSON_WATCHERS + TABLE_WATCHERS) + expectedSelected.length * SELECTING_WATCHERS, 'every other line was reused')
})

t.test('a write is answered before its watchers are written to', async (t) => {
  const objects = new ObjectStore(new MemoryObjectBackend())
  const api = new ApiHandler({ objects, serverAddress: '127.0.0.1:1' })
  await api.ensureSystemNamespaces()
  const order: string[] = []
  const server = createServer((request, response: ServerResponse) => {
    const isWatch = (request.url ?? '').includes('watch=true')
    if (isWatch) {
      const write = response.write.bind(response) as (chunk: unknown) => boolean
      response.write = ((chunk: unknown) => {
        order.push('watcher written')
        return write(chunk)
      }) as typeof response.write
    } else {
      const end = response.end.bind(response) as (chunk?: unknown) => ServerResponse
      response.end = ((chunk?: unknown) => {
        order.push(`${String(request.method)} answered`)
        return end(chunk)
      }) as typeof response.end
    }
    void api.handle(request, response)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const controllers: AbortController[] = []
  t.teardown(() => controllers.forEach((controller) => controller.abort()))
  const received: string[] = []
  for (let i = 0; i < 20; i++) {
    const controller = new AbortController()
    controllers.push(controller)
    const response = await fetch(`${origin}${CM}?watch=true`, { signal: controller.signal })
    void (async () => {
      try {
        for await (const chunk of response.body!) received.push(Buffer.from(chunk).toString())
      } catch {
        // Aborted at the end of the test.
      }
    })()
  }
  order.length = 0
  const created = await fetch(`${origin}${CM}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(configMap('first')) })
  t.equal(created.status, 201)
  await waitFor('every watcher to get the event', 5000, () => (received.length >= 20 ? true : undefined))
  t.equal(order[0], 'POST answered', 'the POST was answered first')
  t.equal(order.filter((entry) => entry === 'watcher written').length, 20, 'then each watcher was written to once')
})

t.test(`a burst longer than a stream's queue (${WATCH_PENDING_EVENTS_MAX}) reaches a watcher whole and in order`, async (t) => {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  const watch = await api.watch(`${CM}?watch=true`)
  t.teardown(() => watch.close())
  const count = Math.ceil(WATCH_PENDING_EVENTS_MAX * 1.5)
  const resource = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }
  await Promise.all(Array.from({ length: count }, (_, i) => api.objects.create(resource, 'default', configMap(`burst-${String(i).padStart(5, '0')}`) as never)))
  await watch.until(`all ${count} events`, (events) => (events.length >= count ? true : undefined), 20_000)
  t.equal(watch.events.length, count, 'no event is lost or doubled')
  const versions = watch.events.map((event) => Number(event.object.metadata.resourceVersion))
  t.ok(versions.every((version, index) => index === 0 || version > versions[index - 1]!), 'and they arrive in revision order')
})
