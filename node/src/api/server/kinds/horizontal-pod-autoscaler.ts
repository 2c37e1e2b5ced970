/**
 * HorizontalPodAutoscalers (autoscaling/v2): defaults (`SetDefaults_HorizontalPodAutoscaler`:
 * one replica minimum, 80% CPU when no metric is given, and the scaling behaviour rules) and
 * validation (`validateHorizontalPodAutoscalerSpec` and its metric and behaviour checks).
 */
import type { JsonObject, JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { pathSegmentNameErrors } from '../../machinery/names.ts'
import { enumErrors, integerErrors, messagesAsErrors } from './field-checks.ts'
import { childPath, ensureObject, indexPath, isInteger, isSet, listAt, objectAt, setDefault, stringAt } from './json-access.ts'
import { quantityOf } from './resource-lists.ts'

/** Without metrics, an autoscaler aims for 80% average CPU utilisation. */
const CPU_UTILIZATION_PERCENT_DEFAULT = 80
const PERIOD_SECONDS_MAX = 1800
const STABILIZATION_WINDOW_SECONDS_MAX = 3600
const METRIC_TYPES: readonly string[] = ['ContainerResource', 'External', 'Object', 'Pods', 'Resource']
/** The field each metric type's details live in. */
const METRIC_FIELDS: Readonly<Record<string, string>> = { Object: 'object', Pods: 'pods', Resource: 'resource', External: 'external', ContainerResource: 'containerResource' }

/**
 * The default scaling rules: scale up by at most 4 pods or 100% per 15 s (whichever is more),
 * scale down by at most 100% per 15 s, with the controller's own 300 s down-stabilisation.
 */
function defaultScalingRules(rules: JsonObject, direction: 'scaleUp' | 'scaleDown'): void {
  if (direction === 'scaleUp') setDefault(rules, 'stabilizationWindowSeconds', 0)
  setDefault(rules, 'selectPolicy', 'Max')
  const policies = direction === 'scaleUp'
    ? [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }]
    : [{ type: 'Percent', value: 100, periodSeconds: 15 }]
  setDefault(rules, 'policies', policies)
}

/** Fills an autoscaler's defaults in place. */
export function defaultHorizontalPodAutoscaler(autoscaler: JsonObject): void {
  const spec = ensureObject(autoscaler, 'spec')
  setDefault(spec, 'minReplicas', 1)
  if (listAt(spec['metrics']).length === 0) {
    spec['metrics'] = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: CPU_UTILIZATION_PERCENT_DEFAULT } } }]
  }
  // Behaviour is optional; once present, the direction it leaves out gets the default rules.
  if (isSet(spec['behavior'])) {
    const behavior = ensureObject(spec, 'behavior')
    defaultScalingRules(ensureObject(behavior, 'scaleUp'), 'scaleUp')
    defaultScalingRules(ensureObject(behavior, 'scaleDown'), 'scaleDown')
  }
}

/** A reference to an object by kind and name, both path-safe (`ValidateCrossVersionObjectReference`). */
function objectReferenceErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const reference = objectAt(value)
  const errors: FieldError[] = []
  for (const field of ['kind', 'name']) {
    const text = stringAt(reference[field])
    if (text === '') errors.push(fieldRequired(childPath(path, field)))
    else errors.push(...messagesAsErrors(pathSegmentNameErrors(text), childPath(path, field), text))
  }
  return errors
}

function metricIdentifierErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const name = stringAt(objectAt(value)['name'])
  if (name === '') return [fieldRequired(childPath(path, 'name'), 'must specify a metric name')]
  return messagesAsErrors(pathSegmentNameErrors(name), childPath(path, 'name'), name)
}

/** A metric target: a known type and positive values (`validateMetricTarget`). */
function metricTargetErrors(target: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  const type = stringAt(target['type'])
  if (type === '') errors.push(fieldRequired(childPath(path, 'type'), 'must specify a metric target type'))
  if (!['Utilization', 'Value', 'AverageValue'].includes(type)) errors.push(fieldInvalid(childPath(path, 'type'), type, 'must be either Utilization, Value, or AverageValue'))
  for (const field of ['value', 'averageValue']) {
    if (!isSet(target[field])) continue
    const quantity = quantityOf(target[field])
    if (quantity === undefined || quantity.nanos <= 0n) errors.push(fieldInvalid(childPath(path, field), target[field] ?? null, 'must be positive'))
  }
  const utilization = target['averageUtilization']
  if (isSet(utilization) && (!isInteger(utilization) || utilization < 1)) errors.push(fieldInvalid(childPath(path, 'averageUtilization'), utilization, 'must be greater than 0'))
  return errors
}

