/**
 * The DaemonSet controller as a pure reconcile: given a DaemonSet, the nodes, the pods and
 * ControllerRevisions it controls, the time and a seeded Random (pod names), plan one pod per
 * eligible node, the rolling update, and the status `kubectl get ds` shows.
 *
 * Behaviour follows kube-controller-manager's daemon controller (daemon_controller.go, update.go):
 * - A node is eligible when it matches the template's nodeSelector and required node affinity
 *   and every NoSchedule/NoExecute taint is tolerated (scheduler/taints.ts and node-selector.ts
 *   decide, as for the scheduler). A pod already there may stay while only NoSchedule taints
 *   are untolerated (shouldContinueRunning).
 * - DaemonSet pods get the tolerations Kubernetes adds: not-ready and unreachable NoExecute
 *   (so they stay on a failing node), disk/memory/pid-pressure and unschedulable NoSchedule, and
 *   network-unavailable for hostNetwork pods.
 * - Pods are created unbound, with the required node affinity replaced by one term
 *   `matchFields metadata.name In [<node>]` (Kubernetes ≥ 1.12): the scheduler binds them, so
 *   resources and ports are checked by the one component that does that.
 * - Per eligible node: no pod → create; Failed pods → delete (a new one comes next time); more
 *   than one → keep the oldest. Pods on nodes that are not eligible any more (or gone) → delete.
 * - RollingUpdate: old-revision pods that are not available are deleted at once; available ones
 *   while fewer than maxUnavailable (default 1; an int or a percentage of the desired number,
 *   rounded up) nodes lack an available pod. maxSurge is not implemented (the default is 0).
 *   OnDelete: only pods the user deletes come back on the new revision.
 * - Pods carry `controller-revision-hash=<hash>`; revisions are ControllerRevisions
 *   (statefulset-revisions.ts).
 */
import { cloneJson, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { generateName } from '../api/machinery/names.ts'
import type { ResourceRef } from '../api/server/object-store.ts'
import type { Random } from '../../../lib/random.ts'
import { nodeSelectionMatches, parseRequiredNodeSelection } from '../scheduler/node-selector.ts'
import { firstUntoleratedTaint, parseTaints, parseTolerations, type TaintEffect } from '../scheduler/taints.ts'
import { newEvent } from './events.ts'
import {
  byCreationThenName,
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
  stringAt,
  stringMapAt,
  uidOf,
} from './object-fields.ts'
import { PlanBuilder, PODS, type Plan } from './plan.ts'
import { isPodActive, isPodAvailable, isPodReady, podAvailableAtMs, podPhase } from './pods.ts'
import { valueFromIntOrPercent } from './rollout-math.ts'
import { CONTROLLER_REVISION_HASH_LABEL, podRevisionLabel, syncRevisions, truncateHistory } from './statefulset-revisions.ts'

/** DaemonSets: apps/v1. */
export const DAEMON_SETS: ResourceRef = { group: 'apps', resource: 'daemonsets', kind: 'DaemonSet', apiVersion: 'apps/v1', namespaced: true }

const COMPONENT = 'daemonset-controller'
const SCHEDULING_EFFECTS: ReadonlySet<TaintEffect> = new Set(['NoSchedule', 'NoExecute'])
const EXECUTE_EFFECTS: ReadonlySet<TaintEffect> = new Set(['NoExecute'])

/** The tolerations Kubernetes adds to every DaemonSet pod (util.AddOrUpdateDaemonPodTolerations). */
export function daemonPodTolerations(podSpec: JsonObject): JsonObject[] {
  const tolerations: JsonObject[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ]
  if (podSpec['hostNetwork'] === true) tolerations.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' })
  const own = listAt(podSpec['tolerations']).map(objectAt)
  const sameAs = (a: JsonObject, b: JsonObject): boolean => a['key'] === b['key'] && a['effect'] === b['effect']
  return [...own, ...tolerations.filter((added) => !own.some((existing) => sameAs(existing, added)))]
}

/** Whether a DaemonSet with this template should run a pod on the node, and keep one there. */
export function nodeShouldRunDaemonPod(node: JsonObject, template: JsonObject): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const podSpec = specOf(template)
  if (isBeingDeleted(node) || !nodeSelectionMatches(parseRequiredNodeSelection(podSpec), nameOf(node), labelsOf(node))) {
    return { shouldRun: false, shouldContinueRunning: false }
  }
  const taints = parseTaints(node)
  const tolerations = parseTolerations({ tolerations: daemonPodTolerations(podSpec) })
  return {
    shouldRun: firstUntoleratedTaint(taints, tolerations, SCHEDULING_EFFECTS) === undefined,
    shouldContinueRunning: firstUntoleratedTaint(taints, tolerations, EXECUTE_EFFECTS) === undefined,
  }
}

