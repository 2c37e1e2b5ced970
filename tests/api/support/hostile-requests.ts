/**
 * Requests the Kubernetes API must refuse with a 4xx Status and without touching the store: a
 * fixed catalogue of named cases, one or more per kind of hostility, kept so that a regression
 * names itself (hostile-variations.ts varies them from a seed). The fuzz tests (in-process and against a
 * daemon) send them at a small fixture: namespace `fuzz` holding ConfigMap `settings` and
 * Deployment `web`.
 *
 * `expectedCode` is set only where Kubernetes' answer is unambiguous (413 for a body over the
 * limit, 415 for an unknown patch type, 404 for an unknown resource, 405 for a verb the resource
 * does not have, 422 for a field a valid document gets wrong); elsewhere any 4xx passes, since
 * 400 and 422 are both defensible and clients branch on the class.
 */
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import type { RawRequest } from './raw-http.ts'

/** The kinds of hostile input; results are reported per kind. */
export type HostileCategory =
  | 'malformed-json'
  | 'non-object-body'
  | 'wrong-type'
  | 'wrong-kind'
  | 'unknown-resource'
  | 'bad-name'
  | 'bad-labels'
  | 'bad-label-selector'
  | 'bad-field-selector'
  | 'oversized-body'
  | 'invalid-patch'
  | 'bad-resource-version'
  | 'bad-dry-run'
  | 'bad-query'
  | 'unsupported-method'
  | 'malformed-yaml'

/** A request the server must refuse. */
export interface HostileRequest extends RawRequest {
  /** What makes it hostile, for failure reports: `POST configmap with a truncated body`. */
  readonly label: string
  readonly category: HostileCategory
  /** The one right status, when Kubernetes has one (see the file comment). */
  readonly expectedCode?: number
}

export const FIXTURE_NAMESPACE = 'fuzz'
export const FIXTURE_CONFIGMAP = 'settings'
export const FIXTURE_DEPLOYMENT = 'web'

/** Paths of the fixture's collections and objects. */
export const PATHS = {
  namespaces: '/api/v1/namespaces',
  namespace: `/api/v1/namespaces/${FIXTURE_NAMESPACE}`,
  configMaps: `/api/v1/namespaces/${FIXTURE_NAMESPACE}/configmaps`,
  configMap: `/api/v1/namespaces/${FIXTURE_NAMESPACE}/configmaps/${FIXTURE_CONFIGMAP}`,
  deployments: `/apis/apps/v1/namespaces/${FIXTURE_NAMESPACE}/deployments`,
  deployment: `/apis/apps/v1/namespaces/${FIXTURE_NAMESPACE}/deployments/${FIXTURE_DEPLOYMENT}`,
  scale: `/apis/apps/v1/namespaces/${FIXTURE_NAMESPACE}/deployments/${FIXTURE_DEPLOYMENT}/scale`,
  status: `/apis/apps/v1/namespaces/${FIXTURE_NAMESPACE}/deployments/${FIXTURE_DEPLOYMENT}/status`,
  services: `/api/v1/namespaces/${FIXTURE_NAMESPACE}/services`,
} as const

/** The Kubernetes API's request body limit (3 MiB); the oversized cases go past it. */
export const BODY_BYTES_MAX = 3 * 1024 * 1024

/** Nesting depth of the deep-nesting cases: at Kubernetes' own decoding limit (10,000) and past it. */
export const NESTING_DEPTH = 10_001

const JSON_TYPE = 'application/json'
export const MERGE_PATCH = 'application/merge-patch+json'
export const JSON_PATCH = 'application/json-patch+json'
export const STRATEGIC_PATCH = 'application/strategic-merge-patch+json'

export function namespaceBody(name: string, extra: JsonObject = {}): JsonObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name }, ...extra }
}

export function configMapBody(name: string, metadata: JsonObject = {}, data: JsonObject = { mode: 'fast' }): JsonObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...metadata }, data }
}

export function deploymentBody(name: string, spec: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } },
      ...spec,
    },
  }
}

/** The requests that build the fixture, in order (each must succeed). */
export function fixtureRequests(): RawRequest[] {
  const post = (path: string, body: JsonObject): RawRequest => ({ method: 'POST', path, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(body) })
  return [
    post(PATHS.namespaces, namespaceBody(FIXTURE_NAMESPACE)),
    post(PATHS.configMaps, configMapBody(FIXTURE_CONFIGMAP, { labels: { tier: 'backend' } })),
    post(PATHS.deployments, deploymentBody(FIXTURE_DEPLOYMENT)),
  ]
}

interface Send {
  readonly category: HostileCategory
  readonly label: string
  readonly method: string
  readonly path: string
  readonly body?: string | Uint8Array | JsonObject | undefined
  readonly contentType?: string | undefined
  readonly expectedCode?: number | undefined
  readonly headers?: Readonly<Record<string, string>>
}

/** Builds a HostileRequest; object bodies are serialised, and a body gets a JSON Content-Type unless told otherwise. */
export function hostile(send: Send): HostileRequest {
  const body = send.body === undefined || typeof send.body === 'string' || send.body instanceof Uint8Array ? send.body : JSON.stringify(send.body)
  const contentType = send.contentType ?? (body === undefined ? undefined : JSON_TYPE)
  const headers: Record<string, string> = { ...(contentType === undefined || contentType === '' ? {} : { 'content-type': contentType }), ...send.headers }
  return {
    label: send.label,
    category: send.category,
    method: send.method,
    path: send.path,
    headers,
    ...(body === undefined ? {} : { body }),
    ...(send.expectedCode === undefined ? {} : { expectedCode: send.expectedCode }),
  }
}

