// Goal: the chaos checkers judge histories correctly and the fault schedules replay from a seed.
// Method: crafted CAS-register histories (Jepsen-style invoke/complete intervals, unknown outcomes
// as completeTime = Infinity) whose verdict is known by hand; schedules generated twice per seed.
import t from 'tap'
import { checkRegister, lostAcknowledgedWrite, type RegisterOperation, type RegisterValue } from '../../chaos/src/checkers/cas-register.ts'
import { longSchedule, shortSchedule } from '../../chaos/src/nemesis/schedule.ts'
import { partitionLinks, SwitchChaos } from '../../chaos/src/nemesis/switch.ts'
import { labPlan } from '../../chaos/src/lab/plan.ts'

const read = (client: string, value: RegisterValue, invokeTime: number, completeTime: number): RegisterOperation => ({ client, input: { f: 'read', value }, invokeTime, completeTime })
const cas = (client: string, expected: RegisterValue, value: string, outcome: 'ok' | 'fail' | 'info', invokeTime: number, completeTime: number): RegisterOperation => ({ client, input: { f: 'cas', expected, value, outcome }, invokeTime, completeTime: outcome === 'info' ? Infinity : completeTime })

t.test('linearizable CAS-register histories pass', async (t) => {
  t.ok(checkRegister([]).ok, 'the empty history')
  t.ok(checkRegister([cas('a', null, 'a1', 'ok', 0, 10), read('b', 'a1', 11, 12), cas('b', 'a1', 'b1', 'ok', 13, 20), read('a', 'b1', 21, 22)]).ok, 'sequential create, read, CAS, read')
  // Two concurrent CAS from the same value: exactly one can win; the loser's 409 is a definite fail.
  t.ok(checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('a', 'a1', 'a2', 'ok', 10, 20), cas('b', 'a1', 'b1', 'fail', 11, 19), read('c', 'a2', 21, 22)]).ok, 'concurrent CAS, one wins')
  // A read overlapping a write may see either value.
  t.ok(checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('a', 'a1', 'a2', 'ok', 10, 20), read('b', 'a1', 11, 12), read('c', 'a2', 13, 14)]).ok, 'reads inside a write interval see old then new')
  // An unknown-outcome write may have taken effect late (after a later read) or never.
  t.ok(checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('b', 'a1', 'b1', 'info', 6, 0), read('c', 'a1', 10, 11), read('c', 'b1', 20, 21)]).ok, 'an unknown write that took effect late')
  t.ok(checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('b', 'a1', 'b1', 'info', 6, 0), read('c', 'a1', 30, 31)]).ok, 'an unknown write that never took effect')
})

t.test('non-linearizable CAS-register histories fail', async (t) => {
  t.notOk(checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('a', 'a1', 'a2', 'ok', 10, 20), read('b', 'a1', 30, 31)]).ok, 'a stale read after the write completed')
  t.notOk(checkRegister([read('b', 'a1', 0, 1), cas('a', null, 'a1', 'ok', 5, 10)]).ok, 'a read from the future')
  t.notOk(checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('a', 'a1', 'a2', 'ok', 10, 20), cas('b', 'a1', 'b1', 'ok', 11, 19)]).ok, 'two CAS from the same value both succeeding')
  t.notOk(checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('b', 'a1', 'b1', 'fail', 10, 20), read('c', 'a1', 21, 22)]).ok, 'a CAS refused although the register held its expected value throughout')
  t.notOk(checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('b', null, 'b1', 'ok', 10, 20)]).ok, 'a second create succeeding')
  const verdict = checkRegister([cas('a', null, 'a1', 'ok', 0, 5), cas('a', 'a1', 'a2', 'ok', 10, 20), read('b', 'a1', 30, 31)])
  t.ok((verdict.stuck?.length ?? 0) > 0, 'the verdict names the operations that could not be placed')
})

t.test('a long concurrent history is checked quickly', async (t) => {
  // Three clients, 600 operations, every CAS racing the others'; built to be linearizable.
  const history: RegisterOperation[] = []
  let value: RegisterValue = null
  let time = 0
  for (let i = 0; i < 200; i++) {
    const winner = `w${i}`
    history.push(read('a', value, time, time + 3))
    history.push(cas('b', value, winner, 'ok', time + 1, time + 5))
    history.push(cas('c', value, `l${i}`, 'fail', time + 2, time + 6))
    value = winner
    time += 10
  }
  const started = performance.now()
  t.ok(checkRegister(history).ok, 'linearizable')
  t.ok(performance.now() - started < 5_000, 'within 5 s')
})

t.test('lost acknowledged writes are found', async (t) => {
  const history = [cas('a', null, 'a1', 'ok', 0, 5), cas('a', 'a1', 'a2', 'ok', 10, 20), cas('b', 'a1', 'b1', 'info', 11, 0)]
  t.equal(lostAcknowledgedWrite(history, 'a2'), undefined, 'the last acknowledged write is the final value')
  t.equal(lostAcknowledgedWrite(history, 'b1'), undefined, 'an unknown write that may have come after it')
  t.same(lostAcknowledgedWrite(history, 'a1'), { value: 'a2', completeTime: 20, finalValue: 'a1' }, 'an older value after heal loses the last acknowledged write')
  t.same(lostAcknowledgedWrite(history, null)?.value, 'a2', 'an empty register after heal loses it too')
})

t.test('schedules are deterministic per seed', async (t) => {
  const hosts = labPlan({ hosts: 3, zones: 3 }).hosts
  t.same(shortSchedule({ seed: 7, hosts }), shortSchedule({ seed: 7, hosts }), 'short: same seed, same schedule')
  t.same(longSchedule({ seed: 7, hosts }), longSchedule({ seed: 7, hosts }), 'long: same seed, same schedule')
  const seeds = Array.from({ length: 10 }, (_, i) => JSON.stringify(longSchedule({ seed: i, hosts })))
  t.ok(new Set(seeds).size > 1, 'different seeds give different schedules')
  const short = shortSchedule({ seed: 7, hosts })
  t.same(short.map((step) => step.fault.kind), ['kill-leader-host', 'partition-minority', 'kill-zone'], 'short: kill the leader host, partition a minority, kill a zone')
  const partition = short[1]!.fault
  t.ok(partition.kind === 'partition-minority' && partition.minority.length === 1, 'a minority of three is one host')
})

t.test('partitions become one atomic nft batch', async (t) => {
  t.same(partitionLinks([['h1'], ['h2', 'h3']]), [{ from: 'h1', to: 'h2' }, { from: 'h1', to: 'h3' }, { from: 'h2', to: 'h1' }, { from: 'h3', to: 'h1' }], 'symmetric: both ways')
  t.same(partitionLinks([['h1'], ['h2']], true), [{ from: 'h1', to: 'h2' }], 'one-way: only from the first group')
  const batch = new SwitchChaos(labPlan({ hosts: 3, zones: 3 })).batch()
  t.ok(batch.nftables.some((command) => 'flush' in command), 'each batch rewrites the set and the loss chain from scratch')
})
