/**
 * The Pod kind: defaults (`SetDefaults_Pod` on top of the PodSpec ones, the initial status), the
 * spec rules, and the narrow set of spec changes an update may make.
 */
import { canonicalEqual, cloneJson, isJsonObject, type JsonObject } from '../../machinery/canonical.ts'
import { fieldForbidden, type FieldError } from '../../machinery/field-errors.ts'
import { ensureObject, objectAt, objectsAt, setDefault, stringAt } from './json-access.ts'
import { defaultPodSpecInPlace, podSpecErrors } from './pod-spec.ts'
import { qosClassOf } from './qos.ts'

/**
 * A container that sets a limit but no request for a resource requests its limit: without this
 * a pod with only limits would look BestEffort to the scheduler. Mutates.
 */
function defaultRequestsFromLimits(container: JsonObject): void {
  const resources = ensureObject(container, 'resources')
  const limits = objectAt(resources['limits'])
  if (Object.keys(limits).length === 0) return
  const requests = ensureObject(resources, 'requests')
  for (const [name, limit] of Object.entries(limits)) setDefault(requests, name, limit)
}

/**
 * Fills a Pod's defaults in place, including `status.phase: Pending` and `status.qosClass`. The
 * QoS class is always recomputed: it follows from the resources, which cannot change, so a
 * client-supplied value can only be wrong. Kubernetes resets the whole status on create; here a
 * given phase is kept, which lets simulations and tests create pods in a known phase.
 */
export function defaultPod(pod: JsonObject): void {
  const spec = ensureObject(pod, 'spec')
  for (const container of [...objectsAt(spec['containers']), ...objectsAt(spec['initContainers'])]) defaultRequestsFromLimits(container)
  defaultPodSpecInPlace(spec)
  setDefault(spec, 'enableServiceLinks', true)
  const status = ensureObject(pod, 'status')
  setDefault(status, 'phase', 'Pending')
  status['qosClass'] = qosClassOf(spec)
}

const POD_UPDATE_MESSAGE =
  'pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, ' +
  '`spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)'

/**
 * The new spec with every change an update may make undone, so that what remains can be compared
 * with the old spec. Allowed: container images, activeDeadlineSeconds, added tolerations, and —
 * a Flotilla deviation — setting `nodeName` on an unbound pod, because the scheduler binds by
 * updating the pod rather than through a `binding` subresource.
 */
function withAllowedChangesUndone(next: JsonObject, previous: JsonObject): JsonObject {
  const spec = cloneJson(next)
  for (const list of ['containers', 'initContainers']) {
    const oldContainers = objectsAt(previous[list])
    objectsAt(spec[list]).forEach((container, i) => {
      const old = oldContainers[i]
      if (old !== undefined && stringAt(old['name']) === stringAt(container['name'])) container['image'] = old['image'] ?? null
    })
  }
  spec['activeDeadlineSeconds'] = previous['activeDeadlineSeconds'] ?? null
  const oldTolerations = objectsAt(previous['tolerations'])
  const newTolerations = objectsAt(spec['tolerations'])
  if (oldTolerations.every((toleration) => newTolerations.some((candidate) => canonicalEqual(candidate, toleration)))) spec['tolerations'] = previous['tolerations'] ?? null
  if (stringAt(previous['nodeName']) === '') spec['nodeName'] = previous['nodeName'] ?? null
  return spec
}

/** Problems of a (defaulted) Pod; with `old`, also the spec changes an update may not make. */
export function podErrors(pod: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(pod['spec'])
  const errors = podSpecErrors(spec, 'spec')
  if (old !== undefined && isJsonObject(old['spec'])) {
    if (!canonicalEqual(withAllowedChangesUndone(spec, old['spec']), old['spec'])) errors.push(fieldForbidden('spec', POD_UPDATE_MESSAGE))
  }
  return errors
}
