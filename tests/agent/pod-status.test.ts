// Goal: podStatusFrom reports what the kubelet reports: phases by its rules (restart policies,
// init failures, terminal phases that stick), container states with kubectl's reasons and
// messages (ContainerCreating, PodInitializing, CrashLoopBackOff, ErrImageNeverPull, OOMKilled),
// lastState and restartCount, ids with the runtime's scheme, the four conditions with messages and
// stable transition times, readiness gates, pod IPs and the fields others own.
// Method: fixtures of pods and runtime observations; a compact rendering (phase, READY-like
// counts, container states) per case, plus direct checks of the JSON kubectl reads.
import t from 'tap'
import type { ContainerStatus, SandboxStatus } from '../../runtime/src/runtime.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { listAt, objectAt } from '../../node/src/controllers/object-fields.ts'
import type { ProbeResult, Waiting } from '../../node/src/agent/pod-actions.ts'
import { podStatusFrom } from '../../node/src/agent/pod-status.ts'
import { container, pod, probes, sandbox, T0_MS } from './pod-fixtures.ts'

const ready = sandbox({ id: 's1' })

function statusOf(options: {
  pod?: JsonObject
  sandboxes?: readonly SandboxStatus[]
  containers?: readonly ContainerStatus[]
  probes?: Readonly<Record<string, Partial<ProbeResult>>>
  waiting?: ReadonlyArray<readonly [string, Waiting]>
  nowS?: number
}): JsonObject {
  return podStatusFrom({
    pod: options.pod ?? pod(),
    observed: { sandboxes: options.sandboxes ?? [ready], containers: options.containers ?? [] },
    probes: probes(options.probes),
    waiting: new Map(options.waiting ?? []),
    nowMs: T0_MS + (options.nowS ?? 60) * 1000,
    hostIp: '192.168.1.10',
    runtimeName: 'docker',
  })
}

/** `name=state[reason](restarts)` per container, init containers first, e.g. `web=waiting[CrashLoopBackOff](2)`. */
function containerLine(status: JsonObject): string {
  const render = (item: JsonObject): string => {
    const state = objectAt(item['state'])
    const kind = Object.keys(state)[0] ?? 'none'
    const reason = objectAt(state[kind])['reason']
    return `${String(item['name'])}=${kind}${reason === undefined ? '' : `[${String(reason)}]`}(${String(item['restartCount'])})${item['ready'] === true ? ' ready' : ''}`
  }
  return [...listAt(status['initContainerStatuses']).map(objectAt).map((item) => `init ${render(item)}`), ...listAt(status['containerStatuses']).map(objectAt).map(render)].join(', ')
}

function conditionLine(status: JsonObject): string {
  return listAt(status['conditions'])
    .map(objectAt)
    .map((condition) => `${String(condition['type'])}=${String(condition['status'])}${condition['reason'] === undefined ? '' : `(${String(condition['reason'])})`}`)
    .join(' ')
}

interface Case {
  readonly name: string
  readonly input: Parameters<typeof statusOf>[0]
  readonly phase: string
  readonly containers: string
  readonly conditions?: string
}

