// Goal: the discovery documents have exactly the shapes kubectl 1.20 consumes (research/k8s-api.md
// §1) and the registry advertises the resources, short names, categories, verbs and
// subresources of the issue. Method: tables over the built-in registry.
import t from 'tap'
import {
  apiGroupDocument,
  apiGroupListDocument,
  apiResourceListDocument,
  apiVersionsDocument,
  storageVersionHash,
  versionDocument,
} from '../../../node/src/api/discovery/documents.ts'
import { BUILTIN_REGISTRY, BUILTIN_RESOURCES, ResourceRegistry } from '../../../node/src/api/discovery/resources.ts'

t.test('/version advertises 1.20.2 consistently', async (t) => {
  const version = versionDocument('linux/amd64')
  t.same(version, {
    major: '1',
    minor: '20',
    gitVersion: 'v1.20.2',
    gitCommit: 'faecb196815e248d3ecfb03c680a4507229c2a56',
    gitTreeState: 'clean',
    buildDate: '2021-01-13T13:20:00Z',
    goVersion: 'go1.15.5',
    compiler: 'gc',
    platform: 'linux/amd64',
  })
  t.match(versionDocument().platform, /^[a-z0-9]+\/[a-z0-9]+$/)
})

t.test('/api and /apis', async (t) => {
  t.same(apiVersionsDocument(BUILTIN_REGISTRY, '127.0.0.1:6443'), {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
  })
  const groups = apiGroupListDocument(BUILTIN_REGISTRY)
  t.equal(groups.kind, 'APIGroupList')
  t.equal(groups.apiVersion, 'v1')
  t.same(groups.groups.map((group) => group.name), ['apps', 'autoscaling', 'batch', 'coordination.k8s.io', 'discovery.k8s.io', 'events.k8s.io', 'networking.k8s.io', 'storage.k8s.io'])
  t.same(groups.groups[0], { name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } })
  t.same(groups.groups[1]?.preferredVersion, { groupVersion: 'autoscaling/v2', version: 'v2' })
  t.same(apiGroupDocument(BUILTIN_REGISTRY, 'batch'), {
    kind: 'APIGroup', apiVersion: 'v1', name: 'batch', versions: [{ groupVersion: 'batch/v1', version: 'v1' }], preferredVersion: { groupVersion: 'batch/v1', version: 'v1' },
  })
  t.equal(apiGroupDocument(BUILTIN_REGISTRY, 'policy'), undefined)
})

t.test('APIResourceList entries match what kubectl 1.20 worked with', async (t) => {
  const apps = apiResourceListDocument(BUILTIN_REGISTRY, 'apps', 'v1')
  t.equal(apps?.kind, 'APIResourceList')
  t.equal(apps?.apiVersion, 'v1')
  t.equal(apps?.groupVersion, 'apps/v1')
  t.same(apps?.resources.find((entry) => entry.name === 'deployments'), {
    name: 'deployments',
    singularName: 'deployment',
    namespaced: true,
    kind: 'Deployment',
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    shortNames: ['deploy'],
    categories: ['all'],
    storageVersionHash: storageVersionHash('apps', 'v1', 'Deployment'),
  })
  t.same(apps?.resources.find((entry) => entry.name === 'deployments/scale'), {
    name: 'deployments/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'],
  })
  t.same(apps?.resources.find((entry) => entry.name === 'deployments/status'), {
    name: 'deployments/status', singularName: '', namespaced: true, kind: 'Deployment', verbs: ['get', 'patch', 'update'],
  })
  const core = apiResourceListDocument(BUILTIN_REGISTRY, '', 'v1')
  t.equal(core?.groupVersion, 'v1')
  t.same(core?.resources.find((entry) => entry.name === 'pods/log'), { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] })
  t.same(core?.resources.find((entry) => entry.name === 'pods/exec')?.verbs, ['create', 'get'])
  t.same(core?.resources.find((entry) => entry.name === 'nodes')?.namespaced, false)
  // Real kube-apiserver: services and namespaces have no deletecollection in 1.20.
  t.notOk(core?.resources.find((entry) => entry.name === 'services')?.verbs.includes('deletecollection'))
  t.notOk(core?.resources.find((entry) => entry.name === 'secrets')?.shortNames, 'no empty shortNames arrays')
  t.equal(apiResourceListDocument(BUILTIN_REGISTRY, 'apps', 'v1beta1'), undefined)
  t.equal(apiResourceListDocument(BUILTIN_REGISTRY, 'metrics.k8s.io', 'v1beta1'), undefined)
  // The value kube-apiserver 1.20 reports for apps/v1 Deployment.
  t.equal(storageVersionHash('apps', 'v1', 'Deployment'), '8aSe+NMegvE=')
})

