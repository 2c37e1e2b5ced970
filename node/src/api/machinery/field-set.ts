/**
 * Field sets: which fields of an object someone owns, the vocabulary of server-side apply and of
 * `metadata.managedFields`.
 *
 * A field set is a set of paths into a JSON object. A path is a list of tokens in the spelling of
 * the FieldsV1 wire format (sigs.k8s.io/structured-merge-diff), so a token is also a key of the
 * encoded trie:
 *
 *   f:<name>      a field of an object (`f:spec`, `f:replicas`, `f:app.kubernetes.io/name`)
 *   k:<keys>      the item of a keyed list whose merge key has this value (`k:{"name":"web"}`)
 *   v:<json>      the item of a set-like list of scalars (`v:"example.com/finalizer"`)
 *   i:<index>     a list position; we never produce it (lists without a merge key are atomic
 *                 leaves) but accept it in FieldsV1 that clients send
 *
 * FieldsV1 is the trie as JSON: every token maps to the set below it, `{}` marks a member leaf,
 * and `".": {}` marks a node that is itself a member and also has members below it:
 *
 *   {"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{
 *     "k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}}
 *
 * How an object maps to paths has no schema here: objects are always maps of fields, a list is a
 * keyed list when patch.ts knows a merge key for it (containers by name, finalizers as a set) and
 * its items are keyable, and every other list is atomic, a single leaf. Key fields are the single
 * merge key patch.ts knows; real Kubernetes keys container ports by containerPort and protocol,
 * which only matters for two ports that share a number.
 *
 * Everything here is pure: inputs are never modified and FieldSets never change after they are
 * built.
 */
import { FlotillaError } from '../../../../lib/errors.ts'
import { assert } from '../../../../lib/assert.ts'
import { canonicalJson, isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './canonical.ts'
import { defaultMergeKeyOf, MERGE_AS_SET, type MergeKeyOf } from './patch.ts'

/** One step of a path, spelled as in FieldsV1: `f:spec`, `k:{"name":"web"}`, `v:"x"`, `i:0`. */
export type PathToken = string

/** A path from the object root: `['f:spec', 'f:replicas']`. The empty path is the root itself. */
export type FieldPath = readonly PathToken[]

/** A FieldsV1 value that cannot be decoded (bad token, a non-object where a set belongs). */
export class InvalidFieldsV1Error extends FlotillaError {
  override name = 'InvalidFieldsV1Error'
}

/** The token of an object field. */
export function fieldToken(name: string): PathToken {
  return `f:${name}`
}

/** The token of a keyed list item: its key fields with their values, in sorted key order. */
export function keyToken(keys: Readonly<Record<string, string | number | boolean>>): PathToken {
  const names = Object.keys(keys).sort()
  assert(names.length > 0, 'a list item key needs at least one field')
  return `k:{${names.map((name) => `${JSON.stringify(name)}:${JSON.stringify(keys[name])}`).join(',')}}`
}

/** The token of an item of a set-like scalar list (`metadata.finalizers`). */
export function valueToken(value: JsonValue): PathToken {
  return `v:${canonicalJson(value)}`
}

/** The token of a list position. */
export function indexToken(index: number): PathToken {
  assert(Number.isSafeInteger(index) && index >= 0, `a list index must be a natural number, got ${index}`)
  return `i:${index}`
}

/** A token taken apart. */
export type DecodedToken =
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'key'; readonly keys: JsonObject }
  | { readonly kind: 'value'; readonly value: JsonValue }
  | { readonly kind: 'index'; readonly index: number }

/**
 * Takes a token apart.
 * @throws InvalidFieldsV1Error for anything that is not one of the four token forms.
 */
