// Goal: Deployments, ReplicaSets, StatefulSets and DaemonSets get Kubernetes' defaults and are
// refused, with Kubernetes' field paths and reasons, when a workload rule is broken — including
// the update-only rules (immutable selectors, StatefulSet spec fields).
// Method: tables over applyDefaults and validateKind; each rule has a failing case.
import t from 'tap'
import { formatFieldError } from '../../../node/src/api/machinery/field-errors.ts'
import { accepted, container, defaulted, errorsOf, refused, template, type Loose } from './kinds-fixtures.ts'

const deployment = (spec: Loose = {}): Loose => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' },
  spec: { selector: { matchLabels: { app: 'web' } }, template: template(), ...spec },
})
const replicaSet = (spec: Loose = {}): Loose => ({ ...deployment(spec), kind: 'ReplicaSet' })
const statefulSet = (spec: Loose = {}): Loose => ({ ...deployment({ serviceName: 'web', ...spec }), kind: 'StatefulSet' })
const daemonSet = (spec: Loose = {}): Loose => ({ ...deployment(spec), kind: 'DaemonSet' })

t.test('Deployment defaults: one replica, 25%/25% rolling update, 10 revisions, 600 s deadline', async (t) => {
  const result = defaulted('Deployment', deployment())
  t.match(result.spec, {
    replicas: 1,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
    template: { spec: { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', containers: [{ imagePullPolicy: 'IfNotPresent' }] } },
  })
  t.same(defaulted('Deployment', deployment({ strategy: { type: 'Recreate' } })).spec.strategy, { type: 'Recreate' }, 'Recreate gets no rollingUpdate')
  t.same(defaulted('Deployment', deployment({ strategy: { rollingUpdate: { maxSurge: 1 } } })).spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: '25%' } })
  t.equal(defaulted('Deployment', deployment({ replicas: 0 })).spec.replicas, 0, 'zero replicas is a value, not unset')
  accepted(t, 'Deployment', deployment())
})

t.test('Deployment selector: required, non-empty, matching the template labels', async (t) => {
  refused(t, 'Deployment', deployment({ selector: undefined }), { field: 'spec.selector', type: 'FieldValueRequired' })
  refused(t, 'Deployment', deployment({ selector: {} }), { field: 'spec.selector', type: 'FieldValueInvalid', detail: 'empty selector is invalid for deployment' })
  const mismatch = errorsOf('Deployment', deployment({ selector: { matchLabels: { app: 'api' } } }))
  t.same(mismatch.map(formatFieldError), ['spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`'])
  refused(t, 'Deployment', deployment({ selector: { matchExpressions: [{ key: 'app', operator: 'Like', values: ['web'] }] } }), { field: 'spec.selector.matchExpressions[0].operator', type: 'FieldValueInvalid' })
  refused(t, 'Deployment', deployment({ selector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }), { field: 'spec.selector.matchExpressions[0].values', type: 'FieldValueRequired' })
  accepted(t, 'Deployment', deployment({ selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }, { key: 'legacy', operator: 'DoesNotExist' }] } }))
})

