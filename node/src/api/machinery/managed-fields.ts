/**
 * `metadata.managedFields`: who last set which fields of an object, and with which operation.
 *
 * Every write records its writer, the field manager. Server-side apply (server-side-apply.ts)
 * records `operation: "Apply"` entries; every other write (create, update, patch, and their
 * subresource variants) goes through `recordUpdate` here and records `operation: "Update"`
 * entries:
 *
 *   {"manager":"kubectl-edit","operation":"Update","apiVersion":"apps/v1",
 *    "time":"2021-03-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}
 *
 * An Update takes the fields it changed away from every other manager (so a later apply by
 * someone else conflicts on them) and adds them to its own entry; fields it removed leave every
 * entry. Managers left with no fields disappear. This follows the fieldmanager of
 * k8s.io/apiserver: the identity of an entry is (manager, operation, subresource, and for Update
 * the apiVersion), entries are sorted as it sorts them, and at most
 * MANAGED_FIELDS_UPDATE_MANAGERS_MAX Update entries are kept, the oldest merged into one
 * `ancient-changes` entry.
 *
 * The server's own bookkeeping fields (apiVersion, kind, metadata name, namespace, uid,
 * resourceVersion, generation, creationTimestamp, managedFields) are never owned, and neither is
 * `status` on the main resource (only the status subresource writes it).
 */
import { FlotillaError } from '../../../../lib/errors.ts'
import { assert } from '../../../../lib/assert.ts'
import { isJsonObject, type JsonObject, type JsonValue } from './canonical.ts'
import { fieldInvalid, fieldRequired, fieldTooLong, type FieldError } from './field-errors.ts'
import { compareObjects, FieldSet, InvalidFieldsV1Error, type FieldPath } from './field-set.ts'
import { defaultMergeKeyOf, type MergeKeyOf } from './patch.ts'

/** What kind of write an entry records. */
export type ManagedFieldsOperation = 'Apply' | 'Update'

/** One decoded entry of `metadata.managedFields`. */
export interface ManagedFieldsEntry {
  readonly manager: string
  readonly operation: ManagedFieldsOperation
  /** The API version the manager wrote with (`apps/v1`). */
  readonly apiVersion: string
  /** When the manager last changed the object (RFC 3339); undefined when unknown. */
  readonly time: string | undefined
  /** `status` or `scale` for writes through a subresource; undefined for the main resource. */
  readonly subresource: string | undefined
  readonly fields: FieldSet
}

/** `metadata.managedFields` that cannot be decoded. */
export class InvalidManagedFieldsError extends FlotillaError {
  override name = 'InvalidManagedFieldsError'
}

/** The most bytes a field manager name may have, as kube-apiserver limits it. */
export const FIELD_MANAGER_LENGTH_MAX_BYTES = 128

/**
 * The most Update entries an object keeps. Every distinct writer adds one, and controllers and
 * scripts are many; kube-apiserver bounds them at 10 so that managedFields cannot grow without
 * end, and so do we.
 */
export const MANAGED_FIELDS_UPDATE_MANAGERS_MAX = 10

/** The manager that absorbs the oldest Update entries beyond the maximum. */
export const ANCIENT_CHANGES_MANAGER = 'ancient-changes'

/** The manager of writes whose request names none and has no User-Agent. */
export const UNKNOWN_MANAGER = 'unknown'

/**
 * The field manager of a write without `fieldManager`, derived as kube-apiserver does from the
 * User-Agent: the text before the first `/` without unprintable characters, at most
 * FIELD_MANAGER_LENGTH_MAX_BYTES bytes. `kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19` gives
 * `kubectl`; no User-Agent gives `unknown`.
 */
export function managerFromUserAgent(userAgent: string | undefined): string {
  const prefix = (userAgent ?? '').split('/')[0] ?? ''
  let manager = ''
  for (const character of prefix) {
    if (!isPrintable(character)) continue
    if (Buffer.byteLength(manager + character) > FIELD_MANAGER_LENGTH_MAX_BYTES) break
    manager += character
  }
  return manager === '' ? UNKNOWN_MANAGER : manager
}

/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
function isPrintable(character: string): boolean {
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(character)
}

/**
 * The problems with a `fieldManager` query parameter, as kube-apiserver validates
 * Create/Update/PatchOptions: required for apply, at most 128 bytes, printable characters only.
 * The handler turns them into `invalid({ group: 'meta.k8s.io', kind: 'PatchOptions' }, '', errors)`
 * (422: `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for
 * apply patch`).
 */
