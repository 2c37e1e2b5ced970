/**
 * Server-side printing: the columns `kubectl get` shows for each kind, computed from the object
 * (kubectl asks for `as=Table` and prints what the server says). Column names, order and wide-only
 * columns (priority 1) follow kube-apiserver's printers; kinds without an entry get Name and Age.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { isDefaultStorageClass } from './kinds/storage-class.ts'
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

/** What each row carries besides its cells (`includeObject` query parameter of the request). */
export type IncludeObject = 'None' | 'Metadata' | 'Object'

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

const number = (value: JsonValue | undefined): number => (typeof value === 'number' ? value : 0)

/** Kubernetes' short age format: 45s, 12m, 5h, 3d. */
export function humanAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000))
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 120) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  return hours < 48 ? `${hours}h` : `${Math.floor(hours / 24)}d`
}

function ageSince(timestamp: JsonValue | undefined, nowMs: number): string {
  const time = Date.parse(text(timestamp, ''))
  return Number.isFinite(time) ? humanAge(nowMs - time) : '<unknown>'
}

function column(name: string, cell: Column['cell'], options: Partial<ColumnDefinition> = {}): Column {
  return { name, type: 'string', format: '', description: name, priority: 0, ...options, cell }
}

function wide(name: string, cell: Column['cell']): Column {
  return column(name, cell, { priority: 1 })
}

const NAME: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0, cell: (object) => text(field(object, 'metadata', 'name'), '') }
const AGE: Column = column('Age', (object, nowMs) => ageSince(field(object, 'metadata', 'creationTimestamp'), nowMs), { description: 'Time since the object was created.' })

/**
 * At most three values and how many more (`listWithMoreString` of kube's printers, used for
 * EndpointSlice ports and addresses): `a,b,c + 2 more...`, `<unset>` when empty.
 */
function firstThree(values: readonly string[]): string {
  if (values.length === 0) return '<unset>'
  const shown = values.slice(0, 3).join(',')
  return values.length > 3 ? `${shown} + ${values.length - 3} more...` : shown
}

/** `a=b,c=d` for a label map, `<none>` when empty. */
function labelMap(value: JsonValue | undefined): string {
  if (!isJsonObject(value)) return '<none>'
  const pairs = Object.entries(value).map(([key, entry]) => `${key}=${String(entry)}`)
  return pairs.length > 0 ? pairs.join(',') : '<none>'
}

/** A LabelSelector (matchLabels + matchExpressions) in selector syntax. */
function selectorText(selector: JsonValue | undefined): string {
  if (!isJsonObject(selector)) return '<none>'
  const parts = isJsonObject(selector['matchLabels']) ? Object.entries(selector['matchLabels']).map(([key, value]) => `${key}=${String(value)}`) : []
  for (const expression of list(selector['matchExpressions'])) {
    const key = text(field(expression, 'key'), '')
    const values = list(field(expression, 'values')).map(String).join(',')
    switch (field(expression, 'operator')) {
      case 'In':
        parts.push(`${key} in (${values})`)
        break
      case 'NotIn':
        parts.push(`${key} notin (${values})`)
        break
      case 'Exists':
        parts.push(key)
        break
      case 'DoesNotExist':
        parts.push(`!${key}`)
        break
    }
  }
  return parts.length > 0 ? parts.join(',') : '<none>'
}

function templateContainers(workload: JsonObject): JsonValue[] {
  return list(field(workload, 'spec', 'template', 'spec', 'containers'))
}

const CONTAINERS = wide('Containers', (workload) => text(templateContainers(workload).map((container) => text(field(container, 'name'), '')).join(',')))
const IMAGES = wide('Images', (workload) => text(templateContainers(workload).map((container) => text(field(container, 'image'), '')).join(',')))
const SELECTOR = wide('Selector', (workload) => selectorText(field(workload, 'spec', 'selector')))

/**
 * The STATUS column of a pod, as kubectl prints it: Terminating, Init:n/m, a waiting or terminated
 * container's reason (CrashLoopBackOff, ContainerCreating, Completed, Error …), else the phase.
 */
