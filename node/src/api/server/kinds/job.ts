/**
 * Jobs (batch/v1): defaults (`SetDefaults_Job`), the generated selector, and validation
 * (`ValidateJob`, `validateJobSpec`, and the fields an update may not change).
 *
 * Generated selectors. Unless `spec.manualSelector` is true, Kubernetes selects a Job's pods by
 * the Job's uid: it labels the pod template with `batch.kubernetes.io/controller-uid`,
 * `controller-uid`, `batch.kubernetes.io/job-name` and `job-name`, and sets
 * `spec.selector.matchLabels` to the uid label. The uid exists only once the object is created.
 * Here the selector is generated when the object being created already carries `metadata.uid`;
 * when it does not (Flotilla's API handler assigns the uid after admission), the Job is accepted
 * without a selector, and the job controller must generate it from the stored uid before it
 * creates pods (updates until then are accepted too; once set, the selector is immutable).
 */
import type { JsonObject, JsonValue } from '../../machinery/canonical.ts'
import { fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { enumErrors, immutableErrors, nonNegativeErrors } from './field-checks.ts'
import { childPath, ensureObject, isInteger, isSet, keyPath, objectAt, setDefault, stringAt } from './json-access.ts'
import { labelsOf, parsedSelector, selectorErrors } from './labels.ts'
import { defaultPodTemplateInPlace, podTemplateErrors } from './pod-spec.ts'
import { selectorMatchesTemplateErrors } from './workload-rules.ts'

/** A failing pod is retried this many times before the Job fails. */
const BACKOFF_LIMIT_DEFAULT = 6
/** Indexed Jobs keep per-index state; Kubernetes caps them at this many completions and pods. */
const INDEXED_JOB_MAX = 100_000
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid'
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name'
export const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid'
export const LEGACY_JOB_NAME_LABEL = 'job-name'

/** Fills the defaults of a JobSpec in place (`SetDefaults_Job` without the metadata part). */
function defaultJobSpec(spec: JsonObject): void {
  // A non-parallel Job may leave both unset: one pod, one completion.
  if (!isSet(spec['completions']) && !isSet(spec['parallelism'])) spec['completions'] = 1
  setDefault(spec, 'parallelism', 1)
  setDefault(spec, 'backoffLimit', BACKOFF_LIMIT_DEFAULT)
  setDefault(spec, 'completionMode', 'NonIndexed')
  setDefault(spec, 'suspend', false)
}

/** Labels the template and sets the selector from the Job's uid (see the module comment). Mutates. */
function generateSelector(job: JsonObject, spec: JsonObject, uid: string): void {
  const metadata = objectAt(job['metadata'])
  const name = stringAt(metadata['name'])
  const templateLabels = ensureObject(ensureObject(ensureObject(spec, 'template'), 'metadata'), 'labels')
  for (const key of [CONTROLLER_UID_LABEL, LEGACY_CONTROLLER_UID_LABEL]) setDefault(templateLabels, key, uid)
  for (const key of [JOB_NAME_LABEL, LEGACY_JOB_NAME_LABEL]) setDefault(templateLabels, key, name)
  setDefault(ensureObject(ensureObject(spec, 'selector'), 'matchLabels'), CONTROLLER_UID_LABEL, uid)
}

/** Fills a Job's defaults in place; on create with a known uid, also its generated selector. */
export function defaultJob(job: JsonObject, old: JsonObject | undefined): void {
  const spec = ensureObject(job, 'spec')
  defaultJobSpec(spec)
  const metadata = ensureObject(job, 'metadata')
  const templateLabels = objectAt(objectAt(objectAt(spec['template'])['metadata'])['labels'])
  // A Job without labels of its own takes its pods' labels, so selectors find both.
  if (Object.keys(objectAt(metadata['labels'])).length === 0 && Object.keys(templateLabels).length > 0) metadata['labels'] = { ...templateLabels }
  const uid = stringAt(metadata['uid'])
  if (old === undefined && spec['manualSelector'] !== true && uid !== '') generateSelector(job, spec, uid)
  defaultPodTemplateInPlace(ensureObject(spec, 'template'))
}

/**
 * The checks of a JobSpec that hold for Jobs and CronJob job templates alike: counts, deadlines,
 * completion mode, the pod template, and pods that do not restart Always (a Job's pods finish).
 */
export function jobSpecErrors(spec: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  // activeDeadlineSeconds is Go's int64; the others are int32.
  for (const field of ['parallelism', 'completions', 'activeDeadlineSeconds', 'backoffLimit', 'ttlSecondsAfterFinished']) {
    errors.push(...nonNegativeErrors(spec[field], childPath(path, field), field === 'activeDeadlineSeconds' ? 64 : 32))
  }
  const mode = spec['completionMode']
  if (isSet(mode)) errors.push(...enumErrors(mode, childPath(path, 'completionMode'), ['NonIndexed', 'Indexed']))
  if (mode === 'Indexed') {
    if (!isSet(spec['completions'])) errors.push(fieldRequired(childPath(path, 'completions'), 'when completion mode is Indexed'))
    for (const field of ['completions', 'parallelism']) {
      const value = spec[field]
      if (isInteger(value) && value > INDEXED_JOB_MAX) {
        errors.push(fieldInvalid(childPath(path, field), value, `must be less than or equal to ${INDEXED_JOB_MAX} when completion mode is Indexed`))
      }
    }
  }
  errors.push(...podTemplateErrors(spec['template'], childPath(path, 'template')))
  const restartPolicy = objectAt(objectAt(spec['template'])['spec'])['restartPolicy']
  if (restartPolicy !== 'OnFailure' && restartPolicy !== 'Never') {
    errors.push(fieldNotSupported(childPath(path, 'template.spec.restartPolicy'), restartPolicy ?? '', ['OnFailure', 'Never']))
  }
  return errors
}

/** A template label the generated selector relies on (`ValidateHasLabel`). */
function hasLabelErrors(labels: JsonValue | undefined, key: string, expected: string): FieldError[] {
  const path = keyPath('spec.template.metadata.labels', key)
  const actual = labelsOf(labels)[key]
  if (actual === undefined) return [fieldRequired(path, `must be '${expected}'`)]
  return actual === expected ? [] : [fieldInvalid(path, labels ?? null, `must be '${expected}'`)]
}

/** On create with a generated selector, the labels and selector must be the generated ones. */
function generatedSelectorErrors(job: JsonObject, spec: JsonObject): FieldError[] {
  const metadata = objectAt(job['metadata'])
  const uid = stringAt(metadata['uid'])
  const labels = objectAt(objectAt(spec['template'])['metadata'])['labels']
  const errors = [
    ...hasLabelErrors(labels, LEGACY_CONTROLLER_UID_LABEL, uid),
    ...hasLabelErrors(labels, LEGACY_JOB_NAME_LABEL, stringAt(metadata['name'])),
    ...hasLabelErrors(labels, CONTROLLER_UID_LABEL, uid),
    ...hasLabelErrors(labels, JOB_NAME_LABEL, stringAt(metadata['name'])),
  ]
  const selector = parsedSelector(spec['selector'], 'spec.selector')
  if (selector !== undefined && !selector.matches({ [CONTROLLER_UID_LABEL]: uid })) errors.push(fieldInvalid('spec.selector', spec['selector'] ?? null, '`selector` not auto-generated'))
  return errors
}

/** Problems of a (defaulted) Job; with `old`, also the changes an update may not make. */
export function jobErrors(job: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(job['spec'])
  const manual = spec['manualSelector'] === true
  const uid = stringAt(objectAt(job['metadata'])['uid'])
  const errors: FieldError[] = []
  if (isSet(spec['selector'])) errors.push(...selectorErrors(spec['selector'], 'spec.selector'), ...selectorMatchesTemplateErrors(spec))
  else if (manual) errors.push(fieldRequired('spec.selector'))
  if (old === undefined && !manual && uid !== '') errors.push(...generatedSelectorErrors(job, spec))
  errors.push(...jobSpecErrors(spec, 'spec'))
  if (old !== undefined) {
    const previous = objectAt(old['spec'])
    // A Job stored without its generated selector gets it (and the matching template labels) from
    // the job controller's first update; from then on both are immutable.
    const selectorPending = !isSet(previous['selector']) && !manual
    if (selectorPending && isSet(spec['selector']) && uid !== '') errors.push(...generatedSelectorErrors(job, spec))
    const immutable = selectorPending ? ['completions', 'completionMode'] : ['completions', 'selector', 'template', 'completionMode']
    for (const field of immutable) errors.push(...immutableErrors(spec[field], previous[field], `spec.${field}`))
  }
  return errors
}
