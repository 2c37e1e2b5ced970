// Goal: the probe manager runs a pod's probes on the injected timers against real containers and
// reports flips to the agent: readiness gating Ready, liveness failure after the threshold (then
// no more probing of that instance), startup gating, initial delay, reset per container id,
// terminating pods, containers that stop being listed, httpGet probes through the manager.
// Method: containers of the hollow runtime on simulated time (TimersSim), whose exec probes read
// marker files the test creates and removes; a real HTTP server on 127.0.0.1 for httpGet.
import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { waitFor } from '../../lib/poll.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { TimersSim } from '../../lib/timers.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { ProbeManager, type ProbeTarget } from '../../node/src/agent/probes/probe-manager.ts'
import { RuntimeHollow } from '../../runtime/src/hollow-runtime.ts'
import { BUSYBOX_IMAGE } from '../../runtime/src/local-images.ts'

const POD_UID = 'pod-uid-1'
const WAIT_MS = 5_000

interface World {
  readonly timers: TimersSim
  readonly runtime: RuntimeHollow
  readonly manager: ProbeManager
  /** Pod uids passed to onChange, in order. */
  readonly changes: string[]
  readonly logs: string[]
  sandboxId: string
  podIp: string | undefined
}

async function worldOf(t: Test): Promise<World> {
  const timers = new TimersSim()
  const runtime = new RuntimeHollow({ nodeName: 'node-a', timers, random: new RandomXoshiro(11) })
  const changes: string[] = []
  const logs: string[] = []
  const manager = new ProbeManager({ runtime, timers, onChange: (podUid) => changes.push(podUid), log: (line) => logs.push(line) })
  t.teardown(() => manager.stop())
  const sandbox = await runtime.runSandbox({ pod: { uid: POD_UID, name: 'web', namespace: 'default' }, hostname: 'web', network: 'bridge' })
  return { timers, runtime, manager, changes, logs, sandboxId: sandbox.id, podIp: sandbox.ip }
}

/** Starts a long-running container; resolves with its probe target. */
async function startContainer(world: World, name: string, attempt = 0): Promise<ProbeTarget> {
  const containerId = await world.runtime.createContainer(world.sandboxId, { name, attempt, image: BUSYBOX_IMAGE, command: ['sleep', '1000000'] })
  await world.runtime.startContainer(containerId)
  const status = await world.runtime.containerStatus(containerId)
  return { podUid: POD_UID, podIp: world.podIp, containerName: name, containerId, startedAtMs: status.startedAtMs ?? world.timers.realtimeMs() }
}

async function shell(world: World, target: ProbeTarget, script: string): Promise<void> {
  const result = await world.runtime.execSync(target.containerId, ['sh', '-c', script], 1_000)
  if (result.exitCode !== 0) throw new Error(`${script} exited with ${result.exitCode}: ${result.stderr}`)
}

function podOf(containers: JsonObject[], metadata: JsonObject = {}): JsonObject {
  return { metadata: { uid: POD_UID, name: 'web', namespace: 'default', ...metadata }, spec: { containers } }
}

function fileProbe(path: string, timing: JsonObject = {}): JsonObject {
  return { exec: { command: ['cat', path] }, ...timing }
}

/** Lets probes already started finish (hollow exec completes within a few turns of the event loop). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Moves simulated time forward in steps, letting started probes finish after each. */
async function advance(world: World, ms: number, stepMs = 500): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += stepMs) {
    world.timers.advance(Math.min(stepMs, ms - elapsed))
    await settle()
  }
}

function failuresOf(world: World, kind: string): number {
  return world.logs.filter((line) => line.startsWith(`${kind} probe`) && line.includes(' failed: ')).length
}

t.test('readiness: false until the first success, flips with the probe, onChange on each flip', async (t) => {
  const world = await worldOf(t)
  const target = await startContainer(world, 'app')
  const pod = podOf([{ name: 'app', readinessProbe: fileProbe('/tmp/ready', { periodSeconds: 5, failureThreshold: 2 }) }])
  world.manager.updatePod(pod, [target])
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: false, started: true, livenessFailed: false })
  await settle()
  t.equal(failuresOf(world, 'readiness'), 1, 'probed at once')
  t.same(world.changes, [], 'a failing readiness probe is no flip: readiness starts false')

  await shell(world, target, 'touch /tmp/ready')
  await advance(world, 5_000)
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: true, started: true, livenessFailed: false })
  t.same(world.changes, [POD_UID])

  await shell(world, target, 'rm /tmp/ready')
  await advance(world, 5_000)
  t.equal(world.manager.resultOf(POD_UID, 'app').ready, true, 'one failure is below failureThreshold 2')
  await advance(world, 5_000)
  const notReady = world.manager.resultOf(POD_UID, 'app')
  t.equal(notReady.ready, false)
  t.match(notReady.message, /^cat: can't open '\/tmp\/ready'/)
  t.same(world.changes, [POD_UID, POD_UID])
})