const cases: Case[] = [
  {
    name: 'a new pod: Pending, containers being created',
    input: { sandboxes: [] },
    phase: 'Pending',
    containers: 'web=waiting[ContainerCreating](0)',
    conditions: 'Initialized=True Ready=False(ContainersNotReady) ContainersReady=False(ContainersNotReady) PodScheduled=True',
  },
  {
    name: 'init containers under way: every container PodInitializing',
    input: { pod: pod({ inits: ['i1', 'i2'] }), containers: [container({ id: 'c1', name: 'i1' })] },
    phase: 'Pending',
    containers: 'init i1=running(0), init i2=waiting[PodInitializing](0), web=waiting[PodInitializing](0)',
    conditions: 'Initialized=False(ContainersNotInitialized) Ready=False(ContainersNotReady) ContainersReady=False(ContainersNotReady) PodScheduled=True',
  },
  {
    name: 'initialized and running',
    input: { pod: pod({ inits: ['i1'] }), containers: [container({ id: 'c1', name: 'i1', state: 'exited' }), container({ id: 'c2', name: 'web' })] },
    phase: 'Running',
    containers: 'init i1=terminated[Completed](0) ready, web=running(0) ready',
    conditions: 'Initialized=True Ready=True ContainersReady=True PodScheduled=True',
  },
  {
    name: 'running but not ready (readiness probe failing)',
    input: { containers: [container({ id: 'c1', name: 'web' })], probes: { web: { ready: false } } },
    phase: 'Running',
    containers: 'web=running(0)',
    conditions: 'Initialized=True Ready=False(ContainersNotReady) ContainersReady=False(ContainersNotReady) PodScheduled=True',
  },
  {
    name: 'crash-looping under Always: Running, waiting in CrashLoopBackOff with the restart count',
    input: {
      containers: [container({ id: 'c1', name: 'web', attempt: 1, state: 'exited', exitCode: 1 }), container({ id: 'c2', name: 'web', attempt: 2, state: 'exited', exitCode: 1 })],
      waiting: [['web', { reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=web pod=p_default(uid-1)' }]],
    },
    phase: 'Running',
    containers: 'web=waiting[CrashLoopBackOff](2)',
  },
  {
    name: 'Never, exit 0: Succeeded',
    input: { pod: pod({ restartPolicy: 'Never' }), containers: [container({ id: 'c1', name: 'web', state: 'exited' })] },
    phase: 'Succeeded',
    containers: 'web=terminated[Completed](0)',
    conditions: 'Initialized=True(PodCompleted) Ready=False(PodCompleted) ContainersReady=False(PodCompleted) PodScheduled=True',
  },
  {
    name: 'Never, one container failed and one succeeded: Failed',
    input: { pod: pod({ restartPolicy: 'Never', containers: ['web', 'side'] }), containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 3 }), container({ id: 'c2', name: 'side', state: 'exited' })] },
    phase: 'Failed',
    containers: 'web=terminated[Error](0), side=terminated[Completed](0)',
  },
  {
    name: 'Never, one exited and one still running: Running',
    input: { pod: pod({ restartPolicy: 'Never', containers: ['web', 'side'] }), containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 3 }), container({ id: 'c2', name: 'side' })] },
    phase: 'Running',
    containers: 'web=terminated[Error](0), side=running(0) ready',
  },
  {
    name: 'OnFailure, failed and about to restart: Running',
    input: { pod: pod({ restartPolicy: 'OnFailure' }), containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 1 })] },
    phase: 'Running',
    containers: 'web=terminated[Error](0)',
  },
  {
    name: 'OnFailure, exit 0: Succeeded',
    input: { pod: pod({ restartPolicy: 'OnFailure' }), containers: [container({ id: 'c1', name: 'web', state: 'exited' })] },
    phase: 'Succeeded',
    containers: 'web=terminated[Completed](0)',
  },
  {
    name: 'a failed init container under Never: Failed',
    input: { pod: pod({ inits: ['i1'], restartPolicy: 'Never' }), containers: [container({ id: 'c1', name: 'i1', state: 'exited', exitCode: 2 })] },
    phase: 'Failed',
    containers: 'init i1=terminated[Error](0), web=waiting[PodInitializing](0)',
  },
  {
    name: 'a failed init container backing off under Always: Pending (Init:CrashLoopBackOff)',
    input: {
      pod: pod({ inits: ['i1'] }),
      containers: [container({ id: 'c1', name: 'i1', attempt: 1, state: 'exited', exitCode: 2 })],
      waiting: [['i1', { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=i1 pod=p_default(uid-1)' }]],
    },
    phase: 'Pending',
    containers: 'init i1=waiting[CrashLoopBackOff](1), web=waiting[PodInitializing](0)',
  },
  {
    name: 'an image that is not present: ErrImageNeverPull',
    input: { waiting: [['web', { reason: 'ErrImageNeverPull', message: 'Container image "nope:1" is not present with pull policy of Never' }]] },
    phase: 'Pending',
    containers: 'web=waiting[ErrImageNeverPull](0)',
  },
  {
    name: 'a container killed for memory: OOMKilled, restarting',
    input: { containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 137, reason: 'OOMKilled' })] },
    phase: 'Running',
    containers: 'web=terminated[OOMKilled](0)',
  },
  {
    name: 'a pod the API shows Succeeded stays Succeeded',
    input: { pod: pod({ status: { phase: 'Succeeded' } }), containers: [container({ id: 'c1', name: 'web' })] },
    phase: 'Succeeded',
    containers: 'web=running(0) ready',
  },
]

for (const testCase of cases) {
  t.test(testCase.name, async (t) => {
    const status = statusOf(testCase.input)
    t.equal(status['phase'], testCase.phase, 'phase')
    t.equal(containerLine(status), testCase.containers, 'containers')
    if (testCase.conditions !== undefined) t.equal(conditionLine(status), testCase.conditions, 'conditions')
  })
}

t.test('a running container as kubectl reads it', async (t) => {
  const status = statusOf({ containers: [container({ id: 'c0', name: 'web', state: 'exited', exitCode: 1, startedS: 0, finishedS: 3 }), container({ id: 'c1', name: 'web', attempt: 1, startedS: 10 })] })
  const web = objectAt(listAt(status['containerStatuses'])[0])
  t.same(web, {
    name: 'web',
    state: { running: { startedAt: '2026-11-23T10:00:10Z' } },
    lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: '2026-11-23T10:00:00Z', finishedAt: '2026-11-23T10:00:03Z', containerID: 'docker://c0' } },
    ready: true,
    restartCount: 1,
    image: 'flotilla/busybox:local',
    imageID: 'docker://sha256:0123abcd',
    containerID: 'docker://c1',
    started: true,
  })
  t.equal(status['hostIP'], '192.168.1.10')
  t.equal(status['podIP'], '172.17.0.5')
  t.same(status['podIPs'], [{ ip: '172.17.0.5' }])
  t.equal(status['startTime'], '2026-11-23T10:01:00Z', 'start time is when the agent first reported')
  t.equal(status['qosClass'], 'BestEffort', 'the QoS class stays')
  const conditions = listAt(status['conditions']).map(objectAt)
  t.same(conditions.find((condition) => condition['type'] === 'PodScheduled'), { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-23T09:59:00Z' }, "the scheduler's condition stays")
})

