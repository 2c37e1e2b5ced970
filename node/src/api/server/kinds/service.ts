/**
 * Services (core/v1): defaults (`SetDefaults_Service`, and the allocated fields an update keeps)
 * and validation (`ValidateService`, `validateServicePort`, `ValidateServiceUpdate`).
 */
import type { JsonObject } from '../../machinery/canonical.ts'
import { fieldDuplicate, fieldForbidden, fieldInvalid, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../../machinery/names.ts'
import { PORT_PROTOCOLS } from './containers.ts'
import { enumErrors, immutableErrors, messagesAsErrors } from './field-checks.ts'
import { ipMessages, portNumberErrors, portNumberOrNameErrors } from './formats.ts'
import { childPath, ensureObject, indexPath, isInteger, isSet, listAt, objectAt, objectsAt, setDefault, setDefaultUnlessNonZero, stringAt } from './json-access.ts'
import { labelMapErrors } from './labels.ts'

const SERVICE_TYPES: readonly string[] = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort']
const SESSION_AFFINITIES: readonly string[] = ['ClientIP', 'None']
const TRAFFIC_POLICIES: readonly string[] = ['Cluster', 'Local']
/** The node port range of a default kube-apiserver (`--service-node-port-range`). */
export const NODE_PORT_MIN = 30000
export const NODE_PORT_MAX = 32767
/** ClientIP affinity sticks for three hours unless configured. */
const CLIENT_IP_TIMEOUT_SECONDS_DEFAULT = 10800
const CLIENT_IP_TIMEOUT_SECONDS_MAX = 86400

function exposesNodePorts(type: unknown): boolean {
  return type === 'NodePort' || type === 'LoadBalancer'
}

/**
 * Fields the cluster allocated (cluster IPs, node ports) that a client may leave out of an
 * update — `kubectl replace -f` with the original manifest does — are carried over from the
 * stored object, as the API server's update strategy does. Mutates `spec`.
 */
function keepAllocatedFields(spec: JsonObject, oldSpec: JsonObject): void {
  if (spec['type'] === 'ExternalName') return
  for (const field of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy']) setDefaultUnlessNonZero(spec, field, oldSpec[field] ?? null)
  if (!exposesNodePorts(spec['type'])) return
  const oldPorts = objectsAt(oldSpec['ports'])
  for (const port of objectsAt(spec['ports'])) {
    const match = oldPorts.find((old) => old['port'] === port['port'] && stringAt(old['protocol']) === stringAt(port['protocol']))
    if (match !== undefined && isSet(match['nodePort'])) setDefaultUnlessNonZero(port, 'nodePort', match['nodePort'])
  }
  if (spec['externalTrafficPolicy'] === 'Local') setDefaultUnlessNonZero(spec, 'healthCheckNodePort', oldSpec['healthCheckNodePort'] ?? null)
}

/** Fills a Service's defaults in place. */
export function defaultService(service: JsonObject, old: JsonObject | undefined): void {
  const spec = ensureObject(service, 'spec')
  setDefaultUnlessNonZero(spec, 'type', 'ClusterIP')
  setDefaultUnlessNonZero(spec, 'sessionAffinity', 'None')
  if (spec['sessionAffinity'] === 'ClientIP') {
    setDefault(ensureObject(ensureObject(spec, 'sessionAffinityConfig'), 'clientIP'), 'timeoutSeconds', CLIENT_IP_TIMEOUT_SECONDS_DEFAULT)
  }
  for (const port of objectsAt(spec['ports'])) {
    setDefaultUnlessNonZero(port, 'protocol', 'TCP')
    // A Service forwards to the same port on its pods unless told otherwise.
    setDefaultUnlessNonZero(port, 'targetPort', port['port'] ?? null)
  }
  if (exposesNodePorts(spec['type'])) setDefaultUnlessNonZero(spec, 'externalTrafficPolicy', 'Cluster')
  if (spec['type'] === 'LoadBalancer') setDefault(spec, 'allocateLoadBalancerNodePorts', true)
  if (spec['type'] !== 'ExternalName') setDefaultUnlessNonZero(spec, 'internalTrafficPolicy', 'Cluster')
  if (old !== undefined) keepAllocatedFields(spec, objectAt(old['spec']))
  // clusterIP and clusterIPs[0] are one field in two shapes (single- and dual-stack clients).
  const clusterIP = stringAt(spec['clusterIP'])
  if (clusterIP !== '' && listAt(spec['clusterIPs']).length === 0) spec['clusterIPs'] = [clusterIP]
  const [firstIP] = listAt(spec['clusterIPs'])
  if (clusterIP === '' && typeof firstIP === 'string' && firstIP !== '') spec['clusterIP'] = firstIP
}

function isHeadless(spec: JsonObject): boolean {
  return spec['clusterIP'] === 'None' || listAt(spec['clusterIPs'])[0] === 'None'
}

/** One port: named when there are several, a valid port, protocol and targetPort. */
function servicePortErrors(port: JsonObject, path: string, nameRequired: boolean, names: Set<string>): FieldError[] {
  const errors: FieldError[] = []
  const name = stringAt(port['name'])
  if (nameRequired && name === '') errors.push(fieldRequired(childPath(path, 'name')))
  else if (name !== '') {
    errors.push(...messagesAsErrors(dns1123LabelErrors(name), childPath(path, 'name'), name))
    if (names.has(name)) errors.push(fieldDuplicate(childPath(path, 'name'), name))
    names.add(name)
  }
  errors.push(...portNumberErrors(port['port'], childPath(path, 'port')))
  errors.push(...enumErrors(port['protocol'], childPath(path, 'protocol'), PORT_PROTOCOLS))
  errors.push(...portNumberOrNameErrors(port['targetPort'], childPath(path, 'targetPort')))
  return errors
}

/** Node ports: only on NodePort/LoadBalancer Services, in range, unique per protocol. */
function nodePortErrors(spec: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  const seen = new Set<string>()
  objectsAt(spec['ports']).forEach((port, i) => {
    const nodePort = port['nodePort']
    if (!isSet(nodePort) || nodePort === 0) return
    const path = childPath(indexPath('spec.ports', i), 'nodePort')
    if (spec['type'] === 'ClusterIP') return void errors.push(fieldForbidden(path, "may not be used when `type` is 'ClusterIP'"))
    if (!isInteger(nodePort) || nodePort < NODE_PORT_MIN || nodePort > NODE_PORT_MAX) {
      errors.push(fieldInvalid(path, nodePort, `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`))
    }
    const key = `${stringAt(port['protocol'])}/${String(nodePort)}`
    if (seen.has(key)) errors.push(fieldDuplicate(path, nodePort))
    seen.add(key)
  })
  return errors
}

/** Type-specific rules: ExternalName needs a DNS name and no cluster IP; None is only for ClusterIP. */
function typeErrors(spec: JsonObject): FieldError[] {
  const type = spec['type']
  if ((type === 'NodePort' || type === 'LoadBalancer') && spec['clusterIP'] === 'None') {
    return [fieldInvalid('spec.clusterIP', 'None', `may not be set to 'None' for ${type} services`)]
  }
  if (type !== 'ExternalName') return []
  const errors: FieldError[] = []
  if (listAt(spec['clusterIPs']).length > 0 || stringAt(spec['clusterIP']) !== '') errors.push(fieldForbidden('spec.clusterIPs', 'may not be set for ExternalName services'))
  // The value is a CNAME target; a trailing dot marks it fully qualified.
  const externalName = stringAt(spec['externalName']).replace(/\.$/, '')
  if (externalName === '') errors.push(fieldRequired('spec.externalName'))
  else errors.push(...messagesAsErrors(dns1123SubdomainErrors(externalName), 'spec.externalName', externalName))
  return errors
}

function sessionAffinityErrors(spec: JsonObject): FieldError[] {
  const errors = enumErrors(spec['sessionAffinity'], 'spec.sessionAffinity', SESSION_AFFINITIES)
  if (spec['sessionAffinity'] === 'None' && isSet(spec['sessionAffinityConfig'])) {
    errors.push(fieldForbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'))
  }
  if (spec['sessionAffinity'] === 'ClientIP') {
    const timeout = objectAt(objectAt(spec['sessionAffinityConfig'])['clientIP'])['timeoutSeconds']
    if (!isInteger(timeout) || timeout <= 0 || timeout > CLIENT_IP_TIMEOUT_SECONDS_MAX) {
      errors.push(fieldInvalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', timeout ?? 0, `must be greater than 0 and less than ${CLIENT_IP_TIMEOUT_SECONDS_MAX}`))
    }
  }
  return errors
}

function clusterIPErrors(spec: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  listAt(spec['clusterIPs']).forEach((ip, i) => {
    const text = stringAt(ip)
    if (text !== 'None' && text !== '') errors.push(...messagesAsErrors(ipMessages(text), indexPath('spec.clusterIPs', i), text))
  })
  listAt(spec['externalIPs']).forEach((ip, i) => errors.push(...messagesAsErrors(ipMessages(stringAt(ip)), indexPath('spec.externalIPs', i), stringAt(ip))))
  return errors
}

/** Problems of a (defaulted) Service; on update its cluster IP may not change. */
export function serviceErrors(service: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(service['spec'])
  const ports = listAt(spec['ports'])
  const errors: FieldError[] = []
  if (ports.length === 0 && !isHeadless(spec) && spec['type'] !== 'ExternalName') errors.push(fieldRequired('spec.ports'))
  errors.push(...typeErrors(spec))
  const names = new Set<string>()
  ports.forEach((port, i) => errors.push(...servicePortErrors(objectAt(port), indexPath('spec.ports', i), ports.length > 1, names)))
  errors.push(...labelMapErrors(spec['selector'], 'spec.selector'))
  errors.push(...sessionAffinityErrors(spec))
  errors.push(...clusterIPErrors(spec))
  errors.push(...enumErrors(spec['type'], 'spec.type', SERVICE_TYPES))
  errors.push(...nodePortErrors(spec))
  const seen = new Set<string>()
  ports.forEach((port, i) => {
    const key = `${stringAt(objectAt(port)['protocol'])}/${String(objectAt(port)['port'])}`
    if (seen.has(key)) errors.push(fieldDuplicate(indexPath('spec.ports', i), { port: objectAt(port)['port'] ?? null, protocol: objectAt(port)['protocol'] ?? null }))
    seen.add(key)
  })
  if (exposesNodePorts(spec['type'])) errors.push(...enumErrors(spec['externalTrafficPolicy'], 'spec.externalTrafficPolicy', TRAFFIC_POLICIES))
  if (isSet(spec['internalTrafficPolicy'])) errors.push(...enumErrors(spec['internalTrafficPolicy'], 'spec.internalTrafficPolicy', TRAFFIC_POLICIES))
  if (old !== undefined) {
    const oldSpec = objectAt(old['spec'])
    const oldIP = stringAt(oldSpec['clusterIP'])
    // A Service may turn into or out of ExternalName (which has no cluster IP); otherwise its IP stays.
    if (oldIP !== '' && spec['type'] !== 'ExternalName' && oldSpec['type'] !== 'ExternalName') errors.push(...immutableErrors(spec['clusterIP'], oldIP, 'spec.clusterIP'))
  }
  return errors
}

