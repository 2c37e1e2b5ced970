/**
 * The three patch formats of PATCH requests, applied to plain JSON objects:
 *
 * - JSON Patch (RFC 6902, `application/json-patch+json`): a list of add/remove/replace/move/copy/
 *   test operations on JSON Pointers. kubectl `rollout undo` and client-node's default.
 * - JSON merge patch (RFC 7386, `application/merge-patch+json`): objects merge, null deletes,
 *   arrays replace. kubectl `label`, `annotate`, `scale`.
 * - Strategic merge patch (`application/strategic-merge-patch+json`): merge patch in which some
 *   lists merge by a key (containers by name) and `$`-directives steer the merge. kubectl
 *   `apply`, `set`, `rollout`, `edit`, and helm.
 *
 * Every function is pure: inputs are never modified, the result shares nothing with them.
 *
 * Errors follow the real API server's split. A patch that cannot be decoded (not a list of
 * operations, unknown op, a `$patch` of unknown type) is a 400 BadRequest; a JSON Patch that
 * decodes but does not apply (missing path, failed `test`, index out of range) is a 422 Invalid
 * whose message begins like kube-apiserver's, "the server rejected our request due to an error in
 * our request". kube-apiserver stops there; we append the reason (`: test operation failed at
 * "/spec/replicas"`), because a bare "rejected" leaves users guessing and clients match only on the
 * code and reason.
 */
import { cloneJson, isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './canonical.ts'
import { ApiError, badRequest, requestEntityTooLarge, unsupportedMediaType } from './status.ts'

/** The patch formats, named after their role rather than their media type. */
export type PatchType = 'json' | 'merge' | 'strategic' | 'apply'

/** The media type of each patch format, in the order the real server lists them in a 415. */
export const PATCH_MEDIA_TYPES: Readonly<Record<PatchType, string>> = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
}

/**
 * The patch format a PATCH request's Content-Type selects (parameters such as `charset` are
 * ignored).
 * @param supported the formats this resource accepts: custom resources have no strategic merge
 *   patch, so kubectl falls back to merge patch when it gets the 415.
 * @throws ApiError 415 UnsupportedMediaType listing the supported media types.
 */
export function patchTypeFromContentType(contentType: string | undefined, supported: readonly PatchType[]): PatchType {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  const type = supported.find((candidate) => PATCH_MEDIA_TYPES[candidate] === mediaType)
  if (type === undefined) throw unsupportedMediaType(supported.map((candidate) => PATCH_MEDIA_TYPES[candidate]))
  return type
}

/**
 * Applies a decoded patch body of the given format to an object (server-side apply is not a patch
 * format here: it needs field ownership).
 * @throws ApiError 400 for a malformed patch, 422 for a JSON Patch that does not apply or that
 *   leaves something other than an object.
 */
export function applyPatch(type: 'json' | 'merge' | 'strategic', target: JsonObject, patch: unknown, mergeKeyOf: MergeKeyOf = defaultMergeKeyOf): JsonObject {
  switch (type) {
    case 'json': {
      const result = applyJsonPatch(target, patch)
      if (!isJsonObject(result)) throw rejected('the patched document is not a JSON object')
      return result
    }
    case 'merge':
      if (!isJsonObject(patch)) throw badRequest('a merge patch must be a JSON object')
      return applyMergePatch(target, patch) as JsonObject
    case 'strategic':
      return applyStrategicMergePatch(target, patch, mergeKeyOf)
  }
}

// ---------------------------------------------------------------------------------------------
// JSON Patch (RFC 6902)

/** One JSON Patch operation. */
export type JsonPatchOperation =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'move' | 'copy'; readonly from: string; readonly path: string }

/** The most operations one JSON Patch may hold, as kube-apiserver limits it. */
export const MAX_JSON_PATCH_OPERATIONS = 10_000