t.test('liveness: fails after failureThreshold, then holds until a new container id resets it', async (t) => {
  const world = await worldOf(t)
  const first = await startContainer(world, 'app')
  const pod = podOf([{ name: 'app', livenessProbe: fileProbe('/tmp/healthy', { periodSeconds: 10 }), readinessProbe: fileProbe('/tmp/healthy', { periodSeconds: 10 }) }])
  await shell(world, first, 'touch /tmp/healthy')
  world.manager.updatePod(pod, [first])
  await settle()
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: true, started: true, livenessFailed: false })

  await shell(world, first, 'rm /tmp/healthy')
  await advance(world, 20_000)
  t.equal(world.manager.resultOf(POD_UID, 'app').livenessFailed, false, 'two failures: still alive')
  await advance(world, 10_000)
  const failed = world.manager.resultOf(POD_UID, 'app')
  t.equal(failed.livenessFailed, true)
  t.match(failed.message, /^cat: can't open '\/tmp\/healthy'/)
  await advance(world, 60_000)
  t.equal(failuresOf(world, 'liveness'), 3, 'no liveness probe runs on a container that failed it')

  // The agent restarts the container: a new id, fresh results, probing again.
  const changesBefore = world.changes.length
  const second = await startContainer(world, 'app', 1)
  await shell(world, second, 'touch /tmp/healthy')
  world.manager.updatePod(pod, [second])
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: false, started: true, livenessFailed: false }, 'results reset for the new container id')
  await settle()
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: true, started: true, livenessFailed: false })
  t.equal(world.changes.length, changesBefore + 1, 'the readiness flip of the new instance is reported')
})

t.test('startup probe gates liveness and readiness; started and ready follow it', async (t) => {
  const world = await worldOf(t)
  const target = await startContainer(world, 'app')
  const pod = podOf([
    {
      name: 'app',
      startupProbe: fileProbe('/tmp/started', { periodSeconds: 1, failureThreshold: 30 }),
      livenessProbe: fileProbe('/tmp/started', { periodSeconds: 1, failureThreshold: 1 }),
    },
  ])
  world.manager.updatePod(pod, [target])
  await advance(world, 5_000)
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: false, started: false, livenessFailed: false }, 'not started, and liveness (threshold 1) did not run')
  t.equal(failuresOf(world, 'liveness'), 0)
  t.ok(failuresOf(world, 'startup') >= 5, 'the startup probe ran every second')

  await shell(world, target, 'touch /tmp/started')
  await advance(world, 1_000)
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: true, started: true, livenessFailed: false }, 'no readiness probe: ready once started')
  t.same(world.changes, [POD_UID])
})

t.test('a startup probe that never passes fails the container', async (t) => {
  const world = await worldOf(t)
  const target = await startContainer(world, 'app')
  world.manager.updatePod(podOf([{ name: 'app', startupProbe: fileProbe('/tmp/never', { periodSeconds: 2, failureThreshold: 3 }) }]), [target])
  await advance(world, 10_000)
  const result = world.manager.resultOf(POD_UID, 'app')
  t.equal(result.livenessFailed, true)
  t.equal(result.started, false)
  t.match(result.message, /^cat: can't open '\/tmp\/never'/)
})

t.test('initialDelaySeconds: no probe before the delay after the container started', async (t) => {
  const world = await worldOf(t)
  const target = await startContainer(world, 'app')
  await shell(world, target, 'touch /tmp/ready')
  world.manager.updatePod(podOf([{ name: 'app', readinessProbe: fileProbe('/tmp/ready', { initialDelaySeconds: 5, periodSeconds: 10 }) }]), [target])
  await advance(world, 4_500)
  t.equal(world.manager.resultOf(POD_UID, 'app').ready, false)
  await advance(world, 500)
  t.equal(world.manager.resultOf(POD_UID, 'app').ready, true, 'probed exactly when the delay ended')
})

t.test('a terminating pod stops liveness (reported passing) while readiness goes on', async (t) => {
  const world = await worldOf(t)
  const target = await startContainer(world, 'app')
  const containers = [{ name: 'app', livenessProbe: fileProbe('/tmp/healthy', { periodSeconds: 1, failureThreshold: 1 }), readinessProbe: fileProbe('/tmp/ready', { periodSeconds: 1 }) }]
  await shell(world, target, 'touch /tmp/ready')
  world.manager.updatePod(podOf(containers, { deletionTimestamp: '2026-01-01T00:00:00Z' }), [target])
  await advance(world, 5_000)
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: true, started: true, livenessFailed: false }, 'the missing /tmp/healthy did not fail it')
  t.equal(failuresOf(world, 'liveness'), 0)
})

