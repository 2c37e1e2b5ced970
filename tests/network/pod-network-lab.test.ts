// Goal: in a 3-host lab, for each overlay backend (host-gw and vxlan), pods get addresses from
// their Node's spec.podCIDR and pods on different hosts reach each other by pod IP — HTTP from a
// pod on h1 to an httpd pod on h3, ping both ways — through the daemons' pod network (cbr0, veths,
// gossip-programmed routes or flannel.1); a NetworkPolicy drops what it should and nothing more;
// (host-gw) endpoints follow a pod's readiness and deletion on every host, and a NodePort answers
// from the underlay; `lab down` leaves nothing behind.
// Method: the real CLI (`flotilla lab up --overlay …`) as root, kubectl 1.20 inside h1's
// namespace, commands run in the pods' containers through each host's engine. One lab at a time
// on the machine: every lab is built under the shared lab lock. Skipped (failed when CI=true)
// without root, `ip netns`, dockerd or kubectl 1.20.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { engine, execFileAsync, flotilla, kubectl, labNamespaces, labProcesses, missingPrerequisite, labCleanups, runThenClean } from '../chaos/lab-harness.ts'
import t, { type Test } from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { withLabLock } from '../chaos/lab-lock.ts'


const IMAGE = 'flotilla/busybox:local'


/** Runs `command` in the app container of pod `podName` on `host`'s engine. */
async function execInPod(host: string, podName: string, command: string[]): Promise<{ exitCode: number; output: string }> {
  const docker = engine(host)
  const [container] = await docker.listContainers({ filters: JSON.stringify({ label: [`dev.flotilla.pod.name=${podName}`, 'dev.flotilla.kind=container'], status: ['running'] }) })
  if (container === undefined) throw new Error(`no running container of pod ${podName} on ${host}`)
  const exec = await docker.getContainer(container.Id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true })
  const stream = await exec.start({ hijack: true, stdin: false })
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  await new Promise((done) => stream.on('end', done))
  const inspected = await exec.inspect()
  // The multiplexed stream has 8-byte frame headers; strip them for a readable output.
  const raw = Buffer.concat(chunks)
  let output = ''
  for (let offset = 0; offset + 8 <= raw.length;) {
    const size = raw.readUInt32BE(offset + 4)
    output += raw.subarray(offset + 8, offset + 8 + size).toString('utf8')
    offset += 8 + size
  }
  return { exitCode: inspected.ExitCode ?? -1, output }
}

function inCidr(ip: string, cidr: string): boolean {
  const toNumber = (text: string): number => text.split('.').reduce((value, part) => value * 256 + Number(part), 0)
  const [base, length] = cidr.split('/') as [string, string]
  const size = 2 ** (32 - Number(length))
  return Math.floor(toNumber(ip) / size) === Math.floor(toNumber(base) / size)
}

interface PodView {
  readonly status: { readonly phase?: string; readonly podIP?: string }
}

/** Whether host `host`'s service proxy table names `ip` (a DNAT target). */
async function proxyRoutesTo(host: string, ip: string): Promise<boolean> {
  const { stdout } = await execFileAsync('nsenter', [`--net=/run/netns/fl-${host}`, '--', 'nft', '-j', 'list', 'table', 'ip', 'flotilla-proxy'], { maxBuffer: 16 * 1024 * 1024 }).catch(() => ({ stdout: '' }))
  return stdout.includes(`"${ip}"`)
}

/** One HTTP GET from a lab host's own network namespace (the underlay side, not a pod). */
async function fetchFromHost(host: string, url: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('nsenter', [`--net=/run/netns/fl-${host}`, '--', 'timeout', '3', 'busybox', 'wget', '-qO-', url])
    return stdout
  } catch {
    return undefined
  }
}