/**
 * Applies an RFC 6902 JSON Patch. The operations apply in order to a copy of `document`; if any
 * fails, nothing is applied.
 * @param operations the decoded request body, validated here.
 * @throws ApiError 400 when `operations` is not a valid JSON Patch, 413 beyond
 *   MAX_JSON_PATCH_OPERATIONS operations, 422 when an operation does not apply.
 */
export function applyJsonPatch(document: JsonValue, operations: unknown): JsonValue {
  const decoded = decodeJsonPatch(operations)
  const root: { value: JsonValue } = { value: cloneJson(document) }
  for (const operation of decoded) applyOperation(root, operation)
  return root.value
}

/**
 * Checks the shape of a JSON Patch: a list of objects, each with a known `op`, a string `path`,
 * and the `value` or `from` its op needs.
 * @throws ApiError 400 or 413.
 */
export function decodeJsonPatch(operations: unknown): JsonPatchOperation[] {
  if (!Array.isArray(operations)) throw badRequest('a JSON patch must be a list of operations')
  if (operations.length > MAX_JSON_PATCH_OPERATIONS) {
    throw requestEntityTooLarge(`The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${operations.length}`)
  }
  return operations.map((operation: unknown, index): JsonPatchOperation => {
    if (!isJsonObject(operation)) throw badRequest(`JSON patch operation ${index} is not an object`)
    const { op, path, from } = operation
    if (typeof path !== 'string') throw badRequest(`JSON patch operation ${index} has no "path"`)
    switch (op) {
      case 'add':
      case 'replace':
      case 'test':
        if (!Object.hasOwn(operation, 'value')) throw badRequest(`JSON patch ${op} operation ${index} has no "value"`)
        return { op, path, value: operation['value'] as JsonValue }
      case 'remove':
        return { op, path }
      case 'move':
      case 'copy':
        if (typeof from !== 'string') throw badRequest(`JSON patch ${op} operation ${index} has no "from"`)
        return { op, path, from }
      default:
        throw badRequest(`JSON patch operation ${index} has an unknown op: ${JSON.stringify(op) ?? 'none'}`)
    }
  })
}

function applyOperation(root: { value: JsonValue }, operation: JsonPatchOperation): void {
  switch (operation.op) {
    case 'add':
      addAt(root, operation.path, cloneJson(operation.value), 'add')
      return
    case 'remove':
      removeAt(root, operation.path, 'remove')
      return
    case 'replace': {
      const location = resolve(root, operation.path, 'replace')
      if (!location.exists) throw rejected(`replace operation does not apply: doc is missing path: "${operation.path}"`)
      location.set(cloneJson(operation.value))
      return
    }
    case 'move': {
      if (operation.path.startsWith(`${operation.from}/`)) {
        throw rejected(`move operation does not apply: cannot move "${operation.from}" into its own child "${operation.path}"`)
      }
      const value = removeAt(root, operation.from, 'move')
      addAt(root, operation.path, value, 'move')
      return
    }
    case 'copy': {
      const source = resolve(root, operation.from, 'copy')
      if (!source.exists) throw rejected(`copy operation does not apply: doc is missing from path: "${operation.from}"`)
      addAt(root, operation.path, cloneJson(source.get()), 'copy')
      return
    }
    case 'test': {
      const location = resolve(root, operation.path, 'test')
      if (!location.exists || !jsonEqual(location.get(), operation.value)) {
        throw rejected(`test operation failed at "${operation.path}"`)
      }
      return
    }
  }
}

function addAt(root: { value: JsonValue }, path: string, value: JsonValue, op: string): void {
  const location = resolve(root, path, op)
  if (!location.insert(value)) throw rejected(`${op} operation does not apply: doc is missing path: "${path}"`)
}

function removeAt(root: { value: JsonValue }, path: string, op: string): JsonValue {
  const location = resolve(root, path, op)
  if (!location.exists) {
    throw rejected(`${op} operation does not apply: doc is missing ${op === 'move' ? 'from ' : ''}path: "${path}"`)
  }
  const value = location.get()
  location.remove()
  return value
}

