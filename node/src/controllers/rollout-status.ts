/**
 * `kubectl rollout status deployment/<name>` as a pure function of the Deployment object: the
 * same checks in the same order as kubectl's DeploymentStatusViewer (identical in 1.20 and
 * later), with its exact messages. Used by the tests and by `flotilla rollout status`.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { DeploymentReason, findCondition } from './deployment-conditions.ts'
import { revisionOf } from './deployment-revisions.ts'
import { generationOf, listAt, nameOf, numberAt, specOf, statusOf } from './object-fields.ts'

/** Where a rollout stands. */
export interface RolloutStatus {
  /** True when the rollout finished (kubectl exits 0). */
  readonly done: boolean
  /** True when it can no longer finish on its own (kubectl exits non-zero with this message). */
  readonly failed: boolean
  /** kubectl's line, without the trailing newline. */
  readonly message: string
}

/**
 * The rollout status of `deployment`. With `revision` (kubectl's `--revision`), a Deployment whose
 * revision annotation differs fails with kubectl's message.
 */
export function deploymentRolloutStatus(deployment: JsonObject, revision?: number): RolloutStatus {
  const name = JSON.stringify(nameOf(deployment))
  if (revision !== undefined && revision > 0) {
    // An absent annotation reads as revision 0, as in kubectl.
    const running = revisionOf(deployment)
    if (running !== revision) return failed(`desired revision (${revision}) is different from the running revision (${running})`)
  }
  const status = statusOf(deployment)
  if (generationOf(deployment) > numberAt(status['observedGeneration'], 0)) {
    return waiting('Waiting for deployment spec update to be observed...')
  }
  const progressing = findCondition(listAt(status['conditions']), 'Progressing')
  if (progressing?.['reason'] === DeploymentReason.progressDeadlineExceeded) {
    return failed(`deployment ${name} exceeded its progress deadline`)
  }
  const desired = numberAt(specOf(deployment)['replicas'], 1)
  const replicas = numberAt(status['replicas'], 0)
  const updated = numberAt(status['updatedReplicas'], 0)
  const available = numberAt(status['availableReplicas'], 0)
  const prefix = `Waiting for deployment ${name} rollout to finish:`
  if (updated < desired) return waiting(`${prefix} ${updated} out of ${desired} new replicas have been updated...`)
  if (replicas > updated) return waiting(`${prefix} ${replicas - updated} old replicas are pending termination...`)
  if (available < updated) return waiting(`${prefix} ${available} of ${updated} updated replicas are available...`)
  return { done: true, failed: false, message: `deployment ${name} successfully rolled out` }
}

function waiting(message: string): RolloutStatus {
  return { done: false, failed: false, message }
}

function failed(message: string): RolloutStatus {
  return { done: false, failed: true, message }
}