/** `{"a":{"a":…"x"…}}` nested `depth` levels deep, as text (JSON.stringify would recurse). */
export function deepObjectText(depth: number): string {
  return `${'{"a":'.repeat(depth)}"x"${'}'.repeat(depth)}`
}

/** `[[[…]]]` nested `depth` levels deep. */
export function deepArrayText(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`
}

/** A ConfigMap whose JSON text is `bytes` long or a little more, so it crosses the body limit. */
export function oversizedConfigMapText(name: string, bytes: number): string {
  const head = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${name}"},"data":{"blob":"`
  return `${head}${'x'.repeat(Math.max(0, bytes - head.length))}"}}`
}

let oversizedCache: string | undefined
/** One shared 3.5 MiB ConfigMap text (building it per case would dominate the run time). */
export function oversizedText(): string {
  oversizedCache ??= oversizedConfigMapText('big', BODY_BYTES_MAX + 512 * 1024)
  return oversizedCache
}

/** The concatenated bytes of text (as UTF-8) and raw byte values, for bodies that are not valid UTF-8. */
export function bytes(...parts: Array<string | number[]>): Uint8Array {
  return Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))))
}

/** The fixed catalogue: every kind of hostility the brief names, each as a named case. */
export function hostileCatalogue(): HostileRequest[] {
  return [
    ...malformedJsonCases(),
    ...nonObjectCases(),
    ...wrongTypeCases(),
    ...wrongKindCases(),
    ...unknownResourceCases(),
    ...badNameCases(),
    ...badLabelCases(),
    ...selectorCases(),
    ...oversizedCases(),
    ...invalidPatchCases(),
    ...resourceVersionCases(),
    ...dryRunCases(),
    ...queryCases(),
    ...methodCases(),
  ]
}

