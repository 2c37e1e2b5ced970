/**
 * Resource path resolution: which resource, namespace, object and subresource a request path
 * names. The path shapes (research/k8s-api.md §0):
 *
 *   /api/v1/{resource}[/{name}[/{subresource}]]                          cluster scope, or every
 *                                                                        namespace for a list
 *   /api/v1/namespaces/{namespace}/{resource}[/{name}[/{subresource}]]   namespaced resources
 *   /apis/{group}/{version}/…                                            the same shapes
 *
 * `/api/v1/namespaces/{name}` is the Namespace object itself, and `/api/v1/namespaces/{name}/status`
 * (or `/finalize`) its subresource, because no namespaced resource is called `status`.
 *
 * An unknown path is a return value (`ok: false` with a reason for the 404 message), not an error.
 */
import { BUILTIN_REGISTRY, groupVersionString, type ResourceDefinition, type ResourceRegistry, type SubresourceDefinition } from './resources.ts'

/** What a resource path names. */
export interface ResourceTarget {
  /** `''` for core. */
  readonly group: string
  readonly version: string
  /** The plural resource name (`pods`). */
  readonly resource: string
  /** `status`, `scale`, `log`, … or undefined for the resource itself. */
  readonly subresource: string | undefined
  /** The namespace in the path; undefined for cluster-scoped resources and all-namespace lists. */
  readonly namespace: string | undefined
  /** The object name; undefined for a collection. */
  readonly name: string | undefined
  /** Whether the resource is namespaced (a list without a namespace then means all namespaces). */
  readonly namespaced: boolean
  readonly definition: ResourceDefinition
  readonly subresourceDefinition: SubresourceDefinition | undefined
}

export type ResolveResult =
  | { readonly ok: true; readonly target: ResourceTarget }
  | { readonly ok: false; readonly reason: string }

/**
 * Splits a request path (query string allowed) into decoded segments for resolveResource.
 * Returns undefined when a segment is not valid percent-encoding.
 */
export function splitApiPath(path: string): string[] | undefined {
  const withoutQuery = path.split('?', 1)[0] ?? ''
  const raw = withoutQuery.split('/')
  if (raw[0] === '') raw.shift()
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop()
  try {
    return raw.map((segment) => decodeURIComponent(segment))
  } catch {
    return undefined
  }
}

function notFound(reason: string): ResolveResult {
  return { ok: false, reason }
}

/**
 * Resolves decoded path segments (`['api', 'v1', 'namespaces', 'default', 'pods', 'web', 'log']`)
 * against the registry. Discovery paths (`/api`, `/apis/apps/v1`) are not resource paths and
 * resolve to `ok: false`.
 */
export function resolveResource(segments: readonly string[], registry: ResourceRegistry = BUILTIN_REGISTRY): ResolveResult {
  if (segments.some((segment) => segment === '')) return notFound('the path has an empty segment')
  let group: string
  let version: string | undefined
  let rest: readonly string[]
  if (segments[0] === 'api') {
    group = ''
    version = segments[1]
    rest = segments.slice(2)
  } else if (segments[0] === 'apis' && segments[1] !== undefined) {
    group = segments[1]
    version = segments[2]
    rest = segments.slice(3)
  } else {
    return notFound('not an API resource path: expected /api/{version}/… or /apis/{group}/{version}/…')
  }
  if (version === undefined) return notFound('the path names no API version')
  const groupVersion = groupVersionString({ group, version })
  if (registry.resourcesOf(group, version) === undefined) return notFound(`the server does not serve the API group-version "${groupVersion}"`)
  if (rest.length === 0) return notFound(`the path names no resource of "${groupVersion}" (that is a discovery path)`)

  const namespaceResource = registry.lookup(group, version, 'namespaces')
  const [first, second, third] = rest
  const isNamespaceSubresource =
    first === 'namespaces' && rest.length === 3 && third !== undefined &&
    namespaceResource?.subresources.some((sub) => sub.name === third) === true &&
    registry.lookup(group, version, third)?.namespaced !== true
  if (first === 'namespaces' && rest.length >= 3 && !isNamespaceSubresource) {
    return resolveScoped(registry, group, version, second, rest.slice(2))
  }
  return resolveScoped(registry, group, version, undefined, rest)
}

/** `{resource}[/{name}[/{subresource}]]`, inside `namespace` when it is defined. */
function resolveScoped(
  registry: ResourceRegistry,
  group: string,
  version: string,
  namespace: string | undefined,
  parts: readonly string[],
): ResolveResult {
  const groupVersion = groupVersionString({ group, version })
  const [resourceName, name, subresource, ...extra] = parts
  if (resourceName === undefined) return notFound('the path names no resource')
  if (extra.length > 0) return notFound(`the path has ${extra.length} segment(s) too many after "${parts.slice(0, 3).join('/')}"`)
  const definition = registry.lookup(group, version, resourceName)
  if (definition === undefined) return notFound(`the server could not find the requested resource "${resourceName}" in "${groupVersion}"`)
  if (namespace !== undefined && !definition.namespaced) {
    return notFound(`${resourceName} are cluster-scoped: they are at /${groupVersion === 'v1' ? 'api/v1' : `apis/${groupVersion}`}/${resourceName}, not inside a namespace`)
  }
  if (namespace === undefined && definition.namespaced && name !== undefined) {
    return notFound(`${resourceName} are namespaced: an object is at …/namespaces/{namespace}/${resourceName}/${name}`)
  }
  if (name === '.' || name === '..') return notFound(`"${name}" is not a valid object name`)
  let subresourceDefinition: SubresourceDefinition | undefined
  if (subresource !== undefined) {
    subresourceDefinition = definition.subresources.find((sub) => sub.name === subresource)
    if (subresourceDefinition === undefined) return notFound(`${resourceName} have no subresource "${subresource}"`)
  }
  return {
    ok: true,
    target: { group, version, resource: resourceName, subresource, namespace, name, namespaced: definition.namespaced, definition, subresourceDefinition },
  }
}
