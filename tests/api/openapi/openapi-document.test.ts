// Goal: the OpenAPI protobuf is a well-formed gnostic openapi.v2.Document with what kubectl 1.20
// reads from it: for every kind, a PATCH operation carrying x-kubernetes-group-version-kind and
// a dryRun query parameter (kubectl's SupportsDryRun), and a definition tagged with the GVK.
// Method: decode the bytes with an independent reader and walk them with gnostic's field numbers;
// compare with the JSON variant.
import t from 'tap'
import { BUILTIN_RESOURCES } from '../../../node/src/api/discovery/resources.ts'
import { buildOpenApiDocument, buildOpenApiJson, OpenApiDocuments } from '../../../node/src/api/openapi/openapi.ts'
import { definitionName, type SwaggerDocument } from '../../../node/src/api/openapi/swagger.ts'
import { Message } from './protobuf-reader.ts'

// gnostic openapiv2/OpenAPIv2.proto field numbers, written out independently of the encoder.
const F = {
  document: { swagger: 1, info: 2, paths: 8, definitions: 9 },
  info: { title: 1, version: 2 },
  paths: { path: 2 },
  named: { name: 1, value: 2 },
  pathItem: { get: 2, put: 3, post: 4, delete: 5, patch: 8, parameters: 9 },
  operation: { operationId: 5, consumes: 7, parameters: 8, responses: 9, vendorExtension: 13 },
  parametersItem: { parameter: 1 },
  parameter: { body: 1, nonBody: 2 },
  nonBody: { query: 3, path: 4 },
  queryParameter: { in: 2, name: 4, type: 6 },
  schema: { ref: 1, type: 22, vendorExtension: 31 },
  any: { yaml: 2 },
} as const

type Gvk = { group: string; version: string; kind: string }

/** Reads the flat `key: "value"` YAML lines the encoder writes (optionally as a `- ` list item). */
function parseGvkYaml(yaml: string): Gvk[] {
  const items: Array<Record<string, string>> = []
  for (const line of yaml.split('\n').filter((l) => l !== '')) {
    const match = /^(- |  )?([a-z]+): (".*")$/.exec(line)
    if (match === null) throw new Error(`unexpected YAML line ${JSON.stringify(line)}`)
    if (match[1] === '- ' || items.length === 0) items.push({})
    const item = items.at(-1)
    if (item !== undefined) item[match[2] ?? ''] = JSON.parse(match[3] ?? '""') as string
  }
  return items.map((item) => ({ group: item.group ?? '?', version: item.version ?? '?', kind: item.kind ?? '?' }))
}

function vendorExtensions(message: Message, field: number): Map<string, string> {
  return new Map(message.messages(field).map((named) => [named.string(F.named.name), named.message(F.named.value)?.string(F.any.yaml) ?? '']))
}

function queryParameterNames(operation: Message): string[] {
  return operation.messages(F.operation.parameters)
    .map((item) => item.message(F.parametersItem.parameter)?.message(F.parameter.nonBody)?.message(F.nonBody.query)?.string(F.queryParameter.name))
    .filter((name): name is string => name !== undefined)
}

const bytes = buildOpenApiDocument(BUILTIN_RESOURCES)
const doc = new Message(bytes)
const paths = new Map((doc.message(F.document.paths)?.messages(F.paths.path) ?? []).map((named) => [named.string(F.named.name), named.message(F.named.value)]))
const definitions = new Map((doc.message(F.document.definitions)?.messages(1) ?? []).map((named) => [named.string(F.named.name), named.message(F.named.value)]))

t.test('document header', async (t) => {
  t.equal(doc.string(F.document.swagger), '2.0')
  t.equal(doc.message(F.document.info)?.string(F.info.title), 'Kubernetes')
  t.equal(doc.message(F.document.info)?.string(F.info.version), 'v1.20.2')
  t.ok(bytes.byteLength > 10_000 && bytes.byteLength < 1_000_000, `size ${bytes.byteLength} bytes`)
  t.same(buildOpenApiDocument(BUILTIN_RESOURCES), bytes, 'deterministic')
})

