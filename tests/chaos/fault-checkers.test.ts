// Goal: the issue-8 checkers judge correctly without a lab: a StatefulSet identity on two hosts at
// once is reported only when proven by two consecutive sampling rounds (and frozen hosts still
// count, dead ones do not); Service responses from pods that were not Ready are routing
// violations only outside the propagation allowance; success rates per fault phase; recovery
// goals; the clock-skew override moves only the wall clock. Method: crafted rounds, requests and
// samples whose verdicts are known by hand.
import t from 'tap'
import { evaluateGoals, GOALS, type RecoveryMeasurement } from '../../chaos/src/checkers/report.ts'
import { checkRouting, phaseStats, serviceObjects, type ReadySample, type ServiceRequest } from '../../chaos/src/checkers/service-traffic.ts'
import { IdentityTracker, isIdentity, type HostListing, type Round } from '../../chaos/src/checkers/statefulset-identity.ts'
import { forwardRule } from '../../chaos/src/nemesis/latency.ts'
import { longSchedule } from '../../chaos/src/nemesis/schedule.ts'
import { labPlan } from '../../chaos/src/lab/plan.ts'
import { CLOCK_SKEW_ENV, TimersOs } from '../../lib/timers.ts'

const listing = (entries: Record<string, string[]>): HostListing => new Map(Object.entries(entries))
const round = (entries: Record<string, HostListing | 'unanswered' | 'down'>): Round => new Map(Object.entries(entries))

t.test('an identity on two hosts in one round alone is not a violation', async (t) => {
  const tracker = new IdentityTracker()
  t.same(tracker.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({}) }), 0), [])
  // It moved between the two listings of one round: seen on both once, then only on h2.
  t.same(tracker.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({ 'default/sts-0': ['b'] }) }), 250), [], 'one round with both is not proof')
  t.same(tracker.observe(round({ h1: listing({}), h2: listing({ 'default/sts-0': ['b'] }) }), 500), [], 'the old one was gone in the next round')
  t.same(tracker.violations, [])
})

t.test('the same containers on two hosts in consecutive rounds are a violation, reported once', async (t) => {
  const tracker = new IdentityTracker()
  const both = round({ h1: listing({ 'default/sts-1': ['aaaaaaaaaaaaaaaa'] }), h2: listing({ 'default/sts-1': ['bbbbbbbbbbbbbbbb'] }), h3: listing({ 'default/sts-0': ['c'] }) })
  t.same(tracker.observe(both, 0), [])
  const found = tracker.observe(both, 250)
  t.equal(found.length, 1, 'confirmed by the second round')
  t.same(found[0]?.hosts, ['h1', 'h2'])
  t.equal(found[0]?.identity, 'default/sts-1')
  t.equal(found[0]?.timeMs, 250)
  t.same(tracker.observe(both, 500), [], 'not reported again while it lasts')
  t.equal(tracker.violations.length, 1)
})

t.test('a new container in the second round is not proof yet', async (t) => {
  const tracker = new IdentityTracker()
  tracker.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({ 'default/sts-0': ['b'] }) }), 0)
  // h2's container was replaced (b → c): only h1's container is the same in both rounds.
  t.same(tracker.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({ 'default/sts-0': ['c'] }) }), 250), [])
  t.equal(tracker.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({ 'default/sts-0': ['c'] }) }), 500).length, 1, 'then confirmed by the next round')
})

t.test('a frozen host runs nothing until it answers again, then counts; a dead host does not', async (t) => {
  const frozen = new IdentityTracker()
  frozen.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({}) }), 0)
  frozen.observe(round({ h1: 'unanswered', h2: listing({ 'default/sts-0': ['b'] }) }), 250)
  t.same(frozen.observe(round({ h1: 'unanswered', h2: listing({ 'default/sts-0': ['b'] }) }), 500), [], "the frozen host's container is suspended while the identity runs elsewhere")
  // Thawed, and its container was not stopped: it runs on next to the replacement.
  frozen.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({ 'default/sts-0': ['b'] }) }), 750)
  t.equal(frozen.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({ 'default/sts-0': ['b'] }) }), 1000).length, 1, 'a container that runs on after the thaw is a violation')
  const fenced = new IdentityTracker()
  fenced.observe(round({ h1: 'unanswered', h2: listing({ 'default/sts-0': ['b'] }) }), 0)
  fenced.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({ 'default/sts-0': ['b'] }) }), 250)
  t.same(fenced.observe(round({ h1: listing({}), h2: listing({ 'default/sts-0': ['b'] }) }), 500), [], 'one that is stopped at the first check after the thaw is not')

  const dead = new IdentityTracker()
  dead.observe(round({ h1: listing({ 'default/sts-0': ['a'] }), h2: listing({}) }), 0)
  dead.observe(round({ h1: 'down', h2: listing({ 'default/sts-0': ['b'] }) }), 250)
  t.same(dead.observe(round({ h1: 'down', h2: listing({ 'default/sts-0': ['b'] }) }), 500), [], "a killed host's containers died with it")
})

