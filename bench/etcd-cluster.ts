/**
 * An etcd cluster on 127.0.0.1 for the benchmarks (three members by default, `memberCount` for
 * more), driven through the gRPC-gateway JSON API (`POST /v3/kv/put`, `POST /v3/kv/range`,
 * `POST /v3/maintenance/status`; `endpoint()` for anything else, such as `/v3/kv/txn`), as in
 * /work/shared/research/raft.md section 5.
 *
 * Binary: `etcd` from Debian's etcd-server 3.4 (PATH, or ETCD_BIN). Every timer, snapshot and
 * quota setting is left at etcd's default (heartbeat 100 ms, election 1000 ms, pre-vote off,
 * snapshot-count 100000). Flags beyond addresses and names: `--logger zap` (3.4's non-deprecated
 * logger; default log level info) and `--log-outputs stderr` (into a per-member log file).
 */
import { execFileSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import type http from 'node:http'
import path from 'node:path'
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

/** The etcd binary is not installed. */
export class EtcdMissingError extends FlotillaError {
  override name = 'EtcdMissingError'
}

/** Flags we set that are not addresses, names or data paths (reported with the results). */
export const ETCD_EXTRA_FLAGS: readonly string[] = ['--logger', 'zap', '--log-outputs', 'stderr']

/** Deadline for a status or health probe while waiting for the cluster. */
const PROBE_TIMEOUT_MS = 1_000

interface EtcdMember {
  readonly name: string
  readonly clientPort: number
  readonly peerPort: number
  readonly dataDir: string
  readonly logPath: string
  readonly agent: http.Agent
  child: ChildProcess | undefined
}

interface MemberStatus {
  readonly memberId: string
  readonly leaderId: string
  readonly term: number
}

export interface EtcdClusterOptions {
  readonly memberCount?: number
  /** Deadline for the first leader after start. */
  readonly startDeadlineMs?: number
}

/** etcd processes on loopback (three by default), their data in one temporary directory. */
export class EtcdCluster implements BenchCluster {
  readonly system = 'etcd'
  readonly memberCount: number
  readonly version: string
  readonly notes: readonly string[]
  private readonly members: EtcdMember[]
  private readonly binary: string
  private readonly rootDir: string
  private readonly initialCluster: string
  private readonly clusterToken: string
  private stopped = false

  private constructor(binary: string, version: string, rootDir: string, members: EtcdMember[]) {
    this.binary = binary
    this.version = version
    this.rootDir = rootDir
    this.members = members
    this.memberCount = members.length
    this.initialCluster = members.map((m) => `${m.name}=http://${LOOPBACK_HOST}:${m.peerPort}`).join(',')
    this.clusterToken = `bench-${path.basename(rootDir)}`
    this.notes = [`etcd defaults except ${ETCD_EXTRA_FLAGS.join(' ')}`, `data in ${rootDir}`]
  }

  /** Starts the members and waits until they agree on a leader. */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const memberCount = options.memberCount ?? 3
    const binary = findEtcdBinary()
    const version = etcdVersion(binary)
    const rootDir = makeTempDir('flotilla-bench-etcd-')
    const ports = await findFreePorts(memberCount * 2)
    const members: EtcdMember[] = []
    for (let k = 0; k < memberCount; k++) {
      const name = `m${k + 1}`
      members.push({
        name,
        clientPort: ports[2 * k] ?? 0,
        peerPort: ports[2 * k + 1] ?? 0,
        dataDir: path.join(rootDir, name),
        logPath: path.join(rootDir, `${name}.log`),
        agent: createKeepAliveAgent(),
        child: undefined,
      })
    }
    const cluster = new EtcdCluster(binary, version, rootDir, members)
    try {
      for (let k = 0; k < memberCount; k++) cluster.spawnMember(k)
      await cluster.waitHealthy(options.startDeadlineMs ?? 20_000)
    } catch (error) {
      const logs = members.map((m) => `--- ${m.logPath}\n${tailOfFile(m.logPath)}`).join('\n')
      await cluster.stop()
      throw new ChildProcessError(`etcd cluster did not become healthy; member logs:\n${logs}`, { cause: error })
    }
    return cluster
  }

  /** A member's client port and keep-alive agent, for requests this class has no method for (txn). */
  endpoint(member: number): { readonly port: number; readonly agent: http.Agent } {
    const m = this.member(member)
    return { port: m.clientPort, agent: m.agent }
  }

  memberPids(): number[] {
    return this.members.flatMap((m) => (m.child !== undefined && isRunning(m.child) && m.child.pid ? [m.child.pid] : []))
  }

  async waitForLeader(deadlineMs: number): Promise<LeaderInfo> {
    return pollUntil('etcd leader agreed by all running members', () => this.agreedLeader(), deadlineMs)
  }

  async put(member: number, key: string, value: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const m = this.member(member)
    const body = `{"key":"${base64(key)}","value":"${Buffer.from(value).toString('base64')}"}`
    const response = await httpRequest({
      agent: m.agent,
      port: m.clientPort,
      method: 'POST',
      path: '/v3/kv/put',
      body,
      contentType: 'application/json',
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    })
    if (response.status !== 200) {
      throw new HttpStatusError(`etcd put on ${m.name}: ${response.status} ${snippet(response.body)}`, response.status)
    }
  }

  async get(member: number, key: string, options: ReadOptions): Promise<Uint8Array | undefined> {
    const m = this.member(member)
    const serializable = options.linearizable ? '' : ',"serializable":true'
    const response = await httpRequest({
      agent: m.agent,
      port: m.clientPort,
      method: 'POST',
      path: '/v3/kv/range',
      body: `{"key":"${base64(key)}"${serializable}}`,
      contentType: 'application/json',
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    })
    if (response.status !== 200) {
      throw new HttpStatusError(`etcd range on ${m.name}: ${response.status} ${snippet(response.body)}`, response.status)
    }
    const parsed = parseJsonBody(response, 'etcd range') as { kvs?: { value?: string }[] }
    const value = parsed.kvs?.[0]?.value
    if (parsed.kvs === undefined || parsed.kvs.length === 0) return undefined
    return Buffer.from(value ?? '', 'base64')
  }

  async killMember(member: number): Promise<void> {
    const child = this.member(member).child
    if (child !== undefined) await killAndWait(child)
  }

  async restartMember(member: number, deadlineMs: number): Promise<void> {
    const child = this.member(member).child
    if (child !== undefined && isRunning(child)) throw new ChildProcessError(`etcd member ${member} is still running`)
    this.spawnMember(member)
    await this.waitHealthy(deadlineMs)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const m of this.members) {
      if (m.child !== undefined) await killAndWait(m.child)
      m.agent.destroy()
    }
    removeTempDir(this.rootDir)
  }

  /** All members answer /health with true and agree on a leader. */
  private async waitHealthy(deadlineMs: number): Promise<LeaderInfo> {
    return pollUntil(
      'etcd members healthy with an agreed leader',
      async () => {
        for (const m of this.members) {
          if (m.child === undefined || !isRunning(m.child)) {
            throw new ChildProcessError(`etcd ${m.name} exited (code ${m.child?.exitCode}); see ${m.logPath}`)
          }
          const health = await httpRequest({ agent: m.agent, port: m.clientPort, method: 'GET', path: '/health', timeoutMs: PROBE_TIMEOUT_MS })
          const parsed = parseJsonBody(health, 'etcd /health') as { health?: string }
          if (health.status !== 200 || parsed.health !== 'true') return undefined
        }
        return this.agreedLeader()
      },
      deadlineMs,
      100,
    )
  }

  /** The leader if every running member names the same one and it is running; else undefined. */
  private async agreedLeader(): Promise<LeaderInfo | undefined> {
    const statuses = new Map<number, MemberStatus>()
    for (let k = 0; k < this.members.length; k++) {
      const child = this.members[k]?.child
      if (child === undefined || !isRunning(child)) continue
      statuses.set(k, await this.status(k))
    }
    const leaderIds = new Set([...statuses.values()].map((s) => s.leaderId))
    const [leaderId] = leaderIds
    if (leaderIds.size !== 1 || leaderId === undefined || leaderId === '0' || leaderId === '') return undefined
    for (const [k, s] of statuses) {
      if (s.memberId === leaderId) return { member: k, term: s.term }
    }
    return undefined
  }

  private async status(member: number): Promise<MemberStatus> {
    const m = this.member(member)
    const response = await httpRequest({
      agent: m.agent,
      port: m.clientPort,
      method: 'POST',
      path: '/v3/maintenance/status',
      body: '{}',
      contentType: 'application/json',
      timeoutMs: PROBE_TIMEOUT_MS,
    })
    if (response.status !== 200) {
      throw new HttpStatusError(`etcd status on ${m.name}: ${response.status} ${snippet(response.body)}`, response.status)
    }
    // The gateway renders uint64 fields as JSON strings.
    const parsed = parseJsonBody(response, 'etcd status') as {
      header?: { member_id?: string }
      leader?: string
      raftTerm?: string
      raft_term?: string
    }
    return {
      memberId: String(parsed.header?.member_id ?? ''),
      leaderId: String(parsed.leader ?? ''),
      term: Number(parsed.raftTerm ?? parsed.raft_term ?? 0),
    }
  }

  private spawnMember(k: number): void {
    const m = this.member(k)
    const clientUrl = `http://${LOOPBACK_HOST}:${m.clientPort}`
    const peerUrl = `http://${LOOPBACK_HOST}:${m.peerPort}`
    m.child = spawnServer({
      command: this.binary,
      args: [
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl,
        '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', this.initialCluster,
        '--initial-cluster-state', 'new', // ignored on restart: the data dir already holds the cluster
        '--initial-cluster-token', this.clusterToken,
        ...ETCD_EXTRA_FLAGS,
      ],
      logPath: m.logPath,
    })
  }

  private member(k: number): EtcdMember {
    const m = this.members[k]
    if (m === undefined) throw new RangeError(`no etcd member ${k}`)
    return m
  }
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64')
}

/** The etcd binary: $ETCD_BIN, else the first `etcd` on PATH. */
function findEtcdBinary(): string {
  const fromEnv = process.env['ETCD_BIN']
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const candidate = path.join(dir, 'etcd')
    if (dir !== '' && existsSync(candidate)) return candidate
  }
  throw new EtcdMissingError('etcd not found on PATH (install Debian etcd-server 3.4, or set ETCD_BIN)')
}

/** "3.4.23" from `etcd --version`. */
function etcdVersion(binary: string): string {
  const text = execFileSync(binary, ['--version'], { encoding: 'utf8' })
  return /etcd Version:\s*(\S+)/.exec(text)?.[1] ?? 'unknown'
}
