/**
 * RevisionedStore: a replicated key-value store with etcd's revision model, the foundation of the
 * object store behind the Kubernetes API. It is a Raft `StateMachine`: writes arrive as committed
 * log entries (commands.ts) and reads are served from local memory (after `RaftNode.readBarrier()`
 * for a linearizable read).
 *
 * - One store revision counts the writes: each command that changes a key takes the next one.
 * - Per key: value, createRevision, modRevision, version; compare-and-swap on modRevision.
 * - Watches by key or prefix from a past revision, replayed from a bounded history, then live
 *   (watch-hub.ts). The `compact` command drops history cluster-wide; `compactionTarget()` tells
 *   the leader when to propose one.
 * - Persistence in the shared LevelDB under `s/` (persistence.ts), written through the apply batch
 *   so state and applied index move together; the history is memory only and starts empty after
 *   a restart.
 *
 * Determinism: apply reads nothing but its arguments and the store's state (no clock, no
 * randomness): time is the leader's stamp `timeMs`. The watch history and watchers are local to
 * each node and do not affect results.
 */
import type { LogStoreLevel } from '../../../consensus/src/level/log-store-level.ts'
import { unreachable } from '../../../lib/assert.ts'
import type { BatchOperation, StateMachine } from '../raft-node.ts'
import {
  decodeCommand,
  type CompactCommand,
  type CompactResult,
  type DeleteCommand,
  type DeleteResult,
  type KeyValue,
  type PutCommand,
  type PutResult,
  type StoreResult,
  type TxnCommand,
  type TxnOp,
  type TxnResult,
} from './commands.ts'
import { compactionTarget, resolveCompactionPolicy, type CompactionPolicy } from './compaction-policy.ts'
import { InvalidCommandError, InvalidRequestError } from './errors.ts'
import { decodeImage, deleteKeyOperation, encodeImage, putKeyOperation, putMetaOperation, readImage, type StoreImage } from './persistence.ts'
import { SortedKeys } from './sorted-keys.ts'
import { WatchHub, type StoreEvent, type WatchLimits, type WatchRequest } from './watch-hub.ts'

/** Most keys one range returns; callers page on with `more`. */
export const RANGE_LIMIT_MAX = 10_000

export interface RevisionedStoreOptions extends Partial<WatchLimits> {
  /** When `compactionTarget` proposes compaction. */
  readonly compaction?: Partial<CompactionPolicy>
  /** Reports problems in consumer callbacks that cannot be thrown anywhere useful. */
  readonly log?: (line: string) => void
}

/** Keys to read: those starting with `prefix` ('' for all), or those in [start, end) (no end: to the last key). */
export type RangeRequest =
  | { readonly prefix: string; readonly start?: undefined; readonly end?: undefined; readonly limit?: number }
  | { readonly start: string; readonly end?: string; readonly prefix?: undefined; readonly limit?: number }

export interface RangeResult {
  /** In key order (JavaScript string order; see sorted-keys.ts). */
  readonly items: readonly KeyValue[]
  /** The store revision the items reflect. */
  readonly revision: number
  /** Keys in range were left out because of the limit; continue from after the last item. */
  readonly more: boolean
}

/** The changes of one command, all under one revision. */
interface Write {
  readonly revision: number
  readonly events: StoreEvent[]
  readonly batch: BatchOperation[]
}

export class RevisionedStore implements StateMachine {
  private readonly keys = new Map<string, KeyValue>()
  private readonly order = new SortedKeys()
  private currentRevision = 0
  private compacted = 0
  private appliedTimeMs = 0
  private readonly hub: WatchHub
  private readonly compactionPolicy: CompactionPolicy

  constructor(options: RevisionedStoreOptions = {}) {
    const { compaction, log, ...limits } = options
    this.hub = new WatchHub(limits, log)
    this.compactionPolicy = resolveCompactionPolicy(compaction)
  }

  // Reads. All from local memory; the caller decides how fresh (readBarrier first, or not).

  /** The store revision: the revision of the last write command applied here. */
  revision(): number {
    return this.currentRevision
  }

  /** Watches cannot start at or below this revision anywhere in the cluster. */
  compactedRevision(): number {
    return this.compacted
  }

  /** The leader's stamp on the last applied entry (never decreasing), for time-based policies. */
  lastAppliedTimeMs(): number {
    return this.appliedTimeMs
  }

  /** Number of live keys. */
  size(): number {
    return this.keys.size
  }

  get(key: string): KeyValue | undefined {
    return this.keys.get(key)
  }

