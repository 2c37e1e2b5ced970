/**
 * Write coalescing for the controllers: single-key puts and deletes issued in the same turn of
 * the event loop are committed as one multi-key transaction, so a ReplicaSet creating 500 pods,
 * or the scheduler binding 1,000, costs a handful of Raft entries instead of one per object.
 *
 * Why here and not in each controller: the controllers stay written one object at a time (each
 * write with its own compare-and-swap precondition, as in Kubernetes), and whatever they issue
 * concurrently is grouped underneath. The semantics of every write are kept:
 *
 * - A transaction's compares are the union of its writes' preconditions (`ifModRevision`). When
 *   all hold, every write took effect, under one store revision (etcd's multi-key transactions
 *   do the same; watchers get one event per key). When any fails, the transaction changed
 *   nothing, and each write is retried on its own, so exactly the writes whose own precondition
 *   fails report a conflict — as if they had never been grouped.
 * - A key appears at most once per transaction (etcd's rule): a second write to a key already in
 *   the forming batch closes the batch and starts the next one, keeping issue order per key.
 * - Anything that is not a plain put or delete (transactions, compaction) passes straight through.
 * - When the transaction fails as a whole (the controller fence moved, the store refused it),
 *   each write is retried alone too and meets its own fate.
 *
 * Batches close when the current macrotask ends (setImmediate), or earlier when they reach
 * `opsMax` writes or `bytesMax` bytes of values, which bounds Raft entry sizes.
 */
import { COMMAND_BYTES_MAX, TXN_OPS_MAX, type DeleteCommand, type PutCommand, type StoreCommand, type StoreResult, type TxnCompare } from '../../store/commands.ts'
import type { ObjectBackend } from './object-store.ts'

export interface CoalescingOptions {
  /** Writes per transaction at most. */
  readonly opsMax?: number
  /** Bytes of put values per transaction at most (a single larger write still goes, alone). */
  readonly bytesMax?: number
}

/** One compare is left for a wrapper's own condition (the controller fence adds one). */
const OPS_MAX_DEFAULT = TXN_OPS_MAX - 1
/** Half the command limit leaves room for keys and encoding overhead. */
const BYTES_MAX_DEFAULT = COMMAND_BYTES_MAX / 2

interface PendingWrite {
  readonly command: PutCommand | DeleteCommand
  readonly resolve: (result: StoreResult) => void
  readonly reject: (error: unknown) => void
}

interface Batch {
  readonly writes: PendingWrite[]
  readonly keys: Set<string>
  bytes: number
}

export class CoalescingBackend implements ObjectBackend {
  private readonly inner: ObjectBackend
  private readonly opsMax: number
  private readonly bytesMax: number
  private forming: Batch | undefined
  /** Transactions committed and writes they carried, for tests and benchmarks. */
  readonly stats = { transactions: 0, coalescedWrites: 0, fallbacks: 0 }

  constructor(inner: ObjectBackend, options: CoalescingOptions = {}) {
    this.inner = inner
    this.opsMax = Math.min(Math.max(1, options.opsMax ?? OPS_MAX_DEFAULT), OPS_MAX_DEFAULT)
    this.bytesMax = Math.max(1, options.bytesMax ?? BYTES_MAX_DEFAULT)
  }

  readBarrier(): Promise<void> {
    return this.inner.readBarrier()
  }

  get(key: string): ReturnType<ObjectBackend['get']> {
    return this.inner.get(key)
  }

  range(prefix: string): ReturnType<ObjectBackend['range']> {
    return this.inner.range(prefix)
  }

  watch(request: Parameters<ObjectBackend['watch']>[0]): () => void {
    return this.inner.watch(request)
  }

  write(command: StoreCommand): Promise<StoreResult> {
    if (command.op !== 'put' && command.op !== 'delete') return this.inner.write(command)
    return new Promise<StoreResult>((resolve, reject) => {
      const size = command.key.length + (command.op === 'put' ? command.value.byteLength : 0)
      let batch = this.forming
      if (batch !== undefined && (batch.keys.has(command.key) || batch.writes.length >= this.opsMax || batch.bytes + size > this.bytesMax)) {
        this.close(batch)
        batch = undefined
      }
      if (batch === undefined) {
        const fresh: Batch = { writes: [], keys: new Set(), bytes: 0 }
        this.forming = fresh
        setImmediate(() => {
          if (this.forming === fresh) this.close(fresh)
        })
        batch = fresh
      }
      batch.writes.push({ command, resolve, reject })
      batch.keys.add(command.key)
      batch.bytes += size
    })
  }

  private close(batch: Batch): void {
    if (this.forming === batch) this.forming = undefined
    void this.commit(batch.writes)
  }

  private async commit(writes: readonly PendingWrite[]): Promise<void> {
    if (writes.length === 1) {
      const only = writes[0]!
      this.inner.write(only.command).then(only.resolve, only.reject)
      return
    }
    const compares: TxnCompare[] = []
    for (const { command } of writes) {
      if (command.ifModRevision !== undefined) compares.push({ key: command.key, modRevision: command.ifModRevision })
    }
    const success = writes.map(({ command }) => (command.op === 'put' ? { op: 'put' as const, key: command.key, value: command.value } : { op: 'delete' as const, key: command.key }))
    let result: StoreResult
    try {
      result = await this.inner.write({ op: 'txn', compares, success, failure: [] })
    } catch {
      // Refused as a whole (the fence moved, the command was too large): each write goes alone
      // below and meets its own fate, the same error included.
      result = { ok: false, reason: 'conflict', currentModRevision: 0, revision: 0 }
    }
    if (result.ok && 'succeeded' in result && result.succeeded) {
      this.stats.transactions++
      this.stats.coalescedWrites += writes.length
      writes.forEach((write, index) => {
        const previous = result.results[index]?.previous
        write.resolve(previous === undefined ? { ok: true, revision: result.revision } : { ok: true, revision: result.revision, previous })
      })
      return
    }
    // Some precondition failed, or the store refused the transaction as a whole: nothing changed.
    // Every write goes again alone, so only those whose own precondition fails see a conflict.
    this.stats.fallbacks++
    for (const write of writes) this.inner.write(write.command).then(write.resolve, write.reject)
  }
}
