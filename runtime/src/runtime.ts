/**
 * The container runtime interface: the narrow contract between the node agent and whatever runs
 * containers. Two implementations pass one compliance suite (tests/runtime/): Docker through
 * dockerode (`docker-runtime.ts`) and a hollow, in-memory runtime for simulation
 * (`hollow-runtime.ts`).
 *
 * The model is the CRI's, cut down to what the agent uses:
 *
 * - A *sandbox* holds a pod's network namespace (and hostname). On Docker it is a "pause"
 *   container that sleeps forever; the pod's containers join its namespaces
 *   (`--network container:<sandbox>`, same IPC), so they share one IP and `localhost`.
 * - A *container* belongs to exactly one sandbox and runs one image once: a restart is a new
 *   container with `attempt + 1`. Exited containers stay until the agent removes them, so their
 *   status and logs (`kubectl logs --previous`) remain readable.
 * - Everything a runtime creates carries labels that tie it to its node, pod uid and container
 *   name (`RUNTIME_LABELS`). Listing returns only what belongs to this runtime's node, which is
 *   how a restarted daemon adopts its running containers instead of restarting workloads, and how
 *   several daemons can share one engine without touching each other's containers.
 * - Images are never pulled: no registry is reachable. A missing image is `ImageNotPresentError`,
 *   which the agent reports as the waiting reason `ErrImageNeverPull`.
 *
 * All timestamps are wall-clock milliseconds since the epoch. Methods reject with the named errors
 * below (or `RuntimeError` for anything else); they never return partial results silently.
 */
import type { Duplex, Readable, Writable } from 'node:stream'

/** Labels every runtime object carries (values are strings, as Docker labels are). */
export const RUNTIME_LABELS = {
  /** The node (daemon) that owns the object; listings filter on it. */
  node: 'dev.flotilla.node',
  podUid: 'dev.flotilla.pod.uid',
  podName: 'dev.flotilla.pod.name',
  podNamespace: 'dev.flotilla.pod.namespace',
  /** "sandbox" or "container". */
  kind: 'dev.flotilla.kind',
  /** Containers only: the container's name in the pod spec. */
  containerName: 'dev.flotilla.container.name',
  /** Containers only: 0 for the first run, +1 for each restart. */
  attempt: 'dev.flotilla.container.attempt',
  /** Containers only: the sandbox the container joined. */
  sandboxId: 'dev.flotilla.sandbox.id',
  /** Containers only: a hash of the container's spec, so the agent can tell a changed spec. */
  specHash: 'dev.flotilla.container.spec-hash',
} as const

// ---------------------------------------------------------------------------------------------
// Errors

/** Any runtime failure that has no more specific class. */
export class RuntimeError extends Error {
  override name = 'RuntimeError'
}

/** The engine cannot be reached (socket missing, daemon down). */
export class RuntimeUnavailableError extends RuntimeError {
  override name = 'RuntimeUnavailableError'
}

/** The image is not present locally; it will not be pulled. */
export class ImageNotPresentError extends RuntimeError {
  override name = 'ImageNotPresentError'
  readonly image: string
  constructor(image: string) {
    super(`image "${image}" is not present on the node and images are never pulled`)
    this.image = image
  }
}

/** No sandbox or container with that id belongs to this runtime's node. */
export class NotFoundError extends RuntimeError {
  override name = 'RuntimeNotFoundError'
  readonly id: string
  constructor(what: 'sandbox' | 'container', id: string) {
    super(`${what} ${id} not found`)
    this.id = id
  }
}

/** The container exists but is not running (exec, stats, port-forward need a running one). */
export class NotRunningError extends RuntimeError {
  override name = 'RuntimeNotRunningError'
}

// ---------------------------------------------------------------------------------------------
// Sandboxes

export interface PodRef {
  readonly uid: string
  readonly name: string
  readonly namespace: string
}

