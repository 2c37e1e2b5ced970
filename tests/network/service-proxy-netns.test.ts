/**
 * The service proxy against the real kernel, inside network namespaces this test creates: a
 * "node" namespace with a veth pair to each of two "pod" namespaces running `busybox httpd`.
 * The ServiceProxy programs `ip flotilla-proxy` in the node namespace through nft; the test
 * checks the VIP reaches the ready pod, follows an endpoint switch, rejects a Service without
 * endpoints, serves a NodePort from a pod (masqueraded), keeps ClientIP affinity across syncs, and
 * that a batch with an error changes nothing. All traffic stays inside the namespaces; they are deleted in teardown.
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
import { applyNftBatch, listNftTable, NftError } from '../../network/src/nft/nft.ts'
import { nftTarget, ServiceProxy } from '../../network/src/service-proxy/service-proxy.ts'
import { PROXY_TABLE, serviceRules, syncBatch, type KubeObject } from '../../network/src/service-proxy/service-rules.ts'

const isRoot = process.getuid?.() === 0
if (!isRoot) {
  if (process.env['CI'] === 'true') t.fail('service-proxy-netns needs root (network namespaces, nft) and CI=true')
  else t.plan(0, 'skipped: needs root for network namespaces and nft')
}

const VIP = '10.96.0.10'
const suffix = randomBytes(3).toString('hex')
const NODE_NS = `fl-sp-${suffix}`
const POD_NS = [`fl-sp-${suffix}-p1`, `fl-sp-${suffix}-p2`] as const
/** Pod i (1-based) is 10.200.<i>.2 behind the node's 10.200.<i>.1. */
const podIp = (i: number): string => `10.200.${i}.2`
const nodeIp = (i: number): string => `10.200.${i}.1`

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

/** GET url from inside `netns`; busybox wget's own -T segfaults (testbed.md §5.10), so `timeout`. */
function wget(netns: string, url: string, seconds = 3): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec('ip', ['netns', 'exec', netns, 'timeout', String(seconds), 'busybox', 'wget', '-qO-', url], (seconds + 2) * 1000)
}

function webService(extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { namespace: 'default', name: 'web' }, spec: { type: 'ClusterIP', clusterIP: VIP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...extra } }
}

