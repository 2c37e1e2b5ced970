// Goal: the field helpers controllers share read objects with the API's defaults, write times as
// Kubernetes does, order objects deterministically, and compare templates the way canonical JSON
// compares them. Method: direct calls on crafted values.
import t from 'tap'
import { canonicalEqual } from '../../node/src/api/machinery/canonical.ts'
import {
  byCreationThenName,
  controllerRefOf,
  equalIgnoringNullFields,
  formatTime,
  isControlledBy,
  nameOf,
  numberAt,
  parseTimeMs,
} from '../../node/src/controllers/object-fields.ts'
import { T0_MS } from './fixtures.ts'

t.test('formatTime writes whole-second RFC 3339 and parseTimeMs reads it back', async (t) => {
  t.equal(formatTime(T0_MS + 999), '2023-11-14T22:13:20Z', 'sub-second precision is dropped')
  t.equal(parseTimeMs(formatTime(T0_MS)), T0_MS)
  t.equal(parseTimeMs('not a time'), undefined)
  t.equal(parseTimeMs(undefined), undefined)
})

t.test('equalIgnoringNullFields agrees with canonicalEqual', async (t) => {
  const pairs: Array<[unknown, unknown]> = [
    [{ a: 1, b: null, c: { d: [1, null] } }, { c: { d: [1, null] }, a: 1 }],
    [{ a: [1, 2] }, { a: [2, 1] }],
    [{ a: [null] }, { a: [] }],
    [{ a: 1 }, { a: '1' }],
    [{ a: { b: null } }, { a: {} }],
    [{}, { constructor: 'x' }],
  ]
  for (const [a, b] of pairs) {
    t.equal(equalIgnoringNullFields(a as never, b as never), canonicalEqual(a as never, b as never), JSON.stringify([a, b]))
  }
  t.notOk(equalIgnoringNullFields(undefined, {}), 'an absent object is not an empty one')
})

t.test('byCreationThenName orders oldest first, then by name', async (t) => {
  const at = (name: string, seconds: number) => ({ metadata: { name, creationTimestamp: formatTime(T0_MS + seconds * 1000) } })
  const sorted = [at('c', 5), at('b', 1), at('a', 5), { metadata: { name: 'z' } }].sort(byCreationThenName)
  t.same(sorted.map(nameOf), ['z', 'b', 'a', 'c'], 'objects without a creation time first, as in Kubernetes')
})

t.test('controllerRefOf finds the controlling owner only', async (t) => {
  const pod = { metadata: { ownerReferences: [{ uid: 'a', controller: false }, { uid: 'b', controller: true }] } }
  t.equal(controllerRefOf(pod)?.['uid'], 'b')
  t.ok(isControlledBy(pod, 'b'))
  t.notOk(isControlledBy(pod, 'a'))
  t.equal(numberAt('3', 7), 7, 'non-numbers fall back')
})
