// Goal: the node agent's loop makes pods real on a runtime and reports them as the kubelet does:
// a pod becomes Running with ids, IPs and the kubelet's events; a crashing container restarts
// with a doubling back-off and shows CrashLoopBackOff; init containers run in order; restart
// policies end pods Succeeded or Failed; a failed liveness probe restarts a container; a missing
// image or config map holds a container back with the kubelet's reasons and it recovers once
// fixed; a changed spec recreates the container; exited instances are collected down to one per
// name; a deleted pod is stopped with its grace period and removed; a restarted agent adopts
// running containers; containers of unknown pods are collected; stop() leaves containers running.
// Method: AgentWorld (in-process API, the hollow runtime on simulated time, fake probe results).
import t, { type Test } from 'tap'
import { RUNTIME_LABELS } from '../../runtime/src/runtime.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { listAt, metadataOf, objectAt, specOf, statusOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { PODS } from '../../node/src/controllers/plan.ts'
import { AgentWorld, CONFIG_MAPS, stateText } from './agent-world.ts'

function podSpec(name: string, options: { command?: string; restartPolicy?: string; inits?: JsonObject[]; image?: string; extra?: JsonObject; containerExtra?: JsonObject; nodeName?: string } = {}): JsonObject {
  return {
    metadata: { name },
    spec: {
      nodeName: options.nodeName ?? 'node-a',
      restartPolicy: options.restartPolicy ?? 'Always',
      ...(options.inits === undefined ? {} : { initContainers: options.inits }),
      containers: [{ name: 'main', image: options.image ?? 'flotilla/busybox:local', command: ['sh', '-c', options.command ?? 'echo hello; sleep 3600'], ...options.containerExtra }],
      ...options.extra,
    },
  }
}

async function world(t: Test, options: ConstructorParameters<typeof AgentWorld>[0] = {}): Promise<AgentWorld> {
  const created = new AgentWorld(options)
  t.teardown(() => created.stop())
  await created.start()
  return created
}

t.test('a pod bound to the node becomes Running, with the kubelet\'s status and events', async (t) => {
  const w = await world(t)
  await w.createPod(podSpec('web'))
  await w.runUntil('the pod runs', 5000, async () => statusOf((await w.pod('web'))!)['phase'] === 'Running')
  const pod = (await w.pod('web'))!
  const status = statusOf(pod)
  const main = objectAt(listAt(status['containerStatuses'])[0])
  t.equal(stateText(main), 'running')
  t.match(main['containerID'], /^hollow:\/\/\S+$/, 'the container id carries the runtime scheme')
  t.equal(main['ready'], true)
  t.equal(main['started'], true)
  t.equal(main['restartCount'], 0)
  t.match(status['podIP'], /^10\.244\.\d+\.\d+$/, 'the pod IP is the sandbox\'s')
  t.equal(status['hostIP'], '192.168.1.10')
  t.same(
    listAt(status['conditions']).map((condition) => `${String(objectAt(condition)['type'])}=${String(objectAt(condition)['status'])}`),
    ['Initialized=True', 'Ready=True', 'ContainersReady=True', 'PodScheduled=True'],
  )
  const containers = await w.containersOf(uidOf(pod))
  t.equal(containers.length, 1, 'one container in the runtime')
  t.equal(containers[0]!.labels[RUNTIME_LABELS.containerName], 'main')
  t.same(await w.events('web'), ['Pulled: Container image "flotilla/busybox:local" already present on machine', 'Created: Created container main', 'Started: Started container main'])
  const before = metadataOf((await w.pod('web'))!)['resourceVersion']
  for (let i = 0; i < 10; i++) await w.step(500)
  t.equal(metadataOf((await w.pod('web'))!)['resourceVersion'], before, 'a pod that does not change is not rewritten')
})

