/**
 * The decision logic of container probes, as a pure state machine: which probe runs when, how
 * results count against thresholds, and what the container's readiness, startedness and
 * liveness are. No I/O and no clock: the probe manager feeds it the time and the outcomes of the
 * probes it ran, and the tests drive it with simulated time.
 *
 * The rules are the kubelet's (`pkg/kubelet/prober/worker.go`):
 *
 * - Results start as liveness success, readiness failure and startup unknown, per container id:
 *   a restarted container (new id) starts over.
 * - No probe runs before `initialDelaySeconds` after the container started; then every
 *   `periodSeconds`.
 * - While a startup probe has not succeeded, only it runs: liveness and readiness wait, and the
 *   container is neither started nor ready. Once it succeeded it never runs again for that id.
 * - A result is published once it repeats `successThreshold` (or `failureThreshold`) times in a
 *   row; a probe that could not run (no IP, unknown port, runtime error) counts as neither.
 * - A liveness or startup failure at the threshold puts that probe on hold until a new container
 *   id: the agent restarts the container, and probing a dying container only adds noise.
 * - Once the pod is being deleted, liveness and startup report success and stop, so the
 *   container is not restarted during its graceful termination.
 *
 * Differences from the kubelet, on purpose: the first probe runs exactly when the initial delay
 * ends (the kubelet checks at its next period tick, so up to a period later), and a readiness
 * probe whose start was held back by the startup probe runs as soon as the container started.
 * Both only make probes run earlier; no probe runs before the kubelet would allow it.
 */
import { assert } from '../../../../lib/assert.ts'
import type { JsonObject, JsonValue } from '../../api/machinery/canonical.ts'

export type ProbeKind = 'liveness' | 'readiness' | 'startup'

/** The pod spec field of each kind. */
export const PROBE_FIELDS: Readonly<Record<ProbeKind, string>> = { liveness: 'livenessProbe', readiness: 'readinessProbe', startup: 'startupProbe' }

/** How one probe ran: `unknown` means it could not run, and the result is thrown away. */
export type ProbeResult = 'success' | 'failure' | 'unknown'

export interface ProbeOutcome {
  readonly result: ProbeResult
  /** Why it failed (HTTP status, command output, connection error), or the output of a success. */
  readonly message?: string
}

/** A probe's timing and thresholds, in milliseconds. */
export interface ProbeTiming {
  readonly initialDelayMs: number
  readonly periodMs: number
  readonly timeoutMs: number
  readonly successThreshold: number
  readonly failureThreshold: number
}

/** Kubernetes' defaults (`SetDefaults_Probe`) for fields a probe leaves unset. */
export const PROBE_DEFAULTS = {
  initialDelaySeconds: 0,
  periodSeconds: 10,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
} as const

/** The timing of a probe from the pod spec, with Kubernetes' defaults and minimums of 1. */
export function probeTimingOf(probe: JsonObject): ProbeTiming {
  const seconds = (field: keyof typeof PROBE_DEFAULTS, minimum: number): number => {
    const value: JsonValue | undefined = probe[field]
    const chosen = typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : PROBE_DEFAULTS[field]
    return Math.max(minimum, chosen)
  }
  return {
    initialDelayMs: seconds('initialDelaySeconds', 0) * 1000,
    periodMs: seconds('periodSeconds', 1) * 1000,
    timeoutMs: seconds('timeoutSeconds', 1) * 1000,
    successThreshold: seconds('successThreshold', 1),
    failureThreshold: seconds('failureThreshold', 1),
  }
}

/** What the manager reports for one probe kind. */
type Published = 'success' | 'failure' | 'unknown'

/** The state of one probe of one container. */
export interface ProbeTrack {
  readonly timing: ProbeTiming
  readonly published: Published
  /** The message of the outcome that was published last. */
  readonly message: string | undefined
  /** The last result that counted, and how many times in a row it came. */
  readonly lastResult: 'success' | 'failure' | undefined
  readonly run: number
  /** Liveness/startup failed at the threshold: no more probing for this container id. */
  readonly onHold: boolean
  /** The pod is terminating: no more probing at all (liveness and startup only). */
  readonly stopped: boolean
  readonly inFlight: boolean
  readonly nextProbeAtMs: number
}

/** The probes of one container instance (one container id). */
export interface ContainerProbeState {
  readonly containerId: string
  readonly startedAtMs: number
  readonly tracks: Readonly<Partial<Record<ProbeKind, ProbeTrack>>>
}

/** What the agent needs to know about a container. */
export interface ContainerProbeView {
  /** Readiness passing, or no readiness probe; never before the container started. */
  readonly ready: boolean
  /** The startup probe passed, or there is none. */
  readonly started: boolean
  /** Liveness (or startup) failed at its threshold: the agent must restart the container. */
  readonly livenessFailed: boolean
  /**
   * The failing probe's output (`HTTP probe failed with statuscode: 500`, the command's output):
   * of the liveness (or, when not started, startup) probe when livenessFailed, else of the
   * readiness probe while a readiness failure is published. The agent prefixes the kind, as the
   * kubelet's Unhealthy events read (`Liveness probe failed: …`).
   */
  readonly message?: string
}

const INITIAL_RESULTS: Readonly<Record<ProbeKind, Published>> = { liveness: 'success', readiness: 'failure', startup: 'unknown' }
/** Startup first: it gates the others, and its result decides what else may run. */
export const PROBE_KINDS: readonly ProbeKind[] = ['startup', 'liveness', 'readiness']

