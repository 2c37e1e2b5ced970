/**
 * The Kubernetes resources Flotilla serves: one record per resource (plural name, kind, scope,
 * verbs, short names, categories and subresources), grouped by API group and version. Discovery
 * (documents.ts), path resolution (resolve.ts) and the OpenAPI document (../openapi/) are all
 * derived from this data, so a resource added here appears everywhere at once.
 *
 * The values mirror what a real kube-apiserver 1.20 advertises for these resources, because
 * kubectl acts on them: `shortNames` give `kubectl get po/svc/deploy…`, `categories: ["all"]`
 * decide what `kubectl get all` lists, `verbs` must contain get/list or kubectl skips the
 * resource, and subresources are listed as separate discovery entries (`pods/log`,
 * `deployments/scale` with kind autoscaling/v1 Scale, …).
 */
import { assert } from '../../../../lib/assert.ts'

/** The verbs discovery advertises (the Kubernetes names, not HTTP methods). */
export type Verb = 'create' | 'delete' | 'deletecollection' | 'get' | 'list' | 'patch' | 'update' | 'watch'

/** A subresource such as `status`, `scale` or `log`, reached at `…/{resource}/{name}/{subresource}`. */
export interface SubresourceDefinition {
  /** The last path segment: `status`, `scale`, `log`, `exec`, `attach`, `portforward`, `finalize`. */
  readonly name: string
  /** The kind its requests and responses carry (`Scale`, `Pod`, `PodExecOptions`, …). */
  readonly kind: string
  /** Only when the kind belongs to another group-version than the parent (scale: autoscaling/v1). */
  readonly group?: string
  readonly version?: string
  readonly verbs: readonly Verb[]
}

/** One top-level resource of one group-version. */
export interface ResourceDefinition {
  /** `''` for the core (legacy) group served under /api. */
  readonly group: string
  readonly version: string
  /** The plural resource name, the path segment: `pods`, `deployments`. */
  readonly name: string
  readonly singularName: string
  readonly kind: string
  /** True when objects live in a namespace (`/namespaces/{ns}/{name}`); false for cluster scope. */
  readonly namespaced: boolean
  readonly verbs: readonly Verb[]
  readonly shortNames: readonly string[]
  readonly categories: readonly string[]
  readonly subresources: readonly SubresourceDefinition[]
}

/** A group and one of its versions, e.g. `{ group: 'apps', version: 'v1' }`; core is group ''. */
export interface GroupVersion {
  readonly group: string
  readonly version: string
}

/** `v1` for core, `apps/v1` otherwise: the `apiVersion` of objects and `groupVersion` in discovery. */
export function groupVersionString({ group, version }: GroupVersion): string {
  return group === '' ? version : `${group}/${version}`
}

/** Every verb of a fully writable, watchable resource (what most built-in resources support). */
const ALL_VERBS: readonly Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']
/** Namespaces and (in 1.20) Services have no deletecollection. */
const ALL_BUT_DELETECOLLECTION: readonly Verb[] = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']
const STATUS_VERBS: readonly Verb[] = ['get', 'patch', 'update']
const ALL_CATEGORY: readonly string[] = ['all']

function status(kind: string): SubresourceDefinition {
  return { name: 'status', kind, verbs: STATUS_VERBS }
}

/** `…/scale`: a Scale object of autoscaling/v1, whatever the parent's group. */
const SCALE: SubresourceDefinition = { name: 'scale', kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: STATUS_VERBS }

interface ResourceSpec {
  name: string
  singularName: string
  kind: string
  namespaced?: boolean
  verbs?: readonly Verb[]
  shortNames?: readonly string[]
  categories?: readonly string[]
  subresources?: readonly SubresourceDefinition[]
}

function groupVersion(group: string, version: string, specs: readonly ResourceSpec[]): ResourceDefinition[] {
  return specs.map((spec) => ({
    group,
    version,
    name: spec.name,
    singularName: spec.singularName,
    kind: spec.kind,
    namespaced: spec.namespaced ?? true,
    verbs: spec.verbs ?? ALL_VERBS,
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    subresources: spec.subresources ?? [],
  }))
}

/**
 * The built-in resources, in discovery order: core first, then the groups in the order `/apis`
 * lists them. Where two groups serve the same short name (`ev`: core and events.k8s.io), kubectl
 * picks the first one in discovery order, which is core, as on a real cluster.
 */