t.test('Deployment spec rules: replicas, strategy, history, deadlines, template', async (t) => {
  refused(t, 'Deployment', deployment({ replicas: -1 }), { field: 'spec.replicas', type: 'FieldValueInvalid', detail: 'must be greater than or equal to 0' })
  refused(t, 'Deployment', deployment({ strategy: { type: 'BlueGreen' } }), { field: 'spec.strategy', type: 'FieldValueNotSupported', detail: '"Recreate", "RollingUpdate"' })
  refused(t, 'Deployment', deployment({ strategy: { type: 'Recreate', rollingUpdate: { maxSurge: 1 } } }), { field: 'spec.strategy.rollingUpdate', type: 'FieldValueForbidden', detail: "may not be specified when strategy `type` is 'Recreate'" })
  refused(t, 'Deployment', deployment({ strategy: { rollingUpdate: { maxSurge: 'lots' } } }), { field: 'spec.strategy.rollingUpdate.maxSurge', type: 'FieldValueInvalid', detail: 'a valid percent string' })
  refused(t, 'Deployment', deployment({ strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } } }), { field: 'spec.strategy.rollingUpdate.maxUnavailable', type: 'FieldValueInvalid', detail: 'may not be 0 when `maxSurge` is 0' })
  refused(t, 'Deployment', deployment({ strategy: { rollingUpdate: { maxUnavailable: '120%' } } }), { field: 'spec.strategy.rollingUpdate.maxUnavailable', type: 'FieldValueInvalid', detail: 'must not be greater than 100%' })
  refused(t, 'Deployment', deployment({ strategy: { rollingUpdate: { maxSurge: -1 } } }), { field: 'spec.strategy.rollingUpdate.maxSurge', type: 'FieldValueInvalid' })
  refused(t, 'Deployment', deployment({ revisionHistoryLimit: -1 }), { field: 'spec.revisionHistoryLimit', type: 'FieldValueInvalid' })
  refused(t, 'Deployment', deployment({ minReadySeconds: 600 }), { field: 'spec.progressDeadlineSeconds', type: 'FieldValueInvalid', detail: 'must be greater than minReadySeconds' })
  refused(t, 'Deployment', deployment({ template: template({ restartPolicy: 'OnFailure' }) }), { field: 'spec.template.spec.restartPolicy', type: 'FieldValueNotSupported', detail: 'supported values: "Always"' })
  refused(t, 'Deployment', deployment({ template: template({ activeDeadlineSeconds: 60 }) }), { field: 'spec.template.spec.activeDeadlineSeconds', type: 'FieldValueForbidden' })
  refused(t, 'Deployment', deployment({ template: template({ containers: [container({ image: '' })] }) }), { field: 'spec.template.spec.containers[0].image', type: 'FieldValueRequired' })
  refused(t, 'Deployment', deployment({ template: { metadata: { labels: { app: 'web', 'bad key': 'x' } }, spec: { containers: [container()] } } }), { field: 'spec.template.metadata.labels', type: 'FieldValueInvalid' })
  accepted(t, 'Deployment', deployment({ replicas: 0, minReadySeconds: 10, progressDeadlineSeconds: 11, revisionHistoryLimit: 0, strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } } }))
})

t.test('a Deployment or ReplicaSet selector cannot change on update', async (t) => {
  for (const [kind, make] of [['Deployment', deployment], ['ReplicaSet', replicaSet]] as const) {
    const stored = defaulted(kind, make())
    const relabelled = make({ selector: { matchLabels: { app: 'web', tier: 'front' } }, template: template({}, { app: 'web', tier: 'front' }) })
    refused(t, kind, relabelled, { field: 'spec.selector', type: 'FieldValueInvalid', detail: 'field is immutable' }, stored)
    accepted(t, kind, make({ replicas: 5 }), stored, `${kind}: scaling is an allowed update`)
  }
})

t.test('ReplicaSets: one replica by default; the Deployment selector rules', async (t) => {
  t.equal(defaulted('ReplicaSet', replicaSet()).spec.replicas, 1)
  accepted(t, 'ReplicaSet', replicaSet())
  refused(t, 'ReplicaSet', replicaSet({ selector: { matchLabels: {} } }), { field: 'spec.selector', type: 'FieldValueInvalid', detail: 'empty selector is invalid for deployment' })
  refused(t, 'ReplicaSet', replicaSet({ replicas: -3 }), { field: 'spec.replicas', type: 'FieldValueInvalid' })
  refused(t, 'ReplicaSet', replicaSet({ minReadySeconds: -1 }), { field: 'spec.minReadySeconds', type: 'FieldValueInvalid' })
  refused(t, 'ReplicaSet', replicaSet({ template: template({ restartPolicy: 'Never' }) }), { field: 'spec.template.spec.restartPolicy', type: 'FieldValueNotSupported' })
})

t.test('StatefulSet defaults: ordered pods, rolling updates from partition 0, claim templates', async (t) => {
  const claim = { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1024Mi' } } } }
  const result = defaulted('StatefulSet', statefulSet({ volumeClaimTemplates: [claim] }))
  t.match(result.spec, {
    replicas: 1,
    podManagementPolicy: 'OrderedReady',
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
    revisionHistoryLimit: 10,
    persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
  })
  t.same(result.spec.volumeClaimTemplates[0], { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeMode: 'Filesystem' }, status: { phase: 'Pending' } })
  t.same(defaulted('StatefulSet', statefulSet({ updateStrategy: { type: 'OnDelete' } })).spec.updateStrategy, { type: 'OnDelete' })
  const mounting = template({ containers: [container({ volumeMounts: [{ name: 'data', mountPath: '/var/lib/data' }] })] })
  accepted(t, 'StatefulSet', statefulSet({ volumeClaimTemplates: [claim], template: mounting }), undefined, 'pods may mount claim templates')
})

