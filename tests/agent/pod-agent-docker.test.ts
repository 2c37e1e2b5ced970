// Goal (smoke): the node agent runs pods on the real Docker engine: a busybox pod becomes Running
// and its logs say "hello"; a crashing one reaches CrashLoopBackOff (200 ms initial back-off);
// deleting the pods stops and removes their containers and finishes the deletion in the API.
// Method: PodAgent with RuntimeDocker under a unique node name (`agent-test-<random>`), an
// in-process API (MemoryObjectBackend, ObjectClient, informers) and real time; every container
// labelled with that node name is removed at the end. Without a reachable engine the test
// skips, or fails when CI=true. Nothing is pulled: the local images are built when missing.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { TimersOs } from '../../lib/timers.ts'
import { RuntimeDocker } from '../../runtime/src/docker-runtime.ts'
import { BUSYBOX_IMAGE, ensureLocalImages } from '../../runtime/src/local-images.ts'
import { RUNTIME_LABELS } from '../../runtime/src/runtime.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { MemoryObjectBackend } from '../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../node/src/api/server/object-store.ts'
import { NAMESPACES } from '../../node/src/api/server/resource-refs.ts'
import { LocalPodStreams } from '../../node/src/agent/local-pod-streams.ts'
import { informerConfigSources, PodAgent } from '../../node/src/agent/pod-agent.ts'
import { VolumeManager } from '../../node/src/agent/volumes/volume-manager.ts'
import { EventRecorder } from '../../node/src/controllers/manager/event-recorder.ts'
import { Informer } from '../../node/src/controllers/manager/informer.ts'
import { ObjectClient } from '../../node/src/controllers/manager/object-client.ts'
import { listAt, objectAt, statusOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { PODS } from '../../node/src/controllers/plan.ts'
import { CONFIG_MAPS, FakeProbes, SECRETS, stateText } from './agent-world.ts'
import { engineUnavailable, testDocker } from '../runtime/docker-engine.ts'

const docker = testDocker


const unavailable = await engineUnavailable()
if (unavailable !== undefined && process.env['CI'] === 'true') t.fail(unavailable)

t.test('pods run on Docker: Running with logs, CrashLoopBackOff, deletion', { skip: unavailable ?? false, timeout: 90_000 }, async (t) => {
  const nodeName = `agent-test-${randomUUID().slice(0, 8)}`
  const rootDir = mkdtempSync(join(tmpdir(), 'flotilla-agent-docker-'))
  const timers = new TimersOs()
  const logs: string[] = []
  const log = (line: string): void => void logs.push(line)
  const objects = new ObjectStore(new MemoryObjectBackend())
  const client = new ObjectClient(objects, { log })
  const recorder = new EventRecorder(client, { log })
  const pods = new Informer({ objects, resource: PODS, timers, log })
  const configMaps = new Informer({ objects, resource: CONFIG_MAPS, timers, log })
  const secrets = new Informer({ objects, resource: SECRETS, timers, log })
  const runtime = new RuntimeDocker({ nodeName, docker })
  let agent: PodAgent | undefined
  t.teardown(async () => {
    agent?.stop()
    pods.stop()
    configMaps.stop()
    secrets.stop()
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`${RUNTIME_LABELS.node}=${nodeName}`] } })
    await Promise.all(leftovers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)))
    rmSync(rootDir, { recursive: true, force: true })
    await recorder.flush()
  })
  await ensureLocalImages(docker)
  await objects.create(NAMESPACES, undefined, { metadata: { name: 'default' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } })
  await Promise.all([pods.start(), configMaps.start(), secrets.start()])
  const sources = informerConfigSources(configMaps, secrets)
  agent = new PodAgent({
    nodeName,
    hostIp: '127.0.0.1',
    runtime,
    client,
    recorder,
    pods,
    sources,
    volumes: new VolumeManager({ rootDir, sources }),
    probes: (options) => new FakeProbes(options),
    timers,
    log,
    crashBackoff: { initialMs: 200, maxMs: 2000 },
    relistIntervalMs: 200,
  })
  agent.start()

  const create = (name: string, command: string): Promise<JsonObject> =>
    client.create(PODS, 'default', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: BUSYBOX_IMAGE, command: ['sh', '-c', command] }] },
    })
  const web = await create('web', 'echo hello; sleep 3600')
  const crash = await create('crash', 'echo dying; exit 1')
  const mainStatus = async (name: string): Promise<JsonObject | undefined> => {
    const pod = await objects.get(PODS, 'default', name).catch(() => undefined)
    return pod === undefined ? undefined : listAt(statusOf(pod)['containerStatuses']).map(objectAt)[0]
  }

  await waitFor('the busybox pod to run', 30_000, async () => (statusOf(await objects.get(PODS, 'default', 'web'))['phase'] === 'Running' ? true : undefined), 100)
  t.match((await mainStatus('web'))?.['containerID'], /^docker:\/\/[0-9a-f]{64}$/, 'a Docker container id')
  t.match(statusOf(await objects.get(PODS, 'default', 'web'))['podIP'], /^\d+\.\d+\.\d+\.\d+$/, 'a pod IP from the bridge')
  const streams = new LocalPodStreams({ runtime, nodeName })
  const output = await waitFor('the pod\'s logs', 10_000, async () => {
    const text = await readAll(await streams.logs(await objects.get(PODS, 'default', 'web'), 'main', {}))
    return text === '' ? undefined : text
  }, 100)
  t.equal(output, 'hello\n', 'kubectl logs would print hello')

  await waitFor('CrashLoopBackOff', 30_000, async () => (stateText(await mainStatus('crash')) === 'waiting:CrashLoopBackOff' ? true : undefined), 100)
  const crashing = (await mainStatus('crash'))!
  t.ok(Number(crashing['restartCount']) >= 1, `restarted (${String(crashing['restartCount'])})`)
  t.equal(objectAt(objectAt(crashing['lastState'])['terminated'])['exitCode'], 1)

  for (const pod of [web, crash]) await client.delete(PODS, 'default', String(objectAt(pod['metadata'])['name']), uidOf(pod))
  await waitFor('the containers and sandboxes to be gone', 30_000, async () => {
    const left = await docker.listContainers({ all: true, filters: { label: [`${RUNTIME_LABELS.node}=${nodeName}`] } })
    return left.length === 0 ? true : undefined
  }, 200)
  await waitFor('the pods to be gone from the API', 10_000, async () => ((await objects.list(PODS, 'default')).items.length === 0 ? true : undefined), 100)
  t.pass('deleted pods leave nothing behind')
})

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString()
}
