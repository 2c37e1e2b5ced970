/**
 * Request bodies: reading them within the size limit, and decoding JSON or YAML into the object a
 * write carries.
 *
 * Every failure here happens before anything is written, so a request with a bad body changes
 * nothing:
 * - larger than BODY_BYTES_MAX: 413 RequestEntityTooLarge, decided from Content-Length before
 *   reading when the client declares it, and while streaming otherwise (chunked bodies);
 * - not valid UTF-8, JSON or YAML, empty, several YAML documents, or not an object: 400 BadRequest
 *   with the parser's message;
 * - nested deeper than NESTING_DEPTH_MAX: 400 BadRequest (see the constant); YAML bodies already
 *   some hundreds of levels down, where the YAML parser runs out of stack;
 * - a Content-Type that is neither JSON nor YAML: 415 UnsupportedMediaType;
 * - `apiVersion` or `kind` in the body that disagree with the URL: 400, worded as kube-apiserver
 *   words it.
 *
 * A missing Content-Type means JSON: kubectl 1.20 sends none on `create namespace` and on PUT to
 * `/scale` (research/k8s-api.md §0).
 */
import type { IncomingMessage } from 'node:http'
import { parseAllDocuments } from 'yaml'
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { badRequest, requestEntityTooLarge, unsupportedMediaType } from '../machinery/status.ts'

/** Request bodies larger than this are refused with 413 (kube-apiserver's limit is 3 MiB too). */
export const BODY_BYTES_MAX = 3 * 1024 * 1024

/** YAML aliases a body may expand; bounds the "billion laughs" blow-up of a small document. */
const YAML_ALIASES_MAX = 100

/**
 * The deepest nesting of objects and lists a body (or a patched object) may have; `{}` is 1.
 *
 * Kubernetes' JSON decoder stops at 10,000, but our helpers over objects (canonical JSON, field
 * sets, merges, JSON.stringify itself) recurse once or twice per level, and the first of them
 * overflows the stack near 2,800 levels (measured on Node 24 with the default stack: server-side
 * apply over an object that has managedFields). 1,000 keeps well clear of that, and real objects
 * are a few dozen levels deep (a CRD's OpenAPI schema, the deepest common case, stays below 100).
 * A deeper body would otherwise end as a 500 from a stack overflow.
 */
export const NESTING_DEPTH_MAX = 1000

/** The encodings a create or update body may use. */
export type BodyFormat = 'json' | 'yaml'

const JSON_MEDIA_TYPES = new Set(['', 'application/json', '*/*'])
const YAML_MEDIA_TYPES = new Set(['application/yaml', 'application/x-yaml', 'text/yaml'])

/** The media type of a Content-Type header, lower case, without parameters (`''` when absent). */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

/**
 * The format of a create or update body from its Content-Type.
 * @throws ApiError 415 for anything but JSON (or no Content-Type) and YAML.
 */
export function objectBodyFormat(contentType: string | undefined): BodyFormat {
  const mediaType = mediaTypeOf(contentType)
  if (JSON_MEDIA_TYPES.has(mediaType)) return 'json'
  if (YAML_MEDIA_TYPES.has(mediaType)) return 'yaml'
  throw unsupportedMediaType(['application/json', 'application/yaml'])
}

function tooLarge(limitBytes: number): Error {
  return requestEntityTooLarge(`limit is ${limitBytes}`)
}

/**
 * The body as text. Refuses a declared Content-Length over `limitBytes` without reading, and stops
 * reading (pausing the request) as soon as a streamed body passes it.
 * @throws ApiError 413 when too large, 400 when the bytes are not UTF-8 or the client went away.
 */
export function readBodyText(request: IncomingMessage, limitBytes: number = BODY_BYTES_MAX): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const declared = request.headers['content-length']
    if (declared !== undefined && Number(declared) > limitBytes) {
      reject(tooLarge(limitBytes))
      return
    }
    const chunks: Buffer[] = []
    let totalBytes = 0
    const finish = (outcome: () => void): void => {
      request.off('data', onData)
      request.off('end', onEnd)
      request.off('error', onError)
      request.off('close', onClose)
      outcome()
    }
    const onData = (chunk: Buffer): void => {
      totalBytes += chunk.byteLength
      if (totalBytes > limitBytes) {
        // Stop here: the rest is never buffered, and the error response closes the connection.
        request.pause()
        finish(() => reject(tooLarge(limitBytes)))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void =>
      finish(() => {
        try {
          resolve(decodeUtf8(Buffer.concat(chunks)))
        } catch (error) {
          reject(error)
        }
      })
    const onError = (error: Error): void => finish(() => reject(badRequest(`the request body could not be read: ${error.message}`)))
    const onClose = (): void => finish(() => reject(badRequest('the client closed the connection before sending the whole request body')))
    request.on('data', onData)
    request.on('end', onEnd)
    request.on('error', onError)
    request.on('close', onClose)
  })
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw badRequest('the request body is not valid UTF-8')
  }
}

/**
 * Any JSON value from JSON or YAML text (patch bodies may be arrays). YAML is parsed with the
 * library's safe defaults (YAML 1.2 core schema: no custom tags, no timestamps, unique keys,
 * bounded aliases) and must hold exactly one document.
 * @throws ApiError 400 with the parser's message.
 */
export function decodeBody(text: string, format: BodyFormat): JsonValue {
  if (text.trim() === '') throw badRequest('the request body is empty')
  const value = format === 'json' ? decodeJson(text) : decodeYaml(text)
  checkNestingDepth(value, 'the request body')
  return value
}