function webSlice(readyIps: readonly string[]): KubeObject {
  return {
    metadata: { namespace: 'default', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [podIp(1), podIp(2)].map((ip) => ({ addresses: [ip], nodeName: 'n1', conditions: { ready: readyIps.includes(ip), serving: readyIps.includes(ip), terminating: false } })),
  }
}

if (isRoot) {
  const servers: ChildProcess[] = []
  const webRoots: string[] = []

  t.before(async () => {
    await must('ip', 'netns', 'add', NODE_NS)
    await must('ip', '-n', NODE_NS, 'link', 'set', 'lo', 'up')
    await must('ip', 'netns', 'exec', NODE_NS, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    for (const [index, ns] of POD_NS.entries()) {
      const i = index + 1
      await must('ip', 'netns', 'add', ns)
      await must('ip', '-n', NODE_NS, 'link', 'add', `vp${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
      await must('ip', '-n', NODE_NS, 'addr', 'add', `${nodeIp(i)}/24`, 'dev', `vp${i}`)
      await must('ip', '-n', NODE_NS, 'link', 'set', `vp${i}`, 'up')
      await must('ip', '-n', ns, 'addr', 'add', `${podIp(i)}/24`, 'dev', 'eth0')
      await must('ip', '-n', ns, 'link', 'set', 'lo', 'up')
      await must('ip', '-n', ns, 'link', 'set', 'eth0', 'up')
      await must('ip', '-n', ns, 'route', 'add', 'default', 'via', nodeIp(i))
      const root = mkdtempSync(join(tmpdir(), `fl-sp-www${i}-`))
      webRoots.push(root)
      writeFileSync(join(root, 'index.html'), `pod${i}\n`)
      servers.push(spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', '8080', '-h', root], { stdio: 'ignore' }))
    }
    // Host-originated VIP traffic needs a route before output DNAT (testbed.md §5.6).
    await must('ip', '-n', NODE_NS, 'route', 'add', '10.96.0.0/12', 'dev', 'vp1')
    for (const [index, ns] of POD_NS.entries()) {
      await waitFor(`httpd in ${ns}`, 10_000, async () => ((await wget(NODE_NS, `http://${podIp(index + 1)}:8080/`)).code === 0 ? true : undefined), 50)
    }
  })

  t.teardown(async () => {
    for (const server of servers) server.kill('SIGKILL')
    for (const ns of [...POD_NS, NODE_NS]) await exec('ip', ['netns', 'del', ns])
    for (const root of webRoots) rmSync(root, { recursive: true, force: true })
  })

  t.test('VIP balances to the ready pod, follows endpoint changes, rejects without endpoints', async (t) => {
    const syncs: number[] = []
    const proxy = new ServiceProxy({
      node: { name: 'n1', nodeIps: [nodeIp(1), nodeIp(2)] },
      timers: new TimersOs(),
      target: nftTarget({ netns: NODE_NS }),
      debounceMs: 20,
      onSync: (report) => {
        if (report.applied) syncs.push(report.durationMs)
      },
    })
    t.teardown(() => proxy.stop())
    proxy.setServices([webService()])
    proxy.setEndpointSlices([webSlice([podIp(1)])])
    const first = await proxy.syncNow()
    t.equal(first.error, undefined, 'first sync applied')
    t.equal(first.applied, true)

    for (let i = 0; i < 5; i++) t.equal((await wget(NODE_NS, `http://${VIP}/`)).stdout, 'pod1\n', 'the only ready endpoint answers')
    t.equal((await wget(POD_NS[1], `http://${VIP}/`)).stdout, 'pod1\n', 'from another pod too (prerouting)')

    proxy.upsertEndpointSlice(webSlice([podIp(2)]))
    await waitFor('the VIP to reach pod2', 10_000, async () => ((await wget(NODE_NS, `http://${VIP}/`)).stdout === 'pod2\n' ? true : undefined), 50)
    for (let i = 0; i < 5; i++) t.equal((await wget(NODE_NS, `http://${VIP}/`)).stdout, 'pod2\n', 'the new endpoint answers, the old one no more')

    const listing = JSON.stringify(await listNftTable('ip', PROXY_TABLE, { netns: NODE_NS }))
    t.notMatch(listing, /10\.200\.1\.2\/8080/, 'the old endpoint chain was deleted')

    proxy.upsertEndpointSlice(webSlice([]))
    await waitFor('the VIP to be rejected', 10_000, async () => {
      const startMs = performance.now()
      const result = await wget(NODE_NS, `http://${VIP}/`)
      return result.code !== 0 && performance.now() - startMs < 2000 ? result : undefined
    }, 50)
    t.pass('no endpoints: the connection is refused at once (icmp port-unreachable), not left to time out')

    const unchanged = await proxy.syncNow()
    t.equal(unchanged.applied, false, 'an unchanged ruleset is not re-applied')
    t.ok(syncs.length >= 3, `sync durations reported (${syncs.map((ms) => ms.toFixed(1)).join(', ')} ms)`)
  })

  t.test('NodePort from a pod, masqueraded to the endpoint', async (t) => {
    const proxy = new ServiceProxy({ node: { name: 'n1', nodeIps: [nodeIp(1), nodeIp(2)] }, timers: new TimersOs(), target: nftTarget({ netns: NODE_NS }) })
    t.teardown(() => proxy.stop())
    proxy.setServices([webService({ type: 'NodePort', externalTrafficPolicy: 'Cluster', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] })])
    proxy.setEndpointSlices([webSlice([podIp(1)])])
    t.equal((await proxy.syncNow()).error, undefined)
    const result = await wget(POD_NS[1], `http://${nodeIp(2)}:30080/`)
    t.equal(result.stdout, 'pod1\n', 'pod2 reaches pod1 through the NodePort on its gateway address')
    // The reply tuple of the connection shows the masquerade: pod1 answered the node (10.200.1.1),
    // not pod2. There is no conntrack binary here; the proc file is per namespace.
    const conntrack = await must('ip', 'netns', 'exec', NODE_NS, 'cat', '/proc/net/nf_conntrack')
    const entry = conntrack.split('\n').find((line) => line.includes(`src=${podIp(2)} dst=${nodeIp(2)}`) && line.includes('dport=30080'))
    t.match(entry, new RegExp(`src=${podIp(1)} dst=${nodeIp(1)} sport=8080`), 'the reply tuple is masqueraded to the node address')
  })

  t.test('sessionAffinity ClientIP sticks, across syncs of unrelated changes', async (t) => {
    const proxy = new ServiceProxy({ node: { name: 'n1', nodeIps: [nodeIp(1)] }, timers: new TimersOs(), target: nftTarget({ netns: NODE_NS }) })
    t.teardown(() => proxy.stop())
    proxy.setServices([webService({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } })])
    proxy.setEndpointSlices([webSlice([podIp(1), podIp(2)])])
    t.equal((await proxy.syncNow()).error, undefined)
    const first = (await wget(NODE_NS, `http://${VIP}/`)).stdout
    t.match(first, /^pod[12]\n$/)
    const answers = new Set<string>()
    for (let i = 0; i < 8; i++) answers.add((await wget(NODE_NS, `http://${VIP}/`)).stdout)
    t.same([...answers], [first], 'every request from this client goes to the same pod')

    proxy.upsertService({ metadata: { namespace: 'default', name: 'other' }, spec: { clusterIP: '10.96.0.11', ports: [{ port: 80, protocol: 'TCP' }] } })
    const resync = await proxy.syncNow()
    t.equal(resync.applied, true, 'an unrelated change re-applies the table')
    t.equal(resync.error, undefined, 'existing affinity sets are not re-declared')
    for (let i = 0; i < 8; i++) answers.add((await wget(NODE_NS, `http://${VIP}/`)).stdout)
    t.same([...answers], [first], 'affinity survives the sync')
  })

  t.test('a batch with an error changes nothing', async (t) => {
    const node = { name: 'n1', nodeIps: [nodeIp(1)] }
    const existing = await nftTarget({ netns: NODE_NS }).readExisting()
    await applyNftBatch(syncBatch(serviceRules({ services: [webService()], endpointSlices: [webSlice([podIp(1)])], node }), existing), { netns: NODE_NS })
    const listingOf = async (): Promise<string> => {
      const listing = await listNftTable('ip', PROXY_TABLE, { netns: NODE_NS })
      return JSON.stringify(listing)
    }
    await waitFor('pod1 behind the VIP', 10_000, async () => ((await wget(NODE_NS, `http://${VIP}/`)).stdout === 'pod1\n' ? true : undefined), 50)
    const before = await listingOf()
    t.match(before, /10\.200\.1\.2/)

    // A full switch to pod2, then one bad command last: a goto to a chain that does not exist.
    const good = syncBatch(serviceRules({ services: [webService()], endpointSlices: [webSlice([podIp(2)])], node }), { chains: [], sets: [], maps: [] })
    const bad = { nftables: [...good.nftables, { add: { rule: { family: 'ip', table: PROXY_TABLE, chain: 'services', expr: [{ goto: { target: 'no-such-chain' } }] } } }] }
    const error = await applyNftBatch(bad, { netns: NODE_NS }).then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof NftError, 'nft refuses the batch with a named error')
    t.match((error as NftError).message, /No such file or directory|Could not process rule/, "nft's message is kept")
    t.equal(await listingOf(), before, 'the table is exactly as before')
    t.equal((await wget(NODE_NS, `http://${VIP}/`)).stdout, 'pod1\n', 'and traffic still goes to pod1')
  })
}
