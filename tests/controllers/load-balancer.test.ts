// Goal: the LoadBalancer allocation planner hands out pool addresses deterministically and never
// twice: existing allocations are kept (older Services win a conflict), spec.loadBalancerIP is
// honoured when free and in the pool, new Services get the lowest free address, an exhausted or
// bad pool leaves Services pending with one Warning each, and type changes release the address.
// Method: table-driven over reconcileLoadBalancers; each case lists Services (creation order =
// list order) and the expected address per Service after the plan, the writes and the warnings.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { reconcileLoadBalancers, REASON_ALLOCATED, REASON_ALLOCATION_FAILED, REASON_RELEASED } from '../../node/src/controllers/load-balancer.ts'

const POOL_TEXT = '10.250.0.200-10.250.0.202'

function pool(text: string = POOL_TEXT): JsonObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'flotilla-loadbalancer' }, data: { addresses: text } }
}

interface ServiceInput {
  readonly name: string
  readonly type?: string
  readonly ips?: readonly string[]
  readonly requested?: string
  readonly loadBalancerClass?: string
}

function services(inputs: readonly ServiceInput[]): JsonObject[] {
  return inputs.map((input, i) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'default', name: input.name, uid: `uid-${input.name}`, resourceVersion: String(10 + i), creationTimestamp: `2026-01-01T00:00:${String(10 + i)}Z` },
    spec: {
      type: input.type ?? 'LoadBalancer',
      ports: [{ port: 80 }],
      ...(input.requested !== undefined ? { loadBalancerIP: input.requested } : {}),
      ...(input.loadBalancerClass !== undefined ? { loadBalancerClass: input.loadBalancerClass } : {}),
    },
    status: input.ips === undefined ? ({} as JsonObject) : { loadBalancer: { ingress: input.ips.map((ip) => ({ ip })) } },
  }))
}

interface Case {
  readonly name: string
  readonly services: readonly ServiceInput[]
  readonly pool?: JsonObject | undefined
  /** Service name → address it has after the plan ('' = pending / cleared). */
  readonly expected: Readonly<Record<string, string>>
  /** Names whose status the plan writes, in order. */
  readonly writes: readonly string[]
  /** `name: reason` of every event, in order, and a pattern the warnings' messages match. */
  readonly events: readonly string[]
  readonly warning?: RegExp
}

const CASES: readonly Case[] = [
  {
    name: 'new Services get the lowest free addresses, oldest first',
    services: [{ name: 'a' }, { name: 'b' }],
    expected: { a: '10.250.0.200', b: '10.250.0.201' },
    writes: ['a', 'b'],
    events: [`a: ${REASON_ALLOCATED}`, `b: ${REASON_ALLOCATED}`],
  },
  {
    name: 'existing allocations are kept and skipped by new ones',
    services: [{ name: 'a', ips: ['10.250.0.201'] }, { name: 'b' }, { name: 'c' }],
    expected: { a: '10.250.0.201', b: '10.250.0.200', c: '10.250.0.202' },
    writes: ['b', 'c'],
    events: [`b: ${REASON_ALLOCATED}`, `c: ${REASON_ALLOCATED}`],
  },
  {
    name: 'a converged world writes nothing',
    services: [{ name: 'a', ips: ['10.250.0.200'] }, { name: 'b', ips: ['10.250.0.202'] }],
    expected: { a: '10.250.0.200', b: '10.250.0.202' },
    writes: [],
    events: [],
  },
  {
    name: 'spec.loadBalancerIP in the pool and free is honoured, before older Services take any address',
    services: [{ name: 'a' }, { name: 'b', requested: '10.250.0.200' }],
    expected: { a: '10.250.0.201', b: '10.250.0.200' },
    writes: ['b', 'a'],
    events: [`b: ${REASON_ALLOCATED}`, `a: ${REASON_ALLOCATED}`],
  },
  {
    name: 'spec.loadBalancerIP outside the pool: pending with a warning',
    services: [{ name: 'a', requested: '10.250.0.9' }],
    expected: { a: '' },
    writes: [],
    events: [`a: ${REASON_ALLOCATION_FAILED}`],
    warning: /Requested loadBalancerIP 10\.250\.0\.9 is not in the address pool kube-system\/flotilla-loadbalancer/,
  },
  {
    name: 'spec.loadBalancerIP held by another Service: never taken from it',
    services: [{ name: 'a', ips: ['10.250.0.200'] }, { name: 'b', requested: '10.250.0.200' }],
    expected: { a: '10.250.0.200', b: '' },
    writes: [],
    events: [`b: ${REASON_ALLOCATION_FAILED}`],
    warning: /already allocated to Service default\/a/,
  },
  {
    name: 'exhausted pool: AllocationFailed, the Service stays pending',
    services: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }],
    expected: { a: '10.250.0.200', b: '10.250.0.201', c: '10.250.0.202', d: '' },
    writes: ['a', 'b', 'c'],
    events: [`a: ${REASON_ALLOCATED}`, `b: ${REASON_ALLOCATED}`, `c: ${REASON_ALLOCATED}`, `d: ${REASON_ALLOCATION_FAILED}`],
    warning: /No free address in the address pool kube-system\/flotilla-loadbalancer \(3 addresses, all allocated\)/,
  },
  {
    name: 'double allocation (a manual status edit): the older Service keeps it, the younger moves',
    services: [{ name: 'a', ips: ['10.250.0.201'] }, { name: 'b', ips: ['10.250.0.201'] }],
    expected: { a: '10.250.0.201', b: '10.250.0.200' },
    writes: ['b'],
    events: [`b: ${REASON_ALLOCATED}`],
  },
  {
    name: 'an address no longer in a valid pool is replaced',
    services: [{ name: 'a', ips: ['10.250.0.77'] }],
    expected: { a: '10.250.0.200' },
    writes: ['a'],
    events: [`a: ${REASON_ALLOCATED}`],
  },
  {
    name: 'a type change releases the address, which is free again in the same pass',
    services: [{ name: 'a', type: 'ClusterIP', ips: ['10.250.0.200'] }, { name: 'b' }],
    expected: { a: '', b: '10.250.0.200' },
    writes: ['a', 'b'],
    events: [`a: ${REASON_RELEASED}`, `b: ${REASON_ALLOCATED}`],
  },
  {
    name: 'another implementation\'s class: left alone, any address released',
    services: [{ name: 'a', loadBalancerClass: 'example.com/lb', ips: ['10.250.0.200'] }, { name: 'b', loadBalancerClass: 'example.com/lb' }],
    expected: { a: '', b: '' },
    writes: ['a'],
    events: [`a: ${REASON_RELEASED}`],
  },
  {
    name: 'a bad pool: nothing allocated, nothing taken away, pending Services warned with the bad entry',
    services: [{ name: 'a', ips: ['10.250.0.200'] }, { name: 'b' }],
    pool: pool('10.250.0.200-10.250.0.210, 10.250.0.300'),
    expected: { a: '10.250.0.200', b: '' },
    writes: [],
    events: [`b: ${REASON_ALLOCATION_FAILED}`],
    warning: /invalid, nothing allocated: "10\.250\.0\.300": "10\.250\.0\.300" is not an IPv4 address/,
  },
  {
    name: 'no pool at all: pending Services are told how to create one',
    services: [{ name: 'a' }],
    pool: undefined,
    expected: { a: '' },
    writes: [],
    events: [`a: ${REASON_ALLOCATION_FAILED}`],
    warning: /No address pool: create ConfigMap kube-system\/flotilla-loadbalancer with key "addresses"/,
  },
]

