// Goal: the probe state machine decides like the kubelet's probe workers: initial results,
// initial delay and period, success/failure thresholds, startup gating of liveness and readiness,
// hold after a liveness failure, reset per container id, terminating pods. Method: drive the pure
// machine with simulated time — a loop that jumps from due time to due time and answers each
// probe from a scripted function of (kind, time) — and check the views it reports.
import t from 'tap'
import {
  containerProbeView,
  dueProbes,
  newContainerProbeState,
  nextDueMs,
  podTerminating,
  probeFinished,
  probeStarted,
  probeTimingOf,
  viewChanged,
  type ContainerProbeState,
  type ContainerProbeView,
  type ProbeKind,
  type ProbeOutcome,
  type ProbeTiming,
} from '../../node/src/agent/probes/probe-state.ts'

const STARTED_MS = 1_000_000

function timing(overrides: Partial<ProbeTiming> = {}): ProbeTiming {
  return { ...probeTimingOf({}), ...overrides }
}

type Script = (kind: ProbeKind, atMs: number) => ProbeOutcome['result']

interface Step {
  readonly atMs: number
  readonly kind: ProbeKind
  readonly result: ProbeOutcome['result']
  readonly view: ContainerProbeView
}

/**
 * Runs the machine from the container's start until `untilMs` (relative to the start), each probe
 * completing at the instant it starts. Returns the final state and every probe that ran.
 */
function simulate(state: ContainerProbeState, untilMs: number, script: Script): { state: ContainerProbeState; steps: Step[] } {
  const steps: Step[] = []
  let nowMs = STARTED_MS
  for (let guard = 0; guard < 10_000; guard++) {
    const dueMs = nextDueMs(state)
    if (dueMs === undefined || dueMs > STARTED_MS + untilMs) break
    // A probe that fell due while it was gated runs now, not in the past.
    nowMs = Math.max(nowMs, dueMs)
    for (const kind of dueProbes(state, nowMs)) {
      state = probeStarted(state, kind, nowMs)
      const result = script(kind, nowMs - STARTED_MS)
      state = probeFinished(state, kind, { result, message: `${kind} said ${result}` })
      steps.push({ atMs: nowMs - STARTED_MS, kind, result, view: containerProbeView(state) })
    }
  }
  return { state, steps }
}

/** The times (relative to the start) at which a kind of probe ran. */
function timesOf(steps: readonly Step[], kind: ProbeKind): number[] {
  return steps.filter((step) => step.kind === kind).map((step) => step.atMs)
}

t.test('probeTimingOf applies Kubernetes defaults and converts to milliseconds', async (t) => {
  t.same(probeTimingOf({}), { initialDelayMs: 0, periodMs: 10_000, timeoutMs: 1_000, successThreshold: 1, failureThreshold: 3 })
  t.same(probeTimingOf({ initialDelaySeconds: 5, periodSeconds: 2, timeoutSeconds: 3, successThreshold: 2, failureThreshold: 1 }), {
    initialDelayMs: 5_000,
    periodMs: 2_000,
    timeoutMs: 3_000,
    successThreshold: 2,
    failureThreshold: 1,
  })
  t.same(probeTimingOf({ periodSeconds: 0, failureThreshold: -1 }), probeTimingOf({}), 'nonsense values fall back to the defaults')
})

t.test('initial results: no probes means started and ready; readiness false until its first success', async (t) => {
  t.same(containerProbeView(newContainerProbeState('c1', STARTED_MS, {})), { ready: true, started: true, livenessFailed: false })
  const state = newContainerProbeState('c1', STARTED_MS, { readiness: timing(), liveness: timing() })
  t.same(containerProbeView(state), { ready: false, started: true, livenessFailed: false }, 'liveness starts passing, readiness failing')
  const { steps } = simulate(state, 0, () => 'success')
  t.same(steps.map((step) => step.kind), ['liveness', 'readiness'], 'both probe right at the start without an initial delay')
  t.same(containerProbeView(simulate(state, 0, () => 'success').state), { ready: true, started: true, livenessFailed: false })
})

t.test('initialDelaySeconds holds the first probe back, then probes run every period', async (t) => {
  const state = newContainerProbeState('c1', STARTED_MS, { readiness: timing({ initialDelayMs: 5_000, periodMs: 2_000 }) })
  t.same(dueProbes(state, STARTED_MS + 4_999), [], 'not before the delay')
  t.equal(nextDueMs(state), STARTED_MS + 5_000)
  const { steps } = simulate(state, 11_000, () => 'success')
  t.same(timesOf(steps, 'readiness'), [5_000, 7_000, 9_000, 11_000])
})