/** The state of a container that just started: nothing probed yet. */
export function newContainerProbeState(containerId: string, startedAtMs: number, timings: Readonly<Partial<Record<ProbeKind, ProbeTiming>>>): ContainerProbeState {
  const tracks: Partial<Record<ProbeKind, ProbeTrack>> = {}
  for (const kind of PROBE_KINDS) {
    const timing = timings[kind]
    if (timing === undefined) continue
    tracks[kind] = {
      timing,
      published: INITIAL_RESULTS[kind],
      message: undefined,
      lastResult: undefined,
      run: 0,
      onHold: false,
      stopped: false,
      inFlight: false,
      nextProbeAtMs: startedAtMs + timing.initialDelayMs,
    }
  }
  return { containerId, startedAtMs, tracks }
}

/** True once the startup probe succeeded, or when there is none. */
export function isStarted(state: ContainerProbeState): boolean {
  const startup = state.tracks.startup
  return startup === undefined || startup.published === 'success'
}

/** True when the probe may run now or later (it exists, is not held, stopped or running, and is not gated). */
function mayProbe(state: ContainerProbeState, kind: ProbeKind): boolean {
  const track = state.tracks[kind]
  if (track === undefined || track.onHold || track.stopped || track.inFlight) return false
  return kind === 'startup' ? !isStarted(state) : isStarted(state)
}

/** The probes to start at `nowMs`, startup first. */
export function dueProbes(state: ContainerProbeState, nowMs: number): ProbeKind[] {
  return PROBE_KINDS.filter((kind) => mayProbe(state, kind) && nowMs >= (state.tracks[kind] as ProbeTrack).nextProbeAtMs)
}

/**
 * When the next probe falls due, or undefined when none can run until a result arrives (all in
 * flight, held or stopped).
 */
export function nextDueMs(state: ContainerProbeState): number | undefined {
  let earliest: number | undefined
  for (const kind of PROBE_KINDS) {
    if (!mayProbe(state, kind)) continue
    const due = (state.tracks[kind] as ProbeTrack).nextProbeAtMs
    if (earliest === undefined || due < earliest) earliest = due
  }
  return earliest
}

/** Records that a due probe started at `nowMs`; the next one falls due a period later. */
export function probeStarted(state: ContainerProbeState, kind: ProbeKind, nowMs: number): ContainerProbeState {
  const track = state.tracks[kind]
  assert(track !== undefined && mayProbe(state, kind), `${kind} probe of ${state.containerId} started while it may not run`)
  return withTrack(state, kind, { ...track, inFlight: true, nextProbeAtMs: nowMs + track.timing.periodMs })
}

/** Records the outcome of a probe that `probeStarted` started, applying the thresholds. */
export function probeFinished(state: ContainerProbeState, kind: ProbeKind, outcome: ProbeOutcome): ContainerProbeState {
  const track = state.tracks[kind]
  assert(track !== undefined && track.inFlight, `${kind} probe of ${state.containerId} finished without having started`)
  const idle: ProbeTrack = { ...track, inFlight: false }
  // A probe that was stopped meanwhile (pod terminating) keeps the result it was stopped with.
  if (outcome.result === 'unknown' || track.stopped) return withTrack(state, kind, idle)
  const run = idle.lastResult === outcome.result ? idle.run + 1 : 1
  const threshold = outcome.result === 'success' ? idle.timing.successThreshold : idle.timing.failureThreshold
  if (run < threshold) return withTrack(state, kind, { ...idle, lastResult: outcome.result, run })
  const published: ProbeTrack = { ...idle, lastResult: outcome.result, run, published: outcome.result, message: outcome.message }
  if (outcome.result === 'failure' && kind !== 'readiness') return withTrack(state, kind, { ...published, onHold: true, run: 0 })
  return withTrack(state, kind, published)
}

/**
 * The pod is being deleted: liveness and startup report success and stop, so the container is
 * not restarted while it terminates; readiness goes on (a terminating pod still reports it).
 */
export function podTerminating(state: ContainerProbeState): ContainerProbeState {
  let next = state
  for (const kind of ['liveness', 'startup'] as const) {
    const track = next.tracks[kind]
    if (track === undefined || track.stopped) continue
    next = withTrack(next, kind, { ...track, published: 'success', message: undefined, stopped: true })
  }
  return next
}

/** Readiness, startedness and liveness of the container, as the agent reports them. */
export function containerProbeView(state: ContainerProbeState): ContainerProbeView {
  const { liveness, readiness, startup } = state.tracks
  const started = isStarted(state)
  const ready = started && (readiness === undefined || readiness.published === 'success')
  const failed = startup?.published === 'failure' ? 'startup' : liveness?.published === 'failure' ? 'liveness' : undefined
  if (failed !== undefined) return { ready, started, livenessFailed: true, message: state.tracks[failed]?.message ?? '' }
  if (started && readiness?.published === 'failure' && readiness.message !== undefined) return { ready, started, livenessFailed: false, message: readiness.message }
  return { ready, started, livenessFailed: false }
}

/** True when two views differ in what the agent acts on (the message alone does not count). */
export function viewChanged(before: ContainerProbeView, after: ContainerProbeView): boolean {
  return before.ready !== after.ready || before.started !== after.started || before.livenessFailed !== after.livenessFailed
}

function withTrack(state: ContainerProbeState, kind: ProbeKind, track: ProbeTrack): ContainerProbeState {
  return { ...state, tracks: { ...state.tracks, [kind]: track } }
}
