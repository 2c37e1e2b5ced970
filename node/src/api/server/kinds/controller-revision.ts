/**
 * ControllerRevisions (apps/v1), the history StatefulSets and DaemonSets roll back to: data is
 * mandatory and never changes, the revision number is not negative.
 */
import type { JsonObject } from '../../machinery/canonical.ts'
import { fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { immutableErrors, nonNegativeErrors } from './field-checks.ts'
import { isSet } from './json-access.ts'

/** Problems of a ControllerRevision. */
export function controllerRevisionErrors(revision: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errors: FieldError[] = []
  if (!isSet(revision['data'])) errors.push(fieldRequired('data', 'data is mandatory'))
  errors.push(...nonNegativeErrors(revision['revision'], 'revision'))
  if (old !== undefined) errors.push(...immutableErrors(revision['data'], old['data'], 'data'))
  return errors
}
