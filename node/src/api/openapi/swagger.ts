/**
 * The OpenAPI (Swagger 2.0) document of the served resources, as a JSON value: the "dry-run"
 * document of research/k8s-api.md §1, which is what stock kubectl 1.20 and helm 3.8 need.
 *
 * - `paths`: for every resource, the collection (GET list, POST create, DELETE deletecollection),
 *   the all-namespaces list of namespaced resources, the item (GET, PUT, PATCH, DELETE) and the
 *   `status`/`scale` subresources (GET, PUT, PATCH), each only for verbs the resource supports.
 *   Every operation carries `x-kubernetes-action` and `x-kubernetes-group-version-kind`, and
 *   writes carry a `dryRun` query parameter. kubectl decides whether a kind supports server-side
 *   dry-run (`kubectl diff`, `apply --server-dry-run`) by finding the first path whose PATCH
 *   operation carries the kind's GVK and checking that operation for a `dryRun` parameter.
 * - `definitions`: one per kind and list kind (`type: object`, named like kube-apiserver's:
 *   `io.k8s.api.apps.v1.Deployment`), so every `$ref` resolves. They deliberately carry **no**
 *   `x-kubernetes-group-version-kind`. kubectl looks a kind's model up by that tag, and with a
 *   model it (a) validates manifests against it and (b) computes apply/diff patches from it
 *   instead of from its compiled-in types. A schema-less `type: object` model validates nothing
 *   and makes (b) fail on every re-apply ("warning: error calculating patch from openapi spec:
 *   expected kind, but got map", verified with kubectl 1.20.2); a model without a type would
 *   silently lose the merge keys (containers by name, …). Untagged, kubectl skips client-side
 *   validation (the server validates) and uses its compiled-in merge keys, which are correct
 *   for built-in kinds. Tag a definition only together with its full schema (kubectl explain).
 *
 * The same value is served as JSON (`Accept: application/json`) and, encoded by gnostic.ts, as
 * the protobuf kubectl asks for.
 */
import { type ResourceDefinition, type Verb } from '../discovery/resources.ts'
import { KUBERNETES_VERSION } from '../discovery/documents.ts'

/** A group-version-kind as the `x-kubernetes-group-version-kind` extension spells it. */
export interface Gvk {
  group: string
  kind: string
  version: string
}

/** A JSON Schema subset: what the document uses. */
export interface SwaggerSchema {
  $ref?: string
  description?: string
  type?: string
  items?: SwaggerSchema
  'x-kubernetes-group-version-kind'?: Gvk[]
}

export interface SwaggerParameter {
  name: string
  in: 'body' | 'query' | 'path'
  description?: string
  required?: boolean
  type?: string
  uniqueItems?: boolean
  schema?: SwaggerSchema
}

export interface SwaggerResponse {
  description: string
  schema?: SwaggerSchema
}

export interface SwaggerOperation {
  description: string
  operationId: string
  tags: string[]
  consumes: string[]
  produces: string[]
  schemes: string[]
  parameters: SwaggerParameter[]
  responses: Record<string, SwaggerResponse>
  'x-kubernetes-action': string
  'x-kubernetes-group-version-kind': Gvk
}

export type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'patch'

export type SwaggerPathItem = { [method in HttpMethod]?: SwaggerOperation } & { parameters?: SwaggerParameter[] }

export interface SwaggerDocument {
  swagger: '2.0'
  info: { title: string; version: string }
  paths: Record<string, SwaggerPathItem>
  definitions: Record<string, SwaggerSchema>
}

const JSON_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']
const WATCH_TYPES = [...JSON_TYPES, 'application/json;stream=watch', 'application/vnd.kubernetes.protobuf;stream=watch']
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml']
const STATUS_DEFINITION = 'io.k8s.apimachinery.pkg.apis.meta.v1.Status'
const DELETE_OPTIONS_DEFINITION = 'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions'
const PATCH_DEFINITION = 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch'

/** `io.k8s.api.apps.v1.Deployment`: kube-apiserver's definition name for a built-in kind. */
export function definitionName(group: string, version: string, kind: string): string {
  // Core is package "core"; "coordination.k8s.io" is package "coordination".
  const pkg = group === '' ? 'core' : (group.split('.')[0] ?? group)
  return `io.k8s.api.${pkg}.${version}.${kind}`
}

function ref(name: string): SwaggerSchema {
  return { $ref: `#/definitions/${name}` }
}

function query(name: string, type: string, description: string): SwaggerParameter {
  return { name, in: 'query', type, uniqueItems: true, description }
}

function pathParameter(name: string, description: string): SwaggerParameter {
  return { name, in: 'path', required: true, type: 'string', uniqueItems: true, description }
}

function body(schema: SwaggerSchema): SwaggerParameter {
  return { name: 'body', in: 'body', required: true, schema }
}