t.test('a crashing container restarts with a doubling back-off and shows CrashLoopBackOff', async (t) => {
  const w = await world(t)
  await w.createPod(podSpec('crash', { command: 'echo dying; exit 3' }))
  await w.runUntil('the container is in CrashLoopBackOff', 5000, async () => stateText(await w.containerStatus('crash', 'main')) === 'waiting:CrashLoopBackOff')
  const waiting = (await w.containerStatus('crash', 'main'))!
  t.equal(waiting['restartCount'], 1, 'restarted once at once, then backing off')
  t.match(objectAt(objectAt(waiting['state'])['waiting'])['message'], /^back-off 10s restarting failed container=main pod=crash_default\(/)
  t.same(objectAt(objectAt(waiting['lastState'])['terminated'])['exitCode'], 3, 'the last exit is in lastState')
  t.equal(statusOf((await w.pod('crash'))!)['phase'], 'Running', 'Always: the pod is Running while it restarts')
  // Restart times: 10 s after the second exit, then 20 s after the third.
  const restartedAt: number[] = []
  let count = 1
  await w.runUntil('two more restarts', 60_000, async () => {
    const current = Number((await w.containerStatus('crash', 'main'))?.['restartCount'])
    if (current > count) {
      count = current
      restartedAt.push(w.timers.monotonicMs())
    }
    return count >= 3
  }, 500)
  t.ok(restartedAt[1]! - restartedAt[0]! >= 20_000 && restartedAt[1]! - restartedAt[0]! <= 21_500, `the second back-off is 20 s (${restartedAt[1]! - restartedAt[0]!} ms)`)
  const pod = (await w.pod('crash'))!
  const instances = await w.containersOf(uidOf(pod))
  t.ok(instances.length <= 2, `exited instances are collected down to the newest and the one before (${instances.length})`)
  const events = await w.events('crash')
  t.ok(events.includes('BackOff: Back-off restarting failed container'), 'BackOff events')
})

t.test('init containers run in order before the app container', async (t) => {
  const w = await world(t)
  const inits = [
    { name: 'first', image: 'flotilla/busybox:local', command: ['sh', '-c', 'echo one; sleep 2'] },
    { name: 'second', image: 'flotilla/busybox:local', command: ['sh', '-c', 'echo two'] },
  ]
  await w.createPod(podSpec('ordered', { inits }))
  await w.runUntil('the first init container runs', 3000, async () => stateText(await w.containerStatus('ordered', 'first')) === 'running')
  t.equal(stateText(await w.containerStatus('ordered', 'second')), 'waiting:PodInitializing')
  t.equal(stateText(await w.containerStatus('ordered', 'main')), 'waiting:PodInitializing')
  t.equal(statusOf((await w.pod('ordered'))!)['phase'], 'Pending')
  await w.runUntil('the pod runs', 10_000, async () => statusOf((await w.pod('ordered'))!)['phase'] === 'Running')
  t.equal(stateText(await w.containerStatus('ordered', 'first')), 'terminated:Completed')
  t.equal(stateText(await w.containerStatus('ordered', 'second')), 'terminated:Completed')
  const events = (await w.events('ordered')).filter((event) => event.startsWith('Started'))
  t.same(events, ['Started: Started container first', 'Started: Started container second', 'Started: Started container main'], 'in order')
})

t.test('restart policies: Never ends Succeeded or Failed, a failed init container fails the pod', async (t) => {
  const w = await world(t)
  await w.createPod(podSpec('done', { command: 'echo ok', restartPolicy: 'Never' }))
  await w.createPod(podSpec('broken', { command: 'exit 2', restartPolicy: 'Never' }))
  await w.createPod(podSpec('bad-init', { restartPolicy: 'Never', inits: [{ name: 'setup', image: 'flotilla/busybox:local', command: ['sh', '-c', 'exit 1'] }] }))
  await w.createPod(podSpec('job', { command: 'exit 0', restartPolicy: 'OnFailure' }))
  const phase = async (name: string): Promise<unknown> => statusOf((await w.pod(name))!)['phase']
  await w.runUntil('every pod finished', 10_000, async () => (await phase('done')) === 'Succeeded' && (await phase('broken')) === 'Failed' && (await phase('bad-init')) === 'Failed' && (await phase('job')) === 'Succeeded')
  t.equal(stateText(await w.containerStatus('broken', 'main')), 'terminated:Error')
  t.equal(stateText(await w.containerStatus('bad-init', 'main')), 'waiting:PodInitializing', 'the app container never ran')
  const sandboxes = await w.runtime.listSandboxes()
  t.ok(sandboxes.every((sandbox) => sandbox.state === 'notready'), 'finished pods keep no sandbox running')
  for (let i = 0; i < 20; i++) await w.step(1000)
  const restarted = (await w.containersOf(uidOf((await w.pod('done'))!))).length
  t.equal(restarted, 1, 'nothing restarted afterwards')
})

t.test('a failed liveness probe restarts the container', async (t) => {
  const w = await world(t)
  const pod = await w.createPod(podSpec('live', { containerExtra: { livenessProbe: { exec: { command: ['true'] } } } }))
  await w.runUntil('the pod runs', 5000, async () => statusOf((await w.pod('live'))!)['phase'] === 'Running')
  const first = (await w.containerStatus('live', 'main'))!['containerID']
  w.probes!.set(uidOf(pod), 'main', { livenessFailed: true, message: 'exit code 1' })
  await w.runUntil('the container restarted', 40_000, async () => (await w.containerStatus('live', 'main'))?.['restartCount'] === 1 && stateText(await w.containerStatus('live', 'main')) === 'running')
  t.not((await w.containerStatus('live', 'main'))!['containerID'], first, 'a new container')
  const events = await w.events('live')
  t.ok(events.includes('Unhealthy: Liveness probe failed: exit code 1'), 'Unhealthy event')
  t.ok(events.includes('Killing: Container main failed liveness probe, will be restarted'), 'Killing event')
})

t.test('a missing image waits in ErrImageNeverPull and starts once the image is there', async (t) => {
  const w = await world(t)
  await w.createPod(podSpec('noimage', { image: 'example.com/nope:1' }))
  await w.runUntil('ErrImageNeverPull', 5000, async () => stateText(await w.containerStatus('noimage', 'main')) === 'waiting:ErrImageNeverPull')
  t.equal(objectAt(objectAt((await w.containerStatus('noimage', 'main'))!['state'])['waiting'])['message'], 'Container image "example.com/nope:1" is not present with pull policy of Never')
  const events = await w.events('noimage')
  t.ok(events.includes('ErrImageNeverPull: Container image "example.com/nope:1" is not present with pull policy of Never'))
  t.ok(events.includes('Failed: Error: ErrImageNeverPull'))
  w.runtime.engine.addImage('example.com/nope:1')
  await w.runUntil('the container runs once the image exists', 60_000, async () => stateText(await w.containerStatus('noimage', 'main')) === 'running', 500)
})

t.test('a missing config map holds the container in CreateContainerConfigError until it exists', async (t) => {
  const w = await world(t)
  const env = [{ name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'greeting' } } }]
  await w.createPod(podSpec('configured', { command: 'echo $GREETING; sleep 3600', containerExtra: { env } }))
  await w.runUntil('CreateContainerConfigError', 5000, async () => stateText(await w.containerStatus('configured', 'main')) === 'waiting:CreateContainerConfigError')
  t.equal(objectAt(objectAt((await w.containerStatus('configured', 'main'))!['state'])['waiting'])['message'], 'configmap "cfg" not found')
  await w.client.create(CONFIG_MAPS, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { greeting: 'hi there' } })
  await w.runUntil('the container runs', 60_000, async () => stateText(await w.containerStatus('configured', 'main')) === 'running', 500)
  const pod = (await w.pod('configured'))!
  const [instance] = await w.containersOf(uidOf(pod))
  const logs = await w.runtime.logs(instance!.id, {})
  t.equal(String(await logs.toArray().then((chunks) => Buffer.concat(chunks.map((chunk) => Buffer.from(chunk))))), 'hi there\n', 'the env reached the container')
})

