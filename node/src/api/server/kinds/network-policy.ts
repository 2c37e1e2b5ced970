/**
 * NetworkPolicies (networking.k8s.io/v1): which pods may talk to which. Defaults and rules follow
 * `SetDefaults_NetworkPolicy`, `SetDefaults_NetworkPolicyPort` and `ValidateNetworkPolicySpec`
 * (pkg/apis/networking):
 *
 * - `spec.podSelector` is always present (an empty selector selects every pod of the namespace);
 * - `spec.policyTypes` defaults to `[Ingress]`, plus `Egress` when the policy has egress rules,
 *   and may only hold Ingress and Egress (at most two);
 * - every port's protocol defaults to TCP and is one of TCP, UDP, SCTP; `port` is a number
 *   1–65535 or a named port (IANA_SVC_NAME); `endPort` needs a numeric `port` and is ≥ it;
 * - every peer names a podSelector and/or namespaceSelector, or an ipBlock alone; an ipBlock's
 *   `cidr` is a valid CIDR and each `except` a strict subset of it.
 *
 * Updates are validated like creates: no field of a NetworkPolicy is immutable.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { PORT_PROTOCOLS } from './containers.ts'
import { enumErrors } from './field-checks.ts'
import { isCidr, portNameMessages, portNumberMessages } from './formats.ts'
import { childPath, ensureObject, indexPath, isSet, listAt, objectAt, objectsAt, setDefault, stringAt } from './json-access.ts'
import { selectorErrors } from './labels.ts'

/** The policy types a NetworkPolicy may list. */
export const POLICY_TYPES: readonly string[] = ['Ingress', 'Egress']

const CIDR_MESSAGE = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'

/** Fills NetworkPolicy defaults in place (a private copy): podSelector, policyTypes, protocols. */
export function defaultNetworkPolicy(policy: JsonObject): void {
  const spec = ensureObject(policy, 'spec')
  setDefault(spec, 'podSelector', {})
  const rules = [...objectsAt(spec['ingress']), ...objectsAt(spec['egress'])]
  for (const rule of rules) for (const port of objectsAt(rule['ports'])) setDefault(port, 'protocol', 'TCP')
  if (listAt(spec['policyTypes']).length === 0) {
    // "Any policy that does not specify policyTypes implies at least Ingress" (the v1 API docs).
    spec['policyTypes'] = listAt(spec['egress']).length > 0 ? ['Ingress', 'Egress'] : ['Ingress']
  }
}

/** `ValidateNetworkPolicyPort`. */
function portErrors(port: JsonObject, path: string): FieldError[] {
  const errors = enumErrors(port['protocol'], childPath(path, 'protocol'), PORT_PROTOCOLS, false)
  const number = port['port']
  const endPort = port['endPort']
  const endPath = childPath(path, 'endPort')
  if (!isSet(number)) {
    if (isSet(endPort)) errors.push(fieldInvalid(endPath, endPort, 'may not be specified when `port` is not specified'))
    return errors
  }
  if (typeof number === 'number') {
    errors.push(...portNumberMessages(number).map((message) => fieldInvalid(childPath(path, 'port'), number, message)))
    if (isSet(endPort)) {
      if (typeof endPort !== 'number') return [...errors, fieldInvalid(endPath, endPort, 'must be an integer')]
      if (endPort < number) errors.push(fieldInvalid(endPath, number, 'must be greater than or equal to `port`'))
      errors.push(...portNumberMessages(endPort).map((message) => fieldInvalid(endPath, endPort, message)))
    }
    return errors
  }
  if (typeof number !== 'string') return [...errors, fieldInvalid(childPath(path, 'port'), number, 'must be a port number or name')]
  if (isSet(endPort)) errors.push(fieldInvalid(endPath, endPort, 'may not be specified when `port` is non-numeric'))
  errors.push(...portNameMessages(number).map((message) => fieldInvalid(childPath(path, 'port'), number, message)))
  return errors
}

