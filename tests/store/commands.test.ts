// Goal: store commands survive encoding exactly, and every malformed command is refused with
// InvalidCommandError at both ends (encode for the proposer, decode for the state machine).
// Method: round-trip one command of each kind, then encode and decode hand-built bad inputs and
// check the error names the problem.
import t from 'tap'
import { encodeMsgpack } from '../../consensus/src/codec.ts'
import {
  COMMAND_BYTES_MAX,
  KEY_BYTES_MAX,
  TXN_OPS_MAX,
  VALUE_BYTES_MAX,
  decodeCommand,
  encodeCommand,
  type StoreCommand,
} from '../../node/src/store/commands.ts'
import { bytes } from './helpers.ts'

t.test('each kind of command round-trips', async (t) => {
  const commands: StoreCommand[] = [
    { op: 'put', key: 'a', value: bytes('1') },
    { op: 'put', key: '/registry/pods/default/web-0', value: new Uint8Array(0), ifModRevision: 0 },
    { op: 'put', key: 'ключ😀', value: bytes('x'), ifModRevision: 2 ** 40 },
    { op: 'delete', key: 'a' },
    { op: 'delete', key: 'a', ifModRevision: 7 },
    {
      op: 'txn',
      compares: [{ key: 'a', modRevision: 3 }],
      success: [{ op: 'put', key: 'a', value: bytes('2') }, { op: 'delete', key: 'b' }],
      failure: [{ op: 'delete', key: 'a' }],
    },
    { op: 'txn', compares: [], success: [], failure: [] },
    { op: 'compact', revision: 12 },
  ]
  for (const command of commands) t.same(decodeCommand(encodeCommand(command)), command, `${command.op} round-trips`)
  const decoded = decodeCommand(encodeCommand({ op: 'put', key: 'a', value: bytes('v') }))
  t.equal(decoded.op === 'put' && decoded.value.constructor, Uint8Array, 'values decode as plain Uint8Array')
})

t.test('decoding keeps only the known fields', async (t) => {
  const decoded = decodeCommand(encodeMsgpack({ op: 'delete', key: 'k', extra: 'dropped' }))
  t.same(decoded, { op: 'delete', key: 'k' })
  t.notOk('extra' in decoded)
})

t.test('bad commands are refused on encode and decode with a clear reason', async (t) => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['unknown op', { op: 'range', key: 'a' }, /op: expected/],
    ['empty key', { op: 'put', key: '', value: bytes('v') }, /must not be empty/],
    ['lone surrogate', { op: 'delete', key: 'a\ud800' }, /lone UTF-16 surrogate/],
    ['key too long', { op: 'delete', key: 'k'.repeat(KEY_BYTES_MAX + 1) }, /UTF-8 bytes, more than/],
    ['multi-byte key too long', { op: 'delete', key: 'й'.repeat(KEY_BYTES_MAX / 2 + 1) }, /UTF-8 bytes, more than/],
    ['value not bytes', { op: 'put', key: 'a', value: 'text' }, /expected a byte string/],
    ['value too large', { op: 'put', key: 'a', value: new Uint8Array(VALUE_BYTES_MAX + 1) }, /more than the/],
    ['negative CAS revision', { op: 'put', key: 'a', value: bytes('v'), ifModRevision: -1 }, /non-negative safe integer/],
    ['fractional compact revision', { op: 'compact', revision: 1.5 }, /non-negative safe integer/],
    ['txn without failure', { op: 'txn', compares: [], success: [] }, /failure: expected an array/],
    ['txn duplicate key', { op: 'txn', compares: [], success: [{ op: 'delete', key: 'a' }, { op: 'put', key: 'a', value: bytes('') }], failure: [] }, /appears twice/],
    ['txn op with CAS', { op: 'txn', compares: [], success: [{ op: 'delete', key: 'a', ifModRevision: 1 }], failure: [] }, /not allowed inside a transaction/],
    ['txn compact op', { op: 'txn', compares: [], success: [{ op: 'compact', key: 'a' }], failure: [] }, /expected 'put' or 'delete'/],
    [
      'txn too many ops',
      { op: 'txn', compares: [], success: Array.from({ length: TXN_OPS_MAX + 1 }, (_, i) => ({ op: 'delete', key: `k${i}` })), failure: [] },
      /items, more than/,
    ],
    ['not an object', ['put', 'a'], /expected an object/],
  ]
  for (const [label, command, pattern] of bad) {
    t.throws(() => encodeCommand(command as StoreCommand), { name: 'InvalidCommandError', message: pattern }, `encode: ${label}`)
    // MessagePack carries strings as UTF-8, which turns a lone surrogate into U+FFFD: only the
    // encoder can ever see one.
    if (label === 'lone surrogate') continue
    t.throws(() => decodeCommand(encodeMsgpack(command)), { name: 'InvalidCommandError', message: pattern }, `decode: ${label}`)
  }
  t.throws(() => decodeCommand(new Uint8Array([0x92, 0x01])), { name: 'InvalidCommandError', message: /not valid MessagePack/ }, 'truncated bytes')
  t.throws(() => decodeCommand(new Uint8Array(0)), { name: 'InvalidCommandError' }, 'empty input')
  t.throws(() => decodeCommand(new Uint8Array(COMMAND_BYTES_MAX + 1)), { name: 'InvalidCommandError', message: /more than the/ }, 'oversized input')
  const bigTxn: StoreCommand = {
    op: 'txn',
    compares: [],
    success: [0, 1].map((i) => ({ op: 'put' as const, key: `k${i}`, value: new Uint8Array(VALUE_BYTES_MAX) })),
    failure: [],
  }
  t.throws(() => encodeCommand(bigTxn), { name: 'InvalidCommandError', message: /bytes encoded, more than/ }, 'whole command too large')
})
