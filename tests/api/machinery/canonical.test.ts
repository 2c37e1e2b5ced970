// Goal: stored objects and template comparisons are insensitive to key order and explicit nulls,
// and helpers never alias their inputs. Method: tables of values through dropNulls, canonicalJson,
// jsonEqual and canonicalEqual, plus the rollout-undo template case from real kubectl.
import t from 'tap'
import { RandomXoshiro } from '../../../lib/random.ts'
import { canonicalEqual, canonicalJson, cloneJson, dropNulls, isJsonObject, jsonEqual, type JsonValue } from '../../../node/src/api/machinery/canonical.ts'

t.test('dropNulls removes null object fields at any depth and keeps nulls in lists', async (t) => {
  const cases: Array<[JsonValue, JsonValue]> = [
    [null, null],
    [5, 5],
    [{ a: null }, {}],
    [{ a: 1, b: null, c: { d: null, e: [null, { f: null, g: 'x' }] } }, { a: 1, c: { e: [null, { g: 'x' }] } }],
    [[{ a: null }], [{}]],
  ]
  for (const [input, expected] of cases) t.same(dropNulls(input), expected, JSON.stringify(input))
  const input = { a: { b: null } }
  dropNulls(input)
  t.same(input, { a: { b: null } }, 'the input is not modified')
})

t.test('canonicalJson sorts keys, drops null fields and is whitespace-free', async (t) => {
  const cases: Array<[JsonValue, string]> = [
    [{ b: 1, a: 2 }, '{"a":2,"b":1}'],
    [{ z: { y: [3, { d: 1, c: null, b: 'x' }] }, a: null }, '{"z":{"y":[3,{"b":"x","d":1}]}}'],
    [[null, true, 'é"'], '[null,true,"é\\""]'],
    [{}, '{}'],
    [1.5, '1.5'],
  ]
  for (const [input, expected] of cases) t.equal(canonicalJson(input), expected, expected)
})

t.test('jsonEqual ignores key order but not nulls; canonicalEqual ignores both', async (t) => {
  const cases: Array<[JsonValue, JsonValue, boolean, boolean]> = [
    [{ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, true, true],
    [{ a: null }, {}, false, true],
    [[1, 2], [2, 1], false, false],
    [{ a: 1 }, { a: '1' }, false, false],
    [1, 1.0, true, true],
    [[], {}, false, false],
    [null, {}, false, false],
    [{ a: { b: null, c: 1 } }, { a: { c: 1 } }, false, true],
  ]
  for (const [a, b, strict, canonical] of cases) {
    t.equal(jsonEqual(a, b), strict, `jsonEqual ${JSON.stringify(a)} ${JSON.stringify(b)}`)
    t.equal(jsonEqual(b, a), strict, 'symmetric')
    t.equal(canonicalEqual(a, b), canonical, `canonicalEqual ${JSON.stringify(a)} ${JSON.stringify(b)}`)
  }
})

t.test('a template patched back by rollout undo equals the stored template', async (t) => {
  // kubectl rollout undo sends the ReplicaSet's template with "creationTimestamp": null; the
  // stored template has no such field and its keys in another order.
  const stored = { spec: { containers: [{ name: 'web', image: 'nginx:1.20' }] }, metadata: { labels: { app: 'web' } } }
  const fromUndo = { metadata: { creationTimestamp: null, labels: { app: 'web' } }, spec: { containers: [{ image: 'nginx:1.20', name: 'web' }] } }
  t.ok(canonicalEqual(stored, fromUndo))
  t.equal(canonicalJson(dropNulls(fromUndo)), canonicalJson(stored))
})

t.test('cloneJson shares nothing with its input', async (t) => {
  const input = { a: [{ b: 1 }], c: { d: 'x' } }
  const copy = cloneJson(input)
  t.same(copy, input)
  copy.a[0]!.b = 2
  copy.c.d = 'y'
  t.same(input, { a: [{ b: 1 }], c: { d: 'x' } })
  t.ok(isJsonObject({}))
  t.notOk(isJsonObject([]))
  t.notOk(isJsonObject(null))
})

t.test('canonicalEqual agrees with comparing canonicalJson texts on random values (seeded)', async (t) => {
  const seed = Number(process.env['FLOTILLA_SIM_SEED'] ?? 20261123)
  const random = new RandomXoshiro(seed)
  const leaves: JsonValue[] = [null, 0, 1, -1, 1.5, '', 'a', 'b', true, false]
  const value = (depth: number): JsonValue => {
    const kind = depth <= 0 ? 0 : random.int(0, 3)
    if (kind === 0) return leaves[random.int(0, leaves.length)] as JsonValue
    if (kind === 1) return Array.from({ length: random.int(0, 3) }, () => value(depth - 1))
    const object: Record<string, JsonValue> = {}
    for (let index = random.int(0, 4); index > 0; index--) object[['x', 'y', 'z'][random.int(0, 3)] as string] = value(depth - 1)
    return object
  }
  // Near-misses matter most: mutate a copy slightly half of the time.
  let equalPairs = 0
  for (let round = 0; round < 3000; round++) {
    const a = value(3)
    const b = random.int(0, 2) === 0 ? value(3) : (JSON.parse(JSON.stringify(a)) as JsonValue)
    const expected = canonicalJson(a) === canonicalJson(b)
    if (expected) equalPairs++
    if (canonicalEqual(a, b) !== expected || canonicalEqual(b, a) !== expected) {
      t.fail(`seed ${seed}: canonicalEqual(${JSON.stringify(a)}, ${JSON.stringify(b)}) should be ${expected}`)
      return
    }
  }
  t.ok(equalPairs > 100, `seed ${seed}: both outcomes were exercised (${equalPairs} equal pairs of 3000)`)
})