/**
 * The nesting depth of `value` (a scalar is 0, `{}` and `[]` are 1), counted without recursion;
 * it stops counting past `limit` and returns `limit + 1` then.
 */
export function nestingDepthOf(value: JsonValue, limit: number = NESTING_DEPTH_MAX): number {
  let deepest = 0
  const pending: Array<{ readonly value: JsonValue; readonly depth: number }> = [{ value, depth: 0 }]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.value === null || typeof next.value !== 'object') continue
    const depth = next.depth + 1
    if (depth > limit) return limit + 1
    deepest = Math.max(deepest, depth)
    const children = Array.isArray(next.value) ? next.value : Object.values(next.value)
    for (const child of children) pending.push({ value: child, depth })
  }
  return deepest
}

/**
 * How much deeper than the rest of an object its `metadata.managedFields` may go: a FieldsV1
 * mirrors the fields it owns, four levels below the object's root (metadata, the list, the entry,
 * fieldsV1), so an object at the limit has managedFields just past it.
 */
const MANAGED_FIELDS_DEPTH_ALLOWANCE = 4

/**
 * Refuses a value nested deeper than NESTING_DEPTH_MAX (its `metadata.managedFields` within
 * MANAGED_FIELDS_DEPTH_ALLOWANCE more); `what` names it in the message.
 * @throws ApiError 400.
 */
export function checkNestingDepth(value: JsonValue, what: string): void {
  const tooDeep = (): Error => badRequest(`${what} is nested more than ${NESTING_DEPTH_MAX} levels deep, the most this server accepts`)
  const metadata = isJsonObject(value) ? value['metadata'] : undefined
  if (!isJsonObject(metadata) || metadata['managedFields'] === undefined) {
    if (nestingDepthOf(value) > NESTING_DEPTH_MAX) throw tooDeep()
    return
  }
  const { managedFields, ...otherMetadata } = metadata
  // managedFields sits two levels down (the object, its metadata).
  const managedFieldsDepthMax = NESTING_DEPTH_MAX - 2 + MANAGED_FIELDS_DEPTH_ALLOWANCE
  if (nestingDepthOf(managedFields as JsonValue, managedFieldsDepthMax) > managedFieldsDepthMax) throw tooDeep()
  if (nestingDepthOf({ ...(value as JsonObject), metadata: otherMetadata }) > NESTING_DEPTH_MAX) throw tooDeep()
}

function decodeJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue
  } catch (error) {
    throw badRequest(`the request body is not valid JSON: ${(error as Error).message}`)
  }
}

/**
 * The YAML parser recurses once or more per level and reports running out of stack as a parse
 * error, some hundreds of levels down (before NESTING_DEPTH_MAX): such a body is too deep for
 * YAML here, whatever it holds, and is refused as that.
 */
function yamlFailure(message: string): Error {
  if (/Maximum call stack size exceeded/.test(message)) return badRequest('the request body is nested more deeply than this server can parse as YAML')
  return badRequest(`the request body is not valid YAML: ${message}`)
}

function decodeYaml(text: string): JsonValue {
  let documents: ReturnType<typeof parseAllDocuments>
  try {
    documents = parseAllDocuments(text)
  } catch (error) {
    throw yamlFailure((error as Error).message)
  }
  if (documents.length !== 1) throw badRequest(`the request body must hold exactly one YAML document, found ${documents.length}`)
  const document = documents[0]!
  const error = document.errors[0]
  if (error !== undefined) throw yamlFailure(error.message)
  let value: unknown
  try {
    value = document.toJS({ maxAliasCount: YAML_ALIASES_MAX })
    // A JSON round trip turns what YAML has beyond JSON (Infinity, NaN) into what JSON has (null).
    return JSON.parse(JSON.stringify(value) ?? 'null') as JsonValue
  } catch (conversionError) {
    throw yamlFailure((conversionError as Error).message)
  }
}

/**
 * The object in a create or update body.
 * @throws ApiError 400 unless the body decodes to a JSON object.
 */
export function decodeObjectBody(text: string, format: BodyFormat): JsonObject {
  const value = decodeBody(text, format)
  if (!isJsonObject(value)) throw badRequest(`the request body must be an object, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`)
  return value
}

/** Reads and decodes the object of a POST or PUT, in the format its Content-Type names. */
export async function readObjectBody(request: IncomingMessage): Promise<JsonObject> {
  const format = objectBodyFormat(request.headers['content-type'])
  return decodeObjectBody(await readBodyText(request), format)
}

/**
 * Checks `apiVersion` and `kind` of a body against what the URL serves; absent ones are fine (the
 * URL decides). Mirrors kube-apiserver's decoding errors.
 * @throws ApiError 400 on a mismatch.
 */
export function checkTypeMeta(body: JsonObject, expected: { readonly apiVersion: string; readonly kind: string }): void {
  const apiVersion = body['apiVersion']
  if (apiVersion !== undefined && apiVersion !== null && apiVersion !== '' && apiVersion !== expected.apiVersion) {
    throw badRequest(`the API version in the data (${String(apiVersion)}) does not match the expected API version (${expected.apiVersion})`)
  }
  const kind = body['kind']
  if (kind !== undefined && kind !== null && kind !== '' && kind !== expected.kind) {
    throw badRequest(`the kind in the data (${String(kind)}) does not match the expected kind (${expected.kind})`)
  }
}
