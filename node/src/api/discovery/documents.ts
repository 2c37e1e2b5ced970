/**
 * The discovery documents every kubectl command starts with (research/k8s-api.md §1):
 *
 *   GET /version        version.Info          (kubectl version, helm's .Capabilities.KubeVersion)
 *   GET /api            APIVersions           (core group: ["v1"])
 *   GET /apis           APIGroupList          (every other group with its versions)
 *   GET /apis/{g}       APIGroup
 *   GET /api/v1         APIResourceList       (resources of core v1, subresources as "pods/log")
 *   GET /apis/{g}/{v}   APIResourceList
 *
 * All are plain JSON values built from a ResourceRegistry; serving them (and the `?timeout=32s`
 * every discovery call carries, which is ignored) is the HTTP layer's business.
 */
import { createHash } from 'node:crypto'
import { assert } from '../../../../lib/assert.ts'
import { groupVersionString, type ResourceDefinition, type ResourceRegistry } from './resources.ts'

/**
 * The Kubernetes version Flotilla advertises. It decides which apiVersions helm charts render
 * (they branch on `.Capabilities.KubeVersion`), so it must match the API set actually served.
 */
export const KUBERNETES_VERSION = {
  major: '1',
  minor: '20',
  gitVersion: 'v1.20.2',
  gitCommit: 'faecb196815e248d3ecfb03c680a4507229c2a56',
  gitTreeState: 'clean',
  buildDate: '2021-01-13T13:20:00Z',
  goVersion: 'go1.15.5',
  compiler: 'gc',
} as const

export interface VersionInfo {
  major: string
  minor: string
  gitVersion: string
  gitCommit: string
  gitTreeState: string
  buildDate: string
  goVersion: string
  compiler: string
  platform: string
}

/** `GET /version`. `platform` is this machine's, in Go notation (`linux/amd64`). */
export function versionDocument(platform = goPlatform()): VersionInfo {
  return { ...KUBERNETES_VERSION, platform }
}

/** `linux/amd64`-style platform string of the running process. */
export function goPlatform(): string {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' }
  return `${process.platform}/${arch[process.arch] ?? process.arch}`
}

export interface ApiVersionsDocument {
  kind: 'APIVersions'
  versions: string[]
  serverAddressByClientCIDRs: Array<{ clientCIDR: string; serverAddress: string }>
}

/** `GET /api`. `serverAddress` is `host:port` as clients reach this server. */
export function apiVersionsDocument(registry: ResourceRegistry, serverAddress: string): ApiVersionsDocument {
  const versions = registry.groupVersions().filter(({ group }) => group === '').map(({ version }) => version)
  return { kind: 'APIVersions', versions, serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] }
}

export interface GroupVersionForDiscovery {
  groupVersion: string
  version: string
}

export interface ApiGroup {
  name: string
  versions: GroupVersionForDiscovery[]
  preferredVersion: GroupVersionForDiscovery
}

export interface ApiGroupDocument extends ApiGroup {
  kind: 'APIGroup'
  apiVersion: 'v1'
}

export interface ApiGroupListDocument {
  kind: 'APIGroupList'
  apiVersion: 'v1'
  groups: ApiGroup[]
}

function apiGroup(name: string, versions: readonly string[]): ApiGroup {
  const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }))
  // The first version listed is the preferred one (the registry lists the preferred one first).
  const preferred = entries[0]
  assert(preferred !== undefined, `API group ${name} has no versions`)
  return { name, versions: entries, preferredVersion: preferred }
}

/**
 * `GET /apis`. `servedElsewhere` are groups another handler answers for (metrics.k8s.io): listed
 * after the registry's, as kube-apiserver lists aggregated groups after its own.
 */
export function apiGroupListDocument(registry: ResourceRegistry, servedElsewhere: readonly ApiGroup[] = []): ApiGroupListDocument {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...registry.groups().map(({ name, versions }) => apiGroup(name, versions)), ...servedElsewhere] }
}

/** `GET /apis/{group}`, or undefined when the group is not served (answer 404). */
export function apiGroupDocument(registry: ResourceRegistry, group: string): ApiGroupDocument | undefined {
  const found = registry.groups().find(({ name }) => name === group)
  return found === undefined ? undefined : { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(found.name, found.versions) }
}

/** One entry of an APIResourceList, exactly as kube-apiserver writes it. */
export interface ApiResourceEntry {
  name: string
  singularName: string
  namespaced: boolean
  group?: string
  version?: string
  kind: string
  verbs: string[]
  shortNames?: string[]
  categories?: string[]
  storageVersionHash?: string
}

export interface ApiResourceListDocument {
  kind: 'APIResourceList'
  apiVersion: 'v1'
  groupVersion: string
  resources: ApiResourceEntry[]
}

/**
 * `GET /api/v1` and `GET /apis/{group}/{version}`, or undefined when that group-version is not
 * served (answer 404; kubectl api-resources skips such a group silently). Subresources follow
 * their parent as `{parent}/{sub}` entries with an empty singularName, as on a real server.
 */
export function apiResourceListDocument(registry: ResourceRegistry, group: string, version: string): ApiResourceListDocument | undefined {
  const resources = registry.resourcesOf(group, version)
  if (resources === undefined) return undefined
  const entries: ApiResourceEntry[] = []
  for (const resource of resources) {
    entries.push(resourceEntry(resource))
    for (const sub of resource.subresources) {
      entries.push({
        name: `${resource.name}/${sub.name}`,
        singularName: '',
        namespaced: resource.namespaced,
        ...(sub.group !== undefined ? { group: sub.group } : {}),
        ...(sub.version !== undefined ? { version: sub.version } : {}),
        kind: sub.kind,
        verbs: [...sub.verbs],
      })
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersionString({ group, version }), resources: entries }
}

function resourceEntry(resource: ResourceDefinition): ApiResourceEntry {
  return {
    name: resource.name,
    singularName: resource.singularName,
    namespaced: resource.namespaced,
    kind: resource.kind,
    verbs: [...resource.verbs],
    ...(resource.shortNames.length > 0 ? { shortNames: [...resource.shortNames] } : {}),
    ...(resource.categories.length > 0 ? { categories: [...resource.categories] } : {}),
    storageVersionHash: storageVersionHash(resource.group, resource.version, resource.kind),
  }
}

/**
 * kube-apiserver's storageVersionHash: base64 of the first 8 bytes of sha256("group/version/kind")
 * of the storage version. Clients only compare it for changes (the storage migrator).
 */
export function storageVersionHash(group: string, version: string, kind: string): string {
  return createHash('sha256').update(`${group}/${version}/${kind}`).digest().subarray(0, 8).toString('base64')
}
