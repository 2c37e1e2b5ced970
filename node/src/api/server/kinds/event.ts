/**
 * Events, in both API groups. core/v1 Events (what kubectl describe lists) name the object they
 * are about in `involvedObject`; events.k8s.io/v1 Events call it `regarding` and must carry the
 * newer reporting fields (`ValidateEventCreate`).
 *
 * Kubernetes does not require `involvedObject` or check `type` on core/v1 Events, for old
 * clients' sake. Flotilla does, because every Event it serves is shown by `describe` next to an
 * object, and an Event about nothing, or of a type other than Normal or Warning, is shown to no one.
 */
import { isJsonObject, type JsonObject } from '../../machinery/canonical.ts'
import { fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { isSet, objectAt, stringAt } from './json-access.ts'

const EVENT_TYPES: readonly string[] = ['Normal', 'Warning']
const REPORTING_INSTANCE_LENGTH_MAX = 128
const ACTION_LENGTH_MAX = 128
const REASON_LENGTH_MAX = 128
const NOTE_LENGTH_MAX = 1024

/** True for an events.k8s.io Event (by apiVersion, or by its field names when that is absent). */
export function isEventsGroupEvent(event: JsonObject): boolean {
  const apiVersion = stringAt(event['apiVersion'])
  if (apiVersion !== '') return apiVersion.startsWith('events.k8s.io/')
  return !isSet(event['involvedObject']) && (isSet(event['regarding']) || isSet(event['note']))
}

function lengthErrors(event: JsonObject, field: string, max: number): FieldError[] {
  return stringAt(event[field]).length > max ? [fieldInvalid(field, '', `can have at most ${max} characters`)] : []
}

/** The reporting fields a new-style Event (one with `eventTime`) must carry. */
function reportingErrors(event: JsonObject, controllerField: string, messageField: string): FieldError[] {
  const errors: FieldError[] = []
  for (const field of [controllerField, 'reportingInstance', 'action', 'reason']) {
    if (stringAt(event[field]) === '') errors.push(fieldRequired(field))
  }
  return [
    ...errors,
    ...lengthErrors(event, 'reportingInstance', REPORTING_INSTANCE_LENGTH_MAX),
    ...lengthErrors(event, 'action', ACTION_LENGTH_MAX),
    ...lengthErrors(event, 'reason', REASON_LENGTH_MAX),
    ...lengthErrors(event, messageField, NOTE_LENGTH_MAX),
  ]
}

/** A core/v1 Event: about an object in its own namespace, of a known type. */
function coreEventErrors(event: JsonObject): FieldError[] {
  const involved = event['involvedObject']
  const errors: FieldError[] = []
  if (!isJsonObject(involved)) errors.push(fieldRequired('involvedObject'))
  else {
    if (stringAt(involved['kind']) === '') errors.push(fieldRequired('involvedObject.kind'))
    if (stringAt(involved['name']) === '') errors.push(fieldRequired('involvedObject.name'))
  }
  const namespace = stringAt(objectAt(event['metadata'])['namespace'])
  const involvedNamespace = stringAt(objectAt(involved)['namespace'])
  // Events about cluster-scoped objects (Nodes) live in "default" (new-style ones also in kube-system).
  // An empty event namespace means the request path supplies it; the API handler checks that.
  const clusterScopedHome = namespace === 'default' || (namespace === 'kube-system' && isSet(event['eventTime']))
  const consistent = namespace === '' || (involvedNamespace === '' ? clusterScopedHome : namespace === involvedNamespace)
  if (isJsonObject(involved) && !consistent) errors.push(fieldInvalid('involvedObject.namespace', involvedNamespace, 'does not match event.namespace'))
  if (isSet(event['type'])) errors.push(...(EVENT_TYPES.includes(stringAt(event['type'])) ? [] : [fieldNotSupported('type', event['type'], EVENT_TYPES)]))
  if (isSet(event['eventTime'])) errors.push(...reportingErrors(event, 'reportingComponent', 'message'))
  return errors
}

/** An events.k8s.io/v1 Event: eventTime, the reporting fields and a Normal or Warning type. */
function groupEventErrors(event: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  if (!isSet(event['eventTime'])) errors.push(fieldRequired('eventTime'))
  const type = stringAt(event['type'])
  if (!EVENT_TYPES.includes(type)) errors.push(fieldInvalid('type', '', `has invalid value: ${type}`))
  if (isSet(event['deprecatedFirstTimestamp']) || isSet(event['firstTimestamp'])) errors.push(fieldInvalid('deprecatedFirstTimestamp', '', 'needs to be unset'))
  return [...errors, ...reportingErrors(event, 'reportingController', 'note')]
}

/** Problems of an Event of either group. */
export function eventErrors(event: JsonObject): FieldError[] {
  return isEventsGroupEvent(event) ? groupEventErrors(event) : coreEventErrors(event)
}
