// Goal: the work queue keeps client-go's promises: a key waiting is queued once, a key re-added
// while processed comes back after done (never to two workers at once), delayed adds keep the
// earliest due time, failures back off exponentially up to the cap, and shutDown releases workers.
// Method: the queue on simulated timers.
import t from 'tap'
import { TimersSim } from '../../../lib/timers.ts'
import { WorkQueue } from '../../../node/src/controllers/manager/work-queue.ts'

t.test('de-duplication and re-adding while processing', async (t) => {
  const queue = new WorkQueue({ timers: new TimersSim() })
  queue.add('a')
  queue.add('b')
  queue.add('a')
  t.equal(queue.length, 2, 'a waiting key is queued once')
  const first = await queue.next()
  t.equal(first, 'a')
  queue.add('a')
  t.equal(queue.length, 1, 'a key being processed is not handed out again meanwhile')
  t.equal(await queue.next(), 'b')
  t.equal(queue.length, 0)
  queue.done('a')
  t.equal(queue.length, 1, 'it is queued again after done')
  t.equal(await queue.next(), 'a')
  queue.done('a')
  queue.done('b')
  t.ok(queue.idle, 'idle when nothing waits or runs')
})

t.test('waiting workers get keys as they arrive; shutDown releases them', async (t) => {
  const queue = new WorkQueue({ timers: new TimersSim() })
  const waiting = queue.next()
  queue.add('x')
  t.equal(await waiting, 'x', 'a waiting worker gets the next key')
  const released = queue.next()
  queue.shutDown()
  t.equal(await released, undefined, 'shutDown hands waiting workers undefined')
  queue.add('y')
  t.equal(await queue.next(), undefined, 'and nothing is queued after it')
})

t.test('delayed adds: the earliest due time wins', async (t) => {
  const timers = new TimersSim()
  const queue = new WorkQueue({ timers })
  queue.addAfter('k', 1000)
  queue.addAfter('k', 300)
  queue.addAfter('k', 2000)
  timers.advance(299)
  t.equal(queue.length, 0, 'not before its time')
  timers.advance(1)
  t.equal(queue.length, 1, 'queued at the earliest requested time')
  t.equal(await queue.next(), 'k')
  queue.done('k')
  timers.advance(5000)
  t.equal(queue.length, 0, 'the later delays were folded into the earlier one')
})

t.test('per-key back-off doubles up to the cap and resets on forget', async (t) => {
  const timers = new TimersSim()
  const queue = new WorkQueue({ timers, baseDelayMs: 100, maxDelayMs: 1000 })
  const delays: number[] = []
  for (let failure = 0; failure < 6; failure++) {
    delays.push(queue.addRateLimited('k'))
    timers.advance(delays.at(-1)!)
    t.equal(await queue.next(), 'k')
    queue.done('k')
  }
  t.same(delays, [100, 200, 400, 800, 1000, 1000], 'exponential, capped')
  t.equal(queue.failuresOf('k'), 6)
  queue.forget('k')
  t.equal(queue.addRateLimited('k'), 100, 'forget resets the back-off')
  t.equal(queue.addRateLimited('other'), 100, 'keys back off independently')
})
