/**
 * Encodes a SwaggerDocument (swagger.ts) as a gnostic `openapi.v2.Document` protobuf: the body
 * kubectl 1.20 and helm 3.8 expect from `GET /openapi/v2` (they send
 * `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and accept nothing else;
 * serve it as `application/octet-stream`, see openApiVariant in openapi.ts).
 *
 * Field numbers are those of gnostic's `openapiv2/OpenAPIv2.proto` (github.com/google/gnostic,
 * formerly googleapis/gnostic; package openapi.v2). Only the fields swagger.ts produces are
 * encoded. Vendor extensions (`x-…` keys) become `NamedAny{name, Any{yaml}}` with the value as
 * YAML text, which is how kube-openapi reads them (yaml.Unmarshal of `Any.yaml`).
 */
import { ProtobufWriter } from './protobuf-writer.ts'
import type { SwaggerDocument, SwaggerOperation, SwaggerParameter, SwaggerPathItem, SwaggerResponse, SwaggerSchema } from './swagger.ts'

/** message Document: swagger = 1, info = 2, paths = 8, definitions = 9. */
const DOCUMENT = { swagger: 1, info: 2, paths: 8, definitions: 9 } as const
/** message Info: title = 1, version = 2. */
const INFO = { title: 1, version: 2 } as const
/** message Paths: vendor_extension = 1, path = 2 (repeated NamedPathItem). */
const PATHS = { path: 2 } as const
/** message Definitions: additional_properties = 1 (repeated NamedSchema). */
const DEFINITIONS = { additionalProperties: 1 } as const
/** messages NamedPathItem, NamedSchema, NamedAny, NamedResponseValue: name = 1, value = 2. */
const NAMED = { name: 1, value: 2 } as const
/** message PathItem: get = 2, put = 3, post = 4, delete = 5, patch = 8, parameters = 9. */
const PATH_ITEM = { get: 2, put: 3, post: 4, delete: 5, patch: 8, parameters: 9 } as const
/**
 * message Operation: tags = 1, description = 3, operation_id = 5, produces = 6, consumes = 7,
 * parameters = 8 (repeated ParametersItem), responses = 9, schemes = 10, vendor_extension = 13.
 */
const OPERATION = { tags: 1, description: 3, operationId: 5, produces: 6, consumes: 7, parameters: 8, responses: 9, schemes: 10, vendorExtension: 13 } as const
/** message ParametersItem: oneof { Parameter parameter = 1; JsonReference json_reference = 2 }. */
const PARAMETERS_ITEM = { parameter: 1 } as const
/** message Parameter: oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2 }. */
const PARAMETER = { bodyParameter: 1, nonBodyParameter: 2 } as const
/** message BodyParameter: description = 1, name = 2, in = 3, required = 4, schema = 5. */
const BODY_PARAMETER = { description: 1, name: 2, in: 3, required: 4, schema: 5 } as const
/** message NonBodyParameter: oneof { header = 1, form_data = 2, query_parameter_sub_schema = 3, path_parameter_sub_schema = 4 }. */
const NON_BODY_PARAMETER = { query: 3, path: 4 } as const
/** message QueryParameterSubSchema: required = 1, in = 2, description = 3, name = 4, type = 6, unique_items = 20. */
const QUERY_PARAMETER = { required: 1, in: 2, description: 3, name: 4, type: 6, uniqueItems: 20 } as const
/** message PathParameterSubSchema: required = 1, in = 2, description = 3, name = 4, type = 5, unique_items = 19. */
const PATH_PARAMETER = { required: 1, in: 2, description: 3, name: 4, type: 5, uniqueItems: 19 } as const
/** message Responses: response_code = 1 (repeated NamedResponseValue). */
const RESPONSES = { responseCode: 1 } as const
/** message ResponseValue: oneof { Response response = 1; JsonReference json_reference = 2 }. */
const RESPONSE_VALUE = { response: 1 } as const
/** message Response: description = 1, schema = 2 (SchemaItem). */
const RESPONSE = { description: 1, schema: 2 } as const
/** message SchemaItem: oneof { Schema schema = 1; FileSchema file_schema = 2 }. */
const SCHEMA_ITEM = { schema: 1 } as const
/** message Schema: _ref = 1, description = 4, type = 22 (TypeItem), items = 23 (ItemsItem), vendor_extension = 31. */
const SCHEMA = { ref: 1, description: 4, type: 22, items: 23, vendorExtension: 31 } as const
/** messages TypeItem (repeated string value = 1) and ItemsItem (repeated Schema schema = 1). */
const TYPE_ITEM = { value: 1 } as const
const ITEMS_ITEM = { schema: 1 } as const
/** message Any: value = 1 (google.protobuf.Any), yaml = 2. */
const ANY = { yaml: 2 } as const

/** The protobuf encoding of `doc`. */
export function encodeOpenApiDocument(doc: SwaggerDocument): Uint8Array {
  const writer = new ProtobufWriter()
  writer.string(DOCUMENT.swagger, doc.swagger)
  writer.message(DOCUMENT.info, (info) => info.string(INFO.title, doc.info.title).string(INFO.version, doc.info.version))
  writer.message(DOCUMENT.paths, (paths) => {
    for (const [name, item] of Object.entries(doc.paths)) {
      paths.message(PATHS.path, (named) => named.string(NAMED.name, name).message(NAMED.value, (value) => writePathItem(value, item)))
    }
  })
  writer.message(DOCUMENT.definitions, (definitions) => {
    for (const [name, schema] of Object.entries(doc.definitions)) {
      definitions.message(DEFINITIONS.additionalProperties, (named) => named.string(NAMED.name, name).message(NAMED.value, (value) => writeSchema(value, schema)))
    }
  })
  return writer.finish()
}