export interface SandboxConfig {
  readonly pod: PodRef
  /** The pod's hostname (spec.hostname or the pod name). */
  readonly hostname: string
  /**
   * How the sandbox gets its network: `bridge` gives it an address on the engine's default
   * network (reachable from the host); `none` leaves only loopback, for a network plugin to
   * plumb through `SandboxStatus.netnsPath`; `host` shares the node's namespace (hostNetwork).
   */
  readonly network: 'bridge' | 'none' | 'host'
  /** Extra labels (the runtime adds RUNTIME_LABELS itself). */
  readonly labels?: Readonly<Record<string, string>>
  /** Contents for /etc/resolv.conf-style DNS, when the pod's dnsPolicy gives one. */
  readonly dns?: { readonly servers: readonly string[]; readonly searches: readonly string[]; readonly options: readonly string[] }
}

export type SandboxState = 'ready' | 'notready'

export interface SandboxStatus {
  readonly id: string
  readonly pod: PodRef
  readonly state: SandboxState
  readonly createdAtMs: number
  /** The pod IP, when the sandbox has one (bridge network, or after a plugin set it). */
  readonly ip?: string
  /** `/proc/<pid>/ns/net` of the sandbox while it runs (Docker); absent for hollow sandboxes. */
  readonly netnsPath?: string
  readonly labels: Readonly<Record<string, string>>
}

// ---------------------------------------------------------------------------------------------
// Containers

export interface Mount {
  readonly hostPath: string
  readonly containerPath: string
  readonly readOnly: boolean
}

export interface ContainerResources {
  /** CPU limit in millicores (Docker NanoCpus = millis × 10⁶). */
  readonly cpuLimitMillis?: number
  /** CPU request in millicores (Docker CpuShares = millis × 1024 / 1000, at least 2). */
  readonly cpuRequestMillis?: number
  readonly memoryLimitBytes?: number
}

export interface ContainerConfig {
  /** The container's name in the pod spec. */
  readonly name: string
  /** 0 for the first run of this container name in this pod, then +1 per restart. */
  readonly attempt: number
  readonly image: string
  /** Overrides the image's entrypoint (Kubernetes `command`). */
  readonly command?: readonly string[]
  /** Overrides the image's cmd (Kubernetes `args`). */
  readonly args?: readonly string[]
  readonly env?: readonly { readonly name: string; readonly value: string }[]
  readonly workingDir?: string
  readonly mounts?: readonly Mount[]
  readonly resources?: ContainerResources
  readonly tty?: boolean
  readonly stdin?: boolean
  readonly stdinOnce?: boolean
  readonly runAsUser?: number
  readonly privileged?: boolean
  /** Hash of the pod spec's container, stored as RUNTIME_LABELS.specHash. */
  readonly specHash?: string
  readonly labels?: Readonly<Record<string, string>>
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown'

export interface ContainerStatus {
  readonly id: string
  readonly sandboxId: string
  readonly pod: PodRef
  /** The container's name in the pod spec. */
  readonly name: string
  readonly attempt: number
  readonly image: string
  /** The image's content id (Docker: `sha256:…`); Kubernetes shows it as `imageID`. */
  readonly imageId: string
  readonly state: ContainerState
  readonly createdAtMs: number
  readonly startedAtMs?: number
  readonly finishedAtMs?: number
  /** Set once exited. */
  readonly exitCode?: number
  /** For exited containers: `OOMKilled`, `Completed` (exit 0) or `Error`. */
  readonly reason?: string
  readonly message?: string
  readonly specHash?: string
  readonly labels: Readonly<Record<string, string>>
}

// ---------------------------------------------------------------------------------------------
// Streams, exec, stats

export interface LogOptions {
  /** Keep the stream open and deliver new output until the container exits or the caller stops. */
  readonly follow?: boolean
  /** Only the last N lines. */
  readonly tailLines?: number
  /** Only lines at or after this time. */
  readonly sinceMs?: number
  /** Prefix each line with its RFC 3339 nano timestamp and a space, as `kubectl logs --timestamps`. */
  readonly timestamps?: boolean
  /** Stop after this many bytes. */
  readonly limitBytes?: number
}

export interface ExecOptions {
  readonly command: readonly string[]
  readonly stdin?: boolean
  readonly tty?: boolean
}

/**
 * A running exec. Streams follow Node conventions: `stdout`/`stderr` end when the process's
 * output ends; ending `stdin` closes the process's standard input. `exitCode` settles once the
 * process has exited (it never rejects: a failure to learn the exit code is reported as 126 with
 * a message on stderr, mirroring a shell's "cannot execute").
 */
export interface ExecSession {
  readonly stdin?: Writable
  readonly stdout: Readable
  /** Absent with a tty: a terminal merges both into stdout. */
  readonly stderr?: Readable
  resize(size: { readonly width: number; readonly height: number }): Promise<void>
  readonly exitCode: Promise<number>
  /** Tears the session down early (client went away). */
  close(): void
}

export interface ExecResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  /** True when the command did not finish within the timeout (exitCode is then -1). */
  readonly timedOut: boolean
}

