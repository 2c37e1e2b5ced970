// Goal: the leader's membership step adds registered machines as learners, never re-adds removed
// ids, and otherwise defers to the voter planner with liveness and replication progress.
// Method: table tests over observations.
import t from 'tap'
import { planMembership, type MemberRecord, type MembershipObservation } from '../../node/src/cluster/membership-plan.ts'

const record = (nodeId: string, zone: string): MemberRecord => ({ nodeId, name: `node-${nodeId}`, zone, peerId: `peer-${nodeId}`, addresses: [] })

const base: MembershipObservation = {
  leaderId: 'a',
  voters: ['a', 'b', 'c'],
  learners: [],
  removed: [],
  members: [record('a', 'z1'), record('b', 'z2'), record('c', 'z3')],
  liveness: () => ({ alive: true, deadForMs: 0 }),
  matchIndex: () => 100,
  commitIndex: 100,
}

t.test('planMembership is idle when the group matches the registry', async (t) => {
  t.same(planMembership(base), { kind: 'none' })
})

t.test('planMembership adds a newly registered machine as a learner', async (t) => {
  const action = planMembership({ ...base, members: [...base.members, record('d', 'z1')] })
  t.match(action, { kind: 'conf-change', change: { type: 'add-learner', nodeId: 'd' }, deleteRecord: false })
})

t.test('planMembership ignores registry records of removed ids', async (t) => {
  t.same(planMembership({ ...base, removed: ['x'], members: [...base.members, record('x', 'z1')] }), { kind: 'none' })
})

t.test('planMembership promotes only learners that have caught up', async (t) => {
  const observed = { ...base, voters: ['a', 'b'], learners: ['c'] }
  t.same(planMembership({ ...observed, matchIndex: (id: string) => (id === 'c' ? 10 : 5000), commitIndex: 5000 }), { kind: 'none' })
  t.match(planMembership(observed), { kind: 'conf-change', change: { type: 'add-voter', nodeId: 'c' } })
})

t.test('planMembership replaces a voter that gossip reports dead, and removes its record later', async (t) => {
  const members = [...base.members, record('d', 'z3')]
  const dead = (ms: number) => (id: string) => (id === 'c' ? { alive: false, deadForMs: ms } : { alive: true, deadForMs: 0 })
  t.match(planMembership({ ...base, members, learners: ['d'], liveness: dead(20_000) }), { change: { type: 'add-voter', nodeId: 'd' } })
  t.match(planMembership({ ...base, members, voters: ['a', 'b'], learners: ['c', 'd'], liveness: dead(16 * 60_000) }), {
    change: { type: 'remove', nodeId: 'c' },
    deleteRecord: true,
  })
})
