// Goal: writes get the defaults Kubernetes applies (and kubectl prints), and objects that break
// their kind's rules are refused with field errors. Method: tables over applyDefaults and
// validateKind.
import t from 'tap'
import { applyDefaults, validateKind } from '../../../node/src/api/server/kinds.ts'

const deployment = (overrides: Record<string, unknown> = {}) => ({
  metadata: { name: 'web' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36', ports: [{ containerPort: 80 }] }] } },
    ...overrides,
  },
})

t.test('applyDefaults fills Deployment, pod template and container defaults', async (t) => {
  const defaulted = applyDefaults('Deployment', deployment()) as any
  t.equal(defaulted.spec.replicas, 1)
  t.equal(defaulted.spec.revisionHistoryLimit, 10)
  t.equal(defaulted.spec.progressDeadlineSeconds, 600)
  t.same(defaulted.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } })
  const pod = defaulted.spec.template.spec
  t.equal(pod.restartPolicy, 'Always')
  t.equal(pod.terminationGracePeriodSeconds, 30)
  t.equal(pod.dnsPolicy, 'ClusterFirst')
  t.equal(pod.containers[0].imagePullPolicy, 'IfNotPresent', 'a pinned tag is pulled only when missing')
  t.equal(pod.containers[0].ports[0].protocol, 'TCP')
  t.equal(pod.containers[0].terminationMessagePath, '/dev/termination-log')
  t.equal((applyDefaults('Pod', { spec: { containers: [{ name: 'a', image: 'busybox' }] } }) as any).spec.containers[0].imagePullPolicy, 'Always', 'untagged images are always pulled')
  t.equal((applyDefaults('Deployment', deployment({ replicas: 4 })) as any).spec.replicas, 4, 'given values win')
})

t.test('applyDefaults fills Service defaults', async (t) => {
  const service = applyDefaults('Service', { metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } }) as any
  t.equal(service.spec.type, 'ClusterIP')
  t.equal(service.spec.sessionAffinity, 'None')
  t.same(service.spec.ports[0], { protocol: 'TCP', targetPort: 80, port: 80 })
})

t.test('validateKind refuses broken workloads, pods and services with field errors', async (t) => {
  t.same(validateKind('Deployment', applyDefaults('Deployment', deployment())), [], 'a valid Deployment has no errors')
  const mismatch = validateKind('Deployment', applyDefaults('Deployment', deployment({ selector: { matchLabels: { app: 'other' } } })))
  t.match(mismatch, [{ field: 'spec.template.metadata.labels', detail: /selector. does not match template .labels/ }])
  t.match(validateKind('Deployment', applyDefaults('Deployment', deployment({ selector: undefined }))), [{ type: 'FieldValueRequired', field: 'spec.selector' }])
  t.match(validateKind('Deployment', applyDefaults('Deployment', deployment({ replicas: -1 }))), [{ field: 'spec.replicas' }])
  t.match(validateKind('Pod', { spec: { containers: [] } }), [{ type: 'FieldValueRequired', field: 'spec.containers' }])
  t.match(validateKind('Pod', { spec: { containers: [{ name: 'a' }, { name: 'a', image: 'x' }] } }), [
    { type: 'FieldValueRequired', field: 'spec.containers[0].image' },
    { type: 'FieldValueDuplicate', field: 'spec.containers[1].name' },
  ])
  t.match(validateKind('Pod', { spec: { restartPolicy: 'Sometimes', containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 70000 }] }] } }), [
    { field: 'spec.containers[0].ports[0].containerPort' },
    { type: 'FieldValueNotSupported', field: 'spec.restartPolicy' },
  ])
  t.match(validateKind('Service', applyDefaults('Service', { spec: { type: 'Weird', ports: [{ port: 0 }] } })), [
    { type: 'FieldValueNotSupported', field: 'spec.type' },
    { field: 'spec.ports[0].port' },
  ])
  t.same(validateKind('ConfigMap', { data: {} }), [], 'kinds without rules are accepted')
})
