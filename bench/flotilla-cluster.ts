/**
 * A three-replica Flotilla cluster on 127.0.0.1 for the benchmark.
 *
 * Each replica is `node node/src/replica-main.ts --id nK --raft 127.0.0.1:P --http 127.0.0.1:Q
 * --peers n1=127.0.0.1:P1,n2=…,n3=… --data DIR [--heartbeat-ms H] [--election-ms E]`, run with
 * this process's Node (24, which strips the types). Its HTTP API:
 * - `PUT /v1/kv/<key>` (raw value as body) → 200 `{"index":N}` once committed and applied; any
 *   replica accepts writes (followers forward); 503 `{"error":…}` without a leader.
 * - `GET /v1/kv/<key>` → linearizable read (ReadIndex): 200 raw bytes or 404;
 *   `?serializable=1` reads the replica's local state.
 * - `GET /v1/status` → `{"id","role","leader","term","commit","applied","pid"}`.
 */
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import type http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FlotillaError } from '../lib/errors.ts'
import type { BenchCluster, LeaderInfo, ReadOptions, WriteOptions } from './cluster.ts'
import { createKeepAliveAgent, httpRequest, HttpStatusError, LOOPBACK_HOST, parseJsonBody, snippet } from './http.ts'
import {
  ChildProcessError,
  findFreePorts,
  isRunning,
  killAndWait,
  makeTempDir,
  pollUntil,
  removeTempDir,
  spawnServer,
  tailOfFile,
} from './processes.ts'
import type { ReplicaStatus } from '../node/src/local-cluster.ts'

/** The repository root (this file is bench/flotilla-cluster.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The replica program, relative to the repository root ($FLOTILLA_REPLICA overrides it). */
export const REPLICA_PROGRAM = 'node/src/replica-main.ts'

/** node/src/replica-main.ts is not there (not written yet, or a partial checkout). */
export class ReplicaProgramMissingError extends FlotillaError {
  override name = 'ReplicaProgramMissingError'
}

/** Deadline for one status probe while waiting for the cluster. */
const PROBE_TIMEOUT_MS = 1_000

interface Replica {
  readonly id: string
  readonly raftPort: number
  readonly httpPort: number
  readonly dataDir: string
  readonly logPath: string
  readonly agent: http.Agent
  child: ChildProcess | undefined
}

export interface FlotillaClusterOptions {
  readonly memberCount?: number
  /** Passed as --heartbeat-ms when set; otherwise the replica's default applies. */
  readonly heartbeatMs?: number
  /** Passed as --election-ms when set; otherwise the replica's default applies. */
  readonly electionMs?: number
  /** Deadline for the first leader after start. */
  readonly startDeadlineMs?: number
}

/** Three replica processes on loopback, their data in one temporary directory. */
export class FlotillaCluster implements BenchCluster {
  readonly system = 'Flotilla'
  readonly memberCount: number
  readonly version: string
  readonly notes: readonly string[]
  private readonly replicas: Replica[]
  private readonly programPath: string
  private readonly rootDir: string
  private readonly timerArgs: readonly string[]
  private stopped = false

  private constructor(programPath: string, rootDir: string, replicas: Replica[], timerArgs: readonly string[]) {
    this.programPath = programPath
    this.rootDir = rootDir
    this.replicas = replicas
    this.memberCount = replicas.length
    this.timerArgs = timerArgs
    this.version = `${displayPath(programPath)} on Node ${process.versions.node}`
    const timers = timerArgs.length === 0 ? 'replica default timers' : timerArgs.join(' ')
    this.notes = [timers, `data in ${rootDir}`]
  }

  /** Starts the replicas and waits until they agree on a leader. */
  static async start(options: FlotillaClusterOptions = {}): Promise<FlotillaCluster> {
    const override = process.env['FLOTILLA_REPLICA']
    const programPath = override === undefined || override === '' ? path.join(REPO_ROOT, REPLICA_PROGRAM) : path.resolve(override)
    if (!existsSync(programPath)) {
      throw new ReplicaProgramMissingError(
        `${displayPath(programPath)} does not exist yet, so Flotilla cannot be measured; ` +
          'run `node bench/raft-bench.ts --only etcd` to measure etcd alone',
      )
    }
    const memberCount = options.memberCount ?? 3
    const timerArgs = [
      ...(options.heartbeatMs === undefined ? [] : ['--heartbeat-ms', String(options.heartbeatMs)]),
      ...(options.electionMs === undefined ? [] : ['--election-ms', String(options.electionMs)]),
    ]
    const rootDir = makeTempDir('flotilla-bench-replicas-')
    const ports = await findFreePorts(memberCount * 2)
    const replicas: Replica[] = []
    for (let k = 0; k < memberCount; k++) {
      const id = `n${k + 1}`
      replicas.push({
        id,
        raftPort: ports[2 * k] ?? 0,
        httpPort: ports[2 * k + 1] ?? 0,
        dataDir: path.join(rootDir, id),
        logPath: path.join(rootDir, `${id}.log`),
        agent: createKeepAliveAgent(),
        child: undefined,
      })
    }
    const cluster = new FlotillaCluster(programPath, rootDir, replicas, timerArgs)
    try {
      for (let k = 0; k < memberCount; k++) cluster.spawnReplica(k)
      await cluster.waitHealthy(options.startDeadlineMs ?? 30_000)
    } catch (error) {
      const logs = replicas.map((r) => `--- ${r.logPath}\n${tailOfFile(r.logPath)}`).join('\n')
      await cluster.stop()
      throw new ChildProcessError(`Flotilla cluster did not elect a leader; replica logs:\n${logs}`, { cause: error })
    }
    return cluster
  }

