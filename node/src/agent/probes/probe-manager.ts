/**
 * The agent's probe manager: runs the liveness, readiness and startup probes of the running
 * containers of the pods on this node, and tells the agent when a container's readiness,
 * startedness or liveness flips.
 *
 * Each probed container instance has a worker holding its pure state (probe-state.ts) and at most
 * one timer, set for the next probe that falls due. When probes fall due the worker starts them
 * (exec, httpGet or tcpSocket through prober.ts), feeds each outcome back into the state machine
 * and calls `onChange(podUid)` when what the agent acts on changed. A new container id gets a new
 * worker, so results never leak from one instance of a container to the next, and a result that
 * arrives for a worker that was replaced or removed is dropped.
 *
 * Time is the injected Timers' wall clock (container start times are wall-clock), so simulations
 * drive probing with TimersSim. Probe timeouts are I/O deadlines and run on the process's timers.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../api/machinery/canonical.ts'
import type { Timer, Timers } from '../../../../lib/timers.ts'
import type { ContainerRuntime } from '../../../../runtime/src/runtime.ts'
import {
  containerProbeView,
  dueProbes,
  newContainerProbeState,
  nextDueMs,
  podTerminating,
  PROBE_FIELDS,
  PROBE_KINDS,
  probeFinished,
  probeStarted,
  probeTimingOf,
  viewChanged,
  type ContainerProbeState,
  type ProbeKind,
  type ProbeTiming,
} from './probe-state.ts'
import { runProbe } from './prober.ts'

export type { ProbeKind } from './probe-state.ts'

/** A running container to probe. */
export interface ProbeTarget {
  podUid: string
  podIp: string | undefined
  containerName: string
  containerId: string
  /** When the container started, wall-clock ms (the runtime's `startedAtMs`). */
  startedAtMs: number
}

export interface ProbeManagerOptions {
  runtime: ContainerRuntime
  timers: Timers
  /** Called (never synchronously from updatePod) when ready/started/livenessFailed of a container of the pod flipped. */
  onChange(podUid: string): void
  log?(line: string): void
}

interface Worker {
  readonly podUid: string
  readonly podName: string
  target: ProbeTarget
  container: JsonObject
  state: ContainerProbeState
  timer: Timer | undefined
  removed: boolean
}

/** What resultOf reports for a container that is not running (or unknown). */
const NOT_RUNNING = { ready: false, started: false, livenessFailed: false } as const

export class ProbeManager {
  private readonly options: ProbeManagerOptions
  /** pod uid → container name → the worker of its current instance. */
  private readonly pods = new Map<string, Map<string, Worker>>()
  private stopped = false

  constructor(options: ProbeManagerOptions) {
    this.options = options
  }

  /**
   * (Re)starts probing the running containers of a pod; the pod spec gives the probes (app
   * containers and restartable init containers alike). Containers not listed stop being probed.
   * A new containerId resets that container's results. A pod being deleted stops its liveness
   * and startup probes (reported as passing), as the kubelet does during graceful termination.
   */
  updatePod(pod: JsonObject, running: readonly ProbeTarget[]): void {
    if (this.stopped) return
    const metadata = objectOf(pod['metadata'])
    const podUid = stringOf(metadata['uid'])
    const podName = `${stringOf(metadata['namespace'], 'default')}/${stringOf(metadata['name'])}`
    const terminating = typeof metadata['deletionTimestamp'] === 'string'
    const specs = containerSpecs(pod)
    const previous = this.pods.get(podUid) ?? new Map<string, Worker>()
    const current = new Map<string, Worker>()
    for (const target of running) {
      const container = specs.get(target.containerName)
      if (container === undefined || target.podUid !== podUid) continue
      let worker = previous.get(target.containerName)
      if (worker === undefined || worker.state.containerId !== target.containerId) {
        if (worker !== undefined) this.retire(worker)
        worker = { podUid, podName, target, container, state: newContainerProbeState(target.containerId, target.startedAtMs, timingsOf(container)), timer: undefined, removed: false }
      }
      worker.target = target
      worker.container = container
      if (terminating) worker.state = podTerminating(worker.state)
      current.set(target.containerName, worker)
    }
    for (const [name, worker] of previous) if (current.get(name) !== worker) this.retire(worker)
    if (current.size === 0) this.pods.delete(podUid)
    else this.pods.set(podUid, current)
    for (const worker of current.values()) this.schedule(worker)
  }