export interface ContainerStats {
  readonly timestampMs: number
  /** Cumulative CPU time used, in nanoseconds; the agent derives rates from two samples. */
  readonly cpuUsageCoreNanoSeconds: number
  /** Memory in use minus inactive file cache, the figure the kubelet calls the working set. */
  readonly memoryWorkingSetBytes: number
}

export interface ImageInfo {
  readonly id: string
  readonly repoTags: readonly string[]
  readonly sizeBytes: number
}

export interface RuntimeVersion {
  readonly runtimeName: string
  readonly runtimeVersion: string
}

// ---------------------------------------------------------------------------------------------
// The interface

export interface ContainerRuntime {
  /** `docker` or `hollow`; shown as the scheme of container ids (`docker://…`). */
  readonly name: string
  /** The node this runtime's objects are labelled with and filtered by. */
  readonly nodeName: string

  version(): Promise<RuntimeVersion>

  listImages(): Promise<readonly ImageInfo[]>
  /** The image's status when present locally, else undefined. Never pulls. */
  imageStatus(image: string): Promise<ImageInfo | undefined>

  /** Creates and starts a sandbox; resolves once it is ready (has its IP for `bridge`). */
  runSandbox(config: SandboxConfig): Promise<SandboxStatus>
  /** Stops the sandbox and every container in it; idempotent. */
  stopSandbox(sandboxId: string): Promise<void>
  /** Removes the sandbox and its containers (stopping them first); idempotent. */
  removeSandbox(sandboxId: string): Promise<void>
  sandboxStatus(sandboxId: string): Promise<SandboxStatus>
  /** Every sandbox of this node, ready or not. */
  listSandboxes(): Promise<readonly SandboxStatus[]>

  /** Creates a container in a ready sandbox. Rejects with ImageNotPresentError for a missing image. */
  createContainer(sandboxId: string, config: ContainerConfig): Promise<string>
  startContainer(containerId: string): Promise<void>
  /**
   * Stops a container: SIGTERM (or the image's stop signal), then SIGKILL after `gracePeriodMs`.
   * Resolves once it has exited; idempotent on an exited container.
   */
  stopContainer(containerId: string, gracePeriodMs: number): Promise<void>
  /** Removes a container (killing it if it still runs); idempotent. */
  removeContainer(containerId: string): Promise<void>
  containerStatus(containerId: string): Promise<ContainerStatus>
  /** Every container of this node, or of one sandbox. */
  listContainers(filter?: { readonly sandboxId?: string; readonly podUid?: string }): Promise<readonly ContainerStatus[]>

  /** The container's output (stdout and stderr interleaved), as `kubectl logs` prints it. */
  logs(containerId: string, options: LogOptions): Promise<Readable>
  /** Starts a process in a running container. */
  exec(containerId: string, options: ExecOptions): Promise<ExecSession>
  /**
   * Attaches to the container's main process (`kubectl attach`): its output from now on, and its
   * stdin when the container was created with `stdin`. `exitCode` settles when the container exits.
   */
  attach(containerId: string, options: { readonly stdin: boolean; readonly tty: boolean }): Promise<ExecSession>
  /** Runs a command to completion (probes): output truncated to 10 KiB per stream. */
  execSync(containerId: string, command: readonly string[], timeoutMs: number): Promise<ExecResult>
  /** A TCP connection to `port` inside the sandbox's network namespace (port-forward). */
  portForward(sandboxId: string, port: number): Promise<Duplex>
  stats(containerId: string): Promise<ContainerStats>

  /** Releases connections; the runtime must not be used afterwards. Containers keep running. */
  close(): Promise<void>
}
