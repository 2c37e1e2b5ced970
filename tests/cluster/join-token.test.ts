// Goal: join tokens round-trip, and every kind of damaged or foreign token is refused with a
// clear InvalidJoinTokenError. Method: encode/decode tables.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { decodeJoinToken, encodeJoinToken } from '../../node/src/cluster/join-token.ts'

const token = {
  clusterId: 'c-0123456789abcdef',
  secret: new Uint8Array(randomBytes(32)),
  addresses: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample'],
}

t.test('join tokens round-trip', async (t) => {
  const decoded = decodeJoinToken(`  ${encodeJoinToken(token)}\n`)
  t.equal(decoded.clusterId, token.clusterId)
  t.same([...decoded.secret], [...token.secret])
  t.same(decoded.addresses, token.addresses)
})

t.test('malformed join tokens are refused with a clear error', async (t) => {
  const good = encodeJoinToken(token)
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /must start with "flotilla1\."/],
    ['another format', 'K10abc::server:xyz', /must start with/],
    ['no checksum', good.slice(0, good.lastIndexOf('.')), /malformed/],
    ['truncated', good.slice(0, good.length - 20) + good.slice(-9), /checksum|malformed/],
    ['flipped character', good.replace(/flotilla1\.(.)/, (_, c: string) => `flotilla1.${c === 'A' ? 'B' : 'A'}`), /checksum/],
    ['bad characters', 'flotilla1.!!!.00000000', /malformed/],
  ]
  for (const [name, text, message] of cases) {
    t.throws(() => decodeJoinToken(text), { name: 'InvalidJoinTokenError', message }, name)
  }
  t.throws(() => decodeJoinToken(encodeJoinToken({ ...token, secret: new Uint8Array(8) })), { name: 'InvalidJoinTokenError', message: /32 bytes/ })
  t.throws(() => decodeJoinToken(encodeJoinToken({ ...token, addresses: [] })), { name: 'InvalidJoinTokenError', message: /addresses/ })
  t.throws(() => decodeJoinToken(encodeJoinToken({ ...token, addresses: ['127.0.0.1:4001'] })), { name: 'InvalidJoinTokenError', message: /multiaddrs/ })
})
