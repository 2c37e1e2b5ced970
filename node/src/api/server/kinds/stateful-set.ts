/**
 * StatefulSets (apps/v1): defaults (`SetDefaults_StatefulSet`) and validation
 * (`ValidateStatefulSetSpec`, and the fields an update may not touch).
 */
import { canonicalEqual, cloneJson, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../../machinery/names.ts'
import { enumErrors, messagesAsErrors, nonNegativeErrors } from './field-checks.ts'
import { childPath, ensureObject, indexPath, isSet, listAt, objectAt, objectsAt, setDefault, setDefaultUnlessNonZero, stringAt } from './json-access.ts'
import { claimSpecErrors, defaultClaim } from './persistent-volume.ts'
import { defaultPodTemplateInPlace, podTemplateErrors } from './pod-spec.ts'
import { alwaysRestartErrors, requiredSelectorErrors, selectorMatchesTemplateErrors } from './workload-rules.ts'

const REVISION_HISTORY_LIMIT_DEFAULT = 10
const RETENTION_POLICIES: readonly string[] = ['Delete', 'Retain']
/** The spec fields an update may change; everything else is fixed at creation. */
const MUTABLE_FIELDS: readonly string[] = [
  'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds',
]
const UPDATE_FORBIDDEN_MESSAGE =
  `updates to statefulset spec for fields other than ${MUTABLE_FIELDS.slice(0, -1).map((field) => `'${field}'`).join(', ')} ` +
  `and '${MUTABLE_FIELDS.at(-1) ?? ''}' are forbidden`

/** Fills a StatefulSet's defaults in place. */
export function defaultStatefulSet(statefulSet: JsonObject): void {
  const spec = ensureObject(statefulSet, 'spec')
  setDefault(spec, 'replicas', 1)
  setDefaultUnlessNonZero(spec, 'podManagementPolicy', 'OrderedReady')
  const strategy = ensureObject(spec, 'updateStrategy')
  setDefaultUnlessNonZero(strategy, 'type', 'RollingUpdate')
  if (strategy['type'] === 'RollingUpdate') setDefault(ensureObject(strategy, 'rollingUpdate'), 'partition', 0)
  setDefault(spec, 'revisionHistoryLimit', REVISION_HISTORY_LIMIT_DEFAULT)
  const retention = ensureObject(spec, 'persistentVolumeClaimRetentionPolicy')
  setDefault(retention, 'whenDeleted', 'Retain')
  setDefault(retention, 'whenScaled', 'Retain')
  for (const claim of objectsAt(spec['volumeClaimTemplates'])) defaultClaim(claim)
  defaultPodTemplateInPlace(ensureObject(spec, 'template'))
}

function updateStrategyErrors(value: JsonValue | undefined): FieldError[] {
  const strategy = objectAt(value)
  const type = stringAt(strategy['type'])
  if (type === '') return [fieldRequired('spec.updateStrategy')]
  if (type === 'OnDelete') {
    return isSet(strategy['rollingUpdate']) ? [fieldInvalid('spec.updateStrategy.rollingUpdate', strategy['rollingUpdate'], "only allowed for updateStrategy 'RollingUpdate'")] : []
  }
  if (type === 'RollingUpdate') return nonNegativeErrors(objectAt(strategy['rollingUpdate'])['partition'], 'spec.updateStrategy.rollingUpdate.partition', 32)
  return [fieldInvalid('spec.updateStrategy', strategy, "must be 'RollingUpdate' or 'OnDelete'")]
}

/** Claim templates: named (the name becomes part of each claim's name) with a valid claim spec. */
function claimTemplateErrors(value: JsonValue | undefined): FieldError[] {
  return listAt(value).flatMap((item, i) => {
    const claim = objectAt(item)
    const at = indexPath('spec.volumeClaimTemplates', i)
    const name = stringAt(objectAt(claim['metadata'])['name'])
    const nameErrors = name === '' ? [fieldRequired(childPath(at, 'metadata.name'))] : messagesAsErrors(dns1123SubdomainErrors(name), childPath(at, 'metadata.name'), name)
    return [...nameErrors, ...claimSpecErrors(objectAt(claim['spec']), childPath(at, 'spec'))]
  })
}

/**
 * Problems of a (defaulted) StatefulSet. `serviceName` is optional here as in current Kubernetes,
 * but when set it must be a DNS label, because it becomes every pod's DNS subdomain and pods with
 * an invalid one could never be created.
 */
export function statefulSetErrors(statefulSet: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(statefulSet['spec'])
  const errors: FieldError[] = []
  const policy = spec['podManagementPolicy']
  if (!isSet(policy) || policy === '') errors.push(fieldRequired('spec.podManagementPolicy'))
  else if (policy !== 'OrderedReady' && policy !== 'Parallel') errors.push(fieldInvalid('spec.podManagementPolicy', policy, "must be 'OrderedReady' or 'Parallel'"))
  errors.push(...updateStrategyErrors(spec['updateStrategy']))
  for (const field of ['replicas', 'minReadySeconds', 'revisionHistoryLimit']) errors.push(...nonNegativeErrors(spec[field], `spec.${field}`, 32))
  errors.push(...requiredSelectorErrors(spec, 'statefulset'), ...selectorMatchesTemplateErrors(spec))
  const claimNames = new Set(objectsAt(spec['volumeClaimTemplates']).map((claim) => stringAt(objectAt(claim['metadata'])['name'])))
  errors.push(...podTemplateErrors(spec['template'], 'spec.template', { extraVolumes: claimNames }))
  errors.push(...alwaysRestartErrors(spec['template'], 'StatefulSet'))
  const serviceName = stringAt(spec['serviceName'])
  if (serviceName !== '') errors.push(...messagesAsErrors(dns1123LabelErrors(serviceName), 'spec.serviceName', serviceName))
  errors.push(...claimTemplateErrors(spec['volumeClaimTemplates']))
  const retention = objectAt(spec['persistentVolumeClaimRetentionPolicy'])
  for (const field of ['whenDeleted', 'whenScaled']) errors.push(...enumErrors(retention[field], `spec.persistentVolumeClaimRetentionPolicy.${field}`, RETENTION_POLICIES, false))
  if (old !== undefined && !sameImmutableFields(spec, objectAt(old['spec']))) errors.push(fieldForbidden('spec', UPDATE_FORBIDDEN_MESSAGE))
  return errors
}

function sameImmutableFields(next: JsonObject, previous: JsonObject): boolean {
  const strip = (spec: JsonObject): JsonObject => {
    const copy = cloneJson(spec)
    for (const field of MUTABLE_FIELDS) delete copy[field]
    return copy
  }
  return canonicalEqual(strip(next), strip(previous))
}
