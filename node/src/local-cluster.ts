/**
 * LocalCluster: replica processes (node/src/replica-main.ts) on 127.0.0.1, each with its own data
 * directory, for the demo and the multi-process tests. It starts, kills (-9) and restarts
 * replicas and talks to their HTTP API; every wait polls with a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '../../lib/poll.ts'
import { freePort } from './free-port.ts'

export interface ReplicaStatus {
  readonly id: string
  readonly role: string
  readonly leader: string
  readonly term: number
  readonly commit: number
  readonly applied: number
  readonly pid: number
}

interface Replica {
  readonly id: string
  readonly raftPort: number
  readonly httpPort: number
  process: ChildProcess | undefined
}

const REPLICA_MAIN = join(import.meta.dirname, 'replica-main.ts')

export { waitFor }

export class LocalCluster {
  readonly dataRoot = mkdtempSync(join(tmpdir(), 'flotilla-cluster-'))
  private readonly replicas = new Map<string, Replica>()
  private peers = ''

  /** Picks ports for `ids` and starts one replica process per id. */
  async start(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.replicas.set(id, { id, raftPort: await freePort(), httpPort: await freePort(), process: undefined })
    this.peers = [...this.replicas.values()].map((replica) => `${replica.id}=127.0.0.1:${replica.raftPort}`).join(',')
    for (const id of ids) this.startReplica(id)
  }

  ids(): string[] {
    return [...this.replicas.keys()]
  }

  isRunning(id: string): boolean {
    return this.replica(id).process !== undefined
  }

  httpPort(id: string): number {
    return this.replica(id).httpPort
  }

  /** (Re)starts a replica on its data directory. */
  startReplica(id: string): void {
    const replica = this.replica(id)
    replica.process = spawn(
      process.execPath,
      [REPLICA_MAIN, '--id', id, '--raft', `127.0.0.1:${replica.raftPort}`, '--http', `127.0.0.1:${replica.httpPort}`, '--peers', this.peers, '--data', join(this.dataRoot, id)],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    )
  }

  /** SIGKILLs a replica and waits until the process is gone. */
  async kill(id: string): Promise<void> {
    const replica = this.replica(id)
    const child = replica.process
    if (child === undefined) return
    replica.process = undefined
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  async request(id: string, method: string, path: string, options: { body?: string; timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
    const response = await fetch(`http://127.0.0.1:${this.replica(id).httpPort}${path}`, {
      method,
      ...(options.body !== undefined ? { body: options.body } : {}),
      signal: AbortSignal.timeout(options.timeoutMs ?? 1000),
    })
    return { status: response.status, text: await response.text() }
  }

  /** The replica's status, or undefined when it does not answer. */
  async status(id: string): Promise<ReplicaStatus | undefined> {
    if (!this.isRunning(id)) return undefined
    try {
      const response = await this.request(id, 'GET', '/v1/status')
      return response.status === 200 ? (JSON.parse(response.text) as ReplicaStatus) : undefined
    } catch {
      return undefined
    }
  }

  async leader(timeoutMs = 10_000): Promise<string> {
    return waitFor('a leader', timeoutMs, async () => {
      for (const id of this.replicas.keys()) if ((await this.status(id))?.role === 'leader') return id
      return undefined
    })
  }

  /** One put attempt; true when acknowledged (committed and applied). */
  async tryPut(id: string, key: string, value: string, timeoutMs = 250): Promise<boolean> {
    try {
      const response = await this.request(id, 'PUT', `/v1/kv/${encodeURIComponent(key)}`, { body: value, timeoutMs })
      return response.status === 200
    } catch {
      return false
    }
  }

  /** Kills every replica and removes the data. */
  async destroy(): Promise<void> {
    for (const id of this.replicas.keys()) await this.kill(id)
    rmSync(this.dataRoot, { recursive: true, force: true })
  }

  private replica(id: string): Replica {
    const replica = this.replicas.get(id)
    if (replica === undefined) throw new RangeError(`Unknown replica "${id}"`)
    return replica
  }
}
