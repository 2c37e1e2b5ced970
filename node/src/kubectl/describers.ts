/**
 * What `describe` prints for each kind, following kubectl's describers (k8s.io/kubectl
 * pkg/describe) for the kinds people describe every day — Pod, Deployment, ReplicaSet, Service,
 * ConfigMap — and kubectl's generic describer for every other kind: every field, with camelCase
 * names spelled out (`creationTimestamp` → `Creation Timestamp`).
 *
 * The functions are pure: the command fetches the object and its related objects (events,
 * ReplicaSets, pods) and passes them in.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { splitReplicaSets } from './deployment-history.ts'
import { DescribeWriter, rfc1123z } from './describe-writer.ts'
import { humanDuration } from './duration.ts'
import { controllerOf, fieldAt, listAt, nameOf, numberAt, objectAt, selectorText, stringAt, stringMapAt } from './object-fields.ts'

/** Objects related to the described one, fetched by the command. */
export interface DescribeRelated {
  /** Events whose involvedObject is the object (undefined: not fetched, prints nothing). */
  readonly events?: readonly JsonObject[]
  /** For deployments: the ReplicaSets it controls. */
  readonly replicaSets?: readonly JsonObject[]
  /** For ReplicaSets: the pods they select. */
  readonly pods?: readonly JsonObject[]
  /** For services: their Endpoints object. */
  readonly endpoints?: JsonObject
}

/** The describe text of `object` (of `kind`), aged against `nowMs`. */
export function describeObject(kind: string, object: JsonObject, related: DescribeRelated, nowMs: number): string {
  const writer = new DescribeWriter()
  switch (kind) {
    case 'Pod':
      describePod(writer, object)
      break
    case 'Deployment':
      describeDeployment(writer, object, related.replicaSets ?? [])
      break
    case 'ReplicaSet':
      describeReplicaSet(writer, object, related.pods ?? [])
      break
    case 'Service':
      describeService(writer, object, related.endpoints)
      break
    case 'ConfigMap':
      describeConfigMap(writer, object)
      break
    default:
      describeGeneric(writer, object)
  }
  if (related.events !== undefined) describeEvents(writer, related.events, nowMs)
  return writer.toString()
}

function header(writer: DescribeWriter, object: JsonObject, options: { creation: boolean }): void {
  writer.field(0, 'Name', nameOf(object))
  const namespace = stringAt(object, ['metadata', 'namespace'])
  if (namespace !== '') writer.field(0, 'Namespace', namespace)
  if (options.creation) writer.field(0, 'CreationTimestamp', rfc1123z(stringAt(object, ['metadata', 'creationTimestamp'])))
}