export function decodeToken(token: string): DecodedToken {
  const body = token.slice(2)
  switch (token.slice(0, 2)) {
    case 'f:':
      return { kind: 'field', name: body }
    case 'k:': {
      const keys = parseTokenJson(token, body)
      const entries = isJsonObject(keys) ? Object.values(keys) : []
      if (!isJsonObject(keys) || entries.length === 0 || !entries.every(isKeyScalar)) {
        throw new InvalidFieldsV1Error(`Cannot decode field path token ${JSON.stringify(token)}: keys must be an object of scalars`)
      }
      return { kind: 'key', keys }
    }
    case 'v:':
      return { kind: 'value', value: parseTokenJson(token, body) }
    case 'i:':
      if (!/^(0|[1-9][0-9]{0,8})$/.test(body)) throw new InvalidFieldsV1Error(`Cannot decode field path token ${JSON.stringify(token)}: bad index`)
      return { kind: 'index', index: Number(body) }
    default:
      throw new InvalidFieldsV1Error(`Cannot decode field path token ${JSON.stringify(token)}: unknown prefix`)
  }
}

function parseTokenJson(token: string, body: string): JsonValue {
  try {
    return JSON.parse(body) as JsonValue
  } catch (error) {
    throw new InvalidFieldsV1Error(`Cannot decode field path token ${JSON.stringify(token)}: not JSON`, { cause: error })
  }
}

/** The canonical spelling of a token, so that equal paths are equal strings. */
function canonicalToken(token: string): PathToken {
  const decoded = decodeToken(token)
  switch (decoded.kind) {
    case 'field':
      return token
    case 'key':
      return keyToken(decoded.keys as Record<string, string | number | boolean>)
    case 'value':
      return valueToken(decoded.value)
    case 'index':
      return indexToken(decoded.index)
  }
}

/**
 * A path as Kubernetes prints it in conflict messages: `.spec.replicas`,
 * `.spec.template.spec.containers[name="web"].image`, `.metadata.finalizers[="x"]`, `.args[0]`.
 */
export function formatPath(path: FieldPath): string {
  return path
    .map((token) => {
      const decoded = decodeToken(token)
      switch (decoded.kind) {
        case 'field':
          return `.${decoded.name}`
        case 'key':
          return `[${Object.entries(decoded.keys).map(([name, value]) => `${name}=${formatScalar(value)}`).join(',')}]`
        case 'value':
          return `[=${formatScalar(decoded.value)}]`
        case 'index':
          return `[${decoded.index}]`
      }
    })
    .join('')
}

function formatScalar(value: JsonValue): string {
  return typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value)
}

/**
 * The order of tokens within a trie level, as structured-merge-diff sorts path elements: fields,
 * then keys, then values, then indexes; within a kind by name, text or number.
 */
export function compareTokens(a: PathToken, b: PathToken): number {
  const rank = (token: PathToken): number => 'fkvi'.indexOf(token[0] ?? 'f')
  const byKind = rank(a) - rank(b)
  if (byKind !== 0) return byKind
  if (a.startsWith('i:')) return Number(a.slice(2)) - Number(b.slice(2))
  return a < b ? -1 : a > b ? 1 : 0
}

// ---------------------------------------------------------------------------------------------
// The set

/** A trie node: whether the path to it is a member, and the nodes below it. */
interface Node {
  member: boolean
  readonly children: Map<PathToken, Node>
}

function newNode(): Node {
  return { member: false, children: new Map() }
}

/** Wraps a finished trie in a FieldSet; private to this module (FieldSetBuilder uses it). */
let wrapTrie: (root: Node) => FieldSet

/**
 * An immutable set of field paths. Set operations work on members only: a node that merely has
 * members below it is not itself in the set.
 */
export class FieldSet {
  /** The empty set. */
  static readonly EMPTY: FieldSet = new FieldSet(newNode())

  private readonly root: Node

  private constructor(root: Node) {
    this.root = root
  }

  /** The set of exactly these paths (the empty path, the root, cannot be a member). */
  static of(paths: Iterable<FieldPath>): FieldSet {
    const builder = new FieldSetBuilder()
    for (const path of paths) builder.insert(path)
    return builder.build()
  }