export function fieldManagerErrors(fieldManager: string | undefined, options: { readonly apply: boolean }): FieldError[] {
  const errors: FieldError[] = []
  const manager = fieldManager ?? ''
  // kubectl defaults the manager to "kubectl" for apply; controllers have to set it explicitly.
  if (options.apply && manager === '') errors.push(fieldRequired('fieldManager', 'is required for apply patch'))
  if (Buffer.byteLength(manager) > FIELD_MANAGER_LENGTH_MAX_BYTES) errors.push(fieldTooLong('fieldManager', FIELD_MANAGER_LENGTH_MAX_BYTES))
  let position = 0
  for (const character of manager) {
    if (!isPrintable(character)) {
      const code = (character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')
      errors.push(fieldInvalid('fieldManager', manager, `invalid character U+${code} (at position ${position})`))
    }
    position += Buffer.byteLength(character)
  }
  return errors
}

// ---------------------------------------------------------------------------------------------
// Decoding and encoding

/**
 * Decodes `metadata.managedFields` (undefined and null are no entries).
 * @throws InvalidManagedFieldsError when an entry is malformed or two entries share an identity.
 */
export function decodeManagedFields(value: JsonValue | undefined): ManagedFieldsEntry[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new InvalidManagedFieldsError('Cannot decode metadata.managedFields: not a list')
  const entries = value.map((item, index) => decodeEntry(item, index))
  const identities = new Set<string>()
  for (const entry of entries) {
    const identity = managerIdentity(entry)
    if (identities.has(identity)) throw new InvalidManagedFieldsError(`Cannot decode metadata.managedFields: duplicate entry for ${identity}`)
    identities.add(identity)
  }
  return entries
}

function decodeEntry(item: JsonValue, index: number): ManagedFieldsEntry {
  const where = `metadata.managedFields[${index}]`
  if (!isJsonObject(item)) throw new InvalidManagedFieldsError(`Cannot decode ${where}: not an object`)
  const { manager, operation, apiVersion, time, fieldsType, fieldsV1, subresource } = item
  if (operation !== 'Apply' && operation !== 'Update') throw new InvalidManagedFieldsError(`Cannot decode ${where}: operation must be Apply or Update`)
  if (fieldsType !== undefined && fieldsType !== null && fieldsType !== 'FieldsV1') throw new InvalidManagedFieldsError(`Cannot decode ${where}: fieldsType must be FieldsV1`)
  const optionalString = (field: JsonValue | undefined, name: string): string | undefined => {
    if (field === undefined || field === null || field === '') return undefined
    if (typeof field !== 'string') throw new InvalidManagedFieldsError(`Cannot decode ${where}: ${name} must be a string`)
    return field
  }
  let fields = FieldSet.EMPTY
  try {
    if (fieldsV1 !== undefined && fieldsV1 !== null) fields = FieldSet.fromFieldsV1(fieldsV1)
  } catch (error) {
    if (error instanceof InvalidFieldsV1Error) throw new InvalidManagedFieldsError(`Cannot decode ${where}: ${error.message}`, { cause: error })
    throw error
  }
  return {
    manager: optionalString(manager, 'manager') ?? '',
    operation,
    apiVersion: optionalString(apiVersion, 'apiVersion') ?? '',
    time: optionalString(time, 'time'),
    subresource: optionalString(subresource, 'subresource'),
    fields,
  }
}

/** The entries of an object's `metadata.managedFields`, or none when they cannot be decoded. */
export function managedFieldsOf(object: JsonObject | undefined): ManagedFieldsEntry[] {
  try {
    return decodeManagedFields(metadataOf(object)['managedFields'])
  } catch (error) {
    // Unreadable bookkeeping must not make the object unwritable: kube-apiserver also starts
    // over with no managers then.
    if (error instanceof InvalidManagedFieldsError) return []
    throw error
  }
}

/**
 * The wire form of the entries: entries without fields are dropped, the rest sorted as
 * kube-apiserver sorts them (operation, then time, manager, apiVersion, subresource).
 */
export function encodeManagedFields(entries: readonly ManagedFieldsEntry[]): JsonObject[] {
  return entries
    .filter((entry) => !entry.fields.isEmpty())
    .sort(compareEntries)
    .map((entry) => ({
      manager: entry.manager,
      operation: entry.operation,
      apiVersion: entry.apiVersion,
      ...(entry.time === undefined ? {} : { time: entry.time }),
      fieldsType: 'FieldsV1',
      fieldsV1: entry.fields.toFieldsV1(),
      ...(entry.subresource === undefined ? {} : { subresource: entry.subresource }),
    }))
}

function compareEntries(a: ManagedFieldsEntry, b: ManagedFieldsEntry): number {
  const text = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0)
  return (
    text(a.operation, b.operation) ||
    timeSeconds(a.time) - timeSeconds(b.time) ||
    text(a.manager, b.manager) ||
    text(a.apiVersion, b.apiVersion) ||
    text(a.subresource ?? '', b.subresource ?? '')
  )
}