// group/version, resource, kind, namespaced, short names, in "kubectl get all", subresources
const EXPECTED: Array<[string, string, string, boolean, string[], boolean, string[]]> = [
  ['v1', 'namespaces', 'Namespace', false, ['ns'], false, ['finalize', 'status']],
  ['v1', 'pods', 'Pod', true, ['po'], true, ['attach', 'exec', 'log', 'portforward', 'status']],
  ['v1', 'nodes', 'Node', false, ['no'], false, ['status']],
  ['v1', 'services', 'Service', true, ['svc'], true, ['status']],
  ['v1', 'endpoints', 'Endpoints', true, ['ep'], false, []],
  ['v1', 'configmaps', 'ConfigMap', true, ['cm'], false, []],
  ['v1', 'secrets', 'Secret', true, [], false, []],
  ['v1', 'events', 'Event', true, ['ev'], false, []],
  ['v1', 'serviceaccounts', 'ServiceAccount', true, ['sa'], false, []],
  ['v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true, ['pvc'], false, []],
  ['v1', 'persistentvolumes', 'PersistentVolume', false, ['pv'], false, []],
  ['v1', 'resourcequotas', 'ResourceQuota', true, ['quota'], false, ['status']],
  ['apps/v1', 'deployments', 'Deployment', true, ['deploy'], true, ['scale', 'status']],
  ['apps/v1', 'replicasets', 'ReplicaSet', true, ['rs'], true, ['scale', 'status']],
  ['apps/v1', 'statefulsets', 'StatefulSet', true, ['sts'], true, ['scale', 'status']],
  ['apps/v1', 'daemonsets', 'DaemonSet', true, ['ds'], true, ['status']],
  ['apps/v1', 'controllerrevisions', 'ControllerRevision', true, [], false, []],
  ['batch/v1', 'jobs', 'Job', true, [], true, ['status']],
  ['batch/v1', 'cronjobs', 'CronJob', true, ['cj'], true, ['status']],
  ['autoscaling/v2', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', true, ['hpa'], true, ['status']],
  ['coordination.k8s.io/v1', 'leases', 'Lease', true, [], false, []],
  ['discovery.k8s.io/v1', 'endpointslices', 'EndpointSlice', true, [], false, []],
  ['events.k8s.io/v1', 'events', 'Event', true, ['ev'], false, []],
  ['networking.k8s.io/v1', 'networkpolicies', 'NetworkPolicy', true, ['netpol'], false, []],
  ['storage.k8s.io/v1', 'storageclasses', 'StorageClass', false, ['sc'], false, []],
]

t.test('the registry holds exactly the resources of the issue', async (t) => {
  t.equal(BUILTIN_RESOURCES.length, EXPECTED.length)
  for (const [groupVersion, name, kind, namespaced, shortNames, inAll, subresources] of EXPECTED) {
    const [group, version] = groupVersion.includes('/') ? groupVersion.split('/') as [string, string] : ['', groupVersion]
    const resource = BUILTIN_REGISTRY.lookup(group, version, name)
    if (resource === undefined) {
      t.fail(`${groupVersion} ${name} missing`)
      continue
    }
    t.equal(resource.kind, kind, `${name} kind`)
    t.equal(resource.namespaced, namespaced, `${name} namespaced`)
    t.same(resource.shortNames, shortNames, `${name} shortNames`)
    t.same(resource.categories, inAll ? ['all'] : [], `${name} categories`)
    t.same(resource.subresources.map((sub) => sub.name).sort(), subresources, `${name} subresources`)
    t.ok(resource.verbs.includes('get') && resource.verbs.includes('list'), `${name} can be listed`)
    t.equal(BUILTIN_REGISTRY.lookupKind(group, version, kind), resource, `${name} by kind`)
    t.ok(resource.singularName !== '' && (resource.singularName !== name || name === 'endpoints'), `${name} singular ${resource.singularName}`)
    const entries = apiResourceListDocument(BUILTIN_REGISTRY, group, version)?.resources.map((entry) => entry.name) ?? []
    for (const sub of subresources) t.ok(entries.includes(`${name}/${sub}`), `${name}/${sub} listed`)
  }
  for (const resource of ['deployments', 'replicasets', 'statefulsets']) {
    const scale = BUILTIN_REGISTRY.lookup('apps', 'v1', resource)?.subresources.find((sub) => sub.name === 'scale')
    t.same(scale && { group: scale.group, version: scale.version, kind: scale.kind }, { group: 'autoscaling', version: 'v1', kind: 'Scale' }, `${resource}/scale`)
  }
})

t.test('a registry refuses duplicate resources', async (t) => {
  const pods = BUILTIN_REGISTRY.lookup('', 'v1', 'pods')
  t.ok(pods)
  if (pods !== undefined) t.throws(() => new ResourceRegistry([pods, pods]), { name: 'AssertionError', message: /duplicate resource pods in v1/ })
})
