/**
 * Service data-plane benchmark (issue 7), on a lab of emulated hosts (root; builds its own lab and
 * tears it down):
 *
 *   ./run bench network [--hosts 5] [--flips 20] [--requests 2000] [--concurrency 8]
 *
 * 1. Endpoint propagation: one pod behind a Service, with a readiness probe on a file. The bench
 *    flips readiness `--flips` times (removing and recreating the file in the container) and, for
 *    each flip, times until every host's nftables ruleset (`nft -j list table ip flotilla-proxy`
 *    in that host's namespace, polled every 25 ms) has dropped or regained the pod's address.
 *    Printed from two starts: from the moment the API shows the new Ready condition (what the
 *    issue calls "pod Ready → all nodes' rules updated"; negative when gossip beat the API), and
 *    from the flip itself (which includes up to one probe period, 1 s).
 * 2. VIP overhead: HTTP GETs from host h1 to an httpd pod on another host, `--requests` of them
 *    with `--concurrency` in flight, once to the pod IP directly (the peer measured in the same run)
 *    and once through the Service's ClusterIP, in 3 alternating rounds; prints the median rates and
 *    their ratio.
 *
 * Judges nothing; writes bench/results/network-<timestamp>.json.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { promisify } from 'node:util'
import Docker from 'dockerode'
import { waitFor } from '../lib/poll.ts'
import { labDown, labKubeconfig, labUp } from '../chaos/src/lab/lab.ts'
import { withLabLock } from '../tests/chaos/lab-lock.ts'
import { integerOption } from './bench-options.ts'
import { REPO_ROOT } from './flotilla-cluster.ts'

const execFileAsync = promisify(execFile)
const KUBECTL = path.join(REPO_ROOT, '.tools/kubectl120/usr/bin/kubectl')
const IMAGE = 'flotilla/busybox:local'
const POLL_MS = 25
const FLIP_TIMEOUT_MS = 30_000
const THROUGHPUT_ROUNDS = 3

interface Options {
  readonly hosts: number
  readonly flips: number
  readonly requests: number
  readonly concurrency: number
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: { hosts: { type: 'string', default: '5' }, flips: { type: 'string', default: '20' }, requests: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '8' } },
  })
  return {
    hosts: integerOption(values.hosts ?? '5', 5, 2, 8, '--hosts'),
    flips: integerOption(values.flips ?? '20', 20, 1, 200, '--flips'),
    requests: integerOption(values.requests ?? '2000', 2000, 10, 50_000, '--requests'),
    concurrency: integerOption(values.concurrency ?? '8', 8, 1, 64, '--concurrency'),
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
}

class Lab {
  readonly hosts: readonly string[]
  readonly kubeconfig: string

  constructor(hosts: number, kubeconfig: string) {
    this.hosts = Array.from({ length: hosts }, (_, index) => `h${index + 1}`)
    this.kubeconfig = kubeconfig
  }

  async kubectl(args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const { stdout } = await execFileAsync('nsenter', ['--net=/run/netns/fl-h1', '--', KUBECTL, '--kubeconfig', this.kubeconfig, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 })
    return stdout
  }

  async podJson(name: string): Promise<{ ip: string; node: string; ready: boolean }> {
    const pod = JSON.parse(await this.kubectl(['get', 'pod', name, '-o', 'json'])) as { spec: { nodeName?: string }; status: { podIP?: string; conditions?: { type: string; status: string }[] } }
    return { ip: pod.status.podIP ?? '', node: pod.spec.nodeName ?? '', ready: pod.status.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ?? false }
  }

  /** Whether host `host`'s service proxy table names `ip` (as a DNAT target). */
  async ruleHas(host: string, ip: string): Promise<boolean> {
    const { stdout } = await execFileAsync('nsenter', [`--net=/run/netns/fl-${host}`, '--', 'nft', '-j', 'list', 'table', 'ip', 'flotilla-proxy'], { timeout: 5000, maxBuffer: 16 * 1024 * 1024 }).catch(() => ({ stdout: '' }))
    return stdout.includes(`"${ip}"`)
  }

  async execInPod(host: string, podName: string, command: string[]): Promise<void> {
    const docker = new Docker({ socketPath: `/run/fl-${host}/docker.sock` })
    const [container] = await docker.listContainers({ filters: JSON.stringify({ label: [`dev.flotilla.pod.name=${podName}`, 'dev.flotilla.kind=container'], status: ['running'] }) })
    if (container === undefined) throw new Error(`no running container of pod ${podName} on ${host}`)
    const exec = await docker.getContainer(container.Id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true })
    const stream = await exec.start({ hijack: true, stdin: false })
    stream.resume()
    await new Promise((done) => stream.on('end', done))
  }
}

