/**
 * What the Job controller reads from a Job and its pods: the effective selector (generated from
 * the uid unless `manualSelector`), pod outcomes, completion indexes of Indexed Jobs, and the
 * `status.completedIndexes` text (`0-2,5`), following kube-controller-manager's job controller
 * (job_controller.go, indexed_job_utils.go).
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import { CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL } from '../api/server/kinds/job.ts'
import { annotationsOf, listAt, metadataOf, nameOf, numberAt, objectAt, specOf, statusOf, stringAt, stringMapAt, uidOf } from './object-fields.ts'
import { podPhase } from './pods.ts'

export { CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL }

/** The annotation (and label) naming an Indexed Job pod's completion index. */
export const JOB_COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index'

/** True when the Job's selector is generated from its uid (the default). */
export function hasGeneratedSelector(job: JsonObject): boolean {
  return specOf(job)['manualSelector'] !== true
}

/** The labels a generated selector puts on the pod template: uid and name, new and legacy keys. */
export function generatedLabels(job: JsonObject): Record<string, string> {
  const uid = uidOf(job)
  const name = nameOf(job)
  return { [CONTROLLER_UID_LABEL]: uid, [LEGACY_CONTROLLER_UID_LABEL]: uid, [JOB_NAME_LABEL]: name, [LEGACY_JOB_NAME_LABEL]: name }
}

/**
 * The Job with its generated selector and template labels filled in, or the Job itself when it
 * has them (or selects manually). Jobs created through the API are stored without them because
 * the uid is assigned after admission (see api/server/kinds/job.ts).
 */
export function withGeneratedSelector(job: JsonObject): JsonObject {
  const spec = specOf(job)
  if (!hasGeneratedSelector(job) || isJsonObject(spec['selector'])) return job
  const template = objectAt(spec['template'])
  const templateMetadata = metadataOf(template)
  const labels = { ...generatedLabels(job), ...stringMapAt(templateMetadata['labels']) }
  const selector = { matchLabels: { [CONTROLLER_UID_LABEL]: uidOf(job) } }
  return { ...job, spec: { ...spec, selector, template: { ...template, metadata: { ...templateMetadata, labels } } } }
}

/** True when the Job's selector is missing but generated ones are wanted: the controller writes it. */
export function needsGeneratedSelector(job: JsonObject): boolean {
  return hasGeneratedSelector(job) && !isJsonObject(specOf(job)['selector'])
}

/** `spec.completions`, undefined when unset (a work-queue Job: done when any pod succeeds). */
export function completionsOf(job: JsonObject): number | undefined {
  const value = specOf(job)['completions']
  return typeof value === 'number' ? value : undefined
}

export function parallelismOf(job: JsonObject): number {
  return Math.max(0, numberAt(specOf(job)['parallelism'], 1))
}

export function backoffLimitOf(job: JsonObject): number {
  return Math.max(0, numberAt(specOf(job)['backoffLimit'], 6))
}

export function isIndexed(job: JsonObject): boolean {
  return specOf(job)['completionMode'] === 'Indexed'
}

/** The pod's completion index, or undefined when absent or not a valid index below `completions`. */
export function completionIndexOf(pod: JsonObject, completions: number): number | undefined {
  const text = annotationsOf(pod)[JOB_COMPLETION_INDEX_ANNOTATION]
  if (text === undefined || !/^(0|[1-9][0-9]*)$/.test(text)) return undefined
  const index = Number(text)
  return index < completions ? index : undefined
}

/** The Job condition of `type` whose status is True, if any. */
export function trueCondition(job: JsonObject, type: string): JsonObject | undefined {
  for (const condition of listAt(statusOf(job)['conditions'])) {
    if (isJsonObject(condition) && condition['type'] === type && condition['status'] === 'True') return condition
  }
  return undefined
}

/** True when the Job finished: a True Complete or Failed condition. */
export function isJobFinished(job: JsonObject): boolean {
  return trueCondition(job, 'Complete') !== undefined || trueCondition(job, 'Failed') !== undefined
}

/** The Job's finishing condition type, if finished. */
export function jobOutcome(job: JsonObject): 'Complete' | 'Failed' | undefined {
  if (trueCondition(job, 'Complete') !== undefined) return 'Complete'
  if (trueCondition(job, 'Failed') !== undefined) return 'Failed'
  return undefined
}

/** Pod outcomes: finished pods by phase. */
export function isPodSucceeded(pod: JsonObject): boolean {
  return podPhase(pod) === 'Succeeded'
}

export function isPodFailed(pod: JsonObject): boolean {
  return podPhase(pod) === 'Failed'
}

/** The container restarts of a pod (what backoffLimit counts under restartPolicy OnFailure). */
export function podRestarts(pod: JsonObject): number {
  let total = 0
  for (const item of [...listAt(statusOf(pod)['containerStatuses']), ...listAt(statusOf(pod)['initContainerStatuses'])]) total += numberAt(objectAt(item)['restartCount'], 0)
  return total
}

/** Sorted distinct indexes as Kubernetes writes `completedIndexes`: `1,3-5,7`. */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b)
  const parts: string[] = []
  let start = 0
  while (start < sorted.length) {
    let end = start
    while (end + 1 < sorted.length && sorted[end + 1] === (sorted[end] as number) + 1) end++
    parts.push(end === start ? String(sorted[start]) : `${sorted[start]}-${sorted[end]}`)
    start = end + 1
  }
  return parts.join(',')
}

/** The reverse of formatIndexes (invalid parts are skipped). */
export function parseIndexes(text: string): Set<number> {
  const indexes = new Set<number>()
  for (const part of text.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim())
    if (match === null) continue
    const first = Number(match[1])
    const last = match[2] === undefined ? first : Number(match[2])
    for (let index = first; index <= last && index - first < 1_000_000; index++) indexes.add(index)
  }
  return indexes
}

/** The JobStatus' time field in epoch ms, if set. */
export function statusTimeMs(job: JsonObject, field: 'startTime' | 'completionTime'): number | undefined {
  const text = stringAt(statusOf(job)[field])
  const parsed = text === '' ? Number.NaN : Date.parse(text)
  return Number.isNaN(parsed) ? undefined : parsed
}
