/**
 * The controllers benchmark's peer: Docker Swarm on the local engine, measured in the same run.
 *
 * The engine must answer `docker info`. If it is not a swarm manager, the benchmark runs
 * `docker swarm init --advertise-addr 127.0.0.1` and, at the end, `docker swarm leave --force`
 * (only then: a swarm that existed before is left alone). The image is `busybox-local`, built
 * here when missing from Debian's busybox-static (FROM scratch, the static binary as entrypoint),
 * never pulled from a registry.
 *
 * For each size N: `docker service create --replicas N --detach busybox-local sleep 3600`, then
 * `docker service ps` is polled until every task is assigned to a node (state Assigned or later:
 * Swarm's equivalent of a bound pod) and until every task is Running; then the service is removed.
 * Swarm here has one node; Flotilla has the hollow nodes. Say so beside any ratio.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { FlotillaError } from '../lib/errors.ts'
import { makeTempDir, removeTempDir, sleep } from './processes.ts'

const run = promisify(execFile)

export const SWARM_IMAGE = 'busybox-local'
const SERVICE_PREFIX = 'flotilla-bench-'
/** `docker service ps` poll period. */
const POLL_MS = 250
/** Where Debian's busybox-static puts the binary. */
const BUSYBOX_STATIC = '/bin/busybox'
/** Task states before a task has a node (docker/swarmkit api/types.proto TaskState). */
const UNASSIGNED_STATES = new Set(['new', 'allocated', 'pending'])

/** Docker, or the swarm, could not be used. */
export class SwarmUnavailableError extends FlotillaError {
  override name = 'SwarmUnavailableError'
}

export interface SwarmServiceResult {
  readonly replicas: number
  /** From `docker service create` being run to every task assigned to a node. */
  readonly allAssignedMs?: number
  /** From `docker service create` being run to every task Running. */
  readonly allRunningMs?: number
  /** replicas / allAssignedMs. */
  readonly assignedPerSecond?: number
  readonly runningPerSecond?: number
  readonly error?: string
}

export interface SwarmResult {
  readonly system: 'Docker Swarm'
  readonly version?: string
  readonly notes: readonly string[]
  readonly swarmNodes?: number
  readonly services: readonly SwarmServiceResult[]
  /** Set when the peer could not be measured at all. */
  readonly error?: string
}