function writePathItem(writer: ProtobufWriter, item: SwaggerPathItem): void {
  const methods = [['get', PATH_ITEM.get], ['put', PATH_ITEM.put], ['post', PATH_ITEM.post], ['delete', PATH_ITEM.delete], ['patch', PATH_ITEM.patch]] as const
  for (const [method, field] of methods) {
    const op = item[method]
    if (op !== undefined) writer.message(field, (w) => writeOperation(w, op))
  }
  for (const parameter of item.parameters ?? []) writer.message(PATH_ITEM.parameters, (w) => writeParametersItem(w, parameter))
}

function writeOperation(writer: ProtobufWriter, op: SwaggerOperation): void {
  writer.strings(OPERATION.tags, op.tags)
  writer.string(OPERATION.description, op.description)
  writer.string(OPERATION.operationId, op.operationId)
  writer.strings(OPERATION.produces, op.produces)
  writer.strings(OPERATION.consumes, op.consumes)
  for (const parameter of op.parameters) writer.message(OPERATION.parameters, (w) => writeParametersItem(w, parameter))
  writer.message(OPERATION.responses, (responses) => {
    for (const [code, response] of Object.entries(op.responses)) {
      responses.message(RESPONSES.responseCode, (named) => named.string(NAMED.name, code).message(NAMED.value, (value) => value.message(RESPONSE_VALUE.response, (w) => writeResponse(w, response))))
    }
  })
  writer.strings(OPERATION.schemes, op.schemes)
  writeVendorExtensions(writer, OPERATION.vendorExtension, op)
}

function writeResponse(writer: ProtobufWriter, response: SwaggerResponse): void {
  writer.string(RESPONSE.description, response.description)
  const schema = response.schema
  if (schema !== undefined) writer.message(RESPONSE.schema, (item) => item.message(SCHEMA_ITEM.schema, (w) => writeSchema(w, schema)))
}

function writeParametersItem(writer: ProtobufWriter, parameter: SwaggerParameter): void {
  writer.message(PARAMETERS_ITEM.parameter, (w) => {
    const schema = parameter.schema
    if (parameter.in === 'body') {
      w.message(PARAMETER.bodyParameter, (body) => {
        body.string(BODY_PARAMETER.description, parameter.description ?? '')
        body.string(BODY_PARAMETER.name, parameter.name)
        body.string(BODY_PARAMETER.in, parameter.in)
        body.bool(BODY_PARAMETER.required, parameter.required ?? false)
        if (schema !== undefined) body.message(BODY_PARAMETER.schema, (s) => writeSchema(s, schema))
      })
      return
    }
    const fields = parameter.in === 'query' ? QUERY_PARAMETER : PATH_PARAMETER
    w.message(PARAMETER.nonBodyParameter, (nonBody) => {
      nonBody.message(parameter.in === 'query' ? NON_BODY_PARAMETER.query : NON_BODY_PARAMETER.path, (sub) => {
        sub.bool(fields.required, parameter.required ?? false)
        sub.string(fields.in, parameter.in)
        sub.string(fields.description, parameter.description ?? '')
        sub.string(fields.name, parameter.name)
        sub.string(fields.type, parameter.type ?? '')
        sub.bool(fields.uniqueItems, parameter.uniqueItems ?? false)
      })
    })
  })
}

function writeSchema(writer: ProtobufWriter, schema: SwaggerSchema): void {
  writer.string(SCHEMA.ref, schema.$ref ?? '')
  writer.string(SCHEMA.description, schema.description ?? '')
  const type = schema.type
  if (type !== undefined) writer.message(SCHEMA.type, (w) => w.strings(TYPE_ITEM.value, [type]))
  const items = schema.items
  if (items !== undefined) writer.message(SCHEMA.items, (w) => w.message(ITEMS_ITEM.schema, (s) => writeSchema(s, items)))
  writeVendorExtensions(writer, SCHEMA.vendorExtension, schema)
}

/** Every `x-…` key of `object`, in key order, as repeated NamedAny{name, Any{yaml}}. */
function writeVendorExtensions(writer: ProtobufWriter, fieldNumber: number, object: object): void {
  for (const [name, value] of Object.entries(object)) {
    if (!name.startsWith('x-') || value === undefined) continue
    writer.message(fieldNumber, (named) => named.string(NAMED.name, name).message(NAMED.value, (any) => any.string(ANY.yaml, toYaml(value))))
  }
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/**
 * Block-style YAML for a JSON value (what gnostic writes into `Any.yaml`). Strings are
 * double-quoted JSON strings, which YAML reads back unchanged.
 */
export function toYaml(value: unknown): string {
  return isScalar(value) ? `${scalar(value)}\n` : block(value as Json, '')
}

function isScalar(value: unknown): boolean {
  return value === null || typeof value !== 'object' || (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0)
}

function scalar(value: unknown): string {
  if (Array.isArray(value)) return '[]'
  if (value !== null && typeof value === 'object') return '{}'
  return JSON.stringify(value)
}

function yamlKey(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_./-]*$/.test(key) && !/^(true|false|null|yes|no|on|off|y|n|~)$/i.test(key) ? key : JSON.stringify(key)
}

function block(value: Json, indent: string): string {
  let out = ''
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isScalar(item)) out += `${indent}- ${scalar(item)}\n`
      else out += `${indent}- ${block(item, `${indent}  `).slice(indent.length + 2)}`
    }
    return out
  }
  for (const [key, item] of Object.entries(value as { [key: string]: Json })) {
    if (isScalar(item)) out += `${indent}${yamlKey(key)}: ${scalar(item)}\n`
    else out += `${indent}${yamlKey(key)}:\n${block(item, `${indent}  `)}`
  }
  return out
}
