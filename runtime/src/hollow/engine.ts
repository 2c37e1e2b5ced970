/**
 * The hollow engine: the simulated counterpart of one Docker daemon. It holds every sandbox and
 * container of every node that shares it, and runs their simulated processes on injected timers.
 * RuntimeHollow is a per-node view of it, exactly as RuntimeDocker is a per-node view of a Docker
 * engine, so two runtimes for one node (a restarted daemon) see the same containers and two
 * nodes sharing an engine stay apart by label.
 *
 * Stop semantics follow Docker with busybox: a container's main process is PID 1, and PID 1
 * without a handler ignores SIGTERM, so `stop` waits the whole grace period and then kills:
 * exit code 137. (Docker 20.10 reports 137 for `sleep`, `httpd -f` and `sh -c` loops alike.)
 */
import { createHash } from 'node:crypto'

import { assert } from '../../../lib/assert.ts'
import { RandomXoshiro, type Random } from '../../../lib/random.ts'
import type { Timer, Timers } from '../../../lib/timers.ts'
import { BUSYBOX_IMAGE, PAUSE_IMAGE } from '../local-images.ts'
import type { ContainerConfig, ContainerState, PodRef, SandboxConfig } from '../runtime.ts'
import { VirtualFiles } from './files.ts'
import { IpAllocator } from './ip-allocator.ts'
import { LogBuffer } from './log-buffer.ts'
import { HollowProcess, type ListenService, type ProcessContext } from './process.ts'

/** An image a hollow engine has "locally": its name and what it runs by default. */
export interface HollowImage {
  readonly name: string
  readonly entrypoint?: readonly string[]
  readonly cmd?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  readonly sizeBytes?: number
}

/** The local images of every Flotilla node (local-images.ts), as the hollow engine has them. */
export const DEFAULT_HOLLOW_IMAGES: readonly HollowImage[] = [
  { name: BUSYBOX_IMAGE, cmd: ['sh'], env: { PATH: '/bin' }, sizeBytes: 1_982_256 },
  { name: PAUSE_IMAGE, entrypoint: ['/bin/sleep'], cmd: ['infinity'], env: { PATH: '/bin' }, sizeBytes: 1_982_256 },
]

/** Exit code of a process killed by SIGKILL (128 + 9), as Docker reports it. */
export const EXIT_CODE_SIGKILL = 137
/** CPU a process uses while it sleeps or waits, in core-nanoseconds per second (0.1 % of a core). */
const IDLE_CPU_NS_PER_SECOND = 1_000_000
/** CPU a busy loop uses: one whole core. */
const BUSY_CPU_NS_PER_SECOND = 1_000_000_000
/** The working set every hollow container reports (a busybox shell's is about this). */
export const HOLLOW_MEMORY_WORKING_SET_BYTES = 1_048_576

export interface HollowImageRecord {
  readonly id: string
  readonly image: HollowImage
}

export interface SandboxRecord {
  readonly id: string
  readonly nodeName: string
  readonly config: SandboxConfig
  readonly createdAtMs: number
  readonly labels: Readonly<Record<string, string>>
  state: 'ready' | 'notready'
  ip: string | undefined
}

export interface ContainerRecord {
  readonly id: string
  readonly nodeName: string
  readonly sandboxId: string
  readonly pod: PodRef
  readonly config: ContainerConfig
  readonly labels: Readonly<Record<string, string>>
  readonly imageId: string
  readonly argv: readonly string[]
  readonly env: Readonly<Record<string, string>>
  readonly files: VirtualFiles
  readonly logs: LogBuffer
  readonly createdAtMs: number
  state: ContainerState
  startedAtMs: number | undefined
  finishedAtMs: number | undefined
  exitCode: number | undefined
  process: HollowProcess | undefined
  /** Ports the main process and its execs listen on. */
  readonly listeners: Map<number, ListenService>
  /** Processes started with exec, killed with the container. */
  readonly execs: Set<HollowProcess>
  readonly exitWaiters: (() => void)[]
  readonly stopTimers: Timer[]
  cpuNs: number
  cpuSampledAtMs: number
}

export interface HollowEngineOptions {
  readonly timers: Timers
  /** Seeds container ids; a seeded engine replays with identical ids. */
  readonly random?: Random
  /** Images present locally, by name (default: the two local images). */
  readonly images?: readonly (string | HollowImage)[]
  /** Where sandbox IPs come from (default 10.244.0.0/16). */
  readonly podCidr?: string
}

/** `busybox` → `busybox:latest`: the name Docker resolves a reference without tag to. */
export function normalizeImageName(name: string): string {
  if (name.startsWith('sha256:') || name.includes('@')) return name
  return name.lastIndexOf(':') > name.lastIndexOf('/') ? name : `${name}:latest`
}

