/**
 * ControllerRevisions: the template history of StatefulSets and DaemonSets (kube's
 * controller/history package). A revision stores the pod template it stands for in `data`
 * (`{spec: {template}}`, as Kubernetes' patch does), a `revision` number that grows with every
 * new or re-applied template, and the `controller-revision-hash` label. Pods carry the label of
 * the revision they were made from, which is how a controller tells updated pods from old ones.
 *
 * Names are `<owner>-<hash>`, the hash being the template hash (template-hash.ts) salted with
 * `status.collisionCount`. A stored revision with that name but another template is a collision:
 * the controller bumps collisionCount and tries again on its next reconcile.
 *
 * Going back to an older template (a rollback) does not make a new revision: the equal old one
 * gets the next revision number, as Kubernetes does.
 */
import { cloneJson, type JsonObject } from '../api/machinery/canonical.ts'
import type { ResourceRef } from '../api/server/object-store.ts'
import {
  controllerReferenceTo,
  equalIgnoringNullFields,
  labelsOf,
  nameOf,
  namespaceOf,
  numberAt,
  objectAt,
  specOf,
  uidOf,
} from './object-fields.ts'
import type { PlanBuilder } from './plan.ts'
import { computePodTemplateHash } from './template-hash.ts'

/** ControllerRevisions: apps/v1. */
export const CONTROLLER_REVISIONS: ResourceRef = { group: 'apps', resource: 'controllerrevisions', kind: 'ControllerRevision', apiVersion: 'apps/v1', namespaced: true }

/** The label on revisions and pods naming the revision (StatefulSet: its name; DaemonSet: its hash). */
export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash'

/** The revision an owner's pods should be made from. */
export interface UpdateRevision {
  /** `<owner>-<hash>`. */
  readonly name: string
  readonly hash: string
  /** The pod template the revision stands for. */
  readonly template: JsonObject
}

/** What syncRevisions decided. */
export type RevisionSync =
  | { readonly kind: 'ready'; readonly update: UpdateRevision; readonly revisions: readonly JsonObject[] }
  /** The revision name is taken by another template: bump collisionCount and come back. */
  | { readonly kind: 'collision'; readonly collisionCount: number }

/** The pod template a revision stores. */
export function revisionTemplate(revision: JsonObject): JsonObject {
  // The stored patch marks the template `$patch: replace` (a strategic merge directive).
  const { $patch: _directive, ...template } = objectAt(specOf(objectAt(revision['data']))['template'])
  return template
}

export function revisionNumber(revision: JsonObject): number {
  return numberAt(revision['revision'], 0)
}

/** Oldest revision first; equal numbers by name so the order is total. */
export function byRevisionNumber(a: JsonObject, b: JsonObject): number {
  return revisionNumber(a) - revisionNumber(b) || (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0)
}

/**
 * Makes sure a revision for `owner`'s current template exists and is the newest, planning the
 * create or renumbering. `revisions` are the revisions the owner controls.
 */
export function syncRevisions(
  owner: JsonObject,
  ownerType: { readonly apiVersion: string; readonly kind: string },
  revisions: readonly JsonObject[],
  collisionCount: number | undefined,
  plan: PlanBuilder,
): RevisionSync {
  const template = objectAt(specOf(owner)['template'])
  const sorted = [...revisions].sort(byRevisionNumber)
  const newest = sorted.length === 0 ? 0 : revisionNumber(sorted[sorted.length - 1]!)
  const equal = sorted.filter((revision) => equalIgnoringNullFields(revisionTemplate(revision), template))
  const existing = equal[equal.length - 1]
  if (existing !== undefined) {
    const hash = labelsOf(existing)[CONTROLLER_REVISION_HASH_LABEL] ?? nameOf(existing).slice(nameOf(owner).length + 1)
    let current = existing
    if (revisionNumber(existing) < newest) {
      // A rollback: the old template becomes the newest revision again.
      current = { ...existing, revision: newest + 1 }
      plan.add({ type: 'update', resource: CONTROLLER_REVISIONS, namespace: namespaceOf(owner), name: nameOf(existing), object: current })
    }
    const updated = sorted.map((revision) => (revision === existing ? current : revision))
    return { kind: 'ready', update: { name: nameOf(existing), hash, template }, revisions: updated }
  }
  const hash = computePodTemplateHash(template, collisionCount)
  const name = `${nameOf(owner)}-${hash}`
  if (sorted.some((revision) => nameOf(revision) === name)) return { kind: 'collision', collisionCount: (collisionCount ?? 0) + 1 }
  const revision: JsonObject = {
    apiVersion: CONTROLLER_REVISIONS.apiVersion,
    kind: CONTROLLER_REVISIONS.kind,
    metadata: {
      name,
      namespace: namespaceOf(owner),
      labels: { ...labelsOf(template), [CONTROLLER_REVISION_HASH_LABEL]: hash },
      ownerReferences: [controllerReferenceTo(owner, ownerType.apiVersion, ownerType.kind)],
    },
    data: { spec: { template: { ...cloneJson(template), $patch: 'replace' } } },
    revision: newest + 1,
  }
  plan.add({ type: 'create', resource: CONTROLLER_REVISIONS, namespace: namespaceOf(owner), object: revision })
  return { kind: 'ready', update: { name, hash, template }, revisions: [...sorted, revision] }
}

/**
 * Plans the deletion of the oldest revisions beyond `spec.revisionHistoryLimit` (default 10)
 * that no live pod and no named revision (`keep`) still uses.
 */
export function truncateHistory(owner: JsonObject, revisions: readonly JsonObject[], liveHashes: ReadonlySet<string>, keep: ReadonlySet<string>, plan: PlanBuilder): void {
  const limit = Math.max(0, numberAt(specOf(owner)['revisionHistoryLimit'], 10))
  const history = [...revisions]
    .sort(byRevisionNumber)
    .filter((revision) => uidOf(revision) !== '' && !keep.has(nameOf(revision)))
    .filter((revision) => !liveHashes.has(labelsOf(revision)[CONTROLLER_REVISION_HASH_LABEL] ?? '') && !liveHashes.has(nameOf(revision)))
  for (const revision of history.slice(0, Math.max(0, history.length - limit))) {
    plan.add({ type: 'delete', resource: CONTROLLER_REVISIONS, namespace: namespaceOf(revision), name: nameOf(revision), uid: uidOf(revision) })
  }
}

/** The pod's revision label value. */
export function podRevisionLabel(pod: JsonObject): string {
  return labelsOf(pod)[CONTROLLER_REVISION_HASH_LABEL] ?? ''
}
