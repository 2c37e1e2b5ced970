// Goal: the wire codec round-trips every Raft message type exactly (byte fields come back as plain
// Uint8Array that do not alias the input), and rejects anything else (garbage, truncations,
// trailing bytes, wrong field types, unknown types) with MalformedMessageError and nothing else.
// Method: one sample per message type; every prefix of every encoding; seeded random garbage and
// seeded byte flips of valid encodings (a flip may still decode, but then to a valid message).
import t, { type Test } from 'tap'
import { FlotillaError } from '../../lib/errors.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { MalformedMessageError, decodeMessage, encodeMessage, encodeMsgpack } from '../../consensus/src/codec.ts'
import type { Entry, Message, MessageType } from '../../consensus/src/types.ts'

const entries: Entry[] = [
  { type: 'normal', term: 3, index: 7, data: Uint8Array.from([1, 2, 3, 255]) },
  { type: 'normal', term: 3, index: 8, data: new Uint8Array(0) },
  { type: 'conf', term: 4, index: 9, change: { type: 'add-learner', nodeId: 'n4' } },
  { type: 'conf', term: 4, index: 10, change: { type: 'remove', nodeId: 'n2' } },
]

const base = { from: 'n1', to: 'n2', term: 4 }

const samples: Message[] = [
  { ...base, type: 'app', index: 6, logTerm: 3, entries, commit: 5 },
  { ...base, type: 'app', index: 0, logTerm: 0, entries: [], commit: 0 },
  { ...base, type: 'app-resp', index: 10, reject: true, rejectHint: 6, logTerm: 2 },
  { ...base, type: 'vote', index: 10, logTerm: 4, transfer: false },
  { ...base, type: 'pre-vote', index: 10, logTerm: 4, transfer: true },
  { ...base, type: 'vote-resp', reject: false },
  { ...base, type: 'pre-vote-resp', reject: true },
  { ...base, type: 'heartbeat', commit: 9, context: 'read-17' },
  { ...base, type: 'heartbeat-resp', context: '' },
  {
    ...base,
    type: 'snap',
    meta: { index: 100, term: 4, confState: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } },
    offset: 1024,
    totalBytes: 4096,
    chunk: Uint8Array.from({ length: 1024 }, (_, position) => position % 251),
    done: false,
  },
  { ...base, type: 'snap-resp', index: 100, offset: 2048, reject: false },
  { ...base, type: 'read-index', context: 'ctx' },
  { ...base, type: 'read-index-resp', index: 9, context: 'ctx' },
  { ...base, term: 0, type: 'prop', entries: [entries[0]!] },
  { ...base, type: 'transfer-leader', transferee: 'n3' },
  { ...base, type: 'timeout-now' },
]

const allTypes: MessageType[] = [
  'app', 'app-resp', 'vote', 'pre-vote', 'vote-resp', 'pre-vote-resp', 'heartbeat', 'heartbeat-resp',
  'snap', 'snap-resp', 'read-index', 'read-index-resp', 'prop', 'transfer-leader', 'timeout-now',
]

/** Every Uint8Array inside `value`, with where it was found. */
function byteFields(value: unknown, where = 'message'): Array<[string, Uint8Array]> {
  if (value instanceof Uint8Array) return [[where, value]]
  if (Array.isArray(value)) return value.flatMap((item, position) => byteFields(item, `${where}[${position}]`))
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([name, item]) => byteFields(item, `${where}.${name}`))
  }
  return []
}

/** Runs `decode` and reports whether it threw MalformedMessageError; any other error fails. */
function rejects(t: Test, bytes: Uint8Array, label: string): boolean {
  try {
    decodeMessage(bytes)
    return false
  } catch (error) {
    if (!(error instanceof MalformedMessageError)) {
      t.fail(`${label}: threw ${String(error)} instead of MalformedMessageError`)
      return true
    }
    return true
  }
}

t.test('every message type has a sample', async (t) => {
  t.same([...new Set(samples.map((message) => message.type))].sort(), [...allTypes].sort())
})

t.test('round-trips every message type', async (t) => {
  for (const message of samples) {
    const decoded = decodeMessage(encodeMessage(message))
    t.same(decoded, message, message.type)
    for (const [where, bytes] of byteFields(decoded)) {
      t.equal(bytes.constructor, Uint8Array, `${message.type}: ${where} is a plain Uint8Array`)
    }
  }
})

t.test('decoded bytes are plain Uint8Array copies even from a Buffer input', async (t) => {
  const message = samples.find((sample) => sample.type === 'snap')!
  const input = Buffer.from(encodeMessage(message))
  const decoded = decodeMessage(input)
  t.ok(decoded.type === 'snap')
  if (decoded.type !== 'snap') return
  t.equal(decoded.chunk.constructor, Uint8Array)
  const before = Uint8Array.from(decoded.chunk)
  input.fill(0)
  t.same(decoded.chunk, before, 'overwriting the input does not change the decoded chunk')
})

t.test('unknown fields are dropped', async (t) => {
  const decoded = decodeMessage(encodeMsgpack({ ...base, type: 'timeout-now', extra: 'x', more: [1, 2] }))
  t.same(decoded, { ...base, type: 'timeout-now' })
  t.notOk('extra' in decoded)
})