t.test('identity names', async (t) => {
  t.ok(isIdentity('chaos-sts-0'))
  t.ok(isIdentity('chaos-sts-12'))
  t.notOk(isIdentity('chaos-sts-0x'))
  t.notOk(isIdentity('chaos-web-abc12'))
})

const request = (startMs: number, pod: string | undefined, endMs = startMs + 20, judged = true): ServiceRequest => ({ startMs, endMs, client: 'h1', ok: pod !== undefined, judged, ...(pod === undefined ? {} : { pod }) })
const sample = (timeMs: number, pods: Record<string, 'ready' | 'not-ready' | 'terminating'>): ReadySample => ({ timeMs, pods: new Map(Object.entries(pods)) })

t.test('routing: responses from pods that were not Ready beyond the allowance are violations', async (t) => {
  const samples = [sample(0, { p1: 'ready', p2: 'ready' }), sample(1_000, { p1: 'ready', p2: 'not-ready' }), sample(2_000, { p1: 'ready', p2: 'not-ready' }), sample(3_000, { p1: 'ready', p2: 'not-ready' }), sample(4_000, { p1: 'ready' }), sample(5_000, { p1: 'ready' })]
  const requests = [request(500, 'p1'), request(1_500, 'p2'), request(3_500, 'p2'), request(5_500, 'p2'), request(5_600, undefined), request(4_500, 'p1')]
  const verdict = checkRouting(requests, samples, 2_000)
  t.same(verdict.violations.map((violation) => violation.request.startMs), [3_500, 5_500], 'p2 answered after it had been not Ready (then gone) for longer than the allowance')
  t.same(verdict.violations[1]?.seen, ['absent', 'absent'], 'what the API showed in the window is kept for the report')
  t.equal(verdict.unjudged, 0)
  t.same(checkRouting([request(1_000, 'p2', 1_010)], samples, 0).violations.length, 1, 'no allowance: the sample during the request alone decides')
  t.same(checkRouting([request(9_000, 'p2')], samples, 2_000), { violations: [], unjudged: 1, fromCutOffHosts: 0 }, 'no sample in the window: not judged')
  t.same(checkRouting([request(3_500, 'p2', 3_520, false)], samples, 2_000), { violations: [], unjudged: 0, fromCutOffHosts: 1 }, 'a client on a cut-off host is counted, not judged')
  t.same(checkRouting([request(1_500, 'p3')], [sample(1_000, { p3: 'terminating' })], 0).violations, [], 'terminating pods may serve (fallback when none is Ready)')
})

t.test('success rate per fault phase', async (t) => {
  const requests = [request(0, 'p'), request(100, undefined), request(1_000, 'p'), request(1_100, undefined), request(1_200, undefined), request(3_000, 'p')]
  const stats = phaseStats(requests, [{ description: 'kill h1', injectedMs: 900, healedMs: 2_000 }, { description: 'unhealed', injectedMs: 2_500 }])
  t.same(stats, [
    { phase: 'no fault', requests: 2, ok: 1, successRate: 0.5 },
    { phase: 'kill h1', requests: 3, ok: 1, successRate: 1 / 3 },
    { phase: 'unhealed', requests: 1, ok: 1, successRate: 1 },
  ])
  t.same(phaseStats([], []), [{ phase: 'no fault', requests: 0, ok: 0, successRate: 1 }], 'no requests: nothing failed')
})