/**
 * Endpoints follow readiness and deletions on every host: a pod on h2 whose readiness probe tests a
 * file; removing the file takes its address out of all three hosts' nftables rules, recreating it
 * puts it back, deleting the pod takes it out for good (times printed; endpoint gossip carries the
 * change, the benchmark measures it). Then a NodePort Service answers from the underlay: h2's own
 * namespace fetches web (on h3) through h1's and h3's node addresses.
 */
async function endpointsScenario(t: Test, kubeconfig: string, directory: string): Promise<void> {
  const hosts = ['h1', 'h2', 'h3']
  const manifest = join(directory, 'endpoints.json')
  writeFileSync(manifest, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'flip', namespace: 'default', labels: { app: 'flip' } }, spec: { nodeName: 'h2', terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: IMAGE, command: ['sh', '-c', 'touch /ready; mkdir -p /www && echo flip > /www/index.html && exec httpd -f -p 80 -h /www'], readinessProbe: { exec: { command: ['test', '-f', '/ready'] }, periodSeconds: 1, failureThreshold: 1 } }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'flip', namespace: 'default' }, spec: { selector: { app: 'flip' }, ports: [{ port: 80 }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-nodeport', namespace: 'default' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 8080, targetPort: 80 }] } },
  ] }))
  await kubectl(kubeconfig, ['apply', '-f', manifest])
  const flipIp = await waitFor('the flip pod to be Ready with an IP', 60_000, async () => {
    const view = JSON.parse(await kubectl(kubeconfig, ['get', 'pod', 'flip', '-o', 'json'])) as { status: { podIP?: string; conditions?: { type: string; status: string }[] } }
    return view.status.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') === true ? view.status.podIP : undefined
  }, 250)
  const everyHost = async (routed: boolean): Promise<true | undefined> => ((await Promise.all(hosts.map((host) => proxyRoutesTo(host, flipIp)))).every((has) => has === routed) ? true : undefined)
  await waitFor('every host to route the flip Service to its pod', 30_000, () => everyHost(true), 100)
  t.pass(`all three hosts route the flip Service to ${flipIp}`)
  const timed = async (what: string, change: string[], routed: boolean): Promise<void> => {
    const startedMs = performance.now()
    await execInPod('h2', 'flip', change)
    await waitFor(what, 30_000, () => everyHost(routed), 50)
    t.pass(`${what}: ${Math.round(performance.now() - startedMs)} ms after the change in the container (incl. up to one 1 s probe period)`)
  }
  await timed('not ready → out of every host\'s rules', ['rm', '-f', '/ready'], false)
  await timed('ready again → back in every host\'s rules', ['touch', '/ready'], true)
  const deletedAtMs = performance.now()
  await kubectl(kubeconfig, ['delete', 'pod', 'flip', '--wait=false'])
  await waitFor('the deleted pod to leave every host\'s rules', 30_000, () => everyHost(false), 50)
  t.pass(`deleted → out of every host's rules ${Math.round(performance.now() - deletedAtMs)} ms after the DELETE`)

  const nodePort = (JSON.parse(await kubectl(kubeconfig, ['get', 'service', 'web-nodeport', '-o', 'json'])) as { spec: { ports: { nodePort?: number }[] } }).spec.ports[0]?.nodePort
  t.ok(nodePort !== undefined && nodePort >= 30000 && nodePort <= 32767, `a node port from 30000–32767: ${String(nodePort)}`)
  for (const address of ['10.250.0.1', '10.250.0.3']) {
    const page = await waitFor(`NodePort ${address}:${String(nodePort)} from h2's namespace`, 30_000, () => fetchFromHost('h2', `http://${address}:${String(nodePort)}/`), 250)
    t.match(page, /^pod-network-/, `the underlay reaches web through ${address}:${String(nodePort)}`)
  }
}

/**
 * NetworkPolicy denies what it should: a default-deny ingress policy on the web pod plus an allow
 * from pods labelled access=yes. The labelled client on h1 still reaches web on h3 (by pod IP and
 * through the VIP); the unlabelled client on h1 (routed across the overlay) and the unlabelled
 * neighbour on h3 (bridged on cbr0) are dropped by h3's enforcer. Deleting the policies opens web
 * again.
 */
