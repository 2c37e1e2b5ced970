/**
 * The Job controller as a pure reconcile: given a Job, the pods it controls, the time and a seeded
 * Random (for pod names), plan the pod creations and deletions that run the Job to completion,
 * and the status `kubectl get jobs` and `describe job` show.
 *
 * Behaviour follows kube-controller-manager's job controller (syncJob, manageJob):
 * - Selector: unless `manualSelector`, pods are selected by the Job's uid. Jobs created through
 *   the API are stored without the generated selector (the uid comes after admission); the
 *   controller works with the generated one (job-pods.ts) and, when asked, writes it first.
 * - Active pods: `min(parallelism, completions − succeeded)` (a Job without completions is a
 *   work queue: pods are started until one succeeds, then no new ones). Indexed Jobs run one pod
 *   per pending index (annotation and label `batch.kubernetes.io/job-completion-index`), the
 *   lowest indexes first, and delete pods of indexes that already succeeded or run twice.
 * - Succeeded and failed counts come from pod phases and never go down: a finished pod that is
 *   removed later stays counted (later Kubernetes versions guarantee the same with finalizers).
 * - Failure: more failed pods than `backoffLimit` (or, under restartPolicy OnFailure, as many
 *   container restarts) → condition Failed, reason BackoffLimitExceeded; running longer than
 *   `activeDeadlineSeconds` since startTime → DeadlineExceeded. Active pods are then deleted.
 * - Completion: `completions` successes (every index, for Indexed Jobs) → condition Complete,
 *   completionTime, event Completed; leftover active pods are deleted.
 * - `suspend`: active pods are deleted and condition Suspended is True; resuming resets
 *   startTime, so activeDeadlineSeconds counts from the resume.
 * - `ttlSecondsAfterFinished` (the TTL-after-finished controller's job): the finished Job is
 *   deleted that long after it finished; its pods go with it by garbage collection.
 *
 * Not modelled: the exponential delay (10 s, 20 s, …) before replacing failed pods, and the
 * JOB_COMPLETION_INDEX environment variable of Indexed pods (the annotation carries the index).
 */
import type { Random } from '../../../lib/random.ts'
import { cloneJson, type JsonObject } from '../api/machinery/canonical.ts'
import { generateName } from '../api/machinery/names.ts'
import { labelSelectorFromObject, type LabelSelector, type LabelSelectorObject } from '../api/machinery/selectors.ts'
import { newEvent } from './events.ts'
import {
  backoffLimitOf,
  completionIndexOf,
  completionsOf,
  formatIndexes,
  isIndexed,
  isPodFailed,
  isPodSucceeded,
  JOB_COMPLETION_INDEX_ANNOTATION,
  jobOutcome,
  needsGeneratedSelector,
  parallelismOf,
  parseIndexes,
  podRestarts,
  statusTimeMs,
  trueCondition,
  withGeneratedSelector,
} from './job-pods.ts'
import {
  controllerReferenceTo,
  equalIgnoringNullFields,
  formatTime,
  isBeingDeleted,
  labelsOf,
  listAt,
  metadataOf,
  nameOf,
  namespaceOf,
  numberAt,
  objectAt,
  parseTimeMs,
  specOf,
  statusOf,
  stringAt,
  stringMapAt,
  uidOf,
} from './object-fields.ts'
import { PlanBuilder, PODS, type Plan, type ResourceRef } from './plan.ts'
import { comparePodsForDeletion, isPodActive } from './pods.ts'

/** Jobs: batch/v1. */
export const JOBS: ResourceRef = { group: 'batch', resource: 'jobs', kind: 'Job', apiVersion: 'batch/v1', namespaced: true }
/** The most pods one plan creates or deletes (Kubernetes' burstReplicas). */
export const JOB_BURST_PODS = 500
const COMPONENT = 'job-controller'

export interface JobReconcileOptions {
  /**
   * Write the generated selector and template labels into a Job stored without them (default
   * true). The controller selects with the generated selector either way.
   */
  readonly writeGeneratedSelector?: boolean
  /** The most pods created or deleted by one plan (default JOB_BURST_PODS). */
  readonly burstPods?: number
}

/** What one reconcile knows while it plans. */
interface JobContext {
  readonly job: JsonObject
  readonly nowMs: number
  readonly random: Random
  readonly burstPods: number
  readonly plan: PlanBuilder
  event(reason: string, message: string, type?: 'Normal' | 'Warning'): void
}

/**
 * Plans one reconcile of `storedJob`.
 *
 * @param controlledPods pods whose controller owner reference has the Job's uid (finished and
 *   terminating ones included).
 * @param nowMs the time: startTime, deadlines, TTL, event and condition timestamps.
 * @param random names new pods; seed it for replayable plans.
 */