  memberPids(): number[] {
    return this.replicas.flatMap((r) => (r.child !== undefined && isRunning(r.child) && r.child.pid ? [r.child.pid] : []))
  }

  async waitForLeader(deadlineMs: number): Promise<LeaderInfo> {
    return pollUntil('Flotilla leader agreed by all running replicas', () => this.agreedLeader(), deadlineMs)
  }

  async put(member: number, key: string, value: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const r = this.replica(member)
    const response = await httpRequest({
      agent: r.agent,
      port: r.httpPort,
      method: 'PUT',
      path: `/v1/kv/${encodeURIComponent(key)}`,
      body: value,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    })
    if (response.status !== 200) {
      throw new HttpStatusError(`Flotilla put on ${r.id}: ${response.status} ${snippet(response.body)}`, response.status)
    }
  }

  async get(member: number, key: string, options: ReadOptions): Promise<Uint8Array | undefined> {
    const r = this.replica(member)
    const response = await httpRequest({
      agent: r.agent,
      port: r.httpPort,
      method: 'GET',
      path: `/v1/kv/${encodeURIComponent(key)}${options.linearizable ? '' : '?serializable=1'}`,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    })
    if (response.status === 404) return undefined
    if (response.status !== 200) {
      throw new HttpStatusError(`Flotilla get on ${r.id}: ${response.status} ${snippet(response.body)}`, response.status)
    }
    return response.body
  }

  async killMember(member: number): Promise<void> {
    const child = this.replica(member).child
    if (child !== undefined) await killAndWait(child)
  }

  async restartMember(member: number, deadlineMs: number): Promise<void> {
    const child = this.replica(member).child
    if (child !== undefined && isRunning(child)) throw new ChildProcessError(`Flotilla replica ${member} is still running`)
    this.spawnReplica(member)
    await this.waitHealthy(deadlineMs)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const r of this.replicas) {
      if (r.child !== undefined) await killAndWait(r.child)
      r.agent.destroy()
    }
    removeTempDir(this.rootDir)
  }

  /** Every replica is running, answers /v1/status, and all agree on one leader. */
  private async waitHealthy(deadlineMs: number): Promise<LeaderInfo> {
    return pollUntil(
      'Flotilla replicas up with an agreed leader',
      async () => {
        for (const r of this.replicas) {
          if (r.child === undefined || !isRunning(r.child)) {
            throw new ChildProcessError(`Flotilla ${r.id} exited (code ${r.child?.exitCode}); see ${r.logPath}`)
          }
        }
        return this.agreedLeader()
      },
      deadlineMs,
      100,
    )
  }

  /** The leader if every running replica names the same one and it says it leads; else undefined. */
  private async agreedLeader(): Promise<LeaderInfo | undefined> {
    const statuses = new Map<number, ReplicaStatus>()
    for (let k = 0; k < this.replicas.length; k++) {
      const child = this.replicas[k]?.child
      if (child === undefined || !isRunning(child)) continue
      statuses.set(k, await this.status(k))
    }
    const leaderIds = new Set([...statuses.values()].map((s) => s.leader))
    const [leaderId] = leaderIds
    if (leaderIds.size !== 1 || leaderId === undefined || leaderId === '') return undefined
    for (const [k, s] of statuses) {
      if (s.id === leaderId && s.role === 'leader') return { member: k, term: s.term }
    }
    return undefined
  }

  private async status(member: number): Promise<ReplicaStatus> {
    const r = this.replica(member)
    const response = await httpRequest({
      agent: r.agent,
      port: r.httpPort,
      method: 'GET',
      path: '/v1/status',
      timeoutMs: PROBE_TIMEOUT_MS,
    })
    if (response.status !== 200) {
      throw new HttpStatusError(`Flotilla status on ${r.id}: ${response.status} ${snippet(response.body)}`, response.status)
    }
    const parsed = parseJsonBody(response, 'Flotilla /v1/status') as Partial<ReplicaStatus>
    return {
      id: String(parsed.id ?? ''),
      role: parsed.role ?? 'follower',
      leader: String(parsed.leader ?? ''),
      term: Number(parsed.term ?? 0),
      commit: Number(parsed.commit ?? 0),
      applied: Number(parsed.applied ?? 0),
      pid: Number(parsed.pid ?? 0),
    }
  }

  private spawnReplica(k: number): void {
    const r = this.replica(k)
    const peers = this.replicas.map((p) => `${p.id}=${LOOPBACK_HOST}:${p.raftPort}`).join(',')
    r.child = spawnServer({
      command: process.execPath,
      args: [
        this.programPath,
        '--id', r.id,
        '--raft', `${LOOPBACK_HOST}:${r.raftPort}`,
        '--http', `${LOOPBACK_HOST}:${r.httpPort}`,
        '--peers', peers,
        '--data', r.dataDir,
        ...this.timerArgs,
      ],
      logPath: r.logPath,
      cwd: REPO_ROOT,
    })
  }

  private replica(k: number): Replica {
    const r = this.replicas[k]
    if (r === undefined) throw new RangeError(`no Flotilla replica ${k}`)
    return r
  }
}

/** A path relative to the repository root when inside it, else absolute. */
function displayPath(file: string): string {
  const relative = path.relative(REPO_ROOT, file)
  return relative.startsWith('..') ? file : relative
}
