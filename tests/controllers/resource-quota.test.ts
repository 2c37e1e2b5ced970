// Goal: quota accounting counts what Kubernetes' evaluators count (live pods and their
// requests/limits with init containers, object counts, count/<resource>, scopes), the reconcile
// writes status.hard = spec.hard and status.used only when they changed, and the admission check
// refuses creates over quota with Kubernetes' messages.
// Method: crafted quotas and objects; assertions on usage, plans and messages.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { quotaAdmissionError } from '../../node/src/controllers/resource-quota-admission.ts'
import type { UpdateStatusAction } from '../../node/src/controllers/plan.ts'
import { objectUsage, quotaUsage, reconcileResourceQuota, resourcesCountedBy, usageAsResourceList, type GroupResource } from '../../node/src/controllers/resource-quota.ts'

const PODS: GroupResource = { group: '', resource: 'pods' }
const CONFIGMAPS: GroupResource = { group: '', resource: 'configmaps' }

function quota(hard: Record<string, string>, options: { name?: string; scopes?: string[]; used?: Record<string, string> } = {}): JsonObject {
  const object: JsonObject = { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: options.name ?? 'q', namespace: 'team', uid: 'q-uid', resourceVersion: '4' }, spec: { hard } }
  if (options.scopes !== undefined) (object['spec'] as JsonObject)['scopes'] = options.scopes
  if (options.used !== undefined) object['status'] = { hard, used: options.used }
  return object
}

function pod(name: string, options: { cpu?: string; memory?: string; limitCpu?: string; phase?: string; init?: string; deadline?: number; namespace?: string } = {}): JsonObject {
  const requests: JsonObject = {}
  if (options.cpu !== undefined) requests['cpu'] = options.cpu
  if (options.memory !== undefined) requests['memory'] = options.memory
  const resources: JsonObject = { requests }
  if (options.limitCpu !== undefined) resources['limits'] = { cpu: options.limitCpu }
  const spec: JsonObject = { containers: [{ name: 'a', image: 'x', resources }, { name: 'b', image: 'x', resources: { requests: options.cpu === undefined ? {} : { cpu: '100m' } } }] }
  if (options.init !== undefined) spec['initContainers'] = [{ name: 'init', image: 'x', resources: { requests: { cpu: options.init } } }]
  if (options.deadline !== undefined) spec['activeDeadlineSeconds'] = options.deadline
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: options.namespace ?? 'team' }, spec, status: { phase: options.phase ?? 'Running' } }
}

const configMap = (name: string, namespace = 'team'): JsonObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } })

t.test('pod usage: live pods, summed containers, the largest init container when bigger', async (t) => {
  t.same(usageAsResourceList(objectUsage(PODS, pod('p', { cpu: '250m', memory: '64Mi', limitCpu: '1' }))), {
    'count/pods': '1', cpu: '350m', 'limits.cpu': '1', memory: '64Mi', pods: '1', 'requests.cpu': '350m', 'requests.memory': '64Mi',
  })
  t.equal(usageAsResourceList(objectUsage(PODS, pod('p', { cpu: '250m', init: '2' })))['requests.cpu'], '2', 'an init container asking more than all app containers counts')
  t.same(usageAsResourceList(objectUsage(PODS, pod('p', { phase: 'Succeeded' }))), {}, 'finished pods use nothing')
  t.same(resourcesCountedBy(['pods', 'requests.cpu', 'count/deployments.apps', 'services.nodeports', 'secrets']).map((r) => `${r.group}/${r.resource}`), ['/pods', '/secrets', '/services', 'apps/deployments'])
})

