// Goal: the two containers under the store behave like their simple models: SortedKeys like a
// sorted array of distinct strings (range scans with limits), Deque like an array used as a FIFO.
// Method: seeded random operation sequences applied to both the container and the model, compared
// after every step.
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import { Deque } from '../../node/src/store/deque.ts'
import { SortedKeys, compareKeys } from '../../node/src/store/sorted-keys.ts'

t.test('SortedKeys matches a sorted model under random inserts, removes and scans', async (t) => {
  const random = new RandomXoshiro(21)
  const alphabet = ['a', 'b', 'z', '/', '0', 'é', '😀', '\uffff']
  const randomKey = (): string => Array.from({ length: random.int(1, 4) }, () => alphabet[random.int(0, alphabet.length)]).join('')
  const keys = new SortedKeys()
  const model = new Set<string>()
  let mismatches = 0
  for (let step = 0; step < 2000; step++) {
    const key = randomKey()
    if (random.chance(0.6)) {
      keys.insert(key)
      model.add(key)
    } else {
      keys.remove(key)
      model.delete(key)
    }
    const sorted = [...model].sort(compareKeys)
    const start = randomKey()
    const limit = random.int(1, 20)
    const inRange = sorted.filter((k) => k >= start && k.startsWith(start.slice(0, 1)))
    const scan = keys.scan(start, (k) => k.startsWith(start.slice(0, 1)), limit)
    if (JSON.stringify(scan) !== JSON.stringify({ keys: inRange.slice(0, limit), more: inRange.length > limit }) || keys.size !== model.size) mismatches++
  }
  t.equal(mismatches, 0, 'every scan equals the model')
  keys.reset(['c', 'a', 'b'])
  t.same(keys.scan('', () => true, 10), { keys: ['a', 'b', 'c'], more: false }, 'reset sorts')
})

t.test('Deque matches an array FIFO, including after reclaiming shifted slots', async (t) => {
  const random = new RandomXoshiro(22)
  const deque = new Deque<number>()
  const model: number[] = []
  let mismatches = 0
  for (let step = 0; step < 20_000; step++) {
    if (random.chance(0.55)) {
      deque.push(step)
      model.push(step)
    } else if (deque.shift() !== model.shift()) mismatches++
    const position = random.int(0, model.length + 2)
    if (deque.length !== model.length || deque.at(position) !== model[position] || deque.peek() !== model[0]) mismatches++
  }
  t.equal(mismatches, 0)
  t.equal(deque.at(-1), undefined, 'negative positions are out of range')
  deque.clear()
  t.equal(deque.length, 0)
  t.equal(deque.shift(), undefined)
})
