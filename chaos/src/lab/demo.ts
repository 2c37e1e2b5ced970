/**
 * `flotilla lab demo`: Flotilla's main job in one command. It brings up a 3-host lab (or uses the
 * one that is up), deploys a sample web app — a Deployment of three busybox httpd pods that answer
 * with their pod name, and a Service in front of them — waits for the rollout, then shows the app
 * answering through the Service's virtual IP from every host, and by its DNS name from inside a
 * pod. The lab stays up afterwards for exploring (`flotilla lab down` removes it).
 *
 * It uses kubectl (kubectl 1.20 from `.tools/` when `./run setup` installed it, otherwise the one on
 * PATH) inside host h1's network namespace, where the lab's API addresses exist.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { FlotillaError } from '../../../lib/errors.ts'
import { waitFor } from '../../../lib/poll.ts'
import { labKubeconfig, labStatus, labUp } from './lab.ts'

const execFileAsync = promisify(execFile)
const BUNDLED_KUBECTL = resolve(import.meta.dirname, '../../../.tools/kubectl120/usr/bin/kubectl')
const IMAGE = 'flotilla/busybox:local'
const REPLICAS = 3
const ROLLOUT_TIMEOUT_MS = 180_000
const REQUESTS_PER_HOST = 4

/** The sample app: pods that say who they are, behind a Service on port 80. */
export function demoManifest(): object {
  const labels = { app: 'hello' }
  const page = 'mkdir -p /www && echo "hello from pod $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www'
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'hello', namespace: 'default', labels },
        spec: {
          replicas: REPLICAS,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              // One pod per host where possible, so the Service visibly spans the hosts.
              topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: labels } }],
              containers: [{
                name: 'web',
                image: IMAGE,
                imagePullPolicy: 'Never',
                command: ['sh', '-c', page],
                ports: [{ name: 'http', containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 2 },
              }],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'hello', namespace: 'default' },
        spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      },
    ],
  }
}

export interface LabDemoOptions {
  readonly directory: string
  readonly say: (line: string) => void
}

/** Runs the demo; resolves with the process exit code. */
export async function runLabDemo(options: LabDemoOptions): Promise<number> {
  const { directory, say } = options
  const kubectlPath = existsSync(BUNDLED_KUBECTL) ? BUNDLED_KUBECTL : 'kubectl'
  const existing = await labStatus(directory).catch(() => undefined)
  if (existing === undefined || existing.phase !== 'up') {
    say('Bringing up a 3-host lab (hosts h1–h3 in zones z1–z3)…')
    await labUp({ hosts: 3, zones: 3, directory, overlay: 'host-gw', log: say })
  }
  const status = await labStatus(directory)
  const work = mkdtempSync(join(tmpdir(), 'flotilla-demo-'))
  try {
    const kubeconfig = join(work, 'kubeconfig')
    writeFileSync(kubeconfig, await labKubeconfig(directory), { mode: 0o600 })
    const manifest = join(work, 'hello.json')
    writeFileSync(manifest, JSON.stringify(demoManifest(), null, 2))
    const kubectl = async (args: readonly string[], timeoutMs = 30_000): Promise<string> => {
      try {
        const { stdout } = await execFileAsync('nsenter', ['--net=/run/netns/fl-h1', '--', kubectlPath, '--kubeconfig', kubeconfig, ...args], { timeout: timeoutMs })
        return stdout
      } catch (error) {
        const failure = error as { stderr?: string; message: string }
        throw new FlotillaError(`kubectl ${args.join(' ')} failed: ${(failure.stderr ?? '').trim() || failure.message}`)
      }
    }
    await waitFor('every lab node to be Ready', 120_000, async () => {
      const nodes = (await kubectl(['get', 'nodes', '--no-headers']).catch(() => '')).trim().split('\n').filter((line) => line !== '')
      return nodes.length === status.hosts.length && nodes.every((line) => /\sReady\s/.test(line)) ? true : undefined
    }, 500)
    say('\n$ kubectl get nodes')
    say((await kubectl(['get', 'nodes'])).trimEnd())
    say('\n$ kubectl apply -f hello.json   # a Deployment of 3 httpd pods and a Service')
    say((await kubectl(['apply', '-f', manifest])).trimEnd())
    say('\n$ kubectl rollout status deployment/hello')
    say((await kubectl(['rollout', 'status', 'deployment/hello', `--timeout=${ROLLOUT_TIMEOUT_MS / 1000}s`], ROLLOUT_TIMEOUT_MS + 10_000)).trimEnd())
    say('\n$ kubectl get pods -o wide')
    say((await kubectl(['get', 'pods', '-l', 'app=hello', '-o', 'wide'])).trimEnd())
    const clusterIp = (await kubectl(['get', 'service', 'hello', '-o', 'jsonpath={.spec.clusterIP}'])).trim()
    say('\n$ kubectl get service hello')
    say((await kubectl(['get', 'service', 'hello'])).trimEnd())

    let failures = 0
    for (const host of status.hosts) {
      const answers: string[] = []
      for (let i = 0; i < REQUESTS_PER_HOST; i++) {
        answers.push(await fetchFromHost(host.name, `http://${clusterIp}/`).catch((error: Error) => {
          failures++
          return `failed: ${error.message}`
        }))
      }
      say(`\nfrom host ${host.name}: wget http://${clusterIp}/ ×${REQUESTS_PER_HOST}`)
      for (const answer of answers) say(`  ${answer}`)
    }
    const pod = (await kubectl(['get', 'pods', '-l', 'app=hello', '-o', 'jsonpath={.items[0].metadata.name}'])).trim()
    say(`\n$ kubectl exec ${pod} -- wget -qO- http://hello.default.svc.cluster.local/   # cluster DNS`)
    try {
      say((await kubectl(['exec', pod, '--', 'timeout', '5', 'wget', '-qO-', 'http://hello.default.svc.cluster.local/'])).trimEnd())
    } catch (error) {
      failures++
      say(`  ${(error as Error).message}`)
    }
    say('\nThe lab stays up. Explore it with:')
    say(`  flotilla lab kubeconfig --dir ${directory} > lab.kubeconfig`)
    say('  nsenter --net=/run/netns/fl-h1 kubectl --kubeconfig lab.kubeconfig get pods -o wide')
    say(`  flotilla lab chaos --suite short --dir ${directory}   # kill the leader's host, partition, kill a zone`)
    say(`  flotilla lab down --dir ${directory}`)
    return failures === 0 ? 0 : 1
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** One HTTP GET from inside a lab host's network namespace (busybox wget; `-T` crashes, hence `timeout`). */
async function fetchFromHost(host: string, url: string): Promise<string> {
  const { stdout } = await execFileAsync('nsenter', [`--net=/run/netns/fl-${host}`, '--', 'timeout', '5', 'busybox', 'wget', '-qO-', url], { timeout: 10_000 })
  return stdout.trim()
}
