// Goal: the LoadBalancer address pool text parses into the addresses an operator means — ranges,
// CIDR blocks (without network and broadcast addresses), single addresses, commas, newlines and
// comments — and anything wrong makes the whole pool invalid with every bad entry named.
// Method: table-driven over parseAddressPool, expanding valid pools with poolAddresses.
import t from 'tap'
import { describePoolErrors, parseAddressPool, poolAddresses, poolContains, POOL_ADDRESSES_MAX } from '../../network/src/load-balancer/address-pool.ts'

interface ValidCase {
  readonly name: string
  readonly text: string
  /** The first and last addresses and the size, or the full list when short. */
  readonly addresses: readonly string[] | { readonly first: string; readonly last: string; readonly size: number }
}

const VALID: readonly ValidCase[] = [
  { name: 'a range, both ends included', text: '10.250.0.200-10.250.0.203', addresses: ['10.250.0.200', '10.250.0.201', '10.250.0.202', '10.250.0.203'] },
  { name: 'spaces around the dash', text: ' 10.250.0.200 - 10.250.0.201 ', addresses: ['10.250.0.200', '10.250.0.201'] },
  { name: 'a /30 leaves out network and broadcast', text: '10.250.0.200/30', addresses: ['10.250.0.201', '10.250.0.202'] },
  { name: 'a /31 keeps both', text: '10.250.0.200/31', addresses: ['10.250.0.200', '10.250.0.201'] },
  { name: 'a /32 is one address', text: '10.250.0.9/32', addresses: ['10.250.0.9'] },
  { name: 'a single address', text: '10.250.0.9', addresses: ['10.250.0.9'] },
  { name: 'commas, newlines, comments; sorted and merged', text: '# pool\n10.250.0.210-10.250.0.211, 10.250.0.200\n\n10.250.0.201-10.250.0.210 # overlaps\n', addresses: ['10.250.0.200', '10.250.0.201', '10.250.0.202', '10.250.0.203', '10.250.0.204', '10.250.0.205', '10.250.0.206', '10.250.0.207', '10.250.0.208', '10.250.0.209', '10.250.0.210', '10.250.0.211'] },
  { name: 'a range across an octet', text: '10.0.0.254-10.0.1.1', addresses: ['10.0.0.254', '10.0.0.255', '10.0.1.0', '10.0.1.1'] },
  { name: 'a /16 is the largest pool', text: '10.1.0.0/16', addresses: { first: '10.1.0.1', last: '10.1.255.254', size: 65534 } },
  { name: 'an empty text is an empty pool', text: ' \n # nothing yet\n', addresses: [] },
]

for (const entry of VALID) {
  t.test(`valid: ${entry.name}`, async (t) => {
    const result = parseAddressPool(entry.text)
    if (!result.ok) return void t.fail(`rejected: ${describePoolErrors(result.errors)}`)
    const all = [...poolAddresses(result.pool)]
    t.equal(result.pool.size, all.length, 'size counts the addresses')
    if (Array.isArray(entry.addresses)) t.same(all, entry.addresses)
    else {
      const expected = entry.addresses as { first: string; last: string; size: number }
      t.same([all[0], all[all.length - 1], all.length], [expected.first, expected.last, expected.size])
    }
    for (const ip of all.slice(0, 3)) t.ok(poolContains(result.pool, ip), `${ip} is in the pool`)
  })
}

interface InvalidCase {
  readonly name: string
  readonly text: string
  /** The bad entries, in order, and a pattern each reason matches. */
  readonly errors: ReadonlyArray<readonly [string, RegExp]>
}

const INVALID: readonly InvalidCase[] = [
  { name: 'a word', text: 'ten-dot-something', errors: [['ten-dot-something', /"ten" is not an IPv4 address/]] },
  { name: 'a reversed range', text: '10.250.0.20-10.250.0.10', errors: [['10.250.0.20-10.250.0.10', /ends \(10\.250\.0\.10\) before it starts/]] },
  { name: 'an octet out of range', text: '10.250.0.200-10.250.0.300', errors: [['10.250.0.200-10.250.0.300', /"10\.250\.0\.300" is not an IPv4 address/]] },
  { name: 'host bits in a CIDR', text: '10.250.0.201/30', errors: [['10.250.0.201/30', /host bits are set; the block is 10\.250\.0\.200\/30/]] },
  { name: 'a bad prefix length', text: '10.250.0.0/33', errors: [['10.250.0.0/33', /not an IPv4 CIDR block/]] },
  { name: 'IPv6', text: 'fd00::1-fd00::9', errors: [['fd00::1-fd00::9', /not an IPv4 address/]] },
  {
    name: 'good entries do not rescue bad ones; every bad one is named',
    text: '10.250.0.200-10.250.0.210, nonsense\n10.0.0.1/8',
    errors: [['nonsense', /expected a range like/], ['10.0.0.1/8', /host bits/]],
  },
  { name: 'more than a /16', text: '10.0.0.0/15', errors: [['10.0.0.0/15', new RegExp(`more than the ${POOL_ADDRESSES_MAX} allowed`)]] },
]

for (const entry of INVALID) {
  t.test(`invalid: ${entry.name}`, async (t) => {
    const result = parseAddressPool(entry.text)
    if (result.ok) return void t.fail('accepted')
    t.same(result.errors.map((error) => error.entry), entry.errors.map(([bad]) => bad), 'the bad entries')
    result.errors.forEach((error, i) => t.match(error.reason, entry.errors[i]![1]))
    t.match(describePoolErrors(result.errors), new RegExp(`^"${entry.errors[0]![0].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}": `), 'the description names the entry first')
  })
}

t.test('poolContains is exact at the edges', async (t) => {
  const result = parseAddressPool('10.250.0.200-10.250.0.210')
  if (!result.ok) return void t.fail('rejected')
  t.same(['10.250.0.199', '10.250.0.200', '10.250.0.210', '10.250.0.211', 'nonsense'].map((ip) => poolContains(result.pool, ip)), [false, true, true, false, false])
})
