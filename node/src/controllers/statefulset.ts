/**
 * The StatefulSet controller as a pure reconcile: given a StatefulSet, the pods and
 * ControllerRevisions it controls, the names of the PersistentVolumeClaims that exist in its
 * namespace, and the time, plan the writes that bring it to `spec.replicas` pods with stable
 * identities, and the status `kubectl get sts` shows.
 *
 * Behaviour follows kube-controller-manager's statefulset controller (stateful_set_control.go):
 * - Pod `i` is named `<set>-<i>` and keeps that name, hostname and subdomain (`spec.serviceName`)
 *   for ever; labels `statefulset.kubernetes.io/pod-name` and `controller-revision-hash`.
 * - Each volumeClaimTemplate `<claim>` gives pod `i` the claim `<claim>-<set>-<i>`, created before
 *   the pod and never deleted by the controller (the default Retain policy): a pod that comes
 *   back finds its data.
 * - OrderedReady (default): pod `i` is created only when pods `0..i-1` are Running and Ready;
 *   scale-down deletes the highest ordinal first, one at a time, waiting for it to be gone, and
 *   not while any other pod is unhealthy. Parallel: all creations and deletions at once.
 * - RollingUpdate: from the highest ordinal down to `partition`, one pod at a time, each deleted
 *   and recreated from the update revision, waiting for it to be Running and Ready. OnDelete:
 *   pods are only recreated from the update revision after a user deletes them.
 * - A Failed pod is deleted, and recreated on a later reconcile.
 *
 * Never two pods with the same identity: the controller creates a pod only when no pod of that
 * name exists in its cache (terminating ones included), and the create carries the fixed name,
 * so the API refuses it with AlreadyExists if the cache was stale. A pod on a node that stopped
 * answering is not replaced: it still exists, it only turns not ready. It is replaced once it is
 * actually deleted (the node lifecycle controller's eviction, or a user). The deletion is the
 * fence: from then on the old pod's uid is gone and its node, when it hears, stops it. A node
 * that never hears (a partition) keeps running its copy until it does; Kubernetes has the same
 * limit and the same fence.
 */
import { cloneJson, type JsonObject } from '../api/machinery/canonical.ts'
import type { ResourceRef } from '../api/server/object-store.ts'
import { newEvent } from './events.ts'
import {
  controllerReferenceTo,
  equalIgnoringNullFields,
  generationOf,
  isBeingDeleted,
  listAt,
  metadataOf,
  nameOf,
  namespaceOf,
  numberAt,
  objectAt,
  specOf,
  statusOf,
  stringAt,
  stringMapAt,
  uidOf,
} from './object-fields.ts'
import { PlanBuilder, PODS, type Plan } from './plan.ts'
import { isPodAvailable, isPodReady, podAvailableAtMs, podPhase } from './pods.ts'
import {
  CONTROLLER_REVISION_HASH_LABEL,
  podRevisionLabel,
  revisionTemplate,
  syncRevisions,
  truncateHistory,
  type UpdateRevision,
} from './statefulset-revisions.ts'

/** StatefulSets: apps/v1. */
export const STATEFUL_SETS: ResourceRef = { group: 'apps', resource: 'statefulsets', kind: 'StatefulSet', apiVersion: 'apps/v1', namespaced: true }
/** PersistentVolumeClaims: core/v1. */
export const PERSISTENT_VOLUME_CLAIMS: ResourceRef = { group: '', resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespaced: true }
/** The label naming a StatefulSet pod's identity (kubectl and Services select on it). */
export const STATEFUL_SET_POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name'

const COMPONENT = 'statefulset-controller'

/** `<set>-<ordinal>`. */
export function statefulPodName(set: JsonObject, ordinal: number): string {
  return `${nameOf(set)}-${ordinal}`
}

/** The ordinal in a pod's name when it belongs to `set` by name, else undefined. */
export function ordinalOf(set: JsonObject, pod: JsonObject): number | undefined {
  const prefix = `${nameOf(set)}-`
  const name = nameOf(pod)
  if (!name.startsWith(prefix)) return undefined
  const digits = name.slice(prefix.length)
  return /^(0|[1-9][0-9]*)$/.test(digits) ? Number(digits) : undefined
}

