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
  return format === 'json' ? decodeJson(text) : decodeYaml(text)
}

function decodeJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue
  } catch (error) {
    throw badRequest(`the request body is not valid JSON: ${(error as Error).message}`)
  }
}

function decodeYaml(text: string): JsonValue {
  const documents = parseAllDocuments(text)
  if (documents.length !== 1) throw badRequest(`the request body must hold exactly one YAML document, found ${documents.length}`)
  const document = documents[0]!
  const error = document.errors[0]
  if (error !== undefined) throw badRequest(`the request body is not valid YAML: ${error.message}`)
  let value: unknown
  try {
    value = document.toJS({ maxAliasCount: YAML_ALIASES_MAX })
  } catch (conversionError) {
    throw badRequest(`the request body is not valid YAML: ${(conversionError as Error).message}`)
  }
  // A JSON round trip turns what YAML has beyond JSON (Infinity, NaN) into what JSON has (null).
  return JSON.parse(JSON.stringify(value) ?? 'null') as JsonValue
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
