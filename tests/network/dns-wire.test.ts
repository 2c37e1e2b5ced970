/**
 * The DNS wire format: round trips of every decoded type, name compression, a table of malformed
 * inputs (each a DnsFormatError, never another exception), seeded mutations of valid messages, and
 * UDP truncation.
 */
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import {
  CLASS_IN,
  DnsFormatError,
  DnsNameError,
  encodeMessage,
  errorResponseBytes,
  nameToLabels,
  parseMessage,
  RCODE,
  RR_TYPE,
  udpLimitBytes,
  UDP_PAYLOAD_BYTES_CLASSIC,
  type DnsHeader,
  type DnsMessage,
  type ResourceRecord,
} from '../../network/src/dns/wire.ts'

const QUERY_HEADER: DnsHeader = { id: 0xbeef, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0 }
const RESPONSE_HEADER: DnsHeader = { ...QUERY_HEADER, qr: true, aa: true, ra: true }

function message(parts: Partial<DnsMessage>): DnsMessage {
  return { header: RESPONSE_HEADER, questions: [], answers: [], authorities: [], additionals: [], ...parts }
}

function a(name: string, address: string, ttlSeconds = 5): ResourceRecord {
  return { name, class: CLASS_IN, ttlSeconds, data: { kind: 'A', address } }
}

/** A query built by hand, byte by byte, so the parser is not only checked against the encoder. */
function handQuery(): Uint8Array {
  return Uint8Array.from([
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
    3, 0x77, 0x65, 0x62, 7, 0x64, 0x65, 0x66, 0x61, 0x75, 0x6c, 0x74, 3, 0x73, 0x76, 0x63, 0,
    0, 1, 0, 1,
  ])
}

t.test('a hand-built query parses', async (t) => {
  const { message: parsed } = parseMessage(handQuery())
  t.equal(parsed.header.id, 0x1234)
  t.equal(parsed.header.rd, true)
  t.equal(parsed.header.qr, false)
  t.same(parsed.questions, [{ name: 'web.default.svc', type: RR_TYPE.A, class: CLASS_IN }])
  t.equal(parsed.edns, undefined)
})