function manifest(): object {
  const pod = (name: string, command: string, extra: object): object => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'default' },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['h1'] }] }] } } }, containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', command], ports: [{ containerPort: 8080 }], ...extra }] } } },
  })
  const service = (name: string): object => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } })
  const page = 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www'
  return {
    apiVersion: 'v1', kind: 'List', items: [
      pod('flip', `touch /ready; ${page}`, { readinessProbe: { exec: { command: ['test', '-f', '/ready'] }, periodSeconds: 1, failureThreshold: 1, successThreshold: 1 } }),
      service('flip'),
      pod('web', page, {}),
      service('web'),
    ],
  }
}

/** One readiness flip: until every host agrees; times from the flip and from the API's view. */
async function flip(lab: Lab, podName: string, node: string, ip: string, ready: boolean): Promise<{ fromFlipMs: number; fromApiMs: number }> {
  const startMs = performance.now()
  await lab.execInPod(node, podName, ready ? ['touch', '/ready'] : ['rm', '-f', '/ready'])
  let apiMs: number | undefined
  const pending = new Set(lab.hosts)
  let allMs: number | undefined
  const deadline = startMs + FLIP_TIMEOUT_MS
  const apiWatch = (async () => {
    while (apiMs === undefined && performance.now() < deadline) {
      if ((await lab.podJson(podName)).ready === ready) apiMs = performance.now()
      else await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  })()
  while (pending.size > 0 && performance.now() < deadline) {
    await Promise.all([...pending].map(async (host) => {
      if ((await lab.ruleHas(host, ip)) === ready) pending.delete(host)
    }))
    if (pending.size === 0) allMs = performance.now()
    else await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
  await apiWatch
  if (allMs === undefined || apiMs === undefined) throw new Error(`flip to ready=${String(ready)} did not complete within ${FLIP_TIMEOUT_MS} ms (hosts left: ${[...pending].join(',')})`)
  return { fromFlipMs: allMs - startMs, fromApiMs: allMs - apiMs }
}

/** GETs `url` from inside host h1: `requests` of them, `concurrency` at a time; requests per second. */
async function throughput(url: string, requests: number, concurrency: number): Promise<{ perSecond: number; failures: number }> {
  const script = `
    const http = require('node:http')
    const agent = new http.Agent({ keepAlive: false })
    let next = 0, failures = 0
    const one = () => new Promise((done) => {
      const request = http.get(${JSON.stringify(url)}, { agent, timeout: 5000 }, (response) => { response.resume(); response.on('end', done) })
      request.on('error', () => { failures++; done() })
      request.on('timeout', () => request.destroy(new Error('timeout')))
    })
    const worker = async () => { while (next++ < ${requests}) await one() }
    const start = performance.now()
    Promise.all(Array.from({ length: ${concurrency} }, worker)).then(() => {
      process.stdout.write(JSON.stringify({ ms: performance.now() - start, failures }))
    })`
  const { stdout } = await execFileAsync('nsenter', ['--net=/run/netns/fl-h1', '--', process.execPath, '-e', script], { timeout: 120_000 })
  const result = JSON.parse(stdout) as { ms: number; failures: number }
  return { perSecond: (requests - result.failures) / (result.ms / 1000), failures: result.failures }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  if (process.getuid?.() !== 0) throw new Error('the network bench builds a lab: run it as root')
  const directory = mkdtempSync(path.join(os.tmpdir(), 'flotilla-netbench-'))
  await withLabLock(async () => {
    const say = (line: string): void => void process.stdout.write(`${line}\n`)
    try {
      say(`building a ${options.hosts}-host lab…`)
      await labUp({ hosts: options.hosts, zones: Math.min(3, options.hosts), directory, overlay: 'host-gw', log: () => {} })
      const kubeconfig = path.join(directory, 'bench.kubeconfig')
      writeFileSync(kubeconfig, await labKubeconfig(directory), { mode: 0o600 })
      const lab = new Lab(options.hosts, kubeconfig)
      await waitFor('every node Ready', 180_000, async () => {
        const lines = (await lab.kubectl(['get', 'nodes', '--no-headers']).catch(() => '')).trim().split('\n').filter((line) => line !== '')
        return lines.length === options.hosts && lines.every((line) => /\sReady\s/.test(line)) ? true : undefined
      }, 500)
      const file = path.join(directory, 'bench.json')
      writeFileSync(file, JSON.stringify(manifest()))
      await lab.kubectl(['apply', '-f', file])
      await lab.kubectl(['rollout', 'status', 'deployment/flip', '--timeout=180s'], 200_000)
      await lab.kubectl(['rollout', 'status', 'deployment/web', '--timeout=180s'], 200_000)
      const podName = async (app: string): Promise<string> => (await lab.kubectl(['get', 'pods', '-l', `app=${app}`, '-o', 'jsonpath={.items[0].metadata.name}'])).trim()
      const flipPod = await podName('flip')
      const { ip, node } = await lab.podJson(flipPod)
      await waitFor('every host to route to the pod', 60_000, async () => ((await Promise.all(lab.hosts.map((host) => lab.ruleHas(host, ip)))).every(Boolean) ? true : undefined), 100)

      say(`endpoint propagation: ${options.flips} readiness flips of ${flipPod} (${ip} on ${node}), ${options.hosts} hosts`)
      const samples: { ready: boolean; fromFlipMs: number; fromApiMs: number }[] = []
      for (let i = 0; i < options.flips; i++) {
        const ready = i % 2 === 1
        const sample = await flip(lab, flipPod, node, ip, ready)
        samples.push({ ready, ...sample })
      }
      const fromApi = samples.map((sample) => sample.fromApiMs)
      const fromFlip = samples.map((sample) => sample.fromFlipMs)
      say(`  API shows the new Ready → all ${options.hosts} hosts' rules updated: p50 ${percentile(fromApi, 50).toFixed(0)} ms, p99 ${percentile(fromApi, 99).toFixed(0)} ms`)
      say(`  readiness flipped in the container → all hosts updated (incl. ≤1 s probe period): p50 ${percentile(fromFlip, 50).toFixed(0)} ms, p99 ${percentile(fromFlip, 99).toFixed(0)} ms`)

      const web = await lab.podJson(await podName('web'))
      const clusterIp = (await lab.kubectl(['get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim()
      await waitFor('h1 to route the web Service', 60_000, async () => ((await lab.ruleHas('h1', web.ip)) ? true : undefined), 100)
      // Warm both paths (ARP, conntrack, the pod's first accept) before timing.
      await throughput(`http://${web.ip}:8080/`, 50, 4)
      await throughput(`http://${clusterIp}/`, 50, 4)
      // Alternating rounds, median of each: the machine's load drifts during a run.
      const directRounds: { perSecond: number; failures: number }[] = []
      const vipRounds: { perSecond: number; failures: number }[] = []
      for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
        directRounds.push(await throughput(`http://${web.ip}:8080/`, options.requests, options.concurrency))
        vipRounds.push(await throughput(`http://${clusterIp}/`, options.requests, options.concurrency))
      }
      const median = (rounds: readonly { perSecond: number; failures: number }[]): { perSecond: number; failures: number } => ({
        perSecond: percentile(rounds.map((entry) => entry.perSecond), 50),
        failures: rounds.reduce((sum, entry) => sum + entry.failures, 0),
      })
      const direct = median(directRounds)
      const viaVip = median(vipRounds)
      say(`VIP overhead: ${options.requests} GETs × ${THROUGHPUT_ROUNDS} alternating rounds (median), ${options.concurrency} in flight, h1 → pod on ${web.node}`)
      say(`  direct to the pod IP: ${direct.perSecond.toFixed(0)} req/s (${direct.failures} failed)`)
      say(`  through the ClusterIP: ${viaVip.perSecond.toFixed(0)} req/s (${viaVip.failures} failed)`)
      say(`  ratio VIP / direct: ${(viaVip.perSecond / direct.perSecond).toFixed(2)}`)

      const results = path.join(REPO_ROOT, 'bench', 'results')
      mkdirSync(results, { recursive: true })
      const out = path.join(results, `network-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
      writeFileSync(out, JSON.stringify({ options, propagation: { samples, fromApi: { p50: percentile(fromApi, 50), p99: percentile(fromApi, 99) }, fromFlip: { p50: percentile(fromFlip, 50), p99: percentile(fromFlip, 99) } }, throughput: { direct, viaVip, ratio: viaVip.perSecond / direct.perSecond } }, null, 2))
      say(`results: ${out}`)
    } finally {
      await labDown(directory).catch((error: Error) => say(`lab down: ${error.message}`))
      rmSync(directory, { recursive: true, force: true })
    }
  }, 30 * 60_000)
}

main().catch((error: Error) => {
  process.stderr.write(`network bench: ${error.stack ?? error.message}\n`)
  process.exit(1)
})
