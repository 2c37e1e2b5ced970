/**
 * One Flotilla daemon per host, inside the host's network namespace: `flotilla init` on the first
 * host, `flotilla join` on the others, with their data on the host's disk.
 *
 * The daemon's Docker runtime talks to the default socket (/var/run/docker.sock), so each daemon
 * gets a private mount namespace in which its host's engine socket is bind-mounted over the
 * default one; DOCKER_HOST points at it too, for the dockerode clients that honour it. The mount
 * namespace dies with the daemon, so nothing is left mounted on the machine. A UTS namespace gives
 * the daemon the host's name as its hostname.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FlotillaError } from '../../../lib/errors.ts'
import { waitFor } from '../../../lib/poll.ts'
import { makeHostCgroup } from './cgroups.ts'
import { nsenterArgs, processAlive, run, spawnDetached } from './exec.ts'
import type { HostPlan, LabPlan } from './plan.ts'
import { LOCAL_API_PORT } from './plan.ts'

export const FLOTILLA_CLI = join(import.meta.dirname, '../../../node/src/cli.ts')
const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'
/** Starting a daemon loads libp2p, Raft and LevelDB; three at once on 2 busy cores is slow. */
export const DAEMON_START_TIMEOUT_MS = 60_000

/** A daemon exited or did not report success before its deadline. */
export class DaemonStartError extends FlotillaError {
  override name = 'DaemonStartError'
}

export function daemonLogFile(plan: LabPlan, host: HostPlan): string {
  return join(plan.logDirectory, `daemon-${host.name}.log`)
}

/**
 * The flags the node does not store, which `init`, `join` and `start` all need. Its pods use the
 * pod network (network/src/pod-network): the daemon owns the host's namespace, so it builds the
 * host's `cbr0` from its Node's spec.podCIDR and the lab's overlay to the other hosts over the
 * underlay.
 */
function podNetworkArgs(plan: LabPlan, host: HostPlan): string[] {
  return ['--runtime', 'docker', '--pod-network', 'overlay', '--overlay', plan.overlay, '--underlay-ip', host.underlayIp]
}

/** The flags of `init` and `join`: the node's identity and addresses, then podNetworkArgs. */
function daemonArgs(plan: LabPlan, host: HostPlan): string[] {
  return [
    '--data', host.flotillaData, '--name', host.name, '--zone', host.zone, '--listen', host.p2pListen, '--api-port', String(LOCAL_API_PORT), '--kube-listen', host.kubeListen,
    ...podNetworkArgs(plan, host),
  ]
}

/**
 * Spawns `flotilla <command…>` as the host's daemon: inside its network namespace, in a private
 * mount and UTS namespace (the host's engine socket over the default one, the host's name as the
 * hostname), in the host's `agent` cgroup, logging to the host's daemon log. `env` adds to the
 * environment. Resolves with its PID.
 */
function spawnDaemon(plan: LabPlan, host: HostPlan, command: readonly string[], env: Readonly<Record<string, string>> = {}): number {
  const cli = [process.execPath, FLOTILLA_CLI, ...command]
  const inPrivateMounts = ['unshare', '--mount', '--propagation', 'private', '--uts', '--', 'sh', '-c', 'mount --bind "$FL_DOCKER_SOCKET" "$FL_DEFAULT_DOCKER_SOCKET" && hostname "$FL_HOSTNAME" && exec "$@"', 'sh', ...cli]
  return spawnDetached(['nsenter', ...nsenterArgs(host.netns, inPrivateMounts)], {
    cgroupProcs: makeHostCgroup(host.cgroup, 'agent'),
    logFile: daemonLogFile(plan, host),
    env: {
      ...process.env,
      FL_DOCKER_SOCKET: host.dockerSocket,
      FL_DEFAULT_DOCKER_SOCKET: DEFAULT_DOCKER_SOCKET,
      FL_HOSTNAME: host.name,
      DOCKER_HOST: `unix://${host.dockerSocket}`,
      FLOTILLA_RUNTIME: 'docker',
      // Daemons sharing one machine would each report the whole machine's usage.
      FLOTILLA_NODE_USAGE: 'containers',
      ...env,
    },
  })
}

/** Starts `flotilla init` (no token) or `flotilla join TOKEN` on the host; resolves with its PID. */
export function startDaemon(plan: LabPlan, host: HostPlan, joinToken: string | undefined): number {
  return spawnDaemon(plan, host, [...(joinToken === undefined ? ['init'] : ['join', joinToken]), ...daemonArgs(plan, host)])
}

/** Starts `flotilla start` from the host's data directory (a restart); `env` adds to the environment. */
export function startDaemonFromData(plan: LabPlan, host: HostPlan, env: Readonly<Record<string, string>> = {}): number {
  return spawnDaemon(plan, host, ['start', '--data', host.flotillaData, ...podNetworkArgs(plan, host)], env)
}

/** Waits for the daemon's log to match `pattern`; fails early, with the log's tail, if it exits. */
export async function waitForDaemonOutput(plan: LabPlan, host: HostPlan, pid: number, what: string, pattern: RegExp, timeoutMs = DAEMON_START_TIMEOUT_MS): Promise<string> {
  const logFile = daemonLogFile(plan, host)
  const read = (): string => {
    try {
      return readFileSync(logFile, 'utf8')
    } catch {
      return ''
    }
  }
  return waitFor(`the daemon on ${host.name} to ${what}`, timeoutMs, () => {
    const match = pattern.exec(read())
    if (match !== null) return match[0]
    if (!processAlive(pid)) throw new DaemonStartError(`the daemon on ${host.name} exited before it could ${what}:\n${read().trim().split('\n').slice(-15).join('\n')}`)
    return undefined
  }, 100)
}

/** Runs a `flotilla` command (status, kubeconfig, token…) against the host's daemon, in its namespace. */
export function flotillaInHost(host: HostPlan, args: readonly string[], timeoutMs = 30_000): Promise<string> {
  return run('nsenter', nsenterArgs(host.netns, [process.execPath, FLOTILLA_CLI, ...args, '--data', host.flotillaData]), { timeoutMs })
}