function malformedJsonCases(): HostileRequest[] {
  const category = 'malformed-json'
  const valid = JSON.stringify(configMapBody('fresh'))
  const post = (label: string, body: string | Uint8Array, expectedCode?: number): HostileRequest => hostile({ category, label, method: 'POST', path: PATHS.configMaps, body, expectedCode })
  return [
    post('POST configmap, body truncated mid-object', valid.slice(0, valid.length - 7), 400),
    post('POST configmap, body truncated inside a string', valid.slice(0, valid.indexOf('fresh') + 2), 400),
    post('POST configmap, trailing garbage after the object', `${valid}xyz`, 400),
    post('POST configmap, two JSON documents', `${valid}${valid}`, 400),
    post('POST configmap, empty body', '', 400),
    post('POST configmap, whitespace-only body', ' \n\t ', 400),
    // No byte-order-mark case: RFC 8259 lets a parser ignore a leading BOM, so accepting one is fine.
    post('POST configmap, JavaScript comment', valid.replace('{', '{/* hi */'), 400),
    post('POST configmap, NaN literal', valid.replace('"fast"', 'NaN'), 400),
    post('POST configmap, single-quoted strings', valid.replaceAll('"', "'"), 400),
    post('POST configmap, unescaped control character in a string', valid.replace('fast', 'fa\u0001st'), 400),
    post(`POST, an array nested ${NESTING_DEPTH} levels as the body`, deepArrayText(NESTING_DEPTH), 400),
    post(`POST configmap, data value nested ${NESTING_DEPTH} levels`, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":{"k":${deepObjectText(NESTING_DEPTH)}}}`),
    post(`POST configmap, labels nested ${NESTING_DEPTH} levels`, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep","labels":${deepObjectText(NESTING_DEPTH)}}}`),
    hostile({ category, label: `PUT configmap, annotations nested ${NESTING_DEPTH} levels`, method: 'PUT', path: PATHS.configMap, body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${FIXTURE_CONFIGMAP}","annotations":${deepObjectText(NESTING_DEPTH)}}}` }),
    hostile({ category, label: `merge PATCH configmap, data nested ${NESTING_DEPTH} levels`, method: 'PATCH', path: PATHS.configMap, contentType: MERGE_PATCH, body: `{"data":{"k":${deepObjectText(NESTING_DEPTH)}}}` }),
    hostile({ category, label: `POST deployment, spec.template nested ${NESTING_DEPTH} levels`, method: 'POST', path: PATHS.deployments, body: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"deep"},"spec":{"template":${deepObjectText(NESTING_DEPTH)}}}` }),
    post('POST configmap, invalid UTF-8 byte between tokens', bytes('{', [0xff], valid.slice(1)), 400),
    post('POST configmap, invalid UTF-8 in the name', bytes(valid.slice(0, valid.indexOf('fresh')), [0xc3, 0x28], valid.slice(valid.indexOf('fresh')))),
    post('POST configmap, UTF-16 surrogate encoded in UTF-8 in a label key', bytes('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"surrogate","labels":{"k', [0xed, 0xa0, 0x80], '":"v"}}}')),
    post('POST configmap, overlong UTF-8 encoding of "/" in the name', bytes('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a', [0xc0, 0xaf], 'b"}}')),
    post('POST, a number with 1e999999 as the whole body', '1e999999', 400),
    hostile({ category, label: 'POST deployment, replicas 1e400 (infinite)', method: 'POST', path: PATHS.deployments, body: JSON.stringify(deploymentBody('huge')).replace('"replicas":2', '"replicas":1e400') }),
    hostile({ category, label: 'POST deployment, replicas 99999999999999999999 (beyond int64)', method: 'POST', path: PATHS.deployments, body: JSON.stringify(deploymentBody('huge')).replace('"replicas":2', '"replicas":99999999999999999999') }),
    hostile({ category, label: 'POST deployment, replicas 2147483648 (beyond int32)', method: 'POST', path: PATHS.deployments, body: JSON.stringify(deploymentBody('huge')).replace('"replicas":2', '"replicas":2147483648') }),
    hostile({ category, label: 'POST deployment, a 100,000-digit number in minReadySeconds', method: 'POST', path: PATHS.deployments, body: JSON.stringify(deploymentBody('huge')).replace('"replicas":2', `"replicas":2,"minReadySeconds":${'9'.repeat(100_000)}`) }),
    post('POST configmap, duplicate metadata.name whose last value is invalid', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup-ok","name":"Dup_Bad"}}', 422),
    post('POST configmap, duplicate kind whose last value is Secret', '{"apiVersion":"v1","kind":"ConfigMap","kind":"Secret","metadata":{"name":"dup-kind"}}', 400),
    post('POST configmap, duplicate data key whose last value is a number', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup-data"},"data":{"a":"x","a":5}}'),
  ]
}

function nonObjectCases(): HostileRequest[] {
  const category = 'non-object-body'
  const cases: HostileRequest[] = []
  for (const [text, what] of [['[]', 'an empty array'], ['[{"kind":"ConfigMap","metadata":{"name":"in-array"}}]', 'an array holding a ConfigMap'], ['"configmap"', 'a string'], ['null', 'null'], ['42', 'a number'], ['true', 'true']] as const) {
    cases.push(hostile({ category, label: `POST configmap, the body is ${what}`, method: 'POST', path: PATHS.configMaps, body: text, expectedCode: 400 }))
  }
  cases.push(
    hostile({ category, label: 'PUT configmap, the body is an array', method: 'PUT', path: PATHS.configMap, body: '[]', expectedCode: 400 }),
    hostile({ category, label: 'PUT configmap, the body is null', method: 'PUT', path: PATHS.configMap, body: 'null', expectedCode: 400 }),
    hostile({ category, label: 'PUT namespace, the body is a string', method: 'PUT', path: PATHS.namespace, body: '"fuzz"', expectedCode: 400 }),
    hostile({ category, label: 'POST deployment, the body is an array of Deployments', method: 'POST', path: PATHS.deployments, body: `[${JSON.stringify(deploymentBody('listed'))}]`, expectedCode: 400 }),
    hostile({ category, label: 'PUT scale, the body is an array', method: 'PUT', path: PATHS.scale, body: '[{"spec":{"replicas":3}}]', expectedCode: 400 }),
    hostile({ category, label: 'PUT status, the body is null', method: 'PUT', path: PATHS.status, body: 'null', expectedCode: 400 }),
    hostile({ category, label: 'DELETE configmap, the DeleteOptions body is null', method: 'DELETE', path: PATHS.configMap, body: 'null', expectedCode: 400 }),
    hostile({ category, label: 'DELETE configmap, the DeleteOptions body is an array', method: 'DELETE', path: PATHS.configMap, body: '[]', expectedCode: 400 }),
    hostile({ category, label: 'DELETE configmap, the DeleteOptions body is a string', method: 'DELETE', path: PATHS.configMap, body: '"now"', expectedCode: 400 }),
    hostile({ category, label: 'DELETE configmap, the DeleteOptions body is malformed JSON', method: 'DELETE', path: PATHS.configMap, body: '{"propagationPolicy":', expectedCode: 400 }),
  )
  return cases
}

/** Valid JSON, but a field of the wrong type for its Go struct (400 on a real server). */
function wrongTypeCases(): HostileRequest[] {
  const category = 'wrong-type'
  const post = (label: string, path: string, body: JsonObject): HostileRequest => hostile({ category, label, method: 'POST', path, body })
  return [
    post('POST configmap, a data value is a number', PATHS.configMaps, configMapBody('typed', {}, { count: 5 })),
    post('POST configmap, a data value is an object', PATHS.configMaps, configMapBody('typed', {}, { nested: { a: 'b' } })),
    post('POST configmap, data is a list', PATHS.configMaps, { ...configMapBody('typed'), data: ['a', 'b'] }),
    post('POST configmap, metadata is a string', PATHS.configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: 'typed', data: {} }),
    post('POST configmap, metadata.name is a number', PATHS.configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 12345 } }),
    post('POST configmap, kind is a number', PATHS.configMaps, { apiVersion: 'v1', kind: 5, metadata: { name: 'typed' } }),
    post('POST deployment, spec is a list', PATHS.deployments, { ...deploymentBody('typed'), spec: [] }),
    post('POST deployment, replicas is a string', PATHS.deployments, deploymentBody('typed', { replicas: 'three' })),
    post('POST deployment, replicas is 1.5', PATHS.deployments, deploymentBody('typed', { replicas: 1.5 })),
    post('POST deployment, containers is an object', PATHS.deployments, deploymentBody('typed', { template: { metadata: { labels: { app: 'typed' } }, spec: { containers: { name: 'main', image: 'busybox' } } } })),
  ]
}

function wrongKindCases(): HostileRequest[] {
  const category = 'wrong-kind'
  return [
    hostile({ category, label: 'POST to configmaps, kind Secret', method: 'POST', path: PATHS.configMaps, body: { ...configMapBody('wrong-kind'), kind: 'Secret' }, expectedCode: 400 }),
    hostile({ category, label: 'POST to configmaps, apiVersion apps/v1', method: 'POST', path: PATHS.configMaps, body: { ...configMapBody('wrong-kind'), apiVersion: 'apps/v1' }, expectedCode: 400 }),
    hostile({ category, label: 'POST to configmaps, a whole Deployment', method: 'POST', path: PATHS.configMaps, body: deploymentBody('wrong-kind'), expectedCode: 400 }),
    hostile({ category, label: 'POST to deployments, apiVersion v1', method: 'POST', path: PATHS.deployments, body: { ...deploymentBody('wrong-kind'), apiVersion: 'v1' }, expectedCode: 400 }),
    hostile({ category, label: 'POST to deployments, apiVersion extensions/v1beta1', method: 'POST', path: PATHS.deployments, body: { ...deploymentBody('wrong-kind'), apiVersion: 'extensions/v1beta1' }, expectedCode: 400 }),
    hostile({ category, label: 'POST to deployments, kind StatefulSet', method: 'POST', path: PATHS.deployments, body: { ...deploymentBody('wrong-kind'), kind: 'StatefulSet' }, expectedCode: 400 }),
    hostile({ category, label: 'POST to namespaces, a ConfigMap', method: 'POST', path: PATHS.namespaces, body: configMapBody('wrong-kind'), expectedCode: 400 }),
    hostile({ category, label: 'PUT configmap, a Deployment body', method: 'PUT', path: PATHS.configMap, body: deploymentBody(FIXTURE_CONFIGMAP), expectedCode: 400 }),
    hostile({ category, label: 'PUT scale, kind Deployment', method: 'PUT', path: PATHS.scale, body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: FIXTURE_DEPLOYMENT }, spec: { replicas: 4 } }, expectedCode: 400 }),
  ]
}

function unknownResourceCases(): HostileRequest[] {
  const category = 'unknown-resource'
  const get = (path: string, method = 'GET'): HostileRequest =>
    hostile({ category, label: `${method} ${path.length > 80 ? `${path.slice(0, 40)}...(${path.length} characters)` : path}`, method, path, expectedCode: 404, ...(method === 'POST' ? { body: configMapBody('x') } : {}) })
  return [
    get('/api/v1/widgets'),
    get('/api/v1/namespaces/fuzz/widgets'),
    get('/api/v1/namespaces/fuzz/widgets', 'POST'),
    get('/apis/nope.example.com/v1/things'),
    get('/apis/nope.example.com/v1/namespaces/fuzz/things/a', 'DELETE'),
    get('/apis/apps/v9/deployments'),
    get('/apis/apps/v9/namespaces/fuzz/deployments', 'POST'),
    get('/api/v2/namespaces'),
    get('/api/v1/namespaces/fuzz/namespaces'),
    get('/api/v1/namespaces/fuzz/nodes'),
    get(`${PATHS.deployment}/unknownsub`),
    get(`${PATHS.configMap}/status`),
    get(`${PATHS.configMap}/extra/segments`),
    get('/apis/apps/v1/namespaces/fuzz/configmaps'),
    get('/api/v1/namespaces/fuzz/deployments'),
    get('/apis'.concat('/', 'x'.repeat(300), '/v1/things')),
  ]
}

function badNameCases(): HostileRequest[] {
  const category = 'bad-name'
  const cases: HostileRequest[] = []
  for (const name of ['UPPER', 'x'.repeat(300), '..', '.', 'a/b', 'with space', '-lead', 'trail-', 'under_score', 'ünïcode']) {
    cases.push(hostile({ category, label: `POST configmap named ${JSON.stringify(name.length > 40 ? `${name.slice(0, 10)}...(${name.length})` : name)}`, method: 'POST', path: PATHS.configMaps, body: configMapBody(name), expectedCode: 422 }))
  }
  cases.push(
    hostile({ category, label: 'POST configmap with neither name nor generateName', method: 'POST', path: PATHS.configMaps, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} } }),
    hostile({ category, label: 'POST configmap with generateName "Bad_"', method: 'POST', path: PATHS.configMaps, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'Bad_' } }, expectedCode: 422 }),
    hostile({ category, label: 'POST namespace named "team.a" (namespaces are DNS labels: no dots)', method: 'POST', path: PATHS.namespaces, body: namespaceBody('team.a'), expectedCode: 422 }),
    hostile({ category, label: 'POST namespace named 64 characters', method: 'POST', path: PATHS.namespaces, body: namespaceBody('n'.repeat(64)), expectedCode: 422 }),
    hostile({ category, label: 'POST deployment named "Web"', method: 'POST', path: PATHS.deployments, body: deploymentBody('Web'), expectedCode: 422 }),
    hostile({ category, label: 'POST configmap with metadata.namespace differing from the path', method: 'POST', path: PATHS.configMaps, body: configMapBody('elsewhere', { namespace: 'default' }) }),
    hostile({ category, label: 'PUT configmap whose body names another object', method: 'PUT', path: PATHS.configMap, body: configMapBody('other-name'), expectedCode: 400 }),
    hostile({ category, label: 'PUT configmap at an invalid name in the path', method: 'PUT', path: `${PATHS.configMaps}/UPPER`, body: configMapBody('UPPER') }),
    hostile({ category, label: 'GET configmap at path name ".."', method: 'GET', path: `${PATHS.configMaps}/..` }),
    hostile({ category, label: 'PUT configmap at path name ".." with a body named ".."', method: 'PUT', path: `${PATHS.configMaps}/..`, body: configMapBody('..') }),
    hostile({ category, label: 'DELETE configmap at path name ".."', method: 'DELETE', path: `${PATHS.configMaps}/..` }),
    hostile({ category, label: 'DELETE configmap at path name "%2E%2E"', method: 'DELETE', path: `${PATHS.configMaps}/%2E%2E` }),
    hostile({ category, label: 'DELETE configmap at path name "."', method: 'DELETE', path: `${PATHS.configMaps}/.` }),
    hostile({ category, label: 'DELETE deployment at path name "../../configmaps/settings"', method: 'DELETE', path: `${PATHS.deployments}/../../configmaps/${FIXTURE_CONFIGMAP}` }),
    hostile({ category, label: 'GET configmap at path name "a%2Fb"', method: 'GET', path: `${PATHS.configMaps}/a%2Fb` }),
    hostile({ category, label: 'GET configmap at a path name of 300 characters', method: 'GET', path: `${PATHS.configMaps}/${'y'.repeat(300)}` }),
  )
  return cases
}

function badLabelCases(): HostileRequest[] {
  const category = 'bad-labels'
  const post = (label: string, metadata: JsonObject, expectedCode?: number): HostileRequest => hostile({ category, label, method: 'POST', path: PATHS.configMaps, body: configMapBody('labelled', metadata), expectedCode })
  return [
    post('POST configmap, label key with a space', { labels: { 'bad key': 'v' } }, 422),
    post('POST configmap, label key starting with "-"', { labels: { '-x': 'v' } }, 422),
    post('POST configmap, label key with two "/"', { labels: { 'a/b/c': 'v' } }, 422),
    post('POST configmap, label key with an empty prefix', { labels: { '/x': 'v' } }, 422),
    post('POST configmap, label key prefix of 254 characters', { labels: { [`${'p'.repeat(254)}/x`]: 'v' } }, 422),
    post('POST configmap, label key name of 64 characters', { labels: { ['k'.repeat(64)]: 'v' } }, 422),
    post('POST configmap, label value of 64 characters', { labels: { k: 'v'.repeat(64) } }, 422),
    post('POST configmap, label value with a space', { labels: { k: 'has space' } }, 422),
    post('POST configmap, label value starting with "-"', { labels: { k: '-lead' } }, 422),
    post('POST configmap, label value with "/"', { labels: { k: 'a/b' } }, 422),
    post('POST configmap, label value is a number', { labels: { k: 5 } }),
    post('POST configmap, label value is an object', { labels: { k: { nested: 'v' } } }),
    post('POST configmap, labels is a list', { labels: ['k=v'] }),
    post('POST configmap, labels is a string', { labels: 'k=v' }),
    post('POST configmap, annotation key with a space', { annotations: { 'bad key': 'v' } }, 422),
    post('POST configmap, annotation value is a number', { annotations: { k: 5 } }),
    hostile({ category, label: 'PUT configmap, label key with a space', method: 'PUT', path: PATHS.configMap, body: configMapBody(FIXTURE_CONFIGMAP, { labels: { 'bad key': 'v' } }), expectedCode: 422 }),
    hostile({ category, label: 'merge PATCH configmap, label key with a space', method: 'PATCH', path: PATHS.configMap, contentType: MERGE_PATCH, body: { metadata: { labels: { 'bad key': 'v' } } }, expectedCode: 422 }),
    hostile({ category, label: 'JSON PATCH configmap, label value of 64 characters', method: 'PATCH', path: PATHS.configMap, contentType: JSON_PATCH, body: JSON.stringify([{ op: 'add', path: '/metadata/labels/k', value: 'v'.repeat(64) }]), expectedCode: 422 }),
    hostile({ category, label: 'strategic PATCH deployment, label value with a space', method: 'PATCH', path: PATHS.deployment, contentType: STRATEGIC_PATCH, body: { metadata: { labels: { k: 'has space' } } }, expectedCode: 422 }),
    hostile({ category, label: 'POST deployment, template label value of 64 characters', method: 'POST', path: PATHS.deployments, body: deploymentBody('labelled', { template: { metadata: { labels: { app: 'labelled', k: 'v'.repeat(64) } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } } }), expectedCode: 422 }),
  ]
}

const INVALID_LABEL_SELECTORS = ['a in (', '=x', 'a==b==c', '!', ',', 'a,', 'a in x', '(a)', 'a notin (b,', 'a=b c', 'a=(b)', 'a>b', 'Bad Key=1', `k=${'v'.repeat(64)}`, 'a in (b,,c', '!a=b', 'a!==b', '@#$%']
// An empty field selector term is skipped, so "," alone is valid there (unlike in label selectors).
const INVALID_FIELD_SELECTORS = ['metadata.name', '=x', 'metadata.name=a,=b', 'metadata.name==a==b', 'metadata.name=a\\q', 'spec.bogus=1', 'metadata.labels=x', 'status.phase>=Running']

function selectorCases(): HostileRequest[] {
  const cases: HostileRequest[] = []
  for (const selector of INVALID_LABEL_SELECTORS) {
    const query = `labelSelector=${encodeURIComponent(selector)}`
    cases.push(hostile({ category: 'bad-label-selector', label: `list configmaps with labelSelector ${JSON.stringify(selector)}`, method: 'GET', path: `${PATHS.configMaps}?${query}`, expectedCode: 400 }))
  }
  for (const selector of ['a in (', 'a==b==c', '=x']) {
    const query = `labelSelector=${encodeURIComponent(selector)}`
    cases.push(
      hostile({ category: 'bad-label-selector', label: `watch configmaps with labelSelector ${JSON.stringify(selector)}`, method: 'GET', path: `${PATHS.configMaps}?watch=true&${query}`, expectedCode: 400 }),
      hostile({ category: 'bad-label-selector', label: `deletecollection configmaps with labelSelector ${JSON.stringify(selector)}`, method: 'DELETE', path: `${PATHS.configMaps}?${query}`, expectedCode: 400 }),
      hostile({ category: 'bad-label-selector', label: `list all deployments with labelSelector ${JSON.stringify(selector)}`, method: 'GET', path: `/apis/apps/v1/deployments?${query}`, expectedCode: 400 }),
    )
  }
  for (const selector of INVALID_FIELD_SELECTORS) {
    const query = `fieldSelector=${encodeURIComponent(selector)}`
    cases.push(hostile({ category: 'bad-field-selector', label: `list configmaps with fieldSelector ${JSON.stringify(selector)}`, method: 'GET', path: `${PATHS.configMaps}?${query}`, expectedCode: 400 }))
  }
  cases.push(
    hostile({ category: 'bad-field-selector', label: 'watch configmaps with fieldSelector "metadata.name"', method: 'GET', path: `${PATHS.configMaps}?watch=true&fieldSelector=metadata.name`, expectedCode: 400 }),
    hostile({ category: 'bad-field-selector', label: 'deletecollection configmaps with fieldSelector "spec.bogus=1"', method: 'DELETE', path: `${PATHS.configMaps}?fieldSelector=spec.bogus%3D1`, expectedCode: 400 }),
  )
  return cases
}

function oversizedCases(): HostileRequest[] {
  const category = 'oversized-body'
  const text = oversizedText()
  return [
    hostile({ category, label: 'POST configmap, 3.5 MiB body with Content-Length', method: 'POST', path: PATHS.configMaps, body: text, expectedCode: 413 }),
    hostile({ category, label: 'POST configmap, 3.5 MiB body, chunked (no Content-Length)', method: 'POST', path: PATHS.configMaps, body: text, headers: { 'transfer-encoding': 'chunked' }, expectedCode: 413 }),
    hostile({ category, label: 'PUT configmap, 3.5 MiB body', method: 'PUT', path: PATHS.configMap, body: text.replace('"big"', `"${FIXTURE_CONFIGMAP}"`), expectedCode: 413 }),
    hostile({ category, label: 'merge PATCH configmap, 3.5 MiB body', method: 'PATCH', path: PATHS.configMap, contentType: MERGE_PATCH, body: `{"data":{"blob":"${'x'.repeat(BODY_BYTES_MAX + 1024)}"}}`, expectedCode: 413 }),
    hostile({ category, label: 'POST configmap, Content-Length claims 3.5 MiB, body is small', method: 'POST', path: PATHS.configMaps, body: JSON.stringify(configMapBody('liar')), headers: { 'content-length': String(BODY_BYTES_MAX + 512 * 1024) }, expectedCode: 413 }),
  ]
}

function invalidPatchCases(): HostileRequest[] {
  const category = 'invalid-patch'
  const patch = (label: string, contentType: string, body: string, expectedCode?: number, path: string = PATHS.configMap): HostileRequest => hostile({ category, label, method: 'PATCH', path, contentType, body, expectedCode })
  const ops = (...operations: unknown[]): string => JSON.stringify(operations)
  const manyOps = ops(...Array.from({ length: 10_001 }, () => ({ op: 'test', path: '/kind', value: 'ConfigMap' })))
  return [
    patch('JSON patch, an op that does not exist', JSON_PATCH, ops({ op: 'explode', path: '/data/mode' }), 400),
    patch('JSON patch, replace at a path that does not exist', JSON_PATCH, ops({ op: 'replace', path: '/data/missing', value: 'x' }), 422),
    patch('JSON patch, remove under a missing parent', JSON_PATCH, ops({ op: 'remove', path: '/nope/deeper' }), 422),
    patch('JSON patch, add without a value', JSON_PATCH, ops({ op: 'add', path: '/data/a' }), 400),
    patch('JSON patch, one operation instead of a list', JSON_PATCH, JSON.stringify({ op: 'add', path: '/data/a', value: 'x' }), 400),
    patch('JSON patch, a list of numbers', JSON_PATCH, '[1,2,3]', 400),
    patch('JSON patch, a failed test', JSON_PATCH, ops({ op: 'test', path: '/data/mode', value: 'slow' }), 422),
    patch('JSON patch, a path without a leading "/"', JSON_PATCH, ops({ op: 'add', path: 'data/x', value: 'y' }), 422),
    patch('JSON patch, a bad "~2" escape', JSON_PATCH, ops({ op: 'add', path: '/data/~2', value: 'y' }), 422),
    patch('JSON patch, move from a missing path', JSON_PATCH, ops({ op: 'move', from: '/data/missing', path: '/data/b' }), 422),
    patch('JSON patch, replace the whole object with a list', JSON_PATCH, ops({ op: 'replace', path: '', value: [] }), 422),
    patch('JSON patch, rename the object', JSON_PATCH, ops({ op: 'replace', path: '/metadata/name', value: 'renamed' })),
    patch('JSON patch, move the object to another namespace', JSON_PATCH, ops({ op: 'replace', path: '/metadata/namespace', value: 'default' })),
    patch('JSON patch, 10,001 operations', JSON_PATCH, manyOps, 413),
    patch('JSON patch, truncated body', JSON_PATCH, ops({ op: 'add', path: '/data/a', value: 'x' }).slice(0, 20), 400),
    patch('merge patch, an array', MERGE_PATCH, '[1,2]'),
    patch('merge patch, a string', MERGE_PATCH, '"data"'),
    patch('merge patch, null', MERGE_PATCH, 'null'),
    patch('merge patch, a data value that is an object', MERGE_PATCH, JSON.stringify({ data: { k: { nested: 1 } } })),
    patch('merge patch, rename the object', MERGE_PATCH, JSON.stringify({ metadata: { name: 'renamed' } })),
    patch('merge patch, malformed JSON', MERGE_PATCH, '{"data":{"a":', 400),
    patch('merge patch, empty body', MERGE_PATCH, '', 400),
    patch('merge patch, replicas as a string', MERGE_PATCH, JSON.stringify({ spec: { replicas: 'three' } }), 422, PATHS.deployment),
    patch('merge patch, a selector that no longer matches the template', MERGE_PATCH, JSON.stringify({ spec: { selector: { matchLabels: { app: 'other' } } } }), 422, PATHS.deployment),
    patch('strategic merge patch, $patch "explode" at the top', STRATEGIC_PATCH, JSON.stringify({ $patch: 'explode' }), 400),
    patch('strategic merge patch, $patch "explode" in a container', STRATEGIC_PATCH, JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'main', $patch: 'explode' }] } } } }), 400, PATHS.deployment),
    patch('strategic merge patch, a container without its merge key', STRATEGIC_PATCH, JSON.stringify({ spec: { template: { spec: { containers: [{ image: 'x' }] } } } }), 400, PATHS.deployment),
    patch('strategic merge patch, $setElementOrder that is not a list', STRATEGIC_PATCH, JSON.stringify({ spec: { template: { spec: { '$setElementOrder/containers': 'main' } } } }), 400, PATHS.deployment),
    patch('strategic merge patch, $retainKeys that is not a list', STRATEGIC_PATCH, JSON.stringify({ spec: { strategy: { $retainKeys: 'type', type: 'Recreate' } } }), 400, PATHS.deployment),
    patch('strategic merge patch, $deleteFromPrimitiveList that is not a list', STRATEGIC_PATCH, JSON.stringify({ metadata: { '$deleteFromPrimitiveList/finalizers': 'x' } }), 400),
    patch('strategic merge patch, a list as the body', STRATEGIC_PATCH, '[]', 400),
    patch('strategic merge patch, invalid UTF-8 between tokens', STRATEGIC_PATCH, '{\xff}', 400),
    patch('patch with Content-Type application/json', JSON_TYPE, JSON.stringify({ data: { a: 'b' } }), 415),
    patch('patch with Content-Type text/plain', 'text/plain', JSON.stringify({ data: { a: 'b' } }), 415),
    patch('patch with no Content-Type', '', JSON.stringify({ data: { a: 'b' } }), 415),
    patch('patch with Content-Type application/x-bogus-patch+json', 'application/x-bogus-patch+json', JSON.stringify({ data: { a: 'b' } }), 415),
    patch('merge patch on a missing object', MERGE_PATCH, JSON.stringify({ data: { a: 'b' } }), 404, `${PATHS.configMaps}/missing`),
    patch('merge patch on scale, malformed JSON', MERGE_PATCH, '{"spec":', 400, PATHS.scale),
    patch('merge patch on scale, negative replicas', MERGE_PATCH, JSON.stringify({ spec: { replicas: -3 } }), 422, PATHS.scale),
    patch('merge patch on status, malformed JSON', MERGE_PATCH, '{"status":', 400, PATHS.status),
    patch('JSON patch on status, an op that does not exist', JSON_PATCH, ops({ op: 'explode', path: '/status' }), 400, PATHS.status),
  ]
}

function resourceVersionCases(): HostileRequest[] {
  const category = 'bad-resource-version'
  const put = (label: string, resourceVersion: unknown, expectedCode?: number): HostileRequest =>
    hostile({ category, label, method: 'PUT', path: PATHS.configMap, body: configMapBody(FIXTURE_CONFIGMAP, { resourceVersion } as JsonObject, { mode: 'changed' }), expectedCode })
  return [
    put('PUT configmap, resourceVersion "abc"', 'abc'),
    put('PUT configmap, resourceVersion "-1"', '-1'),
    put('PUT configmap, resourceVersion of 30 digits', '9'.repeat(30)),
    put('PUT configmap, stale resourceVersion "1"', '1', 409),
    put('PUT configmap, resourceVersion as a JSON number 1', 1),
    hostile({ category, label: 'merge PATCH configmap, resourceVersion "abc"', method: 'PATCH', path: PATHS.configMap, contentType: MERGE_PATCH, body: { metadata: { resourceVersion: 'abc' }, data: { mode: 'changed' } } }),
    hostile({ category, label: 'merge PATCH configmap, stale resourceVersion "1"', method: 'PATCH', path: PATHS.configMap, contentType: MERGE_PATCH, body: { metadata: { resourceVersion: '1' }, data: { mode: 'changed' } }, expectedCode: 409 }),
    hostile({ category, label: 'PUT scale, stale resourceVersion "1"', method: 'PUT', path: PATHS.scale, body: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: FIXTURE_DEPLOYMENT, namespace: FIXTURE_NAMESPACE, resourceVersion: '1' }, spec: { replicas: 7 } }, expectedCode: 409 }),
    hostile({ category, label: 'DELETE configmap, stale preconditions.resourceVersion "1"', method: 'DELETE', path: PATHS.configMap, body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: '1' } }, expectedCode: 409 }),
    hostile({ category, label: 'DELETE configmap, preconditions.uid of another object', method: 'DELETE', path: PATHS.configMap, body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: '00000000-0000-0000-0000-000000000000' } }, expectedCode: 409 }),
    hostile({ category, label: 'list configmaps, resourceVersion=abc', method: 'GET', path: `${PATHS.configMaps}?resourceVersion=abc` }),
    hostile({ category, label: 'get configmap, resourceVersion=abc', method: 'GET', path: `${PATHS.configMap}?resourceVersion=abc` }),
    hostile({ category, label: 'watch configmaps, resourceVersion=abc', method: 'GET', path: `${PATHS.configMaps}?watch=true&resourceVersion=abc` }),
    hostile({ category, label: 'watch configmaps, resourceVersion=-5', method: 'GET', path: `${PATHS.configMaps}?watch=true&resourceVersion=-5` }),
    hostile({ category, label: 'watch configmaps, resourceVersion=1.5', method: 'GET', path: `${PATHS.configMaps}?watch=true&resourceVersion=1.5` }),
    hostile({ category, label: 'watch configmaps, resourceVersion=1e1', method: 'GET', path: `${PATHS.configMaps}?watch=true&resourceVersion=1e1` }),
    hostile({ category, label: 'watch configmaps, resourceVersion=0x10', method: 'GET', path: `${PATHS.configMaps}?watch=true&resourceVersion=0x10` }),
  ]
}

function dryRunCases(): HostileRequest[] {
  const category = 'bad-dry-run'
  return [
    hostile({ category, label: 'POST configmap, dryRun=Everything', method: 'POST', path: `${PATHS.configMaps}?dryRun=Everything`, body: configMapBody('dry') }),
    hostile({ category, label: 'POST configmap, dryRun=all (lowercase)', method: 'POST', path: `${PATHS.configMaps}?dryRun=all`, body: configMapBody('dry') }),
    hostile({ category, label: 'POST configmap, dryRun=true', method: 'POST', path: `${PATHS.configMaps}?dryRun=true`, body: configMapBody('dry') }),
    hostile({ category, label: 'POST configmap, dryRun=All&dryRun=bogus', method: 'POST', path: `${PATHS.configMaps}?dryRun=All&dryRun=bogus`, body: configMapBody('dry') }),
    hostile({ category, label: 'PUT configmap, dryRun=Nope', method: 'PUT', path: `${PATHS.configMap}?dryRun=Nope`, body: configMapBody(FIXTURE_CONFIGMAP, {}, { mode: 'dry' }) }),
    hostile({ category, label: 'merge PATCH configmap, dryRun=1', method: 'PATCH', path: `${PATHS.configMap}?dryRun=1`, contentType: MERGE_PATCH, body: { data: { mode: 'dry' } } }),
    hostile({ category, label: 'DELETE configmap, dryRun=yes', method: 'DELETE', path: `${PATHS.configMap}?dryRun=yes` }),
    hostile({ category, label: 'deletecollection configmaps, dryRun=sure', method: 'DELETE', path: `${PATHS.configMaps}?dryRun=sure` }),
    hostile({ category, label: 'PUT scale, dryRun=maybe', method: 'PUT', path: `${PATHS.scale}?dryRun=maybe`, body: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: FIXTURE_DEPLOYMENT, namespace: FIXTURE_NAMESPACE }, spec: { replicas: 9 } } }),
  ]
}

function queryCases(): HostileRequest[] {
  const category = 'bad-query'
  // Boolean parameters are not here: Kubernetes reads any value but "0" and "false" as true.
  const get = (label: string, query: string, expectedCode?: number): HostileRequest => hostile({ category, label, method: 'GET', path: `${PATHS.configMaps}?${query}`, expectedCode })
  return [
    get('list configmaps, limit=-1', 'limit=-1'),
    get('list configmaps, limit=abc', 'limit=abc', 400),
    get('list configmaps, limit=1.5', 'limit=1.5', 400),
    get('list configmaps, timeoutSeconds=abc', 'timeoutSeconds=abc', 400),
    get('watch configmaps, timeoutSeconds=abc', 'watch=true&timeoutSeconds=abc', 400),
    get('list configmaps, continue token that was never issued', 'limit=1&continue=not-a-token', 400),
  ]
}

function methodCases(): HostileRequest[] {
  const category = 'unsupported-method'
  const call = (method: string, path: string, body?: JsonObject): HostileRequest => hostile({ category, label: `${method} ${path}`, method, path, body, expectedCode: 405 })
  return [
    call('POST', PATHS.configMap, configMapBody(FIXTURE_CONFIGMAP)),
    call('PUT', PATHS.configMaps, configMapBody(FIXTURE_CONFIGMAP)),
    call('PATCH', PATHS.configMaps, { data: { a: 'b' } }),
    call('OPTIONS', PATHS.configMap),
    call('PROPFIND', PATHS.configMap),
    call('TRACE', PATHS.configMaps),
    call('POST', PATHS.scale, { spec: { replicas: 3 } }),
    call('DELETE', PATHS.scale),
    call('DELETE', PATHS.namespaces),
    call('DELETE', PATHS.services),
    call('POST', PATHS.status, { status: {} }),
  ]
}