export function podStatusText(pod: JsonObject): string {
  if (field(pod, 'metadata', 'deletionTimestamp') !== undefined) return field(pod, 'status', 'reason') === 'NodeLost' ? 'Unknown' : 'Terminating'
  let reason = text(field(pod, 'status', 'reason'), text(field(pod, 'status', 'phase'), 'Pending'))
  const initStatuses = list(field(pod, 'status', 'initContainerStatuses'))
  const initCount = list(field(pod, 'spec', 'initContainers')).length
  for (const [index, status] of initStatuses.entries()) {
    const terminated = field(status, 'state', 'terminated')
    if (isJsonObject(terminated) && terminated['exitCode'] === 0) continue
    if (isJsonObject(terminated)) return `Init:${text(terminated['reason'], `ExitCode:${number(terminated['exitCode'])}`)}`
    const waiting = text(field(status, 'state', 'waiting', 'reason'), '')
    return waiting !== '' && waiting !== 'PodInitializing' ? `Init:${waiting}` : `Init:${index}/${initCount}`
  }
  let running = false
  for (const status of [...list(field(pod, 'status', 'containerStatuses'))].reverse()) {
    const waiting = text(field(status, 'state', 'waiting', 'reason'), '')
    const terminated = field(status, 'state', 'terminated')
    if (waiting !== '') reason = waiting
    else if (isJsonObject(terminated)) reason = text(terminated['reason'], number(terminated['signal']) !== 0 ? `Signal:${number(terminated['signal'])}` : `ExitCode:${number(terminated['exitCode'])}`)
    else if (field(status, 'ready') === true && field(status, 'state', 'running') !== undefined) running = true
  }
  if (reason === 'Completed' && running) reason = 'Running'
  return reason
}

const POD_COLUMNS: Column[] = [
  NAME,
  column('Ready', (pod) => {
    const ready = list(field(pod, 'status', 'containerStatuses')).filter((status) => field(status, 'ready') === true).length
    return `${ready}/${list(field(pod, 'spec', 'containers')).length}`
  }),
  column('Status', podStatusText),
  column('Restarts', (pod) => list(field(pod, 'status', 'containerStatuses')).reduce<number>((sum, status) => sum + number(field(status, 'restartCount')), 0), { type: 'integer' }),
  AGE,
  wide('IP', (pod) => text(field(pod, 'status', 'podIP'))),
  wide('Node', (pod) => text(field(pod, 'spec', 'nodeName'))),
  wide('Nominated Node', (pod) => text(field(pod, 'status', 'nominatedNodeName'))),
  wide('Readiness Gates', (pod) => {
    const gates = list(field(pod, 'spec', 'readinessGates'))
    if (gates.length === 0) return '<none>'
    const conditions = list(field(pod, 'status', 'conditions'))
    const met = gates.filter((gate) => conditions.some((condition) => field(condition, 'type') === field(gate, 'conditionType') && field(condition, 'status') === 'True')).length
    return `${met}/${gates.length}`
  }),
]

const DEPLOYMENT_COLUMNS: Column[] = [
  NAME,
  column('Ready', (workload) => `${number(field(workload, 'status', 'readyReplicas'))}/${number(field(workload, 'spec', 'replicas') ?? 1)}`),
  column('Up-to-date', (workload) => number(field(workload, 'status', 'updatedReplicas')), { type: 'integer' }),
  column('Available', (workload) => number(field(workload, 'status', 'availableReplicas')), { type: 'integer' }),
  AGE,
  CONTAINERS,
  IMAGES,
  SELECTOR,
]

const SERVICE_COLUMNS: Column[] = [
  NAME,
  column('Type', (service) => text(field(service, 'spec', 'type'), 'ClusterIP')),
  column('Cluster-IP', (service) => text(field(service, 'spec', 'clusterIP'))),
  column('External-IP', (service) => {
    const ingress = list(field(service, 'status', 'loadBalancer', 'ingress')).map((entry) => text(field(entry, 'ip'), text(field(entry, 'hostname'), '')))
    const external = [...list(field(service, 'spec', 'externalIPs')).map(String), ...ingress].filter((address) => address !== '')
    if (external.length > 0) return external.join(',')
    if (field(service, 'spec', 'type') === 'ExternalName') return text(field(service, 'spec', 'externalName'))
    return field(service, 'spec', 'type') === 'LoadBalancer' ? '<pending>' : '<none>'
  }),
  column('Port(s)', (service) =>
    text(
      list(field(service, 'spec', 'ports'))
        .map((port) => `${number(field(port, 'port'))}${field(port, 'nodePort') !== undefined ? `:${number(field(port, 'nodePort'))}` : ''}/${text(field(port, 'protocol'), 'TCP')}`)
        .join(','),
    ),
  ),
  AGE,
  wide('Selector', (service) => labelMap(field(service, 'spec', 'selector'))),
]

