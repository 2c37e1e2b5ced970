/**
 * The scheduling fields of a pod spec — tolerations, node and pod (anti-)affinity, topology
 * spread constraints — and node taints, validated as `ValidateTolerations`, `validateAffinity`,
 * `validateTopologySpreadConstraints` and `validateNodeTaints` do.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldDuplicate, fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123LabelErrors, labelValueErrors } from '../../machinery/names.ts'
import { enumErrors, messagesAsErrors, NOT_POSITIVE_MESSAGE } from './field-checks.ts'
import { childPath, indexPath, isInteger, isSet, listAt, objectAt, stringAt } from './json-access.ts'
import { labelNameErrors, selectorErrors } from './labels.ts'

export const TAINT_EFFECTS: readonly string[] = ['NoSchedule', 'PreferNoSchedule', 'NoExecute']
const WEIGHT_MESSAGE = 'must be in the range 1-100'

/** A taint or toleration effect; empty is allowed for tolerations (it matches every effect). */
function effectErrors(value: JsonValue | undefined, path: string, allowEmpty: boolean): FieldError[] {
  if ((!isSet(value) || value === '') && allowEmpty) return []
  return enumErrors(value, path, TAINT_EFFECTS)
}

/** Problems of one toleration (`ValidateTolerations`). */
function tolerationErrors(toleration: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  const key = stringAt(toleration['key'])
  const operator = stringAt(toleration['operator'])
  const value = stringAt(toleration['value'])
  if (key !== '') errors.push(...labelNameErrors(key, childPath(path, 'key')))
  // An empty key with Exists tolerates every taint; with Equal it would tolerate nothing sensible.
  if (key === '' && operator !== 'Exists') {
    errors.push(fieldInvalid(childPath(path, 'operator'), operator, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
  }
  if (isSet(toleration['tolerationSeconds']) && toleration['effect'] !== 'NoExecute') {
    errors.push(fieldInvalid(childPath(path, 'effect'), stringAt(toleration['effect']), "effect must be 'NoExecute' when `tolerationSeconds` is set"))
  }
  if (operator === '' || operator === 'Equal') {
    const messages = labelValueErrors(value)
    if (messages.length > 0) errors.push(fieldInvalid(childPath(path, 'operator'), value, messages.join(';')))
  } else if (operator === 'Exists') {
    if (value !== '') errors.push(fieldInvalid(childPath(path, 'operator'), toleration, "value must be empty when `operator` is 'Exists'"))
  } else {
    errors.push(fieldNotSupported(childPath(path, 'operator'), operator, ['Equal', 'Exists']))
  }
  errors.push(...effectErrors(toleration['effect'], childPath(path, 'effect'), true))
  return errors
}

/** A pod's tolerations under `path`. */
export function tolerationsErrors(value: JsonValue | undefined, path: string): FieldError[] {
  return listAt(value).flatMap((item, i) => tolerationErrors(objectAt(item), indexPath(path, i)))
}

/** A node's taints: key, value, a required effect, and unique by (key, effect). */
export function taintsErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  const seen = new Set<string>()
  listAt(value).forEach((item, i) => {
    const taint = objectAt(item)
    const at = indexPath(path, i)
    const key = stringAt(taint['key'])
    const taintValue = stringAt(taint['value'])
    errors.push(...labelNameErrors(key, childPath(at, 'key')))
    const valueMessages = labelValueErrors(taintValue)
    if (valueMessages.length > 0) errors.push(fieldInvalid(childPath(at, 'value'), taintValue, valueMessages.join(';')))
    errors.push(...effectErrors(taint['effect'], childPath(at, 'effect'), false))
    const identity = `${key}\u0000${stringAt(taint['effect'])}`
    if (seen.has(identity)) errors.push({ ...fieldDuplicate(at, taint), detail: 'taints must be unique by key and effect pair' })
    seen.add(identity)
  })
  return errors
}

/** One `matchExpressions` entry of a node selector term (operators include Gt and Lt). */
function nodeSelectorRequirementErrors(requirement: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  const values = listAt(requirement['values'])
  const operator = stringAt(requirement['operator'])
  if (operator === 'In' || operator === 'NotIn') {
    if (values.length === 0) errors.push(fieldRequired(childPath(path, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"))
  } else if (operator === 'Exists' || operator === 'DoesNotExist') {
    if (values.length > 0) errors.push(fieldForbidden(childPath(path, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
  } else if (operator === 'Gt' || operator === 'Lt') {
    if (values.length !== 1) errors.push(fieldRequired(childPath(path, 'values'), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
  } else {
    errors.push(fieldInvalid(childPath(path, 'operator'), operator, 'not a valid selector operator'))
  }
  return [...errors, ...labelNameErrors(stringAt(requirement['key']), childPath(path, 'key'))]
}

/** One `matchFields` entry: only `metadata.name`, with In/NotIn and exactly one value. */
function nodeFieldRequirementErrors(requirement: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  const operator = stringAt(requirement['operator'])
  if (operator !== 'In' && operator !== 'NotIn') errors.push(fieldInvalid(childPath(path, 'operator'), operator, 'not a valid selector operator'))
  else if (listAt(requirement['values']).length !== 1) {
    errors.push(fieldRequired(childPath(path, 'values'), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
  }
  if (stringAt(requirement['key']) !== 'metadata.name') errors.push(fieldNotSupported(childPath(path, 'key'), stringAt(requirement['key']), ['metadata.name']))
  return errors
}

function nodeSelectorTermErrors(term: JsonObject, path: string): FieldError[] {
  return [
    ...listAt(term['matchExpressions']).flatMap((item, j) => nodeSelectorRequirementErrors(objectAt(item), indexPath(childPath(path, 'matchExpressions'), j))),
    ...listAt(term['matchFields']).flatMap((item, j) => nodeFieldRequirementErrors(objectAt(item), indexPath(childPath(path, 'matchFields'), j))),
  ]
}

function weightErrors(value: JsonValue | undefined, path: string): FieldError[] {
  return isInteger(value) && value >= 1 && value <= 100 ? [] : [fieldInvalid(path, value ?? 0, WEIGHT_MESSAGE)]
}

function nodeAffinityErrors(affinity: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  const required = affinity['requiredDuringSchedulingIgnoredDuringExecution']
  if (isSet(required)) {
    const termsPath = childPath(childPath(path, 'requiredDuringSchedulingIgnoredDuringExecution'), 'nodeSelectorTerms')
    const terms = listAt(objectAt(required)['nodeSelectorTerms'])
    if (terms.length === 0) errors.push(fieldRequired(termsPath, 'must have at least one node selector term'))
    terms.forEach((term, i) => errors.push(...nodeSelectorTermErrors(objectAt(term), indexPath(termsPath, i))))
  }
  listAt(affinity['preferredDuringSchedulingIgnoredDuringExecution']).forEach((item, i) => {
    const at = indexPath(childPath(path, 'preferredDuringSchedulingIgnoredDuringExecution'), i)
    errors.push(...weightErrors(objectAt(item)['weight'], childPath(at, 'weight')))
    errors.push(...nodeSelectorTermErrors(objectAt(objectAt(item)['preference']), childPath(at, 'preference')))
  })
  return errors
}

function podAffinityTermErrors(term: JsonObject, path: string): FieldError[] {
  const errors = [...selectorErrors(term['labelSelector'], childPath(path, 'labelSelector')), ...selectorErrors(term['namespaceSelector'], childPath(path, 'namespaceSelector'))]
  for (const namespace of listAt(term['namespaces'])) errors.push(...messagesAsErrors(dns1123LabelErrors(stringAt(namespace)), childPath(path, 'namespace'), stringAt(namespace)))
  const topologyKey = stringAt(term['topologyKey'])
  if (topologyKey === '') errors.push(fieldRequired(childPath(path, 'topologyKey'), 'can not be empty'))
  else errors.push(...labelNameErrors(topologyKey, childPath(path, 'topologyKey')))
  return errors
}

/** Pod affinity or anti-affinity: required terms and weighted preferred terms. */
function podAffinityErrors(affinity: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  listAt(affinity['requiredDuringSchedulingIgnoredDuringExecution']).forEach((term, i) => {
    errors.push(...podAffinityTermErrors(objectAt(term), indexPath(childPath(path, 'requiredDuringSchedulingIgnoredDuringExecution'), i)))
  })
  listAt(affinity['preferredDuringSchedulingIgnoredDuringExecution']).forEach((item, i) => {
    const at = indexPath(childPath(path, 'preferredDuringSchedulingIgnoredDuringExecution'), i)
    errors.push(...weightErrors(objectAt(item)['weight'], childPath(at, 'weight')))
    errors.push(...podAffinityTermErrors(objectAt(objectAt(item)['podAffinityTerm']), childPath(at, 'podAffinityTerm')))
  })
  return errors
}

/** `spec.affinity`: node affinity, pod affinity and pod anti-affinity. */
export function affinityErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isJsonObject(value)) return []
  return [
    ...(isSet(value['nodeAffinity']) ? nodeAffinityErrors(objectAt(value['nodeAffinity']), childPath(path, 'nodeAffinity')) : []),
    ...(isSet(value['podAffinity']) ? podAffinityErrors(objectAt(value['podAffinity']), childPath(path, 'podAffinity')) : []),
    ...(isSet(value['podAntiAffinity']) ? podAffinityErrors(objectAt(value['podAntiAffinity']), childPath(path, 'podAntiAffinity')) : []),
  ]
}

/**
 * `spec.topologySpreadConstraints`: maxSkew > 0, a topology key, a known whenUnsatisfiable, and
 * each (topologyKey, whenUnsatisfiable) pair at most once.
 */
export function topologySpreadErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  const constraints = listAt(value).map(objectAt)
  constraints.forEach((constraint, i) => {
    const at = indexPath(path, i)
    const maxSkew = constraint['maxSkew']
    if (!isInteger(maxSkew) || maxSkew <= 0) errors.push(fieldInvalid(childPath(at, 'maxSkew'), maxSkew ?? 0, NOT_POSITIVE_MESSAGE))
    const topologyKey = stringAt(constraint['topologyKey'])
    if (topologyKey === '') errors.push(fieldRequired(childPath(at, 'topologyKey'), 'can not be empty'))
    const when = constraint['whenUnsatisfiable']
    if (when !== 'DoNotSchedule' && when !== 'ScheduleAnyway') errors.push(fieldNotSupported(childPath(at, 'whenUnsatisfiable'), when ?? '', ['DoNotSchedule', 'ScheduleAnyway']))
    const repeated = constraints.slice(i + 1).some((other) => stringAt(other['topologyKey']) === topologyKey && other['whenUnsatisfiable'] === when)
    if (repeated) errors.push(fieldDuplicate(childPath(at, '{topologyKey, whenUnsatisfiable}'), `{${topologyKey}, ${stringAt(when)}}`))
    const minDomains = constraint['minDomains']
    if (isSet(minDomains)) {
      if (!isInteger(minDomains) || minDomains <= 0) errors.push(fieldInvalid(childPath(at, 'minDomains'), minDomains, NOT_POSITIVE_MESSAGE))
      else if (when !== 'DoNotSchedule') {
        errors.push(fieldInvalid(childPath(at, 'minDomains'), minDomains, 'can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway'))
      }
    }
    errors.push(...selectorErrors(constraint['labelSelector'], childPath(at, 'labelSelector')))
  })
  return errors
}