t.test('failureThreshold: readiness flips only after N failures in a row and back after successThreshold', async (t) => {
  const state = newContainerProbeState('c1', STARTED_MS, { readiness: timing({ periodMs: 1_000, failureThreshold: 3, successThreshold: 2 }) })
  // Passing until 3 s, failing 3 s–7 s with one success at 5 s, passing again from 8 s.
  const script: Script = (_kind, atMs) => (atMs < 3_000 || atMs === 5_000 || atMs >= 8_000 ? 'success' : 'failure')
  const { steps } = simulate(state, 10_000, script)
  const readyAt = Object.fromEntries(steps.map((step) => [step.atMs, step.view.ready]))
  t.same(readyAt, {
    0: false, // one success of two needed
    1000: true,
    2000: true,
    3000: true, // failure 1
    4000: true, // failure 2
    5000: true, // a success resets the failure run
    6000: true, // failure 1
    7000: true, // failure 2
    8000: true, // success 1 of 2: still ready (never reached three failures)
    9000: true,
    10000: true,
  })
  const flaky = simulate(state, 10_000, (_kind, atMs) => (atMs >= 2_000 && atMs < 6_000 ? 'failure' : 'success'))
  const flips = flaky.steps.map((step) => `${step.atMs}:${step.view.ready}`)
  t.same(flips, ['0:false', '1000:true', '2000:true', '3000:true', '4000:false', '5000:false', '6000:false', '7000:true', '8000:true', '9000:true', '10000:true'], 'three failures in a row flip it; two successes flip it back')
  const failing = simulate(state, 5_000, (_kind, atMs) => (atMs >= 2_000 ? 'failure' : 'success')).state
  t.equal(containerProbeView(failing).message, 'readiness said failure', 'a published readiness failure carries its message')
})

t.test('liveness failing failureThreshold times marks the container failed and holds further probes', async (t) => {
  const state = newContainerProbeState('c1', STARTED_MS, { liveness: timing({ periodMs: 1_000, failureThreshold: 3 }), readiness: timing({ periodMs: 1_000 }) })
  const { state: after, steps } = simulate(state, 20_000, (kind, atMs) => (kind === 'liveness' && atMs >= 2_000 ? 'failure' : 'success'))
  const view = containerProbeView(after)
  t.same(view, { ready: true, started: true, livenessFailed: true, message: 'liveness said failure' })
  t.same(timesOf(steps, 'liveness'), [0, 1_000, 2_000, 3_000, 4_000], 'no liveness probe after the threshold was hit')
  t.equal(steps.find((step) => step.view.livenessFailed)?.atMs, 4_000, 'failed on the third failure in a row')
  t.ok(timesOf(steps, 'readiness').includes(20_000), 'readiness goes on')
})

t.test('a new container id starts over with fresh results', async (t) => {
  const timings = { liveness: timing({ periodMs: 1_000, failureThreshold: 1 }), readiness: timing({ periodMs: 1_000 }) }
  const failed = simulate(newContainerProbeState('c1', STARTED_MS, timings), 3_000, (kind) => (kind === 'liveness' ? 'failure' : 'success')).state
  t.equal(containerProbeView(failed).livenessFailed, true)
  const restarted = newContainerProbeState('c2', STARTED_MS + 3_000, timings)
  t.same(containerProbeView(restarted), { ready: false, started: true, livenessFailed: false }, 'liveness passing and readiness failing again')
})

t.test('startup probe gates liveness and readiness until it succeeds, then never runs again', async (t) => {
  const state = newContainerProbeState('c1', STARTED_MS, {
    startup: timing({ periodMs: 1_000, failureThreshold: 30 }),
    liveness: timing({ periodMs: 1_000 }),
    readiness: timing({ periodMs: 1_000, initialDelayMs: 1_000 }),
  })
  t.same(containerProbeView(state), { ready: false, started: false, livenessFailed: false })
  const { state: after, steps } = simulate(state, 8_000, (kind, atMs) => (kind === 'startup' && atMs < 5_000 ? 'failure' : 'success'))
  t.same(timesOf(steps, 'startup'), [0, 1_000, 2_000, 3_000, 4_000, 5_000], 'startup probes until its first success')
  t.same(timesOf(steps, 'liveness'), [5_000, 6_000, 7_000, 8_000], 'liveness waits for the startup probe')
  t.same(timesOf(steps, 'readiness'), [5_000, 6_000, 7_000, 8_000], 'a readiness probe held back runs as soon as the container started')
  t.notOk(steps.filter((step) => step.atMs < 5_000).some((step) => step.view.started || step.view.ready), 'neither started nor ready before')
  t.same(containerProbeView(after), { ready: true, started: true, livenessFailed: false })
})