/** `<claim>-<set>-<ordinal>` for every volumeClaimTemplate, in template order. */
export function claimNamesFor(set: JsonObject, ordinal: number): string[] {
  return listAt(specOf(set)['volumeClaimTemplates']).map((template) => `${nameOf(objectAt(template))}-${statefulPodName(set, ordinal)}`)
}

/** The claims pod `ordinal` needs, as objects to create (labels: the set's selector matchLabels). */
export function claimsFor(set: JsonObject, ordinal: number): JsonObject[] {
  const matchLabels = stringMapAt(objectAt(specOf(set)['selector'])['matchLabels'])
  return listAt(specOf(set)['volumeClaimTemplates']).map((item) => {
    const template = objectAt(item)
    const metadata = metadataOf(template)
    const claimMetadata: JsonObject = {
      name: `${nameOf(template)}-${statefulPodName(set, ordinal)}`,
      namespace: namespaceOf(set),
      labels: { ...stringMapAt(metadata['labels']), ...matchLabels },
    }
    const annotations = stringMapAt(metadata['annotations'])
    if (Object.keys(annotations).length > 0) claimMetadata['annotations'] = annotations
    return { apiVersion: PERSISTENT_VOLUME_CLAIMS.apiVersion, kind: PERSISTENT_VOLUME_CLAIMS.kind, metadata: claimMetadata, spec: cloneJson(specOf(template)) }
  })
}

/** Pod `ordinal` of `set` made from `template`, labelled with the revision `revisionName`. */
export function statefulPod(set: JsonObject, template: JsonObject, ordinal: number, revisionName: string): JsonObject {
  const name = statefulPodName(set, ordinal)
  const templateMetadata = metadataOf(template)
  const metadata: JsonObject = {
    name,
    namespace: namespaceOf(set),
    labels: { ...stringMapAt(templateMetadata['labels']), [STATEFUL_SET_POD_NAME_LABEL]: name, [CONTROLLER_REVISION_HASH_LABEL]: revisionName },
    ownerReferences: [controllerReferenceTo(set, STATEFUL_SETS.apiVersion, STATEFUL_SETS.kind)],
  }
  const annotations = stringMapAt(templateMetadata['annotations'])
  if (Object.keys(annotations).length > 0) metadata['annotations'] = annotations
  const spec = cloneJson(specOf(template))
  spec['hostname'] = name
  const serviceName = stringAt(specOf(set)['serviceName'])
  if (serviceName !== '') spec['subdomain'] = serviceName
  // Each claim template replaces any template volume of the same name with the pod's own claim.
  const claimNames = claimNamesFor(set, ordinal)
  const claimVolumes = listAt(specOf(set)['volumeClaimTemplates']).map((item, index) => ({
    name: nameOf(objectAt(item)),
    persistentVolumeClaim: { claimName: claimNames[index] ?? '' },
  }))
  const claimed = new Set(claimVolumes.map((volume) => volume.name))
  const volumes = listAt(spec['volumes']).filter((volume) => !claimed.has(stringAt(objectAt(volume)['name'])))
  if (claimVolumes.length > 0 || volumes.length > 0) spec['volumes'] = [...volumes, ...claimVolumes]
  return { apiVersion: PODS.apiVersion, kind: PODS.kind, metadata, spec }
}

/** Running and Ready, and not being deleted: what OrderedReady waits for. */
export function isStatefulPodHealthy(pod: JsonObject): boolean {
  return podPhase(pod) === 'Running' && isPodReady(pod) && !isBeingDeleted(pod)
}

function isFailed(pod: JsonObject): boolean {
  return podPhase(pod) === 'Failed'
}

function typed(set: JsonObject): JsonObject {
  return { ...set, kind: STATEFUL_SETS.kind, apiVersion: STATEFUL_SETS.apiVersion }
}

/** Optional inputs of reconcileStatefulSet. */
export interface StatefulSetObservations {
  /** Pods whose controller reference is the set (terminating ones included). */
  readonly pods: readonly JsonObject[]
  /** ControllerRevisions whose controller reference is the set. */
  readonly revisions: readonly JsonObject[]
  /** Names of the PersistentVolumeClaims in the set's namespace. */
  readonly claimNames: ReadonlySet<string>
}

