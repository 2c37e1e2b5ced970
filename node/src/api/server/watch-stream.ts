/**
 * Watch (research/k8s-api.md §2): a chunked JSON stream of `{"type": …, "object": …}` lines for
 * one collection, flushed as changes happen.
 *
 * - `resourceVersion` absent or `0`: the current matching objects first, as ADDED events, then
 *   changes. `N`: every change after revision N, replayed from the store's history, then live.
 *   A revision older than the history holds gets one ERROR event with a 410 Expired Status (the
 *   signal for informers to list again), and the stream ends; so does a watcher too slow to
 *   keep up. A resourceVersion that is not a number is a 400 before the stream starts.
 * - Selectors decide per event with the object before and after: an object that starts matching
 *   is ADDED, one that stops matching is DELETED (its last matching content, with the revision of
 *   the change), as kube-apiserver's watch cache does.
 * - `allowWatchBookmarks=true`: BOOKMARK events carry only a resourceVersion, every
 *   `bookmarkIntervalMs` and once just before the stream ends at `timeoutSeconds`, so a client
 *   that reconnects resumes from a recent revision instead of an expired one.
 * - `Accept: …;as=Table`: every event's object is a one-row Table (`kubectl get -w`).
 * - Headers are flushed at once: clients wait for them before they consider the watch started.
 * - The client's socket is the buffer: when it is full the store's watcher is held back, and one
 *   that falls behind the bounded history ends with 410 rather than buffering without limit.
 * - Fan-out: a write must not wait for its watchers. Store events reach a stream from microtasks,
 *   right after the write applies and before the writer's own continuation runs, so a stream
 *   only queues them there and writes them from a macrotask (setImmediate), in order, as one
 *   socket write per batch. The object of a store event is decoded once for all streams
 *   (ObjectStore.watch `shared`) and its line encoded once per representation
 *   (watch-encoding.ts). At most WATCH_PENDING_EVENTS_MAX events wait per stream; past that the
 *   store's watcher is held back as for a full socket.
 */
import type { ServerResponse } from 'node:http'
import type { JsonObject } from '../machinery/canonical.ts'
import { badRequest, expired, resourceVersionTooOld, tooManyRequests, toStatus } from '../machinery/status.ts'
import { metadataOf, type ObjectEventType, type ObjectStore, type ResourceRef } from './object-store.ts'
import { booleanParameter, countParameter, watchResourceVersionOf } from './request-options.ts'
import type { TableRequest } from './responses.ts'
import type { Selection } from './selection.ts'
import type { WatchEventEncoder, WatchRepresentation } from './watch-encoding.ts'

/** How long a watch lasts when the client names no timeoutSeconds (kube-apiserver: 30–60 min). */
export const WATCH_TIMEOUT_SECONDS_DEFAULT = 1800
/** The longest watch a client may ask for; it reconnects after that, as after any timeout. */
export const WATCH_TIMEOUT_SECONDS_MAX = 24 * 3600
/** Bookmark interval when the handler is not told otherwise. */
export const WATCH_BOOKMARK_INTERVAL_MS_DEFAULT = 10_000
/** The Retry-After of a watch refused because the store serves its maximum of watchers. */
const WATCH_RETRY_AFTER_SECONDS = 1
/**
 * Store events a stream queues before it holds the store's watcher back: enough for a burst of
 * writes between two macrotasks, small enough that a thousand streams stay cheap.
 */
export const WATCH_PENDING_EVENTS_MAX = 1000

/** Event types on the wire. */
type WireEventType = ObjectEventType | 'BOOKMARK' | 'ERROR'

/** One watch request, parsed and resolved by the router. */
export interface WatchTarget {
  readonly resource: ResourceRef
  readonly namespace: string | undefined
  readonly selection: Selection
  /** Objects as one-row Tables (server-side printing), or as they are when undefined. */
  readonly table: TableRequest | undefined
}

export interface WatchStreamOptions {
  readonly objects: ObjectStore
  readonly bookmarkIntervalMs: number
  /** Shared by every stream of the server, so that each event is encoded once. */
  readonly encoder: WatchEventEncoder
}

/**
 * The event to send for a store event under a selection, or undefined when the watcher should not
 * see it (see the module comment for the transitions).
 */
