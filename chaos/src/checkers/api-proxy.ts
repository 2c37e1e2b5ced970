/**
 * The checker's side of api-proxy-main.ts: one child process per lab host, inside that host's
 * network namespace, through which the checker sends Kubernetes API requests to that host's daemon.
 * The child is not in the host's cgroup, so it survives the host being killed: its requests then
 * time out, exactly what a client next to a dead server sees.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { FlotillaError } from '../../../lib/errors.ts'

const PROXY_MAIN = join(import.meta.dirname, 'api-proxy-main.ts')
export const DEFAULT_API_TIMEOUT_MS = 2_000

/** A request that got no HTTP answer. `definite`: it never reached the server. */
export class ApiUnreachableError extends FlotillaError {
  override name = 'ApiUnreachableError'
  readonly definite: boolean

  constructor(message: string, definite: boolean) {
    super(message)
    this.definite = definite
  }
}

export interface ApiResponse {
  readonly status: number
  readonly body: unknown
}

interface ProxyReply {
  readonly id: number
  readonly status?: number
  readonly body?: unknown
  readonly error?: string
  readonly definite?: boolean
}

export class HostApiClient {
  readonly host: string
  private readonly child: ChildProcess
  private readonly pending = new Map<number, { resolve: (response: ApiResponse) => void; reject: (error: Error) => void }>()
  private nextId = 1
  private closed = false

  /** Starts the proxy in `netns`, talking to `server` with the kubeconfig file's credentials. */
  constructor(host: string, netns: string, kubeconfigFile: string, server: string) {
    this.host = host
    this.child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, PROXY_MAIN, kubeconfigFile, server], { stdio: ['pipe', 'pipe', 'inherit'] })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const reply = JSON.parse(line) as ProxyReply
      const waiter = this.pending.get(reply.id)
      if (waiter === undefined) return
      this.pending.delete(reply.id)
      if (reply.status !== undefined) waiter.resolve({ status: reply.status, body: reply.body })
      else waiter.reject(new ApiUnreachableError(`${host}: ${reply.error ?? 'no answer'}`, reply.definite === true))
    })
    this.child.on('exit', () => {
      this.closed = true
      for (const waiter of this.pending.values()) waiter.reject(new ApiUnreachableError(`${host}: the API proxy exited`, false))
      this.pending.clear()
    })
  }

  /** One request; rejects with ApiUnreachableError when no HTTP answer came within `timeoutMs`. */
  request(method: string, path: string, body?: unknown, timeoutMs = DEFAULT_API_TIMEOUT_MS): Promise<ApiResponse> {
    if (this.closed) return Promise.reject(new ApiUnreachableError(`${this.host}: the API proxy is closed`, true))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.child.stdin!.write(`${JSON.stringify({ id, method, path, body, timeoutMs })}\n`)
    })
  }

  /** Ends the child (closing its stdin) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.closed) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.child.stdin!.end()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }
}
