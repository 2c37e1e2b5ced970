// Goal: field sets compute the paths Kubernetes tracks in managedFields, encode and decode FieldsV1
// exactly as the real server spells it, and obey the set laws. Method: FieldsV1 documents in the
// shape kube-apiserver writes them (a Deployment applied by kubectl), tables for tokens, paths,
// comparisons and decoding errors, then a seeded property test over random sets.
import t from 'tap'
import { RandomXoshiro, type Random } from '../../../lib/random.ts'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import {
  compareObjects,
  decodeToken,
  FieldSet,
  fieldSetOf,
  fieldToken,
  formatPath,
  indexToken,
  InvalidFieldsV1Error,
  keyToken,
  listItemTokens,
  valueAtPath,
  valueToken,
  type FieldPath,
} from '../../../node/src/api/machinery/field-set.ts'

const deployment: JsonObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' }, finalizers: ['example.com/keep'] },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          { name: 'web', image: 'nginx:1.21', args: ['-g', 'daemon off;'], ports: [{ containerPort: 80 }], env: [{ name: 'MODE', value: 'prod' }] },
          { name: 'sidecar', image: 'busybox', resources: {} },
        ],
        tolerations: [{ key: 'a', operator: 'Exists' }],
      },
    },
  },
}

const deploymentFieldsV1: JsonObject = {
  'f:apiVersion': {},
  'f:kind': {},
  'f:metadata': { 'f:finalizers': { 'v:"example.com/keep"': {} }, 'f:labels': { 'f:app': {} }, 'f:name': {} },
  'f:spec': {
    'f:replicas': {},
    'f:selector': { 'f:matchLabels': { 'f:app': {} } },
    'f:template': {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:containers': {
          'k:{"name":"sidecar"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:resources': {} },
          'k:{"name":"web"}': {
            '.': {},
            'f:args': {},
            'f:env': { 'k:{"name":"MODE"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
            'f:image': {},
            'f:name': {},
            'f:ports': { 'k:{"containerPort":80}': { '.': {}, 'f:containerPort': {} } },
          },
        },
        'f:tolerations': {},
      },
    },
  },
}

t.test('fieldSetOf: leaves, keyed items with their fields, set items; atomic lists and empty objects are leaves', async (t) => {
  const fields = fieldSetOf(deployment)
  t.same(fields.toFieldsV1(), deploymentFieldsV1)
  t.same(JSON.stringify(Object.keys(fields.toFieldsV1()['f:metadata'] as JsonObject)), '["f:finalizers","f:labels","f:name"]', 'tokens are sorted')
  t.ok(fields.has(['f:spec', 'f:template', 'f:spec', 'f:tolerations']), 'a list without a merge key is one leaf')
  t.notOk(fields.has(['f:spec', 'f:template']), 'objects with fields are not members themselves')
  t.ok(fields.has(['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"sidecar"}', 'f:resources']), 'an empty object is a leaf')
  t.ok(fields.has(['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"web"}']), 'a keyed item is a member')
  t.equal(fields.size, 22)
})

t.test('fieldSetOf: lists that cannot be keyed are atomic', async (t) => {
  const duplicate = fieldSetOf({ spec: { containers: [{ name: 'a' }, { name: 'a' }] } })
  t.same(duplicate.toFieldsV1(), { 'f:spec': { 'f:containers': {} } })
  const missingKey = fieldSetOf({ spec: { containers: [{ image: 'x' }] } })
  t.same(missingKey.toFieldsV1(), { 'f:spec': { 'f:containers': {} } })
  const objectFinalizers = fieldSetOf({ metadata: { finalizers: [{ a: 1 }] } })
  t.same(objectFinalizers.toFieldsV1(), { 'f:metadata': { 'f:finalizers': {} } })
  t.same(fieldSetOf({ metadata: { finalizers: [] } }).toFieldsV1(), {}, 'an empty keyed list owns nothing')
  t.same(fieldSetOf({ spec: { args: [] } }).toFieldsV1(), { 'f:spec': { 'f:args': {} } }, 'an empty atomic list is a leaf')
  t.same(fieldSetOf({ a: null }).toFieldsV1(), { 'f:a': {} }, 'null is a leaf')
  t.same(fieldSetOf({ spec: { ports: [{ port: 80 }, { port: 443 }] } }).toFieldsV1(), { 'f:spec': { 'f:ports': { 'k:{"port":443}': { '.': {}, 'f:port': {} }, 'k:{"port":80}': { '.': {}, 'f:port': {} } } } }, 'Service ports by port')
})

