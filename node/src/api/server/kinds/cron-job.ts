/**
 * CronJobs (batch/v1): defaults (`SetDefaults_CronJob`) and validation (`validateCronJobSpec`):
 * a valid schedule (see cron.ts), time zone, concurrency policy, history limits, and a job
 * template whose selector the controller will generate.
 */
import type { JsonObject, JsonValue } from '../../machinery/canonical.ts'
import { fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { cronScheduleError, isKnownTimeZone } from './cron.ts'
import { enumErrors, nonNegativeErrors } from './field-checks.ts'
import { ensureObject, isSet, objectAt, setDefault, setDefaultUnlessNonZero, stringAt } from './json-access.ts'
import { jobSpecErrors } from './job.ts'
import { labelMapErrors } from './labels.ts'
import { defaultPodTemplateInPlace } from './pod-spec.ts'

/** Finished Jobs kept for inspection: three successful, one failed. */
const SUCCESSFUL_JOBS_HISTORY_LIMIT_DEFAULT = 3
const FAILED_JOBS_HISTORY_LIMIT_DEFAULT = 1

/** Fills a CronJob's defaults in place (the job template gets only pod template defaults). */
export function defaultCronJob(cronJob: JsonObject): void {
  const spec = ensureObject(cronJob, 'spec')
  setDefaultUnlessNonZero(spec, 'concurrencyPolicy', 'Allow')
  setDefault(spec, 'suspend', false)
  setDefault(spec, 'successfulJobsHistoryLimit', SUCCESSFUL_JOBS_HISTORY_LIMIT_DEFAULT)
  setDefault(spec, 'failedJobsHistoryLimit', FAILED_JOBS_HISTORY_LIMIT_DEFAULT)
  const jobSpec = ensureObject(ensureObject(spec, 'jobTemplate'), 'spec')
  defaultPodTemplateInPlace(ensureObject(jobSpec, 'template'))
}

/**
 * `spec.schedule`: required and parseable. A `TZ=`/`CRON_TZ=` prefix is refused on new
 * schedules in favour of `spec.timeZone`, but kept when an existing schedule already had one.
 */
function scheduleErrors(schedule: JsonValue | undefined, oldSchedule: string | undefined, hasTimeZone: boolean): FieldError[] {
  const text = stringAt(schedule)
  if (text === '') return [fieldRequired('spec.schedule')]
  const errors: FieldError[] = []
  const parseError = cronScheduleError(text)
  if (parseError !== undefined) errors.push(fieldInvalid('spec.schedule', text, parseError))
  const allowTimeZonePrefix = oldSchedule?.includes('TZ') ?? false
  if (allowTimeZonePrefix && text.includes('TZ') && hasTimeZone) errors.push(fieldInvalid('spec.schedule', text, 'cannot use both timeZone field and TZ or CRON_TZ in schedule'))
  if (!allowTimeZonePrefix && text.includes('TZ')) errors.push(fieldInvalid('spec.schedule', text, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'))
  return errors
}

function timeZoneErrors(value: JsonValue | undefined): FieldError[] {
  if (!isSet(value)) return []
  const zone = stringAt(value)
  if (zone === '') return [fieldInvalid('spec.timeZone', value, 'timeZone must be nil or non-empty string')]
  if (zone.toLowerCase() === 'local') return [fieldInvalid('spec.timeZone', zone, 'timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones')]
  return isKnownTimeZone(zone) ? [] : [fieldInvalid('spec.timeZone', zone, `unknown time zone ${zone}`)]
}

/** The job template: a valid JobSpec without a selector (the controller generates one per Job). */
function jobTemplateErrors(value: JsonValue | undefined): FieldError[] {
  const template = objectAt(value)
  const spec = objectAt(template['spec'])
  const errors = [...labelMapErrors(objectAt(template['metadata'])['labels'], 'spec.jobTemplate.metadata.labels'), ...jobSpecErrors(spec, 'spec.jobTemplate.spec')]
  if (isSet(spec['selector'])) errors.push(fieldInvalid('spec.jobTemplate.spec.selector', spec['selector'], '`selector` will be auto-generated'))
  if (spec['manualSelector'] === true) errors.push(fieldNotSupported('spec.jobTemplate.spec.manualSelector', true, ['nil', 'false']))
  return errors
}

/** Problems of a (defaulted) CronJob. */
export function cronJobErrors(cronJob: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(cronJob['spec'])
  const oldSchedule = old === undefined ? undefined : stringAt(objectAt(old['spec'])['schedule'])
  return [
    ...scheduleErrors(spec['schedule'], oldSchedule, isSet(spec['timeZone'])),
    ...nonNegativeErrors(spec['startingDeadlineSeconds'], 'spec.startingDeadlineSeconds'),
    ...timeZoneErrors(spec['timeZone']),
    ...enumErrors(spec['concurrencyPolicy'], 'spec.concurrencyPolicy', ['Allow', 'Forbid', 'Replace']),
    ...jobTemplateErrors(spec['jobTemplate']),
    ...nonNegativeErrors(spec['successfulJobsHistoryLimit'], 'spec.successfulJobsHistoryLimit', 32),
    ...nonNegativeErrors(spec['failedJobsHistoryLimit'], 'spec.failedJobsHistoryLimit', 32),
  ]
}
