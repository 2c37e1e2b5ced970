// Goal: the remaining built-in kinds — Namespace, Node, Event (both groups), ResourceQuota,
// Lease, HorizontalPodAutoscaler, PersistentVolume(Claim), ControllerRevision, ServiceAccount —
// get Kubernetes' defaults and are refused with its field paths and reasons; and the metadata
// rules every kind shares hold. Method: tables over applyDefaults and validateKind.
import t from 'tap'
import { formatFieldError } from '../../../node/src/api/machinery/field-errors.ts'
import { accepted, defaulted, errorsOf, refused, type Loose } from './kinds-fixtures.ts'

const namespace = (name: string, spec?: Loose): Loose => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name }, ...(spec === undefined ? {} : { spec }) })
const node = (spec: Loose = {}, status?: Loose): Loose => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1.zone-a' }, spec, ...(status === undefined ? {} : { status }) })
const event = (fields: Loose = {}): Loose => ({
  apiVersion: 'v1', kind: 'Event', metadata: { name: 'web-0.17a', namespace: 'default' },
  involvedObject: { kind: 'Pod', name: 'web-0', namespace: 'default' }, reason: 'Scheduled', message: 'assigned', type: 'Normal', ...fields,
})
const quota = (hard: Loose, spec: Loose = {}): Loose => ({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q', namespace: 'default' }, spec: { hard, ...spec } })
const lease = (spec: Loose): Loose => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'node-1', namespace: 'kube-node-lease' }, spec })
const hpa = (spec: Loose = {}): Loose => ({
  apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'default' },
  spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 10, ...spec },
})
const claim = (spec: Loose = {}): Loose => ({
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'default' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } }, ...spec },
})
const volume = (spec: Loose = {}): Loose => ({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-1' }, spec: { accessModes: ['ReadWriteOnce'], capacity: { storage: '10Gi' }, hostPath: { path: '/srv/pv-1' }, ...spec } })

t.test('Namespaces: name label, kubernetes finalizer, Active; DNS-label names', async (t) => {
  const result = defaulted('Namespace', namespace('team-a'))
  t.same(result.metadata.labels, { 'kubernetes.io/metadata.name': 'team-a' })
  t.same(result.spec.finalizers, ['kubernetes'])
  t.equal(result.status.phase, 'Active')
  t.same(defaulted('Namespace', { ...namespace('team-a'), metadata: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'spoofed' } } }).metadata.labels, { 'kubernetes.io/metadata.name': 'team-a' }, 'the label cannot be spoofed')
  t.same(defaulted('Namespace', namespace('team-a'), defaulted('Namespace', namespace('team-a', { finalizers: [] }))).spec ?? {}, {}, 'the finalizer is added on create only')
  accepted(t, 'Namespace', namespace('team-a'))
  refused(t, 'Namespace', namespace('team.a'), { field: 'metadata.name', type: 'FieldValueInvalid', detail: 'RFC 1123 label' })
  refused(t, 'Namespace', namespace('team-a', { finalizers: ['cleanup'] }), { field: 'spec.finalizers', type: 'FieldValueInvalid', detail: 'name is neither a standard finalizer name nor is it fully qualified' })
  accepted(t, 'Namespace', namespace('team-a', { finalizers: ['example.com/cleanup'] }))
})