/** A place in the document that a pointer names; it may or may not hold a value yet. */
interface Location {
  readonly exists: boolean
  get(): JsonValue
  set(value: JsonValue): void
  /** Add semantics: set an object member, insert into an array (or append at `-`). False if impossible. */
  insert(value: JsonValue): boolean
  remove(): void
}

/** Resolves a JSON Pointer (RFC 6901) to its parent container and last token. */
function resolve(root: { value: JsonValue }, pointer: string, op: string): Location {
  if (pointer === '') {
    return {
      exists: true,
      get: () => root.value,
      set: (value) => (root.value = value),
      insert: (value) => {
        root.value = value
        return true
      },
      remove: () => {
        throw rejected(`${op} operation does not apply: cannot remove the whole document`)
      },
    }
  }
  if (!pointer.startsWith('/')) throw rejected(`${op} operation does not apply: invalid JSON pointer "${pointer}"`)
  const tokens = pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~[^01]|~$/.test(token)) throw rejected(`${op} operation does not apply: invalid JSON pointer "${pointer}"`)
      return token.replaceAll('~1', '/').replaceAll('~0', '~')
    })
  const last = tokens.pop() as string
  let parent: JsonValue = root.value
  for (const token of tokens) {
    const child = childOf(parent, token)
    if (child === undefined) return MISSING_PARENT
    parent = child
  }
  if (Array.isArray(parent)) {
    const list = parent
    const index = last === '-' ? list.length : arrayIndex(last)
    const exists = index !== undefined && index < list.length
    return {
      exists,
      get: () => list[index as number] as JsonValue,
      set: (value) => (list[index as number] = value),
      insert: (value) => {
        if (index === undefined || index > list.length) return false
        list.splice(index, 0, value)
        return true
      },
      remove: () => list.splice(index as number, 1),
    }
  }
  if (isJsonObject(parent)) {
    const object = parent
    return {
      exists: Object.hasOwn(object, last),
      get: () => object[last] as JsonValue,
      set: (value) => (object[last] = value),
      insert: (value) => {
        object[last] = value
        return true
      },
      remove: () => delete object[last],
    }
  }
  return MISSING_PARENT
}

const MISSING_PARENT: Location = {
  exists: false,
  get: () => null,
  set: () => undefined,
  insert: () => false,
  remove: () => undefined,
}

function childOf(container: JsonValue, token: string): JsonValue | undefined {
  if (Array.isArray(container)) {
    const index = arrayIndex(token)
    return index === undefined ? undefined : container[index]
  }
  if (isJsonObject(container) && Object.hasOwn(container, token)) return container[token]
  return undefined
}

/** An RFC 6901 array index: `0` or digits without a leading zero. */
function arrayIndex(token: string): number | undefined {
  return /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : undefined
}

function rejected(reason: string): ApiError {
  return new ApiError({ code: 422, reason: 'Invalid', message: `the server rejected our request due to an error in our request: ${reason}` })
}

// ---------------------------------------------------------------------------------------------
// JSON merge patch (RFC 7386)

/**
 * Applies an RFC 7386 merge patch: a non-object patch replaces the target; otherwise members
 * merge recursively, null members delete, and arrays replace.
 */
export function applyMergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return cloneJson(patch)
  const result: JsonObject = isJsonObject(target) ? cloneJson(target) : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key]
    else result[key] = applyMergePatch(result[key] ?? null, value)
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

/**
 * The patch strategy of the list at `path` (field names from the object root, list indices left
 * out: `['spec', 'template', 'spec', 'containers', 'ports']`): the merge key for a list of
 * objects merged by key, MERGE_AS_SET for a list of scalars merged as a set, undefined for a list
 * the patch replaces wholesale.
 */
export type MergeKeyOf = (path: readonly string[]) => string | undefined

/** MergeKeyOf's answer for scalar lists that merge as a set (`metadata.finalizers`). */
export const MERGE_AS_SET = ''

const CONTAINER_LISTS: ReadonlySet<string> = new Set(['containers', 'initContainers', 'ephemeralContainers'])