export function reconcileJob(storedJob: JsonObject, controlledPods: readonly JsonObject[], nowMs: number, random: Random, options: JobReconcileOptions = {}): Plan {
  const plan = new PlanBuilder()
  if (isBeingDeleted(storedJob)) return plan.build()
  const job = { ...withGeneratedSelector(storedJob), kind: JOBS.kind, apiVersion: JOBS.apiVersion }
  const selector = selectorOf(job)
  if (selector === undefined) return plan.build() // Validation rejects bad selectors; nothing safe to do.
  let sequence = 0
  const context: JobContext = {
    job,
    nowMs,
    random,
    burstPods: options.burstPods ?? JOB_BURST_PODS,
    plan,
    event: (reason, message, type = 'Normal') => {
      plan.add({ type: 'event', event: newEvent({ involved: job, reason, message, type, component: COMPONENT, nowMs, sequence: sequence++ }) })
    },
  }
  const pods = controlledPods.filter((pod) => selector.matches(labelsOf(pod)))
  const outcome = jobOutcome(storedJob)
  if (outcome !== undefined) {
    deletePods(context, pods.filter(isPodActive))
    expireFinished(context, outcome)
    return plan.build()
  }
  if (needsGeneratedSelector(storedJob) && options.writeGeneratedSelector !== false) {
    plan.add({ type: 'update', resource: JOBS, namespace: namespaceOf(job), name: nameOf(job), object: { ...job, status: statusOf(storedJob) } })
  }
  const status = syncJob(context, pods)
  if (!equalIgnoringNullFields(statusOf(storedJob), status)) {
    plan.add({ type: 'updateStatus', resource: JOBS, namespace: namespaceOf(job), name: nameOf(job), object: { ...job, status } })
  }
  const outcomeNow = trueCondition({ status }, 'Complete') !== undefined ? 'Complete' : trueCondition({ status }, 'Failed') !== undefined ? 'Failed' : undefined
  if (outcomeNow !== undefined) expireFinished({ ...context, job: { ...job, status } }, outcomeNow, false)
  return plan.build()
}

function selectorOf(job: JsonObject): LabelSelector | undefined {
  try {
    return labelSelectorFromObject(objectAt(specOf(job)['selector']) as LabelSelectorObject)
  } catch {
    return undefined
  }
}

/** Counts, decides and manages pods; returns the status to write. */
function syncJob(context: JobContext, pods: readonly JsonObject[]): JsonObject {
  const { job, nowMs } = context
  const previous = statusOf(job)
  const completions = completionsOf(job)
  const indexed = isIndexed(job) && completions !== undefined
  let active = pods.filter(isPodActive)
  const succeededPods = pods.filter(isPodSucceeded)
  const failedCount = Math.max(numberAt(previous['failed'], 0), pods.filter(isPodFailed).length)
  const succeededIndexes = new Set<number>()
  if (indexed) {
    for (const index of parseIndexes(stringAt(previous['completedIndexes']))) if (index < completions) succeededIndexes.add(index)
    for (const pod of succeededPods) {
      const index = completionIndexOf(pod, completions)
      if (index !== undefined) succeededIndexes.add(index)
    }
  }
  const succeededCount = indexed ? succeededIndexes.size : Math.max(numberAt(previous['succeeded'], 0), succeededPods.length)
  const conditions = listAt(previous['conditions']).map(objectAt)
  const suspended = specOf(job)['suspend'] === true
  // Kept as written: formatting the parsed time again could only differ in precision.
  let startTime = stringAt(previous['startTime'])
  let completionTimeMs: number | undefined

  const wasSuspended = conditions.some((condition) => condition['type'] === 'Suspended' && condition['status'] === 'True')
  if (suspended) {
    deletePods(context, active)
    active = []
    if (!wasSuspended) {
      setCondition(conditions, condition('Suspended', 'JobSuspended', 'Job suspended', nowMs))
      context.event('Suspended', 'Job suspended')
    }
  } else {
    if (wasSuspended) {
      setCondition(conditions, { ...condition('Suspended', 'JobResumed', 'Job resumed', nowMs), status: 'False' })
      context.event('Resumed', 'Job resumed')
      startTime = formatTime(nowMs)
    }
    if (startTime === '') startTime = formatTime(nowMs)
    const failure = failureOf(job, active, failedCount, parseTimeMs(startTime) ?? nowMs, nowMs, context.plan)
    const complete = indexed ? succeededIndexes.size >= completions : completions !== undefined ? succeededCount >= completions : succeededCount > 0 && active.length === 0
    if (failure !== undefined) {
      deletePods(context, active)
      active = []
      setCondition(conditions, condition('Failed', failure.reason, failure.message, nowMs))
      context.event(failure.reason, failure.message, 'Warning')
    } else if (complete) {
      deletePods(context, active)
      active = []
      completionTimeMs = nowMs
      setCondition(conditions, condition('Complete', undefined, undefined, nowMs))
      context.event('Completed', 'Job completed')
    } else if (indexed) {
      active = manageIndexed(context, active, succeededIndexes, completions)
    } else {
      const wantActive = completions !== undefined ? Math.min(parallelismOf(job), Math.max(0, completions - succeededCount)) : succeededCount > 0 ? Math.min(active.length, parallelismOf(job)) : parallelismOf(job)
      active = manageCount(context, active, wantActive)
    }
  }

  const status: JsonObject = {}
  if (conditions.length > 0) status['conditions'] = conditions
  if (startTime !== '') status['startTime'] = startTime
  if (completionTimeMs !== undefined) status['completionTime'] = formatTime(completionTimeMs)
  if (active.length > 0) status['active'] = active.length
  if (succeededCount > 0) status['succeeded'] = succeededCount
  if (failedCount > 0) status['failed'] = failedCount
  if (indexed && succeededIndexes.size > 0) status['completedIndexes'] = formatIndexes(succeededIndexes)
  return status
}

