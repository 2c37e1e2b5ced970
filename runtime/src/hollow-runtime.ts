/**
 * The hollow runtime: the container runtime interface over a simulated engine (hollow/engine.ts),
 * for simulations and for agent tests on simulated time. It passes the same compliance suite as
 * the Docker runtime (tests/runtime/runtime-compliance.ts), except for what a simulation cannot
 * model: bind mounts and memory limits (a hollow container is never OOM-killed).
 *
 * Containers "run" their command through a small interpreter (hollow/process.ts): `sleep N`
 * exits 0 after N simulated seconds, `sh -c "exit 3"` exits 3, `echo` prints to the log, `httpd
 * -f -p 8080` serves its files to port-forward connections, and anything not modelled runs until
 * stopped. Exec understands the same commands (echo, cat, true/false, sh -c "exit N", env, test,
 * touch/rm for probe marker files). Stats are deterministic: CPU grows at one core for a busy
 * loop and at 0.1 % of a core otherwise; memory is a fixed 1 MiB.
 *
 * Everything happens on the injected timers, so under TimersSim a run replays exactly.
 */
import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream'

import { assert } from '../../lib/assert.ts'
import type { Random } from '../../lib/random.ts'
import type { Timers } from '../../lib/timers.ts'
import { collectExecResult } from './exec-result.ts'
import { HollowEngine, HOLLOW_MEMORY_WORKING_SET_BYTES, type ContainerRecord, type HollowImage, type SandboxRecord } from './hollow/engine.ts'
import { connectToService } from './hollow/port-responders.ts'
import type { HollowProcess } from './hollow/process.ts'
import { containerLabels, sandboxLabels } from './labels.ts'
import {
  ImageNotPresentError,
  NotFoundError,
  NotRunningError,
  RuntimeError,
  type ContainerConfig,
  type ContainerRuntime,
  type ContainerStats,
  type ContainerStatus,
  type ExecOptions,
  type ExecResult,
  type ExecSession,
  type ImageInfo,
  type LogOptions,
  type RuntimeVersion,
  type SandboxConfig,
  type SandboxStatus,
} from './runtime.ts'

export const HOLLOW_RUNTIME_NAME = 'hollow'
export const HOLLOW_RUNTIME_VERSION = '0.1'

export interface RuntimeHollowOptions {
  readonly nodeName: string
  /**
   * The simulated engine to use. Runtimes sharing one engine behave like daemons sharing one
   * Docker engine: each sees only its node's objects, and a second runtime for the same node
   * adopts the first one's containers. Without it, the runtime gets an engine of its own built
   * from `timers`, `random`, `images` and `podCidr`.
   */
  readonly engine?: HollowEngine
  readonly timers?: Timers
  readonly random?: Random
  /** Images present on the node (default: `flotilla/busybox:local` and `flotilla/pause:local`). */
  readonly images?: readonly (string | HollowImage)[]
  /** The range sandbox IPs come from (default 10.244.0.0/16). */
  readonly podCidr?: string
}

export class RuntimeHollow implements ContainerRuntime {
  readonly name = HOLLOW_RUNTIME_NAME
  readonly nodeName: string
  readonly engine: HollowEngine

  constructor(options: RuntimeHollowOptions) {
    this.nodeName = options.nodeName
    if (options.engine !== undefined) this.engine = options.engine
    else {
      assert(options.timers !== undefined, 'a hollow runtime without an engine needs timers')
      this.engine = new HollowEngine({
        timers: options.timers,
        ...(options.random === undefined ? {} : { random: options.random }),
        ...(options.images === undefined ? {} : { images: options.images }),
        ...(options.podCidr === undefined ? {} : { podCidr: options.podCidr }),
      })
    }
  }

  async version(): Promise<RuntimeVersion> {
    return { runtimeName: HOLLOW_RUNTIME_NAME, runtimeVersion: HOLLOW_RUNTIME_VERSION }
  }

  async listImages(): Promise<readonly ImageInfo[]> {
    return this.engine.imageList().map((record) => imageInfoOf(record.id, record.image))
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    const record = this.engine.image(image)
    return record === undefined ? undefined : imageInfoOf(record.id, record.image)
  }

  // -------------------------------------------------------------------------------------------
  // Sandboxes

  async runSandbox(config: SandboxConfig): Promise<SandboxStatus> {
    const record = this.engine.createSandbox(this.nodeName, config, sandboxLabels(this.nodeName, config))
    return sandboxStatusOf(record)
  }

  async stopSandbox(sandboxId: string): Promise<void> {
    const record = this.ownedSandbox(sandboxId, false)
    if (record !== undefined) this.engine.stopSandbox(record)
  }

  async removeSandbox(sandboxId: string): Promise<void> {
    const record = this.ownedSandbox(sandboxId, false)
    if (record !== undefined) this.engine.removeSandbox(record)
  }