t.test('the service objects: httpd answers with the pod name and is Ready once it serves', async (t) => {
  const { deployment, service } = serviceObjects(2) as { deployment: { spec: { replicas: number; template: { spec: { containers: { env: unknown[]; readinessProbe: unknown }[] } } } }; service: { spec: { type: string; ports: { port: number; targetPort: number }[] } } }
  t.equal(deployment.spec.replicas, 2)
  const container = deployment.spec.template.spec.containers[0]!
  t.same(container.env, [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }])
  t.ok(container.readinessProbe !== undefined, 'a readiness probe makes Ready meaningful')
  t.equal(service.spec.type, 'ClusterIP')
  t.equal(service.spec.ports[0]?.targetPort, 8080)
})

t.test('recovery goals', async (t) => {
  const recovery: RecoveryMeasurement[] = [
    { fault: 'kill h1', kind: 'kill-host', killedLeader: true, podsOnKilledHosts: 1, apiWritableMs: 1_500, podsElsewhereMs: 9_000 },
    { fault: 'partition {h2}', kind: 'partition', killedLeader: false, apiWritableMs: 100 },
    { fault: 'kill zone z3', kind: 'kill-zone', killedLeader: false, podsOnKilledHosts: 2, apiWritableMs: 50, podsElsewhereMs: 16_000, zoneReplicasRestoredMs: 16_000 },
  ]
  const goals = evaluateGoals(recovery)
  t.same(goals.map((goal) => [goal.targetMs, goal.measuredMs, goal.met]), [
    [GOALS.apiWritableAfterLeaderDeathMs, 1_500, true],
    [GOALS.podsElsewhereAfterNodeDeathMs, 16_000, false],
    [GOALS.replicasAfterZoneLossMs, 16_000, false],
  ], 'each goal against its worst measurement; a partition is not a leader death')
  const unmeasured = evaluateGoals([{ fault: 'kill h2', kind: 'kill-host', killedLeader: true, podsOnKilledHosts: 0 }])
  t.same(unmeasured.map((goal) => goal.met), [false, undefined, undefined], 'a leader death whose API never recovered misses; goals without a fault are not measured')
})

t.test('the long schedule includes latency and clock skew', async (t) => {
  const hosts = labPlan({ hosts: 3, zones: 3 }).hosts
  const kinds = new Set(Array.from({ length: 20 }, (_, seed) => longSchedule({ seed, hosts }).map((step) => step.fault.kind)).flat())
  t.ok(kinds.has('latency'), 'latency faults are drawn')
  t.ok(kinds.has('clock-skew'), 'clock-skew faults are drawn')
  for (const step of longSchedule({ seed: 3, hosts, count: 200 })) {
    if (step.fault.kind === 'latency') t.ok(step.fault.from.length === 1 && step.fault.to.length === 2 && step.fault.delayMs > 0, 'latency: one host against the others')
    if (step.fault.kind === 'clock-skew') t.ok(Math.abs(step.fault.skewMs) >= 5_000, 'clock skew of at least 5 s')
  }
})

t.test('latency rules queue one link with bypass (fail-open)', async (t) => {
  t.same(forwardRule({ from: 'h1', to: 'h3' }, 4100, 'fl-delay-x'), ['FORWARD', '-m', 'physdev', '--physdev-in', 'h1', '--physdev-out', 'h3', '-m', 'comment', '--comment', 'fl-delay-x', '-j', 'NFQUEUE', '--queue-num', '4100', '--queue-bypass'])
})

t.test('the clock-skew override moves the wall clock only', async (t) => {
  const skewed = new TimersOs({ realtimeSkewMs: 60_000 })
  const plain = new TimersOs({ realtimeSkewMs: 0 })
  t.ok(Math.abs(skewed.realtimeMs() - Date.now() - 60_000) < 1_000, 'the wall clock is 60 s ahead')
  t.ok(Math.abs(skewed.monotonicMs() - plain.monotonicMs()) < 1_000, 'the monotonic clock is untouched')
  const saved = process.env[CLOCK_SKEW_ENV]
  t.teardown(() => {
    if (saved === undefined) delete process.env[CLOCK_SKEW_ENV]
    else process.env[CLOCK_SKEW_ENV] = saved
  })
  process.env[CLOCK_SKEW_ENV] = '-30000'
  t.equal(new TimersOs().realtimeSkewMs, -30_000, `${CLOCK_SKEW_ENV} sets the default`)
  delete process.env[CLOCK_SKEW_ENV]
  t.equal(new TimersOs().realtimeSkewMs, 0, 'unset: the true clock')
  process.env[CLOCK_SKEW_ENV] = 'soon'
  t.throws(() => new TimersOs(), 'a malformed value is refused')
})
