/**
 * The rollout status messages of kubectl (k8s.io/kubectl pkg/polymorphichelpers
 * rollout_status.go), word for word, for Deployments, DaemonSets and StatefulSets. For a
 * Deployment (research/k8s-api.md §4):
 *
 *   1. generation > status.observedGeneration      → "Waiting for deployment spec update to be observed..."
 *   2. condition Progressing, ProgressDeadlineExceeded → error: deployment "x" exceeded its progress deadline
 *   3. updatedReplicas < spec.replicas               → "… N out of M new replicas have been updated..."
 *   4. status.replicas > updatedReplicas             → "… N old replicas are pending termination..."
 *   5. availableReplicas < updatedReplicas           → "… N of M updated replicas are available..."
 *   6. otherwise                                      → deployment "x" successfully rolled out
 *
 * Pure: the command fetches and watches the object and calls this on every version it sees.
 */
import { FlotillaError } from '../../../lib/errors.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { fieldAt, listAt, nameOf, numberAt, stringAt } from './object-fields.ts'

/** What a rollout looks like now: the message to show and whether it is complete. */
export interface RolloutStatus {
  readonly message: string
  readonly done: boolean
}

/** The rollout cannot complete (deadline exceeded) or cannot be followed (wrong strategy). */
export class RolloutError extends FlotillaError {
  override name = 'RolloutError'
}

/** The kinds whose rollouts can be followed. */
export const ROLLOUT_KINDS: ReadonlySet<string> = new Set(['Deployment', 'DaemonSet', 'StatefulSet'])

/**
 * The status of a workload's rollout.
 * @throws RolloutError when the rollout has failed or the kind or strategy has no rollout status.
 */
export function rolloutStatus(kind: string, object: JsonObject): RolloutStatus {
  switch (kind) {
    case 'Deployment':
      return deploymentStatus(object)
    case 'DaemonSet':
      return daemonSetStatus(object)
    case 'StatefulSet':
      return statefulSetStatus(object)
    default:
      throw new RolloutError(`no status viewer has been implemented for ${kind}`)
  }
}

function generation(object: JsonObject): number {
  return numberAt(object, ['metadata', 'generation'])
}

function deploymentStatus(deployment: JsonObject): RolloutStatus {
  const name = nameOf(deployment)
  const status = (key: string): number => numberAt(deployment, ['status', key])
  if (generation(deployment) > status('observedGeneration')) return { message: 'Waiting for deployment spec update to be observed...', done: false }
  const progressing = listAt(deployment, 'status', 'conditions').find((condition) => stringAt(condition, ['type']) === 'Progressing')
  if (progressing !== undefined && stringAt(progressing, ['reason']) === 'ProgressDeadlineExceeded') {
    throw new RolloutError(`deployment "${name}" exceeded its progress deadline`)
  }
  const replicas = fieldAt(deployment, 'spec', 'replicas')
  const updated = status('updatedReplicas')
  if (typeof replicas === 'number' && updated < replicas) {
    return { message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${replicas} new replicas have been updated...`, done: false }
  }
  if (status('replicas') > updated) {
    return { message: `Waiting for deployment "${name}" rollout to finish: ${status('replicas') - updated} old replicas are pending termination...`, done: false }
  }
  if (status('availableReplicas') < updated) {
    return { message: `Waiting for deployment "${name}" rollout to finish: ${status('availableReplicas')} of ${updated} updated replicas are available...`, done: false }
  }
  return { message: `deployment "${name}" successfully rolled out`, done: true }
}

function daemonSetStatus(daemonSet: JsonObject): RolloutStatus {
  const name = nameOf(daemonSet)
  if (stringAt(daemonSet, ['spec', 'updateStrategy', 'type'], 'RollingUpdate') !== 'RollingUpdate') {
    throw new RolloutError('rollout status is only available for RollingUpdate strategy type')
  }
  const status = (key: string): number => numberAt(daemonSet, ['status', key])
  if (generation(daemonSet) > status('observedGeneration')) return { message: 'Waiting for daemon set spec update to be observed...', done: false }
  if (status('updatedNumberScheduled') < status('desiredNumberScheduled')) {
    return { message: `Waiting for daemon set "${name}" rollout to finish: ${status('updatedNumberScheduled')} out of ${status('desiredNumberScheduled')} new pods have been updated...`, done: false }
  }
  if (status('numberAvailable') < status('desiredNumberScheduled')) {
    return { message: `Waiting for daemon set "${name}" rollout to finish: ${status('numberAvailable')} of ${status('desiredNumberScheduled')} updated pods are available...`, done: false }
  }
  return { message: `daemon set "${name}" successfully rolled out`, done: true }
}

function statefulSetStatus(statefulSet: JsonObject): RolloutStatus {
  if (stringAt(statefulSet, ['spec', 'updateStrategy', 'type'], 'RollingUpdate') !== 'RollingUpdate') {
    throw new RolloutError('rollout status is only available for RollingUpdate strategy type')
  }
  const status = (key: string): number => numberAt(statefulSet, ['status', key])
  if (status('observedGeneration') === 0 || generation(statefulSet) > status('observedGeneration')) {
    return { message: 'Waiting for statefulset spec update to be observed...', done: false }
  }
  const replicas = fieldAt(statefulSet, 'spec', 'replicas')
  if (typeof replicas === 'number' && status('readyReplicas') < replicas) {
    return { message: `Waiting for ${replicas - status('readyReplicas')} pods to be ready...`, done: false }
  }
  const partition = fieldAt(statefulSet, 'spec', 'updateStrategy', 'rollingUpdate', 'partition')
  if (typeof partition === 'number') {
    if (typeof replicas === 'number' && status('updatedReplicas') < replicas - partition) {
      return { message: `Waiting for partitioned roll out to finish: ${status('updatedReplicas')} out of ${replicas - partition} new pods have been updated...`, done: false }
    }
    return { message: `partitioned roll out complete: ${status('updatedReplicas')} new pods have been updated...`, done: true }
  }
  const updateRevision = stringAt(statefulSet, ['status', 'updateRevision'])
  const currentRevision = stringAt(statefulSet, ['status', 'currentRevision'])
  if (updateRevision !== currentRevision) {
    return { message: `waiting for statefulset rolling update to complete ${status('updatedReplicas')} pods at revision ${updateRevision}...`, done: false }
  }
  return { message: `statefulset rolling update complete ${status('currentReplicas')} pods at revision ${currentRevision}...`, done: true }
}
