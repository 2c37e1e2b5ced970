/**
 * The `flotilla` command line: cluster lifecycle (init, join, start, status, token, leave) and,
 * through kubectl/run-verb.ts, the daily Kubernetes verbs (get, describe, apply, delete, logs…).
 *
 *   flotilla init  [--data DIR] [--name NAME] [--zone ZONE] [--listen MULTIADDR] [--api-port N] [--kube-listen HOST:PORT] [--mdns]
 *   flotilla join TOKEN [--data DIR] [--name NAME] [--zone ZONE] [--listen MULTIADDR] [--api-port N] [--kube-listen HOST:PORT] [--mdns]
 *   flotilla start [--data DIR]        restart a node from its data directory (no rejoin)
 *     (init, join, start: --runtime docker|hollow|none  --crash-backoff-initial-ms N  --node-not-ready-grace-ms N  --pod-eviction-timeout-ms N
 *      --pod-network bridge|overlay  --overlay host-gw|vxlan  --underlay-ip IP)
 *   flotilla status [--data DIR] [-o json]
 *   flotilla token [--data DIR]        print a join token for this cluster
 *   flotilla leave [--data DIR]        leave the cluster and stop the daemon
 *   flotilla kubeconfig [--data DIR]   print a kubeconfig for kubectl against this node
 *   flotilla lab up|status|kubeconfig|down|demo|chaos   a multi-host lab on this machine (root; see chaos/src/lab/cli.ts)
 *
 * The Kubernetes verbs (their usage lines come from kubectl/run-verb.ts) talk to the cluster
 * through the kubeconfig, failing over to another node when one is down. The daemon code is
 * imported only by the commands that run a daemon, so these verbs start quickly.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import { readFileSync, rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { FlotillaError } from '../../lib/errors.ts'
import { decodeJoinToken } from './cluster/join-token.ts'
import { isInitialized, newClusterId, newJoinSecret, newNodeId, readNodeConfig, validateNodeName, writeNodeConfig, type NodeConfig } from './cluster/node-config.ts'
import type { Daemon, DaemonStatus } from './daemon.ts'
import { freePort } from './free-port.ts'
import { KUBECTL_VERBS, kubectlUsage, runKubectlVerb } from './kubectl/run-verb.ts'

const USAGE = `${readFileSync(new URL(import.meta.url), 'utf8').split("\n").slice(4, 14).map((line) => line.replace(/^ \* {0,3}/, '')).join('\n')}\n\n${kubectlUsage()}`

/** Loads the daemon (libp2p, Raft, LevelDB) only for the commands that run one. */
async function newDaemon(options: ConstructorParameters<typeof Daemon>[0]): Promise<Daemon> {
  const { Daemon: DaemonClass } = await import('./daemon.ts')
  return new DaemonClass(options)
}

/** A mistake in how the command was called. */
class UsageError extends FlotillaError {
  override name = 'UsageError'
}

/** Fixes port 0 in a listen multiaddr to a concrete free port, so the address survives restarts. */
async function concreteListen(listen: string): Promise<string> {
  const match = /^\/ip([46])\/([^/]+)\/tcp\/(\d+)$/.exec(listen)
  if (match === null) throw new UsageError(`--listen must look like /ip4/0.0.0.0/tcp/7946, got "${listen}"`)
  if (match[3] !== '0') return listen
  return `/ip${match[1]}/${match[2]}/tcp/${await freePort(match[2]!)}`
}

function dataDirectory(value: string | undefined): string {
  return value ?? process.env['FLOTILLA_DATA'] ?? (process.getuid?.() === 0 ? '/var/lib/flotilla' : join(process.env['HOME'] ?? '.', '.flotilla'))
}

type DaemonTuning = Pick<ConstructorParameters<typeof Daemon>[0], 'deadVoterReplaceMs' | 'deadMemberRemovalMs' | 'runtime' | 'nodeNotReadyGraceMs' | 'podEvictionTimeoutMs' | 'controllers' | 'crashBackoffInitialMs' | 'metricsPeriodMs' | 'podNetwork' | 'overlay' | 'underlayIp'>