/** The checks of each metric source, beyond its target's own. */
function sourceErrors(type: string, source: JsonObject, path: string): FieldError[] {
  const target = objectAt(source['target'])
  const targetPath = childPath(path, 'target')
  const errors = metricTargetErrors(target, targetPath)
  const has = (field: string): boolean => isSet(target[field])
  switch (type) {
    case 'Resource':
    case 'ContainerResource':
      if (stringAt(source['name']) === '') errors.push(fieldRequired(childPath(path, 'name'), 'must specify a resource name'))
      if (type === 'ContainerResource' && stringAt(source['container']) === '') errors.push(fieldRequired(childPath(path, 'container'), 'must specify a container'))
      if (!has('averageUtilization') && !has('averageValue')) {
        errors.push(fieldRequired(childPath(targetPath, 'averageUtilization'), 'must set either a target raw value or a target utilization'))
      }
      if (has('averageUtilization') && has('averageValue')) {
        errors.push(fieldForbidden(childPath(targetPath, 'averageValue'), 'may not set both a target raw value and a target utilization'))
      }
      return errors
    case 'Pods':
      errors.push(...metricIdentifierErrors(source['metric'], childPath(path, 'metric')))
      if (!has('averageValue')) errors.push(fieldRequired(childPath(targetPath, 'averageValue'), 'must specify a positive target averageValue'))
      return errors
    case 'Object':
      errors.push(...objectReferenceErrors(source['describedObject'], childPath(path, 'describedObject')), ...metricIdentifierErrors(source['metric'], childPath(path, 'metric')))
      if (!has('value') && !has('averageValue')) errors.push(fieldRequired(childPath(targetPath, 'averageValue'), 'must set either a target value or averageValue'))
      return errors
    default:
      errors.push(...metricIdentifierErrors(source['metric'], childPath(path, 'metric')))
      if (!has('value') && !has('averageValue')) errors.push(fieldRequired(childPath(targetPath, 'averageValue'), 'must set either a target value for metric or a per-pod target'))
      if (has('value') && has('averageValue')) errors.push(fieldForbidden(childPath(targetPath, 'value'), 'may not set both a target value for metric and a per-pod target'))
      return errors
  }
}

/** One metric: a known type, its details in the matching field only (`validateMetricSpec`). */
function metricErrors(metric: JsonObject, path: string): FieldError[] {
  const type = stringAt(metric['type'])
  const errors: FieldError[] = []
  if (type === '') errors.push(fieldRequired(childPath(path, 'type'), 'must specify a metric source type'))
  if (!METRIC_TYPES.includes(type)) errors.push(fieldNotSupported(childPath(path, 'type'), type, METRIC_TYPES))
  const expected = METRIC_FIELDS[type]
  for (const field of Object.values(METRIC_FIELDS)) {
    if (isSet(metric[field]) && field !== expected) errors.push(fieldForbidden(childPath(path, field), 'must populate the given metric source only'))
  }
  if (expected === undefined) return errors
  if (!isSet(metric[expected])) return [...errors, fieldRequired(childPath(path, expected), 'must populate information for the given metric source')]
  return [...errors, ...sourceErrors(type, objectAt(metric[expected]), childPath(path, expected))]
}

function scalingRulesErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isSet(value)) return []
  const rules = objectAt(value)
  const errors: FieldError[] = []
  const window = rules['stabilizationWindowSeconds']
  const windowPath = childPath(path, 'stabilizationWindowSeconds')
  if (isInteger(window) && window < 0) errors.push(fieldInvalid(windowPath, window, 'must be greater than or equal to zero'))
  if (isInteger(window) && window > STABILIZATION_WINDOW_SECONDS_MAX) errors.push(fieldInvalid(windowPath, window, `must be less than or equal to ${STABILIZATION_WINDOW_SECONDS_MAX}`))
  errors.push(...integerErrors(window, windowPath))
  if (isSet(rules['selectPolicy'])) errors.push(...enumErrors(rules['selectPolicy'], childPath(path, 'selectPolicy'), ['Disabled', 'Max', 'Min']))
  const policies = listAt(rules['policies'])
  if (policies.length === 0) errors.push(fieldRequired(childPath(path, 'policies'), 'must specify at least one Policy'))
  policies.forEach((item, i) => {
    const policy = objectAt(item)
    const at = indexPath(childPath(path, 'policies'), i)
    errors.push(...enumErrors(policy['type'], childPath(at, 'type'), ['Percent', 'Pods']))
    const value = policy['value']
    if (!isInteger(value) || value <= 0) errors.push(fieldInvalid(childPath(at, 'value'), value ?? 0, 'must be greater than zero'))
    const period = policy['periodSeconds']
    if (!isInteger(period) || period <= 0) errors.push(fieldInvalid(childPath(at, 'periodSeconds'), period ?? 0, 'must be greater than zero'))
    else if (period > PERIOD_SECONDS_MAX) errors.push(fieldInvalid(childPath(at, 'periodSeconds'), period, `must be less than or equal to ${PERIOD_SECONDS_MAX}`))
  })
  return errors
}

/**
 * Problems of a (defaulted) autoscaler. As in Kubernetes, metrics are checked only once the
 * target reference is valid, and behaviour only once the metrics are.
 */
export function horizontalPodAutoscalerErrors(autoscaler: JsonObject): FieldError[] {
  const spec = objectAt(autoscaler['spec'])
  const errors: FieldError[] = []
  const minReplicas = spec['minReplicas']
  const maxReplicas = spec['maxReplicas']
  if (isSet(minReplicas) && (!isInteger(minReplicas) || minReplicas < 1)) errors.push(fieldInvalid('spec.minReplicas', minReplicas, 'must be greater than or equal to 1'))
  if (!isInteger(maxReplicas) || maxReplicas < 1) errors.push(fieldInvalid('spec.maxReplicas', maxReplicas ?? 0, 'must be greater than 0'))
  else if (isInteger(minReplicas) && maxReplicas < minReplicas) errors.push(fieldInvalid('spec.maxReplicas', maxReplicas, 'must be greater than or equal to `minReplicas`'))
  const referenceErrors = objectReferenceErrors(spec['scaleTargetRef'], 'spec.scaleTargetRef')
  if (referenceErrors.length > 0) return [...errors, ...referenceErrors]
  const metrics = listAt(spec['metrics']).flatMap((metric, i) => metricErrors(objectAt(metric), indexPath('spec.metrics', i)))
  if (metrics.length > 0) return [...errors, ...metrics]
  const behavior = objectAt(spec['behavior'])
  return [...errors, ...scalingRulesErrors(behavior['scaleUp'], 'spec.behavior.scaleUp'), ...scalingRulesErrors(behavior['scaleDown'], 'spec.behavior.scaleDown')]
}