  /**
   * Decodes a FieldsV1 trie. Tokens are canonicalised (`k:` keys sorted), so sets decoded from
   * different spellings of the same paths are equal.
   * @throws InvalidFieldsV1Error when `fieldsV1` is not a valid FieldsV1 object.
   */
  static fromFieldsV1(fieldsV1: unknown): FieldSet {
    if (!isJsonObject(fieldsV1)) throw new InvalidFieldsV1Error('Cannot decode FieldsV1: not a JSON object')
    const builder = new FieldSetBuilder()
    decodeLevel(fieldsV1, [], builder)
    return builder.build()
  }

  /** The FieldsV1 encoding: `.` first on each level, then tokens in structured-merge-diff order. */
  toFieldsV1(): JsonObject {
    return encodeLevel(this.root)
  }

  /** True when the set has no members. */
  isEmpty(): boolean {
    return !hasMembers(this.root)
  }

  /** The number of members. */
  get size(): number {
    return countMembers(this.root)
  }

  /** True when `path` is a member. */
  has(path: FieldPath): boolean {
    return this.nodeAt(path)?.member ?? false
  }

  /** True when `path` or any path below it is a member. */
  hasAtOrBelow(path: FieldPath): boolean {
    const node = this.nodeAt(path)
    return node !== undefined && hasMembers(node)
  }

  /** The members, each level in token order (parents before their children). */
  paths(): FieldPath[] {
    const result: FieldPath[] = []
    const walk = (node: Node, path: PathToken[]): void => {
      if (node.member) result.push([...path])
      for (const token of [...node.children.keys()].sort(compareTokens)) walk(node.children.get(token) as Node, [...path, token])
    }
    walk(this.root, [])
    return result
  }

  /** Members of either set. */
  union(other: FieldSet): FieldSet {
    return new FieldSet(combine(this.root, other.root, (a, b) => a || b) ?? newNode())
  }

  /** Members of this set that are not members of `other`. */
  difference(other: FieldSet): FieldSet {
    return new FieldSet(combine(this.root, other.root, (a, b) => a && !b) ?? newNode())
  }

  /** Members of both sets. */
  intersection(other: FieldSet): FieldSet {
    return new FieldSet(combine(this.root, other.root, (a, b) => a && b) ?? newNode())
  }

  /** This set without `prefix` and everything below it. */
  withoutPrefix(prefix: FieldPath): FieldSet {
    if (prefix.length === 0) return FieldSet.EMPTY
    if (this.nodeAt(prefix) === undefined) return this
    // Copy the nodes along the prefix and share the rest: built tries are never mutated.
    const copy = (node: Node, depth: number): Node => {
      const token = prefix[depth] as PathToken
      const clone: Node = { member: node.member, children: new Map(node.children) }
      if (depth === prefix.length - 1) clone.children.delete(token)
      else clone.children.set(token, copy(node.children.get(token) as Node, depth + 1))
      return clone
    }
    return new FieldSet(copy(this.root, 0))
  }

  /** Only the members at or below `prefix`. */
  withinPrefix(prefix: FieldPath): FieldSet {
    const node = this.nodeAt(prefix)
    if (node === undefined) return FieldSet.EMPTY
    let root = node
    for (let depth = prefix.length - 1; depth >= 0; depth--) root = { member: false, children: new Map([[prefix[depth] as PathToken, root]]) }
    return new FieldSet(root)
  }

  /** True when both sets have the same members. */
  equals(other: FieldSet): boolean {
    return this.difference(other).isEmpty() && other.difference(this).isEmpty()
  }

  private nodeAt(path: FieldPath): Node | undefined {
    let node: Node | undefined = this.root
    for (const token of path) {
      node = node.children.get(token)
      if (node === undefined) return undefined
    }
    return node
  }

  static {
    wrapTrie = (root) => new FieldSet(root)
  }
}


/** Builds a FieldSet by inserting paths one by one. */
export class FieldSetBuilder {
  private root: Node | undefined = newNode()

