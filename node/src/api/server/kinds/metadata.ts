/**
 * Object metadata rules every kind shares (`ValidateObjectMeta`): label and annotation keys,
 * the 256 KiB annotation budget, owner references and finalizers — plus the kinds whose names
 * follow a stricter rule than the DNS subdomain every object name already passes.
 *
 * The API handler checks the name as a DNS subdomain and the labels on create; these rules run on
 * every write (create, update, patch), so a patch cannot smuggle in what a create would refuse.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldInvalid, fieldTooLong, type FieldError } from '../../machinery/field-errors.ts'
import { dns1035LabelErrors, dns1123LabelErrors, qualifiedNameErrors } from '../../machinery/names.ts'
import { messagesAsErrors } from './field-checks.ts'
import { childPath, indexPath, isSet, listAt, objectAt, sortedKeys, stringAt } from './json-access.ts'
import { labelMapErrors } from './labels.ts'

/** Annotations may hold at most this many bytes of keys plus values, in total. */
export const ANNOTATIONS_BYTES_MAX = 256 * 1024

/** Finalizers without a domain prefix that Kubernetes itself understands. */
const STANDARD_FINALIZERS: readonly string[] = ['kubernetes', 'orphan', 'foregroundDeletion']

/** Annotation keys are qualified names compared case-insensitively, within the size budget. */
export function annotationErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isSet(value)) return []
  if (!isJsonObject(value)) return [fieldInvalid(path, value, 'must be a map of strings')]
  const errors: FieldError[] = []
  let totalBytes = 0
  for (const key of sortedKeys(value)) {
    errors.push(...messagesAsErrors(qualifiedNameErrors(key.toLowerCase()), path, key))
    const annotation = value[key]
    if (typeof annotation !== 'string') errors.push(fieldInvalid(path, annotation ?? null, 'must be a string'))
    totalBytes += Buffer.byteLength(key) + Buffer.byteLength(stringAt(annotation))
  }
  if (totalBytes > ANNOTATIONS_BYTES_MAX) errors.push(fieldTooLong(path, ANNOTATIONS_BYTES_MAX))
  return errors
}

/**
 * Owner references need apiVersion, kind, name and uid, and at most one may be the controller.
 * Kubernetes reports these on `metadata.ownerReferences` without an index, and so do we.
 */
export function ownerReferenceErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  let controller: string | undefined
  for (const reference of listAt(value)) {
    const owner = objectAt(reference)
    const apiVersion = stringAt(owner['apiVersion'])
    // The version is what follows the last '/', or the whole string for core ("v1").
    if (apiVersion.split('/').pop() === '') errors.push(fieldInvalid(childPath(path, 'apiVersion'), apiVersion, 'version must not be empty'))
    for (const field of ['kind', 'name', 'uid']) {
      if (stringAt(owner[field]) === '') errors.push(fieldInvalid(childPath(path, field), stringAt(owner[field]), `${field} must not be empty`))
    }
    if (apiVersion === 'v1' && owner['kind'] === 'Event') errors.push(fieldInvalid(path, owner, '/v1, Kind=Event is disallowed from being an owner'))
    if (owner['controller'] === true) {
      const current = `${stringAt(owner['kind'])}/${stringAt(owner['name'])}`
      if (controller === undefined) controller = current
      else errors.push(fieldInvalid(path, value ?? null, `Only one reference can have Controller set to true. Found "true" in references for ${controller} and ${current}`))
    }
  }
  return errors
}

/**
 * Finalizers are qualified names; one without a domain prefix must be a standard one; `orphan`
 * and `foregroundDeletion` exclude each other.
 */
export function finalizerErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  const finalizers = listAt(value)
  finalizers.forEach((finalizer, i) => {
    const name = stringAt(finalizer)
    errors.push(...messagesAsErrors(qualifiedNameErrors(name), path, name))
    if (!name.includes('/') && !STANDARD_FINALIZERS.includes(name)) {
      errors.push(fieldInvalid(indexPath(path, i), name, 'name is neither a standard finalizer name nor is it fully qualified'))
    }
  })
  if (finalizers.includes('orphan') && finalizers.includes('foregroundDeletion')) {
    errors.push(fieldInvalid(path, finalizers, 'finalizer orphan and foregroundDeletion cannot be both set'))
  }
  return errors
}

/** Kinds whose names must satisfy more than the DNS subdomain rule, and why. */
function nameErrors(kind: string, name: string): FieldError[] {
  const path = 'metadata.name'
  switch (kind) {
    // Namespaces become DNS labels in service names (`svc.<namespace>.svc.cluster.local`).
    case 'Namespace':
      return messagesAsErrors(dns1123LabelErrors(name), path, name)
    // Service names become DNS labels and environment variable prefixes in every pod.
    case 'Service':
      return messagesAsErrors(dns1035LabelErrors(name), path, name)
    // The CronJob controller appends an 11-character suffix (`-<minutes>`) to make Job names.
    case 'CronJob':
      return Buffer.byteLength(name) > 52 ? [fieldInvalid(path, name, 'must be no more than 52 characters')] : []
    default:
      return []
  }
}

/** Every metadata problem of an object of `kind`. */
export function objectMetaErrors(kind: string, object: JsonObject): FieldError[] {
  const metadata = objectAt(object['metadata'])
  const name = stringAt(metadata['name'])
  return [
    ...(name === '' ? [] : nameErrors(kind, name)),
    ...labelMapErrors(metadata['labels'], 'metadata.labels'),
    ...annotationErrors(metadata['annotations'], 'metadata.annotations'),
    ...ownerReferenceErrors(metadata['ownerReferences'], 'metadata.ownerReferences'),
    ...finalizerErrors(metadata['finalizers'], 'metadata.finalizers'),
  ]
}
