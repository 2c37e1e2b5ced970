// Goal: `flotilla lab up --hosts 3 --zones 3` builds three emulated hosts, each with its own
// engine and daemon, forming one cluster that kubectl sees as three Ready nodes; a pod pinned to a
// host runs on that host's engine; hosts cannot reach outside; `flotilla lab down` leaves nothing
// (namespaces, processes, mounts, cgroups, shim sockets). Method: the real CLI as a process, as
// root, in its own lab directory. Skipped (failed when CI=true) without root, `ip netns`, dockerd
// or kubectl 1.20.
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { engine, execFileAsync, flotilla, kubectl, labNamespaces, labProcesses, missingPrerequisite } from './lab-harness.ts'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { withLabLock } from './lab-lock.ts'

const HOSTS = ['h1', 'h2', 'h3'] as const


const unavailable = await missingPrerequisite()
if (unavailable !== undefined && process.env['CI'] === 'true') t.fail(unavailable)
else if (unavailable !== undefined) t.test('lab up/status/kubeconfig/down', { skip: unavailable }, async () => {})
else {
  // Lab namespaces have fixed names: one lab on the machine at a time.
  t.test('a 3-host lab forms one cluster and leaves nothing behind', (t) => withLabLock(async () => {
    const directory = mkdtempSync('/tmp/flotilla-lab-test-')
    let down = false
    // Torn down inside the lock, not in t.teardown (which runs after the lock is released and
    // would remove the next lab user's namespaces).
    try {
      const up = await flotilla(['lab', 'up', '--hosts', '3', '--zones', '3', '--dir', directory], 90_000)
      const logs = (): string => {
        const logDirectory = join(directory, 'logs')
        if (!existsSync(logDirectory)) return ''
        return readdirSync(logDirectory).map((file) => `== ${file}\n${readFileSync(join(logDirectory, file), 'utf8').split('\n').slice(-20).join('\n')}`).join('\n')
      }
      if (!t.equal(up.code, 0, 'lab up succeeds')) {
        t.comment(`${up.stdout}\n${up.stderr}\n${logs()}`)
        return
      }

      const state = JSON.parse(readFileSync(join(directory, 'lab.json'), 'utf8')) as { enginePids: Record<string, number> }
      for (const host of HOSTS) {
        const info = await engine(host).info()
        t.equal(statSync(`/proc/${state.enginePids[host]}/ns/net`).ino, statSync(`/run/netns/fl-${host}`).ino, `${host}'s engine runs in ${host}'s network namespace`)
        t.match(info.DockerRootDir as string, new RegExp(`^${directory}/${host}/docker$`), `${host}'s engine keeps its data on the host's disk`)
      }

      const status = await flotilla(['lab', 'status', '--dir', directory, '-o', 'json'], 30_000)
      t.equal(status.code, 0, 'lab status succeeds')
      const parsed = JSON.parse(status.stdout) as { hosts: { name: string; zone: string; netns: boolean; engine: boolean; daemon: boolean }[]; cluster: string }
      t.same(parsed.hosts.map((host) => [host.name, host.zone, host.netns, host.engine, host.daemon]), [['h1', 'z1', true, true, true], ['h2', 'z2', true, true, true], ['h3', 'z3', true, true, true]], 'every host has its namespace, engine and daemon')
      for (const host of HOSTS) t.match(parsed.cluster, new RegExp(`\\n${host}\\s.*\\salive\\s`), `flotilla status lists ${host} alive`)

      const kubeconfigText = await flotilla(['lab', 'kubeconfig', '--dir', directory], 30_000)
      t.equal(kubeconfigText.code, 0, 'lab kubeconfig succeeds')
      const kubeconfig = join(directory, 'test.kubeconfig')
      writeFileSync(kubeconfig, kubeconfigText.stdout)
      const ready = await waitFor('3 Ready nodes', 30_000, async () => {
        const nodes = JSON.parse(await kubectl(kubeconfig, ['get', 'nodes', '-o', 'json'])) as { items: { metadata: { name: string; labels: Record<string, string> }; status: { conditions: { type: string; status: string }[]; addresses: { type: string; address: string }[] } }[] }
        const readyNodes = nodes.items.filter((node) => node.status.conditions.some((condition) => condition.type === 'Ready' && condition.status === 'True'))
        return readyNodes.length === 3 ? readyNodes : undefined
      }, 500)
      t.same(ready.map((node) => node.metadata.name).sort(), ['h1', 'h2', 'h3'], 'kubectl sees three Ready nodes')
      t.same(ready.map((node) => node.status.addresses.find((address) => address.type === 'InternalIP')?.address).sort(), ['10.250.0.1', '10.250.0.2', '10.250.0.3'], 'each node reports its underlay address')

      const manifest = join(directory, 'pinned.yaml')
      writeFileSync(manifest, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pinned', namespace: 'default' }, spec: { nodeName: 'h3', containers: [{ name: 'app', image: 'flotilla/busybox:local', command: ['sleep', '3600'] }] } }))
      await kubectl(kubeconfig, ['apply', '-f', manifest])
      const podFilter = { filters: JSON.stringify({ label: ['dev.flotilla.pod.name=pinned'], status: ['running'] }) }
      const onH3 = await waitFor('the pinned pod to run on h3', 30_000, async () => {
        const containers = await engine('h3').listContainers(podFilter)
        return containers.length >= 2 ? containers : undefined
      }, 250)
      t.ok(onH3.length >= 2, 'the pod (sandbox and app) runs on h3\'s engine')
      for (const host of ['h1', 'h2']) t.equal((await engine(host).listContainers({ all: true, filters: JSON.stringify({ label: ['dev.flotilla.pod.name=pinned'] }) })).length, 0, `nothing of the pod on ${host}'s engine`)
      await waitFor('kubectl to report the pod Running', 20_000, async () => ((await kubectl(kubeconfig, ['get', 'pod', 'pinned', '-o', 'jsonpath={.status.phase}'])) === 'Running' ? true : undefined), 250)

      for (const host of HOSTS) {
        const { stdout } = await execFileAsync('ip', ['-n', `fl-${host}`, 'route', 'show', 'default'])
        t.equal(stdout.trim(), '', `${host} has no default route`)
        await t.rejects(execFileAsync('ip', ['-n', `fl-${host}`, 'route', 'get', '8.8.8.8']), `${host} cannot route outside the lab`)
      }

      // The shim sockets containerd would leak into its shared directory, named by sha256.
      const shimSockets: string[] = []
      for (const host of HOSTS) {
        for (const container of await engine(host).listContainers({ all: true })) {
          shimSockets.push(join('/run/containerd/s', createHash('sha256').update(`/run/fl-${host}/docker/containerd/containerd.sock/moby/${container.Id}`).digest('hex')))
        }
      }
      t.ok(shimSockets.length >= 2, 'the lab has containers whose shims must be cleaned up')

      const result = await flotilla(['lab', 'down', '--dir', directory], 60_000)
      down = true
      t.equal(result.code, 0, `lab down succeeds ${result.stderr}`)
      t.same(await labNamespaces(), [], 'no lab namespace left')
      t.same(labProcesses(directory), [], 'no lab dockerd, containerd, shim or daemon left')
      t.same(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(directory) || line.includes('/run/fl-h')), [], 'no mount under the lab directory')
      t.same(readdirSync('/sys/fs/cgroup').filter((controller) => HOSTS.some((host) => existsSync(`/sys/fs/cgroup/${controller}/fl-${host}`))), [], 'no host cgroup left')
      t.same(shimSockets.filter((socket) => existsSync(socket)), [], 'no shim socket left')
      t.notOk(existsSync(join(directory, 'lab.json')), 'the state file is gone')

      const again = await flotilla(['lab', 'down', '--dir', directory], 60_000)
      t.equal(again.code, 0, 'lab down is idempotent')
    } finally {
      if (!down) await flotilla(['lab', 'down', '--dir', directory], 60_000)
      rmSync(directory, { recursive: true, force: true })
    }
  }))
}