  /** Adds `path` as a member. */
  insert(path: FieldPath): this {
    assert(this.root !== undefined, 'FieldSetBuilder used after build()')
    assert(path.length > 0, 'the root path cannot be a member of a field set')
    let node = this.root
    for (const token of path) {
      let child = node.children.get(token)
      if (child === undefined) {
        child = newNode()
        node.children.set(token, child)
      }
      node = child
    }
    node.member = true
    return this
  }

  /** The finished set; the builder cannot be used afterwards. */
  build(): FieldSet {
    assert(this.root !== undefined, 'FieldSetBuilder.build() called twice')
    const root = this.root
    this.root = undefined
    return wrapTrie(root)
  }
}

function hasMembers(node: Node): boolean {
  if (node.member) return true
  for (const child of node.children.values()) if (hasMembers(child)) return true
  return false
}

function countMembers(node: Node): number {
  let count = node.member ? 1 : 0
  for (const child of node.children.values()) count += countMembers(child)
  return count
}

/** A new trie whose membership is `keep(a, b)` at every path; undefined when it has no members. */
function combine(a: Node | undefined, b: Node | undefined, keep: (inA: boolean, inB: boolean) => boolean): Node | undefined {
  const node = newNode()
  node.member = keep(a?.member ?? false, b?.member ?? false)
  const tokens = new Set([...(a?.children.keys() ?? []), ...(b?.children.keys() ?? [])])
  for (const token of tokens) {
    const child = combine(a?.children.get(token), b?.children.get(token), keep)
    if (child !== undefined) node.children.set(token, child)
  }
  return node.member || node.children.size > 0 ? node : undefined
}

function decodeLevel(level: JsonObject, path: PathToken[], builder: FieldSetBuilder): void {
  for (const [key, child] of Object.entries(level)) {
    if (!isJsonObject(child)) throw new InvalidFieldsV1Error(`Cannot decode FieldsV1 at ${JSON.stringify(key)}: expected an object`)
    if (key === '.') {
      if (path.length === 0) throw new InvalidFieldsV1Error('Cannot decode FieldsV1: the root cannot be a member')
      if (Object.keys(child).length > 0) throw new InvalidFieldsV1Error('Cannot decode FieldsV1: "." must map to an empty object')
      builder.insert(path)
      continue
    }
    const childPath = [...path, canonicalToken(key)]
    // An empty set under a token means the token's path itself is a member.
    if (Object.keys(child).length === 0) builder.insert(childPath)
    else decodeLevel(child, childPath, builder)
  }
}

function encodeLevel(node: Node): JsonObject {
  const level: JsonObject = {}
  for (const token of [...node.children.keys()].sort(compareTokens)) {
    const child = node.children.get(token) as Node
    const encoded = encodeLevel(child)
    const hasChildren = Object.keys(encoded).length > 0
    if (!child.member && !hasChildren) continue
    level[token] = child.member && hasChildren ? { '.': {}, ...encoded } : encoded
  }
  return level
}

// ---------------------------------------------------------------------------------------------
// Objects as field sets

function isKeyScalar(value: JsonValue | undefined): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
}

/**
 * The tokens of a list's items when the list can be treated as keyed with `mergeKey`: scalars for
 * MERGE_AS_SET, objects that carry the merge key (with a scalar value) otherwise, no two items
 * with the same key. Undefined when the list cannot be keyed (then it is atomic).
 */
export function listItemTokens(list: readonly JsonValue[], mergeKey: string): PathToken[] | undefined {
  const tokens: PathToken[] = []
  for (const item of list) {
    let token: PathToken
    if (mergeKey === MERGE_AS_SET) {
      if (item === null || typeof item === 'object') return undefined
      token = valueToken(item)
    } else {
      if (!isJsonObject(item)) return undefined
      const key = item[mergeKey]
      if (!isKeyScalar(key)) return undefined
      token = keyToken({ [mergeKey]: key })
    }
    if (tokens.includes(token)) return undefined
    tokens.push(token)
  }
  return tokens
}