/**
 * Plans one reconcile of `set`.
 *
 * @param nowMs the time, for availability (minReadySeconds) and event timestamps.
 */
export function reconcileStatefulSet(set: JsonObject, observed: StatefulSetObservations, nowMs: number): Plan {
  const plan = new PlanBuilder()
  const status = statusOf(set)
  const collisionCount = typeof status['collisionCount'] === 'number' ? status['collisionCount'] : undefined
  const revisions = syncRevisions(set, STATEFUL_SETS, observed.revisions, collisionCount, plan)
  if (revisions.kind === 'collision') {
    const object = { ...set, status: { ...status, collisionCount: revisions.collisionCount } }
    plan.add({ type: 'updateStatus', resource: STATEFUL_SETS, namespace: namespaceOf(set), name: nameOf(set), object })
    return plan.requeueAfter(0).build()
  }
  const update = revisions.update
  const currentName = revisions.revisions.some((revision) => nameOf(revision) === status['currentRevision']) ? stringAt(status['currentRevision']) : update.name
  const currentRevision = revisions.revisions.find((revision) => nameOf(revision) === currentName)
  const current: UpdateRevision = currentRevision === undefined ? update : { name: currentName, hash: currentName, template: revisionTemplate(currentRevision) }

  const pods = observed.pods.filter((pod) => ordinalOf(set, pod) !== undefined)
  if (!isBeingDeleted(set)) managePods(set, pods, observed.claimNames, { current, update, nowMs }, plan)

  const live = new Set(pods.map(podRevisionLabel))
  truncateHistory(set, revisions.revisions, live, new Set([current.name, update.name]), plan)

  const newStatus = statefulSetStatus(set, pods, current.name, update.name, collisionCount, nowMs)
  if (!equalIgnoringNullFields(status, newStatus)) {
    plan.add({ type: 'updateStatus', resource: STATEFUL_SETS, namespace: namespaceOf(set), name: nameOf(set), object: { ...set, status: newStatus } })
  }
  const minReadySeconds = numberAt(specOf(set)['minReadySeconds'], 0)
  for (const pod of pods) {
    const availableAtMs = podAvailableAtMs(pod, minReadySeconds)
    if (availableAtMs !== undefined && availableAtMs > nowMs) plan.requeueAfter(availableAtMs - nowMs)
  }
  return plan.build()
}

interface ManageContext {
  readonly current: UpdateRevision
  readonly update: UpdateRevision
  readonly nowMs: number
}

