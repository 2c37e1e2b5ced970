// Goal: a real daemon's Kubernetes API (HTTPS, bearer tokens, the store behind Raft) refuses
// hostile input with a 4xx Kubernetes Status and leaves every object untouched, including YAML
// bodies (malformed ones refused, valid ones stored as sent) and bodies over the size limit.
// Method: one daemon (DaemonCluster: init), a kubeconfig from `flotilla kubeconfig` for the CA
// and token; a representative slice of the in-process fuzz catalogue (support/hostile-requests.ts)
// plus YAML, oversized and unauthenticated cases and seeded variations (FLOTILLA_FUZZ_SEED replays),
// each on a fresh TLS connection with a deadline; after each request every object of every listable
// resource in discovery is listed (all namespaces) and its resourceVersion compared.
import { execFile } from 'node:child_process'
import { Agent, request as httpsRequest } from 'node:https'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { DaemonCluster } from '../cluster/daemon-cluster.ts'
import {
  BODY_BYTES_MAX,
  FIXTURE_CONFIGMAP,
  FIXTURE_NAMESPACE,
  PATHS,
  fixtureRequests,
  hostile,
  hostileCatalogue,
  oversizedConfigMapText,
  type HostileCategory,
  type HostileRequest,
} from './support/hostile-requests.ts'
import { randomHostileRequests } from './support/hostile-variations.ts'
import { describeOutcome, printable, sendRaw, type RawTarget } from './support/raw-http.ts'
import { refusalProblems } from './support/status-check.ts'

const CLI = resolve(import.meta.dirname, '../../node/src/cli.ts')
const run = promisify(execFile)
/** A daemon answers in milliseconds; Raft writes on a loaded machine (CI runs files side by side) take longer. */
const REQUEST_TIMEOUT_MS = 15_000
/** Catalogue cases taken per category, in catalogue order. */
const CATALOGUE_CASES_PER_CATEGORY = 3
const RANDOM_CASES = 24
const FOUR_MIB = 4 * 1024 * 1024

