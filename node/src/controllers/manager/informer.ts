/**
 * An informer: one resource listed and then watched through the ObjectStore into an in-memory
 * cache by `namespace/name` (`name` for cluster-scoped objects), with secondary indexes and
 * add/update/delete handlers, in the manner of client-go's shared informers.
 *
 * What it relies on (and what the controllers may rely on in turn):
 * - The ObjectStore's watch delivers every change of the resource after the list revision, one
 *   event at a time, in revision order and without gaps (watch-hub.ts). So `revision` — the list
 *   revision, then the revision of each event applied — is a high-water mark: once it reaches R,
 *   the cache reflects every write to this resource up to R.
 * - Delivery is NOT synchronous with the write: the watch hub drains from a microtask, so when a
 *   write's promise resolves the cache may not have the new object yet. Controllers therefore
 *   keep expectations (expectations.ts) instead of assuming the cache is current.
 * - A watch that ends (history compacted or trimmed past it, or the consumer fell behind) is
 *   replaced by a relist: the cache is diffed against a fresh list, handlers see the differences
 *   as adds, updates and deletes, and a new watch starts from the list revision.
 *
 * Handlers run synchronously after the cache changed; they must not throw and should only queue
 * work. Objects in the cache are shared: never mutate them.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ObjectStore, ResourceRef } from '../../api/server/object-store.ts'
import type { Timer, Timers } from '../../../../lib/timers.ts'

/** Reactions to cache changes. */
export interface InformerHandlers {
  onAdd?(object: JsonObject): void
  onUpdate?(previous: JsonObject, object: JsonObject): void
  onDelete?(object: JsonObject): void
}

/** A secondary index: the index values an object is filed under (none: not indexed). */
export type IndexFunction = (object: JsonObject) => readonly string[]

export interface InformerOptions {
  readonly objects: ObjectStore
  readonly resource: ResourceRef
  readonly timers: Timers
  readonly log: (line: string) => void
  /** First delay before relisting after a failed list (doubles up to 5 s). */
  readonly relistDelayMs?: number
}

/** The cache key of an object: `namespace/name`, or `name` when it has no namespace. */
export function cacheKeyOf(object: JsonObject): string {
  const metadata = object['metadata'] as JsonObject | undefined
  const name = typeof metadata?.['name'] === 'string' ? metadata['name'] : ''
  const namespace = typeof metadata?.['namespace'] === 'string' ? metadata['namespace'] : ''
  return namespace === '' ? name : `${namespace}/${name}`
}

/** The cache key of `name` in `namespace` (undefined or '' for cluster-scoped objects). */
export function cacheKey(namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === '' ? name : `${namespace}/${name}`
}

function resourceVersionOf(object: JsonObject): number {
  const metadata = object['metadata'] as JsonObject | undefined
  return Number(metadata?.['resourceVersion'] ?? 0)
}

const RELIST_DELAY_MS_DEFAULT = 100
const RELIST_DELAY_MS_MAX = 5000

export class Informer {
  readonly resource: ResourceRef
  private readonly objects: ObjectStore
  private readonly timers: Timers
  private readonly log: (line: string) => void
  private readonly relistDelayMs: number
  private readonly cache = new Map<string, JsonObject>()
  private readonly handlers: InformerHandlers[] = []
  private readonly indexers = new Map<string, IndexFunction>()
  /** Index name → index value → cache keys. */
  private readonly indexes = new Map<string, Map<string, Set<string>>>()
  private revisionValue = 0
  private cancelWatch: (() => void) | undefined
  private relistTimer: Timer | undefined
  private stopped = false
  private syncedValue = false
  /** Bumped on each (re)list, so events of a replaced watch are ignored. */
  private generation = 0

  constructor(options: InformerOptions) {
    this.objects = options.objects
    this.resource = options.resource
    this.timers = options.timers
    this.log = options.log
    this.relistDelayMs = options.relistDelayMs ?? RELIST_DELAY_MS_DEFAULT
  }

  /** Adds handlers; objects already cached are not replayed (add handlers before `start`). */
  addHandlers(handlers: InformerHandlers): void {
    this.handlers.push(handlers)
  }

  /** Adds a secondary index (before `start`). */
  addIndex(name: string, index: IndexFunction): void {
    this.indexers.set(name, index)
    this.indexes.set(name, new Map())
    for (const [key, object] of this.cache) this.indexObject(name, index, key, object, 1)
  }

  /** Lists, fills the cache (handlers see adds), and starts watching. Rejects when the list fails. */
  async start(): Promise<void> {
    await this.relist()
    this.syncedValue = true
  }

