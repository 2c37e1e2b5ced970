/**
 * Child processes, temporary directories and loopback ports for the benchmark, with cleanup that
 * runs however the benchmark ends (normal exit, exception, Ctrl-C, SIGTERM).
 *
 * Every server the benchmark starts is registered here; the process 'exit' handler SIGKILLs the
 * ones still alive and removes registered directories synchronously, so nothing outlives a run.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { FlotillaError, TimeoutError } from '../lib/errors.ts'
import { LOOPBACK_HOST } from './http.ts'

export { sleep }

/** No free port was found in the scanned range. */
export class NoFreePortError extends FlotillaError {
  override name = 'NoFreePortError'
}

/** A child process did not start or exited when it should have been running. */
export class ChildProcessError extends FlotillaError {
  override name = 'ChildProcessError'
}

const liveChildren = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let handlersInstalled = false

/**
 * Installs exit and signal handlers once: on exit, SIGKILL every live child and remove every
 * registered temporary directory; on SIGINT/SIGTERM, print a note and exit (which runs the former).
 */
export function installCleanupHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', cleanupNow)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: stopping cluster processes and removing data directories\n`)
      process.exit(130)
    })
  }
}

/** Synchronous cleanup: safe to call from the 'exit' handler. */
export function cleanupNow(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL')
    } catch {
      // Already gone.
    }
  }
  liveChildren.clear()
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

/** Creates a temporary directory (under the OS temp dir) that is removed at exit at the latest. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

/** Removes a directory made by makeTempDir now. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

export interface SpawnServerOptions {
  readonly command: string
  readonly args: readonly string[]
  /** stdout and stderr are appended to this file. */
  readonly logPath: string
  readonly cwd?: string
}

/** Spawns a long-running server, logging to a file, registered for cleanup at exit. */
export function spawnServer(options: SpawnServerOptions): ChildProcess {
  const logFd = openSync(options.logPath, 'a')
  let child: ChildProcess
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      stdio: ['ignore', logFd, logFd],
      env: process.env,
    })
  } finally {
    closeSync(logFd) // the child holds its own copy
  }
  if (child.pid === undefined) {
    throw new ChildProcessError(`could not start ${options.command} (see ${options.logPath})`)
  }
  liveChildren.add(child)
  child.once('exit', () => liveChildren.delete(child))
  child.once('error', () => liveChildren.delete(child))
  return child
}

/** The last `maxChars` of a log file, for error messages. */
export function tailOfFile(file: string, maxChars = 1_500): string {
  try {
    const text = readFileSync(file, 'utf8')
    return text.length > maxChars ? text.slice(-maxChars) : text
  } catch {
    return '(no log)'
  }
}

/** True while the child has neither exited nor been killed by a signal. */
export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/** SIGKILLs a child and waits (up to `deadlineMs`) for the kernel to report its exit. */
export async function killAndWait(child: ChildProcess, deadlineMs = 5_000): Promise<void> {
  if (!isRunning(child)) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  const timedOut = sleep(deadlineMs).then(() => 'timeout' as const)
  if ((await Promise.race([exited, timedOut])) === 'timeout') {
    throw new ChildProcessError(`pid ${child.pid} did not exit within ${deadlineMs} ms of SIGKILL`)
  }
}

/**
 * Calls `probe` every `intervalMs` until it returns a value other than undefined, and returns it.
 * Probe errors count as "not yet". Throws TimeoutError naming `what` (and the last error) once
 * `deadlineMs` has passed.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  deadlineMs: number,
  intervalMs = 50,
): Promise<T> {
  const startMs = performance.now()
  const maxAttempts = Math.ceil(deadlineMs / intervalMs) + 1
  let lastError = ''
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    }
    if (performance.now() - startMs >= deadlineMs) break
    await sleep(intervalMs)
  }
  const detail = lastError === '' ? '' : ` (last error: ${lastError})`
  throw new TimeoutError(`${what}: not reached within ${deadlineMs} ms${detail}`)
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/** Where free ports are looked for: above common services, below the Linux ephemeral range. */
const PORT_RANGE_FIRST = 20_000
const PORT_RANGE_LAST = 31_999
const MAX_PORT_PROBES = 2_000
const handedOutPorts = new Set<number>()

/**
 * Finds `count` free TCP ports on 127.0.0.1 by binding each candidate briefly. The scan starts at
 * a random port of the range so that concurrent runs rarely race for the same ports.
 */
export async function findFreePorts(count: number): Promise<number[]> {
  const span = PORT_RANGE_LAST - PORT_RANGE_FIRST + 1
  const offset = Math.floor(Math.random() * span)
  const ports: number[] = []
  for (let probe = 0; probe < Math.min(MAX_PORT_PROBES, span) && ports.length < count; probe++) {
    const port = PORT_RANGE_FIRST + ((offset + probe) % span)
    if (handedOutPorts.has(port)) continue
    if (await isPortFree(port)) {
      handedOutPorts.add(port)
      ports.push(port)
    }
  }
  if (ports.length < count) {
    throw new NoFreePortError(`found ${ports.length} of ${count} free ports in ${PORT_RANGE_FIRST}-${PORT_RANGE_LAST}`)
  }
  return ports
}

/** True when nothing listens on 127.0.0.1:`port` (we could bind it). */
function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({ host: LOOPBACK_HOST, port, exclusive: true }, () => {
      server.close(() => resolve(true))
    })
  })
}