t.test('Nodes: pod CIDRs in both shapes, allocatable from capacity, taints, updates', async (t) => {
  const result = defaulted('Node', node({ podCIDR: '10.244.1.0/24' }, { capacity: { cpu: 4, memory: '8192Mi', pods: '110' } }))
  t.same(result.spec.podCIDRs, ['10.244.1.0/24'])
  t.same(result.status.allocatable, { cpu: '4', memory: '8Gi', pods: '110' })
  t.equal(defaulted('Node', node({ podCIDRs: ['fd00::/64'] })).spec.podCIDR, 'fd00::/64')
  accepted(t, 'Node', node({ podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'], taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }, { key: 'dedicated', value: 'db', effect: 'NoExecute' }] }))
  refused(t, 'Node', node({ podCIDR: '10.244.1.0/33' }), { field: 'spec.podCIDRs[0]', type: 'FieldValueInvalid', detail: 'must be valid CIDR' })
  refused(t, 'Node', node({ podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'] }), { field: 'spec.podCIDRs', type: 'FieldValueInvalid', detail: 'no more than one CIDR for each IP family' })
  refused(t, 'Node', node({ taints: [{ key: 'gpu', effect: 'NoRun' }] }), { field: 'spec.taints[0].effect', type: 'FieldValueNotSupported', detail: '"NoSchedule", "PreferNoSchedule", "NoExecute"' })
  refused(t, 'Node', node({ taints: [{ key: 'gpu' }] }), { field: 'spec.taints[0].effect', type: 'FieldValueRequired' })
  refused(t, 'Node', node({ taints: [{ key: 'bad key', effect: 'NoSchedule' }] }), { field: 'spec.taints[0].key', type: 'FieldValueInvalid' })
  refused(t, 'Node', node({ taints: [{ key: 'gpu', effect: 'NoSchedule' }, { key: 'gpu', value: 'x', effect: 'NoSchedule' }] }), { field: 'spec.taints[1]', type: 'FieldValueDuplicate', detail: 'taints must be unique by key and effect pair' })
  refused(t, 'Node', node({}, { capacity: { cpu: 'many' } }), { field: 'status.capacity[cpu]', type: 'FieldValueInvalid' })
  const stored = defaulted('Node', node({ podCIDR: '10.244.1.0/24' }))
  refused(t, 'Node', node({ podCIDR: '10.244.9.0/24' }), { field: 'spec.podCIDRs', type: 'FieldValueForbidden', detail: 'may not change podCIDR' }, stored)
  accepted(t, 'Node', node({ podCIDR: '10.244.1.0/24', unschedulable: true }), stored, 'cordoning is an update')
  accepted(t, 'Node', node({ podCIDR: '10.244.3.0/24' }), defaulted('Node', node()), 'a CIDR may be assigned once')
})

t.test('Events: about an object in the same namespace, Normal or Warning', async (t) => {
  accepted(t, 'Event', event())
  accepted(t, 'Event', event({ involvedObject: { kind: 'Node', name: 'node-1' } }), undefined, 'events about cluster-scoped objects live in default')
  refused(t, 'Event', event({ involvedObject: undefined }), { field: 'involvedObject', type: 'FieldValueRequired' })
  refused(t, 'Event', event({ involvedObject: { name: 'web-0', namespace: 'default' } }), { field: 'involvedObject.kind', type: 'FieldValueRequired' })
  refused(t, 'Event', event({ type: 'Error' }), { field: 'type', type: 'FieldValueNotSupported', detail: '"Normal", "Warning"' })
  refused(t, 'Event', event({ involvedObject: { kind: 'Pod', name: 'web-0', namespace: 'other' } }), { field: 'involvedObject.namespace', type: 'FieldValueInvalid', detail: 'does not match event.namespace' })
  refused(t, 'Event', event({ eventTime: '2024-01-01T00:00:00.000000Z' }), { field: 'reportingComponent', type: 'FieldValueRequired' })
  const groupEvent = { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, regarding: { kind: 'Pod', name: 'web-0' }, note: 'n', reason: 'Started', action: 'Start', reportingController: 'flotilla.dev/agent', reportingInstance: 'agent-node-1', eventTime: '2024-01-01T00:00:00.000000Z' }
  accepted(t, 'Event', { ...groupEvent, type: 'Normal' })
  refused(t, 'Event', { ...groupEvent, type: 'Info' }, { field: 'type', type: 'FieldValueInvalid', detail: 'has invalid value: Info' })
  refused(t, 'Event', { ...groupEvent, type: 'Normal', eventTime: undefined }, { field: 'eventTime', type: 'FieldValueRequired' })
  refused(t, 'Event', { ...groupEvent, type: 'Normal', action: '' }, { field: 'action', type: 'FieldValueRequired' })
})

t.test('ResourceQuotas: countable resources with valid, non-negative, whole quantities', async (t) => {
  t.same(defaulted('ResourceQuota', quota({ 'requests.cpu': 2.5, 'limits.memory': '2048Mi' })).spec.hard, { 'requests.cpu': '2500m', 'limits.memory': '2Gi' })
  accepted(t, 'ResourceQuota', quota({ pods: '10', 'requests.cpu': '4', 'count/deployments.apps': '5', 'requests.hugepages-2Mi': '1Gi' }, { scopes: ['NotTerminating'] }))
  refused(t, 'ResourceQuota', quota({ cpu: 'four' }), { field: 'spec.hard[cpu]', type: 'FieldValueInvalid', detail: 'quantities must match' })
  refused(t, 'ResourceQuota', quota({ memory: '-1Gi' }), { field: 'spec.hard[memory]', type: 'FieldValueInvalid', detail: 'must be greater than or equal to 0' })
  refused(t, 'ResourceQuota', quota({ pods: '1500m' }), { field: 'spec.hard[pods]', type: 'FieldValueInvalid', detail: 'must be an integer' })
  refused(t, 'ResourceQuota', quota({ gpus: '1' }), { field: 'spec.hard[gpus]', type: 'FieldValueInvalid', detail: 'must be a standard resource for quota' })
  refused(t, 'ResourceQuota', quota({ pods: '1' }, { scopes: ['Weekend'] }), { field: 'spec.scopes', type: 'FieldValueInvalid', detail: 'unsupported scope' })
})

t.test('Leases: positive duration, non-negative transitions, parseable times', async (t) => {
  accepted(t, 'Lease', lease({ holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2024-01-01T00:00:00.123456Z', leaseTransitions: 0 }))
  refused(t, 'Lease', lease({ leaseDurationSeconds: 0 }), { field: 'spec.leaseDurationSeconds', type: 'FieldValueInvalid', detail: 'must be greater than 0' })
  refused(t, 'Lease', lease({ leaseTransitions: -1 }), { field: 'spec.leaseTransitions', type: 'FieldValueInvalid', detail: 'must be greater than or equal to 0' })
  refused(t, 'Lease', lease({ renewTime: 'yesterday' }), { field: 'spec.renewTime', type: 'FieldValueInvalid' })
})

t.test('HorizontalPodAutoscalers: defaults and target, replica and metric rules', async (t) => {
  const result = defaulted('HorizontalPodAutoscaler', hpa())
  t.equal(result.spec.minReplicas, 1)
  t.same(result.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }])
  t.notOk('behavior' in result.spec, 'behaviour stays unset unless given')
  const behavior = defaulted('HorizontalPodAutoscaler', hpa({ behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } })).spec.behavior
  t.same(behavior.scaleUp, { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] })
  t.same(behavior.scaleDown, { stabilizationWindowSeconds: 60, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] })
  accepted(t, 'HorizontalPodAutoscaler', hpa())
  accepted(t, 'HorizontalPodAutoscaler', hpa({ metrics: [
    { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '500Mi' } } },
    { type: 'Pods', pods: { metric: { name: 'requests_per_second' }, target: { type: 'AverageValue', averageValue: '100' } } },
    { type: 'Object', object: { describedObject: { kind: 'Service', name: 'web' }, metric: { name: 'latency' }, target: { type: 'Value', value: '200m' } } },
    { type: 'External', external: { metric: { name: 'queue_depth' }, target: { type: 'AverageValue', averageValue: '30' } } },
    { type: 'ContainerResource', containerResource: { name: 'cpu', container: 'app', target: { type: 'Utilization', averageUtilization: 60 } } },
  ] }))
  refused(t, 'HorizontalPodAutoscaler', hpa({ scaleTargetRef: { name: 'web' } }), { field: 'spec.scaleTargetRef.kind', type: 'FieldValueRequired' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ scaleTargetRef: { kind: 'Deployment' } }), { field: 'spec.scaleTargetRef.name', type: 'FieldValueRequired' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ minReplicas: 0 }), { field: 'spec.minReplicas', type: 'FieldValueInvalid', detail: 'must be greater than or equal to 1' })
  const inverted = errorsOf('HorizontalPodAutoscaler', hpa({ minReplicas: 5, maxReplicas: 3 }))
  t.same(inverted.map(formatFieldError), ['spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`'])
  refused(t, 'HorizontalPodAutoscaler', hpa({ metrics: [{ type: 'Custom' }] }), { field: 'spec.metrics[0].type', type: 'FieldValueNotSupported', detail: '"ContainerResource", "External", "Object", "Pods", "Resource"' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ metrics: [{ type: 'Resource' }] }), { field: 'spec.metrics[0].resource', type: 'FieldValueRequired', detail: 'must populate information for the given metric source' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } }, pods: {} }] }), { field: 'spec.metrics[0].pods', type: 'FieldValueForbidden' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Percent', averageUtilization: 50 } } }] }), { field: 'spec.metrics[0].resource.target.type', type: 'FieldValueInvalid', detail: 'must be either Utilization, Value, or AverageValue' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization' } } }] }), { field: 'spec.metrics[0].resource.target.averageUtilization', type: 'FieldValueRequired' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 0 } } }] }), { field: 'spec.metrics[0].resource.target.averageUtilization', type: 'FieldValueInvalid', detail: 'must be greater than 0' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 3600 }] } } }), { field: 'spec.behavior.scaleUp.policies[0].periodSeconds', type: 'FieldValueInvalid', detail: 'must be less than or equal to 1800' })
  refused(t, 'HorizontalPodAutoscaler', hpa({ behavior: { scaleDown: { selectPolicy: 'Median' } } }), { field: 'spec.behavior.scaleDown.selectPolicy', type: 'FieldValueNotSupported' })
})