/** How a value is walked: as a map of fields, as a keyed list of items, or as one leaf. */
type Shape =
  | { readonly kind: 'map'; readonly fields: JsonObject }
  | { readonly kind: 'list'; readonly items: ReadonlyMap<PathToken, JsonValue> }
  | { readonly kind: 'leaf' }

/** `names` is the value's path as field names only, the form MergeKeyOf takes. */
function shapeOf(value: JsonValue, names: readonly string[], mergeKeyOf: MergeKeyOf): Shape {
  if (isJsonObject(value)) return { kind: 'map', fields: value }
  if (Array.isArray(value)) {
    const mergeKey = mergeKeyOf(names)
    const tokens = mergeKey === undefined ? undefined : listItemTokens(value, mergeKey)
    if (tokens !== undefined) return { kind: 'list', items: new Map(tokens.map((token, index) => [token, value[index] as JsonValue])) }
  }
  return { kind: 'leaf' }
}

/** Where a value sits: its token path and its field-name path. */
interface Place {
  readonly path: FieldPath
  readonly names: readonly string[]
}

function fieldPlace(place: Place, name: string): Place {
  return { path: [...place.path, fieldToken(name)], names: [...place.names, name] }
}

function itemPlace(place: Place, token: PathToken): Place {
  // List items add a token but no field name: MergeKeyOf paths leave list positions out.
  return { path: [...place.path, token], names: place.names }
}

/**
 * The fields an object sets, as server-side apply owns them: every leaf (scalar, null, atomic
 * list, empty object), every item of a keyed list together with the fields inside it; objects
 * themselves are not members, only what is in them. Nothing is filtered out here (not even
 * `apiVersion` or `metadata.name`); callers remove what they do not track.
 */
export function fieldSetOf(object: JsonObject, mergeKeyOf: MergeKeyOf = defaultMergeKeyOf): FieldSet {
  const builder = new FieldSetBuilder()
  collect(object, { path: [], names: [] }, mergeKeyOf, builder)
  return builder.build()
}

/** Adds the paths of `value` at `place`: its leaves and keyed list items, as `fieldSetOf` defines them. */
function collect(value: JsonValue, place: Place, mergeKeyOf: MergeKeyOf, builder: FieldSetBuilder): void {
  const shape = shapeOf(value, place.names, mergeKeyOf)
  const isRoot = place.path.length === 0
  switch (shape.kind) {
    case 'map': {
      const names = Object.keys(shape.fields)
      if (!isRoot && names.length === 0) builder.insert(place.path)
      for (const name of names) collect(shape.fields[name] as JsonValue, fieldPlace(place, name), mergeKeyOf, builder)
      return
    }
    case 'list':
      for (const [token, item] of shape.items) {
        const at = itemPlace(place, token)
        builder.insert(at.path)
        if (isJsonObject(item)) for (const name of Object.keys(item)) collect(item[name] as JsonValue, fieldPlace(at, name), mergeKeyOf, builder)
      }
      return
    case 'leaf':
      if (!isRoot) builder.insert(place.path)
      return
  }
}

/** What changed between two versions of an object, as field sets of the kind `fieldSetOf` makes. */
export interface FieldChanges {
  /** Leaves and list items only in the new version. */
  readonly added: FieldSet
  /** Leaves in both versions with different values, and nodes whose shape changed (a map became a scalar). */
  readonly modified: FieldSet
  /** Leaves and list items only in the old version. */
  readonly removed: FieldSet
}

/**
 * Compares two versions of an object field by field: maps by field, keyed lists by item key,
 * leaves by value (key order and number spelling do not matter).
 *
 * Objects that appear or disappear are reported through what they contain, not as nodes of their
 * own. kube-apiserver reports some of them (maps such as labels, `.` in FieldsV1) and not others
 * (plain structs such as spec), which only its schema can tell apart; the difference matters for
 * nothing but an Update manager keeping an emptied map alive.
 */
