/**
 * DaemonCluster: real `flotilla` daemons as separate processes on 127.0.0.1 (libp2p on ports
 * chosen at init, the local API on its own port), for the multi-process cluster tests.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '../../node/src/local-cluster.ts'
import type { DaemonStatus } from '../../node/src/daemon.ts'

const CLI = join(import.meta.dirname, '../../node/src/cli.ts')

interface NodeProcess {
  readonly name: string
  readonly zone: string
  child: ChildProcess | undefined
  output: string
}

/**
 * How long a daemon may take to initialise or join. Generous: on a loaded 2-core machine (the
 * suite runs files in parallel) a daemon's start has taken over 20 s.
 */
const DAEMON_START_TIMEOUT_MS = 60_000

/**
 * The test's environment without tap's per-process instrumentation (its `--import` hooks in
 * NODE_OPTIONS): daemons are programs under test, not tests, and the hooks slow their start.
 */
export function withoutTestInstrumentation(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const options = (env['NODE_OPTIONS'] ?? '').split(/\s+/).filter((option) => option !== '' && !/@tapjs/.test(option))
  const { NODE_OPTIONS: _dropped, ...rest } = env
  return options.length > 0 ? { ...rest, NODE_OPTIONS: options.join(' ') } : rest
}

export class DaemonCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'flotilla-daemons-'))
  private readonly nodes = new Map<string, NodeProcess>()
  private readonly env: NodeJS.ProcessEnv

  /**
   * `env` adds to the test's environment. Daemons simulate their pods (`FLOTILLA_RUNTIME=hollow`)
   * unless a test asks for another runtime: only the Docker agent's own tests start containers.
   */
  constructor(env: Record<string, string> = {}) {
    this.env = { ...withoutTestInstrumentation(process.env), FLOTILLA_RUNTIME: process.env['FLOTILLA_RUNTIME'] ?? 'hollow', ...env }
  }

  dataDirectory(name: string): string {
    return join(this.root, name)
  }

  private spawnCli(name: string, zone: string, args: string[]): NodeProcess {
    const node: NodeProcess = this.nodes.get(name) ?? { name, zone, child: undefined, output: '' }
    const child = spawn(process.execPath, [CLI, ...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    node.child = child
    child.stdout.on('data', (chunk: Buffer) => (node.output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (node.output += chunk.toString()))
    this.nodes.set(name, node)
    return node
  }

  /** `key` names the process and its data directory; `name` is the node name it asks for. */
  private commonArgs(key: string, name: string, zone: string): string[] {
    return ['--data', this.dataDirectory(key), '--name', name, '--zone', zone, '--listen', '/ip4/127.0.0.1/tcp/0', '--api-port', '0', '--kube-listen', '127.0.0.1:0']
  }

  /** `flotilla init`; resolves with the join token once the daemon prints it. */
  async init(name: string, zone: string): Promise<string> {
    const node = this.spawnCli(name, zone, ['init', ...this.commonArgs(name, name, zone)])
    return waitFor(`${name} to print a join token`, DAEMON_START_TIMEOUT_MS, async () => /flotilla1\.\S+/.exec(node.output)?.[0])
  }

  /** `flotilla join`; resolves when the daemon reports it joined (or rejects with its output if it exits). */
  async join(name: string, zone: string, token: string): Promise<void> {
    const node = this.spawnCli(name, zone, ['join', token, ...this.commonArgs(name, name, zone)])
    await waitFor(`${name} to join`, DAEMON_START_TIMEOUT_MS, async () => {
      if (node.output.includes('Joined cluster')) return true
      if (node.child?.exitCode !== null) throw new Error(`${name} exited: ${node.output.trim()}`)
      return undefined
    })
  }

  /**
   * Runs `flotilla join` expecting failure, as process `key` (its own data directory) asking for
   * node name `name`; resolves with the exit code and output.
   */
  async joinExpectingFailure(key: string, name: string, zone: string, token: string): Promise<{ code: number | null; output: string }> {
    const node = this.spawnCli(key, zone, ['join', token, ...this.commonArgs(key, name, zone)])
    const code = await new Promise<number | null>((resolve) => node.child!.once('exit', resolve))
    return { code, output: node.output }
  }

  /** Restarts a node from its data directory (`flotilla start`). */
  async start(name: string): Promise<void> {
    const zone = this.nodes.get(name)?.zone ?? 'default'
    const node = this.spawnCli(name, zone, ['start', '--data', this.dataDirectory(name)])
    await waitFor(`${name} to start`, 20_000, async () => (node.output.includes('started from') ? true : undefined))
  }

  /** Runs `flotilla leave` for `name`; resolves with its exit code once the daemon has exited too. */
  async leave(name: string): Promise<{ code: number | null; output: string }> {
    const child = spawn(process.execPath, [CLI, 'leave', '--data', this.dataDirectory(name)], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    const daemon = this.nodes.get(name)?.child
    if (daemon !== undefined) await waitFor(`${name}'s daemon to exit`, 10_000, async () => (daemon.exitCode !== null || daemon.signalCode !== null ? true : undefined))
    return { code, output }
  }

  async kill(name: string): Promise<void> {
    const node = this.nodes.get(name)
    const child = node?.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    node!.child = undefined
  }

  isRunning(name: string): boolean {
    const child = this.nodes.get(name)?.child
    return child !== undefined && child.exitCode === null && child.signalCode === null
  }

  names(): string[] {
    return [...this.nodes.keys()]
  }

  apiPort(name: string): number {
    return (JSON.parse(readFileSync(join(this.dataDirectory(name), 'node.json'), 'utf8')) as { apiPort: number }).apiPort
  }

  async request(name: string, method: string, path: string, body?: string, timeoutMs = 2000): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`http://127.0.0.1:${this.apiPort(name)}${path}`, {
      method,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    })
    return { status: response.status, json: await response.json() }
  }

  async status(name: string): Promise<DaemonStatus | undefined> {
    if (!this.isRunning(name)) return undefined
    try {
      const response = await this.request(name, 'GET', '/v1/status')
      return response.status === 200 ? (response.json as DaemonStatus) : undefined
    } catch {
      return undefined
    }
  }

  /** Puts through `name`, retrying on 503 (no leader yet) until the deadline. */
  async put(name: string, key: string, value: string, timeoutMs = 10_000): Promise<number> {
    return waitFor(`put ${key} through ${name}`, timeoutMs, async () => {
      try {
        const response = await this.request(name, 'PUT', `/v1/kv/${encodeURIComponent(key)}`, value, 1000)
        return response.status === 200 ? (response.json as { revision: number }).revision : undefined
      } catch {
        return undefined
      }
    })
  }

  async get(name: string, key: string): Promise<string | undefined> {
    const response = await this.request(name, 'GET', `/v1/kv/${encodeURIComponent(key)}`)
    return response.status === 200 ? (response.json as { value: string }).value : undefined
  }

  /** The name of the current leader, as the running nodes agree on it. */
  async leader(timeoutMs = 15_000): Promise<string> {
    return waitFor('an agreed leader', timeoutMs, async () => {
      for (const name of this.names()) {
        const status = await this.status(name)
        if (status?.role === 'leader') return name
      }
      return undefined
    })
  }

  output(name: string): string {
    return this.nodes.get(name)?.output ?? ''
  }

  async destroy(): Promise<void> {
    for (const name of this.names()) await this.kill(name)
    rmSync(this.root, { recursive: true, force: true })
  }
}