  /** Stops probing every container of the pod and forgets their results. */
  removePod(podUid: string): void {
    const workers = this.pods.get(podUid)
    if (workers === undefined) return
    for (const worker of workers.values()) this.retire(worker)
    this.pods.delete(podUid)
  }

  /**
   * ready: readiness passing (true when no readiness probe and started); started: startup probe
   * passed (true when none); livenessFailed: liveness (or startup) hit failureThreshold for this
   * containerId (the agent restarts it), with a message. A container not being probed (not
   * running, or unknown) is none of these.
   */
  resultOf(podUid: string, containerName: string): { ready: boolean; started: boolean; livenessFailed: boolean; message?: string } {
    const worker = this.pods.get(podUid)?.get(containerName)
    return worker === undefined ? { ...NOT_RUNNING } : containerProbeView(worker.state)
  }

  /** Stops every probe; results of probes still running are dropped. The manager is done afterwards. */
  stop(): void {
    this.stopped = true
    for (const podUid of [...this.pods.keys()]) this.removePod(podUid)
  }

  private retire(worker: Worker): void {
    worker.removed = true
    worker.timer?.cancel()
    worker.timer = undefined
  }

  /** Starts the probes that are due and sets the timer for the next one. */
  private schedule(worker: Worker): void {
    worker.timer?.cancel()
    worker.timer = undefined
    if (worker.removed || this.stopped) return
    const nowMs = this.options.timers.realtimeMs()
    for (const kind of dueProbes(worker.state, nowMs)) {
      worker.state = probeStarted(worker.state, kind, nowMs)
      void this.probe(worker, kind)
    }
    const dueMs = nextDueMs(worker.state)
    if (dueMs === undefined) return
    worker.timer = this.options.timers.after(dueMs - nowMs, () => {
      worker.timer = undefined
      this.schedule(worker)
    })
  }

  private async probe(worker: Worker, kind: ProbeKind): Promise<void> {
    const probe = objectOf(worker.container[PROBE_FIELDS[kind]])
    const timing = (worker.state.tracks[kind] as { timing: ProbeTiming }).timing
    const { containerId, podIp } = worker.target
    const outcome = await runProbe(probe, { runtime: this.options.runtime, container: worker.container, containerId, podIp, timeoutMs: timing.timeoutMs })
    // The container was replaced, removed or the manager stopped while the probe ran.
    if (worker.removed || this.stopped) return
    const before = containerProbeView(worker.state)
    worker.state = probeFinished(worker.state, kind, outcome)
    const after = containerProbeView(worker.state)
    if (outcome.result !== 'success') this.options.log?.(`${kind} probe of ${worker.podName} container ${worker.target.containerName} ${outcome.result === 'failure' ? 'failed' : 'could not run'}: ${outcome.message ?? ''}`)
    this.schedule(worker)
    if (viewChanged(before, after)) this.options.onChange(worker.podUid)
  }
}

/** The probe timings a container declares, by kind. */
function timingsOf(container: JsonObject): Partial<Record<ProbeKind, ProbeTiming>> {
  const timings: Partial<Record<ProbeKind, ProbeTiming>> = {}
  for (const kind of PROBE_KINDS) {
    const probe = container[PROBE_FIELDS[kind]]
    if (isJsonObject(probe)) timings[kind] = probeTimingOf(probe)
  }
  return timings
}

/** App containers and init containers by name (restartable init containers may have probes). */
function containerSpecs(pod: JsonObject): Map<string, JsonObject> {
  const spec = objectOf(pod['spec'])
  const specs = new Map<string, JsonObject>()
  for (const field of ['initContainers', 'containers']) {
    const list = spec[field]
    if (!Array.isArray(list)) continue
    for (const container of list.filter(isJsonObject)) specs.set(stringOf(container['name']), container)
  }
  return specs
}

function objectOf(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

function stringOf(value: JsonValue | undefined, fallback = ''): string {
  return typeof value === 'string' ? value : fallback
}
