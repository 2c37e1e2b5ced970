// The streaming tests' world: an ApiHandler over an in-process store, served over plain HTTP on
// 127.0.0.1 with both 'request' and 'upgrade' wired as the daemon wires them, and a test
// PodStreams provider backed by the local machine: exec spawns the command as a local process,
// logs come from lines the test holds (and appends to, for follow), attach is a session the test
// feeds, and port-forward dials 127.0.0.1:<port>. Also: pods in the store, kubectl runners with
// their own kubeconfig and discovery cache, and processes killed at teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { constants as osConstants, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough, Readable, type Duplex } from 'node:stream'
import type { Test } from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import type { ExecOptions, ExecSession } from '../../../runtime/src/runtime.ts'
import type { JsonObject } from '../../../node/src/api/machinery/canonical.ts'
import { badRequest } from '../../../node/src/api/machinery/status.ts'
import { ApiHandler } from '../../../node/src/api/server/api-handler.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore, type ResourceRef } from '../../../node/src/api/server/object-store.ts'
import type { PodLogOptions, PodStreams } from '../../../node/src/api/streaming/pod-streams.ts'

export const KUBECTL_120 = resolve(import.meta.dirname, '../../../.tools/kubectl120/usr/bin/kubectl')
/** kubectl 1.32 from the Google Cloud SDK, present on some machines (it tries WebSocket first). */
export const KUBECTL_132 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.32'
/** util-linux `script`, which runs a command on a pseudo-terminal. */
export const SCRIPT = '/usr/bin/script'
export const PODS: ResourceRef = { group: '', resource: 'pods', kind: 'Pod', apiVersion: 'v1', namespaced: true }

/** One log line the test provider serves: when it was written and its text (no newline). */
export interface LogLine {
  readonly timeMs: number
  readonly text: string
}

/** What the provider was asked, for assertions. */
export interface ProviderCall {
  readonly method: 'logs' | 'exec' | 'attach' | 'portForward'
  readonly pod: string
  readonly container?: string
  readonly options?: unknown
  readonly port?: number
}

/** An attach session the test drives: write to `output`, call `exit` to end it. */
export interface AttachControl {
  readonly output: PassThrough
  readonly input: PassThrough
  exit(code: number): void
}

/**
 * The test's PodStreams: real processes and sockets on this machine, so the wire protocols are
 * exercised end to end.
 */
export class TestPodStreams implements PodStreams {
  readonly calls: ProviderCall[] = []
  readonly resizes: Array<{ width: number; height: number }> = []
  readonly attaches: AttachControl[] = []
  /** Log lines per container name; `previous:<name>` holds the previous instance's. */
  readonly logLines = new Map<string, LogLine[]>()
  /** When set, exec and attach reject with it (after recording the call). */
  failWith: Error | undefined
  private readonly followers = new Set<{ container: string; stream: PassThrough; timestamps: boolean }>()
  private readonly children = new Set<ChildProcess>()
  private readonly sockets = new Set<Duplex>()

  /** Appends a line to a container's log and to every follower of it. */
  appendLog(container: string, text: string, timeMs = Date.now()): void {
    const line = { timeMs, text }
    this.logLines.set(container, [...(this.logLines.get(container) ?? []), line])
    for (const follower of this.followers) if (follower.container === container) follower.stream.write(formatLine(line, follower.timestamps))
  }

  /** Ends every follow of a container's log (the container exited). */
  endFollowers(container: string): void {
    for (const follower of [...this.followers]) {
      if (follower.container !== container) continue
      this.followers.delete(follower)
      follower.stream.end()
    }
  }

  followerCount(): number {
    return this.followers.size
  }

  async logs(pod: JsonObject, container: string, options: PodLogOptions): Promise<Readable> {
    this.calls.push({ method: 'logs', pod: nameOf(pod), container, options })
    const key = options.previous === true ? `previous:${container}` : container
    const stored = this.logLines.get(key)
    if (stored === undefined) {
      throw badRequest(options.previous === true ? `previous terminated container "${container}" in pod "${nameOf(pod)}" not found` : `container "${container}" in pod "${nameOf(pod)}" is waiting to start: ContainerCreating`)
    }
    let lines = stored.filter((line) => options.sinceMs === undefined || line.timeMs >= options.sinceMs)
    if (options.tailLines !== undefined) lines = options.tailLines === 0 ? [] : lines.slice(-options.tailLines)
    const text = lines.map((line) => formatLine(line, options.timestamps === true)).join('')
    if (options.follow !== true) return Readable.from([Buffer.from(text)])
    const stream = new PassThrough()
    stream.write(text)
    const follower = { container, stream, timestamps: options.timestamps === true }
    this.followers.add(follower)
    stream.on('close', () => this.followers.delete(follower))
    return stream
  }

