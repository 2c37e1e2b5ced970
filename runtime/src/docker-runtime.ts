/**
 * The container runtime on a local Docker engine, through dockerode.
 *
 * A sandbox is a pause container (`flotilla/pause:local`, see local-images.ts) that owns the pod's
 * network namespace; the pod's containers join it (`container:<sandbox>` network and IPC modes).
 * Every object carries RUNTIME_LABELS and every listing filters on this runtime's node label, so
 * daemons that share an engine never see each other's objects, and a restarted daemon finds (and
 * adopts) its own. Images are never pulled.
 *
 * Inspect documents of listed objects are cached by id and state: an object's status only changes
 * together with its state (a running container's status is fixed until it exits), so a relist
 * every second costs one `docker ps` plus an inspect per object that changed.
 */
import { connect, type Socket } from 'node:net'
import { Readable, type Duplex } from 'node:stream'

import Docker from 'dockerode'

import { TimersOs, type Timers } from '../../lib/timers.ts'
import { dockerCall, dockerMessage, dockerStatusCode, runtimeErrorFrom } from './docker/errors.ts'
import { hijackedSession, EXIT_CODE_UNKNOWN } from './docker/exec-session.ts'
import { dockerLogStream } from './docker/log-stream.ts'
import { SANDBOX_NAME_PART, dockerObjectName, labelFilter, ownedBy } from './docker/names.ts'
import { containerLabels, sandboxLabels } from './labels.ts'
import { containerCreateOptions, sandboxCreateOptions } from './docker/specs.ts'
import { containerStatsFrom, type DockerStatsDocument } from './docker/stats.ts'
import { containerStatusFrom, sandboxNetworkOf, sandboxStatusFrom } from './docker/status.ts'
import { collectExecResult } from './exec-result.ts'
import { PAUSE_IMAGE } from './local-images.ts'
import {
  ImageNotPresentError,
  NotFoundError,
  NotRunningError,
  RUNTIME_LABELS,
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

export const DOCKER_SOCKET_PATH = '/var/run/docker.sock'

export interface RuntimeDockerOptions {
  /** The node whose objects this runtime creates, lists and touches. */
  readonly nodeName: string
  /** An engine client; defaults to one on `socketPath`. */
  readonly docker?: Docker
  readonly socketPath?: string
  /** The image that holds sandboxes (default `flotilla/pause:local`). */
  readonly sandboxImage?: string
  /** How long `runSandbox` waits for a bridge sandbox's address (default 10 s). */
  readonly sandboxAddressTimeoutMs?: number
}

/** Docker name suffixes tried before giving up on a name conflict (see createUniquelyNamed). */
const NAME_SUFFIXES_MAX = 20
/** How often and how long to poll an exec's exit code after its output ended. */
const EXEC_EXIT_POLL_MS = 10
const EXEC_EXIT_WAIT_MS = 5_000
const SANDBOX_ADDRESS_POLL_MS = 20

type Subject = { readonly what: 'sandbox' | 'container'; readonly id: string }

interface CachedInspect<T> {
  /** The `docker ps` state the status was computed for. */
  readonly state: string
  readonly status: T
}

export class RuntimeDocker implements ContainerRuntime {
  readonly name = 'docker'
  readonly nodeName: string
  private readonly docker: Docker
  private readonly sandboxImage: string
  private readonly sandboxAddressTimeoutMs: number
  /** Real time: the engine runs in it. Only used for execSync's deadline. */
  private readonly timers: Timers = new TimersOs()
  private readonly sandboxCache = new Map<string, CachedInspect<SandboxStatus>>()
  private readonly containerCache = new Map<string, CachedInspect<ContainerStatus>>()

  constructor(options: RuntimeDockerOptions) {
    this.nodeName = options.nodeName
    this.docker = options.docker ?? new Docker({ socketPath: options.socketPath ?? DOCKER_SOCKET_PATH })
    this.sandboxImage = options.sandboxImage ?? PAUSE_IMAGE
    this.sandboxAddressTimeoutMs = options.sandboxAddressTimeoutMs ?? 10_000
  }

  async version(): Promise<RuntimeVersion> {
    const version = await dockerCall('read the Docker version', () => this.docker.version())
    return { runtimeName: 'docker', runtimeVersion: version.Version }
  }

  async listImages(): Promise<readonly ImageInfo[]> {
    const images = await dockerCall('list images', () => this.docker.listImages())
    return images.map((image) => ({
      id: image.Id,
      repoTags: (image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>'),
      sizeBytes: image.Size,
    }))
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    try {
      const inspect = await this.docker.getImage(image).inspect()
      return { id: inspect.Id, repoTags: inspect.RepoTags ?? [], sizeBytes: inspect.Size }
    } catch (error) {
      if (dockerStatusCode(error) === 404) return undefined
      throw runtimeErrorFrom(error, `inspect image ${image}`)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sandboxes

  async runSandbox(config: SandboxConfig): Promise<SandboxStatus> {
    await this.requireImage(this.sandboxImage)
    const labels = sandboxLabels(this.nodeName, config)
    const container = await this.createUniquelyNamed(`create the sandbox of pod ${config.pod.namespace}/${config.pod.name}`, (suffix) =>
      sandboxCreateOptions({ name: dockerObjectName(this.nodeName, config.pod, SANDBOX_NAME_PART, 0, suffix), image: this.sandboxImage, labels, config }),
    )
    try {
      await dockerCall(`start sandbox ${container.id}`, () => container.start())
      return await this.waitForSandboxAddress(container.id, config.network === 'bridge')
    } catch (error) {
      // A sandbox that did not come up is useless to the caller, who only gets an error: remove it.
      await container.remove({ force: true }).catch(() => undefined)
      throw error
    }
  }

  private async waitForSandboxAddress(sandboxId: string, needsAddress: boolean): Promise<SandboxStatus> {
    const deadlineMs = Date.now() + this.sandboxAddressTimeoutMs
    for (;;) {
      const status = sandboxStatusFrom(await this.inspectOwned({ what: 'sandbox', id: sandboxId }))
      if (status.state !== 'ready') throw new RuntimeError(`Sandbox ${sandboxId} stopped right after it started`)
      if (!needsAddress || status.ip !== undefined) return status
      if (Date.now() > deadlineMs) throw new RuntimeError(`Sandbox ${sandboxId} got no address on the bridge network within ${this.sandboxAddressTimeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, SANDBOX_ADDRESS_POLL_MS))
    }
  }

  async stopSandbox(sandboxId: string): Promise<void> {
    if (!(await this.ownsObject({ what: 'sandbox', id: sandboxId }))) return
    // The agent stops containers gracefully before it stops their sandbox; what is left is killed.
    for (const summary of await this.summaries('container', { [RUNTIME_LABELS.sandboxId]: sandboxId })) {
      if (summary.State === 'running') await this.stopQuietly(summary.Id, { what: 'container', id: summary.Id })
    }
    await this.stopQuietly(sandboxId, { what: 'sandbox', id: sandboxId })
  }

  async removeSandbox(sandboxId: string): Promise<void> {
    if (!(await this.ownsObject({ what: 'sandbox', id: sandboxId }))) return
    for (const summary of await this.summaries('container', { [RUNTIME_LABELS.sandboxId]: sandboxId })) {
      await this.removeQuietly(summary.Id, 'container')
    }
    await this.removeQuietly(sandboxId, 'sandbox')
  }

  async sandboxStatus(sandboxId: string): Promise<SandboxStatus> {
    return sandboxStatusFrom(await this.inspectOwned({ what: 'sandbox', id: sandboxId }))
  }

  async listSandboxes(): Promise<readonly SandboxStatus[]> {
    return this.listCached('sandbox', {}, this.sandboxCache, sandboxStatusFrom)
  }

  // -------------------------------------------------------------------------------------------
  // Containers

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const sandbox = sandboxStatusFrom(await this.inspectOwned({ what: 'sandbox', id: sandboxId }))
    if (sandbox.state !== 'ready') throw new NotRunningError(`Cannot create container "${config.name}": sandbox ${sandboxId} is not ready`)
    await this.requireImage(config.image)
    const labels = containerLabels(this.nodeName, sandbox.pod, sandboxId, config)
    const container = await this.createUniquelyNamed(`create container "${config.name}" of pod ${sandbox.pod.namespace}/${sandbox.pod.name}`, (suffix) =>
      containerCreateOptions({ name: dockerObjectName(this.nodeName, sandbox.pod, config.name, config.attempt, suffix), sandboxId, labels, config }),
    )
    return container.id
  }

  async startContainer(containerId: string): Promise<void> {
    const subject: Subject = { what: 'container', id: containerId }
    await this.inspectOwned(subject)
    try {
      await this.docker.getContainer(containerId).start()
    } catch (error) {
      if (dockerStatusCode(error) === 304) return // already running
      throw runtimeErrorFrom(error, `start container ${containerId}`, subject)
    }
  }

  async stopContainer(containerId: string, gracePeriodMs: number): Promise<void> {
    const subject: Subject = { what: 'container', id: containerId }
    const inspect = await this.inspectOwned(subject)
    if (!inspect.State.Running) return
    await this.stopQuietly(containerId, subject, gracePeriodMs)
  }

  async removeContainer(containerId: string): Promise<void> {
    if (!(await this.ownsObject({ what: 'container', id: containerId }))) return
    await this.removeQuietly(containerId, 'container')
  }

  async containerStatus(containerId: string): Promise<ContainerStatus> {
    return containerStatusFrom(await this.inspectOwned({ what: 'container', id: containerId }))
  }

  async listContainers(filter: { readonly sandboxId?: string; readonly podUid?: string } = {}): Promise<readonly ContainerStatus[]> {
    const narrowing = { [RUNTIME_LABELS.sandboxId]: filter.sandboxId, [RUNTIME_LABELS.podUid]: filter.podUid }
    return this.listCached('container', narrowing, this.containerCache, containerStatusFrom)
  }

  // -------------------------------------------------------------------------------------------
  // Streams

  async logs(containerId: string, options: LogOptions): Promise<Readable> {
    const subject: Subject = { what: 'container', id: containerId }
    const inspect = await this.inspectOwned(subject)
    const container = this.docker.getContainer(containerId)
    const request = {
      stdout: true,
      stderr: true,
      // Always: the runtime filters `sinceMs` exactly by them and strips them unless asked for.
      timestamps: true,
      ...(options.tailLines === undefined ? {} : { tail: Math.max(0, Math.floor(options.tailLines)) }),
      since: options.sinceMs === undefined ? 0 : Math.max(0, Math.floor(options.sinceMs / 1000)),
    }
    const source: NodeJS.ReadableStream = options.follow === true
      ? await dockerCall(`read the logs of container ${containerId}`, () => container.logs({ ...request, follow: true }), subject)
      : Readable.from([await dockerCall(`read the logs of container ${containerId}`, () => container.logs({ ...request, follow: false }), subject)])
    const streamOptions = { tty: inspect.Config.Tty, timestamps: options.timestamps === true }
    return dockerLogStream(source, {
      ...streamOptions,
      ...(options.sinceMs === undefined ? {} : { sinceMs: options.sinceMs }),
      ...(options.limitBytes === undefined ? {} : { limitBytes: options.limitBytes }),
    })
  }

  async exec(containerId: string, options: ExecOptions): Promise<ExecSession> {
    const subject: Subject = { what: 'container', id: containerId }
    await this.requireRunning(subject, 'exec in')
    const stdin = options.stdin === true
    const tty = options.tty === true
    const container = this.docker.getContainer(containerId)
    const exec = await dockerCall(`exec in container ${containerId}`, () =>
      container.exec({ Cmd: [...options.command], AttachStdin: stdin, AttachStdout: true, AttachStderr: true, Tty: tty }), subject)
    const socket = await dockerCall(`start an exec in container ${containerId}`, () => exec.start({ hijack: true, stdin, Tty: tty }), subject)
    return hijackedSession({
      socket,
      tty,
      stdin,
      exitCode: () => execExitCode(exec),
      resize: (size) => dockerCall('resize the exec terminal', () => exec.resize({ h: size.height, w: size.width })).then(() => undefined),
    })
  }

  async attach(containerId: string, options: { readonly stdin: boolean; readonly tty: boolean }): Promise<ExecSession> {
    const subject: Subject = { what: 'container', id: containerId }
    const inspect = await this.requireRunning(subject, 'attach to')
    // The stream's framing follows the container's own tty setting, whatever the client asked.
    const tty = inspect.Config.Tty
    const stdin = options.stdin && inspect.Config.OpenStdin
    const container = this.docker.getContainer(containerId)
    const socket = (await dockerCall(`attach to container ${containerId}`, () =>
      container.attach({ stream: true, stdin, stdout: true, stderr: true, hijack: true }), subject)) as unknown as Duplex
    return hijackedSession({
      socket,
      tty,
      stdin,
      exitCode: async () => {
        const result = (await container.wait()) as { StatusCode?: number }
        return typeof result.StatusCode === 'number' ? result.StatusCode : EXIT_CODE_UNKNOWN
      },
      resize: (size) => dockerCall('resize the container terminal', () => container.resize({ h: size.height, w: size.width })).then(() => undefined),
    })
  }

  async execSync(containerId: string, command: readonly string[], timeoutMs: number): Promise<ExecResult> {
    // Docker has no way to kill an exec'd process: on timeout only our connection is closed and
    // the process runs on until it ends by itself (the kubelet with dockershim had the same gap).
    const session = await this.exec(containerId, { command })
    return collectExecResult(session, timeoutMs, this.timers)
  }

  async portForward(sandboxId: string, port: number): Promise<Duplex> {
    const subject: Subject = { what: 'sandbox', id: sandboxId }
    const inspect = await this.inspectOwned(subject)
    const status = sandboxStatusFrom(inspect)
    if (status.state !== 'ready') throw new NotRunningError(`Cannot forward port ${port}: sandbox ${sandboxId} is not running`)
    const network = sandboxNetworkOf(inspect)
    let host: string
    if (network === 'host') host = '127.0.0.1'
    else if (status.ip !== undefined) host = status.ip
    else {
      // A `none` sandbox is only reachable from inside its network namespace, which needs netns
      // plumbing (entering /proc/<pid>/ns/net) that the pod network work adds later.
      throw new RuntimeError(`Cannot forward port ${port}: sandbox ${sandboxId} has network "${network}", which is not reachable from the host`)
    }
    return connectTcp(host, port, sandboxId)
  }

  async stats(containerId: string): Promise<ContainerStats> {
    const subject: Subject = { what: 'container', id: containerId }
    await this.requireRunning(subject, 'read stats of')
    const container = this.docker.getContainer(containerId)
    let document: DockerStatsDocument
    try {
      document = (await container.stats({ stream: false, 'one-shot': true })) as DockerStatsDocument
    } catch (error) {
      const statusCode = dockerStatusCode(error)
      if (statusCode === undefined || statusCode === 404 || statusCode === 409) throw runtimeErrorFrom(error, `read stats of container ${containerId}`, subject)
      // Engines before API 1.41 reject one-shot: take one sample of the regular stream instead.
      document = (await dockerCall(`read stats of container ${containerId}`, () => container.stats({ stream: false }), subject)) as DockerStatsDocument
    }
    return containerStatsFrom(document, Date.now())
  }

  async close(): Promise<void> {
    // dockerode opens a connection per request; nothing stays open between calls.
    this.sandboxCache.clear()
    this.containerCache.clear()
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  /** Rejects with ImageNotPresentError unless the image is present (it is never pulled). */
  private async requireImage(image: string): Promise<void> {
    if ((await this.imageStatus(image)) === undefined) throw new ImageNotPresentError(image)
  }

  /**
   * Creates a container named by `optionsFor(suffix)`, trying the next suffix when the name is
   * taken (a pod's new sandbox while the old one exists, an attempt created twice).
   */
  private async createUniquelyNamed(action: string, optionsFor: (suffix: number) => Docker.ContainerCreateOptions): Promise<Docker.Container> {
    for (let suffix = 0; ; suffix++) {
      const options = optionsFor(suffix)
      try {
        return await this.docker.createContainer(options)
      } catch (error) {
        const statusCode = dockerStatusCode(error)
        if (statusCode === 409 && suffix < NAME_SUFFIXES_MAX) continue
        if (statusCode === 404 && /no such image/i.test(dockerMessage(error))) throw new ImageNotPresentError(options.Image ?? '')
        throw runtimeErrorFrom(error, action)
      }
    }
  }

  /** The inspect document of an object of this node, else NotFoundError. */
  private async inspectOwned(subject: Subject): Promise<Docker.ContainerInspectInfo> {
    const inspect = await dockerCall(`inspect ${subject.what} ${subject.id}`, () => this.docker.getContainer(subject.id).inspect(), subject)
    if (!ownedBy(inspect.Config.Labels, this.nodeName, subject.what)) throw new NotFoundError(subject.what, subject.id)
    return inspect
  }

  private async ownsObject(subject: Subject): Promise<boolean> {
    try {
      await this.inspectOwned(subject)
      return true
    } catch (error) {
      if (error instanceof NotFoundError) return false
      throw error
    }
  }

  private async requireRunning(subject: Subject, action: string): Promise<Docker.ContainerInspectInfo> {
    const inspect = await this.inspectOwned(subject)
    if (!inspect.State.Running) throw new NotRunningError(`Cannot ${action} container ${subject.id}: it is not running (state ${inspect.State.Status})`)
    return inspect
  }

  /** Stops an object; one that is already stopped or gone counts as stopped. */
  private async stopQuietly(id: string, subject: Subject, gracePeriodMs = 0): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(gracePeriodMs / 1000)) })
    } catch (error) {
      const statusCode = dockerStatusCode(error)
      if (statusCode === 304 || statusCode === 404) return
      throw runtimeErrorFrom(error, `stop ${subject.what} ${id}`, subject)
    }
  }

  /** Removes an object, killing it if it runs; one that is gone or being removed counts as removed. */
  private async removeQuietly(id: string, what: 'sandbox' | 'container'): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true })
    } catch (error) {
      const statusCode = dockerStatusCode(error)
      if (statusCode === 404) return
      if (statusCode === 409 && /already in progress/.test(dockerMessage(error))) return
      throw runtimeErrorFrom(error, `remove ${what} ${id}`, { what, id })
    }
    this.sandboxCache.delete(id)
    this.containerCache.delete(id)
  }

  private async summaries(kind: 'sandbox' | 'container', narrowing: Readonly<Record<string, string | undefined>>): Promise<Docker.ContainerInfo[]> {
    return dockerCall(`list ${kind === 'sandbox' ? 'sandboxes' : 'containers'}`, () =>
      this.docker.listContainers({ all: true, filters: labelFilter(this.nodeName, kind, narrowing) }))
  }

  /** Lists objects of one kind, inspecting only those whose state changed since the last listing. */
  private async listCached<T>(
    kind: 'sandbox' | 'container',
    narrowing: Readonly<Record<string, string | undefined>>,
    cache: Map<string, CachedInspect<T>>,
    statusFrom: (inspect: Docker.ContainerInspectInfo) => T,
  ): Promise<T[]> {
    const summaries = await this.summaries(kind, narrowing)
    const statuses: T[] = []
    for (const summary of summaries) {
      const cached = cache.get(summary.Id)
      if (cached !== undefined && cached.state === summary.State) {
        statuses.push(cached.status)
        continue
      }
      try {
        const inspect = await this.docker.getContainer(summary.Id).inspect()
        const status = statusFrom(inspect)
        cache.set(summary.Id, { state: summary.State, status })
        statuses.push(status)
      } catch (error) {
        // Removed between the listing and the inspect: it is simply not there any more.
        if (dockerStatusCode(error) !== 404) throw runtimeErrorFrom(error, `inspect ${kind} ${summary.Id}`)
      }
    }
    // Only a full listing knows which cached objects are gone.
    if (Object.values(narrowing).every((value) => value === undefined)) {
      const present = new Set(summaries.map((summary) => summary.Id))
      for (const id of cache.keys()) if (!present.has(id)) cache.delete(id)
    }
    return statuses
  }
}

/** An exec's exit code: its output ends slightly before the engine records the exit. */
async function execExitCode(exec: Docker.Exec): Promise<number> {
  const deadlineMs = Date.now() + EXEC_EXIT_WAIT_MS
  for (;;) {
    const inspect = await exec.inspect()
    if (!inspect.Running && inspect.ExitCode !== null) return inspect.ExitCode
    if (Date.now() > deadlineMs) return EXIT_CODE_UNKNOWN
    await new Promise((resolve) => setTimeout(resolve, EXEC_EXIT_POLL_MS))
  }
}

/** A connected TCP socket, or a RuntimeError naming what refused. */
function connectTcp(host: string, port: number, sandboxId: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    const onError = (error: Error): void => {
      socket.destroy()
      reject(new RuntimeError(`Cannot forward port ${port} of sandbox ${sandboxId} (${host}): ${error.message}`, { cause: error }))
    }
    socket.once('error', onError)
    socket.once('connect', () => {
      socket.off('error', onError)
      resolve(socket)
    })
  })
}

