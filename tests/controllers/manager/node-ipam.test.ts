// Goal: every node of a 1,000-node cluster gets its own pod range, lowest free first, and the
// ranges of nodes that hold one are never handed out again. Method: the allocator over sets of
// ranges in use, checked against the CIDR arithmetic.
import t from 'tap'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { POD_CIDRS_MAX, PodCidrAllocator, podCidrAt, podCidrsInUse } from '../../../node/src/controllers/manager/node-ipam.ts'

t.test('the /14 is cut into 1,024 distinct /24s in address order', async (t) => {
  t.equal(podCidrAt(0), '10.244.0.0/24')
  t.equal(podCidrAt(255), '10.244.255.0/24')
  t.equal(podCidrAt(256), '10.245.0.0/24')
  t.equal(podCidrAt(POD_CIDRS_MAX - 1), '10.247.255.0/24')
  t.equal(new Set(Array.from({ length: POD_CIDRS_MAX }, (_, index) => podCidrAt(index))).size, POD_CIDRS_MAX)
})

t.test('lowest free first, skipping ranges in use, until the pool is exhausted', async (t) => {
  const nodes: JsonObject[] = [{ spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] } }, { spec: { podCIDR: '10.244.2.0/24' } }, { spec: {} }]
  const allocator = new PodCidrAllocator(podCidrsInUse(nodes))
  t.equal(allocator.next(), '10.244.1.0/24')
  t.equal(allocator.next(), '10.244.3.0/24', '10.244.2.0/24 is held')
  const handed = new Set<string>(['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'])
  const twice: string[] = []
  for (let cidr = allocator.next(); cidr !== undefined; cidr = allocator.next()) {
    if (handed.has(cidr)) twice.push(cidr)
    handed.add(cidr)
  }
  t.same(twice, [], 'no range handed out twice')
  t.equal(handed.size, POD_CIDRS_MAX, 'every range was handed out, then none')
})
