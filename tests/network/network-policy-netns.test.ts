/**
 * NetworkPolicy enforcement against the real kernel, inside network namespaces this test creates:
 * a "node" namespace with a bridge `cbr0` (bridge-nf on) joining three local pods (web with
 * `busybox httpd` on 8080, a client labelled access=yes, one without the label) and a routed veth
 * to a "remote" pod standing for a pod on another node. The PolicyEnforcer programs
 * `inet flotilla-policy` in the node namespace through nft; the test checks that a default-deny
 * plus an allow for access=yes lets exactly the labelled pods through (bridged on the node and
 * routed from the remote pod), that the node itself still reaches the pod (kubelet probes), that
 * named ports resolve, that an egress policy blocks the source pod, and that removing the policies
 * opens everything again. All traffic stays inside the namespaces; they are deleted in teardown.
 *
 * Needs root (netns, nft): skipped otherwise, and failed when CI=true.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { TimersOs } from '../../lib/timers.ts'
import { nftPolicyTarget, PolicyEnforcer } from '../../network/src/network-policy/policy-enforcer.ts'
import { POLICY_TABLE, type KubeObject } from '../../network/src/network-policy/policy-rules.ts'
import { listNftTable } from '../../network/src/nft/nft.ts'

const isRoot = process.getuid?.() === 0
if (!isRoot) {
  if (process.env['CI'] === 'true') t.fail('network-policy-netns needs root (network namespaces, nft) and CI=true')
  else t.plan(0, 'skipped: needs root for network namespaces and nft')
}

const suffix = randomBytes(3).toString('hex')
const NODE_NS = `fl-np-${suffix}`
const BRIDGE_GATEWAY = '10.210.0.1'
/** Local pods on the bridge, and the routed "remote" pod (another node's pod CIDR). */
const PODS = {
  web: { ns: `fl-np-${suffix}-web`, ip: '10.210.0.2', labels: { app: 'web' }, node: 'n1' },
  yes: { ns: `fl-np-${suffix}-yes`, ip: '10.210.0.3', labels: { access: 'yes' }, node: 'n1' },
  no: { ns: `fl-np-${suffix}-no`, ip: '10.210.0.4', labels: {}, node: 'n1' },
  remote: { ns: `fl-np-${suffix}-rem`, ip: '10.211.0.2', labels: { access: 'yes' }, node: 'n2' },
} as const
type PodName = keyof typeof PODS
const REMOTE_GATEWAY = '10.211.0.1'
/** Short: a denied connection is dropped, so the client waits this long before giving up. */
const DENIED_TIMEOUT_SECONDS = 2

function exec(command: string, args: readonly string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, [...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, stdout: String(stdout), stderr: String(stderr) })
    })
  })
}

async function must(command: string, ...args: string[]): Promise<string> {
  const result = await exec(command, args)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr}`)
  return result.stdout
}

/** GET from inside `netns`; busybox wget's own -T segfaults (testbed.md §5.10), so `timeout`. */
async function reaches(netns: string, url: string, seconds = DENIED_TIMEOUT_SECONDS): Promise<boolean> {
  const result = await exec('ip', ['netns', 'exec', netns, 'timeout', String(seconds), 'busybox', 'wget', '-qO-', url], (seconds + 3) * 1000)
  return result.code === 0 && result.stdout === 'web\n'
}

function podObject(name: PodName): KubeObject {
  const pod = PODS[name]
  const ports = name === 'web' ? [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] : []
  return { metadata: { namespace: 'default', name, labels: pod.labels }, spec: { nodeName: pod.node, containers: [{ name: 'main', ports }] }, status: { podIP: pod.ip, phase: 'Running' } }
}

function policy(name: string, spec: Record<string, unknown>): KubeObject {
  return { metadata: { namespace: 'default', name }, spec }
}

const WEB_URL = `http://${PODS.web.ip}:8080/`

