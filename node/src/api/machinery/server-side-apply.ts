/**
 * Server-side apply (`PATCH` with `Content-Type: application/apply-patch+yaml`): the applied
 * configuration is the complete intent of one field manager, and the server merges it into the
 * live object while tracking who owns which field in `metadata.managedFields`.
 *
 * An apply, in the order `serverSideApply` carries it out:
 *
 * 1. The manager's field set becomes exactly the fields of the applied configuration
 *    (field-set.ts `fieldSetOf`, without server-owned fields and, on the main resource, `status`).
 * 2. The configuration merges into the live object: objects field by field, keyed lists item by
 *    item (containers by name, finalizers as a set), everything else replaced.
 * 3. Fields the manager applied last time and omits now are removed, unless some manager (this
 *    one through its new configuration, or any other) still owns them or something below them.
 * 4. A field another manager owns whose value this apply changes is a conflict: the whole apply
 *    fails with 409 unless `force`, in which case the other manager loses the field. A field set
 *    to the value it already has is simply shared.
 *
 * This is our own rendering of the semantics of sigs.k8s.io/structured-merge-diff without a
 * schema: which lists are keyed comes from patch.ts `defaultMergeKeyOf`, and lists it does not
 * know are atomic. Pure and synchronous: no I/O, inputs never modified.
 */
