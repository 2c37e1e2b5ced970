/**
 * Rules shared by the apps/v1 workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet) and
 * Jobs: a selector that is present, valid, non-empty and matches the pod template's labels;
 * templates whose pods restart Always; rolling-update bounds.
 */
import type { JsonObject, JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { intOrPercentErrors, intOrPercentMagnitude, notOver100PercentErrors } from './formats.ts'
import { childPath, isSet, objectAt } from './json-access.ts'
import { isEmptySelector, labelsOf, parsedSelector, selectorErrors } from './labels.ts'

/**
 * `spec.selector` of a workload: required, valid, and not empty (an empty selector would adopt
 * every pod in the namespace). `kindWord` names the kind in the message as Kubernetes does
 * (ReplicaSets say "deployment" too).
 */
export function requiredSelectorErrors(spec: JsonObject, kindWord: string): FieldError[] {
  const selector = spec['selector']
  if (!isSet(selector)) return [fieldRequired('spec.selector')]
  const errors = selectorErrors(selector, 'spec.selector')
  if (errors.length === 0 && isEmptySelector(objectAt(selector))) errors.push(fieldInvalid('spec.selector', selector, `empty selector is invalid for ${kindWord}`))
  return errors
}

/** The template's labels must match the selector, or the workload would never see its own pods. */
export function selectorMatchesTemplateErrors(spec: JsonObject, templatePath = 'spec.template'): FieldError[] {
  const selector = parsedSelector(spec['selector'], 'spec.selector')
  if (selector === undefined || selector.isEmpty()) return []
  const template = objectAt(spec['template'])
  const labels = objectAt(template['metadata'])['labels']
  if (selector.matches(labelsOf(labels))) return []
  return [fieldInvalid(childPath(templatePath, 'metadata.labels'), labels ?? {}, '`selector` does not match template `labels`')]
}

/**
 * Long-running workloads replace their pods themselves, so the pods must restart Always and may
 * not have a deadline. `kind` words the deadline message as each kind's validation does.
 */
export function alwaysRestartErrors(template: JsonValue | undefined, kind: 'ReplicaSet' | 'StatefulSet' | 'DaemonSet'): FieldError[] {
  const spec = objectAt(objectAt(template)['spec'])
  const errors: FieldError[] = []
  const restartPolicy = spec['restartPolicy']
  if (restartPolicy !== 'Always') errors.push(fieldNotSupported('spec.template.spec.restartPolicy', restartPolicy ?? '', ['Always']))
  if (isSet(spec['activeDeadlineSeconds'])) {
    if (kind === 'DaemonSet') errors.push(fieldInvalid('spec.template.spec.activeDeadlineSeconds', spec['activeDeadlineSeconds'], 'activeDeadlineSeconds must be nil for daemon set'))
    else errors.push(fieldForbidden('spec.template.spec.activeDeadlineSeconds', `activeDeadlineSeconds in ${kind} is not Supported`))
  }
  return errors
}

/**
 * A rolling update's `maxUnavailable` and `maxSurge`: integers or percentages, not both zero
 * (the rollout could never make progress), and maxUnavailable at most 100%.
 */
export function rollingUpdateErrors(rollingUpdate: JsonObject, path: string): FieldError[] {
  const maxUnavailable = rollingUpdate['maxUnavailable']
  const maxSurge = rollingUpdate['maxSurge']
  const errors = [
    ...(isSet(maxUnavailable) ? intOrPercentErrors(maxUnavailable, childPath(path, 'maxUnavailable')) : []),
    ...(isSet(maxSurge) ? intOrPercentErrors(maxSurge, childPath(path, 'maxSurge')) : []),
  ]
  if (intOrPercentMagnitude(maxUnavailable) === 0 && intOrPercentMagnitude(maxSurge) === 0) {
    errors.push(fieldInvalid(childPath(path, 'maxUnavailable'), maxUnavailable ?? 0, 'may not be 0 when `maxSurge` is 0'))
  }
  return [...errors, ...notOver100PercentErrors(maxUnavailable, childPath(path, 'maxUnavailable'))]
}