export const BUILTIN_RESOURCES: readonly ResourceDefinition[] = [
  ...groupVersion('', 'v1', [
    { name: 'configmaps', singularName: 'configmap', kind: 'ConfigMap', shortNames: ['cm'] },
    { name: 'endpoints', singularName: 'endpoints', kind: 'Endpoints', shortNames: ['ep'] },
    { name: 'events', singularName: 'event', kind: 'Event', shortNames: ['ev'] },
    {
      name: 'namespaces', singularName: 'namespace', kind: 'Namespace', namespaced: false, verbs: ALL_BUT_DELETECOLLECTION, shortNames: ['ns'],
      subresources: [{ name: 'finalize', kind: 'Namespace', verbs: ['update'] }, status('Namespace')],
    },
    { name: 'nodes', singularName: 'node', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: [status('Node')] },
    { name: 'persistentvolumeclaims', singularName: 'persistentvolumeclaim', kind: 'PersistentVolumeClaim', shortNames: ['pvc'] },
    { name: 'persistentvolumes', singularName: 'persistentvolume', kind: 'PersistentVolume', namespaced: false, shortNames: ['pv'] },
    {
      name: 'pods', singularName: 'pod', kind: 'Pod', shortNames: ['po'], categories: ALL_CATEGORY,
      subresources: [
        { name: 'attach', kind: 'PodAttachOptions', verbs: ['create', 'get'] },
        { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
        { name: 'log', kind: 'Pod', verbs: ['get'] },
        { name: 'portforward', kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
        status('Pod'),
      ],
    },
    { name: 'resourcequotas', singularName: 'resourcequota', kind: 'ResourceQuota', shortNames: ['quota'], subresources: [status('ResourceQuota')] },
    { name: 'secrets', singularName: 'secret', kind: 'Secret' },
    { name: 'serviceaccounts', singularName: 'serviceaccount', kind: 'ServiceAccount', shortNames: ['sa'] },
    {
      name: 'services', singularName: 'service', kind: 'Service', verbs: ALL_BUT_DELETECOLLECTION, shortNames: ['svc'], categories: ALL_CATEGORY,
      subresources: [status('Service')],
    },
  ]),
  ...groupVersion('apps', 'v1', [
    { name: 'controllerrevisions', singularName: 'controllerrevision', kind: 'ControllerRevision' },
    { name: 'daemonsets', singularName: 'daemonset', kind: 'DaemonSet', shortNames: ['ds'], categories: ALL_CATEGORY, subresources: [status('DaemonSet')] },
    { name: 'deployments', singularName: 'deployment', kind: 'Deployment', shortNames: ['deploy'], categories: ALL_CATEGORY, subresources: [SCALE, status('Deployment')] },
    { name: 'replicasets', singularName: 'replicaset', kind: 'ReplicaSet', shortNames: ['rs'], categories: ALL_CATEGORY, subresources: [SCALE, status('ReplicaSet')] },
    { name: 'statefulsets', singularName: 'statefulset', kind: 'StatefulSet', shortNames: ['sts'], categories: ALL_CATEGORY, subresources: [SCALE, status('StatefulSet')] },
  ]),
  ...groupVersion('autoscaling', 'v2', [
    { name: 'horizontalpodautoscalers', singularName: 'horizontalpodautoscaler', kind: 'HorizontalPodAutoscaler', shortNames: ['hpa'], categories: ALL_CATEGORY, subresources: [status('HorizontalPodAutoscaler')] },
  ]),
  ...groupVersion('batch', 'v1', [
    { name: 'cronjobs', singularName: 'cronjob', kind: 'CronJob', shortNames: ['cj'], categories: ALL_CATEGORY, subresources: [status('CronJob')] },
    { name: 'jobs', singularName: 'job', kind: 'Job', categories: ALL_CATEGORY, subresources: [status('Job')] },
  ]),
  ...groupVersion('coordination.k8s.io', 'v1', [
    { name: 'leases', singularName: 'lease', kind: 'Lease' },
  ]),
  ...groupVersion('discovery.k8s.io', 'v1', [
    { name: 'endpointslices', singularName: 'endpointslice', kind: 'EndpointSlice' },
  ]),
  ...groupVersion('events.k8s.io', 'v1', [
    { name: 'events', singularName: 'event', kind: 'Event', shortNames: ['ev'] },
  ]),
  ...groupVersion('networking.k8s.io', 'v1', [
    { name: 'networkpolicies', singularName: 'networkpolicy', kind: 'NetworkPolicy', shortNames: ['netpol'] },
  ]),
  ...groupVersion('storage.k8s.io', 'v1', [
    { name: 'storageclasses', singularName: 'storageclass', kind: 'StorageClass', namespaced: false, shortNames: ['sc'] },
  ]),
]

/**
 * Lookup tables over a list of resources. Immutable; build a new one to add resources (CRDs).
 * Construction asserts that names are unique within a group-version.
 */
export class ResourceRegistry {
  readonly resources: readonly ResourceDefinition[]
  private readonly byGroupVersion = new Map<string, ResourceDefinition[]>()
  private readonly groupVersionList: GroupVersion[] = []

  constructor(resources: readonly ResourceDefinition[]) {
    this.resources = resources
    for (const resource of resources) {
      const key = groupVersionString(resource)
      let list = this.byGroupVersion.get(key)
      if (list === undefined) {
        list = []
        this.byGroupVersion.set(key, list)
        this.groupVersionList.push({ group: resource.group, version: resource.version })
      }
      assert(!list.some((other) => other.name === resource.name), `duplicate resource ${resource.name} in ${key}`)
      assert(!resource.name.includes('/'), `resource name ${resource.name} must not contain "/"`)
      list.push(resource)
    }
  }

  /** Group-versions in first-appearance order (core `v1` first for the built-ins). */
  groupVersions(): readonly GroupVersion[] {
    return this.groupVersionList
  }

  /** The API groups (not core) with their versions, in first-appearance order. */
  groups(): ReadonlyArray<{ name: string; versions: readonly string[] }> {
    const groups = new Map<string, string[]>()
    for (const { group, version } of this.groupVersionList) {
      if (group === '') continue
      const versions = groups.get(group) ?? []
      versions.push(version)
      groups.set(group, versions)
    }
    return [...groups].map(([name, versions]) => ({ name, versions }))
  }

  /** The resources of one group-version, or undefined when it is not served. */
  resourcesOf(group: string, version: string): readonly ResourceDefinition[] | undefined {
    return this.byGroupVersion.get(groupVersionString({ group, version }))
  }

  /** One resource by its plural name. */
  lookup(group: string, version: string, name: string): ResourceDefinition | undefined {
    return this.resourcesOf(group, version)?.find((resource) => resource.name === name)
  }

  /** The resource that stores objects of this kind in this group-version. */
  lookupKind(group: string, version: string, kind: string): ResourceDefinition | undefined {
    return this.resourcesOf(group, version)?.find((resource) => resource.kind === kind)
  }
}

/** The registry of the built-in resources. */
export const BUILTIN_REGISTRY = new ResourceRegistry(BUILTIN_RESOURCES)
