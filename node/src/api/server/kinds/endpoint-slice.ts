/**
 * EndpointSlices (discovery.k8s.io/v1): the scalable successor of Endpoints that service proxies
 * and cluster DNS read. Defaults and rules follow `SetDefaults_EndpointPort` and
 * `ValidateEndpointSlice{Create,Update}` (pkg/apis/discovery):
 *
 * - `addressType` is required, one of IPv4, IPv6 and FQDN, and immutable;
 * - at most 1000 endpoints, each with 1 to 100 addresses valid for the address type, optional
 *   boolean conditions (ready, serving, terminating), a DNS-label hostname, a DNS-subdomain node
 *   name, at most 16 deprecated topology labels (not the zone key: `zone` replaces it) and at
 *   most 8 zone hints;
 * - at most 20000 ports, each with a unique (possibly empty) DNS-label name, a protocol (TCP by
 *   default) and a qualified-name `appProtocol`.
 *
 * Deliberate deviations: a port number, when set, must be 1–65535 (Kubernetes only needs it to be
 * an int32; no other number is a port), and loopback or link-local addresses are accepted (as in
 * Endpoints: Flotilla's test clusters run every pod on 127.0.0.1).
 *
 * The slices a controller manages carry the labels `kubernetes.io/service-name` and
 * `endpointslice.kubernetes.io/managed-by` (../../../controllers/endpoint-slices.ts); like
 * Kubernetes, the API does not check them beyond the label rules every object has.
 */
import { isIP } from 'node:net'
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldDuplicate, fieldInvalid, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123LabelErrors, dns1123SubdomainErrors, labelValueErrors, qualifiedNameErrors } from '../../machinery/names.ts'
import { PORT_PROTOCOLS } from './containers.ts'
import { enumErrors, immutableErrors, messagesAsErrors } from './field-checks.ts'
import { portNumberErrors } from './formats.ts'
import { labelMapErrors } from './labels.ts'
import { childPath, indexPath, isSet, keyPath, listAt, objectAt, objectsAt, setDefault, stringAt } from './json-access.ts'

/** The address types an EndpointSlice may have. */
export const ENDPOINT_SLICE_ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'] as const
export type EndpointSliceAddressType = (typeof ENDPOINT_SLICE_ADDRESS_TYPES)[number]

/** The limits of `pkg/apis/discovery/validation` (v1). */
export const ENDPOINTS_PER_SLICE_MAX = 1000
export const ADDRESSES_PER_ENDPOINT_MAX = 100
const PORTS_PER_SLICE_MAX = 20_000
const TOPOLOGY_LABELS_MAX = 16
const ZONE_HINTS_MAX = 8
/** The node label whose value became the `zone` field; it may not appear in deprecatedTopology. */
const ZONE_LABEL = 'topology.kubernetes.io/zone'

/** Fills EndpointSlice defaults in place: every port has a name (maybe empty) and a protocol. */
export function defaultEndpointSlice(slice: JsonObject): void {
  for (const port of objectsAt(slice['ports'])) {
    setDefault(port, 'name', '')
    setDefault(port, 'protocol', 'TCP')
  }
}

/** `field.TooMany`: a list longer than its limit. */
function tooMany(path: string, actual: number, max: number): FieldError {
  return { type: 'FieldValueTooMany', field: path, badValue: actual, detail: `must have at most ${max} items` }
}

/**
 * True for what Go's `net.ParseIP(value)` reads as an IPv6 address and not as IPv4: no zone
 * (`fe80::1%eth0` does not parse in Go) and not IPv4-mapped (`::ffff:10.0.0.1`, which `To4`
 * turns back into IPv4).
 */
function isPlainIpv6(value: string): boolean {
  if (isIP(value) !== 6 || value.includes('%')) return false
  // The URL parser writes IPv6 hosts in canonical form, so both spellings of a mapped address
  // (dotted and hexadecimal) come out as `[::ffff:x:y]`.
  const canonical = new URL(`http://[${value}]`).hostname
  return !/^\[::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}\]$/.test(canonical)
}

/** `IsFullyQualifiedDomainName`: a DNS subdomain of at least two labels, one trailing dot allowed. */
function fqdnErrors(value: string, path: string): FieldError[] {
  if (value === '') return [fieldRequired(path)]
  const name = value.endsWith('.') ? value.slice(0, -1) : value
  const subdomain = dns1123SubdomainErrors(name)
  if (subdomain.length > 0) return messagesAsErrors(subdomain, path, name)
  const labels = name.split('.')
  if (labels.length < 2) return [fieldInvalid(path, name, 'should be a domain with at least two segments separated by dots')]
  return labels.flatMap((label) => messagesAsErrors(dns1123LabelErrors(label), path, label))
}

/** One address checked against the slice's address type (unknown types are not checked). */
function addressErrors(address: JsonValue, addressType: string, path: string): FieldError[] {
  if (typeof address !== 'string') return [fieldInvalid(path, address, 'must be a string')]
  switch (addressType) {
    case 'IPv4':
      return isIP(address) === 4 ? [] : [fieldInvalid(path, address, 'must be a valid IPv4 address')]
    case 'IPv6':
      return isPlainIpv6(address) ? [] : [fieldInvalid(path, address, 'must be a valid IPv6 address')]
    case 'FQDN':
      return fqdnErrors(address, path)
    default:
      return []
  }
}

function conditionsErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isSet(value)) return []
  if (!isJsonObject(value)) return [fieldInvalid(path, value, 'must be an object')]
  const errors: FieldError[] = []
  for (const condition of ['ready', 'serving', 'terminating']) {
    const flag = value[condition]
    if (isSet(flag) && typeof flag !== 'boolean') errors.push(fieldInvalid(childPath(path, condition), flag, 'must be a boolean'))
  }
  return errors
}

function topologyErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isJsonObject(value)) return labelMapErrors(value, path)
  const errors: FieldError[] = []
  const count = Object.keys(value).length
  if (count > TOPOLOGY_LABELS_MAX) errors.push(tooMany(path, count, TOPOLOGY_LABELS_MAX))
  errors.push(...labelMapErrors(value, path))
  if (Object.hasOwn(value, ZONE_LABEL)) errors.push({ type: 'InternalError', field: keyPath(path, ZONE_LABEL), detail: 'reserved key, use zone instead' })
  return errors
}

/** `validateHints`: at most 8 distinct zones, each a label value. */
function hintsErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isSet(value)) return []
  const forZonesPath = childPath(path, 'forZones')
  const forZones = listAt(objectAt(value)['forZones'])
  if (forZones.length > ZONE_HINTS_MAX) return [tooMany(forZonesPath, forZones.length, ZONE_HINTS_MAX)]
  const errors: FieldError[] = []
  const seen = new Set<string>()
  forZones.forEach((hint, i) => {
    const at = childPath(indexPath(forZonesPath, i), 'name')
    const name = stringAt(objectAt(hint)['name'])
    if (seen.has(name)) errors.push(fieldDuplicate(at, name))
    seen.add(name)
    errors.push(...messagesAsErrors(labelValueErrors(name), at, name))
  })
  return errors
}

function endpointErrors(endpoint: JsonObject, addressType: string, path: string): FieldError[] {
  const errors: FieldError[] = []
  const addressesPath = childPath(path, 'addresses')
  const addresses = listAt(endpoint['addresses'])
  if (addresses.length === 0) errors.push(fieldRequired(addressesPath, 'must contain at least 1 address'))
  else if (addresses.length > ADDRESSES_PER_ENDPOINT_MAX) errors.push(tooMany(addressesPath, addresses.length, ADDRESSES_PER_ENDPOINT_MAX))
  addresses.forEach((address, i) => errors.push(...addressErrors(address, addressType, indexPath(addressesPath, i))))
  errors.push(...conditionsErrors(endpoint['conditions'], childPath(path, 'conditions')))
  if (isSet(endpoint['nodeName'])) {
    const nodeName = stringAt(endpoint['nodeName'])
    errors.push(...messagesAsErrors(dns1123SubdomainErrors(nodeName), childPath(path, 'nodeName'), nodeName))
  }
  errors.push(...topologyErrors(endpoint['deprecatedTopology'], childPath(path, 'deprecatedTopology')))
  if (isSet(endpoint['hostname'])) {
    const hostname = stringAt(endpoint['hostname'])
    errors.push(...messagesAsErrors(dns1123LabelErrors(hostname), childPath(path, 'hostname'), hostname))
  }
  errors.push(...hintsErrors(endpoint['hints'], childPath(path, 'hints')))
  return errors
}

function portsErrors(ports: readonly JsonValue[]): FieldError[] {
  if (ports.length > PORTS_PER_SLICE_MAX) return [tooMany('ports', ports.length, PORTS_PER_SLICE_MAX)]
  const errors: FieldError[] = []
  const names = new Set<string>()
  ports.forEach((item, i) => {
    const port = objectAt(item)
    const at = indexPath('ports', i)
    const name = stringAt(port['name'])
    if (name !== '') errors.push(...messagesAsErrors(dns1123LabelErrors(name), childPath(at, 'name'), name))
    if (names.has(name)) errors.push(fieldDuplicate(childPath(at, 'name'), name))
    names.add(name)
    errors.push(...enumErrors(port['protocol'], childPath(at, 'protocol'), PORT_PROTOCOLS))
    if (isSet(port['port'])) errors.push(...portNumberErrors(port['port'], childPath(at, 'port')))
    if (isSet(port['appProtocol'])) {
      const appProtocol = stringAt(port['appProtocol'])
      errors.push(...messagesAsErrors(qualifiedNameErrors(appProtocol), childPath(at, 'appProtocol'), appProtocol))
    }
  })
  return errors
}

/** Problems of a (defaulted) EndpointSlice; with `old`, the address type may not change. */
export function endpointSliceErrors(slice: JsonObject, old: JsonObject | undefined): FieldError[] {
  const addressType = slice['addressType']
  const errors = enumErrors(addressType, 'addressType', ENDPOINT_SLICE_ADDRESS_TYPES)
  const endpoints = listAt(slice['endpoints'])
  if (endpoints.length > ENDPOINTS_PER_SLICE_MAX) errors.push(tooMany('endpoints', endpoints.length, ENDPOINTS_PER_SLICE_MAX))
  else endpoints.forEach((endpoint, i) => errors.push(...endpointErrors(objectAt(endpoint), stringAt(addressType), indexPath('endpoints', i))))
  errors.push(...portsErrors(listAt(slice['ports'])))
  if (old !== undefined) errors.push(...immutableErrors(addressType, old['addressType'], 'addressType'))
  return errors
}