/** kubectl's openapi.SupportsDryRun: the first path whose PATCH op carries the GVK decides. */
function supportsDryRun(gvk: Gvk): boolean | 'not found' {
  for (const item of paths.values()) {
    const patch = item?.message(F.pathItem.patch)
    if (patch === undefined) continue
    const yaml = vendorExtensions(patch, F.operation.vendorExtension).get('x-kubernetes-group-version-kind')
    if (yaml === undefined) continue
    const [found] = parseGvkYaml(yaml)
    if (found?.group !== gvk.group || found.version !== gvk.version || found.kind !== gvk.kind) continue
    return queryParameterNames(patch).includes('dryRun')
  }
  return 'not found'
}

t.test('every kind supports dry-run the way kubectl checks it', async (t) => {
  for (const resource of BUILTIN_RESOURCES) {
    t.equal(supportsDryRun(resource), true, `${resource.group}/${resource.version} ${resource.kind}`)
  }
  t.equal(supportsDryRun({ group: 'autoscaling', version: 'v1', kind: 'Scale' }), true, 'Scale')
  t.equal(supportsDryRun({ group: 'apps', version: 'v1', kind: 'Widget' }), 'not found')
})

t.test('paths and operations of a namespaced and a cluster-scoped resource', async (t) => {
  const collection = paths.get('/apis/apps/v1/namespaces/{namespace}/deployments')
  const item = paths.get('/apis/apps/v1/namespaces/{namespace}/deployments/{name}')
  t.ok(collection?.message(F.pathItem.get) && collection.message(F.pathItem.post) && collection.message(F.pathItem.delete), 'GET, POST, DELETE on the collection')
  t.notOk(collection?.message(F.pathItem.patch), 'no PATCH on the collection')
  for (const method of [F.pathItem.get, F.pathItem.put, F.pathItem.patch, F.pathItem.delete]) t.ok(item?.message(method), `item method field ${method}`)
  const patch = item?.message(F.pathItem.patch)
  t.equal(patch?.string(F.operation.operationId), 'patchAppsV1NamespacedDeployment')
  t.same(patch?.strings(F.operation.consumes), ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'])
  t.same(patch && queryParameterNames(patch), ['dryRun', 'fieldManager', 'force'])
  const extensions = patch === undefined ? new Map() : vendorExtensions(patch, F.operation.vendorExtension)
  t.equal(extensions.get('x-kubernetes-action'), '"patch"\n')
  t.equal(extensions.get('x-kubernetes-group-version-kind'), 'group: "apps"\nkind: "Deployment"\nversion: "v1"\n')
  const body = patch?.messages(F.operation.parameters)[0]?.message(F.parametersItem.parameter)?.message(F.parameter.body)
  t.equal(body?.string(2), 'body', 'body parameter name')
  t.equal(body?.message(5)?.string(F.schema.ref), '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch')
  const pathParams = item?.messages(F.pathItem.parameters).map((p) => p.message(F.parametersItem.parameter)?.message(F.parameter.nonBody)?.message(F.nonBody.path)?.string(4)).filter(Boolean)
  t.same(pathParams, ['name', 'namespace'])
  t.ok(paths.get('/apis/apps/v1/deployments')?.message(F.pathItem.get), 'list across namespaces')
  t.ok(paths.get('/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale')?.message(F.pathItem.patch), 'scale PATCH')
  t.equal(
    vendorExtensions(paths.get('/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale')?.message(F.pathItem.patch) ?? doc, F.operation.vendorExtension).get('x-kubernetes-group-version-kind'),
    'group: "autoscaling"\nkind: "Scale"\nversion: "v1"\n',
  )
  // Cluster-scoped: no namespace segment, no all-namespaces path; Namespaces have no deletecollection.
  t.ok(paths.get('/api/v1/namespaces/{name}')?.message(F.pathItem.patch))
  t.notOk(paths.get('/api/v1/namespaces')?.message(F.pathItem.delete))
  t.ok(paths.get('/api/v1/nodes/{name}/status')?.message(F.pathItem.patch))
  t.notOk(paths.has('/api/v1/namespaces/{namespace}/pods/{name}/exec'), 'streaming subresources are left out')
  t.equal(
    vendorExtensions(paths.get('/api/v1/namespaces/{namespace}/configmaps/{name}')?.message(F.pathItem.patch) ?? doc, F.operation.vendorExtension).get('x-kubernetes-group-version-kind'),
    'group: ""\nkind: "ConfigMap"\nversion: "v1"\n',
  )
})

t.test('definitions: one per kind, none tagged with a GVK', async (t) => {
  // A GVK tag would make kubectl use the schema-less definition as the kind's model: no useful
  // validation, and a warning on every re-apply (see swagger.ts and kubectl-e2e.test.ts).
  for (const resource of BUILTIN_RESOURCES) {
    for (const kind of [resource.kind, `${resource.kind}List`]) {
      const name = definitionName(resource.group, resource.version, kind)
      const schema = definitions.get(name)
      t.same(schema?.message(F.schema.type)?.strings(1), ['object'], `${name} type`)
    }
  }
  for (const [name, schema] of definitions) {
    t.notOk(schema && vendorExtensions(schema, F.schema.vendorExtension).has('x-kubernetes-group-version-kind'), `${name} untagged`)
  }
  t.ok(definitions.has('io.k8s.api.core.v1.Event') && definitions.has('io.k8s.api.events.v1.Event'), 'both Event kinds')
  t.ok(definitions.has('io.k8s.api.coordination.v1.Lease'))
  t.ok(definitions.has('io.k8s.api.autoscaling.v1.Scale'))
  // Every $ref in the paths resolves.
  const refs = new Set<string>()
  const collect = (message: Message, depth: number): void => {
    for (const field of message.fields) {
      if (field.wireType !== 2) continue
      const text = Buffer.from(field.bytes).toString('utf8')
      if (field.number === F.schema.ref && text.startsWith('#/definitions/')) refs.add(text.slice('#/definitions/'.length))
      else if (depth < 12) {
        try {
          collect(new Message(field.bytes), depth + 1)
        } catch {
          // a string, not a message
        }
      }
    }
  }
  for (const item of paths.values()) if (item) collect(item, 0)
  t.ok(refs.size > 10, `${refs.size} referenced definitions`)
  for (const ref of refs) t.ok(definitions.has(ref), `$ref ${ref} resolves`)
})

t.test('the JSON variant is the same document', async (t) => {
  const json = JSON.parse(buildOpenApiJson(BUILTIN_RESOURCES)) as SwaggerDocument
  t.equal(json.swagger, '2.0')
  t.same(Object.keys(json.paths), [...paths.keys()])
  t.same(Object.keys(json.definitions), [...definitions.keys()])
  t.same(json.paths['/api/v1/namespaces/{namespace}/pods/{name}']?.patch?.['x-kubernetes-group-version-kind'], { group: '', kind: 'Pod', version: 'v1' })
  t.ok(json.paths['/api/v1/namespaces/{namespace}/pods/{name}']?.patch?.parameters.some((p) => p.in === 'query' && p.name === 'dryRun'))
})

t.test('content negotiation', async (t) => {
  const documents = new OpenApiDocuments(BUILTIN_RESOURCES)
  const kubectl = documents.select('application/com.github.proto-openapi.spec.v2@v1.0+protobuf')
  t.equal(kubectl.contentType, 'application/octet-stream')
  t.same(kubectl.body, bytes)
  t.equal(documents.select('application/json').contentType, 'application/json')
  t.equal(documents.select(undefined).contentType, 'application/json')
  t.match(kubectl.etag, /^"[0-9a-f]{32}"$/)
  t.not(kubectl.etag, documents.json.etag)
})
