/**
 * A replicated key-value map: the demo and benchmark state machine for the Raft layer (the full
 * revisioned object store arrives with the daemon). Keys live in LevelDB under `s/kv/` and in a
 * memory mirror for reads.
 */
import { Packr } from 'msgpackr'
import type { LogStoreLevel } from '../../consensus/src/level/log-store-level.ts'
import type { BatchOperation, StateMachine } from './raft-node.ts'

const packr = new Packr({ useRecords: false })
const KEY_PREFIX = 's/kv/'

export type KvCommand = { readonly op: 'put'; readonly key: string; readonly value: Uint8Array } | { readonly op: 'delete'; readonly key: string }

export function encodeKvCommand(command: KvCommand): Uint8Array {
  return packr.pack(command)
}

export class KvStateMachine implements StateMachine {
  private readonly entries = new Map<string, Uint8Array>()

  get(key: string): Uint8Array | undefined {
    return this.entries.get(key)
  }

  size(): number {
    return this.entries.size
  }

  async load(store: LogStoreLevel): Promise<void> {
    this.entries.clear()
    for await (const [key, value] of store.db.iterator({ gte: KEY_PREFIX, lt: `${KEY_PREFIX}\uffff` })) {
      this.entries.set(key.slice(KEY_PREFIX.length), new Uint8Array(value))
    }
  }

  apply(data: Uint8Array, _index: number, _timeMs: number, batch: BatchOperation[]): unknown {
    const command = packr.unpack(data) as KvCommand
    if (command.op === 'put') {
      const value = new Uint8Array(command.value)
      this.entries.set(command.key, value)
      batch.push({ type: 'put', key: KEY_PREFIX + command.key, value })
    } else {
      this.entries.delete(command.key)
      batch.push({ type: 'del', key: KEY_PREFIX + command.key })
    }
    return undefined
  }

  snapshot(): Uint8Array {
    return packr.pack([...this.entries])
  }

  restore(data: Uint8Array, batch: BatchOperation[]): void {
    for (const key of this.entries.keys()) batch.push({ type: 'del', key: KEY_PREFIX + key })
    this.entries.clear()
    for (const [key, value] of packr.unpack(data) as Array<[string, Uint8Array]>) {
      const bytes = new Uint8Array(value)
      this.entries.set(key, bytes)
      batch.push({ type: 'put', key: KEY_PREFIX + key, value: bytes })
    }
  }
}
