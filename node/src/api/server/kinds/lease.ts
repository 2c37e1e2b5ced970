/**
 * Leases (coordination.k8s.io/v1), the heartbeats of nodes and leader elections: a positive
 * duration, a non-negative transition count, and timestamps that parse (`ValidateLeaseSpec`).
 */
import type { JsonObject } from '../../machinery/canonical.ts'
import { fieldInvalid, type FieldError } from '../../machinery/field-errors.ts'
import { nonNegativeErrors, positiveErrors } from './field-checks.ts'
import { isSet, objectAt } from './json-access.ts'

/** RFC 3339 with optional fractional seconds (MicroTime), as Go's decoder accepts it. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/

/** Problems of a Lease. */
export function leaseErrors(lease: JsonObject): FieldError[] {
  const spec = objectAt(lease['spec'])
  const errors = [
    ...positiveErrors(spec['leaseDurationSeconds'], 'spec.leaseDurationSeconds', 'must be greater than 0', 32),
    ...nonNegativeErrors(spec['leaseTransitions'], 'spec.leaseTransitions', 32),
  ]
  for (const field of ['acquireTime', 'renewTime']) {
    const value = spec[field]
    if (isSet(value) && (typeof value !== 'string' || !RFC3339.test(value) || Number.isNaN(Date.parse(value)))) {
      errors.push(fieldInvalid(`spec.${field}`, value, 'must be an RFC 3339 timestamp'))
    }
  }
  return errors
}