function describePod(writer: DescribeWriter, pod: JsonObject): void {
  header(writer, pod, { creation: false })
  const priority = fieldAt(pod, 'spec', 'priority')
  if (typeof priority === 'number') writer.field(0, 'Priority', priority)
  const node = stringAt(pod, ['spec', 'nodeName'])
  writer.field(0, 'Node', node === '' ? '<none>' : `${node}/${stringAt(pod, ['status', 'hostIP'])}`)
  const started = stringAt(pod, ['status', 'startTime'])
  if (started !== '') writer.field(0, 'Start Time', rfc1123z(started))
  writer.labels('Labels', stringMapAt(pod, 'metadata', 'labels'))
  writer.annotations('Annotations', stringMapAt(pod, 'metadata', 'annotations'))
  if (stringAt(pod, ['metadata', 'deletionTimestamp']) !== '') writer.field(0, 'Status', 'Terminating')
  else writer.field(0, 'Status', stringAt(pod, ['status', 'phase'], 'Pending'))
  for (const [key, label] of [['reason', 'Reason'], ['message', 'Message']] as const) {
    const value = stringAt(pod, ['status', key])
    if (value !== '') writer.field(0, label, value)
  }
  writer.field(0, 'IP', stringAt(pod, ['status', 'podIP']))
  const ips = listAt(pod, 'status', 'podIPs')
  if (ips.length === 0) writer.field(0, 'IPs', '<none>')
  else {
    writer.line(0, 'IPs:')
    for (const ip of ips) writer.field(1, 'IP', stringAt(ip, ['ip']))
  }
  const controller = controllerOf(pod)
  if (controller !== undefined) writer.field(0, 'Controlled By', `${stringAt(controller, ['kind'])}/${stringAt(controller, ['name'])}`)
  const statuses = listAt(pod, 'status', 'containerStatuses').filter(isJsonObject)
  if (listAt(pod, 'spec', 'initContainers').length > 0) describeContainers(writer, 'Init Containers', listAt(pod, 'spec', 'initContainers'), listAt(pod, 'status', 'initContainerStatuses').filter(isJsonObject), '')
  describeContainers(writer, 'Containers', listAt(pod, 'spec', 'containers'), statuses, '')
  const conditions = listAt(pod, 'status', 'conditions')
  if (conditions.length > 0) {
    writer.line(0, 'Conditions:')
    writer.line(1, 'Type\tStatus')
    for (const condition of conditions) writer.line(1, `${stringAt(condition, ['type'])} \t${stringAt(condition, ['status'])} `)
  }
  describeVolumes(writer, listAt(pod, 'spec', 'volumes'), '')
  writer.field(0, 'QoS Class', stringAt(pod, ['status', 'qosClass'], 'BestEffort'))
  writer.labels('Node-Selectors', stringMapAt(pod, 'spec', 'nodeSelector'))
  const tolerations = listAt(pod, 'spec', 'tolerations').map(formatToleration)
  if (tolerations.length === 0) writer.field(0, 'Tolerations', '<none>')
  else tolerations.forEach((toleration, index) => writer.line(0, `${index === 0 ? 'Tolerations:' : ''}\t${toleration}`))
}

function formatToleration(toleration: JsonValue): string {
  const key = stringAt(toleration, ['key'])
  const value = stringAt(toleration, ['value'])
  const effect = stringAt(toleration, ['effect'])
  const operator = stringAt(toleration, ['operator'])
  const seconds = fieldAt(toleration, 'tolerationSeconds')
  let text = key === '' ? (operator === 'Exists' ? 'op=Exists' : '') : value === '' ? `${key}` : `${key}=${value}`
  if (key !== '' && operator === 'Exists') text += ':op=Exists'
  if (effect !== '') text += `:${effect}`
  if (typeof seconds === 'number') text += ` for ${seconds}s`
  return text
}

function describeDeployment(writer: DescribeWriter, deployment: JsonObject, replicaSets: readonly JsonObject[]): void {
  header(writer, deployment, { creation: true })
  writer.labels('Labels', stringMapAt(deployment, 'metadata', 'labels'))
  writer.annotations('Annotations', stringMapAt(deployment, 'metadata', 'annotations'))
  writer.field(0, 'Selector', selectorText(fieldAt(deployment, 'spec', 'selector')))
  const status = (key: string): number => numberAt(deployment, ['status', key])
  writer.field(0, 'Replicas', `${numberAt(deployment, ['spec', 'replicas'], 1)} desired | ${status('updatedReplicas')} updated | ${status('replicas')} total | ${status('availableReplicas')} available | ${status('unavailableReplicas')} unavailable`)
  writer.field(0, 'StrategyType', stringAt(deployment, ['spec', 'strategy', 'type'], 'RollingUpdate'))
  writer.field(0, 'MinReadySeconds', numberAt(deployment, ['spec', 'minReadySeconds']))
  const rolling = fieldAt(deployment, 'spec', 'strategy', 'rollingUpdate')
  if (isJsonObject(rolling)) writer.field(0, 'RollingUpdateStrategy', `${stringAt(rolling, ['maxUnavailable'], '25%')} max unavailable, ${stringAt(rolling, ['maxSurge'], '25%')} max surge`)
  describePodTemplate(writer, objectAt(deployment, 'spec', 'template'))
  describeConditions(writer, listAt(deployment, 'status', 'conditions'))
  const { current, old } = splitReplicaSets(deployment, replicaSets)
  writer.field(0, 'OldReplicaSets', formatReplicaSets(old.filter((set) => numberAt(set, ['spec', 'replicas'], 1) !== 0)))
  writer.field(0, 'NewReplicaSet', formatReplicaSets(current === undefined ? [] : [current]))
}

