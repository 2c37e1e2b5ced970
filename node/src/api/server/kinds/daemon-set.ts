/**
 * DaemonSets (apps/v1): defaults (`SetDefaults_DaemonSet`) and validation
 * (`ValidateDaemonSetSpec`, `ValidateDaemonSetUpdateStrategy`, the immutable selector).
 */
import type { JsonObject, JsonValue } from '../../machinery/canonical.ts'
import { fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { immutableErrors, nonNegativeErrors } from './field-checks.ts'
import { ensureObject, isSet, objectAt, setDefault, setDefaultUnlessNonZero } from './json-access.ts'
import { defaultPodTemplateInPlace, podTemplateErrors } from './pod-spec.ts'
import { alwaysRestartErrors, requiredSelectorErrors, rollingUpdateErrors, selectorMatchesTemplateErrors } from './workload-rules.ts'

const REVISION_HISTORY_LIMIT_DEFAULT = 10

/** Fills a DaemonSet's defaults in place: one node at a time, no surge, 10 revisions kept. */
export function defaultDaemonSet(daemonSet: JsonObject): void {
  const spec = ensureObject(daemonSet, 'spec')
  const strategy = ensureObject(spec, 'updateStrategy')
  setDefaultUnlessNonZero(strategy, 'type', 'RollingUpdate')
  if (strategy['type'] === 'RollingUpdate') {
    const rollingUpdate = ensureObject(strategy, 'rollingUpdate')
    setDefault(rollingUpdate, 'maxUnavailable', 1)
    setDefault(rollingUpdate, 'maxSurge', 0)
  }
  setDefault(spec, 'revisionHistoryLimit', REVISION_HISTORY_LIMIT_DEFAULT)
  defaultPodTemplateInPlace(ensureObject(spec, 'template'))
}

function updateStrategyErrors(value: JsonValue | undefined): FieldError[] {
  const strategy = objectAt(value)
  switch (strategy['type']) {
    case 'OnDelete':
      return []
    case 'RollingUpdate':
      if (!isSet(strategy['rollingUpdate'])) return [fieldRequired('spec.updateStrategy.rollingUpdate')]
      return rollingUpdateErrors(objectAt(strategy['rollingUpdate']), 'spec.updateStrategy.rollingUpdate')
    default:
      return [fieldNotSupported('spec.updateStrategy', strategy['type'] ?? '', ['RollingUpdate', 'OnDelete'])]
  }
}

/** Problems of a (defaulted) DaemonSet; the selector may not change on update. */
export function daemonSetErrors(daemonSet: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(daemonSet['spec'])
  const errors = [
    ...requiredSelectorErrors(spec, 'daemonset'),
    ...selectorMatchesTemplateErrors(spec),
    ...podTemplateErrors(spec['template'], 'spec.template'),
    ...alwaysRestartErrors(spec['template'], 'DaemonSet'),
    ...nonNegativeErrors(spec['minReadySeconds'], 'spec.minReadySeconds', 32),
    ...nonNegativeErrors(spec['templateGeneration'], 'spec.templateGeneration'),
    ...updateStrategyErrors(spec['updateStrategy']),
    ...nonNegativeErrors(spec['revisionHistoryLimit'], 'spec.revisionHistoryLimit', 32),
  ]
  if (old !== undefined) errors.push(...immutableErrors(spec['selector'], objectAt(old['spec'])['selector'], 'spec.selector'))
  return errors
}
