// Goal: LocalPodStreams serves logs, exec, attach and port-forward of the pods on its node with the
// kubelet's choice of container instance (current, or `previous` = the last terminated one) and
// Kubernetes' error messages: 400 for a container that is waiting or has no previous instance, 404
// for a pod that is not on this node.
// Method: AgentWorld (the agent runs pods on the hollow runtime on simulated time); the streams
// read the same runtime.
import t from 'tap'
import type { Readable } from 'node:stream'
import { ApiError } from '../../node/src/api/machinery/status.ts'
import { LocalPodStreams } from '../../node/src/agent/local-pod-streams.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { AgentWorld, stateText } from './agent-world.ts'

function pod(name: string, command: string, extra: JsonObject = {}): JsonObject {
  return { metadata: { name }, spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'flotilla/busybox:local', command: ['sh', '-c', command] }], ...extra } }
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString()
}

async function apiError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof ApiError) return `${error.code} ${error.message}`
    throw error
  }
  return 'no error'
}

t.test('logs, previous logs, and the errors of waiting containers', async (t) => {
  const w = new AgentWorld()
  t.teardown(() => w.stop())
  await w.start()
  const streams = new LocalPodStreams({ runtime: w.runtime, nodeName: 'node-a' })
  await w.createPod(pod('web', 'echo hello; sleep 3600'))
  await w.createPod(pod('crash', 'echo dying; exit 3'))
  await w.createPod({ metadata: { name: 'noimage' }, spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'example.com/nope:1' }] } })
  await w.runUntil('the pods settle', 10_000, async () =>
    stateText(await w.containerStatus('web', 'main')) === 'running' &&
    stateText(await w.containerStatus('crash', 'main')) === 'waiting:CrashLoopBackOff' &&
    stateText(await w.containerStatus('noimage', 'main')) === 'waiting:ErrImageNeverPull')
  const get = async (name: string): Promise<JsonObject> => (await w.pod(name))!

  t.equal(await text(await streams.logs(await get('web'), 'main', {})), 'hello\n', 'the running container\'s output')
  t.equal(await apiError(streams.logs(await get('web'), 'main', { previous: true })), '400 previous terminated container "main" in pod "web" not found')
  t.equal(await text(await streams.logs(await get('crash'), 'main', {})), 'dying\n', 'a crash-looping container shows its last run')
  t.equal(await text(await streams.logs(await get('crash'), 'main', { previous: true })), 'dying\n', 'and so does --previous')
  t.equal(await apiError(streams.logs(await get('noimage'), 'main', {})), '400 container "main" in pod "noimage" is waiting to start: ErrImageNeverPull')
  const elsewhere = { ...(await get('web')), spec: { nodeName: 'node-b', containers: [] } }
  t.equal(await apiError(streams.logs(elsewhere, 'main', {})), '404 pods "web" not found')
})

t.test('exec and attach need a running container; port-forward reaches the pod', async (t) => {
  const w = new AgentWorld()
  t.teardown(() => w.stop())
  await w.start()
  const streams = new LocalPodStreams({ runtime: w.runtime, nodeName: 'node-a' })
  await w.createPod(pod('echo', 'nc -l -p 9000'))
  await w.createPod(pod('done', 'echo bye', { restartPolicy: 'Never' }))
  await w.runUntil('the pods settle', 10_000, async () => stateText(await w.containerStatus('echo', 'main')) === 'running' && stateText(await w.containerStatus('done', 'main')) === 'terminated:Completed')
  const session = await streams.exec((await w.pod('echo'))!, 'main', { command: ['echo', 'hi'] })
  const [output, exitCode] = await Promise.all([text(session.stdout), session.exitCode])
  t.same([output, exitCode], ['hi\n', 0], 'exec runs in the container')
  t.equal(await apiError(streams.exec((await w.pod('done'))!, 'main', { command: ['true'] })), '400 container not found ("main")')
  t.equal(await apiError(streams.attach((await w.pod('done'))!, 'main', { stdin: false, tty: false })), '400 container not found ("main")')
  const connection = await streams.portForward((await w.pod('echo'))!, 9000)
  const echoed = new Promise<string>((resolve) => connection.once('data', (chunk: Buffer) => resolve(chunk.toString())))
  connection.write('ping')
  t.equal(await echoed, 'ping', 'port-forward reaches the listener in the pod')
  connection.destroy()
  t.equal(await apiError(streams.portForward((await w.pod('done'))!, 80)), '400 unable to forward port because pod is not running. Current status=Succeeded')
})
