// Goal: the Kubernetes API refuses hostile input the way Kubernetes does (a 4xx Kubernetes Status
// with a code, reason and message, never a 5xx, a hang or a success) and a refused request leaves
// the store exactly as it was; and valid input round-trips: objects read back as sent plus the
// fields the server owns, and merge patches through the API equal patch.ts applied locally.
// Method: ApiHandler over a MemoryObjectBackend served by node:http on 127.0.0.1:0; a fixed
// catalogue of named hostile requests plus seeded variations (RandomXoshiro; the seed is printed,
// FLOTILLA_FUZZ_SEED=<seed> replays it), each sent on a fresh connection with a deadline, the whole
// store snapshotted before and after; then seeded valid objects and merge patches.
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import { canonicalEqual, dropNulls, isJsonObject, type JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { applyMergePatch } from '../../node/src/api/machinery/patch.ts'
import { applyDefaults } from '../../node/src/api/server/kinds.ts'
import { hostileCatalogue, type HostileCategory, type HostileRequest } from './support/hostile-requests.ts'
import { randomHostileRequests } from './support/hostile-variations.ts'
import { InProcessApi, snapshotDifferences } from './support/in-process-api.ts'
import { PROPERTY_KINDS, randomMergePatch, randomObject, withoutServerFields, type PropertyKind } from './support/random-objects.ts'
import { pick, randomDnsLabel } from './support/random-values.ts'
import { describeOutcome, printable, sendRaw } from './support/raw-http.ts'
import { refusalProblems } from './support/status-check.ts'

/**
 * Past this a request counts as hung. In-process answers take a few milliseconds, but CI runs test
 * files side by side on 2 cores, where a 3 MiB or deeply nested body can take a second.
 */
const REQUEST_TIMEOUT_MS = 10_000
const RANDOM_HOSTILE_REQUESTS = 400
const RANDOM_OBJECTS = 90
const RANDOM_MERGE_PATCHES = 150
/** Failing cases listed per category in a report (the count is always complete). */
const FAILURES_LISTED_MAX = 12

const seed = process.env['FLOTILLA_FUZZ_SEED'] !== undefined ? Number(process.env['FLOTILLA_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 32)
t.comment(`fuzz seed ${seed} (replay with FLOTILLA_FUZZ_SEED=${seed})`)

/** Sends one hostile request; returns what was wrong with the answer or with the store after it. */
async function refusalFailures(api: InProcessApi, request: HostileRequest): Promise<string[]> {
  const before = api.snapshot()
  const outcome = await sendRaw(api.target, request, REQUEST_TIMEOUT_MS)
  const problems = refusalProblems(outcome, request.expectedCode === undefined ? {} : { code: request.expectedCode })
  const differences = snapshotDifferences(before, api.snapshot())
  if (differences.length > 0) {
    problems.push(`the store changed: ${differences.join(', ')}`)
    await api.reset()
  }
  return problems.map(printable)
}

t.test('every catalogued hostile request is refused with a 4xx Status and leaves the store unchanged', async (t) => {
  const api = await InProcessApi.start()
  t.teardown(() => api.close())
  for (const request of hostileCatalogue()) {
    t.strictSame(await refusalFailures(api, request), [], printable(`${request.category}: ${request.label}`))
  }
})

t.test(`${RANDOM_HOSTILE_REQUESTS} seeded hostile requests are refused with a 4xx Status and leave the store unchanged`, async (t) => {
  const api = await InProcessApi.start()
  t.teardown(() => api.close())
  const failures = new Map<HostileCategory, string[]>()
  const totals = new Map<HostileCategory, number>()
  for (const request of randomHostileRequests(new RandomXoshiro(seed), RANDOM_HOSTILE_REQUESTS)) {
    totals.set(request.category, (totals.get(request.category) ?? 0) + 1)
    const problems = await refusalFailures(api, request)
    // The first problem says what went wrong; with the response and any store change that is enough.
    const summary = problems.filter((problem, index) => index === 0 || problem.startsWith('response:') || problem.startsWith('the store changed'))
    if (problems.length > 0) failures.set(request.category, [...(failures.get(request.category) ?? []), `${printable(request.label)} -> ${summary.join('; ')}`])
  }
  for (const [category, total] of [...totals].sort(([a], [b]) => a.localeCompare(b))) {
    const failed = failures.get(category) ?? []
    t.strictSame(failed.slice(0, FAILURES_LISTED_MAX), [], `${category}: ${total - failed.length} of ${total} refused properly (seed ${seed})`)
  }
})

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const RFC3339_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/
const RESOURCE_VERSION = /^[1-9]\d*$/
const PROPERTY_NAMESPACE = 'props'

function metadataOf(object: JsonObject): JsonObject {
  return isJsonObject(object['metadata']) ? object['metadata'] : {}
}

/** A JSON request through the in-process server; the body of the answer parsed. */
async function call(api: InProcessApi, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: JsonObject; text: string }> {
  const outcome = await sendRaw(api.target, { method, path, headers: { 'content-type': contentType }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }, REQUEST_TIMEOUT_MS)
  if (outcome.kind !== 'response' || !outcome.complete) throw new Error(`${method} ${path}: ${describeOutcome(outcome)}`)
  const text = outcome.body.toString('utf8')
  return { status: outcome.status, json: JSON.parse(text) as JsonObject, text }
}

function itemPath(kind: PropertyKind, name: string): string {
  return `${PROPERTY_KINDS[kind].collection(PROPERTY_NAMESPACE)}/${name}`
}

/** What is wrong with `read` as the stored form of `sent`: content, then each server-owned field. */
function roundTripProblems(kind: PropertyKind, sent: JsonObject, read: JsonObject): string[] {
  const problems: string[] = []
  const expected = applyDefaults(kind, dropNulls(sent))
  const expectedMetadata = { ...metadataOf(expected), ...(PROPERTY_KINDS[kind].namespaced ? { namespace: PROPERTY_NAMESPACE } : {}) }
  const wanted = withoutServerFields({ ...expected, metadata: expectedMetadata })
  const got = withoutServerFields(read)
  if (!canonicalEqual(got, wanted)) problems.push(`content differs: sent ${JSON.stringify(wanted)}, read back ${JSON.stringify(got)}`)
  const metadata = metadataOf(read)
  if (!UUID.test(String(metadata['uid']))) problems.push(`uid ${JSON.stringify(metadata['uid'])} is not a UUID`)
  if (!RFC3339_SECONDS.test(String(metadata['creationTimestamp']))) problems.push(`creationTimestamp ${JSON.stringify(metadata['creationTimestamp'])} is not RFC 3339 in seconds`)
  if (!RESOURCE_VERSION.test(String(metadata['resourceVersion']))) problems.push(`resourceVersion ${JSON.stringify(metadata['resourceVersion'])} is not a positive decimal string`)
  if (kind === 'Deployment' && metadata['generation'] !== 1) problems.push(`generation is ${JSON.stringify(metadata['generation'])}, not 1`)
  return problems
}

t.test(`property: ${RANDOM_OBJECTS} seeded valid objects read back as sent plus the server's fields`, async (t) => {
  const api = await InProcessApi.start()
  t.teardown(() => api.close())
  const random = new RandomXoshiro(seed + 1)
  t.equal((await call(api, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PROPERTY_NAMESPACE } })).status, 201, 'the namespace for the objects')
  for (let i = 0; i < RANDOM_OBJECTS; i++) {
    const kind = pick(random, Object.keys(PROPERTY_KINDS) as PropertyKind[])
    const name = `p${i}-${randomDnsLabel(random, 12)}`
    const sent = randomObject(random, kind, name)
    const created = await call(api, 'POST', PROPERTY_KINDS[kind].collection(PROPERTY_NAMESPACE), sent)
    if (created.status !== 201) {
      t.fail(`${kind} ${name}: create answered ${created.status}`, { sent: printable(JSON.stringify(sent)), response: printable(created.text.slice(0, 500)) })
      continue
    }
    const read = await call(api, 'GET', kind === 'Namespace' ? `/api/v1/namespaces/${name}` : itemPath(kind, name))
    const problems = roundTripProblems(kind, sent, read.json)
    if (!canonicalEqual(read.json, created.json)) problems.push('the create response differs from what a GET returns')
    t.strictSame(problems.map(printable), [], `${kind} ${name} round-trips (seed ${seed})`)
  }
})

/** What is wrong with the result of merge-patching `before` with `patch` (server fields aside). */
function mergePatchProblems(kind: PropertyKind, before: JsonObject, patch: JsonObject, patched: JsonObject): string[] {
  const problems: string[] = []
  const expected = applyDefaults(kind, applyMergePatch(before, patch) as JsonObject)
  if (!canonicalEqual(withoutServerFields(patched), withoutServerFields(expected))) {
    problems.push(`content differs: local ${JSON.stringify(withoutServerFields(expected))}, API ${JSON.stringify(withoutServerFields(patched))}`)
  }
  const was = metadataOf(before)
  const now = metadataOf(patched)
  for (const field of ['uid', 'creationTimestamp']) if (now[field] !== was[field]) problems.push(`${field} changed from ${JSON.stringify(was[field])} to ${JSON.stringify(now[field])}`)
  if (!(Number(now['resourceVersion']) >= Number(was['resourceVersion']))) problems.push(`resourceVersion went from ${String(was['resourceVersion'])} to ${String(now['resourceVersion'])}`)
  const specChanged = !canonicalEqual(before['spec'] ?? null, expected['spec'] ?? null)
  const generation = Number(was['generation'] ?? 0) + (kind === 'Deployment' && specChanged ? 1 : 0)
  if (kind === 'Deployment' && now['generation'] !== generation) problems.push(`generation is ${String(now['generation'])}, expected ${generation} (spec ${specChanged ? 'changed' : 'unchanged'})`)
  return problems
}

t.test(`property: ${RANDOM_MERGE_PATCHES} seeded merge patches through the API equal patch.ts applied locally`, async (t) => {
  const api = await InProcessApi.start()
  t.teardown(() => api.close())
  const random = new RandomXoshiro(seed + 2)
  t.equal((await call(api, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PROPERTY_NAMESPACE } })).status, 201, 'the namespace for the objects')
  const pool: Array<{ kind: PropertyKind; path: string }> = []
  for (const kind of ['ConfigMap', 'ConfigMap', 'ConfigMap', 'Deployment', 'Deployment', 'Deployment', 'Namespace', 'Namespace'] as const) {
    const name = `m${pool.length}-${randomDnsLabel(random, 10)}`
    const created = await call(api, 'POST', PROPERTY_KINDS[kind].collection(PROPERTY_NAMESPACE), randomObject(random, kind, name))
    t.equal(created.status, 201, `pool ${kind} ${name} created`)
    pool.push({ kind, path: kind === 'Namespace' ? `/api/v1/namespaces/${name}` : itemPath(kind, name) })
  }
  for (let i = 0; i < RANDOM_MERGE_PATCHES; i++) {
    const { kind, path } = pick(random, pool)
    const before = (await call(api, 'GET', path)).json
    const version = random.chance(0.3) ? String(metadataOf(before)['resourceVersion']) : undefined
    const patch = randomMergePatch(random, kind, before, version)
    const response = await call(api, 'PATCH', path, patch, 'application/merge-patch+json')
    if (response.status !== 200) {
      t.fail(`#${i} ${kind} merge patch answered ${response.status}`, { patch: printable(JSON.stringify(patch)), response: printable(response.text.slice(0, 500)) })
      continue
    }
    const problems = mergePatchProblems(kind, before, patch, response.json)
    if (!canonicalEqual((await call(api, 'GET', path)).json, response.json)) problems.push('the patch response differs from what a GET returns')
    t.strictSame(problems.map(printable), [], `#${i} ${kind} ${printable(JSON.stringify(patch)).slice(0, 80)} (seed ${seed})`)
  }
})
