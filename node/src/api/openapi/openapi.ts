/**
 * `GET /openapi/v2`: the protobuf kubectl and helm need, and JSON for everyone else.
 *
 * kubectl 1.20 and helm 3.8 send `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
 * and only accept the gnostic protobuf; the response Content-Type must be
 * `application/octet-stream`, because Go's mime parser rejects the `@` in the spec's own media
 * type ("mime: unexpected content after media subtype"). On a 404 they retry
 * `GET /swagger-2.0.0.pb-v1`, which can be served the same way.
 */
import { createHash } from 'node:crypto'
import type { ResourceDefinition } from '../discovery/resources.ts'
import { encodeOpenApiDocument } from './gnostic.ts'
import { buildOpenApiSpec } from './swagger.ts'

/** The gnostic `openapi.v2.Document` protobuf for `resources`. */
export function buildOpenApiDocument(resources: readonly ResourceDefinition[]): Uint8Array {
  return encodeOpenApiDocument(buildOpenApiSpec(resources))
}

/** The same document as Swagger 2.0 JSON text. */
export function buildOpenApiJson(resources: readonly ResourceDefinition[]): string {
  return JSON.stringify(buildOpenApiSpec(resources))
}

/** One servable representation of the OpenAPI document. */
export interface OpenApiBody {
  readonly contentType: 'application/octet-stream' | 'application/json'
  readonly body: Uint8Array
  /** A strong ETag (quoted), for If-None-Match. */
  readonly etag: string
}

/** Both representations, built once (the document only changes with the resource set). */
export class OpenApiDocuments {
  readonly protobuf: OpenApiBody
  readonly json: OpenApiBody

  constructor(resources: readonly ResourceDefinition[]) {
    this.protobuf = body('application/octet-stream', buildOpenApiDocument(resources))
    this.json = body('application/json', new TextEncoder().encode(buildOpenApiJson(resources)))
  }

  /**
   * The representation for an Accept header: protobuf when the client asks for any protobuf
   * type (kubectl, helm), JSON otherwise (including no Accept header).
   */
  select(accept: string | undefined): OpenApiBody {
    return accept !== undefined && /protobuf/i.test(accept) ? this.protobuf : this.json
  }
}

function body(contentType: OpenApiBody['contentType'], bytes: Uint8Array): OpenApiBody {
  return { contentType, body: bytes, etag: `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"` }
}
