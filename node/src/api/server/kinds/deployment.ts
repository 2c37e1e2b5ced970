/**
 * Deployments and ReplicaSets (apps/v1): defaults (`SetDefaults_Deployment`,
 * `SetDefaults_ReplicaSet`) and validation (`ValidateDeploymentSpec`, `ValidateReplicaSetSpec`,
 * and the immutable selector on update).
 */
import type { JsonObject } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { immutableErrors, nonNegativeErrors } from './field-checks.ts'
import { ensureObject, isInteger, isSet, objectAt, setDefault, setDefaultUnlessNonZero } from './json-access.ts'
import { defaultPodTemplateInPlace, podTemplateErrors } from './pod-spec.ts'
import { alwaysRestartErrors, requiredSelectorErrors, rollingUpdateErrors, selectorMatchesTemplateErrors } from './workload-rules.ts'

/** Old ReplicaSets kept for `kubectl rollout undo`. */
const REVISION_HISTORY_LIMIT_DEFAULT = 10
/** A rollout without progress for this long is reported as failed (ProgressDeadlineExceeded). */
const PROGRESS_DEADLINE_SECONDS_DEFAULT = 600
/** A quarter of the replicas may be down, and a quarter extra may be up, during a rollout. */
const ROLLING_UPDATE_PERCENT_DEFAULT = '25%'

/** Fills a Deployment's defaults in place. */
export function defaultDeployment(deployment: JsonObject): void {
  const spec = ensureObject(deployment, 'spec')
  setDefault(spec, 'replicas', 1)
  const strategy = ensureObject(spec, 'strategy')
  setDefaultUnlessNonZero(strategy, 'type', 'RollingUpdate')
  if (strategy['type'] === 'RollingUpdate') {
    const rollingUpdate = ensureObject(strategy, 'rollingUpdate')
    setDefault(rollingUpdate, 'maxUnavailable', ROLLING_UPDATE_PERCENT_DEFAULT)
    setDefault(rollingUpdate, 'maxSurge', ROLLING_UPDATE_PERCENT_DEFAULT)
  }
  setDefault(spec, 'revisionHistoryLimit', REVISION_HISTORY_LIMIT_DEFAULT)
  setDefault(spec, 'progressDeadlineSeconds', PROGRESS_DEADLINE_SECONDS_DEFAULT)
  defaultPodTemplateInPlace(ensureObject(spec, 'template'))
}

/** Fills a ReplicaSet's defaults in place. */
export function defaultReplicaSet(replicaSet: JsonObject): void {
  const spec = ensureObject(replicaSet, 'spec')
  setDefault(spec, 'replicas', 1)
  defaultPodTemplateInPlace(ensureObject(spec, 'template'))
}

/** `spec.strategy`: Recreate takes no rollingUpdate; RollingUpdate needs valid bounds. */
function strategyErrors(value: JsonObject): FieldError[] {
  const strategy = objectAt(value)
  switch (strategy['type']) {
    case 'Recreate':
      return isSet(strategy['rollingUpdate']) ? [fieldForbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'")] : []
    case 'RollingUpdate':
      if (!isSet(strategy['rollingUpdate'])) return [fieldRequired('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil')]
      return rollingUpdateErrors(objectAt(strategy['rollingUpdate']), 'spec.strategy.rollingUpdate')
    default:
      return [fieldNotSupported('spec.strategy', strategy['type'] ?? '', ['Recreate', 'RollingUpdate'])]
  }
}

/** Checks shared by Deployments and ReplicaSets: replicas, selector, template, minReadySeconds. */
function replicatedErrors(spec: JsonObject): FieldError[] {
  return [
    ...nonNegativeErrors(spec['replicas'], 'spec.replicas', 32),
    ...requiredSelectorErrors(spec, 'deployment'),
    ...selectorMatchesTemplateErrors(spec),
    ...podTemplateErrors(spec['template'], 'spec.template'),
    ...alwaysRestartErrors(spec['template'], 'ReplicaSet'),
    ...nonNegativeErrors(spec['minReadySeconds'], 'spec.minReadySeconds', 32),
  ]
}

/** Problems of a (defaulted) Deployment; the selector may not change on update. */
export function deploymentErrors(deployment: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(deployment['spec'])
  const errors = [...replicatedErrors(spec), ...strategyErrors(objectAt(spec['strategy']))]
  errors.push(...nonNegativeErrors(spec['revisionHistoryLimit'], 'spec.revisionHistoryLimit', 32))
  const deadline = spec['progressDeadlineSeconds']
  errors.push(...nonNegativeErrors(deadline, 'spec.progressDeadlineSeconds', 32))
  const minReady = isInteger(spec['minReadySeconds']) ? spec['minReadySeconds'] : 0
  // A rollout whose pods need longer to become available than the deadline allows always fails.
  if (isInteger(deadline) && deadline <= minReady) errors.push(fieldInvalid('spec.progressDeadlineSeconds', deadline, 'must be greater than minReadySeconds'))
  if (old !== undefined) errors.push(...immutableErrors(spec['selector'], objectAt(old['spec'])['selector'], 'spec.selector'))
  return errors
}

/** Problems of a (defaulted) ReplicaSet; the selector may not change on update. */
export function replicaSetErrors(replicaSet: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(replicaSet['spec'])
  const errors = replicatedErrors(spec)
  if (old !== undefined) errors.push(...immutableErrors(spec['selector'], objectAt(old['spec'])['selector'], 'spec.selector'))
  return errors
}