/** Why the Job fails now, if it does; offers a wake-up at the active deadline otherwise. */
function failureOf(job: JsonObject, active: readonly JsonObject[], failedCount: number, startTimeMs: number, nowMs: number, plan: PlanBuilder): { reason: string; message: string } | undefined {
  const backoffLimit = backoffLimitOf(job)
  const backoff = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }
  if (failedCount > backoffLimit) return backoff
  const restartPolicy = stringAt(specOf(objectAt(specOf(job)['template']))['restartPolicy'])
  if (restartPolicy === 'OnFailure') {
    // Failed containers restart in place under OnFailure; their restarts are the retries.
    const restarts = failedCount + active.reduce((total, pod) => total + podRestarts(pod), 0)
    if (backoffLimit === 0 ? restarts > 0 : restarts >= backoffLimit && restarts > 0) return backoff
  }
  const deadlineSeconds = specOf(job)['activeDeadlineSeconds']
  if (typeof deadlineSeconds === 'number') {
    const deadlineMs = startTimeMs + deadlineSeconds * 1000
    if (nowMs >= deadlineMs) return { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }
    plan.requeueAfter(deadlineMs - nowMs)
  }
  return undefined
}

/** Creates or deletes pods so that `wantActive` run; returns the pods active after the plan. */
function manageCount(context: JobContext, active: readonly JsonObject[], wantActive: number): JsonObject[] {
  if (active.length > wantActive) {
    const victims = [...active].sort(comparePodsForDeletion).slice(0, Math.min(active.length - wantActive, context.burstPods))
    deletePods(context, victims)
    const gone = new Set(victims.map(uidOf))
    return active.filter((pod) => !gone.has(uidOf(pod)))
  }
  const created: JsonObject[] = []
  const taken = new Set(active.map(nameOf))
  for (let count = 0; count < Math.min(wantActive - active.length, context.burstPods); count++) {
    const pod = podForJob(context, undefined, taken)
    taken.add(nameOf(pod))
    created.push(createPod(context, pod))
  }
  return [...active, ...created]
}

/**
 * Indexed Jobs: deletes pods without a valid index, of an index that already succeeded, and
 * duplicates of a running index (keeping the most valuable); then runs the lowest pending indexes.
 */
function manageIndexed(context: JobContext, active: readonly JsonObject[], succeeded: ReadonlySet<number>, completions: number): JsonObject[] {
  const byIndex = new Map<number, JsonObject[]>()
  const surplus: JsonObject[] = []
  for (const pod of active) {
    const index = completionIndexOf(pod, completions)
    if (index === undefined || succeeded.has(index)) surplus.push(pod)
    else byIndex.set(index, [...(byIndex.get(index) ?? []), pod])
  }
  const kept: JsonObject[] = []
  for (const group of byIndex.values()) {
    const ordered = [...group].sort(comparePodsForDeletion)
    surplus.push(...ordered.slice(0, -1))
    kept.push(ordered[ordered.length - 1] as JsonObject)
  }
  const wantActive = Math.min(parallelismOf(context.job), completions - succeeded.size)
  if (kept.length > wantActive) {
    // Fewer wanted than run (parallelism lowered): the highest indexes stop first.
    kept.sort((a, b) => (completionIndexOf(b, completions) ?? 0) - (completionIndexOf(a, completions) ?? 0))
    surplus.push(...kept.splice(0, kept.length - wantActive))
  }
  deletePods(context, surplus.slice(0, context.burstPods))
  const taken = new Set(active.map(nameOf))
  const created: JsonObject[] = []
  for (let index = 0; index < completions && kept.length + created.length < wantActive && created.length < context.burstPods; index++) {
    if (succeeded.has(index) || byIndex.has(index)) continue
    const pod = podForJob(context, index, taken)
    taken.add(nameOf(pod))
    created.push(createPod(context, pod))
  }
  return [...kept, ...created]
}

