// Goal: Jobs and CronJobs get Kubernetes' defaults (including the uid-based selector of a Job
// created with a known uid) and are refused with Kubernetes' field paths and reasons when a
// batch rule is broken. Method: tables over applyDefaults and validateKind.
import t from 'tap'
import { formatFieldError } from '../../../node/src/api/machinery/field-errors.ts'
import { accepted, container, defaulted, errorsOf, refused, type Loose } from './kinds-fixtures.ts'

const jobTemplate = (spec: Loose = {}, labels?: Loose): Loose => ({ ...(labels === undefined ? {} : { metadata: { labels } }), spec: { restartPolicy: 'Never', containers: [container()], ...spec } })
const job = (spec: Loose = {}, metadata: Loose = {}): Loose => ({
  apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'backup', namespace: 'default', ...metadata }, spec: { template: jobTemplate(), ...spec },
})
const cronJob = (spec: Loose = {}, name = 'nightly'): Loose => ({
  apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name, namespace: 'default' }, spec: { schedule: '30 2 * * *', jobTemplate: { spec: { template: jobTemplate() } }, ...spec },
})

t.test('Job defaults: one completion, parallelism 1, six retries, NonIndexed, not suspended', async (t) => {
  t.match(defaulted('Job', job()).spec, { completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed', suspend: false })
  const parallel = defaulted('Job', job({ parallelism: 5 })).spec
  t.equal(parallel.parallelism, 5)
  t.notOk('completions' in parallel, 'a work queue (parallelism without completions) keeps completions unset')
  t.equal(defaulted('Job', job({ completions: 3 })).spec.parallelism, 1)
  t.same(defaulted('Job', job({ template: jobTemplate({}, { app: 'backup' }) })).metadata.labels, { app: 'backup' }, 'a Job without labels takes its template labels')
  t.same(defaulted('Job', job({ template: jobTemplate({}, { app: 'backup' }) }, { labels: { team: 'ops' } })).metadata.labels, { team: 'ops' })
  t.equal(defaulted('Job', job()).spec.template.spec.restartPolicy, 'Never')
})

t.test('a Job created with a uid gets the generated selector and labels', async (t) => {
  const uid = '5f1c6f6e-8d1c-4a4e-9a8e-2f7d9c1b3a55'
  const result = defaulted('Job', job({}, { uid }))
  t.same(result.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } })
  t.same(result.spec.template.metadata.labels, { 'batch.kubernetes.io/controller-uid': uid, 'controller-uid': uid, 'batch.kubernetes.io/job-name': 'backup', 'job-name': 'backup' })
  accepted(t, 'Job', job({}, { uid }))
  refused(t, 'Job', job({ template: jobTemplate({}, { 'job-name': 'other' }) }, { uid }), { field: 'spec.template.metadata.labels[job-name]', type: 'FieldValueInvalid', detail: "must be 'backup'" })
  refused(t, 'Job', job({ selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'someone-else' } } }, { uid }), { field: 'spec.selector', type: 'FieldValueInvalid', detail: '`selector` not auto-generated' })
  t.notOk('selector' in defaulted('Job', job()).spec, 'without a uid the job controller generates the selector later')
  accepted(t, 'Job', job(), undefined, 'a Job without uid or selector is accepted')
})