t.test('every record type round-trips', async (t) => {
  const original = message({
    questions: [{ name: 'web.default.svc.cluster.local', type: RR_TYPE.ANY, class: CLASS_IN }],
    answers: [
      a('web.default.svc.cluster.local', '10.96.0.10'),
      { name: 'web.default.svc.cluster.local', class: CLASS_IN, ttlSeconds: 30, data: { kind: 'AAAA', address: '2001:db8::a' } },
      { name: 'ext.default.svc.cluster.local', class: CLASS_IN, ttlSeconds: 5, data: { kind: 'CNAME', target: 'example.org' } },
      { name: '10.0.96.10.in-addr.arpa', class: CLASS_IN, ttlSeconds: 5, data: { kind: 'PTR', target: 'web.default.svc.cluster.local' } },
      { name: '_http._tcp.web.default.svc.cluster.local', class: CLASS_IN, ttlSeconds: 5, data: { kind: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' } },
      { name: 'txt.example', class: CLASS_IN, ttlSeconds: 0xffffffff, data: { kind: 'raw', type: RR_TYPE.TXT, bytes: Uint8Array.from([5, 104, 101, 108, 108, 111]) } },
    ],
    authorities: [
      {
        name: 'cluster.local',
        class: CLASS_IN,
        ttlSeconds: 5,
        data: { kind: 'SOA', primary: 'ns.dns.cluster.local', mailbox: 'hostmaster.cluster.local', serial: 42, refreshSeconds: 7200, retrySeconds: 1800, expireSeconds: 86400, minimumSeconds: 5 },
      },
    ],
    additionals: [a('db-0.db.default.svc.cluster.local', '10.244.1.5')],
    edns: { udpPayloadBytes: 1232, version: 0, dnssecOk: true },
  })
  const parsed = parseMessage(encodeMessage(original))
  t.same(parsed.message, original)
  t.equal(parsed.ttlOffsets.length, 8, 'one TTL offset per record, OPT excluded')
})

t.test('IPv6 addresses come back in RFC 5952 form', async (t) => {
  for (const [input, expected] of [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1:0:0:1', 'fe80::1:0:0:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
  ] as const) {
    const bytes = encodeMessage(message({ answers: [{ name: 'x', class: CLASS_IN, ttlSeconds: 1, data: { kind: 'AAAA', address: input } }] }))
    const record = parseMessage(bytes).message.answers[0]
    t.same(record?.data, { kind: 'AAAA', address: expected }, input)
  }
})

t.test('names: escapes round-trip, limits are enforced', async (t) => {
  const odd = 'a\\.b\\000\\255.example'
  const bytes = encodeMessage(message({ questions: [{ name: odd, type: RR_TYPE.A, class: CLASS_IN }] }))
  t.same(Array.from(bytes.subarray(13, 13 + 5)), [0x61, 0x2e, 0x62, 0, 255], 'escaped bytes on the wire, in one label')
  t.equal(parseMessage(bytes).message.questions[0]?.name, 'a\\046b\\000\\255.example', 'decoded in the one canonical form')
  t.same(encodeMessage(message({ questions: [{ name: 'a\\046b\\000\\255.example', type: RR_TYPE.A, class: CLASS_IN }] })), bytes, 'which encodes to the same bytes')
  t.throws(() => nameToLabels(`${'x'.repeat(64)}.example`), DnsNameError)
  t.throws(() => nameToLabels('a..b'), DnsNameError)
  t.throws(() => nameToLabels(Array.from({ length: 5 }, () => 'y'.repeat(63)).join('.')), DnsNameError)
  t.same(nameToLabels('example.org.').length, 2, 'a trailing dot is the root')
})

t.test('compression: repeated suffixes become pointers, case-insensitively; SRV targets are never compressed', async (t) => {
  const question = { name: 'Web.Default.svc.cluster.local', type: RR_TYPE.A, class: CLASS_IN }
  const bytes = encodeMessage(message({ questions: [question], answers: [a('web.default.svc.cluster.local', '10.96.0.10'), a('other.default.svc.cluster.local', '10.96.0.11')] }))
  const questionEnd = 12 + 'Web.Default.svc.cluster.local'.length + 2 + 4
  t.same(Array.from(bytes.subarray(questionEnd, questionEnd + 2)), [0xc0, 12], 'the first answer name is a pointer to the question')
  const secondName = questionEnd + 16
  t.same(Array.from(bytes.subarray(secondName, secondName + 8)), [5, ...Buffer.from('other'), 0xc0, 16], "the second's suffix points into the question")
  t.equal(parseMessage(bytes).message.questions[0]?.name, 'Web.Default.svc.cluster.local', 'the question keeps its case')

  const target = 'web.default.svc.cluster.local'
  const srv = encodeMessage(message({ questions: [question], answers: [{ name: `_http._tcp.${target}`, class: CLASS_IN, ttlSeconds: 5, data: { kind: 'SRV', priority: 0, weight: 1, port: 80, target } }] }))
  t.ok(Buffer.from(srv).includes(Buffer.from([3, ...Buffer.from('web'), 7, ...Buffer.from('default')])), 'the SRV target is written out in full')
  t.same(parseMessage(srv).message.answers[0]?.data, { kind: 'SRV', priority: 0, weight: 1, port: 80, target })
})

/** Bytes of a valid response to damage: question + one A answer. */
function validResponse(): Uint8Array {
  return encodeMessage(message({ questions: [{ name: 'web.svc', type: RR_TYPE.A, class: CLASS_IN }], answers: [a('web.svc', '10.0.0.1')] }))
}

t.test('malformed input is a DnsFormatError with the ID when the header was readable', async (t) => {
  const header = (counts: [number, number, number, number]): number[] => [0xab, 0xcd, 0x81, 0x80, 0, counts[0], 0, counts[1], 0, counts[2], 0, counts[3]]
  const cases: Array<[string, number[], number | undefined]> = [
    ['empty', [], undefined],
    ['one byte', [1], undefined],
    ['short header', [0xab, 0xcd, 0, 0, 0, 1], 0xabcd],
    ['question count with no question', header([1, 0, 0, 0]), 0xabcd],
    ['label past the end', [...header([1, 0, 0, 0]), 10, 0x61, 0x62], 0xabcd],
    ['name without terminator', [...header([1, 0, 0, 0]), 1, 0x61], 0xabcd],
    ['question without type and class', [...header([1, 0, 0, 0]), 1, 0x61, 0, 0], 0xabcd],
    ['pointer to itself', [...header([1, 0, 0, 0]), 0xc0, 12, 0, 1, 0, 1], 0xabcd],
    ['pointer forwards', [...header([1, 0, 0, 0]), 0xc0, 20, 0, 1, 0, 1, 0, 0, 0, 0, 0], 0xabcd],
    ['pointer cut in half', [...header([1, 0, 0, 0]), 0xc0], 0xabcd],
    ['extended label type', [...header([1, 0, 0, 0]), 0x41, 0, 0, 1, 0, 1], 0xabcd],
    ['name over 255 bytes', [...header([1, 0, 0, 0]), ...Array.from({ length: 5 }, () => [63, ...new Array<number>(63).fill(0x61)]).flat(), 0, 0, 1, 0, 1], 0xabcd],
    ['A rdata of 5 bytes', [...header([0, 1, 0, 0]), 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 5, 1, 2, 3, 4, 5], 0xabcd],
    ['rdlength past the end', [...header([0, 1, 0, 0]), 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 40, 1, 2, 3, 4], 0xabcd],
    ['SRV target shorter than rdlength', [...header([0, 1, 0, 0]), 0, 0, 33, 0, 1, 0, 0, 0, 5, 0, 9, 0, 0, 0, 0, 0, 80, 0, 0, 0], 0xabcd],
    ['OPT in the answer section', [...header([0, 1, 0, 0]), 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0], 0xabcd],
    ['two OPT records', [...header([0, 0, 0, 2]), ...[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0], ...[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]], 0xabcd],
    ['OPT with a name', [...header([0, 0, 0, 1]), 1, 0x61, 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0], 0xabcd],
    ['answer count beyond the data', Array.from(validResponse()).map((byte, index) => (index === 7 ? 2 : byte)), 0xbeef],
  ]
  for (const [name, bytes, id] of cases) {
    let thrown: unknown
    try {
      parseMessage(Uint8Array.from(bytes))
    } catch (error) {
      thrown = error
    }
    t.ok(thrown instanceof DnsFormatError, `${name}: DnsFormatError (got ${String(thrown)})`)
    t.equal((thrown as DnsFormatError).id, id, `${name}: id`)
  }
})

t.test('seeded mutations of a valid message never throw anything but DnsFormatError', async (t) => {
  const random = new RandomXoshiro(7)
  const valid = encodeMessage(
    message({
      questions: [{ name: 'db.default.svc.cluster.local', type: RR_TYPE.SRV, class: CLASS_IN }],
      answers: [{ name: '_pg._tcp.db.default.svc.cluster.local', class: CLASS_IN, ttlSeconds: 5, data: { kind: 'SRV', priority: 0, weight: 50, port: 5432, target: 'db-0.db.default.svc.cluster.local' } }],
      additionals: [a('db-0.db.default.svc.cluster.local', '10.244.1.5')],
      edns: { udpPayloadBytes: 1232, version: 0, dnssecOk: false },
    }),
  )
  let rejected = 0
  for (let round = 0; round < 3000; round++) {
    const bytes = Uint8Array.from(valid).subarray(0, random.chance(0.3) ? random.int(0, valid.length) : valid.length)
    for (let flips = random.int(1, 4); flips > 0 && bytes.length > 0; flips--) bytes[random.int(0, bytes.length)] = random.int(0, 256)
    try {
      parseMessage(bytes)
    } catch (error) {
      if (!(error instanceof DnsFormatError)) {
        t.fail(`round ${round}: ${String(error)} for ${Buffer.from(bytes).toString('hex')}`)
        return
      }
      rejected++
    }
  }
  t.ok(rejected > 0, `some mutations were rejected (${rejected} of 3000)`)
})

t.test('truncation: an answer over the UDP limit is question-only with TC; EDNS raises the limit', async (t) => {
  const question = { name: 'big.default.svc.cluster.local', type: RR_TYPE.A, class: CLASS_IN }
  const answers = Array.from({ length: 40 }, (_, index) => a(question.name, `10.244.0.${index + 1}`))
  const full = message({ questions: [question], answers })
  const fullBytes = encodeMessage(full)
  t.ok(fullBytes.length > UDP_PAYLOAD_BYTES_CLASSIC, `the full answer is ${fullBytes.length} bytes`)
  const truncated = encodeMessage(full, UDP_PAYLOAD_BYTES_CLASSIC)
  t.ok(truncated.length <= UDP_PAYLOAD_BYTES_CLASSIC)
  const parsed = parseMessage(truncated).message
  t.equal(parsed.header.tc, true)
  t.same(parsed.questions, [question])
  t.same(parsed.answers, [])
  t.same(parseMessage(encodeMessage(full, 4096)).message.answers.length, 40, 'fits in a larger limit')
  t.ok(parseMessage(encodeMessage({ ...full, edns: { udpPayloadBytes: 1232, version: 0, dnssecOk: false } }, 512)).message.edns, 'OPT survives truncation')

  const query = (edns?: number): DnsMessage => ({ ...message({ header: QUERY_HEADER }), ...(edns === undefined ? {} : { edns: { udpPayloadBytes: edns, version: 0, dnssecOk: false } }) })
  t.equal(udpLimitBytes(query(), 1232), 512, 'no EDNS: 512')
  t.equal(udpLimitBytes(query(4096), 1232), 1232, 'EDNS: capped by the server')
  t.equal(udpLimitBytes(query(100), 1232), 512, 'EDNS below 512 counts as 512')
})

t.test('error responses: FORMERR keeps the ID and question; responses and runts get nothing', async (t) => {
  const queryBytes = encodeMessage({ header: QUERY_HEADER, questions: [{ name: 'x.example', type: RR_TYPE.A, class: CLASS_IN }], answers: [], authorities: [], additionals: [] })
  const reply = errorResponseBytes(queryBytes, RCODE.FORMERR)
  t.ok(reply)
  const parsed = parseMessage(reply as Uint8Array).message
  t.equal(parsed.header.id, 0xbeef)
  t.equal(parsed.header.qr, true)
  t.equal(parsed.header.rcode, RCODE.FORMERR)
  t.equal(parsed.questions[0]?.name, 'x.example')
  t.equal(errorResponseBytes(validResponse(), RCODE.FORMERR), undefined, 'a response is never answered')
  t.equal(errorResponseBytes(Uint8Array.from([1, 2, 3]), RCODE.FORMERR), undefined)
  const headerOnly = errorResponseBytes(Uint8Array.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), RCODE.FORMERR)
  t.equal(parseMessage(headerOnly as Uint8Array).message.header.id, 7, 'a broken question still gets FORMERR with its ID')
})