/** The pod creations, deletions and rolling-update steps of one reconcile (updateStatefulSet). */
function managePods(set: JsonObject, pods: readonly JsonObject[], claimNames: ReadonlySet<string>, context: ManageContext, plan: PlanBuilder): void {
  const spec = specOf(set)
  const replicas = Math.max(0, numberAt(spec['replicas'], 1))
  const monotonic = stringAt(spec['podManagementPolicy'], 'OrderedReady') !== 'Parallel'
  const strategy = objectAt(spec['updateStrategy'])
  const rolling = stringAt(strategy['type'], 'RollingUpdate') === 'RollingUpdate'
  const partition = rolling ? Math.max(0, numberAt(objectAt(strategy['rollingUpdate'])['partition'], 0)) : 0
  const namespace = namespaceOf(set)
  const involved = typed(set)
  let sequence = 0
  const event = (reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void => {
    plan.add({ type: 'event', event: newEvent({ involved, reason, message, type, component: COMPONENT, nowMs: context.nowMs, sequence: sequence++ }) })
  }
  const byOrdinal = new Map<number, JsonObject>()
  const condemned: Array<{ ordinal: number; pod: JsonObject }> = []
  for (const pod of pods) {
    const ordinal = ordinalOf(set, pod)!
    if (ordinal < replicas) byOrdinal.set(ordinal, pod)
    else condemned.push({ ordinal, pod })
  }
  condemned.sort((a, b) => b.ordinal - a.ordinal)
  const unhealthy = pods.find((pod) => !isStatefulPodHealthy(pod))

  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    const pod = byOrdinal.get(ordinal)
    if (pod === undefined) {
      // Kubernetes' newVersionedStatefulSetPod: ordinals below the partition stay on the current
      // revision; everything else (and every OnDelete recreation) gets the update revision.
      const revision = rolling && ordinal < partition ? context.current : context.update
      for (const claim of claimsFor(set, ordinal)) {
        if (claimNames.has(nameOf(claim))) continue
        plan.add({ type: 'create', resource: PERSISTENT_VOLUME_CLAIMS, namespace, object: claim })
        event('SuccessfulCreate', `create Claim ${nameOf(claim)} Pod ${statefulPodName(set, ordinal)} in StatefulSet ${nameOf(set)} success`)
      }
      plan.add({ type: 'create', resource: PODS, namespace, object: statefulPod(set, revision.template, ordinal, revision.name) })
      event('SuccessfulCreate', `create Pod ${statefulPodName(set, ordinal)} in StatefulSet ${nameOf(set)} successful`)
      if (monotonic) return
      continue
    }
    if (isFailed(pod) && !isBeingDeleted(pod)) {
      plan.add({ type: 'delete', resource: PODS, namespace, name: nameOf(pod), uid: uidOf(pod) })
      event('SuccessfulDelete', `delete Pod ${nameOf(pod)} in StatefulSet ${nameOf(set)} successful`)
      if (monotonic) return
      continue
    }
    // A terminating pod, or one not yet Running and Ready, blocks the ordinals after it.
    if (monotonic && !isStatefulPodHealthy(pod)) return
  }

  for (const { pod } of condemned) {
    if (isBeingDeleted(pod)) {
      if (monotonic) return
      continue
    }
    if (monotonic && unhealthy !== undefined && unhealthy !== pod) return
    plan.add({ type: 'delete', resource: PODS, namespace, name: nameOf(pod), uid: uidOf(pod) })
    event('SuccessfulDelete', `delete Pod ${nameOf(pod)} in StatefulSet ${nameOf(set)} successful`)
    if (monotonic) return
  }

  if (!rolling) return
  for (let ordinal = replicas - 1; ordinal >= partition; ordinal--) {
    const pod = byOrdinal.get(ordinal)
    if (pod === undefined) return
    if (podRevisionLabel(pod) !== context.update.name && !isBeingDeleted(pod)) {
      plan.add({ type: 'delete', resource: PODS, namespace, name: nameOf(pod), uid: uidOf(pod) })
      event('SuccessfulDelete', `delete Pod ${nameOf(pod)} in StatefulSet ${nameOf(set)} successful`)
      return
    }
    if (!isStatefulPodHealthy(pod)) return
  }
}

/**
 * The status the StatefulSet should report. Terminating pods do not count. The current revision
 * becomes the update revision once every replica is updated and ready (a finished rollout).
 */
export function statefulSetStatus(
  set: JsonObject,
  pods: readonly JsonObject[],
  currentRevision: string,
  updateRevision: string,
  collisionCount: number | undefined,
  nowMs: number,
): JsonObject {
  const minReadySeconds = numberAt(specOf(set)['minReadySeconds'], 0)
  const desired = Math.max(0, numberAt(specOf(set)['replicas'], 1))
  let replicas = 0
  let ready = 0
  let available = 0
  let currentCount = 0
  let updated = 0
  for (const pod of pods) {
    if (isBeingDeleted(pod)) continue
    replicas++
    if (podPhase(pod) === 'Running' && isPodReady(pod)) ready++
    if (podPhase(pod) === 'Running' && isPodAvailable(pod, minReadySeconds, nowMs)) available++
    if (podRevisionLabel(pod) === currentRevision) currentCount++
    if (podRevisionLabel(pod) === updateRevision) updated++
  }
  let current = currentRevision
  if (updated === desired && ready === desired && replicas === desired) {
    current = updateRevision
    currentCount = updated
  }
  const status: JsonObject = { observedGeneration: generationOf(set), replicas }
  if (ready > 0) status['readyReplicas'] = ready
  if (currentCount > 0) status['currentReplicas'] = currentCount
  if (updated > 0) status['updatedReplicas'] = updated
  if (available > 0) status['availableReplicas'] = available
  status['currentRevision'] = current
  status['updateRevision'] = updateRevision
  if (collisionCount !== undefined) status['collisionCount'] = collisionCount
  const conditions = statusOf(set)['conditions']
  if (Array.isArray(conditions) && conditions.length > 0) status['conditions'] = cloneJson(conditions)
  return status
}
