// Goal: the node agent uses a pod network plugin as the kubelet uses CNI — sandboxes are created
// with network "none", the plugin plumbs each new sandbox and its answer is the pod IP; a
// restarted agent recovers the IP of a running sandbox from the plugin; a plugin failure is a
// FailedCreatePodSandBox event, the sandbox is removed and the retry succeeds once the plugin
// does; a deleted pod is torn down in the plugin; hostNetwork pods never reach it.
// Method: AgentWorld (in-process API, the hollow runtime on simulated time) with a fake plugin.
import t, { type Test } from 'tap'
import type { PodRef, SandboxStatus } from '../../runtime/src/runtime.ts'
import type { PodNetworkHook } from '../../node/src/agent/pod-agent.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { specOf, statusOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { PODS } from '../../node/src/controllers/plan.ts'
import { AgentWorld } from '../agent/agent-world.ts'

class FakePodNetwork implements PodNetworkHook {
  readonly setUps: Array<{ pod: PodRef; sandbox: SandboxStatus }> = []
  readonly tearDowns: string[] = []
  failWith: string | undefined
  private readonly ips = new Map<string, string>()

  async setUp(pod: PodRef, sandbox: SandboxStatus): Promise<string> {
    this.setUps.push({ pod, sandbox })
    if (this.failWith !== undefined) throw new Error(this.failWith)
    let ip = this.ips.get(pod.uid)
    if (ip === undefined) this.ips.set(pod.uid, (ip = `10.244.7.${this.ips.size + 2}`))
    return ip
  }

  async tearDown(podUid: string): Promise<void> {
    this.tearDowns.push(podUid)
    this.ips.delete(podUid)
  }
}

function podSpec(name: string, extra: JsonObject = {}): JsonObject {
  return { metadata: { name }, spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'flotilla/busybox:local', command: ['sleep', '3600'] }], ...extra } }
}

async function world(t: Test, network: FakePodNetwork): Promise<AgentWorld> {
  const created = new AgentWorld()
  t.teardown(() => created.stop())
  await created.start()
  // AgentWorld starts a plain agent; replace it with one that has the plugin (no pods exist yet).
  created.agent?.stop()
  created.startAgent({ podNetwork: network })
  return created
}

const podIpOf = async (w: AgentWorld, name: string): Promise<unknown> => statusOf((await w.pod(name)) ?? {})['podIP']

t.test('a new sandbox is plumbed by the plugin, whose address is the pod IP', async (t) => {
  const network = new FakePodNetwork()
  const w = await world(t, network)
  await w.createPod(podSpec('web', { terminationGracePeriodSeconds: 1 }))
  await w.runUntil('the pod runs with the plugin\'s IP', 5000, async () => statusOf((await w.pod('web'))!)['phase'] === 'Running' && (await podIpOf(w, 'web')) === '10.244.7.2')
  t.equal(network.setUps.length, 1, 'set up once')
  t.equal(network.setUps[0]!.sandbox.ip, undefined, 'the runtime gave the sandbox no address (network "none")')
  const uid = uidOf((await w.pod('web'))!)
  t.equal(network.setUps[0]!.pod.uid, uid)

  // A restarted agent (daemon restart): the runtime does not know the IP; the plugin does.
  w.agent?.stop()
  w.startAgent({ podNetwork: network })
  for (let i = 0; i < 10; i++) await w.step(200)
  t.equal(network.setUps.length, 2, 'the restarted agent asked the plugin once for the running sandbox')
  t.equal(await podIpOf(w, 'web'), '10.244.7.2', 'and the pod keeps its IP')

  await w.client.delete(PODS, 'default', 'web', uid)
  await w.runUntil('the pod is gone', 10_000, async () => (await w.pod('web')) === undefined && (await w.runtime.listSandboxes()).length === 0)
  await w.runUntil('the plugin tore the pod down', 2000, () => network.tearDowns.includes(uid))
  t.same([...new Set(network.tearDowns)], [uid], 'only this pod is torn down (teardown is idempotent and may repeat)')
})

t.test('a plugin failure removes the sandbox and is retried', async (t) => {
  const network = new FakePodNetwork()
  network.failWith = 'no pod address left in 10.244.7.0/24'
  const w = await world(t, network)
  await w.createPod(podSpec('unlucky'))
  await w.runUntil('the failure is reported', 5000, async () => (await w.events('unlucky')).some((event) => event.startsWith('FailedCreatePodSandBox: Failed to set up the pod network')))
  t.match((await w.events('unlucky')).join('\n'), /no pod address left in 10\.244\.7\.0\/24/)
  t.equal((await w.runtime.listSandboxes()).length, 0, 'the unplumbed sandbox was removed')
  t.equal(await podIpOf(w, 'unlucky'), undefined, 'no pod IP meanwhile')
  network.failWith = undefined
  await w.runUntil('the retry runs the pod', 60_000, async () => statusOf((await w.pod('unlucky'))!)['phase'] === 'Running', 500)
  t.equal(await podIpOf(w, 'unlucky'), '10.244.7.2')
})

t.test('hostNetwork pods never reach the plugin', async (t) => {
  const network = new FakePodNetwork()
  const w = await world(t, network)
  await w.createPod(podSpec('host', { hostNetwork: true }))
  await w.runUntil('the pod runs', 5000, async () => statusOf((await w.pod('host'))!)['phase'] === 'Running')
  t.equal(specOf((await w.pod('host'))!)['hostNetwork'], true)
  t.equal(await podIpOf(w, 'host'), '192.168.1.10', 'the node\'s address')
  t.same(network.setUps, [])
})