async function networkPolicyScenario(t: Test, kubeconfig: string, directory: string, addresses: { webIp: string; clusterIp: string }): Promise<void> {
  const { webIp, clusterIp } = addresses
  await waitFor('the NetworkPolicy test pods to run', 60_000, async () => {
    const views = await Promise.all(['client-yes', 'neighbour'].map(async (name) => JSON.parse(await kubectl(kubeconfig, ['get', 'pod', name, '-o', 'json'])) as PodView))
    return views.every((view) => view.status.phase === 'Running' && (view.status.podIP ?? '') !== '') ? true : undefined
  }, 250)
  const fetchFrom = async (host: string, podName: string, url: string): Promise<boolean> => (await execInPod(host, podName, ['timeout', '3', 'wget', '-qO-', url])).exitCode === 0
  t.ok(await fetchFrom('h3', 'neighbour', `http://${webIp}/`), 'before any policy the neighbour on h3 reaches web')

  const policies = join(directory, 'network-policies.json')
  const policy = (name: string, spec: object): object => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'default' }, spec })
  writeFileSync(policies, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
    policy('web-default-deny', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] }),
    policy('web-allow-access', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { access: 'yes' } } }], ports: [{ protocol: 'TCP', port: 80 }] }] }),
  ] }))
  await kubectl(kubeconfig, ['apply', '-f', policies])
  t.match(await kubectl(kubeconfig, ['get', 'netpol']), /web-allow-access\s+app=web/, 'kubectl get netpol lists the policies with their pod selector')
  await waitFor('h3 to drop h1\'s unlabelled client', 30_000, async () => ((await fetchFrom('h1', 'client', `http://${webIp}/`)) ? undefined : true), 500)
  t.pass('the unlabelled client on h1 cannot reach web on h3 (routed across the overlay)')
  t.ok(await fetchFrom('h1', 'client-yes', `http://${webIp}/`), 'the client labelled access=yes still reaches web by pod IP')
  t.ok(await fetchFrom('h1', 'client-yes', `http://${clusterIp}:8080/`), 'and through the Service VIP')
  t.notOk(await fetchFrom('h1', 'client', `http://${clusterIp}:8080/`), 'the unlabelled client cannot sneak in through the VIP')
  t.notOk(await fetchFrom('h3', 'neighbour', `http://${webIp}/`), 'the unlabelled neighbour on h3 is dropped too (bridged on cbr0)')

  await kubectl(kubeconfig, ['delete', '-f', policies])
  await waitFor('web to open again', 30_000, async () => ((await fetchFrom('h1', 'client', `http://${webIp}/`)) ? true : undefined), 500)
  t.pass('without the policies the unlabelled client reaches web again')
}

