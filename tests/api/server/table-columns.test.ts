// Goal: `kubectl get` prints what kube-apiserver's printers print: the columns per kind, wide-only
// columns, pod status reasons, and rows carrying metadata, the whole object, or nothing.
import t from 'tap'
import { buildTable, parseIncludeObject, podStatusText } from '../../../node/src/api/server/table-columns.ts'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'

const NOW = Date.parse('2026-01-01T01:00:00Z')
const created = '2026-01-01T00:00:00Z'

function cells(kind: string, object: JsonObject): Record<string, unknown> {
  const table = buildTable(kind, [object], '7', NOW) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }
  return Object.fromEntries(table.columnDefinitions.map((definition, index) => [definition.name, table.rows[0]!.cells[index]]))
}

t.test('deployment columns include the wide containers, images and selector', async (t) => {
  const row = cells('Deployment', {
    metadata: { name: 'web', creationTimestamp: created },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] }, template: { spec: { containers: [{ name: 'c', image: 'busybox:1' }] } } },
    status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
  })
  t.same(row, { Name: 'web', Ready: '2/3', 'Up-to-date': 3, Available: 2, Age: '60m', Containers: 'c', Images: 'busybox:1', Selector: 'app=web,tier in (a,b)' })
})

t.test('pod status text follows kubectl: waiting reasons, init progress, terminating', async (t) => {
  t.equal(podStatusText({ spec: { containers: [{}] }, status: { phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ContainerCreating' } } }] } }), 'ContainerCreating')
  t.equal(podStatusText({ status: { phase: 'Running', containerStatuses: [{ ready: true, state: { running: {} } }] } }), 'Running')
  t.equal(podStatusText({ status: { phase: 'Running', containerStatuses: [{ state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }), 'CrashLoopBackOff')
  t.equal(podStatusText({ status: { phase: 'Succeeded', containerStatuses: [{ state: { terminated: { exitCode: 0, reason: 'Completed' } } }] } }), 'Completed')
  t.equal(podStatusText({ status: { phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 2 } } }] } }), 'ExitCode:2')
  t.equal(podStatusText({ spec: { initContainers: [{}, {}] }, status: { phase: 'Pending', initContainerStatuses: [{ state: { terminated: { exitCode: 0 } } }, { state: { running: {} } }] } }), 'Init:1/2')
  t.equal(podStatusText({ metadata: { deletionTimestamp: created }, status: { phase: 'Running' } }), 'Terminating')
})

t.test('nodes show readiness, cordon, roles and wide addresses', async (t) => {
  const row = cells('Node', {
    metadata: { name: 'n1', creationTimestamp: created, labels: { 'node-role.kubernetes.io/control-plane': '' } },
    spec: { unschedulable: true },
    status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: '10.0.0.1' }], nodeInfo: { kubeletVersion: 'v1.20.2-flotilla', osImage: 'Debian', kernelVersion: '6.1', containerRuntimeVersion: 'docker://28' } },
  })
  t.equal(row['Status'], 'Ready,SchedulingDisabled')
  t.equal(row['Roles'], 'control-plane')
  t.equal(row['Internal-IP'], '10.0.0.1')
  t.equal(row['External-IP'], '<none>')
})

t.test('services, endpoints, events, jobs and HPAs get their own columns', async (t) => {
  t.same(cells('Service', { metadata: { name: 's', creationTimestamp: created }, spec: { type: 'NodePort', clusterIP: '10.96.0.9', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }], selector: { app: 'web' } } }), {
    Name: 's', Type: 'NodePort', 'Cluster-IP': '10.96.0.9', 'External-IP': '<none>', 'Port(s)': '80:30080/TCP', Age: '60m', Selector: 'app=web',
  })
  t.equal(cells('Endpoints', { metadata: { name: 's' }, subsets: [{ addresses: [{ ip: '10.1.0.2' }, { ip: '10.1.0.3' }], ports: [{ port: 8080 }] }] })['Endpoints'], '10.1.0.2:8080,10.1.0.3:8080')
  const event = cells('Event', { metadata: { name: 'e1' }, type: 'Warning', reason: 'FailedScheduling', message: 'no nodes', involvedObject: { kind: 'Pod', name: 'p' }, lastTimestamp: '2026-01-01T00:59:30Z', count: 4 })
  t.same([event['Last Seen'], event['Type'], event['Reason'], event['Object'], event['Message'], event['Count']], ['30s', 'Warning', 'FailedScheduling', 'pod/p', 'no nodes', 4])
  t.same(cells('Job', { metadata: { name: 'j', creationTimestamp: created }, spec: { completions: 3 }, status: { succeeded: 1, startTime: '2026-01-01T00:00:00Z', completionTime: '2026-01-01T00:00:42Z' } })['Completions'], '1/3')
  t.equal(cells('HorizontalPodAutoscaler', { metadata: { name: 'h' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 5, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }] } })['Targets'], '<unknown>/50%')
})

t.test('rows carry metadata by default, the object on request, or nothing', async (t) => {
  const object = { metadata: { name: 'x', namespace: 'ns' }, data: { a: '1' } }
  const rowsOf = (include: 'None' | 'Metadata' | 'Object') => (buildTable('ConfigMap', [object], '1', NOW, include) as { rows: JsonObject[] }).rows[0]!
  t.same(rowsOf('Metadata')['object'], { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata })
  t.same(rowsOf('Object')['object'], object)
  t.notOk('object' in rowsOf('None'))
  t.equal(parseIncludeObject(null), 'Metadata')
  t.equal(parseIncludeObject('Object'), 'Object')
  t.equal(parseIncludeObject('Everything'), undefined)
})

t.test('unknown kinds get Name and Age', async (t) => {
  t.same(cells('Widget', { metadata: { name: 'w', creationTimestamp: created } }), { Name: 'w', Age: '60m' })
})