/** Whole seconds since the epoch; 0 for no time, as Go's zero time pointer sorts. */
function timeSeconds(time: string | undefined): number {
  const milliseconds = time === undefined ? NaN : Date.parse(time)
  return Number.isNaN(milliseconds) ? 0 : Math.floor(milliseconds / 1000)
}

/**
 * A copy of `object` whose `metadata.managedFields` holds the encoded entries, or has no
 * managedFields at all when no entry has fields.
 */
export function withManagedFields(object: JsonObject, entries: readonly ManagedFieldsEntry[]): JsonObject {
  const encoded = encodeManagedFields(entries)
  const metadata: JsonObject = { ...metadataOf(object) }
  if (encoded.length === 0) delete metadata['managedFields']
  else metadata['managedFields'] = encoded
  return { ...object, metadata }
}

/** A copy of `object` without `metadata.managedFields`. */
export function withoutManagedFields(object: JsonObject): JsonObject {
  if (!isJsonObject(object['metadata']) || !Object.hasOwn(object['metadata'], 'managedFields')) return object
  const metadata: JsonObject = { ...object['metadata'] }
  delete metadata['managedFields']
  return { ...object, metadata }
}

function metadataOf(object: JsonObject | undefined): JsonObject {
  const metadata = object?.['metadata']
  return isJsonObject(metadata) ? metadata : {}
}

// ---------------------------------------------------------------------------------------------
// Identity and description

/**
 * The identity of an entry, as kube-apiserver builds it: the entry without time and fields, and
 * for Apply without apiVersion either (an applier stays the same manager across versions).
 */
export function managerIdentity(entry: Pick<ManagedFieldsEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  return JSON.stringify({
    manager: entry.manager,
    operation: entry.operation,
    ...(entry.operation === 'Update' ? { apiVersion: entry.apiVersion } : {}),
    ...(entry.subresource === undefined ? {} : { subresource: entry.subresource }),
  })
}

/**
 * A manager as conflict messages name it: `"kubectl"` for an applier,
 * `"kubectl-client-side-apply" using apps/v1` for an updater, with `with subresource "scale"`
 * after the name for subresource writes.
 */
export function describeManager(entry: Pick<ManagedFieldsEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  let description = JSON.stringify(entry.manager)
  if (entry.subresource !== undefined) description += ` with subresource ${JSON.stringify(entry.subresource)}`
  if (entry.operation === 'Update') description += ` using ${entry.apiVersion}`
  return description
}

// ---------------------------------------------------------------------------------------------
// Which fields are tracked

/** Fields the server maintains; nobody owns them, whatever a client sends. */
const SERVER_OWNED_FIELDS: readonly FieldPath[] = [
  ['f:apiVersion'],
  ['f:kind'],
  ['f:metadata', 'f:name'],
  ['f:metadata', 'f:namespace'],
  ['f:metadata', 'f:creationTimestamp'],
  ['f:metadata', 'f:selfLink'],
  ['f:metadata', 'f:uid'],
  ['f:metadata', 'f:clusterName'],
  ['f:metadata', 'f:generation'],
  ['f:metadata', 'f:managedFields'],
  ['f:metadata', 'f:resourceVersion'],
]

const METADATA_ITSELF = FieldSet.of([['f:metadata']])
const STATUS: FieldPath = ['f:status']

/**
 * The part of `fields` that managers can own for a write through `subresource`: never the
 * server-owned fields; on the main resource (and `scale`) everything but `status`; on the
 * `status` subresource only `status`.
 */
export function trackedFields(fields: FieldSet, subresource: string | undefined): FieldSet {
  if (subresource === 'status') return fields.withinPrefix(STATUS)
  let tracked = fields.difference(METADATA_ITSELF).withoutPrefix(STATUS)
  for (const path of SERVER_OWNED_FIELDS) tracked = tracked.withoutPrefix(path)
  return tracked
}

// ---------------------------------------------------------------------------------------------
// Update

/** What `recordUpdate` needs to know about a write. */
export interface RecordUpdateOptions {
  /** The stored object before the write; undefined for a create. */
  readonly previous: JsonObject | undefined
  /** The object about to be stored (defaulted, validated, with the status it will have). */
  readonly next: JsonObject
  /** The `fieldManager` query parameter; when empty, derived from `userAgent`. */
  readonly manager?: string | undefined
  /** The request's User-Agent, for writes without `fieldManager`. */
  readonly userAgent?: string | undefined
  /** The time of the write, RFC 3339 (seconds precision, like creationTimestamp). */
  readonly nowIso: string
  /** The API version of the request (`apps/v1`, `v1`). */
  readonly apiVersion: string
  /** `status` or `scale` for a write through that subresource. */
  readonly subresource?: string | undefined
  readonly mergeKeyOf?: MergeKeyOf
}