async function labScenario(t: Test, overlay: 'host-gw' | 'vxlan'): Promise<void> {
  const directory = mkdtempSync('/tmp/flotilla-pn-lab-')
  let down = false
  labCleanups.push(async () => {
    if (!down) await flotilla(['lab', 'down', '--dir', directory], 90_000)
    rmSync(directory, { recursive: true, force: true })
  })
  const logs = (): string => {
    const logDirectory = join(directory, 'logs')
    if (!existsSync(logDirectory)) return ''
    return readdirSync(logDirectory).map((file) => `== ${file}\n${readFileSync(join(logDirectory, file), 'utf8').split('\n').slice(-25).join('\n')}`).join('\n')
  }
  const up = await flotilla(['lab', 'up', '--hosts', '3', '--zones', '3', '--overlay', overlay, '--dir', directory], 120_000)
  if (!t.equal(up.code, 0, `lab up --overlay ${overlay} succeeds`)) {
    t.comment(`${up.stdout}\n${up.stderr}\n${logs()}`)
    return
  }
  try {
    const kubeconfigText = await flotilla(['lab', 'kubeconfig', '--dir', directory], 30_000)
    const kubeconfig = join(directory, 'test.kubeconfig')
    writeFileSync(kubeconfig, kubeconfigText.stdout)
    const podCidrs = await waitFor('every node to have a pod CIDR', 30_000, async () => {
      const nodes = JSON.parse(await kubectl(kubeconfig, ['get', 'nodes', '-o', 'json'])) as { items: { metadata: { name: string }; spec: { podCIDR?: string } }[] }
      const cidrs = new Map(nodes.items.map((node) => [node.metadata.name, node.spec.podCIDR ?? '']))
      return cidrs.size === 3 && [...cidrs.values()].every((cidr) => cidr !== '') ? cidrs : undefined
    }, 500)
    t.equal(new Set(podCidrs.values()).size, 3, 'the three nodes have distinct pod CIDRs')

    const pod = (name: string, nodeName: string, command: string[]): object => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: { app: name } }, spec: { nodeName, containers: [{ name: 'app', image: IMAGE, command }] } })
    const labelled = (object: object, labels: Record<string, string>): object => {
      const withMetadata = object as { metadata: { labels: Record<string, string> } }
      return { ...withMetadata, metadata: { ...withMetadata.metadata, labels: { ...withMetadata.metadata.labels, ...labels } } }
    }
    const manifest = join(directory, 'pods.json')
    writeFileSync(manifest, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      pod('web', 'h3', ['sh', '-c', `mkdir -p /www && echo pod-network-${overlay} > /www/index.html && exec httpd -f -p 80 -h /www`]),
      pod('client', 'h1', ['sleep', '3600']),
      // For the NetworkPolicy case: a labelled client on h1 and an unlabelled neighbour of web on h3.
      labelled(pod('client-yes', 'h1', ['sleep', '3600']), { access: 'yes' }),
      pod('neighbour', 'h3', ['sleep', '3600']),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort: 80 }] } },
    ] }))
    await kubectl(kubeconfig, ['apply', '-f', manifest])
    const ips = await waitFor('both pods to run with a pod IP', 60_000, async () => {
      const views = await Promise.all(['web', 'client'].map(async (name) => JSON.parse(await kubectl(kubeconfig, ['get', 'pod', name, '-o', 'json'])) as PodView))
      return views.every((view) => view.status.phase === 'Running' && (view.status.podIP ?? '') !== '') ? views.map((view) => view.status.podIP as string) : undefined
    }, 250)
    const [webIp, clientIp] = ips as [string, string]
    t.ok(inCidr(webIp, podCidrs.get('h3')!), `the h3 pod's IP ${webIp} is from h3's pod CIDR ${podCidrs.get('h3')}`)
    t.ok(inCidr(clientIp, podCidrs.get('h1')!), `the h1 pod's IP ${clientIp} is from h1's pod CIDR ${podCidrs.get('h1')}`)
    const eth0 = await execInPod('h1', 'client', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])
    t.match(eth0.output, new RegExp(`inet ${clientIp.replaceAll('.', '\\.')}/24`), 'the pod\'s eth0 holds its pod IP')

    // Peers' routes follow the gossip within a few announce intervals.
    const fetched = await waitFor(`h1's pod to fetch from h3's pod over ${overlay}`, 30_000, async () => {
      const result = await execInPod('h1', 'client', ['timeout', '3', 'wget', '-qO-', `http://${webIp}/`])
      return result.exitCode === 0 ? result.output : undefined
    }, 500)
    t.equal(fetched.trim(), `pod-network-${overlay}`, 'HTTP h1 pod → h3 pod by pod IP')
    const ping = await execInPod('h1', 'client', ['ping', '-c', '2', '-W', '2', webIp])
    t.equal(ping.exitCode, 0, `ping h1 pod → h3 pod: ${ping.output.trim().split('\n').slice(-2).join(' ')}`)
    const back = await execInPod('h3', 'web', ['ping', '-c', '2', '-W', '2', clientIp])
    t.equal(back.exitCode, 0, 'ping h3 pod → h1 pod')

    // Services: the VIP (nftables on h1) and the name (cluster DNS on h1's pod gateway) lead to h3's pod.
    const service = JSON.parse(await kubectl(kubeconfig, ['get', 'service', 'web', '-o', 'json'])) as { spec: { clusterIP?: string } }
    const clusterIp = service.spec.clusterIP ?? ''
    t.match(clusterIp, /^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/, `the Service has a cluster IP from 10.96.0.0/12: ${clusterIp}`)
    const throughVip = await waitFor('the Service VIP to answer from h1\'s pod', 30_000, async () => {
      const result = await execInPod('h1', 'client', ['timeout', '3', 'wget', '-qO-', `http://${clusterIp}:8080/`])
      return result.exitCode === 0 ? result.output : undefined
    }, 500)
    t.equal(throughVip.trim(), `pod-network-${overlay}`, 'HTTP to the ClusterIP reaches the pod on h3')
    const resolvConf = await execInPod('h1', 'client', ['cat', '/etc/resolv.conf'])
    t.match(resolvConf.output, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/, 'the pod\'s resolv.conf searches the cluster domain')
    const byName = await waitFor('the Service name to resolve and answer', 30_000, async () => {
      const result = await execInPod('h1', 'client', ['timeout', '3', 'wget', '-qO-', 'http://web:8080/'])
      return result.exitCode === 0 ? result.output : undefined
    }, 500)
    t.equal(byName.trim(), `pod-network-${overlay}`, 'HTTP to http://web:8080/ (cluster DNS, then the VIP)')

    await networkPolicyScenario(t, kubeconfig, directory, { webIp, clusterIp })
    if (overlay === 'host-gw') await endpointsScenario(t, kubeconfig, directory)

    const { stdout: routes } = await execFileAsync('ip', ['-n', 'fl-h1', 'route', 'show'])
    const h3Cidr = podCidrs.get('h3')!
    if (overlay === 'host-gw') {
      t.match(routes, new RegExp(`${h3Cidr.replaceAll('.', '\\.')} via 10\\.250\\.0\\.3 dev eth0`), 'h1 routes h3\'s pods via h3\'s underlay address')
    } else {
      t.match(routes, new RegExp(`${h3Cidr.replaceAll('.', '\\.')} via ${h3Cidr.split('/')[0]!.replaceAll('.', '\\.')} dev flannel\\.1 onlink`), 'h1 routes h3\'s pods through flannel.1')
      const { stdout: vxlan } = await execFileAsync('ip', ['-n', 'fl-h1', '-d', 'link', 'show', 'flannel.1'])
      t.match(vxlan, /vxlan id 1 local 10\.250\.0\.1 dev eth0 .*dstport 8472/, 'flannel.1 is VXLAN VNI 1 on port 8472')
      t.match(vxlan, /mtu 1450/, 'with MTU 1450')
      t.match(vxlan, /link\/ether 0e:00:0a:fa:00:01/, 'and the fixed VTEP MAC')
    }
  } catch (error) {
    t.comment(logs())
    throw error
  }

  const result = await flotilla(['lab', 'down', '--dir', directory], 90_000)
  down = true
  t.equal(result.code, 0, `lab down succeeds ${result.stderr}`)
  t.same(await labNamespaces(), [], 'no lab namespace left')
  t.same(labProcesses(directory), [], 'no lab process left')
}

const unavailable = await missingPrerequisite()
if (unavailable !== undefined && process.env['CI'] === 'true') t.fail(unavailable)
else if (unavailable !== undefined) t.test('pod network in the lab', { skip: unavailable }, async () => {})
else {
  for (const overlay of ['host-gw', 'vxlan'] as const) {
    t.test(`pods on h1 and h3 reach each other over ${overlay}`, (t) => withLabLock(() => runThenClean(() => labScenario(t, overlay))))
  }
}