/** Runs the docker CLI and returns its stdout; any failure is a SwarmUnavailableError. */
export async function docker(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run('docker', [...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const detail = error as { stderr?: string; message?: string }
    throw new SwarmUnavailableError(`docker ${args.join(' ')}: ${(detail.stderr ?? detail.message ?? String(error)).trim().slice(0, 400)}`, { cause: error })
  }
}

/** The local engine as a swarm manager, for the length of a benchmark. */
export interface SwarmSession {
  readonly version: string
  readonly swarmNodes: number
  /** How the swarm and the image were found or made, for the output. */
  readonly notes: readonly string[]
  /** True when openSwarm ran `docker swarm init`: close() then leaves the swarm. */
  readonly initialisedHere: boolean
  /** Leaves the swarm if openSwarm created it; safe to call more than once. */
  close(): Promise<void>
}

/**
 * Makes the engine a swarm manager (`docker swarm init --advertise-addr 127.0.0.1` unless it is
 * one already) with the image `busybox-local` present. Throws SwarmUnavailableError, having left
 * a swarm it created, when either cannot be had.
 */
export async function openSwarm(): Promise<SwarmSession> {
  const notes: string[] = []
  let initialisedHere = false
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    if (initialisedHere) await docker(['swarm', 'leave', '--force']).catch(() => undefined)
  }
  try {
    const version = (await docker(['version', '--format', '{{.Server.Version}}'], 20_000)).trim()
    const state = (await docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'], 20_000)).trim()
    if (!state.startsWith('active')) {
      await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1'])
      initialisedHere = true
      notes.push('swarm initialised by the benchmark (docker swarm init --advertise-addr 127.0.0.1), left at the end')
    } else if (!state.endsWith('true')) {
      throw new SwarmUnavailableError('this engine is in a swarm but not a manager: cannot create services')
    } else notes.push('an existing swarm (left as it was)')
    const swarmNodes = (await docker(['node', 'ls', '--format', '{{.ID}}'])).trim().split('\n').filter((line) => line !== '').length
    notes.push(await ensureImage())
    return { version, swarmNodes, notes, initialisedHere, close }
  } catch (error) {
    await close()
    throw error
  }
}

/** Measures Swarm for each size in `sizes`; never throws (errors are in the result). */
export async function benchSwarm(sizes: readonly number[], deadlineMsPerService: number): Promise<SwarmResult> {
  let session: SwarmSession | undefined
  try {
    session = await openSwarm()
    const services: SwarmServiceResult[] = []
    for (const replicas of sizes) services.push(await benchService(replicas, deadlineMsPerService))
    return { system: 'Docker Swarm', version: session.version, notes: session.notes, swarmNodes: session.swarmNodes, services }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { system: 'Docker Swarm', notes: session?.notes ?? [], services: [], error: message }
  } finally {
    await session?.close()
  }
}

/** Builds busybox-local from Debian's busybox-static unless the engine already has it. */
async function ensureImage(): Promise<string> {
  const existing = (await docker(['image', 'ls', '-q', SWARM_IMAGE])).trim()
  if (existing !== '') return `image ${SWARM_IMAGE} already present`
  const context = makeTempDir('flotilla-bench-busybox-')
  try {
    const binary = await busyboxStaticBinary(context)
    copyFileSync(binary, path.join(context, 'busybox'))
    writeFileSync(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n')
    await docker(['build', '-q', '-t', SWARM_IMAGE, context], 300_000)
    return `image ${SWARM_IMAGE} built from Debian's busybox-static (FROM scratch)`
  } finally {
    removeTempDir(context)
  }
}

/** The busybox-static binary: installed, or extracted from `apt-get download busybox-static`. */
async function busyboxStaticBinary(workDir: string): Promise<string> {
  try {
    const { stdout } = await run('dpkg-query', ['-W', '-f', '${Status}', 'busybox-static'])
    if (stdout.includes('installed') && existsSync(BUSYBOX_STATIC)) return BUSYBOX_STATIC
  } catch {
    // Not installed: download the package below.
  }
  const debDir = path.join(workDir, 'deb')
  mkdirSync(debDir)
  try {
    await run('apt-get', ['download', 'busybox-static'], { cwd: debDir, timeout: 120_000 })
    const { stdout } = await run('sh', ['-c', 'ls *.deb'], { cwd: debDir })
    const deb = stdout.trim().split('\n')[0] ?? ''
    await run('dpkg-deb', ['-x', path.join(debDir, deb), path.join(debDir, 'root')])
  } catch (error) {
    throw new SwarmUnavailableError(`cannot get Debian's busybox-static: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  }
  const binary = path.join(debDir, 'root', 'bin', 'busybox')
  if (!existsSync(binary)) throw new SwarmUnavailableError('the busybox-static package has no /bin/busybox')
  return binary
}

/** One service of `replicas` tasks: create, poll until all assigned and all running, remove. */
async function benchService(replicas: number, deadlineMs: number): Promise<SwarmServiceResult> {
  const name = `${SERVICE_PREFIX}${replicas}-${process.pid}`
  let allAssignedMs: number | undefined
  let allRunningMs: number | undefined
  const startMs = performance.now()
  try {
    await docker(['service', 'create', '--detach', '--name', name, '--replicas', String(replicas), SWARM_IMAGE, 'sleep', '3600'])
    while (allRunningMs === undefined) {
      if (performance.now() - startMs > deadlineMs) throw new SwarmUnavailableError(`service ${name}: not all ${replicas} tasks running within ${deadlineMs} ms`)
      const states = await taskStates(name)
      const nowMs = performance.now() - startMs
      const assigned = states.filter((state) => !UNASSIGNED_STATES.has(state)).length
      const running = states.filter((state) => state === 'running').length
      if (allAssignedMs === undefined && assigned >= replicas) allAssignedMs = nowMs
      if (running >= replicas) allRunningMs = nowMs
      else await sleep(POLL_MS)
    }
    return {
      replicas,
      ...(allAssignedMs !== undefined ? { allAssignedMs, assignedPerSecond: replicas / (allAssignedMs / 1000) } : {}),
      allRunningMs,
      runningPerSecond: replicas / (allRunningMs / 1000),
    }
  } catch (error) {
    return { replicas, ...(allAssignedMs !== undefined ? { allAssignedMs, assignedPerSecond: replicas / (allAssignedMs / 1000) } : {}), error: error instanceof Error ? error.message : String(error) }
  } finally {
    await docker(['service', 'rm', name]).catch(() => undefined)
  }
}

/** The desired-running tasks' current states, lower case ("running", "preparing", …). */
export async function taskStates(service: string): Promise<string[]> {
  const out = await docker(['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])
  // CurrentState reads like "Running 3 seconds ago" or "Assigned less than a second ago".
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (line.trim().split(/\s+/)[0] ?? '').toLowerCase())
}
