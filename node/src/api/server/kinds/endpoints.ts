/**
 * Endpoints (core/v1): port protocols default to TCP; every subset has addresses with valid IPs,
 * and ports that are valid, named when there are several.
 *
 * Kubernetes also refuses loopback, link-local and unspecified endpoint IPs (`ValidateNonSpecialIP`).
 * Flotilla does not: its test clusters and single-machine demos run every pod on 127.0.0.1.
 */
import type { JsonObject } from '../../machinery/canonical.ts'
import { fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../../machinery/names.ts'
import { PORT_PROTOCOLS } from './containers.ts'
import { enumErrors, messagesAsErrors } from './field-checks.ts'
import { ipMessages, portNumberErrors } from './formats.ts'
import { childPath, indexPath, isSet, listAt, objectAt, objectsAt, setDefaultUnlessNonZero, stringAt } from './json-access.ts'

/** Fills Endpoints defaults in place: ports are TCP unless stated. */
export function defaultEndpoints(endpoints: JsonObject): void {
  for (const subset of objectsAt(endpoints['subsets'])) {
    for (const port of objectsAt(subset['ports'])) setDefaultUnlessNonZero(port, 'protocol', 'TCP')
  }
}

function addressErrors(address: JsonObject, path: string): FieldError[] {
  const ip = stringAt(address['ip'])
  const errors = messagesAsErrors(ipMessages(ip), childPath(path, 'ip'), ip)
  const hostname = stringAt(address['hostname'])
  if (hostname !== '') errors.push(...messagesAsErrors(dns1123LabelErrors(hostname), childPath(path, 'hostname'), hostname))
  if (isSet(address['nodeName'])) {
    const nodeName = stringAt(address['nodeName'])
    errors.push(...messagesAsErrors(dns1123SubdomainErrors(nodeName), childPath(path, 'nodeName'), nodeName))
  }
  return errors
}

function portErrors(port: JsonObject, path: string, nameRequired: boolean): FieldError[] {
  const errors: FieldError[] = []
  const name = stringAt(port['name'])
  if (nameRequired && name === '') errors.push(fieldRequired(childPath(path, 'name')))
  else if (name !== '') errors.push(...messagesAsErrors(dns1123LabelErrors(name), childPath(path, 'name'), name))
  errors.push(...portNumberErrors(port['port'], childPath(path, 'port')))
  errors.push(...enumErrors(port['protocol'], childPath(path, 'protocol'), PORT_PROTOCOLS))
  return errors
}

/** Problems of (defaulted) Endpoints. */
export function endpointsErrors(endpoints: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  listAt(endpoints['subsets']).forEach((item, i) => {
    const subset = objectAt(item)
    const at = indexPath('subsets', i)
    const ready = listAt(subset['addresses'])
    const notReady = listAt(subset['notReadyAddresses'])
    if (ready.length === 0 && notReady.length === 0) errors.push(fieldRequired(at, 'must specify `addresses` or `notReadyAddresses`'))
    ready.forEach((address, j) => errors.push(...addressErrors(objectAt(address), indexPath(childPath(at, 'addresses'), j))))
    notReady.forEach((address, j) => errors.push(...addressErrors(objectAt(address), indexPath(childPath(at, 'notReadyAddresses'), j))))
    const ports = listAt(subset['ports'])
    ports.forEach((port, j) => errors.push(...portErrors(objectAt(port), indexPath(childPath(at, 'ports'), j), ports.length > 1)))
  })
  return errors
}