  /** Stops watching; the cache stays readable but no longer changes. */
  stop(): void {
    this.stopped = true
    this.generation++
    this.cancelWatch?.()
    this.cancelWatch = undefined
    this.relistTimer?.cancel()
  }

  /** True once the first list has been applied. */
  get synced(): boolean {
    return this.syncedValue
  }

  /** The store revision the cache reflects for this resource (see the file comment). */
  get revision(): number {
    return this.revisionValue
  }

  get(namespace: string | undefined, name: string): JsonObject | undefined {
    return this.cache.get(cacheKey(namespace, name))
  }

  getByKey(key: string): JsonObject | undefined {
    return this.cache.get(key)
  }

  /** Every cached object (a snapshot array; the objects are shared). */
  list(): JsonObject[] {
    return [...this.cache.values()]
  }

  get size(): number {
    return this.cache.size
  }

  /** The objects filed under `value` in index `name`. */
  byIndex(name: string, value: string): JsonObject[] {
    const keys = this.indexes.get(name)?.get(value)
    if (keys === undefined) return []
    const objects: JsonObject[] = []
    for (const key of keys) {
      const object = this.cache.get(key)
      if (object !== undefined) objects.push(object)
    }
    return objects
  }

  /** The index values of index `name` that have objects. */
  indexValues(name: string): string[] {
    return [...(this.indexes.get(name)?.keys() ?? [])]
  }

  private async relist(): Promise<void> {
    const generation = ++this.generation
    this.cancelWatch?.()
    this.cancelWatch = undefined
    const { items, revision } = await this.objects.list(this.resource, undefined)
    if (this.stopped || generation !== this.generation) return
    const listed = new Map<string, JsonObject>()
    for (const object of items) listed.set(cacheKeyOf(object), object)
    for (const [key, object] of [...this.cache]) if (!listed.has(key)) this.remove(key, object)
    for (const [key, object] of listed) {
      const cached = this.cache.get(key)
      if (cached === undefined || resourceVersionOf(cached) !== resourceVersionOf(object)) this.put(key, object)
    }
    this.revisionValue = Math.max(this.revisionValue, revision)
    this.cancelWatch = this.objects.watch(
      this.resource,
      undefined,
      revision + 1,
      (type, object) => {
        if (this.stopped || generation !== this.generation) return
        const key = cacheKeyOf(object)
        if (type === 'DELETED') {
          const cached = this.cache.get(key)
          if (cached !== undefined) this.remove(key, object)
        } else this.put(key, object)
        this.revisionValue = Math.max(this.revisionValue, resourceVersionOf(object))
      },
      (error) => {
        if (this.stopped || generation !== this.generation) return
        this.log(`${this.resource.resource} watch ended (${error.message}); relisting`)
        this.scheduleRelist(this.relistDelayMs)
      },
    )
  }

  private scheduleRelist(delayMs: number): void {
    if (this.stopped) return
    this.relistTimer?.cancel()
    this.relistTimer = this.timers.after(delayMs, () => {
      this.relist().catch((error: Error) => {
        this.log(`${this.resource.resource} relist failed (${error.message}); retrying`)
        this.scheduleRelist(Math.min(RELIST_DELAY_MS_MAX, delayMs * 2))
      })
    })
  }

  private put(key: string, object: JsonObject): void {
    const previous = this.cache.get(key)
    this.cache.set(key, object)
    for (const [name, index] of this.indexers) {
      if (previous !== undefined) this.indexObject(name, index, key, previous, -1)
      this.indexObject(name, index, key, object, 1)
    }
    for (const handlers of this.handlers) {
      if (previous === undefined) handlers.onAdd?.(object)
      else handlers.onUpdate?.(previous, object)
    }
  }

  private remove(key: string, object: JsonObject): void {
    const cached = this.cache.get(key)
    this.cache.delete(key)
    if (cached !== undefined) for (const [name, index] of this.indexers) this.indexObject(name, index, key, cached, -1)
    // The deleted object as the watch reported it (its last state), or the cached one on relist.
    for (const handlers of this.handlers) handlers.onDelete?.(object)
  }

  private indexObject(name: string, index: IndexFunction, key: string, object: JsonObject, delta: 1 | -1): void {
    const values = this.indexes.get(name)
    if (values === undefined) return
    for (const value of index(object)) {
      let keys = values.get(value)
      if (delta === 1) {
        if (keys === undefined) values.set(value, (keys = new Set()))
        keys.add(key)
      } else if (keys !== undefined) {
        keys.delete(key)
        if (keys.size === 0) values.delete(value)
      }
    }
  }
}
