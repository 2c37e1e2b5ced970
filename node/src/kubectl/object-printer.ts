/**
 * `-o yaml`, `-o json` and `-o name` output, shaped as kubectl shapes it: keys sorted at every
 * level (kubectl prints unstructured objects, which Go marshals in key order), JSON indented by
 * four spaces, YAML with sequences flush under their key, and several objects wrapped in a
 * `kind: List`.
 */
import { Document, Scalar, visit } from 'yaml'
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { kindPrefix, type ApiResource } from './resource-catalog.ts'
import { nameOf } from './object-fields.ts'

export type ObjectFormat = 'yaml' | 'json'

/** A copy of `value` with object keys sorted at every depth. */
export function sortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (isJsonObject(value)) {
    const sorted: JsonObject = {}
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key]!)
    return sorted
  }
  return value
}

/** The kubectl `List` wrapper for several objects. */
export function listOf(items: readonly JsonObject[]): JsonObject {
  return { apiVersion: 'v1', items: [...items], kind: 'List', metadata: { resourceVersion: '', selfLink: '' } }
}

/** One value as kubectl prints it in `format`, ending with a newline. */
export function formatObject(value: JsonObject, format: ObjectFormat): string {
  const sorted = sortKeys(value)
  if (format === 'json') return `${JSON.stringify(sorted, null, 4)}\n`
  const document = new Document(sorted)
  visit(document, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && readsAsNonString(node.value)) node.type = Scalar.QUOTE_DOUBLE
    },
  })
  return document.toString({ indentSeq: false, lineWidth: 0, minContentWidth: 0 })
}

/**
 * True for strings a YAML 1.1 reader (go-yaml, so kubectl and most tools) would take for another
 * type: booleans such as `yes`/`on`, nulls, numbers, timestamps. kubectl quotes them; so do we.
 */
export function readsAsNonString(text: string): boolean {
  return YAML11_NON_STRING.some((pattern) => pattern.test(text))
}

const YAML11_NON_STRING: readonly RegExp[] = [
  /^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^(~|null|Null|NULL|)$/,
  /^[-+]?(0b[01_]+|0[0-7_]+|(0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|[1-9][0-9_]*(:[0-5]?[0-9])+)$/,
  /^[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?$/,
  // go-yaml also takes anything strconv.ParseFloat reads in this shape for a float (`1e3`).
  /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/,
  /^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*$/,
  /^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/,
  /^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)?([0-9][0-9]?:[0-9][0-9]:[0-9][0-9](\.[0-9]*)?)?([ \t]*(Z|[-+][0-9][0-9]?(:[0-9][0-9])?))?$/,
]

/** `deployment.apps/web`: the `-o name` line of an object. */
export function formatName(resource: Pick<ApiResource, 'group' | 'kind'>, object: JsonObject): string {
  return `${kindPrefix(resource)}/${nameOf(object)}`
}

/** Items of a List as kubectl prints them: with `kind` and `apiVersion` filled in. */
export function withTypeMeta(object: JsonObject, resource: Pick<ApiResource, 'group' | 'version' | 'kind'>): JsonObject {
  return {
    ...object,
    apiVersion: typeof object['apiVersion'] === 'string' ? object['apiVersion'] : resource.group === '' ? resource.version : `${resource.group}/${resource.version}`,
    kind: typeof object['kind'] === 'string' ? object['kind'] : resource.kind,
  }
}
