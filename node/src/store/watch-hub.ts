/**
 * Watches over the store's changes: a bounded in-memory history of recent events and the watchers
 * reading it, in the style of etcd's watchable store.
 *
 * The history holds every event of the revisions after `floorRevision()`, in revision order. It
 * is trimmed from the front by whole revisions when it grows beyond its event or byte bound and
 * when a `compact` command applies, and it starts empty at startup and after a snapshot install,
 * so a watch can only start after the revision the store had then.
 *
 * Each watcher is a cursor into that history, whether it replays an old revision or follows live
 * changes: the history is the per-watcher queue, shared, so a watcher costs no memory per event
 * and a burst of entries applied in one Raft Ready (before any watcher could run) costs no more
 * than the history holds anyway. A watcher too slow to keep up falls behind the history's front
 * as it is trimmed; if trimming drops an event the watcher still had to deliver, the watcher ends
 * with WatchOverflowError (trimmed for size) or CompactedError (compacted), and the consumer
 * re-reads the state and watches again. Memory stays within the history bounds whatever the
 * consumers do.
 *
 * Delivery is never inside `publish` or `watch`: a drain loop runs per watcher from a microtask,
 * so a slow or throwing callback never runs inside the Raft apply loop. Events reach `onEvent` one
 * at a time in revision order without gaps; when `onEvent` returns a promise, the next event waits
 * for it (that is how a consumer pushes back, and how it becomes slow). `onError` is called at
 * most once, after which the watcher gets nothing more; after `cancel()` neither callback runs.
 */
import { assert } from '../../../lib/assert.ts'
import { InvalidConfigError } from '../../../lib/errors.ts'
import { checkKey } from './commands.ts'
import { Deque } from './deque.ts'
import { CompactedError, InvalidCommandError, InvalidRequestError, TooManyWatchersError, WatchCallbackError, WatchOverflowError } from './errors.ts'

/** One change to one key. Several events share a revision when one transaction made them. */
export interface StoreEvent {
  readonly type: 'put' | 'delete'
  readonly key: string
  /** The new value (puts only). Shared with the store: treat as immutable. */
  readonly value?: Uint8Array
  /** The value before, when the key existed. */
  readonly prevValue?: Uint8Array
  /** The revision of the change. */
  readonly modRevision: number
  /** The key's createRevision after a put; 0 after a delete (etcd's tombstone). */
  readonly createRevision: number
  /** The key's version after a put; 0 after a delete. */
  readonly version: number
}

/** Which keys a watch follows: one key, or every key that starts with a prefix ('' for all). */
export type WatchFilter = { readonly key: string; readonly prefix?: undefined } | { readonly prefix: string; readonly key?: undefined }

export type WatchRequest = WatchFilter & {
  /**
   * The first revision to deliver; events from it on are replayed from history, then live.
   * Omitted: only changes after the current revision.
   */
  readonly fromRevision?: number
  /** Gets each event; a returned promise holds back the next event until it settles. */
  readonly onEvent: (event: StoreEvent) => void | Promise<void>
  /** Gets the error that ended the watch: CompactedError, WatchOverflowError or WatchCallbackError. */
  readonly onError: (error: Error) => void
}

export interface WatchLimits {
  /**
   * Events kept: for watches from past revisions, and for watchers still delivering. A live
   * watcher needs room for what arrives between two of its deliveries (one Raft Ready's worth
   * when its callback is quick), so keep this far above the entries applied per Ready.
   */
  readonly historyEventsMax: number
  /** Approximate bytes of those events (keys, values and previous values). */
  readonly historyBytesMax: number
  /** Watchers at once; `watch` refuses more. */
  readonly watchersMax: number
}

export const DEFAULT_WATCH_LIMITS: WatchLimits = {
  historyEventsMax: 100_000,
  historyBytesMax: 256 * 1024 * 1024,
  watchersMax: 10_000,
}

/** Bookkeeping per event beyond its key and values, for the byte bound. */
const EVENT_OVERHEAD_BYTES = 64

interface HistoryItem {
  readonly event: StoreEvent
  /** The leader's stamp on the entry that made the event. */
  readonly timeMs: number
  readonly bytes: number
}

