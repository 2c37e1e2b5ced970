/**
 * Following a Kubernetes watch for as long as the caller wants, across the stream ends that are
 * part of normal life: the server closing the watch after its timeout, and the node dying (the
 * next stream goes through another node, by the REST client's failover). Each new stream resumes
 * from the last resourceVersion seen, so no event is lost or repeated.
 *
 * An `ERROR` event (for example 410 Expired: the version is older than the server's history) ends
 * the watch with a ServerError; callers that can, re-list and start again.
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import { ServerError, type StatusBody } from './errors.ts'
import { fieldAt, listAt, stringAt } from './object-fields.ts'
import type { RestClient } from './rest-client.ts'

/** One event of a watch stream. */
export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'
  /** The object, or a one-row Table when the watch asked for tables. */
  readonly object: JsonObject
}

export interface WatchOptions {
  /** The collection path. */
  readonly path: string
  /** Selectors and other parameters (watch, resourceVersion and bookmarks are added). */
  readonly query?: Readonly<Record<string, string | undefined>>
  readonly accept?: string
  /** Events after this version (the list's resourceVersion). */
  readonly resourceVersion: string
  /** Ends the watch (closing the open stream) when aborted. */
  readonly signal?: AbortSignal
}

/** A server that closes a fresh watch at once is asked again only after this pause. */
const RECONNECT_PAUSE_MS = 1_000
/** A stream that lasted less than this without delivering anything counts as closed at once. */
const QUICK_CLOSE_MS = 1_000

/**
 * The events of a watch, reconnecting as the module comment describes, until `signal` aborts.
 * @throws ServerError for an ERROR event or a refused watch; ConnectionError when no node answers.
 */
export async function* followWatch(client: RestClient, options: WatchOptions): AsyncGenerator<WatchEvent> {
  let resourceVersion = options.resourceVersion
  const signal = options.signal
  const aborted = (): boolean => signal?.aborted === true
  while (!aborted()) {
    const openedMs = performance.now()
    const stream = await client.stream({
      method: 'GET',
      path: options.path,
      query: { ...options.query, watch: 'true', resourceVersion, allowWatchBookmarks: 'true' },
      ...(options.accept !== undefined ? { accept: options.accept } : {}),
    })
    const abort = (): void => stream.close()
    signal?.addEventListener('abort', abort, { once: true })
    let delivered = false
    try {
      for await (const line of stream.lines()) {
        const event = parseWatchLine(line)
        if (event === undefined) continue
        resourceVersion = resourceVersionOf(event.object) || resourceVersion
        if (event.type === 'BOOKMARK') continue
        delivered = true
        yield event
      }
    } finally {
      signal?.removeEventListener('abort', abort)
      stream.close()
    }
    if (!delivered && performance.now() - openedMs < QUICK_CLOSE_MS && !aborted()) {
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_PAUSE_MS))
    }
  }
}

/**
 * One NDJSON watch line as an event; undefined for lines that are not events.
 * @throws ServerError for `ERROR` events.
 */
export function parseWatchLine(line: string): WatchEvent | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(line)
  } catch {
    return undefined
  }
  if (!isJsonObject(parsed) || !isJsonObject(parsed['object'])) return undefined
  const type = parsed['type']
  if (type === 'ERROR') {
    const status = parsed['object'] as StatusBody
    throw new ServerError(typeof status.code === 'number' ? status.code : 500, status)
  }
  if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'BOOKMARK') return undefined
  return { type, object: parsed['object'] }
}

/** The resourceVersion an event carries: the object's, or a Table row object's. */
export function resourceVersionOf(object: JsonObject): string {
  if (object['kind'] === 'Table') {
    const row = listAt(object, 'rows')[0]
    return stringAt(fieldAt(row, 'object'), ['metadata', 'resourceVersion']) || stringAt(object, ['metadata', 'resourceVersion'])
  }
  return stringAt(object, ['metadata', 'resourceVersion'])
}