export function selectedEvent(
  selection: Selection,
  type: ObjectEventType,
  object: JsonObject,
  previous: JsonObject | undefined,
): { readonly type: ObjectEventType; readonly object: JsonObject } | undefined {
  if (type === 'ADDED' || type === 'DELETED') return selection.matches(object) ? { type, object } : undefined
  const matchesNow = selection.matches(object)
  const matchedBefore = previous !== undefined && selection.matches(previous)
  if (matchesNow) return { type: matchedBefore ? 'MODIFIED' : 'ADDED', object }
  // `previous` carries the revision of this change (object-store.ts), as a DELETED event must.
  if (matchedBefore) return { type: 'DELETED', object: previous }
  return undefined
}

/**
 * Serves one watch until the timeout, the client going away, or the store ending the watch.
 * Parameter errors throw ApiError (400) before anything is written; so does a store that serves
 * its maximum of watchers (429).
 */
export async function serveWatch(options: WatchStreamOptions, target: WatchTarget, response: ServerResponse, url: URL): Promise<void> {
  if ((url.searchParams.get('resourceVersionMatch') ?? '') !== '') throw badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch')
  const requested = watchResourceVersionOf(url)
  const timeoutSeconds = Math.min(countParameter(url, 'timeoutSeconds') || WATCH_TIMEOUT_SECONDS_DEFAULT, WATCH_TIMEOUT_SECONDS_MAX)
  const bookmarks = booleanParameter(url, 'allowWatchBookmarks')
  let initial: JsonObject[] = []
  let startRevision = requested ?? 0
  if (requested === undefined) {
    const { items, revision } = await options.objects.list(target.resource, target.namespace)
    initial = items.filter((object) => target.selection.matches(object))
    startRevision = revision
  }
  const stream = new WatchStream(options, target, response, startRevision)
  await stream.run({ initial, timeoutSeconds, bookmarkIntervalMs: bookmarks ? options.bookmarkIntervalMs : undefined })
}

/** A store event waiting to be written. */
interface PendingEvent {
  readonly type: ObjectEventType
  readonly object: JsonObject
  readonly previous: JsonObject | undefined
}

/** One open watch: the store watcher, the client's response, the timers, the queue between them. */
class WatchStream {
  private readonly objects: ObjectStore
  private readonly encoder: WatchEventEncoder
  private readonly target: WatchTarget
  private readonly response: ServerResponse
  /** The newest revision whose events (for this collection) have been written. */
  private lastRevision: number
  /** Store events not written yet, oldest first. */
  private pending: PendingEvent[] = []
  private flushScheduled = false
  /** The store's watcher is waiting for these to be called (the queue was full, or the socket). */
  private heldBack: Array<() => void> = []
  /** The client's socket buffer is full: nothing is written until it drains. */
  private blocked = false
  private finished = false
  private cancelWatch: () => void = () => {}
  private readonly timers: Array<ReturnType<typeof setTimeout>> = []

  constructor(options: WatchStreamOptions, target: WatchTarget, response: ServerResponse, startRevision: number) {
    this.objects = options.objects
    this.encoder = options.encoder
    this.target = target
    this.response = response
    this.lastRevision = startRevision
  }

