/**
 * StorageClasses (storage.k8s.io/v1): defaults (`SetDefaults_StorageClass`: reclaimPolicy Delete,
 * volumeBindingMode Immediate) and validation (`ValidateStorageClass`,
 * `ValidateStorageClassUpdate`: a qualified provisioner name, a known reclaim policy and binding
 * mode, bounded parameters, well-formed allowed topologies; provisioner, parameters, reclaim
 * policy and binding mode never change after creation).
 */
import { canonicalEqual, isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldDuplicate, fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, fieldTooLong, type FieldError } from '../../machinery/field-errors.ts'
import { labelValueErrors, qualifiedNameErrors } from '../../machinery/names.ts'
import { immutableErrors, messagesAsErrors } from './field-checks.ts'
import { childPath, indexPath, isSet, listAt, objectAt, objectsAt, setDefault, sortedKeys, stringAt } from './json-access.ts'
import { labelNameErrors } from './labels.ts'

/** The annotation that marks the class claims without a class get (DefaultStorageClass admission). */
export const IS_DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class'
/** The pre-GA spelling of the same annotation, which Kubernetes still honours. */
export const IS_DEFAULT_CLASS_BETA_ANNOTATION = 'storageclass.beta.kubernetes.io/is-default-class'

/** Reclaim policies a class may give the volumes it provisions (Recycle is for PVs only). */
const RECLAIM_POLICIES: readonly string[] = ['Delete', 'Retain']
const VOLUME_BINDING_MODES: readonly string[] = ['Immediate', 'WaitForFirstConsumer']
/** Kubernetes' bounds on provisioner parameters: entries, and bytes of keys plus values. */
const PARAMETERS_COUNT_MAX = 512
const PARAMETERS_BYTES_MAX = 256 * 1024

/** Fills a class's defaults in place: reclaimPolicy Delete, volumeBindingMode Immediate. */
export function defaultStorageClass(storageClass: JsonObject): void {
  setDefault(storageClass, 'reclaimPolicy', 'Delete')
  setDefault(storageClass, 'volumeBindingMode', 'Immediate')
}

/** Problems of a (defaulted) StorageClass; with `old`, the update rules too. */
export function storageClassErrors(storageClass: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errors = [
    ...provisionerErrors(storageClass['provisioner']),
    ...parameterErrors(storageClass['parameters']),
    ...reclaimPolicyErrors(storageClass['reclaimPolicy']),
    ...volumeBindingModeErrors(storageClass['volumeBindingMode']),
    ...allowedTopologyErrors(storageClass['allowedTopologies']),
  ]
  if (isSet(storageClass['allowVolumeExpansion']) && typeof storageClass['allowVolumeExpansion'] !== 'boolean') {
    errors.push(fieldInvalid('allowVolumeExpansion', storageClass['allowVolumeExpansion'], 'must be a boolean'))
  }
  if (old !== undefined) errors.push(...updateErrors(storageClass, old))
  return errors
}

/** True when the class carries the default-class annotation (either spelling) set to "true". */
export function isDefaultStorageClass(storageClass: JsonObject): boolean {
  const annotations = objectAt(objectAt(storageClass['metadata'])['annotations'])
  return annotations[IS_DEFAULT_CLASS_ANNOTATION] === 'true' || annotations[IS_DEFAULT_CLASS_BETA_ANNOTATION] === 'true'
}

function provisionerErrors(value: JsonValue | undefined): FieldError[] {
  const provisioner = stringAt(value)
  if (provisioner === '') return [fieldRequired('provisioner')]
  return messagesAsErrors(qualifiedNameErrors(provisioner.toLowerCase()), 'provisioner', provisioner)
}