t.test('PersistentVolumeClaims and PersistentVolumes', async (t) => {
  t.match(defaulted('PersistentVolumeClaim', claim()), { spec: { volumeMode: 'Filesystem' }, status: { phase: 'Pending' } })
  accepted(t, 'PersistentVolumeClaim', claim({ storageClassName: 'local-path' }))
  refused(t, 'PersistentVolumeClaim', claim({ accessModes: [] }), { field: 'spec.accessModes', type: 'FieldValueRequired', detail: 'at least 1 access mode is required' })
  refused(t, 'PersistentVolumeClaim', claim({ accessModes: ['ReadWriteSometimes'] }), { field: 'spec.accessModes', type: 'FieldValueNotSupported' })
  refused(t, 'PersistentVolumeClaim', claim({ resources: {} }), { field: 'spec.resources[storage]', type: 'FieldValueRequired' })
  refused(t, 'PersistentVolumeClaim', claim({ resources: { requests: { storage: '0' } } }), { field: 'spec.resources[storage]', type: 'FieldValueInvalid', detail: 'must be greater than zero' })
  const stored = defaulted('PersistentVolumeClaim', claim())
  accepted(t, 'PersistentVolumeClaim', claim({ resources: { requests: { storage: '20Gi' } } }), stored, 'a claim may grow')
  refused(t, 'PersistentVolumeClaim', claim({ accessModes: ['ReadWriteMany'] }), { field: 'spec', type: 'FieldValueForbidden' }, stored)
  t.match(defaulted('PersistentVolume', volume()), { spec: { persistentVolumeReclaimPolicy: 'Retain', volumeMode: 'Filesystem' }, status: { phase: 'Pending' } })
  accepted(t, 'PersistentVolume', volume())
  refused(t, 'PersistentVolume', volume({ hostPath: undefined }), { field: 'spec', type: 'FieldValueRequired', detail: 'must specify a volume type' })
  refused(t, 'PersistentVolume', volume({ capacity: { storage: '1Gi', cpu: '1' } }), { field: 'spec.capacity', type: 'FieldValueNotSupported' })
  refused(t, 'PersistentVolume', volume({ persistentVolumeReclaimPolicy: 'Shred' }), { field: 'spec.persistentVolumeReclaimPolicy', type: 'FieldValueNotSupported' })
})

