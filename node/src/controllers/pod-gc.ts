/**
 * The pod garbage collector's decisions (kube-controller-manager's PodGC), as a pure function of
 * the pods, the nodes and the time: which pods to force-delete (grace period 0) in one pass, and
 * why. node/src/controllers/manager/pod-gc-controller.ts runs it on the leader.
 *
 * Pods it deletes, most urgent first:
 * 1. `NodeLost`: pods being deleted (Terminating) on a node that has not been Ready for at least
 *    the pod eviction timeout. Their agent is not there to finish the deletion, and the pods would
 *    stay Terminating for ever — on Kubernetes they do, until someone marks the node out of
 *    service: a well-known pain. Flotilla's fast failover relies on this: the node lifecycle
 *    controller evicts (marks) the pods of a dead node, their controllers replace them at once,
 *    and this removes the old ones so that names (StatefulSets) and quota come free.
 * 2. `Orphaned`: pods bound to a node that does not exist (the manager confirms the absence in
 *    the store after a quarantine, so a node still being registered is not taken for gone).
 * 3. `Unscheduled`: pods being deleted that were never bound (no agent will ever finish them).
 * 4. `TerminatedOverThreshold`: finished pods (Succeeded or Failed) beyond the threshold, oldest
 *    first, as terminated-pod-gc-threshold does (12500 by default; 0 or less turns it off).
 *
 * Each pass deletes at most `maxDeletes` pods (the rest wait for the next pass), so a mass failure
 * does not turn into a burst of writes.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { byCreationThenName, isBeingDeleted, listAt, nameOf, objectAt, parseTimeMs, specOf, statusOf, stringAt } from './object-fields.ts'

/** kube-controller-manager's --terminated-pod-gc-threshold default. */
export const TERMINATED_POD_GC_THRESHOLD_DEFAULT = 12_500

/** Why a pod is force-deleted. */
export type PodGcReason = 'NodeLost' | 'Orphaned' | 'Unscheduled' | 'TerminatedOverThreshold'

export interface PodGcDeletion {
  readonly pod: JsonObject
  readonly reason: PodGcReason
}

export interface PodGcInput {
  readonly pods: readonly JsonObject[]
  readonly nodes: readonly JsonObject[]
  readonly nowMs: number
  /** How long a node must have been not Ready before its Terminating pods are force-deleted. */
  readonly podEvictionTimeoutMs: number
  /** Finished pods kept at most (0 or less: no limit). */
  readonly terminatedPodThreshold: number
  /** Nodes pods are bound to that are confirmed absent from the store (see nodesMissingFrom). */
  readonly missingNodes: ReadonlySet<string>
  /** Deletions per pass at most. */
  readonly maxDeletes: number
}

function nodeNameOf(pod: JsonObject): string {
  return stringAt(specOf(pod)['nodeName'])
}

function isTerminated(pod: JsonObject): boolean {
  const phase = statusOf(pod)['phase']
  return phase === 'Succeeded' || phase === 'Failed'
}

/**
 * Since when (epoch ms) the node has not been Ready, or undefined when it is Ready (or says
 * nothing: a node that never posted a Ready condition is not known to be lost).
 */
export function notReadySinceMs(node: JsonObject): number | undefined {
  const ready = listAt(statusOf(node)['conditions']).map(objectAt).find((condition) => condition['type'] === 'Ready')
  if (ready === undefined || ready['status'] === 'True') return undefined
  return parseTimeMs(ready['lastTransitionTime'])
}

/** The node names bound pods name that `nodes` does not hold. */
export function nodesMissingFrom(pods: readonly JsonObject[], nodes: readonly JsonObject[]): Set<string> {
  const present = new Set(nodes.map(nameOf))
  const missing = new Set<string>()
  for (const pod of pods) {
    const nodeName = nodeNameOf(pod)
    if (nodeName !== '' && !present.has(nodeName)) missing.add(nodeName)
  }
  return missing
}

/** The pods to force-delete in this pass, most urgent first (see the module comment). */
export function planPodGc(input: PodGcInput): PodGcDeletion[] {
  const lostNodes = new Set<string>()
  for (const node of input.nodes) {
    const sinceMs = notReadySinceMs(node)
    if (sinceMs !== undefined && input.nowMs - sinceMs >= input.podEvictionTimeoutMs) lostNodes.add(nameOf(node))
  }
  // A fixed order makes the pass a function of its inputs, whatever order the cache lists in.
  const pods = [...input.pods].sort(byCreationThenName)
  const deletions: PodGcDeletion[] = []
  const chosen = new Set<JsonObject>()
  const add = (pod: JsonObject, reason: PodGcReason): void => {
    if (chosen.has(pod)) return
    chosen.add(pod)
    deletions.push({ pod, reason })
  }
  for (const pod of pods) if (isBeingDeleted(pod) && lostNodes.has(nodeNameOf(pod))) add(pod, 'NodeLost')
  for (const pod of pods) if (input.missingNodes.has(nodeNameOf(pod))) add(pod, 'Orphaned')
  for (const pod of pods) if (isBeingDeleted(pod) && nodeNameOf(pod) === '') add(pod, 'Unscheduled')
  if (input.terminatedPodThreshold > 0) {
    const terminated = pods.filter(isTerminated)
    const excess = terminated.length - input.terminatedPodThreshold
    for (const pod of terminated.slice(0, Math.max(0, excess))) add(pod, 'TerminatedOverThreshold')
  }
  return deletions.slice(0, Math.max(0, input.maxDeletes))
}
