// Goal: a node cut off from a majority of the Raft voters fences itself before the majority can
// have replaced its pods: it stops the containers of StatefulSet pods (at most one of each identity
// may run) and leaves other pods alone; it writes nothing while fenced; when it hears a majority
// again the fence lifts and the pods run again. A node that hears a majority never fences.
// Method: the pure majority rule as a table; NodeFence on simulated time with scripted silences;
// the pod agent on the hollow runtime (AgentWorld) with the fence flag driven by the test.
import t from 'tap'
import { TimersSim } from '../../lib/timers.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { FENCE_AFTER_MS_DEFAULT, FENCE_HEARD_WINDOW_MS_DEFAULT, hearsMajority, mustRunAtMostOnce, NodeFence } from '../../node/src/agent/node-fence.ts'
import { metadataOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { AgentWorld } from './agent-world.ts'

t.test('a node hears a majority when more than half of the voters (itself included) were heard', async (t) => {
  const cases: Array<{ voters: string[]; self: string; heard: string[]; majority: boolean }> = [
    { voters: [], self: 'a', heard: [], majority: true },
    { voters: ['a'], self: 'a', heard: [], majority: true },
    { voters: ['a', 'b', 'c'], self: 'a', heard: ['b'], majority: true },
    { voters: ['a', 'b', 'c'], self: 'a', heard: [], majority: false },
    { voters: ['a', 'b', 'c', 'd'], self: 'a', heard: ['b'], majority: false },
    { voters: ['a', 'b', 'c', 'd'], self: 'a', heard: ['b', 'c'], majority: true },
    { voters: ['a', 'b', 'c', 'd', 'e'], self: 'a', heard: ['b'], majority: false },
    // A node that is not a voter needs to hear a majority of the voters themselves.
    { voters: ['b', 'c', 'd'], self: 'a', heard: ['b'], majority: false },
    { voters: ['b', 'c', 'd'], self: 'a', heard: ['b', 'd'], majority: true },
  ]
  for (const { voters, self, heard, majority } of cases) {
    t.equal(hearsMajority(voters, self, (id) => heard.includes(id)), majority, `voters ${voters.join(',') || '-'}, self ${self}, heard ${heard.join(',') || '-'}`)
  }
})

t.test('only pods a StatefulSet controls must run at most once', async (t) => {
  const owned = (kind: string, controller: boolean): JsonObject => ({ metadata: { name: 'p', ownerReferences: [{ apiVersion: 'apps/v1', kind, name: 'o', uid: 'u', controller }] } })
  t.equal(mustRunAtMostOnce(owned('StatefulSet', true)), true)
  t.equal(mustRunAtMostOnce(owned('StatefulSet', false)), false, 'an owner that is not the controller does not count')
  t.equal(mustRunAtMostOnce(owned('ReplicaSet', true)), false)
  t.equal(mustRunAtMostOnce({ metadata: { name: 'bare' } }), false)
})

t.test('the fence goes up after being cut off for fenceAfterMs and comes down when a majority is heard', async (t) => {
  const timers = new TimersSim()
  const lastHeardMs = new Map<string, number>([['b', 0], ['c', 0]])
  let cutOff = false
  const changes: Array<{ atMs: number; fenced: boolean }> = []
  const fence = new NodeFence({
    timers,
    voters: () => ['a', 'b', 'c'],
    selfId: 'a',
    silentForMs: (id) => timers.monotonicMs() - (lastHeardMs.get(id) ?? 0),
    onChange: (fenced) => changes.push({ atMs: timers.monotonicMs(), fenced }),
    log: () => {},
  })
  // Heartbeats every second while connected.
  const beat = (): void => {
    if (!cutOff) for (const id of lastHeardMs.keys()) lastHeardMs.set(id, timers.monotonicMs())
    timers.after(1000, beat)
  }
  beat()
  fence.start()
  timers.advance(10_000)
  t.same(changes, [], 'connected: never fenced')
  cutOff = true
  const cutAtMs = timers.monotonicMs()
  timers.advance(10_000)
  t.equal(changes.length, 1)
  const up = changes[0]!
  t.equal(up.fenced, true)
  const tookMs = up.atMs - cutAtMs
  t.ok(tookMs >= FENCE_AFTER_MS_DEFAULT, `not before fenceAfterMs (fenced ${tookMs} ms after the cut)`)
  t.ok(tookMs <= FENCE_HEARD_WINDOW_MS_DEFAULT + 1000 + FENCE_AFTER_MS_DEFAULT + 250, `within heard window + one beat + fenceAfterMs + one check (${tookMs} ms)`)
  t.equal(fence.fenced, true)
  cutOff = false
  timers.advance(2000)
  t.same(changes.map((change) => change.fenced), [true, false], 'lifted once heartbeats arrive again')
  t.equal(fence.fenced, false)
  fence.stop()
})

t.test('the fence lifts only after the store caught up, and a stalled process fences on waking', async (t) => {
  const timers = new TimersSim()
  let connected = false
  let confirmations = 0
  let release: (() => void) | undefined
  const changes: boolean[] = []
  const fence = new NodeFence({
    timers,
    voters: () => ['a', 'b', 'c'],
    selfId: 'a',
    silentForMs: () => (connected ? 0 : 60_000),
    confirmCaughtUp: () => {
      confirmations++
      return new Promise<void>((resolve) => (release = resolve))
    },
    onChange: (fenced) => changes.push(fenced),
    log: () => {},
  })
  fence.start()
  timers.advance(5000)
  t.same(changes, [true], 'cut off: fenced')
  connected = true
  timers.advance(2000)
  t.equal(fence.fenced, true, 'connected again but not caught up: still fenced')
  t.equal(confirmations, 1, 'one catch-up at a time')
  release?.()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(changes, [true, false], 'caught up: lifted')

  // A process that did not run for 10 s (frozen): its next check fences even though it hears everyone.
  const stalled = new NodeFence({ timers, voters: () => ['a', 'b', 'c'], selfId: 'a', silentForMs: () => 0, onChange: (fenced) => changes.push(fenced), log: () => {} })
  stalled.check()
  const frozenTimers = timers
  frozenTimers.advance(10_000)
  stalled.check()
  t.equal(stalled.fenced, true, 'fenced after the stall')
  stalled.check()
  t.equal(stalled.fenced, false, 'and, hearing a majority (no confirmation configured), lifted on the next check')
  fence.stop()
})

t.test('while fenced the agent stops StatefulSet pods (only), writes nothing, and runs them again after', async (t) => {
  const w = new AgentWorld()
  t.teardown(() => w.stop())
  await w.start()
  let fenced = false
  w.agent?.stop()
  const agent = w.startAgent({ fenced: (pod) => fenced && mustRunAtMostOnce(pod) })
  const container = { name: 'main', image: 'flotilla/busybox:local', command: ['sh', '-c', 'sleep 3600'] }
  await w.createPod({ metadata: { name: 'db-0', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'sts-uid', controller: true }] }, spec: { nodeName: 'node-a', containers: [container] } })
  await w.createPod({ metadata: { name: 'web' }, spec: { nodeName: 'node-a', containers: [container] } })
  const running = async (name: string): Promise<boolean> => {
    const pod = await w.pod(name)
    if (pod === undefined) return false
    return (await w.containersOf(uidOf(pod))).some((status) => status.state === 'running')
  }
  await w.runUntil('both pods run', 5000, async () => (await running('db-0')) && (await running('web')))
  const versionBefore = metadataOf((await w.pod('db-0'))!)['resourceVersion']

  fenced = true
  agent.fenceChanged()
  await w.runUntil('the StatefulSet pod is stopped', 2000, async () => !(await running('db-0')))
  for (let i = 0; i < 10; i++) await w.step(500)
  t.equal(await running('db-0'), false, 'stays stopped while fenced (no restart)')
  t.equal(await running('web'), true, 'a Deployment-style pod keeps running')
  t.equal(metadataOf((await w.pod('db-0'))!)['resourceVersion'], versionBefore, 'nothing written about the fenced pod')

  fenced = false
  agent.fenceChanged()
  await w.runUntil('the StatefulSet pod runs again', 30_000, async () => running('db-0'))
  t.pass('runs again after the fence lifted')
})