t.test('manual selectors: required, valid, matching the template', async (t) => {
  refused(t, 'Job', job({ manualSelector: true }), { field: 'spec.selector', type: 'FieldValueRequired' })
  refused(t, 'Job', job({ manualSelector: true, selector: { matchLabels: { app: 'backup' } } }), { field: 'spec.template.metadata.labels', type: 'FieldValueInvalid', detail: '`selector` does not match template `labels`' })
  accepted(t, 'Job', job({ manualSelector: true, selector: { matchLabels: { app: 'backup' } }, template: jobTemplate({}, { app: 'backup' }) }, { uid: 'u-1' }))
  const storedWithoutSelector = defaulted('Job', job())
  const labelled = { ...storedWithoutSelector, metadata: { ...storedWithoutSelector.metadata, uid: 'u-1', labels: { team: 'ops' } } }
  accepted(t, 'Job', labelled, { ...storedWithoutSelector, metadata: { ...storedWithoutSelector.metadata, uid: 'u-1' } }, 'a Job awaiting its generated selector may be updated')
  refused(t, 'Job', job({}, { uid: 'u-1' }), { field: 'spec.selector', type: 'FieldValueInvalid', detail: 'field is immutable' }, job({ selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-0' } } }, { uid: 'u-1' }))
})

t.test('Job spec rules: counts, completion mode, restart policy', async (t) => {
  const restart = errorsOf('Job', job({ template: jobTemplate({ restartPolicy: undefined }) }))
  t.same(restart.map(formatFieldError), ['spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'], 'the pod default Always is not allowed for Jobs')
  refused(t, 'Job', job({ parallelism: -1 }), { field: 'spec.parallelism', type: 'FieldValueInvalid', detail: 'must be greater than or equal to 0' })
  refused(t, 'Job', job({ completions: -2 }), { field: 'spec.completions', type: 'FieldValueInvalid' })
  refused(t, 'Job', job({ backoffLimit: -1 }), { field: 'spec.backoffLimit', type: 'FieldValueInvalid' })
  refused(t, 'Job', job({ activeDeadlineSeconds: -1 }), { field: 'spec.activeDeadlineSeconds', type: 'FieldValueInvalid' })
  refused(t, 'Job', job({ ttlSecondsAfterFinished: -1 }), { field: 'spec.ttlSecondsAfterFinished', type: 'FieldValueInvalid' })
  refused(t, 'Job', job({ completionMode: 'Ordered' }), { field: 'spec.completionMode', type: 'FieldValueNotSupported', detail: '"NonIndexed", "Indexed"' })
  refused(t, 'Job', job({ completionMode: 'Indexed', parallelism: 2 }), { field: 'spec.completions', type: 'FieldValueRequired', detail: 'when completion mode is Indexed' })
  refused(t, 'Job', job({ completionMode: 'Indexed', completions: 200000 }), { field: 'spec.completions', type: 'FieldValueInvalid' })
  accepted(t, 'Job', job({ completionMode: 'Indexed', completions: 10, parallelism: 3, template: jobTemplate({ restartPolicy: 'OnFailure' }) }))
})

t.test('Job updates may not change completions, selector, template or completion mode', async (t) => {
  const stored = defaulted('Job', job({}, { uid: 'u-9' }))
  const changedTemplate = { ...stored, spec: { ...stored.spec, template: { ...stored.spec.template, spec: { ...stored.spec.template.spec, containers: [container({ image: 'registry.local/app:9' })] } } } }
  refused(t, 'Job', changedTemplate, { field: 'spec.template', type: 'FieldValueInvalid', detail: 'field is immutable' }, stored)
  refused(t, 'Job', { ...stored, spec: { ...stored.spec, completions: 4 } }, { field: 'spec.completions', type: 'FieldValueInvalid', detail: 'field is immutable' }, stored)
  accepted(t, 'Job', { ...stored, spec: { ...stored.spec, suspend: true, parallelism: 3 } }, stored, 'suspend and parallelism may change')
})

t.test('CronJob defaults: Allow, not suspended, 3 successful and 1 failed Jobs kept', async (t) => {
  const result = defaulted('CronJob', cronJob())
  t.match(result.spec, { concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 })
  t.match(result.spec.jobTemplate.spec.template.spec, { dnsPolicy: 'ClusterFirst', restartPolicy: 'Never', containers: [{ terminationMessagePolicy: 'File' }] })
  t.notOk('backoffLimit' in result.spec.jobTemplate.spec, 'the job template is defaulted when each Job is created')
  accepted(t, 'CronJob', cronJob())
  for (const schedule of ['@hourly', '@daily', '@every 1h30m', '*/15 9-17 * * mon-fri', '0 0 1,15 * ?']) accepted(t, 'CronJob', cronJob({ schedule }), undefined, `schedule ${schedule}`)
})

t.test('CronJob rules: schedule, time zone, policy, limits, job template, name length', async (t) => {
  refused(t, 'CronJob', cronJob({ schedule: '' }), { field: 'spec.schedule', type: 'FieldValueRequired' })
  const invalid = errorsOf('CronJob', cronJob({ schedule: '61 * * * *' }))
  t.same(invalid.map(formatFieldError), ['spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'])
  refused(t, 'CronJob', cronJob({ schedule: 'every day' }), { field: 'spec.schedule', type: 'FieldValueInvalid', detail: 'expected exactly 5 fields, found 2: [every day]' })
  refused(t, 'CronJob', cronJob({ schedule: 'TZ=UTC 0 * * * *' }), { field: 'spec.schedule', type: 'FieldValueInvalid', detail: 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead' })
  refused(t, 'CronJob', cronJob({ timeZone: 'Mars/Olympus' }), { field: 'spec.timeZone', type: 'FieldValueInvalid', detail: 'unknown time zone Mars/Olympus' })
  accepted(t, 'CronJob', cronJob({ timeZone: 'Europe/Berlin' }))
  refused(t, 'CronJob', cronJob({ concurrencyPolicy: 'Queue' }), { field: 'spec.concurrencyPolicy', type: 'FieldValueNotSupported', detail: '"Allow", "Forbid", "Replace"' })
  refused(t, 'CronJob', cronJob({ startingDeadlineSeconds: -10 }), { field: 'spec.startingDeadlineSeconds', type: 'FieldValueInvalid' })
  refused(t, 'CronJob', cronJob({ successfulJobsHistoryLimit: -1 }), { field: 'spec.successfulJobsHistoryLimit', type: 'FieldValueInvalid' })
  refused(t, 'CronJob', cronJob({ failedJobsHistoryLimit: -1 }), { field: 'spec.failedJobsHistoryLimit', type: 'FieldValueInvalid' })
  refused(t, 'CronJob', cronJob({ jobTemplate: { spec: { selector: { matchLabels: { a: 'b' } }, template: jobTemplate({}, { a: 'b' }) } } }), { field: 'spec.jobTemplate.spec.selector', type: 'FieldValueInvalid', detail: '`selector` will be auto-generated' })
  refused(t, 'CronJob', cronJob({ jobTemplate: { spec: { template: jobTemplate({ restartPolicy: 'Always' }) } } }), { field: 'spec.jobTemplate.spec.template.spec.restartPolicy', type: 'FieldValueNotSupported' })
  refused(t, 'CronJob', cronJob({}, 'a'.repeat(53)), { field: 'metadata.name', type: 'FieldValueInvalid', detail: 'must be no more than 52 characters' })
  const stored = defaulted('CronJob', cronJob({ schedule: 'CRON_TZ=UTC 0 * * * *' }))
  accepted(t, 'CronJob', cronJob({ schedule: 'CRON_TZ=UTC 0 * * * *', suspend: true }), stored, 'an existing TZ prefix may stay')
})