interface Watcher {
  readonly key: string | undefined
  readonly prefix: string | undefined
  readonly startRevision: number
  readonly onEvent: (event: StoreEvent) => void | Promise<void>
  readonly onError: (error: Error) => void
  /** Sequence number of the next history event to look at. */
  cursorSeq: number
  /** 'ended': by an error (reported unless canceled meanwhile); 'canceled': by the consumer. */
  state: 'active' | 'ended' | 'canceled'
  draining: boolean
  scheduled: boolean
}

/** Why history is being dropped: a `compact` command, or the size bounds. */
type TrimCause = 'compact' | 'size'

export class WatchHub {
  private readonly limits: WatchLimits
  private readonly log: ((line: string) => void) | undefined
  private readonly history = new Deque<HistoryItem>()
  private historyBytes = 0
  /** Sequence number of the history's front item; each published event takes the next number. */
  private firstSeq = 0
  private headRevision = 0
  private compactedRevision = 0
  /** Newest revision trimmed for size or lost with a reset. */
  private trimmedRevision = 0
  private readonly watchers = new Set<Watcher>()

  constructor(limits: Partial<WatchLimits> = {}, log?: (line: string) => void) {
    this.limits = resolveWatchLimits(limits)
    this.log = log
  }

  /** Events at or below this revision are not held; watches may start right after it. */
  floorRevision(): number {
    return Math.max(this.compactedRevision, this.trimmedRevision)
  }

  /** Current size of the history and number of watchers, for status and tests. */
  stats(): { historyEvents: number; historyBytes: number; watchers: number; floorRevision: number } {
    return { historyEvents: this.history.length, historyBytes: this.historyBytes, watchers: this.watchers.size, floorRevision: this.floorRevision() }
  }

  /**
   * Forgets the history: the store now stands at `revision` (after a load or a snapshot install)
   * with `compactedRevision`. Every watcher ends with a CompactedError naming `reason`, since the
   * events between what it saw and the new state cannot be produced.
   */
  reset(revision: number, compactedRevision: number, reason: string): void {
    const message = `mvcc: required revision has been compacted: ${reason}; read the current state and watch from its revision + 1`
    for (const watcher of [...this.watchers]) this.end(watcher, new CompactedError(message, this.nextRevisionOf(watcher), revision))
    this.firstSeq += this.history.length
    this.history.clear()
    this.historyBytes = 0
    this.headRevision = revision
    this.compactedRevision = compactedRevision
    this.trimmedRevision = revision
  }

  /** Records the events of a new revision and wakes the watchers. */
  publish(revision: number, timeMs: number, events: readonly StoreEvent[]): void {
    assert(revision > this.headRevision, `publish revision ${revision} not after ${this.headRevision}`)
    assert(events.length > 0, `revision ${revision} published without events`)
    this.headRevision = revision
    for (const event of events) {
      assert(event.modRevision === revision, `event of revision ${event.modRevision} published under ${revision}`)
      const bytes = eventBytes(event)
      this.history.push({ event, timeMs, bytes })
      this.historyBytes += bytes
    }
    for (const watcher of this.watchers) this.scheduleDrain(watcher)
    let through = 0
    let count = 0
    let bytes = this.historyBytes
    // Whole revisions go, so a watch from any revision above the floor gets all its events.
    while (count < this.history.length && (this.history.length - count > this.limits.historyEventsMax || bytes > this.limits.historyBytesMax)) {
      through = this.history.at(count)!.event.modRevision
      for (; count < this.history.length && this.history.at(count)!.event.modRevision === through; count++) bytes -= this.history.at(count)!.bytes
    }
    if (count === 0) return
    this.trimmedRevision = Math.max(this.trimmedRevision, through)
    this.dropThrough(through, 'size')
  }

  /** Drops the history at or below `revision` (the `compact` command). */
  compact(revision: number): void {
    assert(revision <= this.headRevision, `compact ${revision} beyond the head revision ${this.headRevision}`)
    this.compactedRevision = Math.max(this.compactedRevision, revision)
    this.dropThrough(revision, 'compact')
  }

