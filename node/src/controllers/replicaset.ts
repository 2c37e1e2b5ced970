/**
 * The ReplicaSet controller as a pure reconcile: given a ReplicaSet, the pods it controls, the
 * time and a seeded Random (for pod names), plan the pod creations and deletions that bring the
 * number of active pods to `spec.replicas`, and the status that `kubectl get rs` shows.
 *
 * Behaviour follows kube-controller-manager's replicaset controller (manageReplicas,
 * calculateStatus, claimPods):
 * - Active pods are those not finished and not being deleted; only they count.
 * - Missing pods are created from the template, named `<rs>-<5 random chars>` (the
 *   `generateName` rule), labelled as the template, owned by the ReplicaSet (controller: true,
 *   blockOwnerDeletion: true). At most `burstReplicas` creations or deletions per plan.
 * - Surplus pods are deleted least valuable first (pods.ts comparePodsForDeletion: unscheduled,
 *   pending, not ready, ready for a shorter time, more restarts, newer), with a uid precondition.
 * - Pods whose labels no longer match the selector are released (their controller reference
 *   removed), and orphans that match are adopted, unless the ReplicaSet is being deleted.
 * - Status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (ready for at least
 *   minReadySeconds), observedGeneration; written only when it changes.
 * - Events SuccessfulCreate (`Created pod: web-6d4cf56db6-x7k2p`) and SuccessfulDelete.
 *
 * Kubernetes also creates pods in slowly growing batches (1, 2, 4, …) so that a failing create
 * (quota, admission) costs one request, not hundreds. The plan contract gives the same protection:
 * the executor stops at the first failed write.
 */
import { assert } from '../../../lib/assert.ts'
import type { Random } from '../../../lib/random.ts'
import { cloneJson, type JsonObject } from '../api/machinery/canonical.ts'
import { generateName } from '../api/machinery/names.ts'
import { labelSelectorFromObject, type LabelSelector, type LabelSelectorObject } from '../api/machinery/selectors.ts'
import { newEvent } from './events.ts'
import {
  controllerRefOf,
  controllerReferenceTo,
  equalIgnoringNullFields,
  generationOf,
  isBeingDeleted,
  labelsOf,
  listAt,
  metadataOf,
  nameOf,
  namespaceOf,
  numberAt,
  objectAt,
  specOf,
  statusOf,
  stringMapAt,
  uidOf,
} from './object-fields.ts'
import { PlanBuilder, PODS, REPLICA_SETS, type Plan } from './plan.ts'
import { comparePodsForDeletion, isPodActive, isPodAvailable, isPodReady, podAvailableAtMs, podHasLabels } from './pods.ts'

/** Kubernetes' burstReplicas: the most pods one sync creates or deletes. */
export const REPLICA_SET_BURST_REPLICAS = 500
const COMPONENT = 'replicaset-controller'

/** Optional inputs of reconcileReplicaSet. */
export interface ReplicaSetReconcileOptions {
  /**
   * Pods in the ReplicaSet's namespace that have no controller. Those matching its selector are
   * adopted (Kubernetes claims orphans the same way). Default: none.
   */
  readonly orphanPods?: readonly JsonObject[]
  /** The most pods created or deleted by one plan (default REPLICA_SET_BURST_REPLICAS). */
  readonly burstReplicas?: number
}

/** The ReplicaSet with kind and apiVersion set, as events and owner references need them. */
function typed(replicaSet: JsonObject): JsonObject {
  return { ...replicaSet, kind: REPLICA_SETS.kind, apiVersion: REPLICA_SETS.apiVersion }
}

/**
 * Plans one reconcile of `replicaSet`.
 *
 * @param controlledPods pods whose controller owner reference has the ReplicaSet's uid
 *   (terminating and finished ones included: the controller filters them itself).
 * @param nowMs the time, for availability (minReadySeconds) and event timestamps.
 * @param random names new pods; seed it for replayable plans.
 */