function nodeAddress(node: JsonObject, type: string): string {
  const address = list(field(node, 'status', 'addresses')).find((entry) => field(entry, 'type') === type)
  return text(field(address, 'address'))
}

const NODE_COLUMNS: Column[] = [
  NAME,
  column('Status', (node) => {
    const ready = list(field(node, 'status', 'conditions')).find((condition) => field(condition, 'type') === 'Ready')
    const state = ready === undefined ? 'Unknown' : field(ready, 'status') === 'True' ? 'Ready' : 'NotReady'
    return field(node, 'spec', 'unschedulable') === true ? `${state},SchedulingDisabled` : state
  }),
  column('Roles', (node) => {
    const labels = field(node, 'metadata', 'labels')
    const roles = isJsonObject(labels) ? Object.keys(labels).filter((key) => key.startsWith('node-role.kubernetes.io/')).map((key) => key.slice('node-role.kubernetes.io/'.length)) : []
    return roles.length > 0 ? roles.join(',') : '<none>'
  }),
  AGE,
  column('Version', (node) => text(field(node, 'status', 'nodeInfo', 'kubeletVersion'), '')),
  wide('Internal-IP', (node) => nodeAddress(node, 'InternalIP')),
  wide('External-IP', (node) => nodeAddress(node, 'ExternalIP')),
  wide('OS-Image', (node) => text(field(node, 'status', 'nodeInfo', 'osImage'), '<unknown>')),
  wide('Kernel-Version', (node) => text(field(node, 'status', 'nodeInfo', 'kernelVersion'), '<unknown>')),
  wide('Container-Runtime', (node) => text(field(node, 'status', 'nodeInfo', 'containerRuntimeVersion'), '<unknown>')),
]

const EVENT_COLUMNS: Column[] = [
  column('Last Seen', (event, nowMs) => ageSince(field(event, 'lastTimestamp') ?? field(event, 'eventTime') ?? field(event, 'metadata', 'creationTimestamp'), nowMs)),
  column('Type', (event) => text(field(event, 'type'), 'Normal')),
  column('Reason', (event) => text(field(event, 'reason'), '')),
  column('Object', (event) => `${text(field(event, 'involvedObject', 'kind'), '').toLowerCase()}/${text(field(event, 'involvedObject', 'name'), '')}`),
  wide('Subobject', (event) => text(field(event, 'involvedObject', 'fieldPath'), '')),
  wide('Source', (event) => [text(field(event, 'source', 'component'), ''), text(field(event, 'source', 'host'), '')].filter((part) => part !== '').join(', ')),
  column('Message', (event) => text(field(event, 'message'), '')),
  wide('First Seen', (event, nowMs) => ageSince(field(event, 'firstTimestamp') ?? field(event, 'metadata', 'creationTimestamp'), nowMs)),
  wide('Count', (event) => number(field(event, 'count') ?? 1)),
  wide('Name', (event) => text(field(event, 'metadata', 'name'), '')),
]

function jobDuration(job: JsonObject, nowMs: number): string {
  const start = Date.parse(text(field(job, 'status', 'startTime'), ''))
  if (!Number.isFinite(start)) return ''
  const end = Date.parse(text(field(job, 'status', 'completionTime'), ''))
  return humanAge((Number.isFinite(end) ? end : nowMs) - start)
}

function metricTargets(hpa: JsonObject): string {
  const metrics = list(field(hpa, 'spec', 'metrics'))
  if (metrics.length === 0) return '<none>'
  const current = list(field(hpa, 'status', 'currentMetrics'))
  return metrics
    .map((metric, index) => {
      const target = field(metric, 'resource', 'target')
      const now = field(current[index], 'resource', 'current')
      if (field(target, 'type') === 'Utilization') return `${field(now, 'averageUtilization') !== undefined ? `${number(field(now, 'averageUtilization'))}%` : '<unknown>'}/${number(field(target, 'averageUtilization'))}%`
      return `${text(field(now, 'averageValue'), '<unknown>')}/${text(field(target, 'averageValue') ?? field(target, 'value'), '<unknown>')}`
    })
    .join(', ')
}

