/**
 * ConfigMaps and Secrets (core/v1): keys usable as file names, at most 1 MiB of data, base64
 * binary values, `stringData` folded into `data`, the Secret types' required keys, and the
 * `immutable` flag (`ValidateConfigMap`, `ValidateSecret` and their update rules).
 */
import { canonicalEqual, isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, fieldRequired, fieldTooLong, type FieldError } from '../../machinery/field-errors.ts'
import { immutableErrors, messagesAsErrors } from './field-checks.ts'
import { configKeyMessages } from './formats.ts'
import { isSet, keyPath, objectAt, setDefaultUnlessNonZero, sortedKeys, stringAt } from './json-access.ts'

/** ConfigMaps and Secrets are mounted as files and kept in etcd-sized records: 1 MiB at most. */
export const CONFIG_DATA_BYTES_MAX = 1024 * 1024
const IMMUTABLE_WHEN_SET = 'field is immutable when `immutable` is set'
const BASE64_ALPHABET = /^[A-Za-z0-9+/]$/

/**
 * Why `text` is not standard padded base64 (Go's `base64.StdEncoding`, which the API server uses
 * for `[]byte` fields), in Go's words; undefined when it is valid. Line breaks are ignored, as Go
 * ignores them.
 */
export function base64Error(text: string): string | undefined {
  const compact = text.replace(/[\r\n]/g, '')
  const padding = compact.length - compact.replace(/=+$/, '').length
  for (let i = 0; i < compact.length - padding; i++) {
    if (!BASE64_ALPHABET.test(compact[i] ?? '')) return `illegal base64 data at input byte ${i}`
  }
  if (padding > 2 || compact.length % 4 !== 0) return `illegal base64 data at input byte ${compact.length - (compact.length % 4 || 4)}`
  return undefined
}

/** The byte length of valid base64 text once decoded. */
function decodedBytes(text: string): number {
  const compact = text.replace(/[\r\n]/g, '')
  const padding = compact.length - compact.replace(/=+$/, '').length
  return (compact.length / 4) * 3 - padding
}

/** Fills a Secret's defaults in place: type Opaque, and `stringData` merged into `data` as base64. */
export function defaultSecret(secret: JsonObject): void {
  setDefaultUnlessNonZero(secret, 'type', 'Opaque')
  const stringData = secret['stringData']
  if (!isJsonObject(stringData)) return
  // stringData is write-only: its entries win over data's and are stored only in encoded form.
  const data = objectAt(secret['data'])
  for (const [key, value] of Object.entries(stringData)) data[key] = Buffer.from(stringAt(value), 'utf8').toString('base64')
  secret['data'] = data
  delete secret['stringData']
}

/** Keys, string values and base64 values of one data map; returns the errors and the byte total. */
function dataMapErrors(value: JsonValue | undefined, field: string, binary: boolean): { errors: FieldError[]; bytes: number } {
  const errors: FieldError[] = []
  let bytes = 0
  if (isSet(value) && !isJsonObject(value)) return { errors: [fieldInvalid(field, value, 'must be a map of strings')], bytes }
  const map = objectAt(value)
  for (const key of sortedKeys(map)) {
    const path = keyPath(field, key)
    errors.push(...messagesAsErrors(configKeyMessages(key), path, key))
    const item = map[key]
    if (typeof item !== 'string') {
      errors.push(fieldInvalid(path, item ?? null, 'must be a string'))
      continue
    }
    if (!binary) {
      bytes += Buffer.byteLength(item)
      continue
    }
    const problem = base64Error(item)
    // The value may be a secret; never echo it back in the error.
    if (problem !== undefined) errors.push(fieldInvalid(path, '<secret contents redacted>', problem))
    else bytes += decodedBytes(item)
  }
  return { errors, bytes }
}

/** `immutable: true` freezes the data and cannot be undone. */
function immutableFlagErrors(next: JsonObject, old: JsonObject | undefined, fields: readonly string[]): FieldError[] {
  if (old === undefined || old['immutable'] !== true) return []
  const errors: FieldError[] = []
  if (next['immutable'] !== true) errors.push(fieldForbidden('immutable', IMMUTABLE_WHEN_SET))
  for (const field of fields) if (!canonicalEqual(next[field] ?? null, old[field] ?? null)) errors.push(fieldForbidden(field, IMMUTABLE_WHEN_SET))
  return errors
}

