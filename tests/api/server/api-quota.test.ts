// Goal: ResourceQuota admission: a create that would exceed a namespace's quota is refused with
// 403 Forbidden and Kubernetes' `exceeded quota` message, and stores nothing; objects within the
// quota, and namespaces without quotas, are unaffected.
import t from 'tap'
import { ApiHarness, configMap } from './api-harness.ts'

const pod = (name: string): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'c', image: 'busybox:local', resources: { requests: { cpu: '500m', memory: '64Mi' }, limits: { cpu: '500m', memory: '64Mi' } } }] },
})

t.test('a create beyond a quota is 403 and writes nothing', async (t) => {
  const harness = await new ApiHarness().start()
  t.teardown(() => harness.stop())
  const created = await harness.post('/api/v1/namespaces/default/resourcequotas', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'small' }, spec: { hard: { pods: '1', 'requests.cpu': '1' } } })
  t.equal(created.status, 201, 'the quota is created')
  // The quota controller keeps status.used; here the test plays it.
  const status = await harness.request('PATCH', '/api/v1/namespaces/default/resourcequotas/small/status', {
    body: { status: { hard: { pods: '1', 'requests.cpu': '1' }, used: { pods: '1', 'requests.cpu': '500m' } } },
    contentType: 'application/merge-patch+json',
  })
  t.equal(status.status, 200, 'its usage is recorded')
  const before = harness.snapshot()
  const refused = await harness.post('/api/v1/namespaces/default/pods', pod('second'))
  t.equal(refused.status, 403, 'a pod over the pod count is Forbidden')
  t.match(refused.json, { kind: 'Status', reason: 'Forbidden', message: /pods "second" is forbidden: exceeded quota: small, requested: pods=1, used: pods=1, limited: pods=1$/ })
  t.equal(harness.snapshot(), before, 'and nothing is stored')
  t.equal((await harness.post('/api/v1/namespaces/default/configmaps', configMap('free'))).status, 201, 'kinds the quota does not count are admitted')
  t.equal((await harness.post('/api/v1/namespaces/kube-public/pods', pod('elsewhere'))).status, 201, 'other namespaces are unaffected')
})
