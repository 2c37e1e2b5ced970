/**
 * A Deployment's ReplicaSets as its revision history: which ReplicaSet is "new" (its template is
 * the Deployment's), the revision annotations that `kubectl rollout history/undo` read, the
 * annotations copied from the Deployment (so `kubernetes.io/change-cause` shows up in the
 * history), and the shape of a freshly minted ReplicaSet.
 *
 * A rollback needs no special path: `kubectl rollout undo` writes an old template back into the
 * Deployment, the old ReplicaSet with that template becomes the new one again, and it is given
 * revision max+1 (its previous number moves to the revision-history annotation).
 */
import { cloneJson, type JsonObject } from '../api/machinery/canonical.ts'
import {
  annotationsOf,
  byCreationThenName,
  controllerReferenceTo,
  equalIgnoringNullFields,
  labelsOf,
  metadataOf,
  nameOf,
  namespaceOf,
  numberAt,
  objectAt,
  specOf,
} from './object-fields.ts'
import { POD_TEMPLATE_HASH_LABEL, templateWithoutHash } from './template-hash.ts'

/** The rollout sequence number of a ReplicaSet (and, copied, of its Deployment). */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision'
/** Earlier revision numbers a ReplicaSet served under (set when a rollback reuses it). */
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history'
/** The Deployment's spec.replicas when the ReplicaSet was last sized: tells scaling from rollout. */
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas'
/** spec.replicas + maxSurge when last sized: the base of proportional scaling. */
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas'
/** Why a revision was made (kubectl --record); copied to ReplicaSets like other annotations. */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause'

/** The revision-history annotation is capped (Kubernetes: about 100 entries). */
const REVISION_HISTORY_MAX_CHARS = 2000

/** Deployment annotations that are not copied to its ReplicaSets. */
const ANNOTATIONS_NOT_COPIED: ReadonlySet<string> = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  'deprecated.deployment.rollback.to',
])

/** The revision annotation as a number; 0 when absent or not a number (such RSs are skipped). */
export function revisionOf(object: JsonObject): number {
  const text = annotationsOf(object)[REVISION_ANNOTATION]
  if (text === undefined || !/^\d+$/.test(text)) return 0
  return Number(text)
}

/** The highest revision among `replicaSets` (0 when none). */
export function maxRevision(replicaSets: readonly JsonObject[]): number {
  return replicaSets.reduce((max, replicaSet) => Math.max(max, revisionOf(replicaSet)), 0)
}

/**
 * True when two pod templates are equal apart from the pod-template-hash label (the Deployment's
 * template never has one) and apart from key order and null fields (`rollout undo` sends
 * `creationTimestamp: null`).
 */
export function templatesEqualIgnoringHash(a: JsonObject, b: JsonObject): boolean {
  return equalIgnoringNullFields(templateWithoutHash(a), templateWithoutHash(b))
}

/** The Deployment's ReplicaSets split into the new one (if any) and the old ones, oldest first. */
export function splitNewAndOld(
  deployment: JsonObject,
  replicaSets: readonly JsonObject[],
): { newReplicaSet: JsonObject | undefined; old: JsonObject[] } {
  const template = templateWithoutHash(objectAt(specOf(deployment)['template']))
  const sorted = [...replicaSets].sort(byCreationThenName)
  // Several ReplicaSets can match after upgrades (kubernetes#40415); the oldest wins, deterministically.
  const newReplicaSet = sorted.find((replicaSet) => equalIgnoringNullFields(templateWithoutHash(objectAt(specOf(replicaSet)['template'])), template))
  return { newReplicaSet, old: sorted.filter((replicaSet) => replicaSet !== newReplicaSet) }
}

/**
 * The ReplicaSet's annotations after syncing them with the Deployment for revision `newRevision`:
 * the Deployment's annotations copied over (except the ones above), the revision raised to
 * `newRevision` when lower (the old number appended to the revision history), and for a
 * ReplicaSet about to be created the desired/max replicas annotations. Returns undefined when
 * nothing changes.
 */
export function syncedReplicaSetAnnotations(
  deployment: JsonObject,
  replicaSet: JsonObject,
  newRevision: number,
  replicas?: { desired: number; max: number },
): Record<string, string> | undefined {
  const annotations = annotationsOf(replicaSet)
  let changed = false
  for (const [key, value] of Object.entries(annotationsOf(deployment))) {
    if (ANNOTATIONS_NOT_COPIED.has(key) || annotations[key] === value) continue
    annotations[key] = value
    changed = true
  }
  const oldRevisionText = annotations[REVISION_ANNOTATION]
  const oldRevision = oldRevisionText !== undefined && /^\d+$/.test(oldRevisionText) ? Number(oldRevisionText) : 0
  if (oldRevision < newRevision) {
    annotations[REVISION_ANNOTATION] = String(newRevision)
    changed = true
    if (oldRevisionText !== undefined) appendRevisionHistory(annotations, oldRevisionText)
  }
  if (replicas !== undefined) {
    annotations[DESIRED_REPLICAS_ANNOTATION] = String(replicas.desired)
    annotations[MAX_REPLICAS_ANNOTATION] = String(replicas.max)
    changed = true
  }
  return changed ? annotations : undefined
}

function appendRevisionHistory(annotations: Record<string, string>, oldRevision: string): void {
  const history = annotations[REVISION_HISTORY_ANNOTATION] ?? ''
  const entries = history === '' ? [] : history.split(',')
  entries.push(oldRevision)
  // Drop the oldest entries until the list fits, as Kubernetes does.
  while (entries.join(',').length > REVISION_HISTORY_MAX_CHARS && entries.length > 1) entries.shift()
  annotations[REVISION_HISTORY_ANNOTATION] = entries.join(',')
}

/** The ReplicaSet sizing annotations for a Deployment of `desired` replicas and `max` with surge. */
export function replicasAnnotationsNeedUpdate(replicaSet: JsonObject, desired: number, max: number): boolean {
  const annotations = annotationsOf(replicaSet)
  return annotations[DESIRED_REPLICAS_ANNOTATION] !== String(desired) || annotations[MAX_REPLICAS_ANNOTATION] !== String(max)
}

/** An integer annotation, or undefined when absent or not an integer. */
export function intAnnotation(object: JsonObject, key: string): number | undefined {
  const text = annotationsOf(object)[key]
  return text !== undefined && /^-?\d+$/.test(text) ? Number(text) : undefined
}

/**
 * The ReplicaSet a Deployment creates for its current template: named `<deployment>-<hash>`,
 * the hash added to its labels, selector and pod template labels, owned by the Deployment.
 */
export function newReplicaSetFor(
  deployment: JsonObject,
  options: { hash: string; replicas: number; annotations: Record<string, string> },
): JsonObject {
  const spec = specOf(deployment)
  const template = cloneJson(objectAt(spec['template']))
  const templateMetadata = metadataOf(template)
  const labels = { ...labelsOf(template), [POD_TEMPLATE_HASH_LABEL]: options.hash }
  template['metadata'] = { ...templateMetadata, labels }
  const selector = cloneJson(objectAt(spec['selector']))
  selector['matchLabels'] = { ...objectAt(selector['matchLabels']), [POD_TEMPLATE_HASH_LABEL]: options.hash }
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${nameOf(deployment)}-${options.hash}`,
      namespace: namespaceOf(deployment),
      labels,
      annotations: options.annotations,
      ownerReferences: [controllerReferenceTo(deployment, 'apps/v1', 'Deployment')],
    },
    spec: { replicas: options.replicas, minReadySeconds: numberAt(spec['minReadySeconds'], 0), selector, template },
  }
}