function parameterErrors(value: JsonValue | undefined): FieldError[] {
  if (!isSet(value)) return []
  if (!isJsonObject(value)) return [fieldInvalid('parameters', value, 'must be a map of strings')]
  const keys = sortedKeys(value)
  if (keys.length > PARAMETERS_COUNT_MAX) return [fieldTooLong('parameters', PARAMETERS_COUNT_MAX)]
  const errors: FieldError[] = []
  let totalBytes = 0
  for (const key of keys) {
    if (key === '') errors.push(fieldInvalid('parameters', key, 'field can not be empty.'))
    const parameter = value[key]
    if (typeof parameter !== 'string') errors.push(fieldInvalid(childPath('parameters', key), parameter ?? null, 'must be a string'))
    totalBytes += Buffer.byteLength(key) + Buffer.byteLength(stringAt(parameter))
  }
  if (totalBytes > PARAMETERS_BYTES_MAX) errors.push(fieldTooLong('parameters', PARAMETERS_BYTES_MAX))
  return errors
}

function reclaimPolicyErrors(value: JsonValue | undefined): FieldError[] {
  // Kubernetes checks a non-empty policy only; defaulting fills an absent one.
  if (!isSet(value) || value === '') return []
  return typeof value === 'string' && RECLAIM_POLICIES.includes(value) ? [] : [fieldNotSupported('reclaimPolicy', value, RECLAIM_POLICIES)]
}

function volumeBindingModeErrors(value: JsonValue | undefined): FieldError[] {
  if (!isSet(value)) return [fieldRequired('volumeBindingMode')]
  return typeof value === 'string' && VOLUME_BINDING_MODES.includes(value) ? [] : [fieldNotSupported('volumeBindingMode', value, VOLUME_BINDING_MODES)]
}

/** TopologySelectorTerms (`ValidateTopologySelectorTerm`): label keys, at least one value each, no duplicates. */
function allowedTopologyErrors(value: JsonValue | undefined): FieldError[] {
  const errors: FieldError[] = []
  const seenTerms: JsonValue[] = []
  objectsAt(value).forEach((term, termIndex) => {
    const termPath = indexPath('allowedTopologies', termIndex)
    const keys = new Set<string>()
    const canonical: Record<string, string[]> = {}
    objectsAt(term['matchLabelExpressions']).forEach((expression, index) => {
      const path = indexPath(childPath(termPath, 'matchLabelExpressions'), index)
      const key = stringAt(expression['key'])
      errors.push(...labelNameErrors(key, childPath(path, 'key')))
      if (keys.has(key)) errors.push(fieldDuplicate(childPath(path, 'key'), key))
      keys.add(key)
      const values = listAt(expression['values']).map(stringAt)
      if (values.length === 0) errors.push(fieldRequired(childPath(path, 'values'), 'must specify as least one value'))
      const seenValues = new Set<string>()
      values.forEach((label, valueIndex) => {
        const valuePath = indexPath(childPath(path, 'values'), valueIndex)
        errors.push(...messagesAsErrors(labelValueErrors(label), valuePath, label))
        if (seenValues.has(label)) errors.push(fieldDuplicate(valuePath, label))
        seenValues.add(label)
      })
      canonical[key] = [...seenValues].sort()
    })
    if (seenTerms.some((seen) => canonicalEqual(seen, canonical))) errors.push(fieldDuplicate(childPath(termPath, 'matchLabelExpressions'), ''))
    seenTerms.push(canonical)
  })
  return errors
}

function updateErrors(storageClass: JsonObject, old: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  if (!canonicalEqual(storageClass['parameters'] ?? null, old['parameters'] ?? null)) errors.push(fieldForbidden('parameters', 'updates to parameters are forbidden.'))
  if (stringAt(storageClass['provisioner']) !== stringAt(old['provisioner'])) errors.push(fieldForbidden('provisioner', 'updates to provisioner are forbidden.'))
  if (stringAt(storageClass['reclaimPolicy']) !== stringAt(old['reclaimPolicy'])) errors.push(fieldForbidden('reclaimPolicy', 'updates to reclaimPolicy are forbidden.'))
  errors.push(...immutableErrors(storageClass['volumeBindingMode'], old['volumeBindingMode'], 'volumeBindingMode'))
  return errors
}