/**
 * Records a write that is not a server-side apply (create, update, any non-apply patch) in the
 * object's managedFields and returns `next` with them; `next` is not modified.
 *
 * The starting entries are those the client sent in `next` if it sent any (a client may edit
 * managedFields directly, and `[]` or `[{}]` clears them), otherwise those of `previous`;
 * subresource writes always start from `previous`. Then the fields that changed between
 * `previous` and `next` move to the manager's Update entry (its time becomes `nowIso`) and leave
 * every other entry, fields that were removed leave every entry, and empty entries are dropped.
 * A write that changes no owned field leaves the entries as they were.
 */
export function recordUpdate(options: RecordUpdateOptions): JsonObject {
  const mergeKeyOf = options.mergeKeyOf ?? defaultMergeKeyOf
  const manager = options.manager !== undefined && options.manager !== '' ? options.manager : managerFromUserAgent(options.userAgent)
  const entries = startingEntries(options.previous, options.next, options.subresource)
  const changes = compareObjects(withoutManagedFields(options.previous ?? {}), withoutManagedFields(options.next), mergeKeyOf)
  const written = trackedFields(changes.added.union(changes.modified), options.subresource)
  const lost = written.union(changes.removed)

  const identity = managerIdentity({ manager, operation: 'Update', apiVersion: options.apiVersion, subresource: options.subresource })
  let own: ManagedFieldsEntry | undefined
  const others: ManagedFieldsEntry[] = []
  for (const entry of entries) {
    const kept = { ...entry, fields: entry.fields.difference(lost) }
    if (managerIdentity(entry) === identity) own = kept
    else others.push(kept)
  }
  if (!written.isEmpty()) {
    own = {
      manager,
      operation: 'Update',
      apiVersion: options.apiVersion,
      time: options.nowIso,
      subresource: options.subresource,
      fields: (own?.fields ?? FieldSet.EMPTY).union(written),
    }
  }
  const updated = own === undefined ? others : [...others, own]
  return withManagedFields(options.next, capUpdateManagers(updated.filter((entry) => !entry.fields.isEmpty())))
}

function startingEntries(previous: JsonObject | undefined, next: JsonObject, subresource: string | undefined): ManagedFieldsEntry[] {
  // A subresource write cannot touch metadata, so whatever managedFields it carries are ignored.
  if (subresource !== undefined) return managedFieldsOf(previous)
  const sent = metadataOf(next)['managedFields']
  if (isResetManagedFields(sent)) return []
  try {
    const entries = decodeManagedFields(sent)
    if (entries.length > 0) return entries
  } catch (error) {
    // Clients that do not understand managedFields may mangle them; keep the stored ones then.
    if (!(error instanceof InvalidManagedFieldsError)) throw error
  }
  return managedFieldsOf(previous)
}

/** `[]` or `[{}]`: the client asks for managedFields to be cleared. */
function isResetManagedFields(value: JsonValue | undefined): boolean {
  if (!Array.isArray(value)) return false
  if (value.length === 0) return true
  const only = value[0]
  return value.length === 1 && isJsonObject(only) && Object.keys(only).length === 0
}

/**
 * At most MANAGED_FIELDS_UPDATE_MANAGERS_MAX Update entries: the oldest are merged into one
 * `ancient-changes` entry that takes the apiVersion and time of the newest entry merged.
 */
export function capUpdateManagers(entries: readonly ManagedFieldsEntry[], max = MANAGED_FIELDS_UPDATE_MANAGERS_MAX): ManagedFieldsEntry[] {
  assert(max >= 1, `the Update manager cap must be at least 1, got ${max}`)
  const updaters = entries.filter((entry) => entry.operation === 'Update')
  if (updaters.length <= max) return [...entries]
  const oldestFirst = [...updaters].sort((a, b) => timeSeconds(a.time) - timeSeconds(b.time) || (managerIdentity(a) < managerIdentity(b) ? -1 : 1))
  const merged = oldestFirst.slice(0, updaters.length - max + 1)
  const newest = merged[merged.length - 1] as ManagedFieldsEntry
  const bucket: ManagedFieldsEntry = {
    manager: ANCIENT_CHANGES_MANAGER,
    operation: 'Update',
    apiVersion: newest.apiVersion,
    time: newest.time,
    subresource: undefined,
    fields: merged.reduce((fields, entry) => fields.union(entry.fields), FieldSet.EMPTY),
  }
  const result = entries.filter((entry) => !merged.includes(entry))
  // A newer bucket of the same apiVersion may have been kept; identities must stay unique, so
  // the merged fields join it.
  const sameIdentity = result.findIndex((entry) => managerIdentity(entry) === managerIdentity(bucket))
  if (sameIdentity >= 0) {
    const existing = result[sameIdentity] as ManagedFieldsEntry
    result[sameIdentity] = { ...bucket, fields: bucket.fields.union(existing.fields) }
  } else {
    result.push(bucket)
  }
  return result
}