/**
 * Timer overrides from the environment (tests and the lab use shorter ones), and the node agent
 * options: `--runtime docker|hollow|none` (default docker; FLOTILLA_RUNTIME), `--node-not-ready-grace-ms`,
 * `--pod-eviction-timeout-ms` and `--crash-backoff-initial-ms` (or FLOTILLA_NODE_NOT_READY_GRACE_MS,
 * FLOTILLA_POD_EVICTION_TIMEOUT_MS, FLOTILLA_CRASH_BACKOFF_INITIAL_MS);
 * FLOTILLA_CONTROLLERS=off runs no Node object, agent or controllers (API-only tests); the pod
 * network: `--pod-network bridge|overlay` (default bridge; FLOTILLA_POD_NETWORK), `--overlay
 * host-gw|vxlan` (default host-gw; FLOTILLA_OVERLAY), `--underlay-ip` (FLOTILLA_UNDERLAY_IP).
 */
function daemonTuning(
  flags: {
    runtime?: string | undefined
    'node-not-ready-grace-ms'?: string | undefined
    'pod-eviction-timeout-ms'?: string | undefined
    'crash-backoff-initial-ms'?: string | undefined
    'pod-network'?: string | undefined
    overlay?: string | undefined
    'underlay-ip'?: string | undefined
  } = {},
): DaemonTuning {
  const tuning: { -readonly [K in keyof DaemonTuning]: DaemonTuning[K] } = {}
  const milliseconds = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined
    const value = Number(text)
    if (!Number.isInteger(value) || value < 0) throw new UsageError(`${flag} must be a whole number of milliseconds, got "${text}"`)
    return value
  }
  const replace = process.env['FLOTILLA_DEAD_VOTER_REPLACE_MS']
  const removal = process.env['FLOTILLA_DEAD_MEMBER_REMOVAL_MS']
  if (replace !== undefined) tuning.deadVoterReplaceMs = Number(replace)
  if (removal !== undefined) tuning.deadMemberRemovalMs = Number(removal)
  const grace = milliseconds('--node-not-ready-grace-ms', flags['node-not-ready-grace-ms'] ?? process.env['FLOTILLA_NODE_NOT_READY_GRACE_MS'])
  const eviction = milliseconds('--pod-eviction-timeout-ms', flags['pod-eviction-timeout-ms'] ?? process.env['FLOTILLA_POD_EVICTION_TIMEOUT_MS'])
  // The daemon refuses a grace within its 2 s liveness beacon interval; say so before init writes anything.
  if (grace !== undefined && grace <= 2000) throw new UsageError(`--node-not-ready-grace-ms must be longer than the 2000 ms liveness beacon interval, got ${grace}`)
  if (grace !== undefined) tuning.nodeNotReadyGraceMs = grace
  if (eviction !== undefined) tuning.podEvictionTimeoutMs = eviction
  const metricsPeriod = milliseconds('FLOTILLA_METRICS_PERIOD_MS', process.env['FLOTILLA_METRICS_PERIOD_MS'])
  if (metricsPeriod !== undefined && metricsPeriod > 0) tuning.metricsPeriodMs = metricsPeriod
  const crashBackoff = milliseconds('--crash-backoff-initial-ms', flags['crash-backoff-initial-ms'] ?? process.env['FLOTILLA_CRASH_BACKOFF_INITIAL_MS'])
  if (crashBackoff !== undefined) tuning.crashBackoffInitialMs = crashBackoff
  if (process.env['FLOTILLA_CONTROLLERS'] === 'off') tuning.controllers = false
  const runtime = flags.runtime ?? process.env['FLOTILLA_RUNTIME']
  if (runtime !== undefined) {
    if (runtime !== 'docker' && runtime !== 'hollow' && runtime !== 'none') throw new UsageError(`--runtime must be docker, hollow or none, got "${runtime}"`)
    tuning.runtime = runtime
  }
  const podNetwork = flags['pod-network'] ?? process.env['FLOTILLA_POD_NETWORK']
  if (podNetwork !== undefined) {
    if (podNetwork !== 'bridge' && podNetwork !== 'overlay') throw new UsageError(`--pod-network must be bridge or overlay, got "${podNetwork}"`)
    tuning.podNetwork = podNetwork
  }
  const overlay = flags.overlay ?? process.env['FLOTILLA_OVERLAY']
  if (overlay !== undefined) {
    if (overlay !== 'host-gw' && overlay !== 'vxlan') throw new UsageError(`--overlay must be host-gw or vxlan, got "${overlay}"`)
    tuning.overlay = overlay
  }
  const underlayIp = flags['underlay-ip'] ?? process.env['FLOTILLA_UNDERLAY_IP']
  if (underlayIp !== undefined) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(underlayIp)) throw new UsageError(`--underlay-ip must be an IPv4 address, got "${underlayIp}"`)
    tuning.underlayIp = underlayIp
  }
  return tuning
}

