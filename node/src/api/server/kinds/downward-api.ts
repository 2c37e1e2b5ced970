/**
 * The downward API: pod fields (`fieldRef`) and container resources (`resourceFieldRef`) exposed
 * as environment variables or files. Shared by `env[].valueFrom` and `downwardAPI` volumes, which
 * allow slightly different field paths.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { qualifiedNameErrors } from '../../machinery/names.ts'
import { messagesAsErrors } from './field-checks.ts'
import { childPath, isInteger, isSet, setDefault, stringAt } from './json-access.ts'
import { quantityOf } from './resource-lists.ts'

/** Pod fields an environment variable may read. */
export const ENV_FIELD_PATHS: readonly string[] = [
  'metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid',
  'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs',
]
/** Pod fields a downwardAPI volume file may hold. */
export const VOLUME_FIELD_PATHS: readonly string[] = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid']
/** Container resources a resourceFieldRef may read (plus `requests.hugepages-*`/`limits.hugepages-*`). */
const RESOURCE_FIELD_PATHS: readonly string[] = ['limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory']

/** `fieldRef.apiVersion` defaults to `v1` (`SetDefaults_ObjectFieldSelector`). Mutates. */
export function defaultFieldRef(value: JsonValue | undefined): void {
  if (isJsonObject(value)) setDefault(value, 'apiVersion', 'v1')
}

/**
 * A fieldRef: `apiVersion` v1, and a supported `fieldPath`, where labels and annotations may
 * also be read one key at a time (`metadata.labels['app']`).
 */
export function fieldRefErrors(fieldRef: JsonObject, allowed: readonly string[], path: string): FieldError[] {
  const apiVersion = stringAt(fieldRef['apiVersion'])
  const fieldPath = stringAt(fieldRef['fieldPath'])
  if (apiVersion === '') return [fieldRequired(childPath(path, 'apiVersion'))]
  if (fieldPath === '') return [fieldRequired(childPath(path, 'fieldPath'))]
  if (apiVersion !== 'v1') {
    return [fieldInvalid(childPath(path, 'fieldPath'), fieldPath, `error converting fieldPath: field label not supported: ${fieldPath}`)]
  }
  const subscripted = /^([^[]+)\['([^']*)'\]$/.exec(fieldPath)
  if (subscripted !== null) {
    const [, base = '', key = ''] = subscripted
    if (base === 'metadata.annotations') return messagesAsErrors(qualifiedNameErrors(key.toLowerCase()), path, key)
    if (base === 'metadata.labels') return messagesAsErrors(qualifiedNameErrors(key), path, key)
    return [fieldInvalid(path, base, 'does not support subscript')]
  }
  if (!allowed.includes(fieldPath)) return [fieldNotSupported(childPath(path, 'fieldPath'), fieldPath, allowed)]
  return []
}

/** A resourceFieldRef: a known resource and, for files, the container it belongs to. */
export function resourceFieldRefErrors(resourceFieldRef: JsonObject, path: string, inVolume: boolean): FieldError[] {
  const resource = stringAt(resourceFieldRef['resource'])
  if (inVolume && stringAt(resourceFieldRef['containerName']) === '') return [fieldRequired(childPath(path, 'containerName'))]
  if (resource === '') return [fieldRequired(childPath(path, 'resource'))]
  const hugePages = resource.startsWith('requests.hugepages-') || resource.startsWith('limits.hugepages-')
  if (!RESOURCE_FIELD_PATHS.includes(resource) && !hugePages) return [fieldNotSupported(childPath(path, 'resource'), resource, RESOURCE_FIELD_PATHS)]
  const divisor = resourceFieldRef['divisor']
  if (isSet(divisor) && quantityOf(divisor) === undefined && !isInteger(divisor)) return [fieldInvalid(childPath(path, 'divisor'), divisor, 'must be a quantity')]
  return []
}