  /** Keys by prefix or range, in key order, at most `limit` (default and maximum RANGE_LIMIT_MAX). */
  range(request: RangeRequest): RangeResult {
    const limit = request.limit ?? RANGE_LIMIT_MAX
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > RANGE_LIMIT_MAX) {
      throw new InvalidRequestError(`range: limit must be an integer from 1 to ${RANGE_LIMIT_MAX}, got ${limit}`)
    }
    let scanned: { keys: string[]; more: boolean }
    if (request.prefix !== undefined && request.start === undefined && request.end === undefined) {
      const prefix = request.prefix
      scanned = this.order.scan(prefix, (key) => key.startsWith(prefix), limit)
    } else if (request.start !== undefined && request.prefix === undefined) {
      const end = request.end
      scanned = this.order.scan(request.start, end === undefined ? () => true : (key) => key < end, limit)
    } else {
      throw new InvalidRequestError('range: give either prefix, or start with an optional end')
    }
    return { items: scanned.keys.map((key) => this.keys.get(key)!), revision: this.currentRevision, more: scanned.more }
  }

  /**
   * Every key under `prefix`, in key order, however many: for in-process readers such as the
   * Kubernetes object store, which must see whole collections (the HTTP API pages with `range`).
   */
  rangeAll(prefix: string): { items: KeyValue[]; revision: number } {
    const scanned = this.order.scan(prefix, (key) => key.startsWith(prefix), Number.MAX_SAFE_INTEGER)
    return { items: scanned.keys.map((key) => this.keys.get(key)!), revision: this.currentRevision }
  }

  /**
   * Follows changes to a key or prefix from `fromRevision` (see watch-hub.ts for the delivery
   * contract); returns the cancel function. A watch from a revision this node no longer holds
   * ends at once through `onError` with CompactedError.
   */
  watch(request: WatchRequest): () => void {
    return this.hub.watch(request)
  }

  /** History size, watcher count, and the revision watches must start after. */
  watchStats(): ReturnType<WatchHub['stats']> {
    return this.hub.stats()
  }

  /**
   * The revision a leader should propose in a `compact` command now, or undefined: keeps the
   * policy's revisions and time window (compaction-policy.ts). `nowMs` defaults to the stamp of
   * the last applied entry, so the answer follows the log rather than this node's clock.
   */
  compactionTarget(nowMs = this.appliedTimeMs): number | undefined {
    return compactionTarget(
      {
        revision: this.currentRevision,
        compactedRevision: this.compacted,
        newestRevisionBeforeCutoff: this.hub.newestRevisionAtOrBefore(nowMs - this.compactionPolicy.retainMs),
      },
      this.compactionPolicy,
    )
  }

  // StateMachine.

  async load(store: LogStoreLevel): Promise<void> {
    const image = await readImage(store.db, 'the node database')
    this.install(image)
    this.hub.reset(image.revision, image.compactedRevision, `the store was reloaded from disk at revision ${image.revision}`)
  }

  apply(data: Uint8Array, _index: number, timeMs: number, batch: BatchOperation[]): StoreResult {
    // Stamps are monotone across leaders; the max keeps an unstamped entry (0) from moving time back.
    this.appliedTimeMs = Math.max(this.appliedTimeMs, timeMs)
    const result = this.execute(data, batch)
    batch.push(putMetaOperation({ revision: this.currentRevision, compactedRevision: this.compacted, timeMs: this.appliedTimeMs }))
    return result
  }

  snapshot(): Uint8Array {
    const { keys } = this.order.scan('', () => true, Number.MAX_SAFE_INTEGER)
    return encodeImage({
      revision: this.currentRevision,
      compactedRevision: this.compacted,
      timeMs: this.appliedTimeMs,
      keys: keys.map((key) => this.keys.get(key)!),
    })
  }

  restore(data: Uint8Array, batch: BatchOperation[]): void {
    // Decode (and validate) before touching anything: a bad image leaves the store as it was.
    const image = decodeImage(data)
    const incoming = new Set(image.keys.map((kv) => kv.key))
    for (const key of this.keys.keys()) if (!incoming.has(key)) batch.push(deleteKeyOperation(key))
    for (const kv of image.keys) batch.push(putKeyOperation(kv))
    batch.push(putMetaOperation(image))
    this.install(image)
    this.hub.reset(image.revision, image.compactedRevision, `the store was replaced by a snapshot at revision ${image.revision}`)
  }

  // Commands.

  private execute(data: Uint8Array, batch: BatchOperation[]): StoreResult {
    let command
    try {
      command = decodeCommand(data)
    } catch (error) {
      if (error instanceof InvalidCommandError) return { ok: false, reason: 'invalid', message: error.message }
      throw error
    }
    switch (command.op) {
      case 'put':
        return this.put(command, batch)
      case 'delete':
        return this.delete(command, batch)
      case 'txn':
        return this.txn(command, batch)
      case 'compact':
        return this.compact(command)
      default:
        return unreachable(command, 'store command')
    }
  }

  private put(command: PutCommand, batch: BatchOperation[]): PutResult {
    const currentModRevision = this.keys.get(command.key)?.modRevision ?? 0
    if (command.ifModRevision !== undefined && command.ifModRevision !== currentModRevision) {
      return { ok: false, reason: 'conflict', currentModRevision, revision: this.currentRevision }
    }
    const write = this.beginWrite(batch)
    const previous = this.setKey(write, command.key, command.value)
    this.commit(write)
    return applied(this.currentRevision, previous)
  }

  private delete(command: DeleteCommand, batch: BatchOperation[]): DeleteResult {
    const currentModRevision = this.keys.get(command.key)?.modRevision ?? 0
    if (command.ifModRevision !== undefined && command.ifModRevision !== currentModRevision) {
      return { ok: false, reason: 'conflict', currentModRevision, revision: this.currentRevision }
    }
    const write = this.beginWrite(batch)
    const previous = this.deleteKey(write, command.key)
    this.commit(write)
    return applied(this.currentRevision, previous)
  }

  private txn(command: TxnCommand, batch: BatchOperation[]): TxnResult {
    const succeeded = command.compares.every((compare) => (this.keys.get(compare.key)?.modRevision ?? 0) === compare.modRevision)
    const write = this.beginWrite(batch)
    const results = (succeeded ? command.success : command.failure).map((op: TxnOp) => {
      const previous = op.op === 'put' ? this.setKey(write, op.key, op.value) : this.deleteKey(write, op.key)
      return previous === undefined ? {} : { previous }
    })
    this.commit(write)
    return { ok: true, revision: this.currentRevision, succeeded, results }
  }

  private compact(command: CompactCommand): CompactResult {
    if (command.revision <= this.compacted) {
      return { ok: false, reason: 'compacted', compactedRevision: this.compacted, revision: this.currentRevision }
    }
    if (command.revision > this.currentRevision) return { ok: false, reason: 'future-revision', revision: this.currentRevision }
    // No revision is taken: compaction changes no key (as in etcd). Its effect on the history is
    // local memory; what every replica agrees on is the compacted revision, persisted in s/meta.
    this.compacted = command.revision
    this.hub.compact(command.revision)
    return { ok: true, revision: this.currentRevision, compactedRevision: this.compacted }
  }

  // The write path: changes collect under the next revision and take it only if there are any.

  private beginWrite(batch: BatchOperation[]): Write {
    return { revision: this.currentRevision + 1, events: [], batch }
  }

  /** Puts `value` under `key` in `write`; returns the key as it was. */
  private setKey(write: Write, key: string, value: Uint8Array): KeyValue | undefined {
    const previous = this.keys.get(key)
    const kv: KeyValue = {
      key,
      value,
      createRevision: previous?.createRevision ?? write.revision,
      modRevision: write.revision,
      version: (previous?.version ?? 0) + 1,
    }
    this.keys.set(key, kv)
    if (previous === undefined) this.order.insert(key)
    write.batch.push(putKeyOperation(kv))
    write.events.push({
      type: 'put',
      key,
      value,
      ...(previous !== undefined ? { prevValue: previous.value } : {}),
      modRevision: write.revision,
      createRevision: kv.createRevision,
      version: kv.version,
    })
    return previous
  }

  /** Deletes `key` in `write` when it exists; returns the key as it was. */
  private deleteKey(write: Write, key: string): KeyValue | undefined {
    const previous = this.keys.get(key)
    if (previous === undefined) return undefined
    this.keys.delete(key)
    this.order.remove(key)
    write.batch.push(deleteKeyOperation(key))
    write.events.push({ type: 'delete', key, prevValue: previous.value, modRevision: write.revision, createRevision: 0, version: 0 })
    return previous
  }

  private commit(write: Write): void {
    if (write.events.length === 0) return
    this.currentRevision = write.revision
    this.hub.publish(write.revision, this.appliedTimeMs, write.events)
  }

  /** Replaces the whole state with `image` (memory only: the caller read it from disk or writes it there). */
  private install(image: StoreImage): void {
    this.keys.clear()
    for (const kv of image.keys) this.keys.set(kv.key, kv)
    this.order.reset(this.keys.keys())
    this.currentRevision = image.revision
    this.compacted = image.compactedRevision
    this.appliedTimeMs = image.timeMs
  }
}

function applied(revision: number, previous: KeyValue | undefined): { ok: true; revision: number; previous?: KeyValue } {
  return previous === undefined ? { ok: true, revision } : { ok: true, revision, previous }
}
