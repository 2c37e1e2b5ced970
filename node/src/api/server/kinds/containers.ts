/**
 * Containers and init containers of a pod spec: defaults (`SetDefaults_Container`) and
 * validation (`validateContainers`, `validateInitContainers`): names, image, ports, environment,
 * resources, probes, lifecycle hooks and volume mounts.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldDuplicate, fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../../machinery/names.ts'
import { defaultFieldRef, ENV_FIELD_PATHS, fieldRefErrors, resourceFieldRefErrors } from './downward-api.ts'
import { enumErrors, messagesAsErrors } from './field-checks.ts'
import { configKeyMessages, envVarNameMessages, portNameMessages, portNumberErrors } from './formats.ts'
import { childPath, indexPath, isInteger, isSet, listAt, objectAt, objectsAt, setDefault, setDefaultUnlessNonZero, stringAt } from './json-access.ts'
import { defaultLifecycle, defaultProbe, lifecycleErrors, probeErrors } from './probes.ts'
import { canonicalizeQuantities, resourceRequirementsErrors } from './resource-lists.ts'
import { volumeMountErrors } from './volumes.ts'

export const PORT_PROTOCOLS: readonly string[] = ['SCTP', 'TCP', 'UDP']
const PULL_POLICIES: readonly string[] = ['Always', 'IfNotPresent', 'Never']

/**
 * The image pull policy Kubernetes picks when none is given: `Always` for `:latest` and untagged
 * images (they may change under the same name), `IfNotPresent` for pinned tags and digests.
 */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  const [named = '', digest] = image.split('@')
  // The tag follows the last ':' after the last '/'; a ':' before it belongs to a registry port.
  const lastSegment = named.split('/').pop() ?? ''
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.lastIndexOf(':') + 1) : undefined
  if (tag === undefined) return digest === undefined ? 'Always' : 'IfNotPresent'
  return tag === 'latest' ? 'Always' : 'IfNotPresent'
}

/** Fills a container's defaults in place. */
export function defaultContainer(container: JsonObject): void {
  setDefaultUnlessNonZero(container, 'terminationMessagePath', '/dev/termination-log')
  setDefaultUnlessNonZero(container, 'terminationMessagePolicy', 'File')
  setDefaultUnlessNonZero(container, 'imagePullPolicy', defaultPullPolicy(stringAt(container['image'])))
  setDefault(container, 'resources', {})
  for (const port of objectsAt(container['ports'])) setDefaultUnlessNonZero(port, 'protocol', 'TCP')
  for (const variable of objectsAt(container['env'])) if (isJsonObject(variable['valueFrom'])) defaultFieldRef(variable['valueFrom']['fieldRef'])
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) defaultProbe(container[probe])
  defaultLifecycle(container['lifecycle'])
  const resources = objectAt(container['resources'])
  canonicalizeQuantities(resources['limits'])
  canonicalizeQuantities(resources['requests'])
}

/** A container's `ports`: valid, unique IANA names; port numbers in range; a known protocol. */
function portErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  const names = new Set<string>()
  listAt(value).forEach((item, i) => {
    const port = objectAt(item)
    const at = indexPath(path, i)
    const name = stringAt(port['name'])
    if (name !== '') {
      const messages = portNameMessages(name)
      if (messages.length > 0) errors.push(...messagesAsErrors(messages, childPath(at, 'name'), name))
      else if (names.has(name)) errors.push(fieldDuplicate(childPath(at, 'name'), name))
      names.add(name)
    }
    const containerPort = port['containerPort']
    if (!isSet(containerPort) || containerPort === 0) errors.push(fieldRequired(childPath(at, 'containerPort')))
    else errors.push(...portNumberErrors(containerPort, childPath(at, 'containerPort')))
    const hostPort = port['hostPort']
    if (isSet(hostPort) && hostPort !== 0) errors.push(...portNumberErrors(hostPort, childPath(at, 'hostPort')))
    errors.push(...enumErrors(port['protocol'], childPath(at, 'protocol'), PORT_PROTOCOLS))
  })
  return errors
}

