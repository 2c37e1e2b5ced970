/**
 * A Deployment's revision history, read from its ReplicaSets as kubectl reads it (pkg/polymorphichelpers
 * history.go and rollback.go): each ReplicaSet the Deployment controls is one revision, numbered by
 * its `deployment.kubernetes.io/revision` annotation, with the `kubernetes.io/change-cause`
 * annotation as its reason. Undo patches the Deployment back to a revision's pod template with a
 * JSON patch, exactly the two operations kubectl sends; the controller then reuses that ReplicaSet
 * and gives it the next revision number.
 *
 * Pure functions over the objects; the command does the requests.
 */
import { canonicalEqual, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { CommandError } from './errors.ts'
import { controllerOf, objectAt, stringAt, stringMapAt } from './object-fields.ts'

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision'
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause'

/**
 * Annotations that belong to the Deployment itself, never copied back from a ReplicaSet on undo
 * (kubectl's annotationsToSkip).
 */
const ANNOTATIONS_KEPT_ON_UNDO = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
])

/** One revision of a deployment. */
export interface Revision {
  readonly number: number
  readonly changeCause: string | undefined
  readonly replicaSet: JsonObject
}

/** The ReplicaSets whose controller owner reference is this deployment (by uid). */
export function ownedReplicaSets(deployment: JsonObject, replicaSets: readonly JsonObject[]): JsonObject[] {
  const uid = stringAt(deployment, ['metadata', 'uid'])
  return replicaSets.filter((set) => {
    const owner = controllerOf(set)
    return owner !== undefined && stringAt(owner, ['uid']) === uid && uid !== ''
  })
}

/** The revisions of these ReplicaSets, oldest first; sets without a valid revision are left out. */
export function revisionsOf(replicaSets: readonly JsonObject[]): Revision[] {
  const revisions: Revision[] = []
  for (const replicaSet of replicaSets) {
    const annotations = stringMapAt(replicaSet, 'metadata', 'annotations')
    const number = Number(annotations[REVISION_ANNOTATION])
    if (annotations[REVISION_ANNOTATION] === undefined || !Number.isSafeInteger(number) || number < 0) continue
    revisions.push({ number, changeCause: annotations[CHANGE_CAUSE_ANNOTATION], replicaSet })
  }
  return revisions.sort((a, b) => a.number - b.number)
}

/** The `rollout history` table text (kubectl's layout before alignment: tab-separated). */
export function historyLines(revisions: readonly Revision[]): string {
  const rows = revisions.map((revision) => `${revision.number}\t${revision.changeCause === undefined || revision.changeCause === '' ? '<none>' : revision.changeCause}\n`)
  return `REVISION\tCHANGE-CAUSE\n${rows.join('')}`
}

/**
 * The revision `rollout undo` goes back to: `toRevision`, or with 0 the one before the newest.
 * @throws CommandError with kubectl's messages when there is no such revision.
 */
export function rollbackTarget(deploymentName: string, revisions: readonly Revision[], toRevision: number): Revision {
  if (toRevision > 0) {
    const found = revisions.find((revision) => revision.number === toRevision)
    if (found === undefined) throw new CommandError(`unable to find specified revision ${toRevision} in history`)
    return found
  }
  const previous = revisions[revisions.length - 2]
  if (previous === undefined) throw new CommandError(`no rollout history found for deployment "${deploymentName}"`)
  return previous
}

/** True when the deployment already runs this revision's template (undo then does nothing). */
export function templateMatches(deployment: JsonObject, revision: Revision): boolean {
  return canonicalEqual(templateWithoutHash(objectAt(revision.replicaSet, 'spec', 'template')), objectAt(deployment, 'spec', 'template'))
}

/**
 * kubectl's undo patch: replace `/spec/template` with the revision's template (without the
 * pod-template-hash label) and `/metadata/annotations` with the deployment's own annotations plus
 * the ReplicaSet's (change-cause among them).
 */
export function rollbackPatch(deployment: JsonObject, revision: Revision): JsonValue[] {
  const own = stringMapAt(deployment, 'metadata', 'annotations')
  const annotations: Record<string, string> = {}
  for (const key of ANNOTATIONS_KEPT_ON_UNDO) if (own[key] !== undefined) annotations[key] = own[key]
  for (const [key, value] of Object.entries(stringMapAt(revision.replicaSet, 'metadata', 'annotations'))) {
    if (!ANNOTATIONS_KEPT_ON_UNDO.has(key)) annotations[key] = value
  }
  const template = templateWithoutHash(objectAt(revision.replicaSet, 'spec', 'template'))
  // JSON patch `replace` needs the member to exist; a deployment without annotations gets `add`,
  // which is the same operation for a present member.
  const hasAnnotations = Object.keys(objectAt(deployment, 'metadata')).includes('annotations')
  return [
    { op: 'replace', path: '/spec/template', value: template },
    { op: hasAnnotations ? 'replace' : 'add', path: '/metadata/annotations', value: annotations },
  ]
}

/**
 * The ReplicaSet whose pod template equals the deployment's (ignoring the pod-template-hash
 * label) and the others: kubectl's new and old ReplicaSets.
 */
export function splitReplicaSets(deployment: JsonObject, replicaSets: readonly JsonObject[]): { current: JsonObject | undefined; old: JsonObject[] } {
  const template = templateWithoutHash(objectAt(deployment, 'spec', 'template'))
  const sorted = [...replicaSets].sort((a, b) => stringAt(a, ['metadata', 'creationTimestamp']).localeCompare(stringAt(b, ['metadata', 'creationTimestamp'])))
  const current = sorted.find((set) => canonicalEqual(templateWithoutHash(objectAt(set, 'spec', 'template')), template))
  return { current, old: sorted.filter((set) => set !== current) }
}

/** A pod template without the `pod-template-hash` label the ReplicaSet controller adds. */
export function templateWithoutHash(template: JsonObject): JsonObject {
  const labels = { ...stringMapAt(template, 'metadata', 'labels') }
  delete labels['pod-template-hash']
  return { ...template, metadata: { ...objectAt(template, 'metadata'), labels } }
}
