/**
 * Per-kind defaulting and validation on write, for the kinds the workload controllers will act on
 * (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, Service). Defaults are the ones
 * Kubernetes applies and kubectl prints (research/k8s-api.md §0); without them `describe` shows
 * `Port: 80/`, and `rollout undo` sees a changed template where nothing changed.
 *
 * Both functions are pure: defaulting returns a new object; validation returns field errors.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../machinery/field-errors.ts'
import { dns1123LabelErrors } from '../machinery/names.ts'
import { labelSelectorFromObject } from '../machinery/selectors.ts'

function objectAt(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

function listAt(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : []
}

function defaultContainer(container: JsonValue): JsonValue {
  if (!isJsonObject(container)) return container
  const image = typeof container['image'] === 'string' ? container['image'] : ''
  // Kubernetes pulls :latest (or untagged) images always, pinned tags only when missing.
  const tag = image.includes('@') ? 'digest' : (image.split('/').pop() ?? '').split(':')[1]
  return {
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent',
    resources: {},
    ...container,
    ...(Array.isArray(container['ports']) ? { ports: container['ports'].map((port) => (isJsonObject(port) ? { protocol: 'TCP', ...port } : port)) } : {}),
  }
}

/** Defaults of a PodSpec (also inside workload templates). */
export function defaultPodSpec(spec: JsonObject): JsonObject {
  return {
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    schedulerName: 'default-scheduler',
    securityContext: {},
    ...spec,
    containers: listAt(spec['containers']).map(defaultContainer),
    ...(Array.isArray(spec['initContainers']) ? { initContainers: spec['initContainers'].map(defaultContainer) } : {}),
  }
}

function withTemplateDefaults(spec: JsonObject): JsonObject {
  const template = objectAt(spec['template'])
  return { ...spec, template: { ...template, spec: defaultPodSpec(objectAt(template['spec'])) } }
}

/** The object with Kubernetes' defaults for its kind filled in (unknown kinds unchanged). */
export function applyDefaults(kind: string, object: JsonObject): JsonObject {
  const spec = objectAt(object['spec'])
  switch (kind) {
    case 'Pod':
      return { ...object, spec: defaultPodSpec(spec), status: { phase: 'Pending', ...objectAt(object['status']) } }
    case 'Deployment':
      return {
        ...object,
        spec: withTemplateDefaults({
          replicas: 1,
          revisionHistoryLimit: 10,
          progressDeadlineSeconds: 600,
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
          ...spec,
        }),
      }
    case 'ReplicaSet':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'Job':
      return { ...object, spec: withTemplateDefaults(kind === 'ReplicaSet' || kind === 'StatefulSet' ? { replicas: 1, ...spec } : spec) }
    case 'Service': {
      const ports = listAt(spec['ports']).map((port) => (isJsonObject(port) ? { protocol: 'TCP', targetPort: port['port'] ?? null, ...port } : port))
      return { ...object, spec: { type: 'ClusterIP', sessionAffinity: 'None', ...spec, ports } }
    }
    default:
      return object
  }
}

function containerErrors(containers: JsonValue[], path: string, required: boolean): FieldError[] {
  const errors: FieldError[] = []
  if (required && containers.length === 0) errors.push(fieldRequired(path))
  const names = new Set<string>()
  containers.forEach((container, i) => {
    const at = `${path}[${i}]`
    const value = objectAt(container)
    const name = value['name']
    if (typeof name !== 'string' || name === '') errors.push(fieldRequired(`${at}.name`))
    else {
      for (const detail of dns1123LabelErrors(name)) errors.push(fieldInvalid(`${at}.name`, name, detail))
      if (names.has(name)) errors.push({ type: 'FieldValueDuplicate', field: `${at}.name`, badValue: name, detail: '' })
      names.add(name)
    }
    if (typeof value['image'] !== 'string' || value['image'] === '') errors.push(fieldRequired(`${at}.image`))
    listAt(value['ports']).forEach((port, j) => {
      const containerPort = objectAt(port)['containerPort']
      if (typeof containerPort !== 'number' || !Number.isInteger(containerPort) || containerPort < 1 || containerPort > 65535) {
        errors.push(fieldInvalid(`${at}.ports[${j}].containerPort`, containerPort ?? null, 'must be between 1 and 65535, inclusive'))
      }
      const protocol = objectAt(port)['protocol']
      if (protocol !== undefined && protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') errors.push(fieldNotSupported(`${at}.ports[${j}].protocol`, protocol, ['SCTP', 'TCP', 'UDP']))
    })
  })
  return errors
}

function podSpecErrors(spec: JsonObject, path: string): FieldError[] {
  const errors = containerErrors(listAt(spec['containers']), `${path}.containers`, true)
  errors.push(...containerErrors(listAt(spec['initContainers']), `${path}.initContainers`, false))
  const restartPolicy = spec['restartPolicy']
  if (restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(String(restartPolicy))) errors.push(fieldNotSupported(`${path}.restartPolicy`, restartPolicy, ['Always', 'OnFailure', 'Never']))
  return errors
}

/** Field errors of a (defaulted) object of `kind`; empty when valid or the kind has no rules yet. */
export function validateKind(kind: string, object: JsonObject): FieldError[] {
  const spec = objectAt(object['spec'])
  switch (kind) {
    case 'Pod':
      return podSpecErrors(spec, 'spec')
    case 'Deployment':
    case 'ReplicaSet':
    case 'StatefulSet':
    case 'DaemonSet': {
      const errors: FieldError[] = []
      const replicas = spec['replicas']
      if (replicas !== undefined && (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)) errors.push(fieldInvalid('spec.replicas', replicas, 'must be greater than or equal to 0'))
      const selector = spec['selector']
      const template = objectAt(spec['template'])
      if (!isJsonObject(selector) || (Object.keys(objectAt(selector['matchLabels'])).length === 0 && listAt(selector['matchExpressions']).length === 0)) {
        errors.push(fieldRequired('spec.selector'))
      } else {
        const labels = objectAt(objectAt(template['metadata'])['labels']) as Record<string, string>
        if (!labelSelectorFromObject(selector as never).matches(labels)) errors.push(fieldInvalid('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'))
      }
      errors.push(...podSpecErrors(objectAt(template['spec']), 'spec.template.spec'))
      return errors
    }
    case 'Service': {
      const errors: FieldError[] = []
      const type = spec['type']
      if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(String(type))) errors.push(fieldNotSupported('spec.type', type ?? null, ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort']))
      listAt(spec['ports']).forEach((port, i) => {
        const value = objectAt(port)['port']
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) errors.push(fieldInvalid(`spec.ports[${i}].port`, value ?? null, 'must be between 1 and 65535, inclusive'))
      })
      return errors
    }
    default:
      return []
  }
}
