// Goal: ConfigMaps and Secrets are checked as Kubernetes checks them — file-safe keys, the 1 MiB
// limit, base64 binary data, stringData folded into data, the typed Secrets' required keys and
// the immutable flag. Method: tables over applyDefaults and validateKind.
import t from 'tap'
import { formatFieldError } from '../../../node/src/api/machinery/field-errors.ts'
import { accepted, defaulted, errorsOf, refused, type Loose } from './kinds-fixtures.ts'

const configMap = (fields: Loose = {}): Loose => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data: { 'app.conf': 'x = 1' }, ...fields })
const secret = (fields: Loose = {}): Loose => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'default' }, ...fields })
const base64 = (text: string): string => Buffer.from(text).toString('base64')
const MIB = 1024 * 1024

t.test('ConfigMap keys: file-name characters, not . or .., unique across data and binaryData', async (t) => {
  accepted(t, 'ConfigMap', configMap({ data: { 'a.conf': '', KEY_NAME: 'x', 'key-name': 'y' }, binaryData: { 'logo.png': base64('\x89PNG') } }))
  const errors = errorsOf('ConfigMap', configMap({ data: { 'a/b': 'x' } }))
  t.same(errors.map(formatFieldError), [
    `data[a/b]: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
  ])
  refused(t, 'ConfigMap', configMap({ data: { '..': 'x' } }), { field: 'data[..]', type: 'FieldValueInvalid', detail: "must not be '..'" })
  refused(t, 'ConfigMap', configMap({ data: { '..data': 'x' } }), { field: 'data[..data]', type: 'FieldValueInvalid', detail: "must not start with '..'" })
  refused(t, 'ConfigMap', configMap({ data: { logo: 'x' }, binaryData: { logo: base64('y') } }), { field: 'data[logo]', type: 'FieldValueInvalid', detail: 'duplicate of key present in binaryData' })
  refused(t, 'ConfigMap', configMap({ binaryData: { logo: 'not base64!' } }), { field: 'binaryData[logo]', type: 'FieldValueInvalid', detail: 'illegal base64 data at input byte 3' })
  refused(t, 'ConfigMap', configMap({ data: { count: 3 } }), { field: 'data[count]', type: 'FieldValueInvalid', detail: 'must be a string' })
})

t.test('ConfigMaps and Secrets hold at most 1 MiB', async (t) => {
  accepted(t, 'ConfigMap', configMap({ data: { big: 'x'.repeat(MIB) } }), undefined, 'exactly 1 MiB fits')
  const errors = errorsOf('ConfigMap', configMap({ data: { big: 'x'.repeat(MIB), more: 'x' } }))
  t.same(errors.map((error) => [error.field, error.type]), [['', 'FieldValueTooLong']], 'the size error refers to the whole object')
  refused(t, 'ConfigMap', configMap({ data: { a: 'x'.repeat(MIB / 2) }, binaryData: { b: base64('y'.repeat(MIB / 2 + 1)) } }), { field: '', type: 'FieldValueTooLong' })
  refused(t, 'Secret', secret({ data: { blob: base64('z'.repeat(MIB + 1)) } }), { field: 'data', type: 'FieldValueTooLong' })
})

t.test('Secret defaults: Opaque, and stringData stored base64-encoded in data', async (t) => {
  const result = defaulted('Secret', secret({ data: { user: base64('admin'), password: base64('old') }, stringData: { password: 'päss', token: 't' } }))
  t.equal(result.type, 'Opaque')
  t.same(result.data, { user: base64('admin'), password: base64('päss'), token: base64('t') }, 'stringData wins and is UTF-8 encoded')
  t.notOk('stringData' in result, 'stringData is write-only')
  accepted(t, 'Secret', secret({ stringData: { anything: 'goes' } }))
})

t.test('Secret data: valid keys and base64 values, never echoed back', async (t) => {
  const errors = errorsOf('Secret', secret({ data: { password: 'hunter2' } }))
  t.same(errors.map(formatFieldError), ['data[password]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 4'])
  refused(t, 'Secret', secret({ data: { 'bad key': base64('x') } }), { field: 'data[bad key]', type: 'FieldValueInvalid' })
  accepted(t, 'Secret', secret({ data: { wrapped: `${base64('a'.repeat(60)).slice(0, 40)}\n${base64('a'.repeat(60)).slice(40)}` } }), undefined, 'line breaks in base64 are ignored')
})

t.test('typed Secrets carry their required keys', async (t) => {
  refused(t, 'Secret', secret({ type: 'kubernetes.io/tls', data: { 'tls.crt': base64('cert') } }), { field: 'data[tls.key]', type: 'FieldValueRequired' })
  refused(t, 'Secret', secret({ type: 'kubernetes.io/tls', data: {} }), { field: 'data[tls.crt]', type: 'FieldValueRequired' })
  accepted(t, 'Secret', secret({ type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'cert', 'tls.key': 'key' } }))
  refused(t, 'Secret', secret({ type: 'kubernetes.io/dockerconfigjson', data: {} }), { field: 'data[.dockerconfigjson]', type: 'FieldValueRequired' })
  refused(t, 'Secret', secret({ type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{not json' } }), { field: 'data[.dockerconfigjson]', type: 'FieldValueInvalid' })
  accepted(t, 'Secret', secret({ type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{"auths":{}}' } }))
  refused(t, 'Secret', secret({ type: 'kubernetes.io/dockercfg', data: {} }), { field: 'data[.dockercfg]', type: 'FieldValueRequired' })
  refused(t, 'Secret', secret({ type: 'kubernetes.io/basic-auth', data: {} }), { field: 'data[username]', type: 'FieldValueRequired' })
  accepted(t, 'Secret', secret({ type: 'kubernetes.io/basic-auth', stringData: { password: '' } }), undefined, 'one of username and password is enough')
  refused(t, 'Secret', secret({ type: 'kubernetes.io/ssh-auth', data: {} }), { field: 'data[ssh-privatekey]', type: 'FieldValueRequired' })
  refused(t, 'Secret', secret({ type: 'kubernetes.io/service-account-token' }), { field: 'metadata.annotations[kubernetes.io/service-account.name]', type: 'FieldValueRequired' })
  accepted(t, 'Secret', secret({ type: 'example.com/custom', data: {} }), undefined, 'other types have no required keys')
})

t.test('updates: a Secret keeps its type; immutable data stays immutable', async (t) => {
  const stored = defaulted('Secret', secret({ stringData: { a: '1' } }))
  refused(t, 'Secret', secret({ type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'c', 'tls.key': 'k' } }), { field: 'type', type: 'FieldValueInvalid', detail: 'field is immutable' }, stored)
  accepted(t, 'Secret', secret({ stringData: { a: '2' } }), stored, 'mutable secrets change freely')
  const frozen = defaulted('Secret', secret({ immutable: true, stringData: { a: '1' } }))
  refused(t, 'Secret', secret({ immutable: true, stringData: { a: '2' } }), { field: 'data', type: 'FieldValueForbidden', detail: 'field is immutable when `immutable` is set' }, frozen)
  refused(t, 'Secret', secret({ immutable: false, stringData: { a: '1' } }), { field: 'immutable', type: 'FieldValueForbidden' }, frozen)
  accepted(t, 'Secret', { ...frozen, metadata: { ...frozen.metadata, labels: { rotated: 'no' } } }, frozen, 'metadata may still change')
  const frozenMap = configMap({ immutable: true })
  refused(t, 'ConfigMap', configMap({ immutable: true, data: { 'app.conf': 'x = 2' } }), { field: 'data', type: 'FieldValueForbidden' }, frozenMap)
  refused(t, 'ConfigMap', configMap({ immutable: true, binaryData: { b: base64('1') } }), { field: 'binaryData', type: 'FieldValueForbidden' }, frozenMap)
})