/**
 * The patch strategies of the core and apps types Flotilla serves, from the
 * `x-kubernetes-patch-merge-key` / `-strategy` extensions of the Kubernetes OpenAPI. Lists not
 * named here (args, command, tolerations, envFrom, service selectors…) are replaced.
 */
export function defaultMergeKeyOf(path: readonly string[]): string | undefined {
  const field = path[path.length - 1]
  const parent = path[path.length - 2]
  const inContainer = parent !== undefined && CONTAINER_LISTS.has(parent)
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'imagePullSecrets':
      return 'name'
    case 'env':
      return inContainer ? 'name' : undefined
    case 'ports':
      // Container ports merge by number; a Service's spec.ports by its port.
      if (inContainer) return 'containerPort'
      return path.length === 2 && parent === 'spec' ? 'port' : undefined
    case 'volumeMounts':
      return inContainer ? 'mountPath' : undefined
    case 'volumeDevices':
      return inContainer ? 'devicePath' : undefined
    case 'hostAliases':
      return 'ip'
    case 'topologySpreadConstraints':
      return 'topologyKey'
    case 'ownerReferences':
      return parent === 'metadata' ? 'uid' : undefined
    case 'finalizers':
      return parent === 'metadata' ? MERGE_AS_SET : undefined
    case 'conditions':
      return 'type'
    case 'podIPs':
    case 'hostIPs':
      return parent === 'status' ? 'ip' : undefined
    default:
      return undefined
  }
}

const DIRECTIVE = '$patch'
const RETAIN_KEYS = '$retainKeys'
const SET_ELEMENT_ORDER_PREFIX = '$setElementOrder/'
const DELETE_FROM_PRIMITIVE_LIST_PREFIX = '$deleteFromPrimitiveList/'

/**
 * Applies a strategic merge patch with the semantics of apimachinery's `StrategicMergeMapPatch`
 * on the server:
 *
 * - maps merge recursively and null deletes a key, as in a merge patch;
 * - lists with a merge key merge element by element (a patch element updates the original
 *   element with the same key, or is added); lists of scalars with MERGE_AS_SET are unioned;
 *   every other list is replaced;
 * - `$patch: replace` inside a map replaces the map, `$patch: delete` empties it; inside a keyed
 *   list, `{$patch: delete, name: x}` removes element x and `{$patch: replace}` makes the patch
 *   list the whole list; `$patch: merge` is the default and is accepted as such;
 * - `$retainKeys: [a, b]` drops every other key of the original map (kubectl apply sends it for
 *   `strategy` and for volume sources, so that switching types does not leave both);
 * - `$deleteFromPrimitiveList/<list>: [x]` removes scalars from a list;
 * - `$setElementOrder/<list>: [...]` gives the final order of a merged list (kubectl sends it
 *   with every list it patches); without it, merged lists keep the server's order with patched
 *   elements placed relative to it as the real server places them.
 *
 * @throws ApiError 400 for a malformed patch (bad directive, list element without its merge key),
 *   422 for a `$retainKeys` list that does not cover the patch or for lists of lists.
 */
export function applyStrategicMergePatch(original: JsonObject, patch: unknown, mergeKeyOf: MergeKeyOf = defaultMergeKeyOf): JsonObject {
  if (!isJsonObject(patch)) throw badRequest('invalid JSON document')
  return new StrategicMerge(mergeKeyOf).mergeMap(cloneJson(original), cloneJson(patch), [])
}

/** The recursive merge; it mutates its (already copied) arguments. */
class StrategicMerge {
  private readonly mergeKeyOf: MergeKeyOf

  constructor(mergeKeyOf: MergeKeyOf) {
    this.mergeKeyOf = mergeKeyOf
  }