async function runDaemon(daemon: Daemon, announce?: () => void): Promise<void> {
  const stop = (): void => {
    daemon.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  await daemon.start()
  announce?.()
}

/** Fixes port 0 in host:port to a concrete free port, so the address survives restarts. */
async function concreteHostPort(value: string): Promise<string> {
  const match = /^([^:]+):(\d+)$/.exec(value)
  if (match === null) throw new UsageError(`--kube-listen must look like 0.0.0.0:6443, got "${value}"`)
  return match[2] === '0' ? `${match[1]}:${await freePort(match[1]!)}` : value
}

async function createNode(args: { data: string; name: string | undefined; zone: string | undefined; listen: string | undefined; apiPort: string | undefined; kubeListen: string | undefined }, clusterId: string, secret: Uint8Array): Promise<void> {
  const name = args.name ?? hostname().toLowerCase()
  validateNodeName(name)
  const apiPort = args.apiPort === undefined ? 7947 : Number(args.apiPort)
  if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535) throw new UsageError(`--api-port must be a port number, got "${args.apiPort}"`)
  const config: NodeConfig = {
    clusterId,
    nodeId: newNodeId(),
    name,
    zone: args.zone ?? 'default',
    listen: [await concreteListen(args.listen ?? '/ip4/0.0.0.0/tcp/7946')],
    apiPort: apiPort === 0 ? await freePort('127.0.0.1') : apiPort,
    kubeListen: await concreteHostPort(args.kubeListen ?? '0.0.0.0:6443'),
  }
  writeNodeConfig(args.data, config, secret)
}

async function api(data: string, method: string, path: string): Promise<unknown> {
  const { config } = readNodeConfig(data)
  let response: Response
  try {
    response = await fetch(`http://127.0.0.1:${config.apiPort}${path}`, { method, signal: AbortSignal.timeout(30_000) })
  } catch (error) {
    throw new FlotillaError(`The daemon for ${data} is not running (nothing answers on 127.0.0.1:${config.apiPort}); start it with \`flotilla start --data ${data}\``, { cause: error })
  }
  const body = (await response.json()) as { error?: string }
  if (!response.ok) throw new FlotillaError(body.error ?? `daemon answered ${response.status}`)
  return body
}