export function reconcileReplicaSet(
  replicaSet: JsonObject,
  controlledPods: readonly JsonObject[],
  nowMs: number,
  random: Random,
  options: ReplicaSetReconcileOptions = {},
): Plan {
  const plan = new PlanBuilder()
  const selector = selectorOf(replicaSet)
  if (selector === undefined) return plan.build() // Validation rejects bad selectors; nothing safe to do.
  const claimed = claimPods(replicaSet, controlledPods, selector, options.orphanPods ?? [], plan)
  const active = claimed.filter(isPodActive)
  if (!isBeingDeleted(replicaSet)) {
    manageReplicas(replicaSet, active, { nowMs, random, burstReplicas: options.burstReplicas ?? REPLICA_SET_BURST_REPLICAS }, plan)
  }
  const status = replicaSetStatus(replicaSet, active, nowMs)
  if (!equalIgnoringNullFields(statusOf(replicaSet), status)) {
    const object = { ...replicaSet, status }
    plan.add({ type: 'updateStatus', resource: REPLICA_SETS, namespace: namespaceOf(replicaSet), name: nameOf(replicaSet), object })
  }
  const minReadySeconds = numberAt(specOf(replicaSet)['minReadySeconds'], 0)
  for (const pod of active) {
    const availableAtMs = podAvailableAtMs(pod, minReadySeconds)
    if (availableAtMs !== undefined && availableAtMs > nowMs) plan.requeueAfter(availableAtMs - nowMs)
  }
  return plan.build()
}

function selectorOf(replicaSet: JsonObject): LabelSelector | undefined {
  const object = objectAt(specOf(replicaSet)['selector'])
  const cached = PARSED_SELECTORS.get(object)
  if (cached !== undefined) return cached === 'invalid' ? undefined : cached
  let selector: LabelSelector | 'invalid'
  try {
    selector = labelSelectorFromObject(object as LabelSelectorObject)
  } catch {
    // An invalid selector cannot be stored through the API; if one is found anyway, the safe
    // reading is "selects nothing", and doing nothing is the safe plan.
    selector = 'invalid'
  }
  PARSED_SELECTORS.set(object, selector)
  return selector === 'invalid' ? undefined : selector
}

/**
 * Parsed selectors by selector object. Controllers never mutate their inputs, and observed
 * objects are replaced rather than changed, so identity is a sound cache key; the WeakMap lets
 * old objects go.
 */
const PARSED_SELECTORS = new WeakMap<JsonObject, LabelSelector | 'invalid'>()

/**
 * The pods the ReplicaSet manages after releasing controlled pods that no longer match its
 * selector and adopting matching orphans; plans the owner-reference updates.
 */
function claimPods(
  replicaSet: JsonObject,
  controlled: readonly JsonObject[],
  selector: LabelSelector,
  orphans: readonly JsonObject[],
  plan: PlanBuilder,
): JsonObject[] {
  const claimed: JsonObject[] = []
  const uid = uidOf(replicaSet)
  for (const pod of controlled) {
    if (selector.matches(labelsOf(pod))) {
      claimed.push(pod)
      continue
    }
    if (isBeingDeleted(pod)) continue
    const ownerReferences = listAt(metadataOf(pod)['ownerReferences']).filter((reference) => objectAt(reference)['uid'] !== uid)
    const released = { ...pod, metadata: { ...metadataOf(pod), ownerReferences } }
    plan.add({ type: 'update', resource: PODS, namespace: namespaceOf(pod), name: nameOf(pod), object: released })
  }
  if (isBeingDeleted(replicaSet)) return claimed
  for (const pod of orphans) {
    if (controllerRefOf(pod) !== undefined || isBeingDeleted(pod) || !selector.matches(labelsOf(pod))) continue
    if (namespaceOf(pod) !== namespaceOf(replicaSet)) continue
    const controllerReference = controllerReferenceTo(replicaSet, REPLICA_SETS.apiVersion, REPLICA_SETS.kind)
    const ownerReferences = [...listAt(metadataOf(pod)['ownerReferences']), controllerReference]
    const adopted = { ...pod, metadata: { ...metadataOf(pod), ownerReferences } }
    plan.add({ type: 'update', resource: PODS, namespace: namespaceOf(pod), name: nameOf(pod), object: adopted })
    claimed.push(adopted)
  }
  return claimed
}

