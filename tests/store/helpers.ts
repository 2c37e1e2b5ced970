/**
 * Shared helpers for the store tests: apply commands the way RaftNode does (an index counter, a
 * batch per entry, a leader stamp), record watch deliveries, and poll with a deadline.
 */
import { encodeCommand, type ResultOf, type StoreCommand } from '../../node/src/store/commands.ts'
import type { BatchOperation } from '../../node/src/raft-node.ts'
import type { RevisionedStore } from '../../node/src/store/revisioned-store.ts'
import type { StoreEvent, WatchFilter } from '../../node/src/store/watch-hub.ts'
import { waitFor as waitForCondition } from '../../lib/poll.ts'

export const encoder = new TextEncoder()
export const decoder = new TextDecoder()

export function bytes(text: string): Uint8Array {
  return encoder.encode(text)
}

export function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : decoder.decode(value)
}

/** Applies commands to a store as committed entries, stamping times that advance 1 s per entry. */
export class Applier {
  readonly store: RevisionedStore
  index = 0
  timeMs: number
  /** Every batch operation pushed so far, in order. */
  readonly operations: BatchOperation[] = []

  constructor(store: RevisionedStore, startTimeMs = 1_700_000_000_000) {
    this.store = store
    this.timeMs = startTimeMs
  }

  apply<C extends StoreCommand>(command: C, timeMs = (this.timeMs += 1000)): ResultOf<C> {
    return this.applyBytes(encodeCommand(command), timeMs) as ResultOf<C>
  }

  applyBytes(data: Uint8Array, timeMs = (this.timeMs += 1000)): unknown {
    const batch: BatchOperation[] = []
    const result = this.store.apply(data, ++this.index, timeMs, batch)
    this.operations.push(...batch)
    return result
  }

  put(key: string, value: string, ifModRevision?: number): ResultOf<{ op: 'put'; key: string; value: Uint8Array }> {
    const command = ifModRevision === undefined ? { op: 'put' as const, key, value: bytes(value) } : { op: 'put' as const, key, value: bytes(value), ifModRevision }
    return this.apply(command)
  }
}

/** Collects what one watch delivers. */
export class Recorder {
  readonly events: StoreEvent[] = []
  readonly errors: Error[] = []
  cancel: () => void = () => {}

  static watch(store: RevisionedStore, filter: WatchFilter, fromRevision?: number): Recorder {
    const recorder = new Recorder()
    recorder.cancel = store.watch({
      ...filter,
      ...(fromRevision !== undefined ? { fromRevision } : {}),
      onEvent: (event) => {
        recorder.events.push(event)
      },
      onError: (error) => {
        recorder.errors.push(error)
      },
    })
    return recorder
  }
}

/** Polls `probe` every few milliseconds until it returns a value other than undefined. */
export function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  return waitForCondition(what, timeoutMs, probe, 2)
}

/** Lets every queued microtask and immediate run (watch delivery is asynchronous). */
export async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
}
