/**
 * Seeded variations of the hostile requests in hostile-requests.ts: each draw picks a kind of
 * hostility and varies it (where a JSON document is cut, which invalid byte goes where, which
 * forbidden character a name gets, which junk a selector or query parameter carries). Every
 * variation is invalid by construction, never by asking the server's own validators.
 */
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import type { Random } from '../../../lib/random.ts'
import {
  JSON_PATCH,
  MERGE_PATCH,
  PATHS,
  STRATEGIC_PATCH,
  FIXTURE_CONFIGMAP,
  bytes,
  configMapBody,
  deploymentBody,
  hostile,
  namespaceBody,
  type HostileCategory,
  type HostileRequest,
} from './hostile-requests.ts'
import {
  LOWER_ALPHANUMERIC,
  pick,
  randomDnsLabel,
  randomInvalidLabelKey,
  randomInvalidLabelValue,
  randomInvalidName,
  randomLabelKey,
  randomLabelValue,
  randomString,
} from './random-values.ts'

const PATCH_TYPES = [MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH] as const

type Generator = (random: Random) => HostileRequest

const TARGETS = [
  { collection: PATHS.configMaps, item: PATHS.configMap, body: (name: string) => configMapBody(name) },
  { collection: PATHS.deployments, item: PATHS.deployment, body: (name: string) => deploymentBody(name) },
  { collection: PATHS.namespaces, item: PATHS.namespace, body: (name: string) => namespaceBody(name) },
] as const

/** Characters that can never form a valid label selector on their own (no identifier among them). */
const SELECTOR_PUNCTUATION = '()=!,<>'