  mergeMap(original: JsonObject | undefined, patch: JsonObject, path: readonly string[]): JsonObject {
    if (Object.hasOwn(patch, DIRECTIVE)) {
      const directive = patch[DIRECTIVE]
      delete patch[DIRECTIVE]
      if (directive === 'replace') return this.mergeMap(undefined, patch, path)
      if (directive === 'delete') return {}
      if (directive !== 'merge') throw badRequest(`unknown patch type: ${JSON.stringify(directive)} in map: ${JSON.stringify(patch)}`)
    }
    const result: JsonObject = original ?? {}
    this.applyRetainKeys(result, patch)
    this.applySetElementOrders(result, patch, path)
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith(SET_ELEMENT_ORDER_PREFIX)) continue
      if (key.startsWith('$deleteFromPrimitiveList')) {
        this.deleteFromPrimitiveList(result, key, value)
        continue
      }
      if (value === null) {
        delete result[key]
        continue
      }
      const current = result[key]
      if (current !== undefined && current !== null) result[key] = this.mergeValue(current, value, [...path, key])
      else if (isJsonObject(value) && value[DIRECTIVE] === 'delete') delete result[key]
      else result[key] = this.fresh(value, [...path, key])
    }
    return result
  }

  private mergeValue(original: JsonValue, patch: JsonValue, path: readonly string[]): JsonValue {
    if (isJsonObject(original) && isJsonObject(patch)) return this.mergeMap(original, patch, path)
    if (Array.isArray(original) && Array.isArray(patch)) {
      const mergeKey = this.mergeKeyOf(path)
      return mergeKey === undefined ? this.fresh(patch, path) : this.mergeList(original, patch, path, mergeKey)
    }
    return this.fresh(patch, path)
  }

  /** A patch value with nothing to merge into: its nulls dropped and its directives carried out. */
  private fresh(patch: JsonValue, path: readonly string[]): JsonValue {
    if (isJsonObject(patch)) return this.mergeMap(undefined, patch, path)
    if (Array.isArray(patch)) {
      const mergeKey = this.mergeKeyOf(path)
      if (mergeKey !== undefined) return this.mergeList([], patch, path, mergeKey)
      return patch.map((item) => (isJsonObject(item) ? this.mergeMap(undefined, item, path) : item))
    }
    return patch
  }

  private applyRetainKeys(original: JsonObject, patch: JsonObject): void {
    if (!Object.hasOwn(patch, RETAIN_KEYS)) return
    const retain = patch[RETAIN_KEYS]
    delete patch[RETAIN_KEYS]
    if (!Array.isArray(retain)) throw badRequest('invalid patch format of retainKeys')
    const kept = new Set(retain.map((key) => String(key)))
    for (const [key, value] of Object.entries(patch)) {
      if (value === null || key.startsWith('$')) continue
      if (!kept.has(key)) throw new ApiError({ code: 422, reason: 'Invalid', message: "patch content doesn't match retainKeys list" })
    }
    for (const key of Object.keys(original)) {
      if (!kept.has(key)) delete original[key]
    }
  }

  private deleteFromPrimitiveList(original: JsonObject, directiveKey: string, toDelete: JsonValue): void {
    if (!directiveKey.startsWith(DELETE_FROM_PRIMITIVE_LIST_PREFIX) || !Array.isArray(toDelete)) {
      throw badRequest('invalid patch format of primitive list')
    }
    const key = directiveKey.slice(DELETE_FROM_PRIMITIVE_LIST_PREFIX.length)
    const list = original[key]
    if (Array.isArray(list)) original[key] = list.filter((item) => !toDelete.some((deleted) => jsonEqual(item, deleted)))
  }

  /**
   * Merges each list that has a `$setElementOrder/<list>` directive and puts it in that order
   * (items the order does not name, which exist only on the server, keep their relative places).
   * The merged lists are removed from the patch so the main loop does not merge them again.
   */
  private applySetElementOrders(original: JsonObject, patch: JsonObject, path: readonly string[]): void {
    for (const [directiveKey, order] of Object.entries(patch)) {
      if (!directiveKey.startsWith('$setElementOrder')) continue
      delete patch[directiveKey]
      if (!directiveKey.startsWith(SET_ELEMENT_ORDER_PREFIX) || !Array.isArray(order)) throw badRequest('invalid patch format of setElementOrder list')
      const key = directiveKey.slice(SET_ELEMENT_ORDER_PREFIX.length)
      const listPath = [...path, key]
      const mergeKey = this.mergeKeyOf(listPath)
      const originalList = original[key]
      const patchList = patch[key]
      if (originalList !== undefined && originalList !== null && !Array.isArray(originalList)) throw badRequest(`expected a list at ${key} to order`)
      if (patchList !== undefined && !Array.isArray(patchList)) {
        // `list: null` with an order: the deletion wins, and the main loop carries it out.
        if (patchList === null) continue
        throw badRequest(`expected a list at ${key} to order`)
      }
      // A list the schema replaces wholesale takes the patch's order; there is nothing to merge.
      if (mergeKey === undefined) continue
      validateOrder(patchList ?? [], order, mergeKey)
      let merged: JsonValue[]
      if (Array.isArray(patchList)) merged = Array.isArray(originalList) ? this.mergeList(originalList, patchList, listPath, mergeKey) : (this.fresh(patchList, listPath) as JsonValue[])
      else if (Array.isArray(originalList)) merged = originalList
      else continue
      const ordered = merged.filter((item) => indexOfKey(order, item, mergeKey) >= 0)
      const serverOnly = merged.filter((item) => indexOfKey(order, item, mergeKey) < 0)
      original[key] = normalizeElementOrder(ordered, serverOnly, order, Array.isArray(originalList) ? originalList : [], mergeKey)
      delete patch[key]
    }
  }

  private mergeList(original: JsonValue[], patch: JsonValue[], path: readonly string[], mergeKey: string): JsonValue[] {
    if (original.length === 0 && patch.length === 0) return original
    const elements = [...original, ...patch]
    if (elements.some((item) => Array.isArray(item))) throw new ApiError({ code: 422, reason: 'Invalid', message: 'lists of lists are not supported' })
    const objects = elements.filter((item) => isJsonObject(item)).length
    if (objects !== 0 && objects !== elements.length) throw badRequest(`list element types are not identical at ${path.join('.')}`)
    if (objects === 0) {
      // Scalars merge as a set: the union, in the order the server and the patch agree on.
      const merged: JsonValue[] = []
      for (const item of elements) if (!merged.some((kept) => jsonEqual(kept, item))) merged.push(item)
      const inPatch = merged.filter((item) => indexOfKey(patch, item, MERGE_AS_SET) >= 0)
      const serverOnly = merged.filter((item) => indexOfKey(patch, item, MERGE_AS_SET) < 0)
      return normalizeElementOrder(inPatch, serverOnly, patch, original, MERGE_AS_SET)
    }
    if (mergeKey === MERGE_AS_SET) throw badRequest(`cannot merge lists of objects without a merge key at ${path.join('.')}`)

    // Directive elements first: deletions remove from the original, a replace discards it.
    let current = original as JsonObject[]
    const updates: JsonObject[] = []
    let replace = false
    for (const item of patch as JsonObject[]) {
      if (!Object.hasOwn(item, DIRECTIVE)) {
        if (!Object.hasOwn(item, mergeKey)) throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`)
        updates.push(item)
        continue
      }
      const directive = item[DIRECTIVE]
      if (directive === 'delete') {
        if (!Object.hasOwn(item, mergeKey)) throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`)
        current = current.filter((element) => !sameKey(element[mergeKey], item[mergeKey]))
      } else if (directive === 'replace') {
        replace = true
      } else if (directive !== 'merge') {
        throw badRequest(`unknown patch type: ${JSON.stringify(directive)} in map: ${JSON.stringify(item)}`)
      }
    }
    if (replace) return updates.map((item) => this.mergeMap(undefined, item, path))

    const serverOrder = current
    const merged = [...current]
    for (const item of updates) {
      const index = merged.findIndex((element) => Object.hasOwn(element, mergeKey) && sameKey(element[mergeKey], item[mergeKey]))
      if (index >= 0) merged[index] = this.mergeMap(merged[index], item, path)
      else merged.push(this.mergeMap(undefined, item, path))
    }
    const inPatch = merged.filter((item) => indexOfKey(updates, item, mergeKey) >= 0)
    const serverOnly = merged.filter((item) => indexOfKey(updates, item, mergeKey) < 0)
    return normalizeElementOrder(inPatch, serverOnly, updates, serverOrder, mergeKey)
  }
}

