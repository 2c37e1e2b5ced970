// Goal: the crash-loop back-off follows the kubelet: the first restart is immediate, later ones
// wait 10 s, 20 s, 40 s … up to 300 s counted from the exit, and a container that ran for more
// than 10 minutes starts over; the printed back-off matches the kubelet's Go durations.
// Method: a CrashBackoff driven with explicit times (no clock), restarting whenever allowed.
import t from 'tap'
import { CrashBackoff, formatBackoff } from '../../node/src/agent/crash-backoff.ts'

t.test('restarts of a container that exits 1 s after each start', async (t) => {
  const backoff = new CrashBackoff()
  let nowMs = 0
  const waits: number[] = []
  for (let restart = 0; restart < 8; restart++) {
    const finishedAtMs = nowMs + 1000
    const { remainingMs } = backoff.remainingMs('u', 'web', finishedAtMs, finishedAtMs)
    waits.push(remainingMs / 1000)
    nowMs = finishedAtMs + remainingMs
    t.equal(backoff.remainingMs('u', 'web', finishedAtMs, nowMs).remainingMs, 0, 'allowed once the back-off passed')
    backoff.recordRestart('u', 'web', finishedAtMs)
  }
  t.same(waits, [0, 10, 20, 40, 80, 160, 300, 300], 'immediate, then doubling from 10 s, capped at 300 s')
})

t.test('a back-off holds from the exit and reports what is in force', async (t) => {
  const backoff = new CrashBackoff({ initialMs: 200, maxMs: 1000 })
  backoff.recordRestart('u', 'web', 5000)
  t.same(backoff.remainingMs('u', 'web', 5100, 5150), { remainingMs: 150, backoffMs: 200 }, 'the second crash waits the rest of 200 ms')
  t.same(backoff.remainingMs('u', 'web', 5100, 5300), { remainingMs: 0, backoffMs: 200 })
  t.same(backoff.remainingMs('u', 'other', 5100, 5150), { remainingMs: 0, backoffMs: 0 }, 'per container name')
  t.same(backoff.remainingMs('v', 'web', 5100, 5150), { remainingMs: 0, backoffMs: 0 }, 'per pod')
})

t.test('a container that ran longer than the reset time starts over', async (t) => {
  const backoff = new CrashBackoff()
  backoff.recordRestart('u', 'web', 0)
  backoff.recordRestart('u', 'web', 20_000)
  t.equal(backoff.remainingMs('u', 'web', 30_000, 30_000).backoffMs, 20_000, 'doubled while crashing fast')
  const lateExitMs = 20_000 + 600_001
  t.same(backoff.remainingMs('u', 'web', lateExitMs, lateExitMs), { remainingMs: 0, backoffMs: 0 }, 'an exit more than 10 min later restarts at once')
  backoff.recordRestart('u', 'web', lateExitMs)
  t.equal(backoff.remainingMs('u', 'web', lateExitMs + 1000, lateExitMs + 1000).backoffMs, 10_000, 'and the back-off is back to 10 s')
})

t.test('forgetting a pod and bounding the entries', async (t) => {
  const backoff = new CrashBackoff({ entriesMax: 2 })
  backoff.recordRestart('u', 'a', 0)
  backoff.recordRestart('u', 'b', 0)
  backoff.recordRestart('v', 'a', 0)
  t.equal(backoff.size, 2, 'the least recently used entry went')
  backoff.forgetPod('v')
  t.equal(backoff.size, 1)
  t.throws(() => new CrashBackoff({ initialMs: 0 }), /initial/)
})

t.test('back-offs print as Go durations', async (t) => {
  t.same([200, 10_000, 20_000, 80_000, 160_000, 300_000, 1500].map(formatBackoff), ['200ms', '10s', '20s', '1m20s', '2m40s', '5m0s', '1.5s'])
})
