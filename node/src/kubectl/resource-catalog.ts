/**
 * The resource types a server offers, learned through discovery, and the resolution of what users
 * type (`deploy`, `pods`, `Pod`, `deployments.apps`, `deployments.v1.apps`, `all`) to resources.
 *
 * Discovery runs once per command (`/api`, `/apis`, then every group-version's resource list in
 * parallel) and is cached for that command only: Flotilla's API surface changes with upgrades and
 * CRDs, and a per-run cache can never be stale. A group-version that fails to answer is skipped,
 * as kubectl skips it, so one broken group does not break every command.
 *
 * Resolution follows kubectl's RESTMapper: only preferred versions take part in short names, kinds
 * and plurals; the first match in discovery order wins (core first, so `ev` is core/v1 events);
 * subresources (`pods/log`) are not types. A name that matches no resource but a category (`all`)
 * expands to every resource of that category.
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import { CommandError } from './errors.ts'
import type { RestClient } from './rest-client.ts'

/** One resource type of one group-version, as discovery describes it. */
export interface ApiResource {
  /** `''` for core. */
  readonly group: string
  readonly version: string
  /** The plural name, the path segment: `deployments`. */
  readonly name: string
  readonly singularName: string
  readonly kind: string
  readonly namespaced: boolean
  readonly verbs: readonly string[]
  readonly shortNames: readonly string[]
  readonly categories: readonly string[]
  /** True when this version is its group's preferred version. */
  readonly preferred: boolean
}

/** `deployments.apps` or `pods`: the name kubectl uses in messages (`deployments.apps "web" deleted`). */
export function groupResourceName(resource: Pick<ApiResource, 'group' | 'name'>): string {
  return resource.group === '' ? resource.name : `${resource.name}.${resource.group}`
}

/** `deployment.apps` or `pod`: the prefix of `-o name` and of `apply`/`scale` output lines. */
export function kindPrefix(resource: Pick<ApiResource, 'group' | 'kind'>): string {
  const kind = resource.kind.toLowerCase()
  return resource.group === '' ? kind : `${kind}.${resource.group}`
}