const GENERATORS: ReadonlyArray<readonly [HostileCategory, Generator]> = [
  ['malformed-json', (random) => {
    const target = pick(random, TARGETS)
    const text = JSON.stringify(target.body(randomDnsLabel(random)))
    const cut = random.int(1, text.length - 1)
    const truncate = random.chance(0.5)
    const body = truncate ? text.slice(0, cut) : `${text}${randomString(random, '}]"x1,:{[', 1, 5)}`
    return hostile({ category: 'malformed-json', label: `POST ${target.collection}, ${truncate ? `truncated at byte ${cut}` : 'with trailing garbage'}: ${body.slice(-20)}`, method: 'POST', path: target.collection, body, expectedCode: 400 })
  }],
  ['malformed-json', (random) => {
    const target = pick(random, TARGETS)
    const text = JSON.stringify(target.body(randomDnsLabel(random)))
    const structural = [...text].flatMap((char, index) => ('{,:'.includes(char) ? [index + 1] : []))
    const at = pick(random, structural)
    const bad = pick(random, [[0xff], [0xc0], [0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]])
    return hostile({ category: 'malformed-json', label: `POST ${target.collection}, invalid UTF-8 ${Buffer.from(bad).toString('hex')} at byte ${at}`, method: 'POST', path: target.collection, body: bytes(text.slice(0, at), bad, text.slice(at)), expectedCode: 400 })
  }],
  ['non-object-body', (random) => {
    const target = pick(random, TARGETS)
    const body = pick(random, ['[]', `[${JSON.stringify(target.body('x'))}]`, `"${randomDnsLabel(random)}"`, String(random.int(-1000, 1000)), 'true', 'false', 'null'])
    const put = random.chance(0.4)
    return hostile({ category: 'non-object-body', label: `${put ? 'PUT' : 'POST'} ${put ? target.item : target.collection}, body ${body.slice(0, 30)}`, method: put ? 'PUT' : 'POST', path: put ? target.item : target.collection, body, expectedCode: 400 })
  }],
  ['wrong-kind', (random) => {
    const target = pick(random, TARGETS)
    const [apiVersion, kind] = pick(random, [['v1', 'Secret'], ['v1', 'Pod'], ['apps/v1', 'ReplicaSet'], ['batch/v1', 'Job'], ['v2', 'ConfigMap'], ['apps/v1beta9', 'Deployment'], ['v1', 'Namespacee']] as const)
    const body = { ...target.body(randomDnsLabel(random)), apiVersion, kind }
    return hostile({ category: 'wrong-kind', label: `POST ${target.collection} with ${apiVersion} ${kind}`, method: 'POST', path: target.collection, body, expectedCode: 400 })
  }],
  ['unknown-resource', (random) => {
    const resource = `zz${randomString(random, 'abcdefghijklmnopqrstuvwxyz', 3, 10)}`
    const path = random.chance(0.5) ? `/api/v1/namespaces/fuzz/${resource}` : `/apis/${resource}.example.com/v${random.int(1, 4)}/namespaces/fuzz/things`
    const method = pick(random, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'])
    const item = method === 'PUT' || method === 'PATCH' ? `${path}/x` : path
    return hostile({ category: 'unknown-resource', label: `${method} ${item}`, method, path: item, body: method === 'GET' || method === 'DELETE' ? undefined : { metadata: { name: 'x' } }, ...(method === 'PATCH' ? { contentType: MERGE_PATCH } : {}), expectedCode: 404 })
  }],
  ['bad-name', (random) => {
    const target = pick(random, TARGETS)
    const name = randomInvalidName(random)
    return hostile({ category: 'bad-name', label: `POST ${target.collection} named ${JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}...(${name.length})` : name)}`, method: 'POST', path: target.collection, body: target.body(name), expectedCode: 422 })
  }],
  ['bad-labels', (random) => {
    const target = pick(random, TARGETS)
    const badKey = random.chance(0.5)
    const key = badKey ? randomInvalidLabelKey(random) : randomLabelKey(random)
    const value = badKey ? randomLabelValue(random) : randomInvalidLabelValue(random)
    const body = target.body(randomDnsLabel(random))
    const metadata = body['metadata'] as JsonObject
    const labelled = { ...body, metadata: { ...metadata, labels: { ...(metadata['labels'] as JsonObject | undefined), [key]: value } } }
    return hostile({ category: 'bad-labels', label: `POST ${target.collection} with label ${JSON.stringify(key.slice(0, 40))}=${JSON.stringify(value.slice(0, 40))}`, method: 'POST', path: target.collection, body: labelled, expectedCode: 422 })
  }],
  ['bad-label-selector', (random) => {
    const junk = random.chance(0.5) ? randomString(random, SELECTOR_PUNCTUATION, 1, 8) : `${randomLabelKey(random)}=${randomLabelValue(random)},${randomString(random, SELECTOR_PUNCTUATION, 0, 4)}`
    const method = random.chance(0.2) ? 'DELETE' : 'GET'
    const watch = method === 'GET' && random.chance(0.3) ? 'watch=true&' : ''
    return hostile({ category: 'bad-label-selector', label: `${method} configmaps ${watch}labelSelector ${JSON.stringify(junk)}`, method, path: `${PATHS.configMaps}?${watch}labelSelector=${encodeURIComponent(junk)}`, expectedCode: 400 })
  }],
  ['bad-field-selector', (random) => {
    const junk = random.chance(0.5) ? `metadata.${randomString(random, 'abcdefghijklmnopqrstuvwxyz.', 1, 12)}` : `zz${randomString(random, 'abcdefghijklmnopqrstuvwxyz', 1, 8)}.${randomDnsLabel(random, 6)}=${randomDnsLabel(random, 6)}`
    const selector = junk.includes('=') ? junk : junk.replace(/\.$/, '')
    return hostile({ category: 'bad-field-selector', label: `list configmaps with fieldSelector ${JSON.stringify(selector)}`, method: 'GET', path: `${PATHS.configMaps}?fieldSelector=${encodeURIComponent(selector)}`, expectedCode: 400 })
  }],
  ['invalid-patch', (random) => {
    const contentType = pick(random, PATCH_TYPES)
    const missing = `zz${randomString(random, LOWER_ALPHANUMERIC, 1, 8)}`
    let body: string
    if (contentType === JSON_PATCH) {
      body = random.chance(0.5)
        ? JSON.stringify([{ op: `${pick(random, ['add', 'remove', 'replace', 'move', 'copy', 'test'])}${randomString(random, 'xyz', 1, 3)}`, path: '/data/mode', value: 'x' }])
        : JSON.stringify([{ op: pick(random, ['replace', 'remove', 'test']), path: `/${missing}/${missing}`, value: 'x' }])
    } else if (contentType === MERGE_PATCH) {
      body = pick(random, ['[]', '[{"data":{}}]', `"${missing}"`, String(random.int(0, 100)), 'null', 'false'])
    } else {
      body = JSON.stringify(pick(random, [{ $patch: missing }, { data: { $patch: missing } }, { metadata: { labels: { $patch: missing } } }, []]))
    }
    return hostile({ category: 'invalid-patch', label: `PATCH configmap (${contentType}) ${body.slice(0, 60)}`, method: 'PATCH', path: PATHS.configMap, contentType, body })
  }],
  ['bad-resource-version', (random) => {
    const version = pick(random, [randomString(random, 'abcdefghijklmnopqrstuvwxyz', 1, 8), `-${random.int(1, 1000)}`, `${random.int(1, 9)}.${random.int(1, 9)}`, `${random.int(1, 9)}e${random.int(1, 9)}`, `0x${random.int(1, 255).toString(16)}`])
    const mode = random.int(0, 3)
    if (mode === 0) return hostile({ category: 'bad-resource-version', label: `list configmaps, resourceVersion=${version}`, method: 'GET', path: `${PATHS.configMaps}?resourceVersion=${encodeURIComponent(version)}` })
    if (mode === 1) return hostile({ category: 'bad-resource-version', label: `watch configmaps, resourceVersion=${version}`, method: 'GET', path: `${PATHS.configMaps}?watch=true&resourceVersion=${encodeURIComponent(version)}` })
    return hostile({ category: 'bad-resource-version', label: `PUT configmap, metadata.resourceVersion ${JSON.stringify(version)}`, method: 'PUT', path: PATHS.configMap, body: configMapBody(FIXTURE_CONFIGMAP, { resourceVersion: version }, { mode: 'changed' }) })
  }],
  ['bad-dry-run', (random) => {
    const candidate = pick(random, [randomString(random, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 1, 10), 'all', 'ALL', 'true', '1', ''])
    // "All" is the one valid value; a random draw could spell it.
    const value = candidate === 'All' ? 'Al' : candidate
    const verb = random.int(0, 4)
    const query = `dryRun=${encodeURIComponent(value)}`
    if (verb === 0) return hostile({ category: 'bad-dry-run', label: `POST configmap, dryRun=${value}`, method: 'POST', path: `${PATHS.configMaps}?${query}`, body: configMapBody(randomDnsLabel(random)) })
    if (verb === 1) return hostile({ category: 'bad-dry-run', label: `PUT configmap, dryRun=${value}`, method: 'PUT', path: `${PATHS.configMap}?${query}`, body: configMapBody(FIXTURE_CONFIGMAP, {}, { mode: 'dry' }) })
    if (verb === 2) return hostile({ category: 'bad-dry-run', label: `merge PATCH configmap, dryRun=${value}`, method: 'PATCH', path: `${PATHS.configMap}?${query}`, contentType: MERGE_PATCH, body: { data: { mode: 'dry' } } })
    return hostile({ category: 'bad-dry-run', label: `DELETE configmap, dryRun=${value}`, method: 'DELETE', path: `${PATHS.configMap}?${query}` })
  }],
  ['bad-query', (random) => {
    const [name, value] = pick(random, [
      ['limit', `-${random.int(1, 1000)}`],
      ['limit', randomString(random, 'abcdefghijklmnopqrstuvwxyz', 1, 6)],
      ['timeoutSeconds', randomString(random, 'abcdefghijklmnopqrstuvwxyz', 1, 6)],
    ] as const)
    return hostile({ category: 'bad-query', label: `list configmaps, ${name}=${value}`, method: 'GET', path: `${PATHS.configMaps}?${name}=${value}`, expectedCode: 400 })
  }],
  ['unsupported-method', (random) => {
    const [method, path] = pick(random, [
      ['POST', pick(random, [PATHS.configMap, PATHS.deployment, PATHS.namespace, PATHS.scale])],
      ['PUT', pick(random, [PATHS.configMaps, PATHS.deployments, PATHS.namespaces])],
      ['PATCH', pick(random, [PATHS.configMaps, PATHS.deployments, PATHS.namespaces])],
      [pick(random, ['OPTIONS', 'PROPFIND', 'TRACE', 'MKCOL', 'LOCK']), pick(random, [PATHS.configMap, PATHS.configMaps, PATHS.deployment])],
      ['DELETE', pick(random, [PATHS.namespaces, PATHS.services, PATHS.scale])],
    ] as const)
    return hostile({ category: 'unsupported-method', label: `${method} ${path}`, method, path, ...(method === 'POST' || method === 'PUT' || method === 'PATCH' ? { body: { metadata: { name: 'x' } } } : {}), ...(method === 'PATCH' ? { contentType: MERGE_PATCH } : {}), expectedCode: 405 })
  }],
]

/**
 * `count` hostile requests drawn from `random`: each picks a kind of hostility and varies it
 * (where a JSON document is cut, which invalid byte goes where, which forbidden character a name
 * gets). The same seed gives the same requests.
 */
export function randomHostileRequests(random: Random, count: number): HostileRequest[] {
  const requests: HostileRequest[] = []
  for (let i = 0; i < count; i++) {
    const [, generate] = pick(random, GENERATORS)
    const request = generate(random)
    requests.push({ ...request, label: `#${i} ${request.label}` })
  }
  return requests
}