const DRY_RUN = query('dryRun', 'string', 'When present, indicates that modifications should not be persisted. Valid value: All.')
const FIELD_MANAGER = query('fieldManager', 'string', 'A name associated with the actor or entity that is making these changes.')
const FORCE = query('force', 'boolean', 'Force is going to "force" Apply requests. It must be unset for non-apply patch requests.')
const PRETTY = query('pretty', 'string', "If 'true', then the output is pretty printed.")
const LIST_PARAMETERS = [
  query('allowWatchBookmarks', 'boolean', 'Requests watch events with type "BOOKMARK".'),
  query('continue', 'string', 'The continue option from a previous list call, to fetch the next page.'),
  query('fieldSelector', 'string', 'A selector to restrict the list of returned objects by their fields.'),
  query('labelSelector', 'string', 'A selector to restrict the list of returned objects by their labels.'),
  query('limit', 'integer', 'The maximum number of responses to return for a list call.'),
  query('resourceVersion', 'string', 'Which resource version to list or watch from.'),
  query('timeoutSeconds', 'integer', 'Timeout for the list/watch call.'),
  query('watch', 'boolean', 'Watch for changes to the described resources.'),
]
const DELETE_PARAMETERS = [
  body(ref(DELETE_OPTIONS_DEFINITION)),
  DRY_RUN,
  query('gracePeriodSeconds', 'integer', 'The duration in seconds before the object should be deleted.'),
  query('propagationPolicy', 'string', 'Whether and how garbage collection will be performed: Orphan, Background or Foreground.'),
]

/** `CoreV1`, `AppsV1`, `CoordinationV1`, `EventsV1`: the operationId infix. */
function operationGroup(group: string, version: string): string {
  const name = group === '' ? 'core' : (group.split('.')[0] ?? group)
  return name.charAt(0).toUpperCase() + name.slice(1) + version.charAt(0).toUpperCase() + version.slice(1)
}

function pathPrefix(group: string, version: string): string {
  return group === '' ? `/api/${version}` : `/apis/${group}/${version}`
}

interface OperationSpec {
  action: string
  operationId: string
  description: string
  gvk: Gvk
  tag: string
  parameters: SwaggerParameter[]
  responses: Record<string, SwaggerResponse>
  consumes?: string[]
  produces?: string[]
}

function operation(spec: OperationSpec): SwaggerOperation {
  return {
    description: spec.description,
    operationId: spec.operationId,
    tags: [spec.tag],
    consumes: spec.consumes ?? ['*/*'],
    produces: spec.produces ?? JSON_TYPES,
    schemes: ['https'],
    parameters: spec.parameters,
    responses: { ...spec.responses, '401': { description: 'Unauthorized' } },
    'x-kubernetes-action': spec.action,
    'x-kubernetes-group-version-kind': spec.gvk,
  }
}

function ok(schema: SwaggerSchema): SwaggerResponse {
  return { description: 'OK', schema }
}

