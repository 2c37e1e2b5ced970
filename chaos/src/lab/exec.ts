/**
 * Running the lab's system tools (ip, nsenter, dockerd, mount…) with argument arrays — never a
 * shell string — and a deadline, so one hung tool cannot hang `lab up` or `lab down`.
 */
import { execFile, spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { FlotillaError } from '../../../lib/errors.ts'

/** A lab command exited non-zero, timed out, or could not be started. */
export class LabCommandError extends FlotillaError {
  override name = 'LabCommandError'
  readonly command: readonly string[]
  readonly stderr: string

  constructor(command: readonly string[], detail: string, stderr: string, cause?: unknown) {
    super(`\`${command.join(' ')}\` failed: ${detail}${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`, { cause })
    this.command = command
    this.stderr = stderr
  }
}

export interface RunOptions {
  /** Kill the command after this long; the default suits one `ip` call on a busy machine. */
  readonly timeoutMs?: number
  /** Written to the command's standard input. */
  readonly input?: string | Buffer
  readonly env?: NodeJS.ProcessEnv
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 15_000

/** Runs `file args…`; resolves with its standard output, or throws LabCommandError. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const command = [file, ...args]
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout)
        const detail = error.killed ? `timed out after ${options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS} ms` : typeof error.code === 'number' ? `exit code ${error.code}` : String(error.code ?? error.message)
        reject(new LabCommandError(command, detail, stderr, error))
      },
    )
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}

/** Runs a command whose failure is acceptable (teardown of what may not exist); true when it succeeded. */
export async function attempt(file: string, args: readonly string[], options: RunOptions = {}): Promise<boolean> {
  try {
    await run(file, args, options)
    return true
  } catch (error) {
    if (error instanceof LabCommandError) return false
    throw error
  }
}

/** `ip` inside network namespace `netns` (`ip -n`), which changes nothing but the network namespace. */
export function ipIn(netns: string, args: readonly string[]): Promise<string> {
  return run('ip', ['-n', netns, ...args])
}

/**
 * A command in `netns` through `nsenter --net`, which enters only the network namespace. (`ip netns
 * exec` also makes a mount namespace and remounts /sys, hiding the cgroup hierarchy from the command:
 * dockerd then fails with "Devices cgroup isn't mounted".)
 */
export function nsenterArgs(netns: string, command: readonly string[]): string[] {
  return [`--net=/run/netns/${netns}`, '--', ...command]
}

export interface DetachedOptions {
  /** `cgroup.procs` files the process joins before it execs the command, so its children inherit them. */
  readonly cgroupProcs: readonly string[]
  /** Standard output and error are appended here. */
  readonly logFile: string
  readonly env?: NodeJS.ProcessEnv
}

/**
 * Starts a long-running lab process (an engine, a daemon) that outlives the `lab up` command.
 * A tiny `sh` joins the host's cgroups and then execs the command, so the returned PID is the
 * command's own and nothing it starts escapes the host's cgroup.
 */
export function spawnDetached(command: readonly string[], options: DetachedOptions): number {
  const log = openSync(options.logFile, 'a')
  try {
    const child = spawn('sh', ['-c', 'for f in $FL_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; exec "$@"', 'sh', ...command], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...(options.env ?? process.env), FL_CGROUP_PROCS: options.cgroupProcs.join(' ') },
    })
    child.unref()
    if (child.pid === undefined) throw new LabCommandError(command, 'could not be started', '')
    return child.pid
  } finally {
    closeSync(log)
  }
}

/** Whether a process with this PID exists (a zombie counts until its parent reaps it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