/** An IPv4 or IPv6 CIDR as a bit string of its prefix, for the subset check. */
function prefixBits(cidr: string): { family: 4 | 6; bits: string } {
  const [address = '', lengthText = '0'] = cidr.split('/')
  const length = Number(lengthText)
  let bits = ''
  if (address.includes(':')) {
    const [head = '', tail = ''] = address.split('::')
    const headGroups = head === '' ? [] : head.split(':')
    const tailGroups = tail === '' ? [] : tail.split(':')
    const groups = address.includes('::') ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups] : headGroups
    bits = groups.map((group) => parseInt(group, 16).toString(2).padStart(16, '0')).join('')
    return { family: 6, bits: bits.slice(0, length) }
  }
  bits = address.split('.').map((part) => Number(part).toString(2).padStart(8, '0')).join('')
  return { family: 4, bits: bits.slice(0, length) }
}

/** True when `inner` is a strict subset of `outer` (same family, longer prefix, same leading bits). */
function isStrictSubnet(inner: string, outer: string): boolean {
  const a = prefixBits(inner)
  const b = prefixBits(outer)
  return a.family === b.family && a.bits.length > b.bits.length && a.bits.startsWith(b.bits)
}

/** `ValidateIPBlock`. */
function ipBlockErrors(block: JsonObject, path: string): FieldError[] {
  const cidrPath = childPath(path, 'cidr')
  const cidr = stringAt(block['cidr'])
  if (cidr === '') return [fieldRequired(cidrPath)]
  if (!isCidr(cidr)) return [fieldInvalid(cidrPath, cidr, CIDR_MESSAGE)]
  const errors: FieldError[] = []
  listAt(block['except']).forEach((value, i) => {
    const at = indexPath(childPath(path, 'except'), i)
    const except = typeof value === 'string' ? value : ''
    if (!isCidr(except)) errors.push(fieldInvalid(at, value, CIDR_MESSAGE))
    else if (!isStrictSubnet(except, cidr)) errors.push(fieldInvalid(at, except, 'must be a strict subset of `cidr`'))
  })
  return errors
}

/** `ValidateNetworkPolicyPeer`: at least one peer kind; an ipBlock stands alone. */
function peerErrors(peer: JsonValue, path: string): FieldError[] {
  if (!isJsonObject(peer)) return [fieldInvalid(path, peer, 'must be an object')]
  const errors: FieldError[] = []
  let kinds = 0
  for (const key of ['podSelector', 'namespaceSelector']) {
    if (!isSet(peer[key])) continue
    kinds++
    errors.push(...selectorErrors(peer[key], childPath(path, key)))
  }
  if (isSet(peer['ipBlock'])) {
    kinds++
    errors.push(...ipBlockErrors(objectAt(peer['ipBlock']), childPath(path, 'ipBlock')))
  }
  if (kinds === 0) errors.push(fieldRequired(path, 'must specify a peer'))
  else if (kinds > 1 && isSet(peer['ipBlock'])) errors.push(fieldForbidden(path, 'may not specify both ipBlock and another peer'))
  return errors
}

/** The rules of one direction (`ingress` with `from`, `egress` with `to`). */
function rulesErrors(rules: readonly JsonValue[], path: string, peersKey: 'from' | 'to'): FieldError[] {
  const errors: FieldError[] = []
  rules.forEach((value, i) => {
    const rule = objectAt(value)
    const at = indexPath(path, i)
    objectsAt(rule['ports']).forEach((port, j) => errors.push(...portErrors(port, indexPath(childPath(at, 'ports'), j))))
    listAt(rule[peersKey]).forEach((peer, j) => errors.push(...peerErrors(peer, indexPath(childPath(at, peersKey), j))))
  })
  return errors
}

/** Problems of a (defaulted) NetworkPolicy (`ValidateNetworkPolicy`); updates are checked alike. */
export function networkPolicyErrors(policy: JsonObject): FieldError[] {
  const spec = objectAt(policy['spec'])
  const errors = selectorErrors(spec['podSelector'], 'spec.podSelector')
  errors.push(...rulesErrors(listAt(spec['ingress']), 'spec.ingress', 'from'))
  errors.push(...rulesErrors(listAt(spec['egress']), 'spec.egress', 'to'))
  const types = listAt(spec['policyTypes'])
  if (types.length > POLICY_TYPES.length) return [...errors, fieldInvalid('spec.policyTypes', types, 'may not specify more than two policyTypes')]
  types.forEach((type, i) => {
    if (typeof type !== 'string' || !POLICY_TYPES.includes(type)) errors.push(fieldNotSupported(indexPath('spec.policyTypes', i), type, POLICY_TYPES))
  })
  return errors
}