function printStatus(status: DaemonStatus): void {
  const lines = [
    `cluster   ${status.clusterId}`,
    `node      ${status.name} (${status.nodeId}), zone ${status.zone}, ${status.role}`,
    `leader    ${status.leaderName || status.leader || 'none'}   term ${status.term}   commit ${status.commit}   applied ${status.applied}   revision ${status.revision}`,
    '',
    `${'NAME'.padEnd(20)} ${'NODE ID'.padEnd(17)} ${'ZONE'.padEnd(12)} ${'RAFT'.padEnd(8)} ${'STATUS'.padEnd(7)} ADDRESS`,
    ...status.members.map(
      (member) =>
        `${member.name.padEnd(20)} ${member.nodeId.padEnd(17)} ${member.zone.padEnd(12)} ${(member.raftRole + (member.nodeId === status.leader ? '*' : '')).padEnd(8)} ${(member.alive ? 'alive' : 'down').padEnd(7)} ${member.addresses[0] ?? ''}`,
    ),
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === 'lab') {
    // The multi-host lab (chaos/src/lab): loaded only for this command.
    const { runLabCommand } = await import('../../chaos/src/lab/cli.ts')
    process.exit(await runLabCommand(rest))
  }
  if (command !== undefined && KUBECTL_VERBS.has(command)) {
    // The verbs print their own errors, kubectl-style, and exit 1 on any failure.
    process.exit(await runKubectlVerb(command, rest))
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      name: { type: 'string' },
      zone: { type: 'string' },
      listen: { type: 'string' },
      'api-port': { type: 'string' },
      'kube-listen': { type: 'string' },
      mdns: { type: 'boolean', default: false },
      runtime: { type: 'string' },
      'node-not-ready-grace-ms': { type: 'string' },
      'pod-eviction-timeout-ms': { type: 'string' },
      'crash-backoff-initial-ms': { type: 'string' },
      'pod-network': { type: 'string' },
      overlay: { type: 'string' },
      'underlay-ip': { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
  })
  const data = dataDirectory(values.data)
  const nodeArgs = { data, name: values.name, zone: values.zone, listen: values.listen, apiPort: values['api-port'], kubeListen: values['kube-listen'] }
  // Checked before anything is written, so a bad flag leaves no half-made node behind.
  const tuning = command === 'init' || command === 'join' || command === 'start' ? daemonTuning(values) : {}
  switch (command) {
    case 'init': {
      if (isInitialized(data)) throw new UsageError(`${data} already holds a node; use \`flotilla start --data ${data}\``)
      await createNode(nodeArgs, newClusterId(), newJoinSecret())
      const daemon = await newDaemon({ ...tuning, dataDirectory: data, founding: true, mdns: values.mdns })
      await runDaemon(daemon, () => process.stdout.write(`Cluster ${daemon.config.clusterId} initialised; this node is ${daemon.config.name}.\nJoin other machines with:\n\n  flotilla join ${daemon.joinToken()}\n\n`))
      return
    }
    case 'join': {
      const tokenText = positionals[0]
      if (tokenText === undefined) throw new UsageError('flotilla join needs the token printed by `flotilla init` or `flotilla token`')
      const token = decodeJoinToken(tokenText)
      if (isInitialized(data)) throw new UsageError(`${data} already holds a node; use \`flotilla start --data ${data}\``)
      await createNode(nodeArgs, token.clusterId, token.secret)
      const daemon = await newDaemon({ ...tuning, dataDirectory: data, bootstrap: token.addresses, mdns: values.mdns })
      try {
        await runDaemon(daemon, () => process.stdout.write(`Joined cluster ${token.clusterId} as ${daemon.config.name}.\n`))
      } catch (error) {
        // A node that never joined leaves nothing behind, so the same command can be retried.
        await daemon.stop().catch(() => {})
        rmSync(data, { recursive: true, force: true })
        throw error
      }
      return
    }
    case 'start': {
      const daemon = await newDaemon({ ...tuning, dataDirectory: data, mdns: values.mdns })
      await runDaemon(daemon, () => process.stdout.write(`Node ${daemon.config.name} started from ${data}.\n`))
      return
    }
    case 'status': {
      const status = (await api(data, 'GET', '/v1/status')) as DaemonStatus
      if (values.output === 'json') process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
      else printStatus(status)
      return
    }
    case 'token': {
      const { token } = (await api(data, 'GET', '/v1/token')) as { token: string }
      process.stdout.write(`${token}\n`)
      return
    }
    case 'kubeconfig': {
      // The local daemon mints a bearer token and lists every node's HTTPS endpoint.
      const { kubeconfig } = (await api(data, 'POST', '/v1/kubeconfig')) as { kubeconfig: string }
      process.stdout.write(kubeconfig)
      return
    }
    case 'leave': {
      await api(data, 'POST', '/v1/leave')
      process.stdout.write('Left the cluster; the daemon is stopping.\n')
      return
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n`)
      return
    default:
      throw new UsageError(`Unknown command "${command}"\n\n${USAGE}`)
  }
}

try {
  await main(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`flotilla: ${(error as Error).message}\n`)
  process.exit(error instanceof UsageError ? 2 : 1)
}
