// Goal: the hand-written protobuf writer produces the exact proto3 wire bytes. Method: known
// encodings (the protobuf encoding guide's examples) and a round trip through the test reader.
import t from 'tap'
import { encodeVarint, ProtobufWriter } from '../../../node/src/api/openapi/protobuf-writer.ts'
import { toYaml } from '../../../node/src/api/openapi/gnostic.ts'
import { Message } from './protobuf-reader.ts'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

t.test('varints', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [150, '9601'],
    [300, 'ac02'],
    [16_383, 'ff7f'],
    [16_384, '808001'],
    [2 ** 32, '8080808010'],
    [Number.MAX_SAFE_INTEGER, 'ffffffffffffff0f'],
  ]
  for (const [value, expected] of cases) t.equal(hex(encodeVarint(value)), expected, String(value))
  t.throws(() => encodeVarint(-1), { name: 'AssertionError' })
  t.throws(() => encodeVarint(1.5), { name: 'AssertionError' })
})

t.test('fields', async (t) => {
  // The encoding guide: message Test1 { int32 a = 1; } with a = 150 is 08 96 01;
  // message Test2 { string b = 2; } with b = "testing" is 12 07 74 65 73 74 69 6e 67;
  // message Test3 { Test1 c = 3; } is 1a 03 08 96 01.
  t.equal(hex(new ProtobufWriter().uint(1, 150).finish()), '089601')
  t.equal(hex(new ProtobufWriter().string(2, 'testing').finish()), '120774657374696e67')
  t.equal(hex(new ProtobufWriter().message(3, (w) => w.uint(1, 150)).finish()), '1a03089601')
  t.equal(hex(new ProtobufWriter().bool(4, true).bool(5, false).finish()), '2001', 'false is the default and is omitted')
  t.equal(hex(new ProtobufWriter().string(1, '').uint(2, 0).bytes(3, new Uint8Array()).finish()), '', 'defaults are omitted')
  t.equal(hex(new ProtobufWriter().message(6, () => {}).finish()), '3200', 'an empty nested message is present')
  t.equal(hex(new ProtobufWriter().strings(1, ['a', '', 'b']).finish()), '0a01610a000a0162', 'repeated strings keep empty elements')
  t.equal(hex(new ProtobufWriter().uint(16, 1).finish()), '800101', 'field 16 needs a two-byte key')
  t.throws(() => new ProtobufWriter().uint(0, 1), { name: 'AssertionError' })
})

t.test('round trip of nested messages with multi-byte lengths and UTF-8', async (t) => {
  const long = 'x'.repeat(300)
  const bytes = new ProtobufWriter()
    .string(1, 'héllo ✓')
    .message(2, (w) => w.string(1, long).message(2, (w2) => w2.uint(7, 2 ** 40)))
    .message(2, (w) => w.bool(3, true))
    .finish()
  const message = new Message(bytes)
  t.equal(message.string(1), 'héllo ✓')
  const [first, second] = message.messages(2)
  t.equal(first?.string(1), long)
  t.equal(first?.message(2)?.one(7)?.varint, 2n ** 40n)
  t.equal(second?.bool(3), true)
})

t.test('YAML for vendor extensions', async (t) => {
  t.equal(toYaml('patch'), '"patch"\n')
  t.equal(toYaml({ group: '', kind: 'Deployment', version: 'v1' }), 'group: ""\nkind: "Deployment"\nversion: "v1"\n')
  t.equal(toYaml([{ group: 'apps', kind: 'Deployment', version: 'v1' }]), '- group: "apps"\n  kind: "Deployment"\n  version: "v1"\n')
  t.equal(toYaml({ a: [1, true, null], b: { c: 'x: y' }, 'no': {}, e: [] }), 'a:\n  - 1\n  - true\n  - null\nb:\n  c: "x: y"\n"no": {}\ne: []\n')
  t.equal(toYaml([[1, 2], { a: 1 }]), '- - 1\n  - 2\n- a: 1\n')
})