t.test('containers no longer listed stop being probed; removePod and stop forget everything', async (t) => {
  const world = await worldOf(t)
  const app = await startContainer(world, 'app')
  const sidecar = await startContainer(world, 'sidecar')
  const pod = podOf([
    { name: 'app', readinessProbe: fileProbe('/tmp/ready', { periodSeconds: 1 }) },
    { name: 'sidecar', readinessProbe: fileProbe('/tmp/ready', { periodSeconds: 1 }) },
  ])
  world.manager.updatePod(pod, [app, sidecar])
  await settle()
  const failures = failuresOf(world, 'readiness')
  t.equal(failures, 2)
  world.manager.updatePod(pod, [app])
  t.same(world.manager.resultOf(POD_UID, 'sidecar'), { ready: false, started: false, livenessFailed: false }, 'not running: neither started nor ready')
  await advance(world, 3_000)
  t.equal(failuresOf(world, 'readiness'), failures + 3, 'only app was probed, once per second')
  t.same(world.manager.resultOf(POD_UID, 'unknown'), { ready: false, started: false, livenessFailed: false })

  world.manager.removePod(POD_UID)
  await advance(world, 3_000)
  t.equal(failuresOf(world, 'readiness'), failures + 3, 'nothing probed after removePod')
  world.manager.updatePod(pod, [app])
  await settle()
  world.manager.stop()
  const afterStop = failuresOf(world, 'readiness')
  await advance(world, 3_000)
  t.equal(failuresOf(world, 'readiness'), afterStop, 'nothing probed after stop')
  world.manager.updatePod(pod, [app])
  t.same(world.manager.resultOf(POD_UID, 'app'), { ready: false, started: false, livenessFailed: false }, 'a stopped manager ignores updates')
})

t.test('a result that arrives after its container was replaced is dropped', async (t) => {
  const world = await worldOf(t)
  const first = await startContainer(world, 'app')
  const pod = podOf([{ name: 'app', readinessProbe: { exec: { command: ['sleep', '0.5'] }, timeoutSeconds: 5, periodSeconds: 10 } }])
  world.manager.updatePod(pod, [first])
  // The probe of the first instance is running (sleeping); replace the container meanwhile.
  const second = await startContainer(world, 'app', 1)
  world.manager.updatePod(podOf([{ name: 'app', readinessProbe: fileProbe('/tmp/never', { periodSeconds: 10 }) }]), [second])
  await advance(world, 1_000, 100)
  t.equal(world.manager.resultOf(POD_UID, 'app').ready, false, "the first instance's success did not make the second ready")
  t.same(world.changes, [])
})

t.test('httpGet readiness through the manager against a real server', async (t) => {
  const world = await worldOf(t)
  let status = 503
  const server: Server = createServer((_request, response) => {
    response.writeHead(status)
    response.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => void server.close())
  const port = (server.address() as AddressInfo).port
  const target = { ...(await startContainer(world, 'web')), podIp: '127.0.0.1' }
  const pod = podOf([{ name: 'web', ports: [{ name: 'http', containerPort: port }], readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 2 } }])
  world.manager.updatePod(pod, [target])
  await waitFor('the first readiness failure', WAIT_MS, () => (failuresOf(world, 'readiness') === 1 ? true : undefined))
  t.equal(world.manager.resultOf(POD_UID, 'web').ready, false)
  status = 200
  world.timers.advance(2_000)
  await waitFor('the pod to become ready', WAIT_MS, () => (world.manager.resultOf(POD_UID, 'web').ready ? true : undefined))
  t.same(world.changes, [POD_UID])
})