/** Creates missing pods or deletes surplus ones, with one event after each write. */
function manageReplicas(
  replicaSet: JsonObject,
  active: readonly JsonObject[],
  context: { nowMs: number; random: Random; burstReplicas: number },
  plan: PlanBuilder,
): void {
  const desired = Math.max(0, numberAt(specOf(replicaSet)['replicas'], 1))
  const difference = active.length - desired
  const involved = typed(replicaSet)
  const namespace = namespaceOf(replicaSet)
  let sequence = 0
  const event = (reason: string, message: string): void => {
    const event = newEvent({ involved, reason, message, type: 'Normal', component: COMPONENT, nowMs: context.nowMs, sequence: sequence++ })
    plan.add({ type: 'event', event })
  }
  if (difference < 0) {
    const taken = new Set(active.map(nameOf))
    for (let created = 0; created < Math.min(-difference, context.burstReplicas); created++) {
      const pod = podFromTemplate(replicaSet, context.random, taken)
      taken.add(nameOf(pod))
      plan.add({ type: 'create', resource: PODS, namespace, object: pod })
      event('SuccessfulCreate', `Created pod: ${nameOf(pod)}`)
    }
  } else if (difference > 0) {
    const victims = [...active].sort(comparePodsForDeletion).slice(0, Math.min(difference, context.burstReplicas))
    assert(victims.every(isPodActive), 'only active pods are deleted to reach the desired count')
    for (const pod of victims) {
      plan.add({ type: 'delete', resource: PODS, namespace, name: nameOf(pod), uid: uidOf(pod) })
      event('SuccessfulDelete', `Deleted pod: ${nameOf(pod)}`)
    }
  }
}

/**
 * A new pod from the ReplicaSet's template: template labels, annotations and finalizers, the
 * template spec, and the controller reference. `taken` avoids reusing a name in the same plan.
 */
export function podFromTemplate(replicaSet: JsonObject, random: Random, taken: ReadonlySet<string> = new Set()): JsonObject {
  const template = objectAt(specOf(replicaSet)['template'])
  const templateMetadata = metadataOf(template)
  const prefix = `${nameOf(replicaSet)}-`
  let name = generateName(prefix, random)
  while (taken.has(name)) name = generateName(prefix, random)
  const metadata: JsonObject = {
    name,
    generateName: prefix,
    namespace: namespaceOf(replicaSet),
    labels: stringMapAt(templateMetadata['labels']),
    ownerReferences: [controllerReferenceTo(replicaSet, REPLICA_SETS.apiVersion, REPLICA_SETS.kind)],
  }
  const annotations = stringMapAt(templateMetadata['annotations'])
  if (Object.keys(annotations).length > 0) metadata['annotations'] = annotations
  if (Array.isArray(templateMetadata['finalizers'])) metadata['finalizers'] = cloneJson(templateMetadata['finalizers'])
  return { apiVersion: PODS.apiVersion, kind: PODS.kind, metadata, spec: cloneJson(objectAt(template['spec'])) }
}

/**
 * The status the ReplicaSet should report for these active pods. Zero counts other than
 * `replicas` are left out, as the real API's omitempty does, so statuses compare equal.
 */
export function replicaSetStatus(replicaSet: JsonObject, active: readonly JsonObject[], nowMs: number): JsonObject {
  const templateLabels = stringMapAt(metadataOf(objectAt(specOf(replicaSet)['template']))['labels'])
  const minReadySeconds = numberAt(specOf(replicaSet)['minReadySeconds'], 0)
  let fullyLabeled = 0
  let ready = 0
  let available = 0
  for (const pod of active) {
    if (podHasLabels(pod, templateLabels)) fullyLabeled++
    if (isPodReady(pod)) ready++
    if (isPodAvailable(pod, minReadySeconds, nowMs)) available++
  }
  const status: JsonObject = { replicas: active.length }
  if (fullyLabeled > 0) status['fullyLabeledReplicas'] = fullyLabeled
  if (ready > 0) status['readyReplicas'] = ready
  if (available > 0) status['availableReplicas'] = available
  status['observedGeneration'] = generationOf(replicaSet)
  const conditions = statusOf(replicaSet)['conditions']
  if (Array.isArray(conditions) && conditions.length > 0) status['conditions'] = cloneJson(conditions)
  return status
}