function formatReplicaSets(sets: readonly JsonObject[]): string {
  if (sets.length === 0) return '<none>'
  return sets.map((set) => `${nameOf(set)} (${numberAt(set, ['status', 'replicas'])}/${numberAt(set, ['spec', 'replicas'], 1)} replicas created)`).join(', ')
}

function describeReplicaSet(writer: DescribeWriter, replicaSet: JsonObject, pods: readonly JsonObject[]): void {
  header(writer, replicaSet, { creation: false })
  writer.field(0, 'Selector', selectorText(fieldAt(replicaSet, 'spec', 'selector')))
  writer.labels('Labels', stringMapAt(replicaSet, 'metadata', 'labels'))
  writer.annotations('Annotations', stringMapAt(replicaSet, 'metadata', 'annotations'))
  const controller = controllerOf(replicaSet)
  if (controller !== undefined) writer.field(0, 'Controlled By', `${stringAt(controller, ['kind'])}/${stringAt(controller, ['name'])}`)
  writer.field(0, 'Replicas', `${numberAt(replicaSet, ['status', 'replicas'])} current / ${numberAt(replicaSet, ['spec', 'replicas'], 1)} desired`)
  const phase = (name: string): number => pods.filter((pod) => stringAt(pod, ['status', 'phase'], 'Pending') === name).length
  writer.field(0, 'Pods Status', `${phase('Running')} Running / ${phase('Pending')} Waiting / ${phase('Succeeded')} Succeeded / ${phase('Failed')} Failed`)
  describePodTemplate(writer, objectAt(replicaSet, 'spec', 'template'))
  describeConditions(writer, listAt(replicaSet, 'status', 'conditions'))
}

function describeConditions(writer: DescribeWriter, conditions: readonly JsonValue[]): void {
  if (conditions.length === 0) return
  writer.line(0, 'Conditions:')
  writer.line(1, 'Type\tStatus\tReason')
  writer.line(1, '----\t------\t------')
  for (const condition of conditions) writer.line(1, `${stringAt(condition, ['type'])} \t${stringAt(condition, ['status'])}\t${stringAt(condition, ['reason'])}`)
}

function describeService(writer: DescribeWriter, service: JsonObject, endpoints: JsonObject | undefined): void {
  header(writer, service, { creation: false })
  writer.labels('Labels', stringMapAt(service, 'metadata', 'labels'))
  writer.annotations('Annotations', stringMapAt(service, 'metadata', 'annotations'))
  const selector = Object.entries(stringMapAt(service, 'spec', 'selector')).sort(([a], [b]) => a.localeCompare(b)).map(([key, value]) => `${key}=${value}`).join(',')
  writer.field(0, 'Selector', selector === '' ? '<none>' : selector)
  const type = stringAt(service, ['spec', 'type'], 'ClusterIP')
  writer.field(0, 'Type', type)
  const clusterIp = stringAt(service, ['spec', 'clusterIP'])
  writer.field(0, 'IP', clusterIp === '' ? '<none>' : clusterIp)
  const ips = listAt(service, 'spec', 'clusterIPs').map(String)
  if (ips.length > 0) writer.field(0, 'IPs', ips.join(','))
  for (const port of listAt(service, 'spec', 'ports')) {
    const protocol = stringAt(port, ['protocol'], 'TCP')
    writer.line(0, `Port:\t${stringAt(port, ['name'], '<unset>')}\t${numberAt(port, ['port'])}/${protocol}`)
    writer.field(0, 'TargetPort', `${stringAt(port, ['targetPort'], String(numberAt(port, ['port'])))}/${protocol}`)
    if (type === 'NodePort' || type === 'LoadBalancer') writer.line(0, `NodePort:\t${stringAt(port, ['name'], '<unset>')}\t${numberAt(port, ['nodePort'])}/${protocol}`)
    writer.field(0, 'Endpoints', endpointAddresses(endpoints, stringAt(port, ['name'])))
  }
  writer.field(0, 'Session Affinity', stringAt(service, ['spec', 'sessionAffinity'], 'None'))
}