if (isRoot) {
  let server: ChildProcess | undefined
  let webRoot: string | undefined
  const enforcer = new PolicyEnforcer({ nodeName: 'n1', timers: new TimersOs(), target: nftPolicyTarget({ netns: NODE_NS }), debounceMs: 20 })

  t.before(async () => {
    await must('ip', 'netns', 'add', NODE_NS)
    await must('ip', '-n', NODE_NS, 'link', 'set', 'lo', 'up')
    await must('ip', 'netns', 'exec', NODE_NS, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    // The lab's nodes filter bridged traffic through the ip hooks (br_netfilter); so does this one.
    await must('ip', 'netns', 'exec', NODE_NS, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1')
    await must('ip', '-n', NODE_NS, 'link', 'add', 'cbr0', 'type', 'bridge')
    await must('ip', '-n', NODE_NS, 'addr', 'add', `${BRIDGE_GATEWAY}/24`, 'dev', 'cbr0')
    await must('ip', '-n', NODE_NS, 'link', 'set', 'cbr0', 'up')
    for (const [name, pod] of Object.entries(PODS)) {
      const hostSide = `v-${name}`
      await must('ip', 'netns', 'add', pod.ns)
      await must('ip', '-n', NODE_NS, 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.ns)
      if (name === 'remote') await must('ip', '-n', NODE_NS, 'addr', 'add', `${REMOTE_GATEWAY}/24`, 'dev', hostSide)
      else await must('ip', '-n', NODE_NS, 'link', 'set', hostSide, 'master', 'cbr0')
      await must('ip', '-n', NODE_NS, 'link', 'set', hostSide, 'up')
      await must('ip', '-n', pod.ns, 'addr', 'add', `${pod.ip}/24`, 'dev', 'eth0')
      await must('ip', '-n', pod.ns, 'link', 'set', 'lo', 'up')
      await must('ip', '-n', pod.ns, 'link', 'set', 'eth0', 'up')
      await must('ip', '-n', pod.ns, 'route', 'add', 'default', 'via', name === 'remote' ? REMOTE_GATEWAY : BRIDGE_GATEWAY)
    }
    webRoot = mkdtempSync(join(tmpdir(), 'fl-np-www-'))
    writeFileSync(join(webRoot, 'index.html'), 'web\n')
    server = spawn('ip', ['netns', 'exec', PODS.web.ns, 'busybox', 'httpd', '-f', '-p', '8080', '-h', webRoot], { stdio: 'ignore' })
    await waitFor('httpd in the web pod', 10_000, async () => ((await reaches(NODE_NS, WEB_URL, 1)) ? true : undefined), 50)
    enforcer.setPods(Object.keys(PODS).map((name) => podObject(name as PodName)))
    enforcer.setNamespaces([{ metadata: { name: 'default' } }])
    enforcer.start()
  })

  t.teardown(async () => {
    await enforcer.stop()
    server?.kill('SIGKILL')
    for (const pod of Object.values(PODS)) await exec('ip', ['netns', 'del', pod.ns])
    await exec('ip', ['netns', 'del', NODE_NS])
    if (webRoot !== undefined) rmSync(webRoot, { recursive: true, force: true })
  })

  t.test('without policies every pod reaches web, bridged and routed', async (t) => {
    const report = await enforcer.syncNow()
    t.equal(report.error, undefined, 'the empty ruleset applies')
    t.ok(await listNftTable('inet', POLICY_TABLE, { netns: NODE_NS }), 'our table exists')
    for (const name of ['yes', 'no', 'remote'] as const) t.ok(await reaches(PODS[name].ns, WEB_URL), `${name} → web`)
  })

  t.test('default deny + allow from access=yes on the named port', async (t) => {
    enforcer.upsertPolicy(policy('default-deny', { podSelector: {}, policyTypes: ['Ingress'] }))
    enforcer.upsertPolicy(policy('web-allow', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { access: 'yes' } } }], ports: [{ protocol: 'TCP', port: 'http' }] }] }))
    const report = await enforcer.syncNow()
    t.equal(report.error, undefined, 'applied')
    t.equal(report.applied, true)
    t.ok(await reaches(PODS.yes.ns, WEB_URL), 'access=yes on the same bridge → web (named port http = 8080)')
    t.ok(await reaches(PODS.remote.ns, WEB_URL), 'access=yes on "another node" (routed) → web')
    t.notOk(await reaches(PODS.no.ns, WEB_URL), 'a pod without the label is dropped, although the traffic is only bridged (bridge-nf)')
    t.ok(await reaches(NODE_NS, WEB_URL), 'the node itself still reaches the pod (kubelet probes: output hook, not forward)')
    t.ok(await reaches(PODS.yes.ns, WEB_URL), 'and the allowed pod still does afterwards')
  })

  t.test('egress: a pod denied all egress reaches nothing; unselected and remote pods are unaffected', async (t) => {
    enforcer.removePolicy('default', 'default-deny')
    enforcer.removePolicy('default', 'web-allow')
    enforcer.upsertPolicy(policy('yes-no-egress', { podSelector: { matchLabels: { access: 'yes' } }, policyTypes: ['Egress'] }))
    t.equal((await enforcer.syncNow()).error, undefined)
    t.notOk(await reaches(PODS.yes.ns, WEB_URL), 'yes → web is dropped at the source')
    t.ok(await reaches(PODS.no.ns, WEB_URL), 'no → web is allowed (not selected)')
    t.ok(await reaches(PODS.remote.ns, WEB_URL), 'the remote pod is not enforced on this node')
  })

  t.test('removing every policy opens everything again', async (t) => {
    enforcer.setPolicies([])
    t.equal((await enforcer.syncNow()).error, undefined)
    for (const name of ['yes', 'no', 'remote'] as const) t.ok(await reaches(PODS[name].ns, WEB_URL), `${name} → web`)
    const listing = JSON.stringify(await listNftTable('inet', POLICY_TABLE, { netns: NODE_NS }))
    t.notMatch(listing, /peers-|ingress-[0-9A-Z]{7}|egress-[0-9A-Z]{7}/, 'stale chains and sets were deleted')
  })
}