import { assert } from '../../../../lib/assert.ts'
import { cloneJson, dropNulls, isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './canonical.ts'
import {
  compareObjects,
  decodeToken,
  FieldSet,
  fieldSetOf,
  fieldToken,
  formatPath,
  itemIndex,
  keyToken,
  listItemTokens,
  valueAtPath,
  type FieldPath,
  type PathToken,
} from './field-set.ts'
import { describeManager, managedFieldsOf, managerIdentity, trackedFields, withManagedFields, withoutManagedFields, type ManagedFieldsEntry } from './managed-fields.ts'
import { defaultMergeKeyOf, MERGE_AS_SET, type MergeKeyOf } from './patch.ts'
import { ApiError } from './status.ts'

/** One field an apply would take from another manager. */
export interface ApplyConflict {
  /** The other manager as the message names it: `"kubectl"`, `"kubectl-edit" using apps/v1`. */
  readonly manager: string
  /** The field, as Kubernetes prints paths: `.spec.replicas`. */
  readonly field: string
}

/**
 * 409 Conflict: the apply would change fields that other managers own. The message and causes
 * are kube-apiserver's, which kubectl prints followed by its advice to use --force-conflicts:
 *
 *   Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas
 *
 * Several conflicts are grouped by manager, one field per line:
 *
 *   Apply failed with 2 conflicts: conflicts with "a" using v1:
 *   - .data.x
 *   - .data.y
 */
export class ApplyConflictError extends ApiError {
  override name = 'ApplyConflictError'
  readonly conflicts: readonly ApplyConflict[]

  constructor(conflicts: readonly ApplyConflict[]) {
    assert(conflicts.length > 0, 'an apply conflict needs at least one conflicting field')
    super({
      code: 409,
      reason: 'Conflict',
      message: conflictMessage(conflicts),
      details: { causes: conflicts.map((conflict) => ({ reason: 'FieldManagerConflict', message: `conflict with ${conflict.manager}`, field: conflict.field })) },
    })
    this.conflicts = conflicts
  }
}

function conflictMessage(conflicts: readonly ApplyConflict[]): string {
  const [only] = conflicts
  if (conflicts.length === 1 && only !== undefined) return `Apply failed with 1 conflict: conflict with ${only.manager}: ${only.field}`
  const lines: string[] = []
  for (const manager of [...new Set(conflicts.map((conflict) => conflict.manager))]) {
    lines.push(`conflicts with ${manager}:`)
    for (const conflict of conflicts) if (conflict.manager === manager) lines.push(`- ${conflict.field}`)
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`
}

/** The inputs of one apply. */
export interface ServerSideApplyOptions {
  /** The stored object, undefined when the apply creates it. */
  readonly live: JsonObject | undefined
  /** The decoded request body: the manager's whole intent for the object. */
  readonly applied: JsonObject
  /** The `fieldManager` query parameter (required for apply; see fieldManagerErrors). */
  readonly manager: string
  /** The `force` query parameter: take conflicting fields instead of failing. */
  readonly force: boolean
  /** The time of the apply, RFC 3339 (seconds precision, like creationTimestamp). */
  readonly nowIso: string
  /** The API version of the request (`apps/v1`, `v1`). */
  readonly apiVersion: string
  /** `status` for an apply through the status subresource; undefined for the main resource. */
  readonly subresource?: string | undefined
  readonly mergeKeyOf?: MergeKeyOf
}

/** The result of an apply. */
export interface ServerSideApplyResult {
  /**
   * The object to store, with its new managedFields. Server-owned metadata (uid,
   * resourceVersion, creationTimestamp, generation) is the live object's, or absent on create.
   */
  readonly object: JsonObject
  /** True when `object` differs from `live` (including managedFields); false for a no-op. */
  readonly changed: boolean
}

/** Metadata fields of an applied configuration that only the server sets; they are dropped. */
const SERVER_METADATA = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'selfLink'] as const

/**
 * Applies `applied` as `manager` to `live` (or creates the object when `live` is undefined).
 * Validation, defaulting, the resourceVersion precondition and storing are the caller's.
 * @throws ApplyConflictError (409) when other managers own fields the apply changes and `force`
 *   is false.
 * @throws ApiError 422 when a keyed list of the configuration has two items with the same key or
 *   an item without its key.
 */
export function serverSideApply(options: ServerSideApplyOptions): ServerSideApplyResult {
  assert(options.manager !== '', 'server-side apply needs a field manager; validate fieldManager first')
  const mergeKeyOf = options.mergeKeyOf ?? defaultMergeKeyOf
  const configuration = appliedConfiguration(options.applied, options.subresource)
  validateKeyedLists(configuration, mergeKeyOf)
  const appliedFields = trackedFields(fieldSetOf(configuration, mergeKeyOf), options.subresource)
  const identity = managerIdentity({ manager: options.manager, operation: 'Apply', apiVersion: options.apiVersion, subresource: options.subresource })
  const entries = managedFieldsOf(options.live)
  const previous = entries.find((entry) => managerIdentity(entry) === identity)
  const others = entries.filter((entry) => entry !== previous)
  const own = (time: string | undefined): ManagedFieldsEntry => ({
    manager: options.manager,
    operation: 'Apply',
    apiVersion: options.apiVersion,
    time,
    subresource: options.subresource,
    fields: appliedFields,
  })

  if (options.live === undefined) return { object: withManagedFields(configuration, [own(options.nowIso)]), changed: true }

  const live = withoutManagedFields(options.live)
  let merged = mergeValue(live, configuration, [], mergeKeyOf) as JsonObject
  if (previous !== undefined) {
    const stillOwned = others.reduce((fields, entry) => fields.union(entry.fields), appliedFields)
    merged = prune(merged, { dropped: previous.fields.difference(stillOwned), stillOwned, configuration })
  }

  const changes = compareObjects(live, merged, mergeKeyOf)
  const written = trackedFields(changes.added.union(changes.modified), options.subresource)
  const conflicts = others.flatMap((entry) => entry.fields.intersection(written).paths().map((path) => ({ entry, path })))
  if (conflicts.length > 0 && !options.force) {
    const sorted = conflicts.sort((a, b) => compareText(managerIdentity(a.entry), managerIdentity(b.entry)))
    throw new ApplyConflictError(sorted.map(({ entry, path }) => ({ manager: describeManager(entry), field: formatPath(path) })))
  }

  // Forced fields move to this manager; removed fields leave everyone.
  const lost = written.union(changes.removed)
  const remaining = others.map((entry) => ({ ...entry, fields: entry.fields.difference(lost) }))
  const objectChanged = !jsonEqual(live, merged)
  // A no-op apply keeps the manager's time, so that re-applying the same file changes nothing.
  const time = objectChanged || previous === undefined ? options.nowIso : (previous.time ?? options.nowIso)
  const object = withManagedFields(merged, [own(time), ...remaining])
  return { object, changed: !jsonEqual(object, options.live) }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * The configuration as it is merged and owned: null fields dropped (a null in an applied
 * configuration means "not set"), server-owned metadata dropped, and `status` dropped on the main
 * resource or everything but `status` (and the object's identity) on the status subresource.
 */
function appliedConfiguration(applied: JsonObject, subresource: string | undefined): JsonObject {
  const configuration = dropNulls(applied)
  if (isJsonObject(configuration['metadata'])) {
    const metadata: JsonObject = { ...configuration['metadata'] }
    for (const field of SERVER_METADATA) delete metadata[field]
    configuration['metadata'] = metadata
  }
  if (subresource !== 'status') {
    delete configuration['status']
    return configuration
  }
  const identity: JsonObject = {}
  for (const field of ['apiVersion', 'kind', 'status']) if (configuration[field] !== undefined) identity[field] = configuration[field] as JsonValue
  const metadata = configuration['metadata']
  if (isJsonObject(metadata)) {
    identity['metadata'] = {}
    for (const field of ['name', 'namespace']) if (metadata[field] !== undefined) identity['metadata'][field] = metadata[field] as JsonValue
  }
  return identity
}

/**
 * Rejects keyed lists that cannot be keyed: an applied configuration must name each item of a
 * list of objects with a merge key exactly once (a live object that breaks this, written by an
 * update, is instead treated as holding an atomic list).
 */
function validateKeyedLists(value: JsonValue, mergeKeyOf: MergeKeyOf, path: FieldPath = [], names: readonly string[] = []): void {
  if (isJsonObject(value)) {
    for (const [name, child] of Object.entries(value)) validateKeyedLists(child, mergeKeyOf, [...path, fieldToken(name)], [...names, name])
    return
  }
  if (!Array.isArray(value)) return
  const mergeKey = mergeKeyOf(names)
  if (mergeKey === undefined || mergeKey === MERGE_AS_SET || !value.every((item) => isJsonObject(item))) return
  const seen = new Set<PathToken>()
  for (const item of value as JsonObject[]) {
    const key = item[mergeKey]
    if (typeof key !== 'string' && typeof key !== 'number' && typeof key !== 'boolean') {
      throw invalidConfiguration(`${formatPath(path)}: associative list with keys has an element that omits key field ${JSON.stringify(mergeKey)}`)
    }
    const token = keyToken({ [mergeKey]: key })
    if (seen.has(token)) throw invalidConfiguration(`${formatPath(path)}: duplicate entries for key ${formatPath([token])}`)
    seen.add(token)
    for (const [name, child] of Object.entries(item)) validateKeyedLists(child, mergeKeyOf, [...path, token, fieldToken(name)], [...names, name])
  }
}

function invalidConfiguration(reason: string): ApiError {
  return new ApiError({ code: 422, reason: 'Invalid', message: `failed to create typed patch object: ${reason}` })
}

// ---------------------------------------------------------------------------------------------
// Merge

/**
 * `configuration` merged into `live`: objects field by field (live fields the configuration does
 * not mention stay), keyed lists item by item, anything else replaced by the configuration.
 */
function mergeValue(live: JsonValue, configuration: JsonValue, names: readonly string[], mergeKeyOf: MergeKeyOf): JsonValue {
  if (isJsonObject(live) && isJsonObject(configuration)) {
    const result = cloneJson(live)
    for (const [name, value] of Object.entries(configuration)) {
      result[name] = Object.hasOwn(live, name) ? mergeValue(live[name] as JsonValue, value, [...names, name], mergeKeyOf) : cloneJson(value)
    }
    return result
  }
  if (Array.isArray(live) && Array.isArray(configuration)) {
    const mergeKey = mergeKeyOf(names)
    const liveTokens = mergeKey === undefined ? undefined : listItemTokens(live, mergeKey)
    const configurationTokens = mergeKey === undefined ? undefined : listItemTokens(configuration, mergeKey)
    if (liveTokens !== undefined && configurationTokens !== undefined) {
      return mergeKeyedList(live, liveTokens, configuration, configurationTokens, names, mergeKeyOf)
    }
  }
  return cloneJson(configuration)
}

/**
 * Merges keyed lists without reordering the live items: an item both have is merged in place,
 * and an item only the configuration has goes right after the configuration's previous item (or
 * before the first item both have, or at the end).
 */
function mergeKeyedList(
  live: readonly JsonValue[],
  liveTokens: readonly PathToken[],
  configuration: readonly JsonValue[],
  configurationTokens: readonly PathToken[],
  names: readonly string[],
  mergeKeyOf: MergeKeyOf,
): JsonValue[] {
  const result = live.map((item, index) => ({ token: liveTokens[index] as PathToken, item: cloneJson(item) }))
  const firstShared = result.findIndex(({ token }) => configurationTokens.includes(token))
  let cursor = firstShared >= 0 ? firstShared : result.length
  configuration.forEach((item, index) => {
    const token = configurationTokens[index] as PathToken
    const at = result.findIndex((entry) => entry.token === token)
    if (at >= 0) {
      const entry = result[at] as { token: PathToken; item: JsonValue }
      entry.item = mergeValue(entry.item, item, names, mergeKeyOf)
      cursor = at + 1
    } else {
      result.splice(cursor, 0, { token, item: cloneJson(item) })
      cursor++
    }
  })
  return result.map(({ item }) => item)
}

// ---------------------------------------------------------------------------------------------
// Prune

/** What `prune` removes and what it must keep. */
interface PruneOptions {
  /** What the manager applied last time, omits now, and nobody else owns. */
  readonly dropped: FieldSet
  /** Everything some manager owns after this apply. */
  readonly stillOwned: FieldSet
  /** The applied configuration. */
  readonly configuration: JsonObject
}

/**
 * `merged` without the fields in `dropped`. A field stays when `stillOwned` has it or something
 * below it, when the configuration has it (an empty list the configuration sets owns nothing but
 * must still be there, or applying twice would differ from applying once), and when it is the key
 * field of a list item that stays. Objects and lists left empty by a removal go too, on the same
 * terms.
 */
function prune(merged: JsonObject, { dropped, stillOwned, configuration }: PruneOptions): JsonObject {
  const result = cloneJson(merged)
  const keep = (path: FieldPath): boolean => stillOwned.hasAtOrBelow(path) || valueAtPath(configuration, path) !== undefined
  // Deepest first, so that a parent is judged after its children are gone.
  const paths = dropped.paths().sort((a, b) => b.length - a.length)
  for (const path of paths) {
    if (keep(path) || isItemKeyField(path)) continue
    if (!removeAt(result, path)) continue
    for (let depth = path.length - 1; depth > 0; depth--) {
      const ancestor = path.slice(0, depth)
      if (!ancestor[ancestor.length - 1]?.startsWith('f:') || keep(ancestor)) break
      const value = valueAtPath(result, ancestor)
      const empty = Array.isArray(value) ? value.length === 0 : isJsonObject(value) && Object.keys(value).length === 0
      if (!empty) break
      removeAt(result, ancestor)
    }
  }
  return result
}

/** True for `...k:{"name":"x"}.f:name`: the field that identifies a keyed list item. */
function isItemKeyField(path: FieldPath): boolean {
  const field = path[path.length - 1]
  const item = path[path.length - 2]
  if (field === undefined || item === undefined || !field.startsWith('f:') || !item.startsWith('k:')) return false
  const decoded = decodeToken(item)
  return decoded.kind === 'key' && Object.hasOwn(decoded.keys, field.slice(2))
}

/** Removes the value at `path` from `object` in place; false when there is none. */
function removeAt(object: JsonObject, path: FieldPath): boolean {
  const last = path[path.length - 1]
  if (last === undefined) return false
  const parent = valueAtPath(object, path.slice(0, -1))
  if (last.startsWith('f:')) {
    const name = last.slice(2)
    if (!isJsonObject(parent) || !Object.hasOwn(parent, name)) return false
    delete parent[name]
    return true
  }
  if (!Array.isArray(parent)) return false
  const index = itemIndex(parent, last)
  if (index < 0) return false
  parent.splice(index, 1)
  return true
}