export class HollowEngine {
  readonly timers: Timers
  private readonly random: Random
  private readonly ipAllocator: IpAllocator
  private readonly images = new Map<string, HollowImageRecord>()
  readonly sandboxes = new Map<string, SandboxRecord>()
  readonly containers = new Map<string, ContainerRecord>()

  constructor(options: HollowEngineOptions) {
    this.timers = options.timers
    this.random = options.random ?? new RandomXoshiro(1)
    this.ipAllocator = new IpAllocator(options.podCidr)
    for (const image of options.images ?? DEFAULT_HOLLOW_IMAGES) this.addImage(image)
  }

  /** Makes an image present (a simulated `docker build` or `load`). */
  addImage(image: string | HollowImage): void {
    const description = typeof image === 'string' ? { name: image } : image
    const name = normalizeImageName(description.name)
    const id = `sha256:${createHash('sha256').update(name).digest('hex')}`
    this.images.set(name, { id, image: { ...description, name } })
  }

  /** The image by name (with or without tag) or by id. */
  image(nameOrId: string): HollowImageRecord | undefined {
    const byName = this.images.get(normalizeImageName(nameOrId))
    if (byName !== undefined) return byName
    for (const record of this.images.values()) if (record.id === nameOrId) return record
    return undefined
  }

  imageList(): HollowImageRecord[] {
    return [...this.images.values()]
  }

  /** A Docker-style id: 64 hex digits from the engine's random source. */
  newId(): string {
    let id = ''
    while (id.length < 64) id += this.random.int(0, 0x1_0000).toString(16).padStart(4, '0')
    return id
  }

  nowMs(): number {
    return this.timers.realtimeMs()
  }

  // -------------------------------------------------------------------------------------------
  // Sandboxes

  createSandbox(nodeName: string, config: SandboxConfig, labels: Readonly<Record<string, string>>): SandboxRecord {
    const record: SandboxRecord = {
      id: this.newId(),
      nodeName,
      config,
      createdAtMs: this.nowMs(),
      labels,
      state: 'ready',
      ip: config.network === 'bridge' ? this.ipAllocator.allocate() : undefined,
    }
    this.sandboxes.set(record.id, record)
    return record
  }

  /** Kills the sandbox's containers and releases its address (a stopped pause container has none). */
  stopSandbox(record: SandboxRecord): void {
    for (const container of this.containersOf(record.id)) this.kill(container, EXIT_CODE_SIGKILL)
    if (record.ip !== undefined) this.ipAllocator.release(record.ip)
    record.ip = undefined
    record.state = 'notready'
  }

  removeSandbox(record: SandboxRecord): void {
    this.stopSandbox(record)
    for (const container of this.containersOf(record.id)) this.containers.delete(container.id)
    this.sandboxes.delete(record.id)
  }

  containersOf(sandboxId: string): ContainerRecord[] {
    return [...this.containers.values()].filter((container) => container.sandboxId === sandboxId)
  }

  // -------------------------------------------------------------------------------------------
  // Containers

  createContainer(nodeName: string, sandbox: SandboxRecord, config: ContainerConfig, labels: Readonly<Record<string, string>>, image: HollowImageRecord): ContainerRecord {
    // Kubernetes and Docker agree: `command` replaces the entrypoint and drops the image's cmd.
    const entrypoint = config.command ?? image.image.entrypoint ?? []
    const cmd = config.args ?? (config.command !== undefined ? [] : (image.image.cmd ?? []))
    const env: Record<string, string> = { ...image.image.env, HOSTNAME: sandbox.config.hostname, HOME: '/root' }
    for (const variable of config.env ?? []) env[variable.name] = variable.value
    const record: ContainerRecord = {
      id: this.newId(),
      nodeName,
      sandboxId: sandbox.id,
      pod: sandbox.config.pod,
      config,
      labels,
      imageId: image.id,
      argv: [...entrypoint, ...cmd],
      env,
      files: initialFiles(sandbox, config.workingDir),
      logs: new LogBuffer(),
      createdAtMs: this.nowMs(),
      state: 'created',
      startedAtMs: undefined,
      finishedAtMs: undefined,
      exitCode: undefined,
      process: undefined,
      listeners: new Map(),
      execs: new Set(),
      exitWaiters: [],
      stopTimers: [],
      cpuNs: 0,
      cpuSampledAtMs: 0,
    }
    this.containers.set(record.id, record)
    return record
  }

  startContainer(record: ContainerRecord): void {
    assert(record.state === 'created', `hollow container ${record.id} starts once, not in state ${record.state}`)
    const process = new HollowProcess(record.argv, this.processContext(record), { stdinOpen: record.config.stdin === true })
    record.process = process
    record.state = 'running'
    record.startedAtMs = this.nowMs()
    record.cpuSampledAtMs = record.startedAtMs
    process.onExit((code) => this.exited(record, code))
    process.start()
  }

