/**
 * Server-side printing: the columns `kubectl get` shows for each kind, computed from the object
 * (kubectl asks for `as=Table` and prints what the server says). Kinds without an entry get
 * Name and Age.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { metadataOf } from './object-store.ts'

export interface ColumnDefinition {
  readonly name: string
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date'
  readonly format: string
  readonly description: string
  /** 0: always shown; 1: only with `-o wide`. */
  readonly priority: 0 | 1
}

interface Column extends ColumnDefinition {
  readonly cell: (object: JsonObject, nowMs: number) => string | number
}

function field(object: JsonValue | undefined, ...path: string[]): JsonValue | undefined {
  let current: JsonValue | undefined = object
  for (const key of path) current = isJsonObject(current) ? current[key] : undefined
  return current
}

function list(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : []
}

function text(value: JsonValue | undefined, fallback = '<none>'): string {
  return typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : fallback
}

/** Kubernetes' short age format: 45s, 12m, 5h, 3d. */
export function humanAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000))
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 120) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  return hours < 48 ? `${hours}h` : `${Math.floor(hours / 24)}d`
}

const NAME: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0, cell: (object) => text(field(object, 'metadata', 'name'), '') }
const AGE: Column = {
  name: 'Age',
  type: 'string',
  format: '',
  description: 'Time since the object was created.',
  priority: 0,
  cell: (object, nowMs) => {
    const created = Date.parse(text(field(object, 'metadata', 'creationTimestamp'), ''))
    return Number.isFinite(created) ? humanAge(nowMs - created) : '<unknown>'
  },
}

function column(name: string, cell: Column['cell'], options: Partial<ColumnDefinition> = {}): Column {
  return { name, type: 'string', format: '', description: name, priority: 0, ...options, cell }
}

const number = (value: JsonValue | undefined): number => (typeof value === 'number' ? value : 0)

const POD_COLUMNS: Column[] = [
  NAME,
  column('Ready', (pod) => {
    const statuses = list(field(pod, 'status', 'containerStatuses'))
    const ready = statuses.filter((status) => field(status, 'ready') === true).length
    return `${ready}/${list(field(pod, 'spec', 'containers')).length}`
  }),
  column('Status', (pod) => (field(pod, 'metadata', 'deletionTimestamp') !== undefined ? 'Terminating' : text(field(pod, 'status', 'reason'), text(field(pod, 'status', 'phase'), 'Pending')))),
  column('Restarts', (pod) => list(field(pod, 'status', 'containerStatuses')).reduce<number>((sum, status) => sum + number(field(status, 'restartCount')), 0), { type: 'integer' }),
  AGE,
  column('IP', (pod) => text(field(pod, 'status', 'podIP')), { priority: 1 }),
  column('Node', (pod) => text(field(pod, 'spec', 'nodeName')), { priority: 1 }),
]

const WORKLOAD_COLUMNS: Column[] = [
  NAME,
  column('Ready', (workload) => `${number(field(workload, 'status', 'readyReplicas'))}/${number(field(workload, 'spec', 'replicas') ?? 1)}`),
  column('Up-to-date', (workload) => number(field(workload, 'status', 'updatedReplicas')), { type: 'integer' }),
  column('Available', (workload) => number(field(workload, 'status', 'availableReplicas')), { type: 'integer' }),
  AGE,
]

const SERVICE_COLUMNS: Column[] = [
  NAME,
  column('Type', (service) => text(field(service, 'spec', 'type'), 'ClusterIP')),
  column('Cluster-IP', (service) => text(field(service, 'spec', 'clusterIP'))),
  column('External-IP', (service) => text(list(field(service, 'status', 'loadBalancer', 'ingress')).map((ingress) => text(field(ingress, 'ip'), '')).join(','))),
  column('Port(s)', (service) =>
    text(
      list(field(service, 'spec', 'ports'))
        .map((port) => `${number(field(port, 'port'))}${field(port, 'nodePort') !== undefined ? `:${number(field(port, 'nodePort'))}` : ''}/${text(field(port, 'protocol'), 'TCP')}`)
        .join(','),
    ),
  ),
  AGE,
]

const COLUMNS_BY_KIND: Readonly<Record<string, readonly Column[]>> = {
  Pod: POD_COLUMNS,
  Deployment: WORKLOAD_COLUMNS,
  StatefulSet: [NAME, column('Ready', (set) => `${number(field(set, 'status', 'readyReplicas'))}/${number(field(set, 'spec', 'replicas') ?? 1)}`), AGE],
  ReplicaSet: [
    NAME,
    column('Desired', (set) => number(field(set, 'spec', 'replicas') ?? 1), { type: 'integer' }),
    column('Current', (set) => number(field(set, 'status', 'replicas')), { type: 'integer' }),
    column('Ready', (set) => number(field(set, 'status', 'readyReplicas')), { type: 'integer' }),
    AGE,
  ],
  Service: SERVICE_COLUMNS,
  Namespace: [NAME, column('Status', (namespace) => text(field(namespace, 'status', 'phase'), 'Active')), AGE],
  ConfigMap: [NAME, column('Data', (map) => Object.keys(isJsonObject(map['data']) ? map['data'] : {}).length + Object.keys(isJsonObject(map['binaryData']) ? map['binaryData'] : {}).length, { type: 'integer' }), AGE],
  Secret: [NAME, column('Type', (secret) => text(secret['type'], 'Opaque')), column('Data', (secret) => Object.keys(isJsonObject(secret['data']) ? secret['data'] : {}).length, { type: 'integer' }), AGE],
  Node: [
    NAME,
    column('Status', (node) => (list(field(node, 'status', 'conditions')).some((condition) => field(condition, 'type') === 'Ready' && field(condition, 'status') === 'True') ? 'Ready' : 'NotReady')),
    column('Roles', () => '<none>'),
    AGE,
    column('Version', (node) => text(field(node, 'status', 'nodeInfo', 'kubeletVersion'), '')),
  ],
}

/** A `meta.k8s.io/v1` Table for `items` of `kind`. */
export function buildTable(kind: string, items: readonly JsonObject[], resourceVersion: string, nowMs: number): JsonObject {
  const columns = COLUMNS_BY_KIND[kind] ?? [NAME, AGE]
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: columns.map(({ name, type, format, description, priority }) => ({ name, type, format, description, priority })),
    rows: items.map((object) => ({
      cells: columns.map((definition) => definition.cell(object, nowMs)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: metadataOf(object) },
    })),
  }
}
