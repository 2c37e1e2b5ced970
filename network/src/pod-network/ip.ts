/**
 * Running iproute2 (`ip`, `bridge`) for the pod network: argument arrays (never a shell string),
 * a deadline, stderr in the error, and optionally inside another network namespace by its path
 * (`nsenter --net=<path>`, which changes nothing but the network namespace — a sandbox's
 * `/proc/<pid>/ns/net` has no name that `ip -n` could use).
 */
import { execFile } from 'node:child_process'
import { FlotillaError } from '../../../lib/errors.ts'

/** An iproute2 command exited non-zero, timed out or could not be started. */
export class IpCommandError extends FlotillaError {
  override name = 'IpCommandError'
  readonly command: readonly string[]
  readonly stderr: string

  constructor(command: readonly string[], detail: string, stderr: string, cause?: unknown) {
    super(`\`${command.join(' ')}\` failed: ${detail}${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`, { cause })
    this.command = command
    this.stderr = stderr
  }
}

/** Where a command runs: the caller's network namespace, or the one bound at `netnsPath`. */
export interface IpTarget {
  readonly netnsPath?: string
}

/** Runs `tool args…` (tool is `ip` or `bridge`) and resolves with its standard output. */
export type IpExec = (tool: 'ip' | 'bridge', args: readonly string[], target?: IpTarget) => Promise<string>

/** One `ip` call on a busy 2-core machine takes tens of milliseconds; this bounds a hung one. */
export const IP_COMMAND_TIMEOUT_MS = 15_000

/** The real iproute2, as a child process. */
export const execIproute2: IpExec = (tool, args, target = {}) => {
  const command = target.netnsPath === undefined ? [tool, ...args] : ['nsenter', `--net=${target.netnsPath}`, '--', tool, ...args]
  const [file, ...rest] = command as [string, ...string[]]
  return new Promise((resolve, reject) => {
    execFile(file, rest, { timeout: IP_COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout)
      const detail = error.killed ? `timed out after ${IP_COMMAND_TIMEOUT_MS} ms` : typeof error.code === 'number' ? `exit code ${error.code}` : String(error.code ?? error.message)
      reject(new IpCommandError(command, detail, stderr, error))
    })
  })
}

/** `ip` and `bridge` over an IpExec, with the helpers the pod network needs. */
export class Iproute2 {
  private readonly exec: IpExec

  constructor(exec: IpExec = execIproute2) {
    this.exec = exec
  }

  ip(args: readonly string[], target?: IpTarget): Promise<string> {
    return this.exec('ip', args, target)
  }

  bridge(args: readonly string[], target?: IpTarget): Promise<string> {
    return this.exec('bridge', args, target)
  }

  /** `ip -j …` parsed; an empty output (some `show` commands print nothing) is an empty list. */
  async ipJson<T>(args: readonly string[], target?: IpTarget): Promise<T[]> {
    const output = (await this.ip(['-j', ...args], target)).trim()
    return output === '' ? [] : (JSON.parse(output) as T[])
  }

  /** The link named `name`, or undefined when there is none. */
  async link(name: string, target?: IpTarget): Promise<IpLink | undefined> {
    try {
      return (await this.ipJson<IpLink>(['link', 'show', 'dev', name], target))[0]
    } catch (error) {
      if (error instanceof IpCommandError && /does not exist|Cannot find device/i.test(error.stderr)) return undefined
      throw error
    }
  }

  /** Runs a delete whose target may already be gone; true when something was deleted. */
  async deleteIfPresent(tool: 'ip' | 'bridge', args: readonly string[], target?: IpTarget): Promise<boolean> {
    try {
      await this.exec(tool, args, target)
      return true
    } catch (error) {
      if (error instanceof IpCommandError && /No such|does not exist|Cannot find|not found|ESRCH|No route to host/i.test(error.stderr)) return false
      throw error
    }
  }
}

/** The fields of `ip -j link` the pod network reads. */
export interface IpLink {
  readonly ifname: string
  readonly ifindex: number
  readonly mtu: number
  readonly address?: string
  readonly master?: string
  readonly operstate?: string
  readonly flags?: readonly string[]
  readonly link_netnsid?: number
  /** For a veth: the peer's interface index (in the peer's namespace). */
  readonly link_index?: number
}

/** The fields of `ip -j addr` the pod network reads. */
export interface IpAddrInfo {
  readonly ifname: string
  readonly mtu: number
  readonly addr_info: ReadonlyArray<{ readonly family: string; readonly local: string; readonly prefixlen: number }>
}

/** The fields of `ip -j route` the pod network reads. */
export interface IpRoute {
  readonly dst: string
  readonly gateway?: string
  readonly dev?: string
  readonly flags?: readonly string[]
}
