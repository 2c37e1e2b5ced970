/**
 * Real Flotilla daemons for the store benchmark: `./flotilla init` on the first node and
 * `join <token>` on the others, all on 127.0.0.1 (libp2p on a port fixed at init, the local HTTP
 * API on its own port, read from `node.json` in the data directory). Same command lines as
 * tests/cluster/daemon-cluster.ts; here every process is registered with bench/processes.ts so
 * that it is killed (and its data removed) however the benchmark ends.
 *
 * The daemon's local API (node/src/daemon.ts):
 * - `PUT /v1/kv/<key>` (raw body) → 200 `{ok:true,revision}` once committed; any node accepts
 *   writes (followers forward them through Raft). With `?ifModRevision=N`, a compare-and-swap:
 *   409 `{ok:false,reason:'conflict',currentModRevision}` when the key's modRevision is not N.
 * - `GET /v1/kv/<key>` → linearizable read `{value,modRevision,version,revision}`, 404 if absent.
 * - `GET /v1/status` → role, leader, members with their `raftRole`.
 */
import { execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type http from 'node:http'
import path from 'node:path'
import type { DaemonStatus } from '../node/src/daemon.ts'
import { REPO_ROOT } from './flotilla-cluster.ts'
import { createKeepAliveAgent, httpRequest, LOOPBACK_HOST, parseJsonBody } from './http.ts'
import {
  ChildProcessError,
  isRunning,
  killAndWait,
  makeTempDir,
  pollUntil,
  removeTempDir,
  spawnServer,
  tailOfFile,
} from './processes.ts'

/**
 * The launcher every daemon runs, relative to the repository root: the production `flotilla`
 * script (compiled JavaScript, small young generation), so the footprint measured is the one
 * users get.
 */
export const CLI_PROGRAM = 'flotilla'

/** Deadline for one status probe while waiting for the cluster. */
const PROBE_TIMEOUT_MS = 2_000

export interface DaemonSpec {
  readonly name: string
  readonly zone: string
}

/** The benchmark's five machines: three zones, two of them with two machines. */
export const FIVE_DAEMONS: readonly DaemonSpec[] = [
  { name: 'n1', zone: 'z1' },
  { name: 'n2', zone: 'z2' },
  { name: 'n3', zone: 'z3' },
  { name: 'n4', zone: 'z1' },
  { name: 'n5', zone: 'z2' },
]

interface DaemonProcess {
  readonly spec: DaemonSpec
  readonly dataDir: string
  readonly logPath: string
  readonly agent: http.Agent
  child: ChildProcess | undefined
  apiPort: number
}

export interface FlotillaDaemonsOptions {
  readonly daemons?: readonly DaemonSpec[]
  /** Deadline for each step of formation: token printed, one join, all voters. */
  readonly stepDeadlineMs?: number
}

/** Flotilla daemons on loopback, their data in one temporary directory. */
export class FlotillaDaemons {
  readonly system = 'Flotilla'
  readonly version: string
  readonly notes: readonly string[]
  /** How long init + joins + voter promotion took. */
  formationMs = 0
  private readonly rootDir: string
  private readonly daemons: DaemonProcess[]
  private stopped = false

  private constructor(rootDir: string, daemons: DaemonProcess[]) {
    this.rootDir = rootDir
    this.daemons = daemons
    this.version = `${CLI_PROGRAM} @ ${gitDescribe()} on Node ${process.versions.node}`
    this.notes = [
      'daemon default timers',
      'libp2p on /ip4/127.0.0.1/tcp/<port>',
      `zones ${daemons.map((d) => `${d.spec.name}=${d.spec.zone}`).join(' ')}`,
      `data in ${rootDir}`,
    ]
  }

  get memberCount(): number {
    return this.daemons.length
  }

  /** `init` on the first daemon, `join` on the others in turn, then waits until all are voters. */
  static async start(options: FlotillaDaemonsOptions = {}): Promise<FlotillaDaemons> {
    const specs = options.daemons ?? FIVE_DAEMONS
    const stepDeadlineMs = options.stepDeadlineMs ?? 30_000
    const rootDir = makeTempDir('flotilla-bench-daemons-')
    const daemons = specs.map((spec) => ({
      spec,
      dataDir: path.join(rootDir, spec.name),
      logPath: path.join(rootDir, `${spec.name}.log`),
      agent: createKeepAliveAgent(),
      child: undefined,
      apiPort: 0,
    }))
    const cluster = new FlotillaDaemons(rootDir, daemons)
    const startMs = performance.now()
    try {
      const [first, ...others] = daemons
      if (first === undefined) throw new ChildProcessError('no daemons to start')
      cluster.spawn(first, ['init'])
      const token = await cluster.waitForOutput(first, /flotilla1\.\S+/, stepDeadlineMs)
      for (const daemon of others) {
        cluster.spawn(daemon, ['join', token])
        await cluster.waitForOutput(daemon, /Joined cluster/, stepDeadlineMs)
      }
      for (const daemon of daemons) daemon.apiPort = readApiPort(daemon.dataDir)
      await cluster.waitAllVoters(2 * stepDeadlineMs)
    } catch (error) {
      const logs = daemons.map((d) => `--- ${d.logPath}\n${tailOfFile(d.logPath)}`).join('\n')
      await cluster.stop()
      throw new ChildProcessError(`Flotilla daemons did not form a cluster; logs:\n${logs}`, { cause: error })
    }
    cluster.formationMs = performance.now() - startMs
    return cluster
  }

  /** "n1 (z1)" for each daemon, in member order. */
  labels(): string[] {
    return this.daemons.map((d) => `${d.spec.name} (${d.spec.zone})`)
  }

  memberPids(): number[] {
    return this.daemons.flatMap((d) => (d.child !== undefined && isRunning(d.child) && d.child.pid ? [d.child.pid] : []))
  }

  endpoint(member: number): { readonly port: number; readonly agent: http.Agent } {
    const d = this.daemons[member]
    if (d === undefined) throw new RangeError(`no daemon ${member}`)
    return { port: d.apiPort, agent: d.agent }
  }

  async status(member: number): Promise<DaemonStatus> {
    const { port, agent } = this.endpoint(member)
    const response = await httpRequest({ agent, port, method: 'GET', path: '/v1/status', timeoutMs: PROBE_TIMEOUT_MS })
    if (response.status !== 200) throw new ChildProcessError(`status of daemon ${member}: HTTP ${response.status}`)
    return parseJsonBody(response, 'flotilla /v1/status') as DaemonStatus
  }

  /** The member index of the leader every running daemon agrees on, once all of them are voters. */
  async waitAllVoters(deadlineMs: number): Promise<number> {
    return pollUntil(
      `all ${this.daemons.length} daemons voters with an agreed leader`,
      async () => {
        const statuses: DaemonStatus[] = []
        for (let k = 0; k < this.daemons.length; k++) {
          const child = this.daemons[k]?.child
          if (child === undefined || !isRunning(child)) {
            throw new ChildProcessError(`daemon ${this.daemons[k]?.spec.name} exited (code ${child?.exitCode})`)
          }
          statuses.push(await this.status(k))
        }
        const leaders = new Set(statuses.map((s) => s.leader))
        const [leader] = leaders
        if (leaders.size !== 1 || leader === undefined || leader === '') return undefined
        const allVoters = statuses.every(
          (s) => s.members.length === this.daemons.length && s.members.every((m) => m.raftRole === 'voter'),
        )
        if (!allVoters) return undefined
        const index = statuses.findIndex((s) => s.nodeId === leader)
        return index >= 0 ? index : undefined
      },
      deadlineMs,
      200,
    )
  }

  /** Kills every daemon and removes all data. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const d of this.daemons) {
      if (d.child !== undefined) await killAndWait(d.child)
      d.agent.destroy()
    }
    removeTempDir(this.rootDir)
  }

  private spawn(daemon: DaemonProcess, command: string[]): void {
    daemon.child = spawnServer({
      command: path.join(REPO_ROOT, CLI_PROGRAM),
      args: [
        ...command,
        '--data', daemon.dataDir,
        '--name', daemon.spec.name,
        '--zone', daemon.spec.zone,
        '--listen', `/ip4/${LOOPBACK_HOST}/tcp/0`,
        '--api-port', '0',
        '--kube-listen', `${LOOPBACK_HOST}:0`,
        // Benchmarks of the store and API simulate pods unless they ask for a runtime (FLOTILLA_RUNTIME).
        '--runtime', process.env['FLOTILLA_RUNTIME'] ?? 'hollow',
      ],
      logPath: daemon.logPath,
      cwd: REPO_ROOT,
    })
  }

  /** Polls the daemon's log (its stdout and stderr) for `pattern`; fails early if it exits. */
  private async waitForOutput(daemon: DaemonProcess, pattern: RegExp, deadlineMs: number): Promise<string> {
    return pollUntil(
      `${daemon.spec.name} to print ${pattern}`,
      async () => {
        const found = pattern.exec(readLog(daemon.logPath))?.[0]
        if (found !== undefined) return found
        if (daemon.child === undefined || !isRunning(daemon.child)) {
          throw new ChildProcessError(`${daemon.spec.name} exited (code ${daemon.child?.exitCode}); see ${daemon.logPath}`)
        }
        return undefined
      },
      deadlineMs,
      100,
    )
  }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

function readApiPort(dataDir: string): number {
  const config = JSON.parse(readFileSync(path.join(dataDir, 'node.json'), 'utf8')) as { apiPort?: unknown }
  if (typeof config.apiPort !== 'number' || config.apiPort <= 0) {
    throw new ChildProcessError(`${dataDir}/node.json has no apiPort`)
  }
  return config.apiPort
}

/** Short commit of the working tree, with "+dirty" when it has changes; "unknown" outside git. */
function gitDescribe(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty=+dirty'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}