t.test('listItemTokens', async (t) => {
  t.same(listItemTokens([{ name: 'a' }, { name: 'b' }], 'name'), ['k:{"name":"a"}', 'k:{"name":"b"}'])
  t.same(listItemTokens(['x', 1, true], ''), ['v:"x"', 'v:1', 'v:true'])
  t.same(listItemTokens([], 'name'), [])
  t.equal(listItemTokens(['x', 'x'], ''), undefined, 'duplicate set items')
  t.equal(listItemTokens([{ name: { nested: 1 } }], 'name'), undefined, 'a key must be a scalar')
  t.equal(listItemTokens([null], ''), undefined, 'null is no set item')
})

t.test('FieldsV1 round trips and canonicalises tokens', async (t) => {
  const documents: JsonObject[] = [
    deploymentFieldsV1,
    {},
    { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} }, 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} } } },
    { 'f:spec': { 'f:args': { 'i:0': {}, 'i:10': {}, 'i:2': {} } } },
    { 'f:data': { 'f:a.b/c~d': {}, 'f:': {} } },
    { 'f:spec': { 'f:ports': { 'k:{"containerPort":53,"protocol":"UDP"}': { '.': {}, 'f:containerPort': {}, 'f:protocol': {} } } } },
    { 'f:x': { 'v:{"a":1}': {}, 'v:null': {}, 'v:2.5': {} } },
  ]
  for (const document of documents) {
    const decoded = FieldSet.fromFieldsV1(document)
    t.same(decoded.toFieldsV1(), document, JSON.stringify(document))
    t.ok(FieldSet.fromFieldsV1(JSON.parse(JSON.stringify(decoded.toFieldsV1()))).equals(decoded))
  }
  const spelled = FieldSet.fromFieldsV1({ 'f:ports': { 'k:{"protocol":"TCP","containerPort":80}': {} } })
  t.same(spelled.paths(), [['f:ports', 'k:{"containerPort":80,"protocol":"TCP"}']], 'key fields are sorted')
  t.same(JSON.stringify(FieldSet.fromFieldsV1({ 'f:args': { 'i:10': {}, 'i:2': {} } }).toFieldsV1()), '{"f:args":{"i:2":{},"i:10":{}}}', 'indexes sort numerically')
  t.same(JSON.stringify(FieldSet.fromFieldsV1({ 'f:l': { 'i:0': {}, 'v:"a"': {}, 'k:{"a":1}': {}, 'f:z': {} } }).toFieldsV1()), '{"f:l":{"f:z":{},"k:{\\"a\\":1}":{},"v:\\"a\\"":{},"i:0":{}}}', 'fields, keys, values, indexes')
  t.same(FieldSet.fromFieldsV1({ 'f:a': { '.': {} } }).toFieldsV1(), { 'f:a': {} }, 'a lone "." is the same as {}')
  t.same(FieldSet.fromFieldsV1({ 'f:a': { 'f:b': { 'f:c': { '.': {} } } } }).paths(), [['f:a', 'f:b', 'f:c']])
})

t.test('FieldsV1 decoding rejects malformed documents with InvalidFieldsV1Error', async (t) => {
  const bad: unknown[] = [
    null,
    [],
    'f:a',
    { 'f:a': [] },
    { 'f:a': 1 },
    { '.': {} },
    { 'f:a': { '.': { 'f:b': {} } } },
    { 'x:a': {} },
    { a: {} },
    { 'k:{"name":}': {} },
    { 'k:{}': {} },
    { 'k:["a"]': {} },
    { 'k:{"a":{"b":1}}': {} },
    { 'v:nope': {} },
    { 'i:-1': {} },
    { 'i:01': {} },
    { 'i:x': {} },
  ]
  for (const document of bad) t.throws(() => FieldSet.fromFieldsV1(document), InvalidFieldsV1Error, JSON.stringify(document))
  try {
    FieldSet.fromFieldsV1({ 'q:x': {} })
  } catch (error) {
    t.equal((error as Error).name, 'InvalidFieldsV1Error')
    t.match((error as Error).message, /^Cannot decode field path token "q:x": unknown prefix$/)
  }
})

