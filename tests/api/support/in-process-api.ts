/**
 * The Kubernetes API handler in this process over a MemoryObjectBackend, served by a plain
 * node:http server on 127.0.0.1:0, with the fuzz fixture (hostile-requests.ts) in place. `reset`
 * swaps in a fresh store, so a request that wrongly changed the store does not leak into the next
 * case; `snapshot` is the store's whole content for before/after comparisons.
 */
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { ApiHandler } from '../../../node/src/api/server/api-handler.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../../node/src/api/server/object-store.ts'
import { fixtureRequests } from './hostile-requests.ts'
import { describeOutcome, sendRaw, type RawTarget } from './raw-http.ts'

/** Every key of the store with its revisions and a digest of its value, and the store revision. */
export interface StoreSnapshot {
  readonly revision: number
  readonly entries: ReadonlyMap<string, string>
}

/** The store differences between two snapshots, one line per changed key; empty when equal. */
export function snapshotDifferences(before: StoreSnapshot, after: StoreSnapshot): string[] {
  const differences: string[] = []
  if (before.revision !== after.revision) differences.push(`store revision ${before.revision} → ${after.revision}`)
  for (const [key, entry] of after.entries) {
    const previous = before.entries.get(key)
    if (previous === undefined) differences.push(`added ${key}`)
    else if (previous !== entry) differences.push(`changed ${key}`)
  }
  for (const key of before.entries.keys()) if (!after.entries.has(key)) differences.push(`deleted ${key}`)
  return differences
}

const FIXTURE_SETUP_TIMEOUT_MS = 5000

export class InProcessApi {
  private backend = new MemoryObjectBackend()
  private handler = new ApiHandler({ objects: new ObjectStore(this.backend), serverAddress: '127.0.0.1:1' })
  private readonly server: Server
  private port = 0

  private constructor() {
    this.server = createServer((request, response) => {
      // ApiHandler.handle turns every failure into a Status response; it does not reject.
      void this.handler.handle(request, response)
    })
  }

  /** Listens on 127.0.0.1:0 and builds the fixture. */
  static async start(): Promise<InProcessApi> {
    const api = new InProcessApi()
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve))
    const address = api.server.address()
    api.port = typeof address === 'object' && address !== null ? address.port : 0
    await api.reset()
    return api
  }

  get target(): RawTarget {
    return { origin: `http://127.0.0.1:${this.port}` }
  }

  /** Replaces the store with a fresh one holding the system namespaces and the fixture. */
  async reset(): Promise<void> {
    this.backend = new MemoryObjectBackend()
    this.handler = new ApiHandler({ objects: new ObjectStore(this.backend), serverAddress: `127.0.0.1:${this.port}` })
    await this.handler.ensureSystemNamespaces()
    for (const request of fixtureRequests()) {
      const outcome = await sendRaw(this.target, request, FIXTURE_SETUP_TIMEOUT_MS)
      if (outcome.kind !== 'response' || outcome.status !== 201) throw new Error(`Cannot build the fuzz fixture: ${request.method} ${request.path} answered ${describeOutcome(outcome)}`)
    }
  }

  snapshot(): StoreSnapshot {
    const { items, revision } = this.backend.range('')
    const entries = new Map<string, string>()
    for (const item of items) {
      const digest = createHash('sha256').update(item.value).digest('hex').slice(0, 16)
      entries.set(item.key, `create=${item.createRevision} mod=${item.modRevision} version=${item.version} value=${digest}`)
    }
    return { revision, entries }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