  async sandboxStatus(sandboxId: string): Promise<SandboxStatus> {
    return sandboxStatusOf(this.ownedSandbox(sandboxId, true))
  }

  async listSandboxes(): Promise<readonly SandboxStatus[]> {
    return [...this.engine.sandboxes.values()].filter((record) => record.nodeName === this.nodeName).map(sandboxStatusOf)
  }

  // -------------------------------------------------------------------------------------------
  // Containers

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const sandbox = this.ownedSandbox(sandboxId, true)
    if (sandbox.state !== 'ready') throw new NotRunningError(`Cannot create container "${config.name}": sandbox ${sandboxId} is not ready`)
    const image = this.engine.image(config.image)
    if (image === undefined) throw new ImageNotPresentError(config.image)
    const labels = containerLabels(this.nodeName, sandbox.config.pod, sandboxId, config)
    return this.engine.createContainer(this.nodeName, sandbox, config, labels, image).id
  }

  async startContainer(containerId: string): Promise<void> {
    const record = this.ownedContainer(containerId, true)
    if (record.state === 'running') return
    if (record.state !== 'created') throw new RuntimeError(`Cannot start container ${containerId}: it already ran (state ${record.state})`)
    const sandbox = this.engine.sandboxes.get(record.sandboxId)
    if (sandbox?.state !== 'ready') throw new RuntimeError(`Cannot start container ${containerId}: its sandbox ${record.sandboxId} is not running`)
    this.engine.startContainer(record)
  }

  async stopContainer(containerId: string, gracePeriodMs: number): Promise<void> {
    await this.engine.stopContainer(this.ownedContainer(containerId, true), gracePeriodMs)
  }

  async removeContainer(containerId: string): Promise<void> {
    const record = this.ownedContainer(containerId, false)
    if (record !== undefined) this.engine.removeContainer(record)
  }

  async containerStatus(containerId: string): Promise<ContainerStatus> {
    return containerStatusOf(this.ownedContainer(containerId, true))
  }

  async listContainers(filter: { readonly sandboxId?: string; readonly podUid?: string } = {}): Promise<readonly ContainerStatus[]> {
    return [...this.engine.containers.values()]
      .filter((record) => record.nodeName === this.nodeName)
      .filter((record) => filter.sandboxId === undefined || record.sandboxId === filter.sandboxId)
      .filter((record) => filter.podUid === undefined || record.pod.uid === filter.podUid)
      .map(containerStatusOf)
  }

  // -------------------------------------------------------------------------------------------
  // Streams

  async logs(containerId: string, options: LogOptions): Promise<Readable> {
    return this.ownedContainer(containerId, true).logs.read(options)
  }

  async exec(containerId: string, options: ExecOptions): Promise<ExecSession> {
    const record = this.runningContainer(containerId, 'exec in')
    const tty = options.tty === true
    const stdout = new PassThrough()
    const stderr = tty ? stdout : new PassThrough()
    const process = this.engine.startExec(record, options.command, {
      stdout: (data) => stdout.write(data),
      stderr: (data) => stderr.write(data),
      stdinOpen: options.stdin === true,
    })
    const exitCode = new Promise<number>((resolve) => process.onExit(resolve))
    void exitCode.then(() => {
      stdout.end()
      if (!tty) stderr.end()
    })
    const session: { -readonly [K in keyof ExecSession]: ExecSession[K] } = {
      stdout,
      resize: async () => undefined,
      exitCode,
      close: () => process.kill(EXIT_CODE_CLOSED),
    }
    if (!tty) session.stderr = stderr
    if (options.stdin === true) session.stdin = processStdin(process)
    return session
  }

  async attach(containerId: string, options: { readonly stdin: boolean; readonly tty: boolean }): Promise<ExecSession> {
    const record = this.runningContainer(containerId, 'attach to')
    const tty = record.config.tty === true
    const stdout = new PassThrough()
    const stderr = tty ? stdout : new PassThrough()
    const endStreams = (): void => {
      stdout.end()
      if (!tty) stderr.end()
    }
    const unsubscribe = record.logs.subscribe((stream, data) => (stream === 'stderr' ? stderr : stdout).write(data))
    const exited = this.engine.exitOf(record).then(() => record.exitCode ?? EXIT_CODE_CLOSED)
    void exited.then(endStreams)
    const session: { -readonly [K in keyof ExecSession]: ExecSession[K] } = {
      stdout,
      resize: async () => undefined,
      exitCode: exited,
      close: () => {
        unsubscribe()
        endStreams()
      },
    }
    if (!tty) session.stderr = stderr
    const main = record.process
    if (options.stdin && record.config.stdin === true && main !== undefined) session.stdin = processStdin(main)
    return session
  }

  async execSync(containerId: string, command: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const session = await this.exec(containerId, { command })
    return collectExecResult(session, timeoutMs, this.engine.timers)
  }

  async portForward(sandboxId: string, port: number): Promise<Duplex> {
    const sandbox = this.ownedSandbox(sandboxId, true)
    if (sandbox.state !== 'ready') throw new NotRunningError(`Cannot forward port ${port}: sandbox ${sandboxId} is not running`)
    if (sandbox.config.network === 'none') {
      // As on Docker: a sandbox without a network is not reachable from the host (see docker-runtime.ts).
      throw new RuntimeError(`Cannot forward port ${port}: sandbox ${sandboxId} has network "none", which is not reachable from the host`)
    }
    for (const container of this.engine.containersOf(sandboxId)) {
      const service = container.state === 'running' ? container.listeners.get(port) : undefined
      if (service !== undefined) return connectToService(service, container.files)
    }
    throw new RuntimeError(`Cannot forward port ${port} of sandbox ${sandboxId} (${sandbox.ip ?? 'no address'}): connect ECONNREFUSED`)
  }

  async stats(containerId: string): Promise<ContainerStats> {
    const record = this.runningContainer(containerId, 'read stats of')
    return {
      timestampMs: this.engine.nowMs(),
      cpuUsageCoreNanoSeconds: Math.round(this.engine.sampleCpu(record)),
      memoryWorkingSetBytes: HOLLOW_MEMORY_WORKING_SET_BYTES,
    }
  }

  async close(): Promise<void> {
    // Nothing to release: the engine (and its containers) outlive the runtime, as Docker's do.
  }

  // -------------------------------------------------------------------------------------------
  // Lookups: objects of other nodes do not exist for this runtime.

  private ownedSandbox(sandboxId: string, required: true): SandboxRecord
  private ownedSandbox(sandboxId: string, required: false): SandboxRecord | undefined
  private ownedSandbox(sandboxId: string, required: boolean): SandboxRecord | undefined {
    const record = this.engine.sandboxes.get(sandboxId)
    if (record !== undefined && record.nodeName === this.nodeName) return record
    if (required) throw new NotFoundError('sandbox', sandboxId)
    return undefined
  }

  private ownedContainer(containerId: string, required: true): ContainerRecord
  private ownedContainer(containerId: string, required: false): ContainerRecord | undefined
  private ownedContainer(containerId: string, required: boolean): ContainerRecord | undefined {
    const record = this.engine.containers.get(containerId)
    if (record !== undefined && record.nodeName === this.nodeName) return record
    if (required) throw new NotFoundError('container', containerId)
    return undefined
  }

  private runningContainer(containerId: string, action: string): ContainerRecord {
    const record = this.ownedContainer(containerId, true)
    if (record.state !== 'running') throw new NotRunningError(`Cannot ${action} container ${containerId}: it is not running (state ${record.state})`)
    return record
  }
}