function endpointAddresses(endpoints: JsonObject | undefined, portName: string): string {
  const addresses: string[] = []
  for (const subset of listAt(endpoints, 'subsets')) {
    const port = listAt(subset, 'ports').find((candidate) => stringAt(candidate, ['name']) === portName) ?? listAt(subset, 'ports')[0]
    for (const address of listAt(subset, 'addresses')) addresses.push(`${stringAt(address, ['ip'])}${port === undefined ? '' : `:${numberAt(port, ['port'])}`}`)
  }
  return addresses.length === 0 ? '<none>' : addresses.join(',')
}

function describeConfigMap(writer: DescribeWriter, map: JsonObject): void {
  header(writer, map, { creation: false })
  writer.labels('Labels', stringMapAt(map, 'metadata', 'labels'))
  writer.annotations('Annotations', stringMapAt(map, 'metadata', 'annotations'))
  writer.line(0, '')
  writer.line(0, 'Data')
  writer.line(0, '====')
  for (const [key, value] of Object.entries(stringMapAt(map, 'data')).sort(([a], [b]) => a.localeCompare(b))) {
    writer.line(0, `${key}:`)
    writer.line(0, '----')
    writer.line(0, value)
  }
  const binary = Object.entries(stringMapAt(map, 'binaryData'))
  if (binary.length > 0) {
    writer.line(0, '')
    writer.line(0, 'BinaryData')
    writer.line(0, '====')
    for (const [key, value] of binary) writer.line(0, `${key}: ${Buffer.from(value, 'base64').byteLength} bytes`)
  }
}

/** The pod template block of workloads (kubectl's DescribePodTemplate). */
export function describePodTemplate(writer: DescribeWriter, template: JsonObject): void {
  writer.line(0, 'Pod Template:')
  writer.labels('  Labels', stringMapAt(template, 'metadata', 'labels'))
  const annotations = stringMapAt(template, 'metadata', 'annotations')
  if (Object.keys(annotations).length > 0) writer.annotations('  Annotations', annotations)
  const account = stringAt(template, ['spec', 'serviceAccountName'])
  if (account !== '') writer.field(1, 'Service Account', account)
  if (listAt(template, 'spec', 'initContainers').length > 0) describeContainers(writer, 'Init Containers', listAt(template, 'spec', 'initContainers'), [], '  ')
  describeContainers(writer, 'Containers', listAt(template, 'spec', 'containers'), [], '  ')
  describeVolumes(writer, listAt(template, 'spec', 'volumes'), '  ')
}

function describeContainers(writer: DescribeWriter, label: string, containers: readonly JsonValue[], statuses: readonly JsonObject[], space: string): void {
  writer.line(0, `${space}${label}:${containers.length === 0 ? '\t<none>' : ''}`)
  for (const container of containers) {
    const name = stringAt(container, ['name'])
    const status = statuses.find((candidate) => stringAt(candidate, ['name']) === name)
    writer.line(1, `${space === '' ? '' : ' '}${name}:`)
    if (status !== undefined) writer.field(2, 'Container ID', stringAt(status, ['containerID']))
    writer.field(2, 'Image', stringAt(container, ['image']))
    if (status !== undefined) writer.field(2, 'Image ID', stringAt(status, ['imageID']))
    const ports = listAt(container, 'ports')
    const portText = ports.map((port) => `${numberAt(port, ['containerPort'])}/${stringAt(port, ['protocol'], 'TCP')}`).join(', ')
    const hostText = ports.map((port) => `${numberAt(port, ['hostPort'])}/${stringAt(port, ['protocol'], 'TCP')}`).join(', ')
    writer.field(2, ports.length > 1 ? 'Ports' : 'Port', portText === '' ? '<none>' : portText)
    writer.field(2, ports.length > 1 ? 'Host Ports' : 'Host Port', hostText === '' ? '<none>' : hostText)
    for (const [key, title] of [['command', 'Command'], ['args', 'Args']] as const) {
      const words = listAt(container, key)
      if (words.length === 0) continue
      writer.line(2, `${title}:`)
      for (const word of words) writer.line(3, String(word))
    }
    if (status !== undefined) describeContainerState(writer, status)
    for (const [key, title] of [['limits', 'Limits'], ['requests', 'Requests']] as const) {
      const amounts = Object.entries(stringMapAt(container, 'resources', key)).sort(([a], [b]) => a.localeCompare(b))
      if (amounts.length === 0) continue
      writer.line(2, `${title}:`)
      for (const [resource, quantity] of amounts) writer.field(3, resource, quantity)
    }
    const env = listAt(container, 'env')
    writer.line(2, `Environment:${env.length === 0 ? '\t<none>' : ''}`)
    for (const variable of env) writer.field(3, stringAt(variable, ['name']), describeEnvValue(variable))
    const mounts = listAt(container, 'volumeMounts')
    writer.line(2, `Mounts:${mounts.length === 0 ? '\t<none>' : ''}`)
    for (const mount of mounts) writer.line(3, `${stringAt(mount, ['mountPath'])} from ${stringAt(mount, ['name'])} (${fieldAt(mount, 'readOnly') === true ? 'ro' : 'rw'})`)
  }
}