t.test('quota usage over objects, with namespaces and scopes', async (t) => {
  const objects = new Map<string, JsonObject[]>([
    ['/pods', [pod('a', { cpu: '200m' }), pod('b', { deadline: 30 }), pod('c', { phase: 'Failed' }), pod('d', { cpu: '1', namespace: 'elsewhere' })]],
    ['/configmaps', [configMap('one'), configMap('two'), configMap('three', 'elsewhere')]],
  ])
  const objectsOf = (resource: GroupResource): JsonObject[] | undefined => objects.get(`${resource.group}/${resource.resource}`)
  const all = quota({ pods: '10', 'requests.cpu': '2', configmaps: '5', 'count/configmaps': '5', 'count/deployments.apps': '3', 'limits.memory': '1Gi' })
  t.same(usageAsResourceList(quotaUsage(all, objectsOf)), { configmaps: '2', 'count/configmaps': '2', 'count/deployments.apps': '0', 'limits.memory': '0', pods: '2', 'requests.cpu': '300m' })
  t.same(usageAsResourceList(quotaUsage(quota({ pods: '10' }, { scopes: ['Terminating'] }), objectsOf)), { pods: '1' }, 'Terminating counts pods with a deadline')
  t.same(usageAsResourceList(quotaUsage(quota({ pods: '10', configmaps: '3' }, { scopes: ['BestEffort'] }), objectsOf)), { configmaps: '0', pods: '1' }, 'scoped quotas count only matching pods')
})

t.test('reconcile writes status.hard and status.used, then nothing', async (t) => {
  const q = quota({ pods: '4', configmaps: '2' })
  const objectsOf = (resource: GroupResource): JsonObject[] => (resource.resource === 'pods' ? [pod('a')] : [configMap('x')])
  const actions = reconcileResourceQuota(q, objectsOf).actions
  t.equal(actions.length, 1)
  const write = actions[0] as UpdateStatusAction
  t.equal(write.type, 'updateStatus')
  t.same(write.object['status'], { hard: { pods: '4', configmaps: '2' }, used: { configmaps: '1', pods: '1' } })
  t.same(reconcileResourceQuota({ ...q, status: write.object['status'] ?? null }, objectsOf).actions, [], 'quiet once the status says it')
  t.same(reconcileResourceQuota({ ...q, status: { hard: { pods: '4', configmaps: '2' }, used: { pods: '1000m', configmaps: '1' } } }, objectsOf).actions, [], 'equal amounts in other spellings are equal')
})

t.test('admission refuses creates over quota with Kubernetes messages', async (t) => {
  const full = quota({ pods: '2', 'requests.cpu': '1' }, { name: 'compute', used: { pods: '2', 'requests.cpu': '500m' } })
  t.equal(quotaAdmissionError({ resource: PODS, object: pod('new', { cpu: '100m' }), quotas: [full] }), 'exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2')
  const roomy = quota({ pods: '5', 'requests.cpu': '1' }, { name: 'compute', used: { pods: '2', 'requests.cpu': '500m' } })
  t.equal(quotaAdmissionError({ resource: PODS, object: pod('new', { cpu: '300m' }), quotas: [roomy] }), undefined, '800m of 1 fits')
  t.equal(
    quotaAdmissionError({ resource: PODS, object: pod('new', { cpu: '500m' }), quotas: [roomy] }),
    'exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=500m, limited: requests.cpu=1',
  )
  t.equal(quotaAdmissionError({ resource: PODS, object: pod('new'), quotas: [roomy] }), 'failed quota: compute: must specify requests.cpu', 'quotas on requests demand them of every container')
  t.equal(quotaAdmissionError({ resource: CONFIGMAPS, object: configMap('c'), quotas: [full] }), undefined, 'a quota on pods does not refuse configmaps')
  const counts = quota({ 'count/configmaps': '1' }, { name: 'objects' })
  t.equal(quotaAdmissionError({ resource: CONFIGMAPS, object: configMap('c'), quotas: [counts] }), 'status unknown for quota: objects, resources: count/configmaps', 'a quota the controller has not computed yet refuses')
  const live = new Map([['count/configmaps', quotaUsage(counts, () => [configMap('old')]).get('count/configmaps')!]])
  t.equal(
    quotaAdmissionError({ resource: CONFIGMAPS, object: configMap('c'), quotas: [counts], usedOf: () => live }),
    'exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1',
    'live usage can be supplied',
  )
  const bare: JsonObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }
  t.match(quotaAdmissionError({ resource: CONFIGMAPS, object: bare, quotas: [counts], usedOf: () => live }) ?? '', /^exceeded quota: objects,/, 'an object whose namespace comes from the URL is counted in the quotas\' namespace')
  const second = quota({ pods: '1' }, { name: 'a-first', used: { pods: '1' } })
  t.match(quotaAdmissionError({ resource: PODS, object: pod('new', { cpu: '1m' }), quotas: [roomy, second] }) ?? '', /^exceeded quota: a-first,/, 'quotas are checked in name order')
})
