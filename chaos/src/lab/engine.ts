/**
 * One Docker engine per host: a dockerd (which starts its own managed containerd) in the host's
 * network namespace, with its own data-root on the host's "disk", exec-root and socket under the
 * host's volatile run directory, and every container under the host's cgroup.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import Docker from 'dockerode'
import { FlotillaError } from '../../../lib/errors.ts'
import { waitFor } from '../../../lib/poll.ts'
import { ensureLocalImages } from '../../../runtime/src/local-images.ts'
import { makeHostCgroup } from './cgroups.ts'
import { attempt, nsenterArgs, processAlive, spawnDetached } from './exec.ts'
import type { HostPlan, LabPlan } from './plan.ts'

/** Three engines starting at once on a busy 2-core machine took up to 1.5 s; allow a wide margin. */
export const ENGINE_READY_TIMEOUT_MS = 30_000
/** Where containerd 1.6 puts shim sockets, for every containerd on the machine (hard-coded). */
const SHARED_SHIM_DIRECTORY = '/run/containerd/s'
/** A system containerd here would be adopted by every lab dockerd instead of starting their own. */
const SYSTEM_CONTAINERD_SOCKET = '/run/containerd/containerd.sock'

/** An engine did not come up (it exited, or never answered before the deadline). */
export class EngineStartError extends FlotillaError {
  override name = 'EngineStartError'
}

export function engineClient(host: HostPlan): Docker {
  return new Docker({ socketPath: host.dockerSocket })
}

/** Starts the host's dockerd in its network namespace; resolves with dockerd's PID. */
export function startEngine(plan: LabPlan, host: HostPlan): number {
  if (existsSync(SYSTEM_CONTAINERD_SOCKET)) throw new EngineStartError(`${SYSTEM_CONTAINERD_SOCKET} exists: every lab engine would share that containerd; the lab needs each dockerd to start its own`)
  mkdirSync(host.runDirectory, { recursive: true })
  mkdirSync(host.diskDirectory, { recursive: true })
  const dockerd = [
    'dockerd',
    '--data-root', join(host.diskDirectory, 'docker'),
    '--exec-root', join(host.runDirectory, 'docker'),
    '--pidfile', join(host.runDirectory, 'docker.pid'),
    '-H', `unix://${host.dockerSocket}`,
    // No default bridge: the daemon's pod network plumbs every sandbox (created with network
    // "none") onto the host's cbr0, with an address from the host's Node's spec.podCIDR.
    '--bridge=none',
    '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--ip-forward=false', '--userland-proxy=false',
    `--cgroup-parent=/${host.cgroup}`,
    '--storage-driver=overlay2',
    '--log-level=warn',
  ]
  return spawnDetached(['nsenter', ...nsenterArgs(host.netns, dockerd)], {
    cgroupProcs: makeHostCgroup(host.cgroup, 'engine'),
    logFile: join(plan.logDirectory, `dockerd-${host.name}.log`),
  })
}

/** Waits until the engine answers on its socket; fails early if dockerd exits. */
export async function waitForEngine(plan: LabPlan, host: HostPlan, pid: number, timeoutMs = ENGINE_READY_TIMEOUT_MS): Promise<void> {
  const docker = engineClient(host)
  await waitFor(`the engine of ${host.name} to answer on ${host.dockerSocket}`, timeoutMs, async () => {
    if (!processAlive(pid)) throw new EngineStartError(`dockerd of ${host.name} exited during start; see ${join(plan.logDirectory, `dockerd-${host.name}.log`)}`)
    try {
      await docker.ping()
      return true
    } catch {
      return undefined
    }
  }, 50)
}

/**
 * Builds Flotilla's busybox and pause images in the host's engine (no registry is reachable). The
 * daemon's Docker agent does this too at start; doing it here makes the host ready before the
 * daemon is, and keeps three daemons from building at once on a loaded machine.
 */
export async function loadImages(host: HostPlan): Promise<void> {
  await ensureLocalImages(engineClient(host))
}

/** Whether the engine answers within a short deadline (for `lab status`). */
export async function engineAnswers(host: HostPlan, timeoutMs = 2_000): Promise<boolean> {
  if (!existsSync(host.dockerSocket)) return false
  return Promise.race([
    engineClient(host).ping().then(() => true, () => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref()),
  ])
}

/**
 * Deletes the shim sockets of the host's containers from the shared shim directory: containerd
 * leaves them behind when a shim is SIGKILLed. The name is sha256 of
 * "<containerd address>/moby/<container id>", so it is computed from the containers on the disk.
 */
export function removeShimSockets(host: HostPlan): void {
  const containers = join(host.diskDirectory, 'docker', 'containers')
  if (!existsSync(containers)) return
  const address = join(host.runDirectory, 'docker', 'containerd', 'containerd.sock')
  for (const id of readdirSync(containers)) {
    const socket = join(SHARED_SHIM_DIRECTORY, createHash('sha256').update(`${address}/moby/${id}`).digest('hex'))
    rmSync(socket, { force: true })
  }
}

/** Mount points at or under `roots`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(roots: readonly string[]): string[] {
  const mountPoints = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => roots.some((root) => point === root || point.startsWith(`${root}/`)))
  return [...new Set(mountPoints)].sort((a, b) => b.length - a.length)
}

/** Lazily unmounts what the engine left mounted (overlay roots, sandbox netns files, shm). */
export async function unmountHost(host: HostPlan): Promise<void> {
  for (const point of mountsUnder([host.diskDirectory, host.runDirectory])) await attempt('umount', ['-l', point])
}