function createPod(context: JobContext, pod: JsonObject): JsonObject {
  context.plan.add({ type: 'create', resource: PODS, namespace: namespaceOf(context.job), object: pod })
  context.event('SuccessfulCreate', `Created pod: ${nameOf(pod)}`)
  return pod
}

function deletePods(context: JobContext, pods: readonly JsonObject[]): void {
  for (const pod of pods) {
    if (isBeingDeleted(pod)) continue
    context.plan.add({ type: 'delete', resource: PODS, namespace: namespaceOf(pod), name: nameOf(pod), uid: uidOf(pod) })
    context.event('SuccessfulDelete', `Deleted pod: ${nameOf(pod)}`)
  }
}

/**
 * A new pod from the Job's template, owned by the Job, named `<job>-<5 random chars>`
 * (`<job>-<index>-<5 random chars>` for an Indexed Job's pod, which also carries its index).
 */
export function podForJob(context: Pick<JobContext, 'job' | 'random'>, index: number | undefined, taken: ReadonlySet<string> = new Set()): JsonObject {
  const { job } = context
  const template = objectAt(specOf(job)['template'])
  const templateMetadata = metadataOf(template)
  const prefix = index === undefined ? `${nameOf(job)}-` : `${nameOf(job)}-${index}-`
  let name = generateName(prefix, context.random)
  while (taken.has(name)) name = generateName(prefix, context.random)
  const labels = stringMapAt(templateMetadata['labels'])
  const annotations = stringMapAt(templateMetadata['annotations'])
  if (index !== undefined) {
    labels[JOB_COMPLETION_INDEX_ANNOTATION] = String(index)
    annotations[JOB_COMPLETION_INDEX_ANNOTATION] = String(index)
  }
  const metadata: JsonObject = {
    name,
    generateName: prefix,
    namespace: namespaceOf(job),
    labels,
    ownerReferences: [controllerReferenceTo(job, JOBS.apiVersion, JOBS.kind)],
  }
  if (Object.keys(annotations).length > 0) metadata['annotations'] = annotations
  if (Array.isArray(templateMetadata['finalizers'])) metadata['finalizers'] = cloneJson(templateMetadata['finalizers'])
  return { apiVersion: PODS.apiVersion, kind: PODS.kind, metadata, spec: cloneJson(objectAt(template['spec'])) }
}

/**
 * A finished Job with `ttlSecondsAfterFinished`: deleted once that long has passed since it
 * finished, else a wake-up then. `canDeleteNow` is false for a Job that finishes in this very
 * plan (its status write must land first; the next reconcile deletes it).
 */
function expireFinished(context: JobContext, outcome: 'Complete' | 'Failed', canDeleteNow = true): void {
  const { job, nowMs, plan } = context
  const ttlSeconds = specOf(job)['ttlSecondsAfterFinished']
  if (typeof ttlSeconds !== 'number') return
  const finishedMs = statusTimeMs(job, 'completionTime') ?? parseTimeMs(trueCondition(job, outcome)?.['lastTransitionTime']) ?? nowMs
  const dueMs = finishedMs + ttlSeconds * 1000
  if (nowMs >= dueMs && canDeleteNow) plan.add({ type: 'delete', resource: JOBS, namespace: namespaceOf(job), name: nameOf(job), uid: uidOf(job) })
  else plan.requeueAfter(Math.max(0, dueMs - nowMs))
}

/** A True Job condition, as Kubernetes writes them (probe and transition times both now). */
function condition(type: string, reason: string | undefined, message: string | undefined, nowMs: number): JsonObject {
  const result: JsonObject = { type, status: 'True', lastProbeTime: formatTime(nowMs), lastTransitionTime: formatTime(nowMs) }
  if (reason !== undefined) result['reason'] = reason
  if (message !== undefined) result['message'] = message
  return result
}

/** Replaces the condition of the same type in place, or appends it. */
function setCondition(conditions: JsonObject[], next: JsonObject): void {
  const at = conditions.findIndex((existing) => existing['type'] === next['type'])
  if (at === -1) conditions.push(next)
  else conditions[at] = next
}