  /**
   * The newest revision whose entry was stamped at or before `timeMs`, as far as the history
   * tells; undefined when its oldest event is newer (or it is empty).
   */
  newestRevisionAtOrBefore(timeMs: number): number | undefined {
    // Stamps never decrease along the log (the leader keeps them monotone), so binary search.
    let low = 0
    let high = this.history.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (this.history.at(middle)!.timeMs <= timeMs) low = middle + 1
      else high = middle
    }
    return low === 0 ? undefined : this.history.at(low - 1)!.event.modRevision
  }

  /**
   * Starts a watch (see the module comment); returns the function that cancels it. Throws
   * InvalidRequestError on bad arguments and TooManyWatchersError at `watchersMax`. A start
   * revision this node no longer holds is reported through `onError` (CompactedError), like every
   * other end of a watch.
   */
  watch(request: WatchRequest): () => void {
    const { key, prefix, fromRevision } = checkWatchRequest(request)
    if (this.watchers.size >= this.limits.watchersMax) {
      throw new TooManyWatchersError(`${this.watchers.size} watchers already, the most this store serves (watchersMax)`)
    }
    const startRevision = fromRevision ?? this.headRevision + 1
    const watcher: Watcher = {
      key,
      prefix,
      startRevision,
      onEvent: request.onEvent,
      onError: request.onError,
      cursorSeq: this.firstSeq + this.historyPositionOf(startRevision),
      state: 'active',
      draining: false,
      scheduled: false,
    }
    const cancel = (): void => {
      this.watchers.delete(watcher)
      watcher.state = 'canceled'
    }
    if (startRevision <= this.floorRevision()) {
      this.end(watcher, this.compactedError(startRevision))
      return cancel
    }
    this.watchers.add(watcher)
    this.scheduleDrain(watcher)
    return cancel
  }

  /** Position of the first history event at or after `revision` (the end when there is none). */
  private historyPositionOf(revision: number): number {
    let low = 0
    let high = this.history.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (this.history.at(middle)!.event.modRevision < revision) low = middle + 1
      else high = middle
    }
    return low
  }

  /**
   * Drops history events at or below `revision`. A watcher whose cursor is among them loses
   * nothing if none of them match it (its cursor just moves on); otherwise it ends, with
   * CompactedError for a compaction and WatchOverflowError for the size bound.
   */
  private dropThrough(revision: number, cause: TrimCause): void {
    let count = 0
    while (count < this.history.length && this.history.at(count)!.event.modRevision <= revision) count++
    if (count === 0) return
    const newFirstSeq = this.firstSeq + count
    for (const watcher of [...this.watchers]) {
      if (watcher.cursorSeq >= newFirstSeq) continue
      const lost = this.firstMatchBefore(watcher, newFirstSeq)
      if (lost === undefined) watcher.cursorSeq = newFirstSeq
      else this.end(watcher, cause === 'compact' ? this.compactedError(lost.modRevision) : this.overflowError(lost.modRevision))
    }
    for (let dropped = 0; dropped < count; dropped++) this.historyBytes -= this.history.shift()!.bytes
    this.firstSeq = newFirstSeq
  }

  /** The first event from the watcher's cursor up to `endSeq` (exclusive) that it would deliver. */
  private firstMatchBefore(watcher: Watcher, endSeq: number): StoreEvent | undefined {
    for (let seq = watcher.cursorSeq; seq < endSeq; seq++) {
      const event = this.history.at(seq - this.firstSeq)!.event
      if (matches(watcher, event)) return event
    }
    return undefined
  }

  private scheduleDrain(watcher: Watcher): void {
    if (watcher.draining || watcher.scheduled || watcher.state !== 'active') return
    watcher.scheduled = true
    queueMicrotask(() => {
      watcher.scheduled = false
      void this.drain(watcher)
    })
  }

  /** Delivers events one at a time until none is left, waiting for each returned promise. */
  private async drain(watcher: Watcher): Promise<void> {
    if (watcher.draining) return
    watcher.draining = true
    try {
      while (watcher.state === 'active') {
        const event = this.nextEvent(watcher)
        if (event === undefined) return
        try {
          const pending: unknown = watcher.onEvent(event)
          if (isPromiseLike(pending)) await pending
        } catch (error) {
          this.end(watcher, new WatchCallbackError(`watch callback failed at revision ${event.modRevision}; the watch is canceled`, { cause: error }))
        }
      }
    } finally {
      watcher.draining = false
    }
  }

  /** The watcher's next matching event, advancing its cursor; undefined when it has seen them all. */
  private nextEvent(watcher: Watcher): StoreEvent | undefined {
    assert(watcher.cursorSeq >= this.firstSeq, 'a watcher behind the history was not ended')
    const endSeq = this.firstSeq + this.history.length
    while (watcher.cursorSeq < endSeq) {
      const event = this.history.at(watcher.cursorSeq - this.firstSeq)!.event
      watcher.cursorSeq++
      if (matches(watcher, event)) return event
    }
    return undefined
  }

  /** Ends a watch with `error`, reported from a microtask unless the consumer cancels first. */
  private end(watcher: Watcher, error: Error): void {
    if (watcher.state !== 'active') return
    this.watchers.delete(watcher)
    watcher.state = 'ended'
    queueMicrotask(() => {
      if (watcher.state !== 'ended') return
      try {
        watcher.onError(error)
      } catch (callbackError) {
        // An onError that throws must not crash the node from a microtask; it only loses its report.
        this.log?.(`watch onError callback threw: ${(callbackError as Error).stack ?? String(callbackError)}`)
      }
    })
  }

  /** The first revision the watcher has not looked at (cheap: no search for a matching event). */
  private nextRevisionOf(watcher: Watcher): number {
    const next = this.history.at(watcher.cursorSeq - this.firstSeq)?.event.modRevision
    return Math.max(watcher.startRevision, next ?? this.headRevision + 1)
  }

  private overflowError(nextRevision: number): WatchOverflowError {
    return new WatchOverflowError(
      `watcher too slow: it still had to deliver revision ${nextRevision}, which left the in-memory history ` +
        `(bounded to ${this.limits.historyEventsMax} events and ${this.limits.historyBytesMax} bytes); the watch is ` +
        `canceled; read the current state and watch again`,
      nextRevision,
    )
  }

  private compactedError(requestedRevision: number): CompactedError {
    const floor = this.floorRevision()
    return new CompactedError(
      `mvcc: required revision ${requestedRevision} has been compacted: this node holds events only after revision ${floor} ` +
        `(compacted revision ${this.compactedRevision}); read the current state and watch from its revision + 1`,
      requestedRevision,
      floor,
    )
  }
}