function quotaPairs(quota: JsonObject, prefix: 'requests' | 'limits'): string {
  const hard = field(quota, 'status', 'hard') ?? field(quota, 'spec', 'hard')
  const used = field(quota, 'status', 'used')
  if (!isJsonObject(hard)) return ''
  return Object.keys(hard)
    .filter((name) => (prefix === 'limits' ? name.startsWith('limits.') : !name.startsWith('limits.')))
    .sort()
    .map((name) => `${name}: ${text(isJsonObject(used) ? used[name] : undefined, '0')}/${text(hard[name], '0')}`)
    .join(', ')
}

/** kube's printStorageClass: the default class's name carries " (default)"; unset fields print their defaults. */
const STORAGE_CLASS_COLUMNS: readonly Column[] = [
  { ...NAME, cell: (storageClass) => `${text(field(storageClass, 'metadata', 'name'), '')}${isDefaultStorageClass(storageClass) ? ' (default)' : ''}` },
  column('Provisioner', (storageClass) => text(storageClass['provisioner'], ''), { description: 'Indicates the type of the provisioner.' }),
  column('ReclaimPolicy', (storageClass) => text(storageClass['reclaimPolicy'], 'Delete'), {
    description: 'Dynamically provisioned PersistentVolumes of this storage class are created with this reclaimPolicy. Defaults to Delete.',
  }),
  column('VolumeBindingMode', (storageClass) => text(storageClass['volumeBindingMode'], 'Immediate'), {
    description: 'VolumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound. When unset, VolumeBindingImmediate is used.',
  }),
  column('AllowVolumeExpansion', (storageClass) => String(storageClass['allowVolumeExpansion'] === true), { description: 'AllowVolumeExpansion shows whether the storage class allow volume expand' }),
  AGE,
]