/** The node a daemon pod is for: its nodeName, or the node its matchFields affinity names. */
export function targetNodeOf(pod: JsonObject): string | undefined {
  const nodeName = stringAt(specOf(pod)['nodeName'])
  if (nodeName !== '') return nodeName
  const required = objectAt(objectAt(objectAt(specOf(pod)['affinity'])['nodeAffinity'])['requiredDuringSchedulingIgnoredDuringExecution'])
  for (const term of listAt(required['nodeSelectorTerms'])) {
    for (const field of listAt(objectAt(term)['matchFields'])) {
      const requirement = objectAt(field)
      const values = listAt(requirement['values'])
      if (requirement['key'] === 'metadata.name' && requirement['operator'] === 'In' && values.length === 1 && typeof values[0] === 'string') return values[0]
    }
  }
  return undefined
}

/** The template's pod spec with the node affinity pinned to `nodeName` and the daemon tolerations. */
export function daemonPodSpec(template: JsonObject, nodeName: string): JsonObject {
  const spec = cloneJson(specOf(template))
  const affinity = objectAt(spec['affinity'])
  const nodeAffinity = objectAt(affinity['nodeAffinity'])
  const pinned: JsonValue = { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }] }
  spec['affinity'] = { ...affinity, nodeAffinity: { ...nodeAffinity, requiredDuringSchedulingIgnoredDuringExecution: pinned } }
  spec['tolerations'] = daemonPodTolerations(spec)
  return spec
}

function typed(daemonSet: JsonObject): JsonObject {
  return { ...daemonSet, kind: DAEMON_SETS.kind, apiVersion: DAEMON_SETS.apiVersion }
}

/** What the reconcile observes besides the DaemonSet. */
export interface DaemonSetObservations {
  readonly nodes: readonly JsonObject[]
  /** Pods whose controller reference is the DaemonSet. */
  readonly pods: readonly JsonObject[]
  /** ControllerRevisions whose controller reference is the DaemonSet. */
  readonly revisions: readonly JsonObject[]
}

/** Plans one reconcile of `daemonSet`. */
export function reconcileDaemonSet(daemonSet: JsonObject, observed: DaemonSetObservations, nowMs: number, random: Random): Plan {
  const plan = new PlanBuilder()
  const status = statusOf(daemonSet)
  const collisionCount = typeof status['collisionCount'] === 'number' ? status['collisionCount'] : undefined
  const revisions = syncRevisions(daemonSet, DAEMON_SETS, observed.revisions, collisionCount, plan)
  if (revisions.kind === 'collision') {
    const object = { ...daemonSet, status: { ...status, collisionCount: revisions.collisionCount } }
    plan.add({ type: 'updateStatus', resource: DAEMON_SETS, namespace: namespaceOf(daemonSet), name: nameOf(daemonSet), object })
    return plan.requeueAfter(0).build()
  }
  const update = revisions.update
  const template = objectAt(specOf(daemonSet)['template'])
  const namespace = namespaceOf(daemonSet)
  const minReadySeconds = numberAt(specOf(daemonSet)['minReadySeconds'], 0)
  const involved = typed(daemonSet)
  let sequence = 0
  const event = (reason: string, message: string): void => {
    plan.add({ type: 'event', event: newEvent({ involved, reason, message, type: 'Normal', component: COMPONENT, nowMs, sequence: sequence++ }) })
  }
  const deletePod = (pod: JsonObject): void => {
    plan.add({ type: 'delete', resource: PODS, namespace, name: nameOf(pod), uid: uidOf(pod) })
    event('SuccessfulDelete', `Deleted pod: ${nameOf(pod)}`)
  }

  const podsByNode = new Map<string, JsonObject[]>()
  for (const pod of observed.pods) {
    const target = targetNodeOf(pod) ?? ''
    podsByNode.set(target, [...(podsByNode.get(target) ?? []), pod])
  }
  const nodeNames = new Set(observed.nodes.map(nameOf))
  /** Per eligible node, its one active pod (the oldest), if any. */
  const daemonPods = new Map<string, JsonObject | undefined>()
  let desired = 0
  let misscheduled = 0
  const taken = new Set(observed.pods.map(nameOf))
  const creating = !isBeingDeleted(daemonSet)

  for (const node of [...observed.nodes].sort(byCreationThenName)) {
    const nodeName = nameOf(node)
    const { shouldRun, shouldContinueRunning } = nodeShouldRunDaemonPod(node, template)
    const onNode = podsByNode.get(nodeName) ?? []
    const active = onNode.filter(isPodActive).sort(byCreationThenName)
    if (shouldRun) desired++
    if (!shouldRun && active.length > 0) misscheduled++
    if (shouldRun || (shouldContinueRunning && active.length > 0)) {
      if (shouldRun) daemonPods.set(nodeName, active[0])
      if (!creating) continue
      for (const pod of onNode) if (podPhase(pod) === 'Failed' && !isBeingDeleted(pod)) deletePod(pod)
      // A pod still terminating on the node holds its place until it is gone, as in Kubernetes
      // (no surge): two daemon pods never run on one node at once.
      if (active.length === 0 && shouldRun && !onNode.some(isBeingDeleted)) {
        const pod = newDaemonPod(daemonSet, update.template, update.hash, nodeName, random, taken)
        taken.add(nameOf(pod))
        plan.add({ type: 'create', resource: PODS, namespace, object: pod })
        event('SuccessfulCreate', `Created pod: ${nameOf(pod)}`)
      }
      for (const extra of active.slice(1)) deletePod(extra)
    } else if (creating) {
      for (const pod of active) deletePod(pod)
    }
  }
  // Pods for nodes that no longer exist.
  if (creating) {
    for (const [target, pods] of podsByNode) {
      if (nodeNames.has(target)) continue
      for (const pod of pods) if (isPodActive(pod)) deletePod(pod)
    }
  }

  const strategy = objectAt(specOf(daemonSet)['updateStrategy'])
  if (creating && stringAt(strategy['type'], 'RollingUpdate') === 'RollingUpdate') {
    const maxUnavailable = Math.max(1, valueFromIntOrPercent(objectAt(strategy['rollingUpdate'])['maxUnavailable'] ?? 1, desired, true) ?? 1)
    let unavailable = 0
    const oldAvailable: JsonObject[] = []
    for (const pod of daemonPods.values()) {
      const available = pod !== undefined && isPodAvailable(pod, minReadySeconds, nowMs)
      if (!available) unavailable++
      if (pod === undefined || podRevisionLabel(pod) === update.hash) continue
      if (!available) deletePod(pod) // An old pod that is not available costs nothing to replace.
      else oldAvailable.push(pod)
    }
    for (const pod of oldAvailable.sort(byCreationThenName)) {
      if (unavailable >= maxUnavailable) break
      deletePod(pod)
      unavailable++
    }
  }

  const live = new Set(observed.pods.map(podRevisionLabel))
  truncateHistory(daemonSet, revisions.revisions, live, new Set([update.name]), plan)

  const newStatus = daemonSetStatus(daemonSet, { desired, misscheduled, daemonPods, updateHash: update.hash, nowMs })
  if (!equalIgnoringNullFields(status, newStatus)) {
    plan.add({ type: 'updateStatus', resource: DAEMON_SETS, namespace, name: nameOf(daemonSet), object: { ...daemonSet, status: newStatus } })
  }
  for (const pod of daemonPods.values()) {
    const availableAtMs = pod === undefined ? undefined : podAvailableAtMs(pod, minReadySeconds)
    if (availableAtMs !== undefined && availableAtMs > nowMs) plan.requeueAfter(availableAtMs - nowMs)
  }
  return plan.build()
}