const seed = process.env['FLOTILLA_FUZZ_SEED'] !== undefined ? Number(process.env['FLOTILLA_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 32)
t.comment(`fuzz seed ${seed} (replay with FLOTILLA_FUZZ_SEED=${seed})`)

/**
 * Cases the daemon must also get right, beyond the first few of each category: the ones that
 * destroyed or rewrote objects in-process (path normalisation, ignored dryRun, deletecollection
 * on a resource without it).
 */
const MUST_INCLUDE = [
  'DELETE configmap at path name ".."',
  'DELETE configmap at path name "."',
  'DELETE configmap, dryRun=yes',
  'DELETE /api/v1/namespaces',
  'POST to configmaps, a whole Deployment',
  'merge patch, malformed JSON',
  'JSON patch, an op that does not exist',
  'patch with Content-Type application/json',
]

/** The catalogue slice: the first cases of every category plus MUST_INCLUDE, without endless watches. */
function catalogueSlice(): HostileRequest[] {
  const taken = new Map<HostileCategory, number>()
  return hostileCatalogue().filter((request) => {
    // A watch the server wrongly accepts streams until the deadline; the in-process fuzz covers those.
    if (request.label.startsWith('watch ')) return false
    const count = taken.get(request.category) ?? 0
    const wanted = count < CATALOGUE_CASES_PER_CATEGORY || MUST_INCLUDE.includes(request.label)
    if (wanted) taken.set(request.category, count + 1)
    return wanted
  })
}

const YAML = 'application/yaml'

/** YAML bodies the server must refuse. */
function malformedYamlCases(): HostileRequest[] {
  const category = 'malformed-yaml'
  const post = (label: string, body: string, expectedCode?: number): HostileRequest => hostile({ category, label, method: 'POST', path: PATHS.configMaps, body, contentType: YAML, expectedCode })
  const aliases = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
  for (let level = 1; level < 9; level++) aliases.push(`${String.fromCharCode(97 + level)}: &${String.fromCharCode(97 + level)} [${Array.from({ length: 10 }, () => `*${String.fromCharCode(96 + level)}`).join(',')}]`)
  return [
    post('YAML POST, an unclosed flow sequence', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n', 400),
    post('YAML POST, tab indentation', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: tabbed\n', 400),
    post('YAML POST, nothing but colons', ': : :\n', 400),
    post('YAML POST, a bad indentation level', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: a\n  namespace: b\n', 400),
    post('YAML POST, a duplicate key', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup-yaml\n  name: Dup_Yaml\n'),
    post('YAML POST, a scalar', 'just a string\n', 400),
    post('YAML POST, a sequence', '- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: listed\n', 400),
    post('YAML POST, two documents', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first-doc\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second-doc\n', 400),
    post('YAML POST, a billion-laughs alias bomb', `${aliases.join('\n')}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\n`),
    post('YAML POST, an undefined alias', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: *nowhere\n', 400),
    hostile({ category, label: 'YAML POST, invalid UTF-8 in the name', method: 'POST', path: PATHS.configMaps, body: Buffer.concat([Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: utf'), Buffer.from([0xff]), Buffer.from('\n')]), contentType: YAML }),
    post('YAML POST, the wrong kind', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: yaml-secret\n', 400),
    post('YAML POST, an invalid name', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n', 422),
    post('YAML POST, a label value that is a mapping', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yaml-labels\n  labels:\n    app: {nested: true}\n'),
    hostile({ category, label: 'YAML PUT, truncated mid-mapping', method: 'PUT', path: PATHS.configMap, body: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${FIXTURE_CONFIGMAP}\ndata: {mode: "fast`, contentType: YAML, expectedCode: 400 }),
    hostile({ category, label: 'PATCH with Content-Type application/merge-patch+yaml (no such patch type)', method: 'PATCH', path: PATHS.configMap, body: 'data:\n  mode: yaml\n', contentType: 'application/merge-patch+yaml', expectedCode: 415 }),
  ]
}

/** Bodies past the 3 MiB limit, JSON and YAML, with and without Content-Length. */
function oversizedCases(): HostileRequest[] {
  const big = oversizedConfigMapText('huge', FOUR_MIB)
  return [
    hostile({ category: 'oversized-body', label: 'POST configmap, 4 MiB body with Content-Length', method: 'POST', path: PATHS.configMaps, body: big, expectedCode: 413 }),
    hostile({ category: 'oversized-body', label: 'POST configmap, 4 MiB body, chunked', method: 'POST', path: PATHS.configMaps, body: big, headers: { 'transfer-encoding': 'chunked' }, expectedCode: 413 }),
    hostile({ category: 'oversized-body', label: 'POST configmap, 4 MiB YAML body', method: 'POST', path: PATHS.configMaps, body: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  blob: ${'y'.repeat(FOUR_MIB)}\n`, contentType: YAML, expectedCode: 413 }),
    hostile({ category: 'oversized-body', label: 'PUT configmap, body of exactly the limit plus one byte', method: 'PUT', path: PATHS.configMap, body: oversizedConfigMapText(FIXTURE_CONFIGMAP, BODY_BYTES_MAX + 1).slice(0, BODY_BYTES_MAX + 1), expectedCode: 413 }),
  ]
}

interface Daemon {
  readonly target: RawTarget
  readonly agent: Agent
}

/** GET with the daemon's token over a keep-alive connection; the body parsed as JSON. */
function getJson(daemon: Daemon, path: string): Promise<{ status: number; json: unknown }> {
  const url = new URL(path, daemon.target.origin)
  return new Promise((resolvePromise, reject) => {
    const request = httpsRequest(url, { agent: daemon.agent, headers: { authorization: `Bearer ${daemon.target.token ?? ''}` }, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        try {
          resolvePromise({ status: response.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
        } catch (error) {
          reject(error as Error)
        }
      })
    })
    request.on('timeout', () => request.destroy(new Error(`GET ${path} timed out`)))
    request.on('error', reject)
    request.end()
  })
}

/** Collection paths (all namespaces) of every resource discovery lists with the `list` verb. */
async function listableCollections(daemon: Daemon): Promise<string[]> {
  const groupVersions = ['/api/v1']
  const groups = (await getJson(daemon, '/apis')).json as { groups: Array<{ versions: Array<{ groupVersion: string }> }> }
  for (const group of groups.groups) for (const version of group.versions) groupVersions.push(`/apis/${version.groupVersion}`)
  const collections: string[] = []
  for (const groupVersion of groupVersions) {
    const list = (await getJson(daemon, groupVersion)).json as { resources: Array<{ name: string; verbs: string[] }> }
    for (const resource of list.resources) if (!resource.name.includes('/') && resource.verbs.includes('list')) collections.push(`${groupVersion}/${resource.name}`)
  }
  return collections
}

/** Every object of every collection as `collection namespace/name` → resourceVersion. */
async function objectVersions(daemon: Daemon, collections: readonly string[]): Promise<Map<string, string>> {
  const versions = new Map<string, string>()
  const lists = await Promise.all(collections.map(async (collection) => ({ collection, response: await getJson(daemon, collection) })))
  for (const { collection, response } of lists) {
    if (response.status !== 200) throw new Error(`Cannot list ${collection}: HTTP ${response.status}`)
    for (const item of (response.json as { items: Array<{ metadata: { name: string; namespace?: string; resourceVersion: string } }> }).items) {
      versions.set(`${collection} ${item.metadata.namespace ?? ''}/${item.metadata.name}`, item.metadata.resourceVersion)
    }
  }
  return versions
}

function versionDifferences(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  const differences: string[] = []
  for (const [key, version] of after) {
    const previous = before.get(key)
    if (previous === undefined) differences.push(`added ${key}`)
    else if (previous !== version) differences.push(`changed ${key} (resourceVersion ${previous} -> ${version})`)
  }
  for (const key of before.keys()) if (!after.has(key)) differences.push(`deleted ${key}`)
  return differences
}

t.test('a daemon refuses hostile requests over HTTPS with a 4xx Status and leaves every object unchanged', async (t) => {
  // The API alone: with its controllers a cluster changes objects by itself (the fixture
  // Deployment's ReplicaSet, pods and events, node heartbeats), as a real one does, and "nothing
  // changed" would no longer say anything about the refused requests.
  const cluster = new DaemonCluster({ FLOTILLA_CONTROLLERS: 'off' })
  t.teardown(() => cluster.destroy())
  await cluster.init('a', 'z1')
  await waitFor('the node to lead', 20_000, async () => ((await cluster.status('a'))?.role === 'leader' ? true : undefined))
  const { stdout } = await run(process.execPath, [CLI, 'kubeconfig', '--data', cluster.dataDirectory('a')])
  const server = /server: (https:\/\/\S+)/.exec(stdout)?.[1]
  const caData = /certificate-authority-data: (\S+)/.exec(stdout)?.[1]
  const token = /token: (\S+)/.exec(stdout)?.[1]
  if (server === undefined || caData === undefined || token === undefined) throw new Error(`Unexpected kubeconfig:\n${stdout}`)
  const ca = Buffer.from(caData, 'base64').toString('utf8')
  const target: RawTarget = { origin: server, ca, token }
  const daemon: Daemon = { target, agent: new Agent({ ca, keepAlive: true, maxSockets: 8 }) }
  t.teardown(() => daemon.agent.destroy())

  const buildFixture = async (): Promise<void> => {
    for (const request of fixtureRequests()) {
      const outcome = await sendRaw(target, request, REQUEST_TIMEOUT_MS)
      // 409: still there from before (the fixture is rebuilt after a case that broke it).
      if (outcome.kind !== 'response' || (outcome.status !== 201 && outcome.status !== 409)) throw new Error(`Cannot build the fixture: ${request.method} ${request.path}: ${describeOutcome(outcome)}`)
    }
  }
  await buildFixture()
  const collections = await listableCollections(daemon)
  t.ok(collections.includes('/api/v1/configmaps') && collections.includes('/apis/apps/v1/deployments'), `discovery lists ${collections.length} listable resources`)
  let baseline = await objectVersions(daemon, collections)
  t.ok(baseline.has(`/api/v1/configmaps ${FIXTURE_NAMESPACE}/${FIXTURE_CONFIGMAP}`), 'the fixture is in place')

  const check = async (request: HostileRequest): Promise<string[]> => {
    const outcome = await sendRaw(target, request, REQUEST_TIMEOUT_MS)
    const problems = refusalProblems(outcome, request.expectedCode === undefined ? {} : { code: request.expectedCode })
    const after = await objectVersions(daemon, collections)
    const differences = versionDifferences(baseline, after)
    if (differences.length > 0) {
      problems.push(`objects changed: ${differences.join(', ')}`)
      await buildFixture()
      baseline = await objectVersions(daemon, collections)
    }
    return problems.map(printable)
  }

  await t.test('without valid credentials', async (t) => {
    const anonymous = await sendRaw({ origin: server, ca }, { method: 'GET', path: PATHS.configMaps }, REQUEST_TIMEOUT_MS)
    t.strictSame(refusalProblems(anonymous, { code: 401 }), [], 'no token: 401 Status')
    const forged = await sendRaw({ origin: server, ca, token: `${token}x` }, { method: 'DELETE', path: PATHS.configMap }, REQUEST_TIMEOUT_MS)
    t.strictSame(refusalProblems(forged, { code: 401 }), [], 'a forged token: 401 Status')
    t.same(versionDifferences(baseline, await objectVersions(daemon, collections)), [], 'and nothing changed')
  })

  await t.test('the catalogue slice', async (t) => {
    for (const request of catalogueSlice()) t.strictSame(await check(request), [], printable(`${request.category}: ${request.label}`))
  })

  await t.test('YAML bodies', async (t) => {
    for (const request of malformedYamlCases()) t.strictSame(await check(request), [], printable(`${request.category}: ${request.label}`))
    const valid = [
      '# a comment',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: from-yaml',
      '  labels: &labels {app: yaml, tier: "01"}',
      '  annotations:',
      '    note: |',
      '      two',
      '      lines',
      'data:',
      '  quoted: "true"',
      '  number: "42"',
      '  folded: >-',
      '    one',
      '    line',
      '',
    ].join('\n')
    const created = await sendRaw(target, { method: 'POST', path: PATHS.configMaps, headers: { 'content-type': YAML }, body: valid }, REQUEST_TIMEOUT_MS)
    t.equal(created.kind === 'response' ? created.status : 0, 201, `a valid YAML ConfigMap is created (${describeOutcome(created, 200)})`)
    const read = await getJson(daemon, `${PATHS.configMaps}/from-yaml`)
    const object = read.json as { metadata?: { labels?: unknown; annotations?: unknown }; data?: unknown }
    t.same(object.data, { quoted: 'true', number: '42', folded: 'one line' }, 'and reads back with its YAML scalars as strings')
    t.same(object.metadata?.labels, { app: 'yaml', tier: '01' }, 'its labels')
    t.same(object.metadata?.annotations, { note: 'two\nlines\n' }, 'and its block-scalar annotation')
    const replaced = await sendRaw(target, { method: 'PUT', path: `${PATHS.configMaps}/from-yaml`, headers: { 'content-type': 'application/yaml; charset=utf-8' }, body: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  replaced: "yes"\n' }, REQUEST_TIMEOUT_MS)
    t.equal(replaced.kind === 'response' ? replaced.status : 0, 200, `a YAML PUT replaces it (${describeOutcome(replaced, 200)})`)
    t.same(((await getJson(daemon, `${PATHS.configMaps}/from-yaml`)).json as { data?: unknown }).data, { replaced: 'yes' }, 'with the new data')
    baseline = await objectVersions(daemon, collections)
  })

  await t.test('bodies over the limit', async (t) => {
    for (const request of oversizedCases()) t.strictSame(await check(request), [], printable(`${request.category}: ${request.label}`))
  })

  await t.test(`${RANDOM_CASES} seeded variations (seed ${seed})`, async (t) => {
    const requests = randomHostileRequests(new RandomXoshiro(seed), RANDOM_CASES * 4).filter((request) => !request.path.includes('watch=true') && request.category !== 'oversized-body').slice(0, RANDOM_CASES)
    for (const request of requests) t.strictSame(await check(request), [], printable(`${request.category}: ${request.label} (seed ${seed})`))
  })
})
