// Goal: the voter planner keeps 3 (or 5) voters spread across zones, replaces dead voters with
// healthy learners in other zones, forgets long-dead members, never touches the leader, and
// converges (applying its plans repeatedly reaches a fixed point). Method: table tests, plus a
// property check that iterates plan → apply over generated clusters.
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import { planVoterChange, targetVoterCount, zoneLossBreaksQuorum, type MemberView } from '../../node/src/cluster/voter-plan.ts'

const member = (nodeId: string, zone: string, role: 'voter' | 'learner', overrides: Partial<MemberView> = {}): MemberView => ({
  nodeId,
  zone,
  role,
  alive: true,
  deadForMs: 0,
  caughtUp: true,
  ...overrides,
})

t.test('targetVoterCount is 1, 2, 3 up to three members, 3 for four, 5 from five', async (t) => {
  t.same([1, 2, 3, 4, 5, 9].map(targetVoterCount), [1, 2, 3, 3, 5, 5])
})

t.test('planVoterChange grows to three voters, preferring new zones', async (t) => {
  const members = [member('a', 'z1', 'voter'), member('b', 'z1', 'learner'), member('c', 'z2', 'learner')]
  t.match(planVoterChange(members, 'a'), { type: 'add-voter', nodeId: 'c' })
})

t.test('planVoterChange replaces a dead voter with a learner from a zone without a voter', async (t) => {
  const members = [
    member('a', 'z1', 'voter'),
    member('b', 'z2', 'voter'),
    member('c', 'z3', 'voter', { alive: false, deadForMs: 20_000 }),
    member('d', 'z1', 'learner'),
    member('e', 'z3', 'learner'),
  ]
  t.match(planVoterChange(members, 'a'), { type: 'add-voter', nodeId: 'e' }, 'promote the replacement first')
  const promoted = members.map((m) => (m.nodeId === 'e' ? { ...m, role: 'voter' as const } : m))
  t.match(planVoterChange(promoted, 'a'), { type: 'add-learner', nodeId: 'c' }, 'then demote the dead voter')
})

t.test('planVoterChange does not promote learners that are behind or dead', async (t) => {
  const members = [
    member('a', 'z1', 'voter'),
    member('b', 'z2', 'voter'),
    member('c', 'z3', 'voter', { alive: false, deadForMs: 20_000 }),
    member('d', 'z3', 'learner', { caughtUp: false }),
  ]
  t.match(planVoterChange(members, 'a'), { type: 'add-learner', nodeId: 'c' }, 'demote the dead voter, no replacement yet')
})

t.test('planVoterChange waits before replacing a voter that just went quiet', async (t) => {
  const members = [member('a', 'z1', 'voter'), member('b', 'z2', 'voter'), member('c', 'z3', 'voter', { alive: false, deadForMs: 2_000 }), member('d', 'z3', 'learner')]
  t.equal(planVoterChange(members, 'a'), undefined)
})

t.test('planVoterChange never demotes or removes the leader', async (t) => {
  const members = [member('a', 'z1', 'voter', { alive: false, deadForMs: 1e9 }), member('b', 'z2', 'voter'), member('c', 'z3', 'voter')]
  t.equal(planVoterChange(members, 'a'), undefined)
})

t.test('planVoterChange removes members dead longer than the removal time', async (t) => {
  const members = [member('a', 'z1', 'voter'), member('b', 'z2', 'voter'), member('c', 'z3', 'voter'), member('x', 'z3', 'learner', { alive: false, deadForMs: 16 * 60_000 })]
  t.match(planVoterChange(members, 'a'), { type: 'remove', nodeId: 'x' })
})

t.test('planVoterChange spreads voters so one zone loss keeps quorum', async (t) => {
  const members = [member('a', 'z1', 'voter'), member('b', 'z1', 'voter'), member('c', 'z2', 'voter'), member('d', 'z3', 'learner')]
  t.ok(zoneLossBreaksQuorum(members))
  t.match(planVoterChange(members, 'a'), { type: 'add-voter', nodeId: 'd' })
  const four = members.map((m) => (m.nodeId === 'd' ? { ...m, role: 'voter' as const } : m))
  t.match(planVoterChange(four, 'a'), { type: 'add-learner', nodeId: 'b' }, 'then demote from the crowded zone, not the leader')
})

t.test('planVoterChange keeps five voters across three zones with five or more members', async (t) => {
  const members = ['z1', 'z1', 'z2', 'z2', 'z3', 'z3'].map((zone, i) => member(`n${i}`, zone, i < 3 ? 'voter' : 'learner'))
  let current = members
  for (let round = 0; round < 10; round++) {
    const change = planVoterChange(current, 'n0')
    if (change === undefined) break
    current = current.map((m) => (m.nodeId === change.nodeId ? { ...m, role: change.type === 'add-voter' ? 'voter' : 'learner' } : m))
  }
  t.equal(current.filter((m) => m.role === 'voter').length, 5)
  t.notOk(zoneLossBreaksQuorum(current), 'losing any zone keeps quorum')
})

t.test('planVoterChange reaches a fixed point from random clusters', async (t) => {
  const random = new RandomXoshiro(42)
  for (let trial = 0; trial < 300; trial++) {
    const size = random.int(1, 9)
    const zones = random.int(1, 4)
    let members: MemberView[] = Array.from({ length: size }, (_, i) =>
      member(`n${i}`, `z${random.int(0, zones)}`, i === 0 || random.chance(0.4) ? 'voter' : 'learner', random.chance(0.2) && i !== 0 ? { alive: false, deadForMs: random.int(0, 2_000_000) } : {}),
    )
    let changes = 0
    for (; changes < 30; changes++) {
      const change = planVoterChange(members, 'n0')
      if (change === undefined) break
      if (change.type === 'remove') members = members.filter((m) => m.nodeId !== change.nodeId)
      else members = members.map((m) => (m.nodeId === change.nodeId ? { ...m, role: change.type === 'add-voter' ? 'voter' : 'learner' } : m))
    }
    if (changes >= 30) {
      t.fail(`trial ${trial}: no fixed point after 30 changes`)
      return
    }
    const voters = members.filter((m) => m.role === 'voter')
    t.ok(voters.some((m) => m.nodeId === 'n0'), `trial ${trial}: the leader stays a voter`)
  }
})

t.test('planVoterChange does not shrink the voter set while a voter is only briefly gone', async (t) => {
  const members = [member('a', 'z1', 'voter'), member('b', 'z2', 'voter'), member('c', 'z3', 'voter', { alive: false, deadForMs: 3_000 })]
  t.equal(planVoterChange(members, 'a'), undefined)
})
