// Goal: the names users type resolve to the resources kubectl would pick — plurals, singulars,
// kinds, short names, group-qualified names, the `all` category — and positional arguments split
// into types and names as kubectl's resource builder splits them. Method: real discovery through
// RestClient against the in-process API server, then tables over resolve, forKind and
// resolveTargets.
import t from 'tap'
import { RestClient } from '../../node/src/kubectl/rest-client.ts'
import { groupResourceName, kindPrefix, ResourceCatalog, resourcePath } from '../../node/src/kubectl/resource-catalog.ts'
import { resolveSingleTarget, resolveTargets } from '../../node/src/kubectl/targets.ts'
import { startTestApiServer } from './test-api-server.ts'

t.test('ResourceCatalog resolves what users type through discovery', async (t) => {
  const server = await startTestApiServer()
  const client = new RestClient({ endpoints: [{ server: server.url, clusterName: 'test', insecureSkipTlsVerify: false, user: {} }] })
  t.teardown(async () => {
    client.close()
    await server.close()
  })
  const catalog = await ResourceCatalog.discover(client)
  const resolved = (text: string): string => catalog.resolve(text).map((resource) => `${groupResourceName(resource)}/${resource.version}`).join(' ')
  const cases: Array<[string, string]> = [
    ['pods', 'pods/v1'],
    ['pod', 'pods/v1'],
    ['po', 'pods/v1'],
    ['Pod', 'pods/v1'],
    ['PODS', 'pods/v1'],
    ['deploy', 'deployments.apps/v1'],
    ['Deployment', 'deployments.apps/v1'],
    ['deployments.apps', 'deployments.apps/v1'],
    ['deployments.v1.apps', 'deployments.apps/v1'],
    ['svc', 'services/v1'],
    ['cm', 'configmaps/v1'],
    ['ns', 'namespaces/v1'],
    ['ev', 'events/v1'],
    ['events.events.k8s.io', 'events.events.k8s.io/v1'],
    ['rs', 'replicasets.apps/v1'],
  ]
  for (const [text, expected] of cases) t.equal(resolved(text), expected, text)
  const all = catalog.resolve('all').map(groupResourceName)
  t.ok(all.includes('pods') && all.includes('services') && all.includes('deployments.apps') && all.includes('replicasets.apps'), 'all = the resources of the all category')
  t.notOk(all.includes('configmaps'), 'configmaps are not in all')
  t.throws(() => catalog.resolve('widgets'), { name: 'CommandError', message: 'the server doesn\'t have a resource type "widgets"' })
  t.throws(() => catalog.resolve('pods/log'), /doesn't have a resource type "pods\/log"/, 'subresources are not types')
  t.same(catalog.resolveList('deploy,svc,deployments').map(groupResourceName), ['deployments.apps', 'services'], 'a list without duplicates')
  t.equal(groupResourceName(catalog.forKind('apps/v1', 'Deployment')), 'deployments.apps')
  t.throws(() => catalog.forKind('apps/v2', 'Deployment'), /no matches for kind "Deployment" in version "apps\/v2"/)
  t.equal(kindPrefix(catalog.forKind('v1', 'ConfigMap')), 'configmap')
  t.equal(resourcePath(catalog.forKind('apps/v1', 'Deployment'), 'team a', 'web', 'scale'), '/apis/apps/v1/namespaces/team%20a/deployments/web/scale')
  t.equal(resourcePath(catalog.forKind('v1', 'Namespace'), 'ignored', 'x'), '/api/v1/namespaces/x', 'cluster-scoped paths have no namespace')
  t.ok(catalog.groups.has('apps') && !catalog.groups.has('metrics.k8s.io'))

  const targets = (positionals: string[]): string =>
    resolveTargets(positionals, catalog)
      .map((target) => `${target.resource.name}:${target.names.join('+')}`)
      .join(' ')
  t.equal(targets(['pods']), 'pods:')
  t.equal(targets(['pod', 'a', 'b']), 'pods:a+b')
  t.equal(targets(['deploy,svc', 'web']), 'deployments:web services:web')
  t.equal(targets(['po/a', 'svc/b', 'pod/c']), 'pods:a+c services:b')
  t.throws(() => resolveTargets(['pod', 'svc/b'], catalog), /there is no need to specify a resource type as a separate argument/)
  t.throws(() => resolveTargets([], catalog, 'describe'), /you must specify the type of resource to describe/)
  t.throws(() => resolveTargets(['widget/x'], catalog), /doesn't have a resource type "widget"/)
  t.same(resolveSingleTarget(['deploy/web'], catalog, 'scale').name, 'web')
  t.throws(() => resolveSingleTarget(['deploy'], catalog, 'scale'), /scale needs exactly one object/)
})