/** The exit code an exec reports when its session is closed before it ended (killed). */
const EXIT_CODE_CLOSED = 137

/** A Writable feeding a simulated process's stdin; ending it is EOF. */
function processStdin(process: HollowProcess): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      process.writeStdin(chunk)
      callback()
    },
    final(callback) {
      process.endStdin()
      callback()
    },
  })
}

function imageInfoOf(id: string, image: HollowImage): ImageInfo {
  return { id, repoTags: [image.name], sizeBytes: image.sizeBytes ?? 0 }
}

function sandboxStatusOf(record: SandboxRecord): SandboxStatus {
  const status: { -readonly [K in keyof SandboxStatus]: SandboxStatus[K] } = {
    id: record.id,
    pod: record.config.pod,
    state: record.state,
    createdAtMs: record.createdAtMs,
    labels: record.labels,
  }
  if (record.ip !== undefined) status.ip = record.ip
  return status
}

function containerStatusOf(record: ContainerRecord): ContainerStatus {
  const status: { -readonly [K in keyof ContainerStatus]: ContainerStatus[K] } = {
    id: record.id,
    sandboxId: record.sandboxId,
    pod: record.pod,
    name: record.config.name,
    attempt: record.config.attempt,
    image: record.config.image,
    imageId: record.imageId,
    state: record.state,
    createdAtMs: record.createdAtMs,
    labels: record.labels,
  }
  if (record.startedAtMs !== undefined) status.startedAtMs = record.startedAtMs
  if (record.config.specHash !== undefined) status.specHash = record.config.specHash
  if (record.state === 'exited' && record.exitCode !== undefined) {
    status.exitCode = record.exitCode
    status.reason = record.exitCode === 0 ? 'Completed' : 'Error'
    if (record.finishedAtMs !== undefined) status.finishedAtMs = record.finishedAtMs
  }
  return status
}