  async exec(pod: JsonObject, container: string, options: ExecOptions): Promise<ExecSession> {
    this.calls.push({ method: 'exec', pod: nameOf(pod), container, options })
    if (this.failWith !== undefined) throw this.failWith
    const [file, ...args] = options.command
    const child = spawn(file!, args, { stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
    this.children.add(child)
    const exitCode = new Promise<number>((resolveExit) => {
      child.once('error', () => resolveExit(126))
      child.once('exit', (code, signal) => resolveExit(code ?? 128 + (signal === null ? 0 : osConstants.signals[signal])))
    })
    void exitCode.then(() => this.children.delete(child))
    // With a tty, a terminal merges stderr into stdout; the test process has none, so merge here.
    const stdout = options.tty === true ? mergeStreams(child.stdout!, child.stderr!) : child.stdout!
    return {
      ...(child.stdin !== null ? { stdin: child.stdin } : {}),
      stdout,
      ...(options.tty === true ? {} : { stderr: child.stderr! }),
      resize: async (size) => {
        this.resizes.push(size)
      },
      exitCode,
      close: () => child.kill('SIGKILL'),
    }
  }

  async attach(pod: JsonObject, container: string, options: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    this.calls.push({ method: 'attach', pod: nameOf(pod), container, options })
    if (this.failWith !== undefined) throw this.failWith
    const output = new PassThrough()
    const input = new PassThrough()
    let exit!: (code: number) => void
    const exitCode = new Promise<number>((resolveExit) => (exit = resolveExit))
    this.attaches.push({
      output,
      input,
      exit: (code) => {
        output.end()
        exit(code)
      },
    })
    return {
      ...(options.stdin ? { stdin: input } : {}),
      stdout: output,
      resize: async (size) => {
        this.resizes.push(size)
      },
      exitCode,
      close: () => {
        output.end()
        exit(137)
      },
    }
  }

  async portForward(pod: JsonObject, port: number): Promise<Duplex> {
    this.calls.push({ method: 'portForward', pod: nameOf(pod), port })
    const socket = connect(port, '127.0.0.1')
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    await new Promise<void>((resolveConnect, reject) => {
      socket.once('connect', resolveConnect)
      socket.once('error', reject)
    })
    return socket
  }

  /** Open sockets to forwarded ports (they close when the forward ends). */
  openForwards(): number {
    return this.sockets.size
  }

  stop(): void {
    for (const child of this.children) child.kill('SIGKILL')
    for (const socket of this.sockets) socket.destroy()
    for (const follower of this.followers) follower.stream.destroy()
  }
}

function nameOf(pod: JsonObject): string {
  return String((pod['metadata'] as JsonObject)['name'])
}

function formatLine(line: LogLine, timestamps: boolean): string {
  return timestamps ? `${new Date(line.timeMs).toISOString().replace('Z', '000000Z')} ${line.text}\n` : `${line.text}\n`
}

/** One Readable with the data of both, ending when both have ended. */
function mergeStreams(first: Readable, second: Readable): Readable {
  const merged = new PassThrough()
  let open = 2
  for (const stream of [first, second]) {
    stream.on('data', (chunk: Buffer) => merged.write(chunk))
    stream.once('end', () => {
      if (--open === 0) merged.end()
    })
  }
  return merged
}

/** A pod as the tests store it: scheduled to `nodeName`, in `phase`. */
export function pod(name: string, options: { containers?: readonly string[]; initContainers?: readonly string[]; phase?: string; nodeName?: string | null } = {}): JsonObject {
  const container = (containerName: string): JsonObject => ({ name: containerName, image: 'busybox' })
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      containers: (options.containers ?? ['app']).map(container),
      ...(options.initContainers !== undefined ? { initContainers: options.initContainers.map(container) } : {}),
      ...(options.nodeName === null ? {} : { nodeName: options.nodeName ?? 'node-a' }),
    },
    status: { phase: options.phase ?? 'Running' },
  }
}

/** The API served on 127.0.0.1 with the test provider; everything is stopped at the end of `t`. */
export class StreamingServer {
  readonly provider = new TestPodStreams()
  readonly objects = new ObjectStore(new MemoryObjectBackend())
  readonly logged: string[] = []
  /** Upgrade requests seen: the subresource and the transport asked for. */
  readonly upgrades: Array<{ subresource: string; upgrade: string; protocols: string }> = []
  readonly api: ApiHandler
  private server: Server | undefined
  private portNumber = 0

  constructor(options: { withProvider?: boolean } = {}) {
    this.api = new ApiHandler({
      objects: this.objects,
      serverAddress: '127.0.0.1:1',
      log: (line) => this.logged.push(line),
      ...(options.withProvider === false ? {} : { podStreamsFor: () => this.provider }),
    })
  }