/** A new daemon pod for `nodeName`, named `<ds>-<5 random chars>`. */
function newDaemonPod(daemonSet: JsonObject, template: JsonObject, hash: string, nodeName: string, random: Random, taken: ReadonlySet<string>): JsonObject {
  const prefix = `${nameOf(daemonSet)}-`
  let name = generateName(prefix, random)
  while (taken.has(name)) name = generateName(prefix, random)
  const templateMetadata = metadataOf(template)
  const metadata: JsonObject = {
    name,
    generateName: prefix,
    namespace: namespaceOf(daemonSet),
    labels: { ...stringMapAt(templateMetadata['labels']), [CONTROLLER_REVISION_HASH_LABEL]: hash },
    ownerReferences: [controllerReferenceTo(daemonSet, DAEMON_SETS.apiVersion, DAEMON_SETS.kind)],
  }
  const annotations = stringMapAt(templateMetadata['annotations'])
  if (Object.keys(annotations).length > 0) metadata['annotations'] = annotations
  return { apiVersion: PODS.apiVersion, kind: PODS.kind, metadata, spec: daemonPodSpec(template, nodeName) }
}

/** The DaemonSet's status; zero counts are written (kubectl get ds prints them). */
function daemonSetStatus(
  daemonSet: JsonObject,
  counts: { desired: number; misscheduled: number; daemonPods: ReadonlyMap<string, JsonObject | undefined>; updateHash: string; nowMs: number },
): JsonObject {
  const minReadySeconds = numberAt(specOf(daemonSet)['minReadySeconds'], 0)
  let scheduled = 0
  let ready = 0
  let available = 0
  let updated = 0
  for (const pod of counts.daemonPods.values()) {
    if (pod === undefined) continue
    scheduled++
    if (isPodReady(pod)) ready++
    if (isPodAvailable(pod, minReadySeconds, counts.nowMs)) available++
    if (podRevisionLabel(pod) === counts.updateHash) updated++
  }
  const status: JsonObject = {
    currentNumberScheduled: scheduled,
    numberMisscheduled: counts.misscheduled,
    desiredNumberScheduled: counts.desired,
    numberReady: ready,
    observedGeneration: generationOf(daemonSet),
    updatedNumberScheduled: updated,
    numberAvailable: available,
    numberUnavailable: Math.max(0, counts.desired - available),
  }
  const previous = statusOf(daemonSet)
  if (typeof previous['collisionCount'] === 'number') status['collisionCount'] = previous['collisionCount']
  if (Array.isArray(previous['conditions']) && previous['conditions'].length > 0) status['conditions'] = cloneJson(previous['conditions'])
  return status
}
