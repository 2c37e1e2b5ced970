/**
 * The fence keeper: the half of self-fencing (node-fence.ts) that survives the daemon.
 *
 * The node fence stops StatefulSet containers when the node is cut off from the cluster, but only
 * while the daemon runs. If the daemon itself dies (crash, OOM kill, a stop for an upgrade), its
 * workloads keep running while the cluster, hearing nothing, marks the node NotReady after the
 * not-ready grace, evicts and force-deletes its pods after the eviction timeout, and starts the
 * StatefulSet's replacement elsewhere — the same identity twice. So the daemon also starts a tiny
 * separate process, the keeper, and touches a heartbeat file every HEARTBEAT_INTERVAL_MS. When the
 * heartbeat is older than `staleMs` (well below grace + eviction), the keeper kills this node's
 * running containers labelled AT_MOST_ONCE_LABEL through the engine's API. It does the same when it
 * finds that it did not run itself for longer than `staleMs` (frozen or starved together with the
 * daemon, whose first heartbeat on waking would otherwise hide the gap). A restarted daemon
 * resumes the heartbeat and its agent reconciles: pods that still exist start again.
 *
 * One keeper per data directory (its PID file); a running keeper is reused. The keeper exits when
 * the data directory is gone, or when the heartbeat has been stale for KEEPER_IDLE_EXIT_MS and
 * nothing it guards runs any more (the daemon starts a new one when it comes back).
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Containers of pods that must never run twice at once (StatefulSet pods) carry this label. */
export const AT_MOST_ONCE_LABEL = 'dev.flotilla.at-most-once'
export const HEARTBEAT_INTERVAL_MS = 500
/** A heartbeat older than this means the daemon is gone or stuck. */
export const KEEPER_STALE_MS_DEFAULT = 3000
/** A keeper with nothing to guard and no daemon for this long exits. */
export const KEEPER_IDLE_EXIT_MS = 5 * 60_000
const KEEPER_MAIN = join(import.meta.dirname, 'fence-keeper-main.ts')

export interface KeeperFiles {
  readonly heartbeat: string
  readonly pid: string
  readonly log: string
}

export function keeperFiles(dataDirectory: string): KeeperFiles {
  const directory = join(dataDirectory, 'agent')
  return { heartbeat: join(directory, 'fence-heartbeat'), pid: join(directory, 'fence-keeper.pid'), log: join(directory, 'fence-keeper.log') }
}

/** What the keeper does on one tick, from the heartbeat's age (pure). */
export function keeperVerdict(heartbeatAgeMs: number, staleMs: number): 'guard' | 'kill' {
  return heartbeatAgeMs > staleMs ? 'kill' : 'guard'
}

/** Milliseconds since the heartbeat file was touched; infinite when it is missing. */
export function heartbeatAgeMs(file: string, nowMs: number): number {
  try {
    return nowMs - statSync(file).mtimeMs
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

function keeperAlive(pidFile: string): boolean {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim())
    if (!Number.isInteger(pid) || pid <= 0) return false
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('fence-keeper-main')
  } catch {
    return false
  }
}

export interface FenceHeartbeatOptions {
  readonly dataDirectory: string
  /** The engine the keeper kills containers through. */
  readonly dockerSocket: string
  /** Only containers labelled with this node are the keeper's. */
  readonly nodeName: string
  readonly staleMs?: number
  readonly log: (line: string) => void
}

/**
 * The daemon's side: starts the keeper unless one runs for this data directory, then touches the
 * heartbeat every HEARTBEAT_INTERVAL_MS until `stop` (after which the keeper fences the node).
 */
export class FenceHeartbeat {
  private readonly files: KeeperFiles
  private readonly options: FenceHeartbeatOptions
  private interval: NodeJS.Timeout | undefined

  constructor(options: FenceHeartbeatOptions) {
    this.options = options
    this.files = keeperFiles(options.dataDirectory)
  }

  start(): void {
    mkdirSync(join(this.options.dataDirectory, 'agent'), { recursive: true })
    this.beat()
    if (!keeperAlive(this.files.pid)) this.spawnKeeper()
    this.interval = setInterval(() => this.beat(), HEARTBEAT_INTERVAL_MS)
    this.interval.unref()
  }

  stop(): void {
    if (this.interval !== undefined) clearInterval(this.interval)
    this.interval = undefined
  }

  private beat(): void {
    const now = new Date()
    try {
      utimesSync(this.files.heartbeat, now, now)
    } catch {
      writeFileSync(this.files.heartbeat, '')
    }
  }

  private spawnKeeper(): void {
    const log = openSync(this.files.log, 'a')
    try {
      const args = [KEEPER_MAIN, '--data', this.options.dataDirectory, '--docker-socket', this.options.dockerSocket, '--node', this.options.nodeName, '--stale-ms', String(this.options.staleMs ?? KEEPER_STALE_MS_DEFAULT)]
      const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log, log] })
      child.unref()
      if (child.pid !== undefined) writeFileSync(this.files.pid, `${child.pid}\n`)
      this.options.log(`fence keeper started (pid ${String(child.pid)}): StatefulSet containers stop ${this.options.staleMs ?? KEEPER_STALE_MS_DEFAULT} ms after this daemon stops beating`)
    } finally {
      closeSync(log)
    }
  }
}

export function dataDirectoryGone(dataDirectory: string): boolean {
  return !existsSync(join(dataDirectory, 'agent'))
}