t.test('a changed container spec recreates the container', async (t) => {
  const w = await world(t)
  await w.createPod(podSpec('changing'))
  await w.runUntil('the pod runs', 5000, async () => stateText(await w.containerStatus('changing', 'main')) === 'running')
  const pod = (await w.pod('changing'))!
  const containers = listAt(specOf(pod)['containers']).map(objectAt)
  w.runtime.engine.addImage('example.com/web:2')
  await w.client.update(PODS, 'default', 'changing', { ...pod, spec: { ...specOf(pod), containers: [{ ...containers[0], image: 'example.com/web:2' }] } })
  await w.runUntil('the new container runs', 60_000, async () => {
    const status = await w.containerStatus('changing', 'main')
    return status?.['image'] === 'example.com/web:2' && stateText(status) === 'running' && status['restartCount'] === 1
  }, 500)
  t.ok((await w.events('changing')).includes('Killing: Container main definition changed, will be restarted'))
})

t.test('a deleted pod is stopped with its grace period and removed', async (t) => {
  const w = await world(t)
  const pod = await w.createPod(podSpec('leaving', { extra: { terminationGracePeriodSeconds: 5 } }))
  await w.runUntil('the pod runs', 5000, async () => stateText(await w.containerStatus('leaving', 'main')) === 'running')
  await w.client.delete(PODS, 'default', 'leaving', uidOf(pod))
  await w.step(2000)
  const during = await w.containersOf(uidOf(pod))
  t.ok(during.some((container) => container.state === 'running'), 'still running within the grace period (PID 1 ignores SIGTERM)')
  await w.runUntil('the containers are gone', 10_000, async () => (await w.containersOf(uidOf(pod))).length === 0 && (await w.runtime.listSandboxes()).length === 0)
  t.ok(w.timers.monotonicMs() >= 5000, 'after the grace period')
  t.equal(await w.pod('leaving'), undefined, 'the pod is gone from the API')
  t.equal(w.agent!.podCount, 0, 'the agent forgot it')
})