/**
 * Checks that the patch list names its (non-deleted) elements in the same relative order as the
 * `$setElementOrder` list and names none that the order leaves out, as the real server requires.
 */
function validateOrder(patchList: readonly JsonValue[], order: readonly JsonValue[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return
  const relevant = patchList.filter((item) => !(isJsonObject(item) && Object.hasOwn(item, DIRECTIVE)))
  let patchIndex = 0
  let orderIndex = 0
  while (patchIndex < relevant.length && orderIndex < order.length) {
    if (sameKey(keyOf(relevant[patchIndex] as JsonValue, mergeKey), keyOf(order[orderIndex] as JsonValue, mergeKey))) patchIndex++
    orderIndex++
  }
  if (patchIndex < relevant.length) {
    throw badRequest(`The order in patch list:\n${JSON.stringify(patchList)}\n doesn't match $setElementOrder list:\n${JSON.stringify(order)}`)
  }
}

/**
 * Orders a merged list the way apimachinery's normalizeElementOrder does: the patch's elements in
 * `patchOrder`, the server-only elements in `serverOrder`, then the two interleaved so that a
 * server-only element goes before a patch element only when the server had it before that
 * element. (So, without `$setElementOrder`, a brand-new element ends up at the front.)
 */
function normalizeElementOrder(
  patchItems: readonly JsonValue[],
  serverOnly: readonly JsonValue[],
  patchOrder: readonly JsonValue[],
  serverOrder: readonly JsonValue[],
  mergeKey: string,
): JsonValue[] {
  const right = sortByOrder(patchItems, patchOrder, mergeKey)
  const left = sortByOrder(serverOnly, serverOrder, mergeKey)
  const result: JsonValue[] = []
  let i = 0
  let j = 0
  while (i < left.length || j < right.length) {
    if (j >= right.length) result.push(left[i++] as JsonValue)
    else if (i >= left.length) result.push(right[j++] as JsonValue)
    else {
      const leftIndex = indexOfKey(serverOrder, left[i] as JsonValue, mergeKey)
      const rightIndex = indexOfKey(serverOrder, right[j] as JsonValue, mergeKey)
      if (leftIndex >= 0 && rightIndex >= 0 && leftIndex < rightIndex) result.push(left[i++] as JsonValue)
      else result.push(right[j++] as JsonValue)
    }
  }
  return result
}

/** A stable sort by position in `order`; elements the order does not name keep their place at the end. */
function sortByOrder(items: readonly JsonValue[], order: readonly JsonValue[], mergeKey: string): JsonValue[] {
  return items
    .map((item, position) => ({ item, position, rank: indexOfKey(order, item, mergeKey) }))
    .sort((a, b) => (a.rank < 0 ? Infinity : a.rank) - (b.rank < 0 ? Infinity : b.rank) || a.position - b.position)
    .map(({ item }) => item)
}

/** The identity of a list element: its merge key's value, or the scalar itself. */
function keyOf(item: JsonValue, mergeKey: string): JsonValue | undefined {
  if (mergeKey === MERGE_AS_SET || !isJsonObject(item)) return item
  return Object.hasOwn(item, mergeKey) ? item[mergeKey] : undefined
}

function indexOfKey(list: readonly JsonValue[], item: JsonValue, mergeKey: string): number {
  const key = keyOf(item, mergeKey)
  if (key === undefined) return -1
  return list.findIndex((candidate) => sameKey(keyOf(candidate, mergeKey), key))
}

function sameKey(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return a !== undefined && b !== undefined && jsonEqual(a, b)
}