  /** Starts the store watcher, then the stream; resolves when the stream has ended. */
  run(plan: { initial: readonly JsonObject[]; timeoutSeconds: number; bookmarkIntervalMs: number | undefined }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        // Subscribed before the headers go out, so that a refusal is still an HTTP error; events
        // arrive from microtasks and are written from macrotasks, after the initial ones below.
        this.cancelWatch = this.objects.watch(
          this.target.resource,
          this.target.namespace,
          this.lastRevision + 1,
          (type, object, previous) => this.onStoreEvent({ type, object, previous }),
          (error) => this.onStoreError(error),
          { shared: true },
        )
      } catch (error) {
        reject(error instanceof Error && error.name === 'TooManyWatchersError' ? tooManyRequests(error.message, WATCH_RETRY_AFTER_SECONDS) : error)
        return
      }
      this.response.on('close', () => {
        this.finish()
        resolve()
      })
      this.response.on('finish', resolve)
      this.response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' })
      this.response.flushHeaders()
      const initial = plan.initial.map((object) => this.line('ADDED', object)).join('')
      if (initial !== '') this.write(initial)
      const bookmarkIntervalMs = plan.bookmarkIntervalMs
      this.timers.push(
        setTimeout(() => {
          if (bookmarkIntervalMs !== undefined) this.bookmark()
          this.finish()
        }, plan.timeoutSeconds * 1000),
      )
      if (bookmarkIntervalMs !== undefined) this.timers.push(setInterval(() => this.bookmark(), bookmarkIntervalMs))
    })
  }

  /**
   * Queues a store event for the next flush. Returns a promise, which holds the store's watcher
   * back until the queue has been written and the socket has room, when either is full.
   */
  private onStoreEvent(event: PendingEvent): void | Promise<void> {
    if (this.finished) return
    this.pending.push(event)
    this.scheduleFlush()
    if (this.pending.length < WATCH_PENDING_EVENTS_MAX && !this.blocked) return
    return new Promise<void>((resolve) => this.heldBack.push(resolve))
  }

  /** The store ended the watch: what was queued goes out, then the ERROR event, then the end. */
  private onStoreError(error: Error): void {
    if (this.finished) return
    this.blocked = false
    this.flush()
    this.write(this.line('ERROR', watchErrorStatus(error, this.lastRevision) as JsonObject))
    this.finish()
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => {
      this.flushScheduled = false
      this.flush()
    })
  }

  /** Writes every queued event the selection lets through, in order, as one write. */
  private flush(): void {
    if (this.finished || this.blocked) return
    let text = ''
    for (const { type, object, previous } of this.pending) {
      this.lastRevision = Math.max(this.lastRevision, Number(metadataOf(object)['resourceVersion']))
      const event = selectedEvent(this.target.selection, type, object, previous)
      if (event !== undefined) text += this.line(event.type, event.object)
    }
    this.pending = []
    if (text !== '') this.write(text)
    if (!this.blocked) this.releaseHeldBack()
  }

  /** The wire line of one event, shared with every stream that sends the same (watch-encoding.ts). */
  private line(type: WireEventType, object: JsonObject): string {
    // Bookmarks and errors are this stream's own: nothing to share.
    if (type === 'BOOKMARK' || type === 'ERROR') return `${JSON.stringify({ type, object })}\n`
    const table = this.target.table
    const representation: WatchRepresentation = table === undefined ? { table: undefined } : { table, kind: this.target.resource.kind, resourceVersion: String(this.lastRevision) }
    return this.encoder.encode(type, object, representation)
  }

  /** Writes to the client; a full socket blocks the stream until it drains (or the client goes). */
  private write(text: string): void {
    if (this.finished || this.response.write(text)) return
    this.blocked = true
    const resume = (): void => {
      this.response.off('drain', resume)
      this.response.off('close', resume)
      this.blocked = false
      this.flush()
    }
    this.response.on('drain', resume)
    this.response.on('close', resume)
  }

  private releaseHeldBack(): void {
    const waiting = this.heldBack
    this.heldBack = []
    for (const resolve of waiting) resolve()
  }

  /**
   * A BOOKMARK at the store's revision: every event of the collection up to it has been written,
   * since the store delivers events from microtasks, this runs from a timer, and the queue is
   * flushed first. A stream that is blocked or holds the store back gets none: the client would
   * not see it, and the revision would not be true yet.
   */
  private bookmark(): void {
    if (this.blocked || this.heldBack.length > 0) return
    this.flush()
    if (this.blocked) return
    this.lastRevision = Math.max(this.lastRevision, this.objects.revision())
    const { kind, apiVersion } = this.target.resource
    this.write(this.line('BOOKMARK', { kind, apiVersion, metadata: { resourceVersion: String(this.lastRevision) } }))
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    this.cancelWatch()
    for (const timer of this.timers) clearTimeout(timer)
    this.pending = []
    this.releaseHeldBack()
    this.response.end()
  }
}

/** The Status of an ERROR event for a watch the store ended. */
function watchErrorStatus(error: Error, lastRevision: number): unknown {
  if (error.name === 'CompactedError') {
    const compacted = error as Error & { requestedRevision: number; compactedRevision: number }
    return toStatus(resourceVersionTooOld(compacted.requestedRevision - 1, compacted.compactedRevision))
  }
  if (error.name === 'WatchOverflowError') return toStatus(expired(`the watch fell behind after resource version ${lastRevision}: ${error.message}`))
  return toStatus(error)
}