/** `limits` with defaults filled in; throws InvalidConfigError on negative or non-integer values. */
export function resolveWatchLimits(limits: Partial<WatchLimits>): WatchLimits {
  const resolved = { ...DEFAULT_WATCH_LIMITS, ...limits }
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidConfigError(`watch limit ${name} must be a non-negative integer, got ${value}`)
  }
  return resolved
}

function checkWatchRequest(request: WatchRequest): { key: string | undefined; prefix: string | undefined; fromRevision: number | undefined } {
  const { key, prefix, fromRevision } = request
  if ((key === undefined) === (prefix === undefined)) throw new InvalidRequestError('watch: give exactly one of key and prefix')
  if (key !== undefined) {
    try {
      checkKey(key, 'watch.key')
    } catch (error) {
      if (error instanceof InvalidCommandError) throw new InvalidRequestError(error.message)
      throw error
    }
  }
  if (prefix !== undefined && typeof prefix !== 'string') throw new InvalidRequestError('watch: prefix must be a string')
  if (fromRevision !== undefined && (!Number.isSafeInteger(fromRevision) || fromRevision < 1)) {
    throw new InvalidRequestError(`watch: fromRevision must be a positive integer, got ${fromRevision}`)
  }
  if (typeof request.onEvent !== 'function' || typeof request.onError !== 'function') {
    throw new InvalidRequestError('watch: onEvent and onError must be functions')
  }
  return { key, prefix, fromRevision }
}

function matches(watcher: Watcher, event: StoreEvent): boolean {
  if (event.modRevision < watcher.startRevision) return false
  return watcher.key !== undefined ? event.key === watcher.key : event.key.startsWith(watcher.prefix!)
}

/** Approximate memory of an event: UTF-16 key, values, and bookkeeping. */
function eventBytes(event: StoreEvent): number {
  return EVENT_OVERHEAD_BYTES + 2 * event.key.length + (event.value?.byteLength ?? 0) + (event.prevValue?.byteLength ?? 0)
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}