t.test('ControllerRevisions and ServiceAccounts', async (t) => {
  const revision = { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'web-5d8f', namespace: 'default' }, data: { spec: {} }, revision: 2 }
  accepted(t, 'ControllerRevision', revision)
  refused(t, 'ControllerRevision', { ...revision, data: undefined }, { field: 'data', type: 'FieldValueRequired', detail: 'data is mandatory' })
  refused(t, 'ControllerRevision', { ...revision, revision: -1 }, { field: 'revision', type: 'FieldValueInvalid' })
  refused(t, 'ControllerRevision', { ...revision, data: { spec: { x: 1 } } }, { field: 'data', type: 'FieldValueInvalid', detail: 'field is immutable' }, revision)
  accepted(t, 'ServiceAccount', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'builder', namespace: 'default' }, automountServiceAccountToken: false })
})

t.test('metadata rules of every kind: annotations, owner references, finalizers, labels', async (t) => {
  const withMetadata = (metadata: Loose): Loose => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'default', ...metadata } })
  refused(t, 'ServiceAccount', withMetadata({ annotations: { 'bad key!': 'x' } }), { field: 'metadata.annotations', type: 'FieldValueInvalid' })
  accepted(t, 'ServiceAccount', withMetadata({ annotations: { 'Example.com/MixedCase': 'x' } }), undefined, 'annotation keys are compared case-insensitively')
  accepted(t, 'ServiceAccount', withMetadata({ annotations: { big: 'x'.repeat(256 * 1024 - 3) } }), undefined, 'exactly 256 KiB fits')
  const tooBig = errorsOf('ServiceAccount', withMetadata({ annotations: { big: 'x'.repeat(256 * 1024) } }))
  t.same(tooBig.map(formatFieldError), ['metadata.annotations: Too long: may not be more than 262144 bytes'])
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'u-1', controller: true }
  accepted(t, 'ServiceAccount', withMetadata({ ownerReferences: [owner, { ...owner, name: 'other', uid: 'u-2', controller: false }] }))
  refused(t, 'ServiceAccount', withMetadata({ ownerReferences: [{ ...owner, uid: '' }] }), { field: 'metadata.ownerReferences.uid', type: 'FieldValueInvalid', detail: 'uid must not be empty' })
  refused(t, 'ServiceAccount', withMetadata({ ownerReferences: [{ ...owner, apiVersion: '' }] }), { field: 'metadata.ownerReferences.apiVersion', type: 'FieldValueInvalid', detail: 'version must not be empty' })
  refused(t, 'ServiceAccount', withMetadata({ ownerReferences: [{ ...owner, kind: '' }] }), { field: 'metadata.ownerReferences.kind', type: 'FieldValueInvalid' })
  refused(t, 'ServiceAccount', withMetadata({ ownerReferences: [{ ...owner, name: '' }] }), { field: 'metadata.ownerReferences.name', type: 'FieldValueInvalid' })
  refused(t, 'ServiceAccount', withMetadata({ ownerReferences: [owner, { ...owner, name: 'web-2', uid: 'u-2' }] }), {
    field: 'metadata.ownerReferences', type: 'FieldValueInvalid', detail: 'Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/web-1 and ReplicaSet/web-2',
  })
  accepted(t, 'ServiceAccount', withMetadata({ finalizers: ['kubernetes.io/pvc-protection', 'orphan'] }))
  refused(t, 'ServiceAccount', withMetadata({ finalizers: ['cleanup'] }), { field: 'metadata.finalizers[0]', type: 'FieldValueInvalid', detail: 'name is neither a standard finalizer name nor is it fully qualified' })
  refused(t, 'ServiceAccount', withMetadata({ finalizers: ['bad name/x/y'] }), { field: 'metadata.finalizers', type: 'FieldValueInvalid' })
  refused(t, 'ServiceAccount', withMetadata({ finalizers: ['orphan', 'foregroundDeletion'] }), { field: 'metadata.finalizers', type: 'FieldValueInvalid', detail: 'cannot be both set' })
  refused(t, 'ServiceAccount', withMetadata({ labels: { app: 'not valid!' } }), { field: 'metadata.labels', type: 'FieldValueInvalid' })
  refused(t, 'Widget', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', annotations: { '/x': 'y' } } }, { field: 'metadata.annotations', type: 'FieldValueInvalid' })
})