t.test('a restarted agent adopts running containers; containers of unknown pods are collected', async (t) => {
  const w = await world(t)
  const pod = await w.createPod(podSpec('steady'))
  await w.runUntil('the pod runs', 5000, async () => stateText(await w.containerStatus('steady', 'main')) === 'running')
  const before = await w.pod('steady')
  const ids = (await w.containersOf(uidOf(pod))).map((container) => container.id)
  w.agent!.stop()
  t.ok((await w.containersOf(uidOf(pod))).every((container) => container.state === 'running'), 'stop() leaves containers running')
  // A stray pod's sandbox and container, labelled for this node, whose pod the API never had.
  const stray = await w.runtime.runSandbox({ pod: { uid: 'stray-uid', name: 'stray', namespace: 'default' }, hostname: 'stray', network: 'bridge' })
  await w.runtime.startContainer(await w.runtime.createContainer(stray.id, { name: 'x', attempt: 0, image: 'flotilla/busybox:local', command: ['sleep', '3600'] }))
  w.startAgent()
  await w.runUntil('the stray containers are collected', 10_000, async () => (await w.containersOf('stray-uid')).length === 0 && !(await w.runtime.listSandboxes()).some((sandbox) => sandbox.pod.uid === 'stray-uid'))
  for (let i = 0; i < 5; i++) await w.step(1000)
  t.same((await w.containersOf(uidOf(pod))).map((container) => container.id), ids, 'the same containers, not restarted')
  t.equal(metadataOf((await w.pod('steady'))!)['resourceVersion'], metadataOf(before!)['resourceVersion'], 'the pod was not rewritten')
})

t.test('a pod bound to another node is not run here', async (t) => {
  const w = await world(t)
  await w.createPod(podSpec('elsewhere', { nodeName: 'node-b' }))
  for (let i = 0; i < 5; i++) await w.step(500)
  t.same(await w.runtime.listContainers(), [])
  t.notOk(statusOf((await w.pod('elsewhere'))!)['containerStatuses'], 'and not reported')
})

t.test('with the probe manager: readiness gates Ready, a failing liveness probe restarts the container', async (t) => {
  const w = await world(t, { realProbes: true })
  const probe = (file: string): JsonObject => ({ exec: { command: ['cat', file] }, periodSeconds: 1, failureThreshold: 2 })
  const pod = await w.createPod(podSpec('probed', { command: 'touch /tmp/healthy; sleep 3600', containerExtra: { livenessProbe: probe('/tmp/healthy'), readinessProbe: probe('/tmp/ready') } }))
  await w.runUntil('the container runs', 5000, async () => stateText(await w.containerStatus('probed', 'main')) === 'running')
  for (let i = 0; i < 5; i++) await w.step(500)
  const ready = async (): Promise<unknown> => listAt(statusOf((await w.pod('probed'))!)['conditions']).map(objectAt).find((condition) => condition['type'] === 'Ready')?.['status']
  t.equal(await ready(), 'False', 'not Ready while the readiness probe fails')
  t.equal((await w.containerStatus('probed', 'main'))!['ready'], false)
  const [instance] = (await w.containersOf(uidOf(pod))).filter((container) => container.state === 'running')
  const touched = await w.runtime.execSync(instance!.id, ['touch', '/tmp/ready'], 1000)
  t.equal(touched.exitCode, 0)
  await w.runUntil('Ready once the readiness probe passes', 10_000, async () => (await ready()) === 'True')
  const removed = await w.runtime.execSync(instance!.id, ['rm', '/tmp/healthy'], 1000)
  t.equal(removed.exitCode, 0)
  await w.runUntil('the container restarted after two failed liveness probes', 60_000, async () => (await w.containerStatus('probed', 'main'))?.['restartCount'] === 1 && stateText(await w.containerStatus('probed', 'main')) === 'running')
  t.ok((await w.events('probed')).some((event) => event.startsWith('Unhealthy: Liveness probe failed')), 'Unhealthy event')
})

t.test('addresses of pods that left no trace (no pod, no sandbox) are released; live ones are kept', async (t) => {
  const w = await world(t)
  const addresses = new Map<string, string>([['ghost-uid', '10.244.0.9']])
  let next = 10
  w.agent?.stop()
  const agent = w.startAgent({
    sandboxNetwork: 'none',
    podNetwork: {
      setUp: async (pod) => {
        const ip = addresses.get(pod.uid) ?? `10.244.0.${next++}`
        addresses.set(pod.uid, ip)
        return ip
      },
      tearDown: async (uid) => void addresses.delete(uid),
      podsWithAddresses: () => [...addresses.keys()],
    },
  })
  await w.createPod(podSpec('live'))
  await w.runUntil('the pod runs', 5000, async () => statusOf((await w.pod('live'))!)['phase'] === 'Running')
  const liveUid = uidOf((await w.pod('live'))!)
  t.equal(await agent.releaseLeakedPodAddresses(), 1, 'one address released')
  t.same([...addresses.keys()], [liveUid], 'the ghost\'s address is free; the running pod keeps its own')
  t.equal(await agent.releaseLeakedPodAddresses(), 0, 'nothing more to release')
})