  /**
   * Stops a running container: its PID 1 ignores SIGTERM (see the header), so it is killed once
   * `gracePeriodMs` has passed unless it exits by itself first. Resolves when it has exited.
   */
  stopContainer(record: ContainerRecord, gracePeriodMs: number): Promise<void> {
    if (record.state !== 'running') return Promise.resolve()
    const exited = this.exitOf(record)
    if (gracePeriodMs <= 0) this.kill(record, EXIT_CODE_SIGKILL)
    else record.stopTimers.push(this.timers.after(gracePeriodMs, () => this.kill(record, EXIT_CODE_SIGKILL)))
    return exited
  }

  /** Resolves once the container has exited (at once if it is not running). */
  exitOf(record: ContainerRecord): Promise<void> {
    if (record.state !== 'running') return Promise.resolve()
    return new Promise((resolve) => record.exitWaiters.push(resolve))
  }

  kill(record: ContainerRecord, code: number): void {
    if (record.state === 'running') record.process?.kill(code)
  }

  removeContainer(record: ContainerRecord): void {
    this.kill(record, EXIT_CODE_SIGKILL)
    this.containers.delete(record.id)
  }

  /** Starts a process inside a running container (exec), sharing its files and environment. */
  startExec(record: ContainerRecord, argv: readonly string[], io: { stdout(data: Buffer): void; stderr(data: Buffer): void; stdinOpen: boolean }): HollowProcess {
    assert(record.state === 'running', 'exec needs a running container')
    const process = new HollowProcess(argv, { ...this.processContext(record), stdout: io.stdout, stderr: io.stderr }, { stdinOpen: io.stdinOpen })
    record.execs.add(process)
    process.onExit(() => record.execs.delete(process))
    process.start()
    return process
  }

  /** Cumulative CPU of a running container: one core while busy, a trickle otherwise. */
  sampleCpu(record: ContainerRecord): number {
    const nowMs = this.nowMs()
    const rate = record.process?.busy === true || [...record.execs].some((process) => process.busy) ? BUSY_CPU_NS_PER_SECOND : IDLE_CPU_NS_PER_SECOND
    record.cpuNs += Math.max(0, nowMs - record.cpuSampledAtMs) * (rate / 1000)
    record.cpuSampledAtMs = nowMs
    return record.cpuNs
  }

  private processContext(record: ContainerRecord): ProcessContext {
    const sandbox = this.sandboxes.get(record.sandboxId)
    return {
      timers: this.timers,
      env: record.env,
      files: record.files,
      hostname: sandbox?.config.hostname ?? '',
      workingDir: VirtualFiles.resolve(record.config.workingDir ?? '/'),
      stdout: (data: Buffer) => record.logs.append('stdout', data, this.nowMs()),
      stderr: (data: Buffer) => record.logs.append('stderr', data, this.nowMs()),
      listen: (port: number, service: ListenService) => void record.listeners.set(port, service),
    }
  }

  private exited(record: ContainerRecord, code: number): void {
    this.sampleCpu(record)
    record.state = 'exited'
    record.exitCode = code
    record.finishedAtMs = this.nowMs()
    record.listeners.clear()
    record.logs.close(record.finishedAtMs)
    for (const timer of record.stopTimers.splice(0)) timer.cancel()
    for (const process of [...record.execs]) process.kill(EXIT_CODE_SIGKILL)
    for (const resolve of record.exitWaiters.splice(0)) resolve()
  }
}

/** The files Docker writes into every container: hostname, hosts, resolv.conf. */
function initialFiles(sandbox: SandboxRecord, workingDir: string | undefined): VirtualFiles {
  const files = new VirtualFiles()
  const { hostname, dns } = sandbox.config
  files.write('/etc/hostname', `${hostname}\n`, false)
  const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback']
  if (sandbox.ip !== undefined) hosts.push(`${sandbox.ip}\t${hostname}`)
  files.write('/etc/hosts', `${hosts.join('\n')}\n`, false)
  const resolv = dns === undefined
    ? ['nameserver 8.8.8.8']
    : [...dns.servers.map((server) => `nameserver ${server}`), ...(dns.searches.length > 0 ? [`search ${dns.searches.join(' ')}`] : []), ...(dns.options.length > 0 ? [`options ${dns.options.join(' ')}`] : [])]
  files.write('/etc/resolv.conf', `${resolv.join('\n')}\n`, false)
  if (workingDir !== undefined && workingDir !== '') files.makeDirectory(VirtualFiles.resolve(workingDir))
  return files
}
