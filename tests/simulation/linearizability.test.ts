// Goal: the register linearizability checker accepts linearizable histories and rejects stale
// reads, lost writes and reads from the future. Method: small hand-written histories.
import t from 'tap'
import { checkRegisterHistory, type RegisterOperation } from './linearizability.ts'

const write = (value: string, invokeTime: number, completeTime: number): RegisterOperation => ({ kind: 'write', key: 'k', value, invokeTime, completeTime })
const read = (value: string | null, invokeTime: number, completeTime: number): RegisterOperation => ({ kind: 'read', key: 'k', value, invokeTime, completeTime })

t.test('checkRegisterHistory accepts sequential and overlapping histories', async (t) => {
  t.ok(checkRegisterHistory([write('a', 0, 1), read('a', 2, 3)]).ok)
  t.ok(checkRegisterHistory([read(null, 0, 1), write('a', 2, 3)]).ok)
  // Overlapping write and read may see either value.
  t.ok(checkRegisterHistory([write('a', 0, 10), read('a', 1, 2)]).ok)
  t.ok(checkRegisterHistory([write('a', 0, 10), read(null, 1, 2)]).ok)
  // An unknown-outcome write may or may not have happened.
  t.ok(checkRegisterHistory([write('a', 0, Infinity), read(null, 5, 6)]).ok)
  t.ok(checkRegisterHistory([write('a', 0, Infinity), read('a', 5, 6)]).ok)
})

t.test('checkRegisterHistory rejects stale reads and reads from the future', async (t) => {
  t.notOk(checkRegisterHistory([write('a', 0, 1), write('b', 2, 3), read('a', 4, 5)]).ok, 'stale read')
  t.notOk(checkRegisterHistory([read('a', 0, 1), write('a', 2, 3)]).ok, 'read from the future')
  t.notOk(checkRegisterHistory([write('a', 0, 1), read(null, 2, 3)]).ok, 'lost write')
  // Once a read saw b, a later read may not go back to a.
  t.notOk(checkRegisterHistory([write('a', 0, 1), write('b', 2, 20), read('b', 3, 4), read('a', 5, 6)]).ok)
})