function describeEnvValue(variable: JsonValue): string {
  const value = fieldAt(variable, 'value')
  if (typeof value === 'string') return value
  const from = objectAt(variable, 'valueFrom')
  if (isJsonObject(from['fieldRef'])) return ` (${stringAt(from, ['fieldRef', 'apiVersion'], 'v1')}:${stringAt(from, ['fieldRef', 'fieldPath'])})`
  if (isJsonObject(from['secretKeyRef'])) return `<set to the key '${stringAt(from, ['secretKeyRef', 'key'])}' in secret '${stringAt(from, ['secretKeyRef', 'name'])}'>`
  if (isJsonObject(from['configMapKeyRef'])) return `<set to the key '${stringAt(from, ['configMapKeyRef', 'key'])}' of config map '${stringAt(from, ['configMapKeyRef', 'name'])}'>`
  return ''
}

function describeContainerState(writer: DescribeWriter, status: JsonObject): void {
  describeState(writer, 'State', objectAt(status, 'state'))
  if (isJsonObject(fieldAt(status, 'lastState', 'terminated'))) describeState(writer, 'Last State', objectAt(status, 'lastState'))
  writer.field(2, 'Ready', fieldAt(status, 'ready') === true ? 'True' : 'False')
  writer.field(2, 'Restart Count', numberAt(status, ['restartCount']))
}

function describeState(writer: DescribeWriter, title: string, state: JsonObject): void {
  if (isJsonObject(state['running'])) {
    writer.field(2, title, 'Running')
    writer.field(3, 'Started', rfc1123z(stringAt(state, ['running', 'startedAt'])))
  } else if (isJsonObject(state['terminated'])) {
    const terminated = state['terminated']
    writer.field(2, title, 'Terminated')
    if (stringAt(terminated, ['reason']) !== '') writer.field(3, 'Reason', stringAt(terminated, ['reason']))
    if (stringAt(terminated, ['message']) !== '') writer.field(3, 'Message', stringAt(terminated, ['message']))
    writer.field(3, 'Exit Code', numberAt(terminated, ['exitCode']))
    writer.field(3, 'Started', rfc1123z(stringAt(terminated, ['startedAt'])))
    writer.field(3, 'Finished', rfc1123z(stringAt(terminated, ['finishedAt'])))
  } else {
    writer.field(2, title, 'Waiting')
    const reason = stringAt(state, ['waiting', 'reason'])
    if (reason !== '') writer.field(3, 'Reason', reason)
  }
}

function describeVolumes(writer: DescribeWriter, volumes: readonly JsonValue[], space: string): void {
  if (volumes.length === 0) {
    writer.line(0, `${space}Volumes:\t<none>`)
    return
  }
  writer.line(0, `${space}Volumes:`)
  for (const volume of volumes) {
    writer.line(1, `${space === '' ? '' : ' '}${stringAt(volume, ['name'])}:`)
    const source = Object.keys(objectAt(volume)).find((key) => key !== 'name')
    if (source === undefined) continue
    writer.field(2, 'Type', `${source.charAt(0).toUpperCase()}${source.slice(1)}`)
    for (const [key, value] of Object.entries(objectAt(volume, source))) {
      if (typeof value !== 'object' || value === null) writer.field(2, spellOut(key), String(value))
    }
  }
}

