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