const COLUMNS_BY_KIND: Readonly<Record<string, readonly Column[]>> = {
  Pod: POD_COLUMNS,
  Deployment: DEPLOYMENT_COLUMNS,
  ReplicaSet: [
    NAME,
    column('Desired', (set) => number(field(set, 'spec', 'replicas') ?? 1), { type: 'integer' }),
    column('Current', (set) => number(field(set, 'status', 'replicas')), { type: 'integer' }),
    column('Ready', (set) => number(field(set, 'status', 'readyReplicas')), { type: 'integer' }),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
  ],
  StatefulSet: [NAME, column('Ready', (set) => `${number(field(set, 'status', 'readyReplicas'))}/${number(field(set, 'spec', 'replicas') ?? 1)}`), AGE, CONTAINERS, IMAGES],
  DaemonSet: [
    NAME,
    column('Desired', (set) => number(field(set, 'status', 'desiredNumberScheduled')), { type: 'integer' }),
    column('Current', (set) => number(field(set, 'status', 'currentNumberScheduled')), { type: 'integer' }),
    column('Ready', (set) => number(field(set, 'status', 'numberReady')), { type: 'integer' }),
    column('Up-to-date', (set) => number(field(set, 'status', 'updatedNumberScheduled')), { type: 'integer' }),
    column('Available', (set) => number(field(set, 'status', 'numberAvailable')), { type: 'integer' }),
    column('Node Selector', (set) => labelMap(field(set, 'spec', 'template', 'spec', 'nodeSelector'))),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
  ],
  Job: [
    NAME,
    column('Completions', (job) => `${number(field(job, 'status', 'succeeded'))}/${number(field(job, 'spec', 'completions') ?? 1)}`),
    column('Duration', jobDuration),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
  ],
  CronJob: [
    NAME,
    column('Schedule', (job) => text(field(job, 'spec', 'schedule'), '')),
    column('Suspend', (job) => (field(job, 'spec', 'suspend') === true ? 'True' : 'False')),
    column('Active', (job) => list(field(job, 'status', 'active')).length, { type: 'integer' }),
    column('Last Schedule', (job, nowMs) => (field(job, 'status', 'lastScheduleTime') === undefined ? '<none>' : ageSince(field(job, 'status', 'lastScheduleTime'), nowMs))),
    AGE,
    wide('Containers', (job) => text(list(field(job, 'spec', 'jobTemplate', 'spec', 'template', 'spec', 'containers')).map((container) => text(field(container, 'name'), '')).join(','))),
    wide('Images', (job) => text(list(field(job, 'spec', 'jobTemplate', 'spec', 'template', 'spec', 'containers')).map((container) => text(field(container, 'image'), '')).join(','))),
    wide('Selector', (job) => selectorText(field(job, 'spec', 'jobTemplate', 'spec', 'selector'))),
  ],
  HorizontalPodAutoscaler: [
    NAME,
    column('Reference', (hpa) => `${text(field(hpa, 'spec', 'scaleTargetRef', 'kind'), '')}/${text(field(hpa, 'spec', 'scaleTargetRef', 'name'), '')}`),
    column('Targets', metricTargets),
    column('MinPods', (hpa) => number(field(hpa, 'spec', 'minReplicas') ?? 1), { type: 'integer' }),
    column('MaxPods', (hpa) => number(field(hpa, 'spec', 'maxReplicas')), { type: 'integer' }),
    column('Replicas', (hpa) => number(field(hpa, 'status', 'currentReplicas')), { type: 'integer' }),
    AGE,
  ],
  Service: SERVICE_COLUMNS,
  Endpoints: [
    NAME,
    column('Endpoints', (endpoints) => {
      const pairs = list(field(endpoints, 'subsets')).flatMap((subset) =>
        list(field(subset, 'addresses')).flatMap((address) => {
          const ports = list(field(subset, 'ports'))
          return ports.length === 0 ? [text(field(address, 'ip'), '')] : ports.map((port) => `${text(field(address, 'ip'), '')}:${number(field(port, 'port'))}`)
        }),
      )
      if (pairs.length === 0) return '<none>'
      return pairs.length > 3 ? `${pairs.slice(0, 3).join(',')} + ${pairs.length - 3} more...` : pairs.join(',')
    }),
    AGE,
  ],
  EndpointSlice: [
    NAME,
    column('AddressType', (slice) => text(field(slice, 'addressType'), '')),
    // A port without a number prints its name, else `*` (kube prints an empty name as is).
    column('Ports', (slice) => firstThree(list(field(slice, 'ports')).map((port) => text(field(port, 'port'), text(field(port, 'name'), '*'))))),
    column('Endpoints', (slice) => firstThree(list(field(slice, 'endpoints')).flatMap((endpoint) => list(field(endpoint, 'addresses')).map((address) => text(address, ''))))),
    AGE,
  ],
  NetworkPolicy: [NAME, column('Pod-Selector', (policy) => selectorText(field(policy, 'spec', 'podSelector'))), AGE],
  Namespace: [NAME, column('Status', (namespace) => text(field(namespace, 'status', 'phase'), 'Active')), AGE],
  ConfigMap: [NAME, column('Data', (map) => Object.keys(isJsonObject(map['data']) ? map['data'] : {}).length + Object.keys(isJsonObject(map['binaryData']) ? map['binaryData'] : {}).length, { type: 'integer' }), AGE],
  Secret: [NAME, column('Type', (secret) => text(secret['type'], 'Opaque')), column('Data', (secret) => Object.keys(isJsonObject(secret['data']) ? secret['data'] : {}).length, { type: 'integer' }), AGE],
  ServiceAccount: [NAME, column('Secrets', (account) => list(account['secrets']).length, { type: 'integer' }), AGE],
  ResourceQuota: [NAME, AGE, column('Request', (quota) => quotaPairs(quota, 'requests')), column('Limit', (quota) => quotaPairs(quota, 'limits'))],
  Lease: [NAME, column('Holder', (lease) => text(field(lease, 'spec', 'holderIdentity'), '')), AGE],
  Node: NODE_COLUMNS,
  Event: EVENT_COLUMNS,
  StorageClass: STORAGE_CLASS_COLUMNS,
}

/**
 * A `meta.k8s.io/v1` Table for `items` of `kind`. Rows carry the object's metadata by default,
 * the whole object with `includeObject: 'Object'` (kubectl's --sort-by and custom columns need
 * it) or nothing with 'None'.
 */
export function buildTable(kind: string, items: readonly JsonObject[], resourceVersion: string, nowMs: number, includeObject: IncludeObject = 'Metadata'): JsonObject {
  const columns = COLUMNS_BY_KIND[kind] ?? [NAME, AGE]
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: columns.map(({ name, type, format, description, priority }) => ({ name, type, format, description, priority })),
    rows: items.map((object) => ({
      cells: columns.map((definition) => definition.cell(object, nowMs)),
      ...(includeObject === 'None' ? {} : { object: includeObject === 'Object' ? object : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: metadataOf(object) } }),
    })),
  }
}

/** The `includeObject` query parameter, defaulting to Metadata; undefined when it is not valid. */
export function parseIncludeObject(value: string | null): IncludeObject | undefined {
  if (value === null || value === '') return 'Metadata'
  return value === 'None' || value === 'Metadata' || value === 'Object' ? value : undefined
}