t.test('tokens and printed paths', async (t) => {
  t.equal(fieldToken('replicas'), 'f:replicas')
  t.equal(keyToken({ protocol: 'TCP', containerPort: 80 }), 'k:{"containerPort":80,"protocol":"TCP"}')
  t.equal(valueToken('a"b'), 'v:"a\\"b"')
  t.equal(indexToken(3), 'i:3')
  t.same(decodeToken('k:{"name":"web"}'), { kind: 'key', keys: { name: 'web' } })
  t.same(decodeToken('v:"x"'), { kind: 'value', value: 'x' })
  t.same(decodeToken('i:7'), { kind: 'index', index: 7 })
  t.same(decodeToken('f:a:b'), { kind: 'field', name: 'a:b' })
  const cases: Array<[FieldPath, string]> = [
    [['f:spec', 'f:replicas'], '.spec.replicas'],
    [['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"nginx"}', 'f:image'], '.spec.template.spec.containers[name="nginx"].image'],
    [['f:metadata', 'f:finalizers', 'v:"example.com/x"'], '.metadata.finalizers[="example.com/x"]'],
    [['f:spec', 'f:ports', 'k:{"port":80,"protocol":"TCP"}'], '.spec.ports[port=80,protocol="TCP"]'],
    [['f:spec', 'f:args', 'i:0'], '.spec.args[0]'],
    [['f:metadata', 'f:labels', 'f:app.kubernetes.io/name'], '.metadata.labels.app.kubernetes.io/name'],
    [[], ''],
  ]
  for (const [path, text] of cases) t.equal(formatPath(path), text, text)
})

t.test('set operations, membership and prefixes', async (t) => {
  const a = FieldSet.of([['f:a'], ['f:b', 'f:c'], ['f:b', 'f:d'], ['f:e']])
  const b = FieldSet.of([['f:b', 'f:c'], ['f:e'], ['f:f']])
  t.same(a.union(b).paths(), [['f:a'], ['f:b', 'f:c'], ['f:b', 'f:d'], ['f:e'], ['f:f']])
  t.same(a.difference(b).paths(), [['f:a'], ['f:b', 'f:d']])
  t.same(a.intersection(b).paths(), [['f:b', 'f:c'], ['f:e']])
  t.same(a.difference(a).toFieldsV1(), {}, 'a difference leaves no empty nodes behind')
  t.ok(a.difference(a).isEmpty())
  t.ok(FieldSet.EMPTY.isEmpty())
  t.equal(FieldSet.EMPTY.size, 0)
  t.notOk(a.isEmpty())
  t.ok(a.has(['f:b', 'f:c']))
  t.notOk(a.has(['f:b']), 'a parent of members is not a member')
  t.ok(a.hasAtOrBelow(['f:b']))
  t.ok(a.hasAtOrBelow(['f:a']))
  t.notOk(a.hasAtOrBelow(['f:x']))
  t.notOk(a.difference(FieldSet.of([['f:b', 'f:c'], ['f:b', 'f:d']])).hasAtOrBelow(['f:b']), 'emptied nodes hold no members')
  t.same(a.withoutPrefix(['f:b']).paths(), [['f:a'], ['f:e']])
  t.same(a.withoutPrefix(['f:zzz']).paths(), a.paths())
  t.ok(a.withoutPrefix([]).isEmpty())
  t.same(a.withinPrefix(['f:b']).paths(), [['f:b', 'f:c'], ['f:b', 'f:d']])
  t.ok(a.withinPrefix(['f:x']).isEmpty())
  t.same(a.paths(), [['f:a'], ['f:b', 'f:c'], ['f:b', 'f:d'], ['f:e']], 'operations never change their operands')
  const parentAndChild = FieldSet.of([['f:m'], ['f:m', 'f:n']])
  t.same(parentAndChild.toFieldsV1(), { 'f:m': { '.': {}, 'f:n': {} } })
  t.same(parentAndChild.difference(FieldSet.of([['f:m']])).toFieldsV1(), { 'f:m': { 'f:n': {} } })
  t.ok(a.equals(FieldSet.of([['f:e'], ['f:b', 'f:d'], ['f:b', 'f:c'], ['f:a']])), 'insertion order does not matter')
  t.notOk(a.equals(b))
  t.throws(() => FieldSet.of([[]]), /root path cannot be a member/)
})

