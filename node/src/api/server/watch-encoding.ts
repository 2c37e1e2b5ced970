/**
 * The wire lines of watch events, encoded once and shared by every watch stream that sends them.
 *
 * A write to a collection with a thousand open watches is one store event for a thousand
 * streams. Each stream used to JSON-encode (and, for `kubectl get -w`, Table-convert) the object
 * itself; now the first stream to send an event encodes it, and the others reuse the text. The
 * cache is keyed by the object itself (shared watches get one decoded object per store event,
 * object-store.ts) and by the representation: event type, JSON or Table (with includeObject and
 * the Table's resourceVersion). Entries live as long as their object: a WeakMap, so the cache
 * needs no bound of its own.
 */
import type { JsonObject } from '../machinery/canonical.ts'
import { tableOf, type TableRequest } from './responses.ts'

/** How a stream sends objects: as they are, or as one-row Tables of `kind`. */
export type WatchRepresentation =
  | { readonly table: undefined }
  | { readonly table: TableRequest; readonly kind: string; readonly resourceVersion: string }

export class WatchEventEncoder {
  private readonly lines = new WeakMap<JsonObject, Map<string, string>>()
  private encodings = 0
  private reuses = 0

  /** The event's line (JSON and a newline) for `object` in `representation`. */
  encode(type: string, object: JsonObject, representation: WatchRepresentation): string {
    const key = representation.table === undefined ? `${type} json` : `${type} table ${representation.table.includeObject} ${representation.resourceVersion}`
    let byRepresentation = this.lines.get(object)
    const cached = byRepresentation?.get(key)
    if (cached !== undefined) {
      this.reuses++
      return cached
    }
    this.encodings++
    const body = representation.table === undefined ? object : tableOf(representation.kind, [object], representation.resourceVersion, representation.table)
    const line = `${JSON.stringify({ type, object: body })}\n`
    if (byRepresentation === undefined) {
      byRepresentation = new Map()
      this.lines.set(object, byRepresentation)
    }
    byRepresentation.set(key, line)
    return line
  }

  /** How many lines were encoded, and how many times an encoded line was reused (for tests). */
  stats(): { readonly encodings: number; readonly reuses: number } {
    return { encodings: this.encodings, reuses: this.reuses }
  }
}