/** The paths and definitions of one resource, added to `doc`. */
function addResource(doc: SwaggerDocument, resource: ResourceDefinition): void {
  const { group, version, kind, namespaced } = resource
  const has = (verb: Verb): boolean => resource.verbs.includes(verb)
  const gvk: Gvk = { group, kind, version }
  const tag = `${operationGroup(group, version).charAt(0).toLowerCase()}${operationGroup(group, version).slice(1)}`
  const scope = namespaced ? 'Namespaced' : ''
  const opId = (verb: string, suffix = ''): string => `${verb}${operationGroup(group, version)}${scope}${kind}${suffix}`
  const object = definitionName(group, version, kind)
  const list = `${object}List`
  doc.definitions[object] = { description: `${kind} (${group === '' ? 'core' : group}/${version}).`, type: 'object' }
  doc.definitions[list] = { description: `A list of ${kind} objects.`, type: 'object' }

  const base = pathPrefix(group, version)
  const collectionPath = namespaced ? `${base}/namespaces/{namespace}/${resource.name}` : `${base}/${resource.name}`
  const itemPath = `${collectionPath}/{name}`
  const namespaceParameter = pathParameter('namespace', 'object name and auth scope, such as for teams and projects')
  const scopeParameters = namespaced ? [namespaceParameter] : []
  const nameParameter = pathParameter('name', `name of the ${kind}`)

  const collection: SwaggerPathItem = { parameters: [...scopeParameters, PRETTY] }
  if (has('list')) {
    collection.get = operation({
      action: 'list', operationId: opId('list'), description: `list or watch objects of kind ${kind}`, gvk, tag,
      parameters: LIST_PARAMETERS, responses: { '200': ok(ref(list)) }, produces: WATCH_TYPES,
    })
  }
  if (has('create')) {
    collection.post = operation({
      action: 'post', operationId: opId('create'), description: `create a ${kind}`, gvk, tag,
      parameters: [body(ref(object)), DRY_RUN, FIELD_MANAGER],
      responses: { '200': ok(ref(object)), '201': { description: 'Created', schema: ref(object) }, '202': { description: 'Accepted', schema: ref(object) } },
    })
  }
  if (has('deletecollection')) {
    collection.delete = operation({
      action: 'deletecollection', operationId: opId('deleteCollection'), description: `delete collection of ${kind}`, gvk, tag,
      parameters: [...DELETE_PARAMETERS, ...LIST_PARAMETERS], responses: { '200': ok(ref(STATUS_DEFINITION)) },
    })
  }
  doc.paths[collectionPath] = collection

  if (namespaced && has('list')) {
    doc.paths[`${base}/${resource.name}`] = {
      parameters: [PRETTY],
      get: operation({
        action: 'list', operationId: `list${operationGroup(group, version)}${kind}ForAllNamespaces`, description: `list or watch objects of kind ${kind}`, gvk, tag,
        parameters: LIST_PARAMETERS, responses: { '200': ok(ref(list)) }, produces: WATCH_TYPES,
      }),
    }
  }

  const item: SwaggerPathItem = { parameters: [nameParameter, ...scopeParameters, PRETTY] }
  if (has('get')) {
    item.get = operation({ action: 'get', operationId: opId('read'), description: `read the specified ${kind}`, gvk, tag, parameters: [], responses: { '200': ok(ref(object)) } })
  }
  if (has('update')) {
    item.put = operation({
      action: 'put', operationId: opId('replace'), description: `replace the specified ${kind}`, gvk, tag,
      parameters: [body(ref(object)), DRY_RUN, FIELD_MANAGER],
      responses: { '200': ok(ref(object)), '201': { description: 'Created', schema: ref(object) } },
    })
  }
  if (has('patch')) {
    item.patch = patchOperation(opId('patch'), `partially update the specified ${kind}`, gvk, tag, object)
  }
  if (has('delete')) {
    item.delete = operation({
      action: 'delete', operationId: opId('delete'), description: `delete a ${kind}`, gvk, tag,
      parameters: DELETE_PARAMETERS, responses: { '200': ok(ref(STATUS_DEFINITION)), '202': { description: 'Accepted', schema: ref(STATUS_DEFINITION) } },
    })
  }
  doc.paths[itemPath] = item

  for (const sub of resource.subresources) {
    if (sub.name !== 'status' && sub.name !== 'scale') continue // streaming and action subresources are not in the dry-run document
    const subGvk: Gvk = { group: sub.group ?? group, kind: sub.kind, version: sub.version ?? version }
    const subObject = definitionName(subGvk.group, subGvk.version, subGvk.kind)
    doc.definitions[subObject] ??= { description: `${sub.kind} (${subGvk.group === '' ? 'core' : subGvk.group}/${subGvk.version}).`, type: 'object' }
    const suffix = sub.name === 'status' ? 'Status' : 'Scale'
    const subItem: SwaggerPathItem = { parameters: [nameParameter, ...scopeParameters, PRETTY] }
    if (sub.verbs.includes('get')) {
      subItem.get = operation({ action: 'get', operationId: opId('read', suffix), description: `read ${sub.name} of the specified ${kind}`, gvk: subGvk, tag, parameters: [], responses: { '200': ok(ref(subObject)) } })
    }
    if (sub.verbs.includes('update')) {
      subItem.put = operation({
        action: 'put', operationId: opId('replace', suffix), description: `replace ${sub.name} of the specified ${kind}`, gvk: subGvk, tag,
        parameters: [body(ref(subObject)), DRY_RUN, FIELD_MANAGER],
        responses: { '200': ok(ref(subObject)), '201': { description: 'Created', schema: ref(subObject) } },
      })
    }
    if (sub.verbs.includes('patch')) {
      subItem.patch = patchOperation(opId('patch', suffix), `partially update ${sub.name} of the specified ${kind}`, subGvk, tag, subObject)
    }
    doc.paths[`${itemPath}/${sub.name}`] = subItem
  }
}

function patchOperation(operationId: string, description: string, gvk: Gvk, tag: string, object: string): SwaggerOperation {
  return operation({
    action: 'patch', operationId, description, gvk, tag, consumes: PATCH_TYPES,
    parameters: [body(ref(PATCH_DEFINITION)), DRY_RUN, FIELD_MANAGER, FORCE],
    responses: { '200': ok(ref(object)), '201': { description: 'Created', schema: ref(object) } },
  })
}

/**
 * The Swagger 2.0 document for `resources`: deterministic (paths and definitions sorted by name),
 * so the protobuf and its ETag only change when the resources do.
 */
export function buildOpenApiSpec(resources: readonly ResourceDefinition[]): SwaggerDocument {
  const doc: SwaggerDocument = { swagger: '2.0', info: { title: 'Kubernetes', version: KUBERNETES_VERSION.gitVersion }, paths: {}, definitions: {} }
  for (const resource of resources) addResource(doc, resource)
  doc.definitions[PATCH_DEFINITION] = { description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.', type: 'object' }
  doc.definitions[DELETE_OPTIONS_DEFINITION] = { description: 'DeleteOptions may be provided when deleting an API object.', type: 'object' }
  doc.definitions[STATUS_DEFINITION] = { description: 'Status is a return value for calls that do not return other objects.', type: 'object' }
  return { ...doc, paths: sortedRecord(doc.paths), definitions: sortedRecord(doc.definitions) }
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