t.test('compareObjects: added, modified and removed paths', async (t) => {
  const before: JsonObject = {
    metadata: { labels: { app: 'web', tier: 'front' } },
    spec: { replicas: 1, args: ['a'], containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }], shape: { inner: 1 } },
  }
  const after: JsonObject = {
    metadata: { labels: { app: 'web' }, annotations: { note: 'n' } },
    spec: { replicas: 2, args: ['a', 'b'], containers: [{ name: 'b', image: 'y' }, { name: 'a', image: 'z' }, { name: 'c', image: 'w' }], shape: 5 },
  }
  const changes = compareObjects(before, after)
  t.same(changes.added.paths().map(formatPath), ['.metadata.annotations.note', '.spec.containers[name="c"]', '.spec.containers[name="c"].image', '.spec.containers[name="c"].name'])
  t.same(changes.modified.paths().map(formatPath), ['.spec.args', '.spec.containers[name="a"].image', '.spec.replicas', '.spec.shape'])
  t.same(changes.removed.paths().map(formatPath), ['.metadata.labels.tier', '.spec.shape.inner'])
  const same = compareObjects(before, JSON.parse(JSON.stringify(before)) as JsonObject)
  t.ok(same.added.isEmpty() && same.modified.isEmpty() && same.removed.isEmpty(), 'equal objects have no changes')
  const reordered = compareObjects({ a: { x: 1, y: 2 }, containers: [{ name: 'p' }, { name: 'q' }] }, { containers: [{ name: 'q' }, { name: 'p' }], a: { y: 2, x: 1 } })
  t.ok(reordered.added.isEmpty() && reordered.modified.isEmpty() && reordered.removed.isEmpty(), 'key order and keyed item order do not matter')
  const atomicToKeyed = compareObjects({ spec: { containers: [{ name: 'a' }, { name: 'a' }] } }, { spec: { containers: [{ name: 'a' }] } })
  t.same(atomicToKeyed.modified.paths().map(formatPath), ['.spec.containers'])
  t.same(atomicToKeyed.added.paths().map(formatPath), ['.spec.containers[name="a"]', '.spec.containers[name="a"].name'])
  const listAdded = compareObjects({ metadata: {} }, { metadata: { finalizers: ['x'] } })
  t.same(listAdded.added.paths().map(formatPath), ['.metadata.finalizers[="x"]'])
  const itemRemoved = compareObjects({ metadata: { finalizers: ['x', 'y'] } }, { metadata: { finalizers: ['y'] } })
  t.same(itemRemoved.removed.paths().map(formatPath), ['.metadata.finalizers[="x"]'])
})

t.test('valueAtPath follows fields, keys, values and indexes', async (t) => {
  t.equal(valueAtPath(deployment, ['f:spec', 'f:replicas']), 2)
  t.equal(valueAtPath(deployment, ['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"sidecar"}', 'f:image']), 'busybox')
  t.equal(valueAtPath(deployment, ['f:metadata', 'f:finalizers', 'v:"example.com/keep"']), 'example.com/keep')
  t.equal(valueAtPath(deployment, ['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"web"}', 'f:args', 'i:1']), 'daemon off;')
  t.equal(valueAtPath(deployment, ['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"none"}']), undefined)
  t.equal(valueAtPath(deployment, ['f:spec', 'f:replicas', 'f:deeper']), undefined)
  t.equal(valueAtPath(deployment, []), deployment)
})

/** A random path over a small alphabet, so that random sets overlap. */
function randomPath(random: Random): FieldPath {
  const tokens = ['f:a', 'f:b', 'f:c', 'k:{"name":"x"}', 'k:{"name":"y"}', 'v:"p"', 'v:7', 'i:0', 'i:12']
  const length = random.int(1, 5)
  return Array.from({ length }, () => tokens[random.int(0, tokens.length)] as string)
}

function randomSet(random: Random): FieldSet {
  return FieldSet.of(Array.from({ length: random.int(0, 12) }, () => randomPath(random)))
}

t.test('property: set laws and FieldsV1 round trips over seeded random sets', async (t) => {
  for (let seed = 1; seed <= 300; seed++) {
    const random = new RandomXoshiro(seed)
    const a = randomSet(random)
    const b = randomSet(random)
    const context = `seed ${seed}`
    const decoded = FieldSet.fromFieldsV1(JSON.parse(JSON.stringify(a.toFieldsV1())))
    if (!decoded.equals(a)) t.fail(`round trip, ${context}`)
    if (JSON.stringify(decoded.toFieldsV1()) !== JSON.stringify(a.toFieldsV1())) t.fail(`encoding is deterministic, ${context}`)
    if (!a.union(b).equals(b.union(a))) t.fail(`union commutes, ${context}`)
    if (!a.intersection(b).equals(b.intersection(a))) t.fail(`intersection commutes, ${context}`)
    if (!a.difference(b).intersection(b).isEmpty()) t.fail(`(a - b) and b are disjoint, ${context}`)
    if (!a.difference(b).union(a.intersection(b)).equals(a)) t.fail(`(a - b) + (a & b) = a, ${context}`)
    if (a.union(b).size !== a.size + b.size - a.intersection(b).size) t.fail(`inclusion-exclusion, ${context}`)
    for (const path of a.paths()) if (!a.union(b).has(path) || !a.hasAtOrBelow(path.slice(0, 1))) t.fail(`membership, ${context}`)
    if (FieldSet.of(a.paths()).size !== a.size) t.fail(`paths lists every member once, ${context}`)
  }
  t.pass('300 seeds')
})
