// Goal: every resource path shape kubectl uses resolves to the right resource, namespace, name
// and subresource, and anything else is a not-found with a reason. Method: a table of paths.
import t from 'tap'
import { resolveResource, splitApiPath } from '../../../node/src/api/discovery/resolve.ts'

type Expected = { group: string; version: string; resource: string; subresource?: string; namespace?: string; name?: string; namespaced: boolean }

const FOUND: Array<[string, Expected]> = [
  ['/api/v1/pods', { group: '', version: 'v1', resource: 'pods', namespaced: true }],
  ['/api/v1/namespaces/default/pods', { group: '', version: 'v1', resource: 'pods', namespace: 'default', namespaced: true }],
  ['/api/v1/namespaces/default/pods/web-1', { group: '', version: 'v1', resource: 'pods', namespace: 'default', name: 'web-1', namespaced: true }],
  ['/api/v1/namespaces/default/pods/web-1/log?follow=true', { group: '', version: 'v1', resource: 'pods', subresource: 'log', namespace: 'default', name: 'web-1', namespaced: true }],
  ['/api/v1/namespaces/ns/pods/x/exec', { group: '', version: 'v1', resource: 'pods', subresource: 'exec', namespace: 'ns', name: 'x', namespaced: true }],
  ['/api/v1/namespaces/ns/pods/x/portforward', { group: '', version: 'v1', resource: 'pods', subresource: 'portforward', namespace: 'ns', name: 'x', namespaced: true }],
  ['/api/v1/namespaces/ns/pods/x/attach', { group: '', version: 'v1', resource: 'pods', subresource: 'attach', namespace: 'ns', name: 'x', namespaced: true }],
  ['/api/v1/namespaces', { group: '', version: 'v1', resource: 'namespaces', namespaced: false }],
  ['/api/v1/namespaces/team-a', { group: '', version: 'v1', resource: 'namespaces', name: 'team-a', namespaced: false }],
  ['/api/v1/namespaces/team-a/status', { group: '', version: 'v1', resource: 'namespaces', subresource: 'status', name: 'team-a', namespaced: false }],
  ['/api/v1/namespaces/team-a/finalize', { group: '', version: 'v1', resource: 'namespaces', subresource: 'finalize', name: 'team-a', namespaced: false }],
  ['/api/v1/nodes', { group: '', version: 'v1', resource: 'nodes', namespaced: false }],
  ['/api/v1/nodes/node-1/status', { group: '', version: 'v1', resource: 'nodes', subresource: 'status', name: 'node-1', namespaced: false }],
  ['/api/v1/persistentvolumes/pv-1', { group: '', version: 'v1', resource: 'persistentvolumes', name: 'pv-1', namespaced: false }],
  ['/api/v1/namespaces/kube-system/services', { group: '', version: 'v1', resource: 'services', namespace: 'kube-system', namespaced: true }],
  ['/apis/apps/v1/deployments', { group: 'apps', version: 'v1', resource: 'deployments', namespaced: true }],
  ['/apis/apps/v1/namespaces/default/deployments/web/scale', { group: 'apps', version: 'v1', resource: 'deployments', subresource: 'scale', namespace: 'default', name: 'web', namespaced: true }],
  ['/apis/apps/v1/namespaces/default/statefulsets/db/status', { group: 'apps', version: 'v1', resource: 'statefulsets', subresource: 'status', namespace: 'default', name: 'db', namespaced: true }],
  ['/apis/batch/v1/namespaces/default/cronjobs/nightly', { group: 'batch', version: 'v1', resource: 'cronjobs', namespace: 'default', name: 'nightly', namespaced: true }],
  ['/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web/status', { group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', subresource: 'status', namespace: 'default', name: 'web', namespaced: true }],
  ['/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1', { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace: 'kube-node-lease', name: 'node-1', namespaced: true }],
  ['/apis/events.k8s.io/v1/events', { group: 'events.k8s.io', version: 'v1', resource: 'events', namespaced: true }],
  // A namespace called like a subresource, and percent-encoded names.
  ['/api/v1/namespaces/status/pods', { group: '', version: 'v1', resource: 'pods', namespace: 'status', namespaced: true }],
  ['/api/v1/namespaces/default/configmaps/a%3Ab', { group: '', version: 'v1', resource: 'configmaps', namespace: 'default', name: 'a:b', namespaced: true }],
  ['/api/v1/namespaces/default/configmaps/', { group: '', version: 'v1', resource: 'configmaps', namespace: 'default', namespaced: true }],
]

const NOT_FOUND: Array<[string, RegExp]> = [
  ['/', /not an API resource path/],
  ['/healthz', /not an API resource path/],
  ['/apis', /not an API resource path/],
  ['/api', /no API version/],
  ['/api/v1', /discovery path/],
  ['/apis/apps/v1', /discovery path/],
  ['/apis/apps', /no API version/],
  ['/api/v2/pods', /does not serve the API group-version "v2"/],
  ['/apis/apps/v1beta1/deployments', /does not serve the API group-version "apps\/v1beta1"/],
  ['/apis/metrics.k8s.io/v1beta1/pods', /does not serve/],
  ['/api/v1/widgets', /could not find the requested resource "widgets" in "v1"/],
  ['/apis/apps/v1/pods', /could not find the requested resource "pods" in "apps\/v1"/],
  ['/api/v1/pods/web-1', /pods are namespaced/],
  ['/api/v1/namespaces/default/nodes/node-1', /nodes are cluster-scoped/],
  ['/api/v1/namespaces/default/namespaces', /namespaces are cluster-scoped/],
  ['/api/v1/namespaces/default/pods/x/shell', /pods have no subresource "shell"/],
  ['/api/v1/namespaces/default/configmaps/x/status', /configmaps have no subresource "status"/],
  ['/api/v1/namespaces/team-a/bogus', /could not find the requested resource "bogus"/],
  ['/api/v1/namespaces/default/pods/x/log/more', /too many/],
  ['/api/v1/namespaces//pods', /empty segment/],
  ['/api/v1/namespaces/default/pods/..', /not a valid object name/],
]

t.test('resource paths resolve', async (t) => {
  for (const [path, expected] of FOUND) {
    const segments = splitApiPath(path)
    const result = segments === undefined ? undefined : resolveResource(segments)
    if (result === undefined || !result.ok) {
      t.fail(`${path}: ${result?.ok === false ? result.reason : 'bad encoding'}`)
      continue
    }
    const { definition, subresourceDefinition, ...target } = result.target
    t.same(target, { subresource: undefined, namespace: undefined, name: undefined, ...expected }, path)
    t.equal(definition.name, expected.resource, `${path} definition`)
    t.equal(subresourceDefinition?.name, expected.subresource, `${path} subresource definition`)
  }
})

t.test('other paths are not found, with a reason', async (t) => {
  for (const [path, reason] of NOT_FOUND) {
    const segments = splitApiPath(path)
    const result = segments === undefined ? undefined : resolveResource(segments)
    t.equal(result?.ok, false, path)
    if (result?.ok === false) t.match(result.reason, reason, path)
  }
  t.equal(splitApiPath('/api/v1/namespaces/%zz/pods'), undefined, 'bad percent-encoding')
})