/** A configMapKeyRef or secretKeyRef: a valid object name and a valid key. */
function keySelectorErrors(selector: JsonObject, path: string): FieldError[] {
  const name = stringAt(selector['name'])
  const key = stringAt(selector['key'])
  const errors = messagesAsErrors(dns1123SubdomainErrors(name), childPath(path, 'name'), name)
  if (key === '') errors.push(fieldRequired(childPath(path, 'key')))
  else errors.push(...messagesAsErrors(configKeyMessages(key), childPath(path, 'key'), key))
  return errors
}

/** The checks of each `valueFrom` source, by field name. */
const VALUE_SOURCES: ReadonlyArray<readonly [string, (source: JsonObject, path: string) => FieldError[]]> = [
  ['fieldRef', (source, path) => fieldRefErrors(source, ENV_FIELD_PATHS, path)],
  ['resourceFieldRef', (source, path) => resourceFieldRefErrors(source, path, false)],
  ['configMapKeyRef', keySelectorErrors],
  ['secretKeyRef', keySelectorErrors],
]

/** `env[].valueFrom`: exactly one source, and no literal `value` beside it. */
function valueFromErrors(variable: JsonObject, path: string): FieldError[] {
  const valueFrom = variable['valueFrom']
  if (!isSet(valueFrom)) return []
  const from = objectAt(valueFrom)
  const errors: FieldError[] = []
  let sources = 0
  for (const [field, check] of VALUE_SOURCES) {
    const source = from[field]
    if (!isJsonObject(source)) continue
    sources++
    errors.push(...check(source, childPath(path, field)))
  }
  if (sources === 0) errors.push(fieldInvalid(path, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'))
  else if (stringAt(variable['value']) !== '') errors.push(fieldInvalid(path, '', 'may not be specified when `value` is not empty'))
  else if (sources > 1) errors.push(fieldInvalid(path, '', 'may not have more than one field specified at a time'))
  return errors
}

function envErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  listAt(value).forEach((item, i) => {
    const variable = objectAt(item)
    const at = indexPath(path, i)
    const name = stringAt(variable['name'])
    if (name === '') errors.push(fieldRequired(childPath(at, 'name')))
    else errors.push(...messagesAsErrors(envVarNameMessages(name), childPath(at, 'name'), name))
    errors.push(...valueFromErrors(variable, childPath(at, 'valueFrom')))
  })
  return errors
}

/** `envFrom`: a valid prefix and exactly one of configMapRef and secretRef. */
function envFromErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  listAt(value).forEach((item, i) => {
    const source = objectAt(item)
    const at = indexPath(path, i)
    const prefix = stringAt(source['prefix'])
    if (prefix !== '') errors.push(...messagesAsErrors(envVarNameMessages(prefix), childPath(at, 'prefix'), prefix))
    const refs = ['configMapRef', 'secretRef'].filter((ref) => isSet(source[ref]))
    for (const ref of refs) {
      const name = stringAt(objectAt(source[ref])['name'])
      if (name === '') errors.push(fieldRequired(childPath(childPath(at, ref), 'name')))
      else errors.push(...messagesAsErrors(dns1123SubdomainErrors(name), childPath(childPath(at, ref), 'name'), name))
    }
    if (refs.length === 0) errors.push(fieldInvalid(path, '', 'must specify one of: `configMapRef` or `secretRef`'))
    else if (refs.length > 1) errors.push(fieldInvalid(path, '', 'may not have more than one field specified at a time'))
  })
  return errors
}

