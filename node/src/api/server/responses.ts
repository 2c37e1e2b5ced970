/**
 * Writing responses: JSON bodies, and the Table form `kubectl get` asks for with
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…` (server-side printing).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JsonObject } from '../machinery/canonical.ts'
import { badRequest } from '../machinery/status.ts'
import { buildTable, parseIncludeObject, type IncludeObject } from './table-columns.ts'

/** Sends `body` as JSON with the status code. */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  response.end(text)
}

/**
 * How much of a refused body is read and thrown away before the connection closes anyway: enough
 * for any client that sent a body just over the 3 MiB limit, bounded so that a client streaming
 * without end cannot hold the connection.
 */
export const REFUSED_BODY_DRAIN_BYTES_MAX = 16 * 1024 * 1024
/** How long the rest of a refused body may take to arrive. */
export const REFUSED_BODY_DRAIN_MS_MAX = 10_000

/**
 * Sends `body` as JSON with the status code for a request whose body has not been read to its end
 * (refused before or while reading it: 413, 415, a bad header), then closes the connection.
 *
 * The answer goes out at once, complete (Content-Length) and with `Connection: close`, but the
 * connection closes only once the client has sent the rest of its body, which is read and
 * discarded meanwhile (at most REFUSED_BODY_DRAIN_BYTES_MAX, for at most
 * REFUSED_BODY_DRAIN_MS_MAX). Closing at once would leave unread bytes in the server's socket, so
 * the kernel would reset the connection, and a client still writing its body would see EPIPE or
 * ECONNRESET and, often over TLS, lose the answer it had not read yet. Go's net/http (and so
 * kube-apiserver) waits the same way before it closes.
 */
export function sendRefusalOfUnreadBody(request: IncomingMessage, response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' })
  response.write(text)
  let drainedBytes = 0
  const close = (): void => {
    clearTimeout(timer)
    request.off('data', onData)
    request.off('end', close)
    request.off('close', close)
    response.end()
  }
  const onData = (chunk: Buffer): void => {
    drainedBytes += chunk.byteLength
    if (drainedBytes > REFUSED_BODY_DRAIN_BYTES_MAX) close()
  }
  const timer = setTimeout(close, REFUSED_BODY_DRAIN_MS_MAX)
  request.on('data', onData)
  request.once('end', close)
  request.once('close', close)
  request.resume()
}

/** How a request wants its objects as a Table; undefined when it wants them as they are. */
export interface TableRequest {
  /** What each row carries besides its cells (the `includeObject` query parameter). */
  readonly includeObject: IncludeObject
}

/**
 * The Table form the request asks for: its Accept header names `as=Table`; `includeObject`
 * says what rows carry.
 * @throws ApiError 400 for an includeObject other than None, Metadata and Object.
 */
export function tableRequestOf(request: IncomingMessage, url: URL): TableRequest | undefined {
  const accept = request.headers.accept
  if (accept === undefined || !/as=Table/.test(accept)) return undefined
  const value = url.searchParams.get('includeObject')
  const includeObject = parseIncludeObject(value)
  if (includeObject === undefined) throw badRequest(`includeObject: Unsupported value: ${JSON.stringify(value)}: supported values: "None", "Metadata", "Object"`)
  return { includeObject }
}

/** The Table of `items` of `kind`, with the columns table-columns.ts defines for the kind. */
export function tableOf(kind: string, items: readonly JsonObject[], resourceVersion: string, table: TableRequest): JsonObject {
  return buildTable(kind, items, resourceVersion, Date.now(), table.includeObject)
}
