/**
 * Nodes (core/v1): pod CIDRs in both of their API shapes, allocatable defaulting to capacity,
 * and validation of taints, CIDRs and resource quantities (`ValidateNode`, `ValidateNodeUpdate`).
 */
import { canonicalEqual, isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, type FieldError } from '../../machinery/field-errors.ts'
import { isCidr } from './formats.ts'
import { ensureObject, indexPath, keyPath, listAt, objectAt, setDefault, sortedKeys, stringAt } from './json-access.ts'
import { canonicalizeQuantities, quantityErrors } from './resource-lists.ts'
import { taintsErrors } from './scheduling.ts'

/** Fills a Node's defaults in place. */
export function defaultNode(node: JsonObject): void {
  const spec = ensureObject(node, 'spec')
  // podCIDR is the single-stack spelling of podCIDRs[0]; keep the two in step.
  const podCIDR = stringAt(spec['podCIDR'])
  if (podCIDR !== '' && listAt(spec['podCIDRs']).length === 0) spec['podCIDRs'] = [podCIDR]
  const [first] = listAt(spec['podCIDRs'])
  if (podCIDR === '' && typeof first === 'string') spec['podCIDR'] = first
  const status = objectAt(node['status'])
  if (isJsonObject(node['status'])) {
    canonicalizeQuantities(status['capacity'])
    canonicalizeQuantities(status['allocatable'])
    // Without reservations everything the node has can be allocated to pods.
    if (isJsonObject(status['capacity'])) setDefault(status, 'allocatable', { ...status['capacity'] })
  }
}

/** Pod CIDRs: valid, and at most one per IP family. */
function podCidrErrors(value: JsonValue | undefined): FieldError[] {
  const cidrs = listAt(value).map((cidr) => stringAt(cidr))
  const errors: FieldError[] = []
  cidrs.forEach((cidr, i) => {
    if (!isCidr(cidr)) errors.push(fieldInvalid(indexPath('spec.podCIDRs', i), cidrs, 'must be valid CIDR'))
  })
  const families = new Set(cidrs.map((cidr) => (cidr.includes(':') ? 6 : 4)))
  if (cidrs.length > 2 || (cidrs.length === 2 && families.size !== 2)) errors.push(fieldInvalid('spec.podCIDRs', cidrs, 'may specify no more than one CIDR for each IP family'))
  return errors
}

/** Problems of a (defaulted) Node; on update its pod CIDRs and provider ID are set once. */
export function nodeErrors(node: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(node['spec'])
  const errors = [...taintsErrors(spec['taints'], 'spec.taints'), ...podCidrErrors(spec['podCIDRs'])]
  const status = objectAt(node['status'])
  for (const list of ['capacity', 'allocatable']) {
    const resources = objectAt(status[list])
    for (const name of sortedKeys(resources)) errors.push(...quantityErrors(resources[name], keyPath(`status.${list}`, name)))
  }
  if (old !== undefined) {
    const oldSpec = objectAt(old['spec'])
    if (listAt(oldSpec['podCIDRs']).length > 0 && !canonicalEqual(spec['podCIDRs'] ?? null, oldSpec['podCIDRs'] ?? null)) {
      errors.push(fieldForbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'))
    }
    if (stringAt(oldSpec['providerID']) !== '' && spec['providerID'] !== oldSpec['providerID']) {
      errors.push(fieldForbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'))
    }
  }
  return errors
}