t.test('a startup probe that fails failureThreshold times fails the container like liveness', async (t) => {
  const state = newContainerProbeState('c1', STARTED_MS, { startup: timing({ periodMs: 1_000, failureThreshold: 3 }), liveness: timing() })
  const { state: after, steps } = simulate(state, 60_000, () => 'failure')
  t.same(timesOf(steps, 'startup'), [0, 1_000, 2_000])
  t.same(timesOf(steps, 'liveness'), [], 'liveness never ran')
  t.same(containerProbeView(after), { ready: false, started: false, livenessFailed: true, message: 'startup said failure' })
  t.equal(nextDueMs(after), undefined, 'nothing left to probe for this container id')
})

t.test('unknown outcomes (the probe could not run) count as neither success nor failure', async (t) => {
  const state = newContainerProbeState('c1', STARTED_MS, { liveness: timing({ periodMs: 1_000, failureThreshold: 2 }), readiness: timing({ periodMs: 1_000 }) })
  // liveness: failure, unknown, failure → two failures in a row (the unknown does not break the run).
  const results: Record<number, ProbeOutcome['result']> = { 0: 'failure', 1000: 'unknown', 2000: 'failure' }
  const { state: after, steps } = simulate(state, 2_000, (kind, atMs) => (kind === 'liveness' ? (results[atMs] ?? 'success') : 'unknown'))
  t.equal(containerProbeView(after).livenessFailed, true)
  t.notOk(steps.some((step) => step.view.ready), 'readiness never succeeded, so never ready')
})

t.test('a terminating pod stops liveness and startup (reported passing); readiness goes on', async (t) => {
  const state = newContainerProbeState('c1', STARTED_MS, { startup: timing({ periodMs: 1_000 }), liveness: timing({ periodMs: 1_000 }), readiness: timing({ periodMs: 1_000 }) })
  const terminating = podTerminating(state)
  t.same(containerProbeView(terminating), { ready: false, started: true, livenessFailed: false }, 'startup counts as passed')
  const { steps } = simulate(terminating, 3_000, () => 'failure')
  t.same(
    steps.map((step) => step.kind),
    ['readiness', 'readiness', 'readiness', 'readiness'],
  )
  t.equal(containerProbeView(simulate(terminating, 3_000, () => 'failure').state).livenessFailed, false)

  // A liveness probe in flight when termination began: its failure is dropped.
  const inFlight = probeStarted(newContainerProbeState('c1', STARTED_MS, { liveness: timing({ failureThreshold: 1 }) }), 'liveness', STARTED_MS)
  const finished = probeFinished(podTerminating(inFlight), 'liveness', { result: 'failure' })
  t.equal(containerProbeView(finished).livenessFailed, false)
})

t.test('probes in flight are not started twice, and the next one is due a period after the last start', async (t) => {
  let state = newContainerProbeState('c1', STARTED_MS, { readiness: timing({ periodMs: 1_000 }) })
  state = probeStarted(state, 'readiness', STARTED_MS)
  t.same(dueProbes(state, STARTED_MS + 5_000), [], 'a slow probe still running blocks the next')
  t.equal(nextDueMs(state), undefined)
  state = probeFinished(state, 'readiness', { result: 'success' })
  t.equal(nextDueMs(state), STARTED_MS + 1_000)
  t.throws(() => probeFinished(state, 'readiness', { result: 'success' }), { name: 'AssertionError' }, 'finishing a probe that is not running is a bug')
})

t.test('viewChanged ignores messages and compares what the agent acts on', async (t) => {
  const base = { ready: true, started: true, livenessFailed: false }
  t.notOk(viewChanged(base, { ...base, message: 'x' }))
  t.ok(viewChanged(base, { ...base, ready: false }))
  t.ok(viewChanged(base, { ...base, started: false }))
  t.ok(viewChanged(base, { ...base, livenessFailed: true }))
})