export function compareObjects(before: JsonObject, after: JsonObject, mergeKeyOf: MergeKeyOf = defaultMergeKeyOf): FieldChanges {
  const added = new FieldSetBuilder()
  const modified = new FieldSetBuilder()
  const removed = new FieldSetBuilder()
  const subtree = (value: JsonValue, place: Place, builder: FieldSetBuilder): void => {
    // A list item is a member of its own (its parent list inserts it when collecting a whole list).
    if (!place.path[place.path.length - 1]?.startsWith('f:')) builder.insert(place.path)
    collect(value, place, mergeKeyOf, builder)
  }
  const descendants = (value: JsonValue, place: Place, builder: FieldSetBuilder): void => {
    // The node itself is reported as modified by the caller; only what lies below it goes here.
    const shape = shapeOf(value, place.names, mergeKeyOf)
    if (shape.kind === 'leaf') return
    const collector = new FieldSetBuilder()
    subtree(value, place, collector)
    for (const path of collector.build().paths()) if (path.length > place.path.length) builder.insert(path)
  }
  const compare = (left: JsonValue | undefined, right: JsonValue | undefined, place: Place): void => {
    if (left === undefined && right === undefined) return
    if (left === undefined) return subtree(right as JsonValue, place, added)
    if (right === undefined) return subtree(left, place, removed)
    const leftShape = shapeOf(left, place.names, mergeKeyOf)
    const rightShape = shapeOf(right, place.names, mergeKeyOf)
    if (leftShape.kind === 'map' && rightShape.kind === 'map') {
      const names = new Set([...Object.keys(leftShape.fields), ...Object.keys(rightShape.fields)])
      for (const name of names) compare(leftShape.fields[name], rightShape.fields[name], fieldPlace(place, name))
    } else if (leftShape.kind === 'list' && rightShape.kind === 'list') {
      const tokens = new Set([...leftShape.items.keys(), ...rightShape.items.keys()])
      for (const token of tokens) compare(leftShape.items.get(token), rightShape.items.get(token), itemPlace(place, token))
    } else if (leftShape.kind === 'leaf' && rightShape.kind === 'leaf') {
      if (!jsonEqual(left, right)) modified.insert(place.path)
    } else {
      modified.insert(place.path)
      descendants(left, place, removed)
      descendants(right, place, added)
    }
  }
  compare(before, after, { path: [], names: [] })
  return { added: added.build(), modified: modified.build(), removed: removed.build() }
}

/**
 * The value at `path` in `object`, or undefined when the path leads nowhere (a missing field, no
 * item with that key, a list where an object was expected).
 */
export function valueAtPath(object: JsonObject, path: FieldPath): JsonValue | undefined {
  let current: JsonValue = object
  for (const token of path) {
    let next: JsonValue | undefined
    if (token.startsWith('f:')) {
      const name = token.slice(2)
      next = isJsonObject(current) && Object.hasOwn(current, name) ? current[name] : undefined
    } else {
      next = Array.isArray(current) ? current[itemIndex(current, token)] : undefined
    }
    if (next === undefined) return undefined
    current = next
  }
  return current
}

/**
 * The position of the item a `k:`, `v:` or `i:` token names in `list`, or -1 when there is none
 * (the first match when several items match, which only an atomic list can have).
 */
export function itemIndex(list: readonly JsonValue[], token: PathToken): number {
  const decoded = decodeToken(token)
  switch (decoded.kind) {
    case 'field':
      return -1
    case 'key': {
      const keys = Object.entries(decoded.keys)
      return list.findIndex((item) => isJsonObject(item) && keys.every(([name, value]) => Object.hasOwn(item, name) && jsonEqual(item[name] as JsonValue, value)))
    }
    case 'value':
      return list.findIndex((item) => jsonEqual(item, decoded.value))
    case 'index':
      return decoded.index < list.length ? decoded.index : -1
  }
}
