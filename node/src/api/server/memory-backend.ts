/**
 * An ObjectBackend over a RevisionedStore in this process, without Raft: every write is applied at
 * once. It is the declared single-process backend for API unit tests, fuzz tests and controller
 * simulations; the daemon wires the same store behind Raft instead.
 */
import type { BatchOperation } from '../../raft-node.ts'
import { encodeCommand, type StoreCommand, type StoreResult } from '../../store/commands.ts'
import { RevisionedStore } from '../../store/revisioned-store.ts'
import type { ObjectBackend } from './object-store.ts'

export class MemoryObjectBackend implements ObjectBackend {
  readonly store: RevisionedStore
  private index = 0
  private readonly nowMs: () => number

  constructor(options: { nowMs?: () => number } = {}) {
    this.store = new RevisionedStore()
    this.nowMs = options.nowMs ?? (() => Date.now())
  }

  async readBarrier(): Promise<void> {}

  get(key: string): ReturnType<ObjectBackend['get']> {
    return this.store.get(key)
  }

  range(prefix: string): ReturnType<ObjectBackend['range']> {
    return this.store.rangeAll(prefix)
  }

  async write(command: StoreCommand): Promise<StoreResult> {
    const batch: BatchOperation[] = []
    this.index += 1
    return this.store.apply(encodeCommand(command), this.index, this.nowMs(), batch)
  }

  watch(request: Parameters<ObjectBackend['watch']>[0]): () => void {
    return this.store.watch(request)
  }
}