  async start(t: Test): Promise<this> {
    await this.api.ensureSystemNamespaces()
    const server = createServer((request, response) => void this.api.handle(request, response))
    server.on('upgrade', (request, socket: Duplex, head: Buffer) => {
      this.upgrades.push({
        subresource: (request.url ?? '').split('?')[0]!.split('/').pop() ?? '',
        upgrade: String(request.headers.upgrade ?? ''),
        protocols: String(request.headers['sec-websocket-protocol'] ?? request.headers['x-stream-protocol-version'] ?? ''),
      })
      void this.api.handleUpgrade(request, socket, head)
    })
    this.server = server
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen))
    this.portNumber = (server.address() as AddressInfo).port
    t.teardown(() => this.stop())
    return this
  }

  port(): number {
    return this.portNumber
  }

  url(path = ''): string {
    return `http://127.0.0.1:${this.portNumber}${path}`
  }

  async createPod(object: JsonObject): Promise<JsonObject> {
    return this.objects.create(PODS, 'default', object)
  }

  async stop(): Promise<void> {
    this.provider.stop()
    this.server?.closeAllConnections()
    await new Promise<void>((resolveClose) => (this.server === undefined ? resolveClose() : this.server.close(() => resolveClose())))
  }
}

export interface KubectlResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A kubectl process started in the background: its output so far, and a way to wait for it. */
export interface KubectlProcess {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves with the result once the process exits (within the deadline, or it is killed). */
  exited(timeoutMs?: number): Promise<KubectlResult>
}

/** kubectl (a given binary) configured for `server`, with processes killed at the end of `t`. */
export class Kubectl {
  readonly binary: string
  /** The kubeconfig file pointing at the server (for commands run through other programs). */
  readonly kubeconfig: string
  private readonly work: string
  private readonly env: NodeJS.ProcessEnv
  private readonly processes = new Set<ChildProcess>()

  /** `env` is added to the environment of every kubectl run (feature switches). */
  constructor(t: Test, binary: string, server: StreamingServer, env: Readonly<Record<string, string>> = {}) {
    this.binary = binary
    this.env = { ...process.env, ...env }
    this.work = mkdtempSync(join(tmpdir(), 'flotilla-streaming-'))
    this.kubeconfig = join(this.work, 'kubeconfig')
    writeFileSync(
      this.kubeconfig,
      ['apiVersion: v1', 'kind: Config', `clusters: [{name: local, cluster: {server: "${server.url()}"}}]`, 'users: [{name: me, user: {}}]', 'contexts: [{name: local, context: {cluster: local, user: me, namespace: default}}]', 'current-context: local', ''].join('\n'),
    )
    t.teardown(() => {
      for (const child of this.processes) child.kill('SIGKILL')
      rmSync(this.work, { recursive: true, force: true })
    })
  }

  static available(binary: string): boolean {
    return existsSync(binary)
  }

  /** Starts kubectl with `args`; `stdin` is written and closed when given (else left open). */
  start(args: readonly string[], stdin?: string): KubectlProcess {
    return this.spawnTracked(this.binary, [...this.commonArgs(), ...args], stdin)
  }

  /**
   * Starts kubectl on a pseudo-terminal of `size` (util-linux `script`), as from an interactive
   * shell: kubectl then asks for a tty and reports the terminal's size.
   */
  startOnTerminal(args: readonly string[], size: { columns: number; rows: number }): KubectlProcess {
    const quoted = [this.binary, ...this.commonArgs(), ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ')
    return this.spawnTracked(SCRIPT, ['-qfec', `stty cols ${size.columns} rows ${size.rows}; exec ${quoted}`, '/dev/null'], undefined)
  }

  private commonArgs(): string[] {
    return ['--kubeconfig', this.kubeconfig, '--cache-dir', join(this.work, 'cache')]
  }

  private spawnTracked(file: string, args: readonly string[], stdin: string | undefined): KubectlProcess {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: this.env })
    this.processes.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdin!.on('error', () => undefined)
    if (stdin !== undefined) child.stdin!.end(stdin)
    const exit = new Promise<number>((resolveExit) => child.once('exit', (code, signal) => resolveExit(code ?? (signal === null ? 1 : 128))))
    void exit.then(() => this.processes.delete(child))
    return {
      child,
      stdout: () => stdout,
      stderr: () => stderr,
      exited: async (timeoutMs = 30_000) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
        const code = await exit
        clearTimeout(timer)
        return { code, stdout, stderr }
      },
    }
  }

  /** Runs kubectl to completion (killed after `timeoutMs`). */
  run(args: readonly string[], stdin?: string, timeoutMs = 30_000): Promise<KubectlResult> {
    return this.start(args, stdin ?? '').exited(timeoutMs)
  }
}

/** A TCP server on 127.0.0.1 that echoes every byte and closes when the client half-closes. */
export async function startEchoServer(t: Test): Promise<{ port: number; connections: () => number }> {
  let connections = 0
  const sockets = new Set<Duplex>()
  const { createServer: createTcpServer } = await import('node:net')
  const server = createTcpServer({ allowHalfOpen: true }, (socket) => {
    connections++
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
    socket.pipe(socket)
  })
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolveClose) => server.close(() => resolveClose()))
  })
  return { port: (server.address() as AddressInfo).port, connections: () => connections }
}

/** Waits until `read()` matches `pattern`; returns the match. */
export function waitForOutput(what: string, read: () => string, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  return waitFor(what, timeoutMs, () => read().match(pattern) ?? undefined, 50)
}