t.test('a crash-looping container keeps its last exit in lastState and its id', async (t) => {
  const waiting: Waiting = { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=web pod=p_default(uid-1)' }
  const status = statusOf({ containers: [container({ id: 'c1', name: 'web', attempt: 1, state: 'exited', exitCode: 2, startedS: 10, finishedS: 11 })], waiting: [['web', waiting]] })
  const web = objectAt(listAt(status['containerStatuses'])[0])
  t.same(web['state'], { waiting: { reason: 'CrashLoopBackOff', message: waiting.message } })
  t.same(web['lastState'], { terminated: { exitCode: 2, reason: 'Error', startedAt: '2026-11-23T10:00:10Z', finishedAt: '2026-11-23T10:00:11Z', containerID: 'docker://c1' } })
  t.equal(web['containerID'], 'docker://c1')
  t.equal(web['started'], false)
})

t.test('condition transition times move only when a condition changes', async (t) => {
  const first = statusOf({ sandboxes: [], nowS: 0 })
  const again = statusOf({ pod: pod({ status: first }), sandboxes: [], nowS: 30 })
  t.same(again, first, 'nothing changed: an identical status (no write)')
  const running = statusOf({ pod: pod({ status: first }), containers: [container({ id: 'c1', name: 'web' })], nowS: 45 })
  const times = Object.fromEntries(listAt(running['conditions']).map(objectAt).map((condition) => [String(condition['type']), condition['lastTransitionTime']]))
  t.same(times, { Initialized: '2026-11-23T10:00:00Z', Ready: '2026-11-23T10:00:45Z', ContainersReady: '2026-11-23T10:00:45Z', PodScheduled: '2026-11-23T09:59:00Z' })
  t.equal(running['startTime'], '2026-11-23T10:00:00Z', 'the start time stays')
})

t.test('readiness gates hold Ready back until their condition is True', async (t) => {
  const gated = (conditions: JsonObject[]): JsonObject =>
    statusOf({ pod: pod({ spec: { readinessGates: [{ conditionType: 'example.com/lb' }] }, status: { phase: 'Running', conditions } }), containers: [container({ id: 'c1', name: 'web' })] })
  const missing = objectAt(listAt(gated([])['conditions']).map(objectAt).find((condition) => condition['type'] === 'Ready'))
  t.same([missing['status'], missing['reason'], missing['message']], ['False', 'ReadinessGatesNotReady', 'corresponding condition of pod readiness gate "example.com/lb" does not exist.'])
  const passing = gated([{ type: 'example.com/lb', status: 'True' }])
  t.equal(listAt(passing['conditions']).map(objectAt).find((condition) => condition['type'] === 'Ready')?.['status'], 'True')
  t.ok(listAt(passing['conditions']).map(objectAt).some((condition) => condition['type'] === 'example.com/lb'), "the gate's condition stays")
})

t.test('pod IPs: the sandbox\'s, the node\'s under hostNetwork, the last one once the sandbox is gone', async (t) => {
  t.equal(statusOf({ pod: pod({ spec: { hostNetwork: true } }) })['podIP'], '192.168.1.10')
  t.equal(statusOf({ pod: pod({ status: { phase: 'Succeeded', podIP: '172.17.0.9' } }), sandboxes: [] })['podIP'], '172.17.0.9')
  t.notOk('podIP' in statusOf({ sandboxes: [] }), 'no IP before the sandbox exists')
})

t.test('message of a termination and an init container restarted in a new sandbox', async (t) => {
  const exited: ContainerStatus = { ...container({ id: 'c1', name: 'web', state: 'exited', exitCode: 1 }), message: 'boom' }
  const web = objectAt(listAt(statusOf({ containers: [exited] })['containerStatuses'])[0])
  t.equal(objectAt(objectAt(web['state'])['terminated'])['message'], 'boom')
  // The init container completed in the old sandbox; the new one runs it again.
  const status = statusOf({
    pod: pod({ inits: ['i1'] }),
    sandboxes: [sandbox({ id: 's0', state: 'notready', createdAtMs: T0_MS - 1000 }), sandbox({ id: 's1', createdAtMs: T0_MS })],
    containers: [container({ id: 'c0', name: 'i1', state: 'exited', sandboxId: 's0' })],
  })
  t.equal(containerLine(status), 'init i1=waiting[PodInitializing](0), web=waiting[PodInitializing](0)')
})