/** The address each Service has once `writes` are applied. */
function addressesAfter(before: readonly JsonObject[], writes: readonly JsonObject[]): Record<string, string> {
  const result: Record<string, string> = {}
  for (const service of before) {
    const name = String((service['metadata'] as JsonObject)['name'])
    const written = writes.find((write) => (write['metadata'] as JsonObject)['name'] === name) ?? service
    const ingress = ((written['status'] as JsonObject | undefined)?.['loadBalancer'] as JsonObject | undefined)?.['ingress'] as JsonObject[] | undefined
    result[name] = String(ingress?.[0]?.['ip'] ?? '')
  }
  return result
}

for (const entry of CASES) {
  t.test(entry.name, async (t) => {
    const input = services(entry.services)
    const result = reconcileLoadBalancers({ services: input, poolConfigMap: 'pool' in entry ? entry.pool : pool(), reported: new Map(), nowMs: Date.UTC(2026, 0, 1) })
    const writes = result.plan.actions.flatMap((action) => (action.type === 'updateStatus' ? [action.object] : []))
    const events = result.plan.actions.flatMap((action) => (action.type === 'event' ? [action.event] : []))
    t.same(writes.map((object) => (object['metadata'] as JsonObject)['name']), entry.writes, 'status writes')
    t.ok(result.plan.actions.every((action) => action.type === 'event' || action.type === 'updateStatus'), 'only status writes and events')
    t.same(addressesAfter(input, writes), entry.expected, 'addresses after the plan')
    t.same(events.map((event) => `${String((event['involvedObject'] as JsonObject)['name'])}: ${String(event['reason'])}`), entry.events, 'events')
    for (const event of events.filter((event) => event['type'] === 'Warning')) t.match(String(event['message']), entry.warning ?? /^$/, 'warning message')
    const allocated = Object.values(entry.expected).filter((ip) => ip !== '')
    t.equal(new Set(allocated).size, allocated.length, 'no address twice')
    // The plan applied, a second pass is quiet: no writes, and no repeated warnings.
    const applied = input.map((service) => writes.find((write) => (write['metadata'] as JsonObject)['name'] === (service['metadata'] as JsonObject)['name']) ?? service)
    const second = reconcileLoadBalancers({ services: applied, poolConfigMap: 'pool' in entry ? entry.pool : pool(), reported: result.reported, nowMs: Date.UTC(2026, 0, 1) + 1000 })
    t.same(second.plan.actions, [], 'the next pass does nothing')
  })
}

t.test('the same input gives the same plan whatever the list order', async (t) => {
  const input = services([{ name: 'a' }, { name: 'b', requested: '10.250.0.202' }, { name: 'c' }, { name: 'd', ips: ['10.250.0.200'] }])
  const forward = reconcileLoadBalancers({ services: input, poolConfigMap: pool(), reported: new Map(), nowMs: 0 })
  const backward = reconcileLoadBalancers({ services: [...input].reverse(), poolConfigMap: pool(), reported: new Map(), nowMs: 0 })
  t.same(forward.plan, backward.plan)
  t.same(Object.fromEntries(forward.allocations), { 'default/a': '10.250.0.201', 'default/b': '10.250.0.202', 'default/d': '10.250.0.200' }, 'c is pending: the pool is full')
})

t.test('a warning is repeated only when its cause changes', async (t) => {
  const input = services([{ name: 'a' }])
  const first = reconcileLoadBalancers({ services: input, poolConfigMap: pool('oops'), reported: new Map(), nowMs: 0 })
  const same = reconcileLoadBalancers({ services: input, poolConfigMap: pool('oops'), reported: first.reported, nowMs: 1 })
  const other = reconcileLoadBalancers({ services: input, poolConfigMap: pool('oops2'), reported: same.reported, nowMs: 2 })
  t.same([first.plan.actions.length, same.plan.actions.length, other.plan.actions.length], [1, 0, 1])
})