/** The API path of a collection, an object or a subresource. */
export function resourcePath(resource: Pick<ApiResource, 'group' | 'version' | 'name' | 'namespaced'>, namespace: string | undefined, name?: string, subresource?: string): string {
  const base = resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`
  const scope = resource.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : ''
  const item = name === undefined ? '' : `/${encodeURIComponent(name)}${subresource === undefined ? '' : `/${subresource}`}`
  return `${base}${scope}/${resource.name}${item}`
}

export class ResourceCatalog {
  /** Every resource of every served group-version, in discovery order. */
  readonly resources: readonly ApiResource[]
  /** The API groups the server serves (`''` for core when /api answered). */
  readonly groups: ReadonlySet<string>

  constructor(resources: readonly ApiResource[], groups: Iterable<string>) {
    this.resources = resources
    this.groups = new Set(groups)
  }

  /**
   * Asks the server: `/api`, `/apis`, then every group-version's resource list in parallel.
   * @throws ServerError or ConnectionError when /api or /apis cannot be read.
   */
  static async discover(client: RestClient): Promise<ResourceCatalog> {
    const [core, groupList] = await Promise.all([client.json({ method: 'GET', path: '/api' }), client.json({ method: 'GET', path: '/apis' })])
    const lists: Array<{ group: string; version: string; preferred: boolean }> = []
    for (const version of arrayOf(core['versions'])) if (typeof version === 'string') lists.push({ group: '', version, preferred: lists.length === 0 })
    const groups = new Set<string>(lists.length > 0 ? [''] : [])
    for (const group of arrayOf(groupList['groups']).filter(isJsonObject)) {
      const name = String(group['name'] ?? '')
      groups.add(name)
      const preferredVersion = isJsonObject(group['preferredVersion']) ? String(group['preferredVersion']['version'] ?? '') : ''
      const versions = arrayOf(group['versions']).filter(isJsonObject).map((entry) => String(entry['version'] ?? ''))
      for (const version of versions) lists.push({ group: name, version, preferred: version === (preferredVersion || versions[0]) })
    }
    const documents = await Promise.all(
      lists.map(async (list) => {
        const path = list.group === '' ? `/api/${list.version}` : `/apis/${list.group}/${list.version}`
        // A group-version that does not answer is skipped, as kubectl skips it.
        return client.json({ method: 'GET', path }).then((document) => ({ list, document }), () => undefined)
      }),
    )
    const resources: ApiResource[] = []
    for (const entry of documents) {
      if (entry === undefined) continue
      for (const item of arrayOf(entry.document['resources']).filter(isJsonObject)) {
        const resource = toApiResource(entry.list.group, entry.list.version, entry.list.preferred, item)
        if (resource !== undefined) resources.push(resource)
      }
    }
    return new ResourceCatalog(resources, groups)
  }

  /**
   * The resources one type argument names: a single resource, or every resource of a category.
   * @throws CommandError `the server doesn't have a resource type "x"` when nothing matches.
   */
  resolve(text: string): ApiResource[] {
    const single = this.find(text)
    if (single !== undefined) return [single]
    const category = text.toLowerCase()
    const members = this.resources.filter((resource) => resource.preferred && resource.categories.includes(category))
    if (members.length > 0) return members
    throw new CommandError(`the server doesn't have a resource type "${text}"`)
  }

  /** Every resource a comma-separated type list names, without duplicates (`deploy,svc`). */
  resolveList(text: string): ApiResource[] {
    const result: ApiResource[] = []
    for (const part of text.split(',')) {
      if (part === '') continue
      for (const resource of this.resolve(part)) if (!result.includes(resource)) result.push(resource)
    }
    if (result.length === 0) throw new CommandError(`no resource type given in "${text}"`)
    return result
  }

  /** The single resource `text` names, or undefined (categories are not considered). */
  find(text: string): ApiResource | undefined {
    const lower = text.toLowerCase()
    // `deployments.v1.apps` and `deployments.apps`: fully or partly qualified.
    const parts = lower.split('.')
    if (parts.length >= 3) {
      const [name, version, ...group] = parts
      const match = this.resources.find((resource) => resource.version === version && resource.group === group.join('.') && matchesName(resource, name!))
      if (match !== undefined) return match
    }
    if (parts.length >= 2) {
      const [name, ...group] = parts
      const match = this.resources.find((resource) => resource.preferred && resource.group === group.join('.') && matchesName(resource, name!))
      if (match !== undefined) return match
    }
    return this.resources.find((resource) => resource.preferred && matchesName(resource, lower))
  }

  /**
   * The resource that stores `kind` objects of `apiVersion` (for manifests).
   * @throws CommandError `no matches for kind "X" in version "Y"` (kubectl's wording).
   */
  forKind(apiVersion: string, kind: string): ApiResource {
    const slash = apiVersion.lastIndexOf('/')
    const group = slash === -1 ? '' : apiVersion.slice(0, slash)
    const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1)
    const match = this.resources.find((resource) => resource.group === group && resource.version === version && resource.kind === kind)
    if (match === undefined) throw new CommandError(`unable to recognize: no matches for kind "${kind}" in version "${apiVersion}"`)
    return match
  }
}

function matchesName(resource: ApiResource, lower: string): boolean {
  return resource.name === lower || resource.singularName === lower || resource.kind.toLowerCase() === lower || resource.shortNames.includes(lower)
}

function toApiResource(group: string, version: string, preferred: boolean, item: JsonObject): ApiResource | undefined {
  const name = typeof item['name'] === 'string' ? item['name'] : ''
  // Subresources (`pods/log`, `deployments/scale`) are reached through their parent, never typed.
  if (name === '' || name.includes('/')) return undefined
  const kind = typeof item['kind'] === 'string' ? item['kind'] : ''
  const strings = (value: unknown): string[] => arrayOf(value).filter((entry): entry is string => typeof entry === 'string')
  const singular = typeof item['singularName'] === 'string' && item['singularName'] !== '' ? item['singularName'] : kind.toLowerCase()
  return {
    group,
    version,
    name,
    singularName: singular,
    kind,
    namespaced: item['namespaced'] === true,
    verbs: strings(item['verbs']),
    shortNames: strings(item['shortNames']),
    categories: strings(item['categories']),
    preferred,
  }
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}