t.test('StatefulSet rules: policies, strategy, service name, claim templates, updates', async (t) => {
  refused(t, 'StatefulSet', statefulSet({ podManagementPolicy: 'Random' }), { field: 'spec.podManagementPolicy', type: 'FieldValueInvalid', detail: "must be 'OrderedReady' or 'Parallel'" })
  refused(t, 'StatefulSet', statefulSet({ updateStrategy: { type: 'OnDelete', rollingUpdate: { partition: 1 } } }), { field: 'spec.updateStrategy.rollingUpdate', type: 'FieldValueInvalid', detail: "only allowed for updateStrategy 'RollingUpdate'" })
  refused(t, 'StatefulSet', statefulSet({ updateStrategy: { type: 'Canary' } }), { field: 'spec.updateStrategy', type: 'FieldValueInvalid', detail: "must be 'RollingUpdate' or 'OnDelete'" })
  refused(t, 'StatefulSet', statefulSet({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: -1 } } }), { field: 'spec.updateStrategy.rollingUpdate.partition', type: 'FieldValueInvalid' })
  refused(t, 'StatefulSet', statefulSet({ serviceName: 'Web.Service' }), { field: 'spec.serviceName', type: 'FieldValueInvalid' })
  refused(t, 'StatefulSet', statefulSet({ selector: {} }), { field: 'spec.selector', type: 'FieldValueInvalid', detail: 'empty selector is invalid for statefulset' })
  refused(t, 'StatefulSet', statefulSet({ template: template({ restartPolicy: 'Never' }) }), { field: 'spec.template.spec.restartPolicy', type: 'FieldValueNotSupported' })
  refused(t, 'StatefulSet', statefulSet({ volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'] } }] }), { field: 'spec.volumeClaimTemplates[0].spec.resources[storage]', type: 'FieldValueRequired' })
  refused(t, 'StatefulSet', statefulSet({ volumeClaimTemplates: [{ spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }] }), { field: 'spec.volumeClaimTemplates[0].metadata.name', type: 'FieldValueRequired' })
  refused(t, 'StatefulSet', statefulSet({ persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Archive' } }), { field: 'spec.persistentVolumeClaimRetentionPolicy.whenDeleted', type: 'FieldValueNotSupported' })
  const stored = defaulted('StatefulSet', statefulSet())
  accepted(t, 'StatefulSet', statefulSet({ replicas: 3, template: template({ containers: [container({ image: 'registry.local/app:2.0' })] }) }), stored, 'replicas and template may change')
  refused(t, 'StatefulSet', statefulSet({ podManagementPolicy: 'Parallel' }), {
    field: 'spec', type: 'FieldValueForbidden', detail: "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
  }, stored)
})

t.test('DaemonSet defaults and rules', async (t) => {
  const result = defaulted('DaemonSet', daemonSet())
  t.same(result.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } })
  t.equal(result.spec.revisionHistoryLimit, 10)
  t.notOk('replicas' in result.spec, 'a DaemonSet has no replica count')
  accepted(t, 'DaemonSet', daemonSet())
  accepted(t, 'DaemonSet', daemonSet({ updateStrategy: { type: 'OnDelete' } }))
  refused(t, 'DaemonSet', daemonSet({ updateStrategy: { type: 'Surge' } }), { field: 'spec.updateStrategy', type: 'FieldValueNotSupported', detail: '"RollingUpdate", "OnDelete"' })
  refused(t, 'DaemonSet', daemonSet({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } } }), { field: 'spec.updateStrategy.rollingUpdate.maxUnavailable', type: 'FieldValueInvalid', detail: 'may not be 0 when `maxSurge` is 0' })
  refused(t, 'DaemonSet', daemonSet({ selector: undefined }), { field: 'spec.selector', type: 'FieldValueRequired' })
  refused(t, 'DaemonSet', daemonSet({ selector: {} }), { field: 'spec.selector', type: 'FieldValueInvalid', detail: 'empty selector is invalid for daemonset' })
  refused(t, 'DaemonSet', daemonSet({ selector: { matchLabels: { app: 'agent' } } }), { field: 'spec.template.metadata.labels', type: 'FieldValueInvalid' })
  refused(t, 'DaemonSet', daemonSet({ template: template({ activeDeadlineSeconds: 5 }) }), { field: 'spec.template.spec.activeDeadlineSeconds', type: 'FieldValueInvalid', detail: 'activeDeadlineSeconds must be nil for daemon set' })
  const stored = defaulted('DaemonSet', daemonSet())
  refused(t, 'DaemonSet', daemonSet({ selector: { matchLabels: { app: 'web', v: '2' } }, template: template({}, { app: 'web', v: '2' }) }), { field: 'spec.selector', type: 'FieldValueInvalid', detail: 'field is immutable' }, stored)
})