/** The Events block: `Events:\t<none>`, or a table aligned on its own, oldest first. */
export function describeEvents(writer: DescribeWriter, events: readonly JsonObject[], nowMs: number): void {
  if (events.length === 0) {
    writer.field(0, 'Events', '<none>')
    return
  }
  writer.flush()
  const since = (iso: string): string => {
    const time = Date.parse(iso)
    return iso === '' || Number.isNaN(time) ? '<unknown>' : humanDuration(nowMs - time)
  }
  const lastSeen = (event: JsonObject): string => stringAt(event, ['lastTimestamp']) || stringAt(event, ['eventTime']) || stringAt(event, ['firstTimestamp'])
  const sorted = [...events].sort((a, b) => Date.parse(lastSeen(a)) - Date.parse(lastSeen(b)))
  writer.line(0, 'Events:')
  writer.line(1, 'Type\tReason\tAge\tFrom\tMessage')
  writer.line(1, '----\t------\t----\t----\t-------')
  for (const event of sorted) {
    const count = numberAt(event, ['count'], 1)
    const first = stringAt(event, ['firstTimestamp']) || stringAt(event, ['eventTime'])
    const interval = count > 1 ? `${since(lastSeen(event))} (x${count} over ${since(first)})` : since(first)
    const source = stringAt(event, ['source', 'component']) || stringAt(event, ['reportingComponent']) || stringAt(event, ['reportingController'])
    writer.line(1, `${stringAt(event, ['type'])}\t${stringAt(event, ['reason'])}\t${interval}\t${source}\t${stringAt(event, ['message']).trim()}`)
  }
}

/** `creationTimestamp` → `Creation Timestamp`, `podIP` → `Pod IP` (kubectl's smartLabelFor, simplified). */
export function spellOut(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2').split(/[\s_-]+/)
  return words.map((word) => (word === '' ? word : `${word.charAt(0).toUpperCase()}${word.slice(1)}`)).join(' ')
}

/** Every other kind: the header fields, then every field of the object, spelled out. */
function describeGeneric(writer: DescribeWriter, object: JsonObject): void {
  header(writer, object, { creation: false })
  writer.labels('Labels', stringMapAt(object, 'metadata', 'labels'))
  writer.annotations('Annotations', stringMapAt(object, 'metadata', 'annotations'))
  writer.field(0, 'API Version', stringAt(object, ['apiVersion']))
  writer.field(0, 'Kind', stringAt(object, ['kind']))
  const skippedMetadata = new Set(['name', 'namespace', 'labels', 'annotations', 'managedFields'])
  for (const [key, value] of Object.entries(object)) {
    if (key === 'apiVersion' || key === 'kind') continue
    const shown = key === 'metadata' && isJsonObject(value) ? Object.fromEntries(Object.entries(value).filter(([field]) => !skippedMetadata.has(field))) : value
    describeValue(writer, 0, spellOut(key), shown)
  }
}

function describeValue(writer: DescribeWriter, level: number, label: string, value: JsonValue): void {
  if (isJsonObject(value)) {
    if (Object.keys(value).length === 0) return
    writer.line(level, `${label}:`)
    for (const [key, item] of Object.entries(value)) describeValue(writer, level + 1, spellOut(key), item)
    return
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return
    writer.line(level, `${label}:`)
    for (const item of value) {
      if (isJsonObject(item)) {
        const entries = Object.entries(item)
        entries.forEach(([key, inner], index) => {
          if (isJsonObject(inner) || Array.isArray(inner)) describeValue(writer, level + 1, `${index === 0 ? '' : ' '}${spellOut(key)}`, inner)
          else writer.line(level + 1, `${index === 0 ? '' : ' '}${spellOut(key)}:\t${String(inner)}`)
        })
      } else {
        writer.line(level + 1, String(item))
      }
    }
    return
  }
  writer.field(level, label, value === null ? '<nil>' : String(value))
}