/** Problems of a ConfigMap: keys, a key in both data and binaryData, 1 MiB in total. */
export function configMapErrors(configMap: JsonObject, old: JsonObject | undefined): FieldError[] {
  const data = dataMapErrors(configMap['data'], 'data', false)
  const binary = dataMapErrors(configMap['binaryData'], 'binaryData', true)
  const errors = [...data.errors, ...binary.errors]
  const binaryKeys = objectAt(configMap['binaryData'])
  for (const key of sortedKeys(objectAt(configMap['data']))) {
    if (Object.hasOwn(binaryKeys, key)) errors.push(fieldInvalid(keyPath('data', key), key, 'duplicate of key present in binaryData'))
  }
  // Kubernetes reports the size on the empty path: the whole object is too large.
  if (data.bytes + binary.bytes > CONFIG_DATA_BYTES_MAX) errors.push(fieldTooLong('', CONFIG_DATA_BYTES_MAX))
  return [...errors, ...immutableFlagErrors(configMap, old, ['data', 'binaryData'])]
}

/** The keys each built-in Secret type must carry (basic-auth: username or password). */
function secretTypeErrors(secret: JsonObject): FieldError[] {
  const data = objectAt(secret['data'])
  const annotations = objectAt(objectAt(secret['metadata'])['annotations'])
  const required = (key: string): FieldError[] => (Object.hasOwn(data, key) ? [] : [fieldRequired(keyPath('data', key))])
  switch (secret['type']) {
    case 'kubernetes.io/service-account-token':
      return stringAt(annotations['kubernetes.io/service-account.name']) === '' ? [fieldRequired(keyPath('metadata.annotations', 'kubernetes.io/service-account.name'))] : []
    case 'kubernetes.io/dockercfg':
      return Object.hasOwn(data, '.dockercfg') ? jsonKeyErrors(data, '.dockercfg') : required('.dockercfg')
    case 'kubernetes.io/dockerconfigjson':
      return Object.hasOwn(data, '.dockerconfigjson') ? jsonKeyErrors(data, '.dockerconfigjson') : required('.dockerconfigjson')
    case 'kubernetes.io/basic-auth':
      return Object.hasOwn(data, 'username') || Object.hasOwn(data, 'password') ? [] : [...required('username'), ...required('password')]
    case 'kubernetes.io/ssh-auth':
      return stringAt(data['ssh-privatekey']) === '' ? [fieldRequired(keyPath('data', 'ssh-privatekey'))] : []
    case 'kubernetes.io/tls':
      return [...required('tls.crt'), ...required('tls.key')]
    default:
      return []
  }
}

/** A docker config key must decode to a JSON object. */
function jsonKeyErrors(data: JsonObject, key: string): FieldError[] {
  const encoded = stringAt(data[key])
  if (base64Error(encoded) !== undefined) return []
  try {
    const parsed: unknown = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'))
    if (isJsonObject(parsed)) return []
    return [fieldInvalid(keyPath('data', key), '<secret contents redacted>', 'json: cannot unmarshal into Go value of type map[string]interface {}')]
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    return [fieldInvalid(keyPath('data', key), '<secret contents redacted>', error.message)]
  }
}

/** Problems of a (defaulted) Secret; its type may not change, nor its data once immutable. */
export function secretErrors(secret: JsonObject, old: JsonObject | undefined): FieldError[] {
  const data = dataMapErrors(secret['data'], 'data', true)
  const errors = [...data.errors]
  if (data.bytes > CONFIG_DATA_BYTES_MAX) errors.push(fieldTooLong('data', CONFIG_DATA_BYTES_MAX))
  errors.push(...secretTypeErrors(secret))
  if (old !== undefined) errors.push(...immutableErrors(secret['type'], old['type'], 'type'))
  return [...errors, ...immutableFlagErrors(secret, old, ['data'])]
}