/** The checks of one container that do not depend on its siblings. */
function containerErrors(container: JsonObject, path: string, volumes: ReadonlySet<string>, init: boolean): FieldError[] {
  const errors: FieldError[] = []
  if (stringAt(container['image']) === '') errors.push(fieldRequired(childPath(path, 'image')))
  const sidecar = init && container['restartPolicy'] === 'Always'
  if (init && !sidecar) {
    for (const field of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (isSet(container[field])) errors.push(fieldInvalid(childPath(path, field), container[field] ?? null, 'must not be set for init containers'))
    }
  }
  if (init && isSet(container['restartPolicy']) && !sidecar) errors.push(fieldNotSupported(childPath(path, 'restartPolicy'), container['restartPolicy'], ['Always']))
  if (!init && isSet(container['restartPolicy'])) errors.push(fieldForbidden(childPath(path, 'restartPolicy'), 'may not be set for non-init containers'))
  errors.push(...lifecycleErrors(container['lifecycle'], childPath(path, 'lifecycle')))
  errors.push(...probeErrors(container['livenessProbe'], childPath(path, 'livenessProbe'), 'liveness'))
  errors.push(...probeErrors(container['readinessProbe'], childPath(path, 'readinessProbe'), 'readiness'))
  errors.push(...probeErrors(container['startupProbe'], childPath(path, 'startupProbe'), 'startup'))
  const policy = container['terminationMessagePolicy']
  const policyPath = childPath(path, 'terminationMessagePolicy')
  const policyRule = "must be 'File' or 'FallbackToLogsOnError'"
  if (!isSet(policy) || policy === '') errors.push(fieldRequired(policyPath, policyRule))
  else if (policy !== 'File' && policy !== 'FallbackToLogsOnError') errors.push(fieldInvalid(policyPath, policy, policyRule))
  errors.push(...portErrors(container['ports'], childPath(path, 'ports')))
  errors.push(...envErrors(container['env'], childPath(path, 'env')))
  errors.push(...envFromErrors(container['envFrom'], childPath(path, 'envFrom')))
  errors.push(...volumeMountErrors(container['volumeMounts'], volumes, childPath(path, 'volumeMounts')))
  errors.push(...enumErrors(container['imagePullPolicy'], childPath(path, 'imagePullPolicy'), PULL_POLICIES))
  errors.push(...resourceRequirementsErrors(container['resources'], childPath(path, 'resources')))
  return errors
}

/**
 * Host ports (with their IP and protocol) may be claimed once per pod (`AccumulateUniqueHostPorts`).
 * `containers` pairs each container with its index in the list at `path`.
 */
function hostPortErrors(containers: ReadonlyArray<readonly [number, JsonObject]>, path: string): FieldError[] {
  const errors: FieldError[] = []
  const claimed = new Set<string>()
  for (const [i, container] of containers) {
    objectsAt(container['ports']).forEach((port, j) => {
      if (!isInteger(port['hostPort']) || port['hostPort'] === 0) return
      const claim = `${stringAt(port['hostIP'])}/${stringAt(port['protocol'])}/${port['hostPort']}`
      if (claimed.has(claim)) errors.push(fieldDuplicate(childPath(indexPath(childPath(indexPath(path, i), 'ports'), j), 'hostPort'), claim))
      claimed.add(claim)
    })
  }
  return errors
}

export interface ContainerListOptions {
  /** Names taken by the other list (init containers may not reuse app container names). */
  readonly takenNames: ReadonlySet<string>
  readonly volumes: ReadonlySet<string>
  readonly init: boolean
}

/**
 * A list of containers under `path` (`spec.containers` or `spec.initContainers`): app
 * containers are required; names are DNS labels unique across both lists. Init containers run
 * one at a time, so their host ports are checked one container at a time.
 */
export function containerListErrors(value: JsonValue | undefined, path: string, options: ContainerListOptions): FieldError[] {
  const list = listAt(value)
  if (!options.init && list.length === 0) return [fieldRequired(path)]
  const errors: FieldError[] = []
  const names = new Set<string>(options.takenNames)
  list.forEach((item, i) => {
    const at = indexPath(path, i)
    if (!isJsonObject(item)) return void errors.push(fieldInvalid(at, item, 'must be an object'))
    const name = stringAt(item['name'])
    if (name === '') errors.push(fieldRequired(childPath(at, 'name')))
    else errors.push(...messagesAsErrors(dns1123LabelErrors(name), childPath(at, 'name'), name))
    if (names.has(name)) errors.push(fieldDuplicate(childPath(at, 'name'), name))
    if (name !== '') names.add(name)
    errors.push(...containerErrors(item, at, options.volumes, options.init))
  })
  const containers = list.flatMap((item, i) => (isJsonObject(item) ? [[i, item] as const] : []))
  if (options.init) for (const entry of containers) errors.push(...hostPortErrors([entry], path))
  else errors.push(...hostPortErrors(containers, path))
  return errors
}

/** The container names of a list (for cross-list uniqueness checks). */
export function containerNames(value: JsonValue | undefined): Set<string> {
  return new Set(objectsAt(value).map((container) => stringAt(container['name'])).filter((name) => name !== ''))
}