t.test('rejects every truncation and trailing bytes', async (t) => {
  let checked = 0
  for (const message of samples) {
    const bytes = encodeMessage(message)
    for (let length = 0; length < bytes.byteLength; length++) {
      if (!rejects(t, bytes.subarray(0, length), `${message.type} cut at ${length}`)) {
        t.fail(`${message.type} cut at ${length} of ${bytes.byteLength} bytes decoded`)
      }
      checked++
    }
    const longer = new Uint8Array(bytes.byteLength + 1)
    longer.set(bytes)
    t.ok(rejects(t, longer, `${message.type} plus a byte`), `${message.type} with a trailing byte is rejected`)
  }
  t.ok(checked > 500, `checked ${checked} truncations`)
})

t.test('rejects random garbage', async (t) => {
  const random = new RandomXoshiro(20240611)
  for (let round = 0; round < 5000; round++) {
    const bytes = new Uint8Array(random.int(0, 200))
    for (let position = 0; position < bytes.length; position++) bytes[position] = random.int(0, 256)
    // Start some buffers with a map header so msgpackr gets further than the first byte.
    if (round % 2 === 0 && bytes.length > 0) bytes[0] = 0x80 | random.int(1, 8)
    if (!rejects(t, bytes, `garbage round ${round}`)) t.fail(`garbage round ${round} decoded`)
  }
  t.pass('5000 garbage buffers rejected')
})

t.test('rejects nesting deep enough to exhaust the stack', async (t) => {
  const bytes = new Uint8Array(500_000).fill(0x91) // Each 0x91 opens an array of one element.
  t.throws(() => decodeMessage(bytes), MalformedMessageError)
})

t.test('byte flips either fail cleanly or decode to a valid message', async (t) => {
  const random = new RandomXoshiro(7)
  let rejected = 0
  let decoded = 0
  for (let round = 0; round < 5000; round++) {
    const message = samples[random.int(0, samples.length)]!
    const bytes = Uint8Array.from(encodeMessage(message))
    const flips = random.int(1, 4)
    for (let flip = 0; flip < flips; flip++) bytes[random.int(0, bytes.length)] = random.int(0, 256)
    try {
      const result = decodeMessage(bytes)
      // Whatever survived must itself be a well-formed message.
      t.same(decodeMessage(encodeMessage(result)), result)
      decoded++
    } catch (error) {
      if (!(error instanceof MalformedMessageError)) t.fail(`round ${round}: threw ${String(error)}`)
      rejected++
    }
  }
  t.ok(rejected > 1000, `${rejected} damaged messages rejected, ${decoded} still valid`)
})

t.test('rejects wrong shapes with a message naming the field', async (t) => {
  const app = samples[0]!
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', [1, 2, 3], /message: expected an object/],
    ['a string', 'hello', /message: expected an object/],
    ['a byte string', new Uint8Array(4), /message: expected a plain object, got 4 bytes/],
    ['a Date', new Date(0), /message: expected .*object/],
    ['unknown type', { ...base, type: 'gossip' }, /message\.type: expected a known message type/],
    ['missing type', { ...base }, /message\.type/],
    ['missing from', { to: 'n2', term: 1, type: 'timeout-now' }, /message\.from: expected a string/],
    ['negative term', { ...base, term: -1, type: 'timeout-now' }, /message\.term: expected a non-negative safe integer/],
    ['fractional term', { ...base, term: 1.5, type: 'timeout-now' }, /message\.term/],
    ['string term', { ...base, term: '1', type: 'timeout-now' }, /message\.term/],
    ['huge index', { ...base, type: 'read-index-resp', index: 2 ** 60, context: '' }, /message\.index/],
    ['entries not an array', { ...app, entries: { 0: entries[0] } }, /message\.entries: expected an array/],
    ['entry without data', { ...app, entries: [{ type: 'normal', term: 1, index: 1 }] }, /message\.entries\[0\]\.data/],
    ['entry data as string', { ...app, entries: [{ type: 'normal', term: 1, index: 1, data: 'x' }] }, /entries\[0\]\.data/],
    ['entry of unknown type', { ...app, entries: [{ type: 'magic', term: 1, index: 1 }] }, /entries\[0\]\.type/],
    [
      'conf change of unknown type',
      { ...app, entries: [{ type: 'conf', term: 1, index: 1, change: { type: 'promote', nodeId: 'n' } }] },
      /entries\[0\]\.change\.type/,
    ],
    ['reject as number', { ...base, type: 'vote-resp', reject: 0 }, /message\.reject: expected a boolean/],
    ['voters with a number', { ...samples[9]!, meta: { index: 1, term: 1, confState: { voters: [1], learners: [] } } }, /meta\.confState\.voters\[0\]/],
    ['chunk as array', { ...samples[9]!, chunk: [1, 2] }, /message\.chunk: expected a byte string/],
  ]
  for (const [label, value, pattern] of cases) {
    t.throws(() => decodeMessage(encodeMsgpack(value)), pattern, label)
    try {
      decodeMessage(encodeMsgpack(value))
    } catch (error) {
      t.ok(error instanceof MalformedMessageError && error instanceof FlotillaError, `${label}: named error`)
      t.equal((error as Error).name, 'MalformedMessageError')
    }
  }
})
