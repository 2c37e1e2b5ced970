// Goal: computePodActions follows the kubelet's rules for every case of a pod's life: sandbox
// creation, init containers in order, restart policies, spec-hash changes, liveness failures,
// dead sandboxes, deletion and moves with the right grace period, terminal pods, crash-loop
// back-off, and garbage collection of exited instances and old sandboxes.
// Method: a table of (pod, runtime observation) → the plan rendered one action per line, like a
// transcript; the back-off is a real CrashBackoff fed with fixed times.
import t from 'tap'
import type { ContainerStatus, SandboxStatus } from '../../runtime/src/runtime.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { CrashBackoff } from '../../node/src/agent/crash-backoff.ts'
import { computePodActions, type ProbeResult } from '../../node/src/agent/pod-actions.ts'
import { container, describePlan, NODE, pod, probes, sandbox, T0_MS, UID } from './pod-fixtures.ts'

interface Case {
  readonly name: string
  readonly pod: JsonObject
  readonly sandboxes?: readonly SandboxStatus[]
  readonly containers?: readonly ContainerStatus[]
  readonly probes?: Readonly<Record<string, Partial<ProbeResult>>>
  /** Seconds after T0 (default 60). */
  readonly nowS?: number
  /** Restarts already recorded with the back-off: container name → exit time in seconds after T0. */
  readonly restarted?: ReadonlyArray<readonly [string, number]>
  readonly plan: readonly string[]
}

const ready = sandbox({ id: 's1' })

const cases: Case[] = [
  // --- A new pod
  { name: 'a new pod gets a sandbox and its containers', pod: pod({ containers: ['web', 'side'] }), plan: ['create sandbox', 'start app web#0', 'start app side#0'] },
  { name: 'a new pod with init containers starts the first one only', pod: pod({ inits: ['i1', 'i2'] }), plan: ['create sandbox', 'start init i1#0'] },

  // --- Init containers
  { name: 'an init container runs: wait', pod: pod({ inits: ['i1', 'i2'] }), sandboxes: [ready], containers: [container({ id: 'c1', name: 'i1' })], plan: [] },
  {
    name: 'the first init container succeeded: the second starts',
    pod: pod({ inits: ['i1', 'i2'] }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'i1', state: 'exited' })],
    plan: ['start init i2#0'],
  },
  {
    name: 'every init container succeeded: the app containers start',
    pod: pod({ inits: ['i1', 'i2'], containers: ['web', 'side'] }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'i1', state: 'exited' }), container({ id: 'c2', name: 'i2', state: 'exited' })],
    plan: ['start app web#0', 'start app side#0'],
  },
  {
    name: 'a failed init container restarts at once the first time (Always)',
    pod: pod({ inits: ['i1', 'i2'] }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'i1', state: 'exited', exitCode: 1 })],
    plan: ['start init i1#1 (restart)'],
  },
  {
    name: 'a failed init container under restartPolicy Never fails the pod',
    pod: pod({ inits: ['i1', 'i2'], restartPolicy: 'Never' }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'i1', state: 'exited', exitCode: 1 })],
    plan: ['kill pod', 'stop sandbox s1'],
  },
  {
    name: 'a failed init container that crashed again waits out its back-off',
    pod: pod({ inits: ['i1'] }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'i1', state: 'exited', exitCode: 1, startedS: 0, finishedS: 1 }), container({ id: 'c2', name: 'i1', attempt: 1, state: 'exited', exitCode: 1, startedS: 2, finishedS: 3 })],
    restarted: [['i1', 1]],
    nowS: 5,
    plan: ['remove c1', `wait i1: CrashLoopBackOff: back-off 10s restarting failed container=i1 pod=p_default(${UID})`, 'resync in 8s'],
  },
  {
    name: 'a running app container means initialization is done, even with its init containers collected',
    pod: pod({ inits: ['i1'] }),
    sandboxes: [ready],
    containers: [container({ id: 'c2', name: 'web' })],
    plan: [],
  },

  // --- Restart policies
  { name: 'a running container with an unchanged spec is kept', pod: pod(), sandboxes: [ready], containers: [container({ id: 'c1', name: 'web' })], plan: [] },
  {
    name: 'Always restarts a container that exited 0',
    pod: pod(),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', state: 'exited' })],
    plan: ['start app web#1 (restart)'],
  },
  {
    name: 'OnFailure restarts a container that exited 2',
    pod: pod({ restartPolicy: 'OnFailure' }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 2 })],
    plan: ['start app web#1 (restart)'],
  },
  {
    name: 'OnFailure leaves a container that exited 0; nothing runs, so the pod is finished',
    pod: pod({ restartPolicy: 'OnFailure' }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', state: 'exited' })],
    plan: ['kill pod', 'stop sandbox s1'],
  },
  {
    name: 'Never leaves an exited container while another still runs',
    pod: pod({ restartPolicy: 'Never', containers: ['web', 'side'] }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 1 }), container({ id: 'c2', name: 'side' })],
    plan: [],
  },
  {
    name: 'a container that never started is replaced by a new attempt',
    pod: pod(),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', state: 'created' })],
    plan: ['start app web#1'],
  },
  {
    name: 'a container in an unknown state is killed and restarted',
    pod: pod(),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', state: 'unknown' })],
    plan: ['kill c1 (web: UnknownState, grace 30s)', 'start app web#1'],
  },

  // --- Changed specs and liveness
  {
    name: 'a changed spec hash recreates the container even under Never',
    pod: pod({ restartPolicy: 'Never', spec: { terminationGracePeriodSeconds: 5 } }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', specHash: 'stale' })],
    plan: ['kill c1 (web: SpecChanged, grace 5s)', 'start app web#1'],
  },
  {
    name: 'a container without a recorded hash (adopted from elsewhere) is kept',
    pod: pod(),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', specHash: null })],
    plan: [],
  },
  {
    name: 'a failed liveness probe restarts the container without back-off',
    pod: pod(),
    sandboxes: [ready],
    containers: [container({ id: 'c0', name: 'web', state: 'exited', exitCode: 137, startedS: 0 }), container({ id: 'c1', name: 'web', attempt: 1, startedS: 10 })],
    probes: { web: { livenessFailed: true } },
    restarted: [['web', 5]],
    plan: ['kill c1 (web: LivenessFailed, grace 30s)', 'start app web#2'],
  },
  {
    name: 'a failed liveness probe under Never kills the container and finishes the pod',
    pod: pod({ restartPolicy: 'Never' }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web' })],
    probes: { web: { livenessFailed: true } },
    plan: ['kill pod', 'kill c1 (web: LivenessFailed, grace 30s)', 'stop sandbox s1'],
  },

  // --- Crash-loop back-off
  {
    name: 'a container that crashed again within its back-off waits in CrashLoopBackOff',
    pod: pod(),
    sandboxes: [ready],
    containers: [container({ id: 'c0', name: 'web', state: 'exited', exitCode: 1, startedS: 0, finishedS: 1 }), container({ id: 'c1', name: 'web', attempt: 1, state: 'exited', exitCode: 1, startedS: 2, finishedS: 3 })],
    restarted: [['web', 1]],
    nowS: 4,
    plan: ['remove c0', `wait web: CrashLoopBackOff: back-off 10s restarting failed container=web pod=p_default(${UID})`, 'resync in 9s'],
  },
  {
    name: 'once the back-off passed the container restarts',
    pod: pod(),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', attempt: 1, state: 'exited', exitCode: 1, startedS: 2, finishedS: 3 })],
    restarted: [['web', 1]],
    nowS: 13,
    plan: ['start app web#2 (restart)'],
  },

  // --- Sandboxes
  {
    name: 'a dead sandbox: everything is killed and a new sandbox runs the init containers again',
    pod: pod({ inits: ['i1'] }),
    sandboxes: [sandbox({ id: 's1', state: 'notready' })],
    containers: [container({ id: 'c1', name: 'i1', state: 'exited' }), container({ id: 'c2', name: 'web' })],
    plan: ['kill c2 (web: SandboxChanged, grace 30s)', 'create sandbox', 'start init i1#1 (restart)'],
  },
  {
    name: 'a dead sandbox under OnFailure does not rerun a container that succeeded',
    pod: pod({ restartPolicy: 'OnFailure', containers: ['web', 'job'] }),
    sandboxes: [sandbox({ id: 's1', state: 'notready' })],
    containers: [container({ id: 'c1', name: 'web' }), container({ id: 'c2', name: 'job', state: 'exited' })],
    plan: ['kill c1 (web: SandboxChanged, grace 30s)', 'create sandbox', 'start app web#1'],
  },
  {
    name: 'a dead sandbox of a pod with restartPolicy Never that ran containers: the pod is over',
    pod: pod({ restartPolicy: 'Never' }),
    sandboxes: [sandbox({ id: 's1', state: 'notready' })],
    containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 137 })],
    plan: ['kill pod'],
  },
  {
    name: 'an older sandbox is stopped; it stays while it holds the newest exited instance',
    pod: pod(),
    sandboxes: [sandbox({ id: 's0', createdAtMs: T0_MS - 60_000 }), ready],
    containers: [container({ id: 'c0', name: 'web', state: 'exited', sandboxId: 's0', startedS: 0 }), container({ id: 'c1', name: 'web', attempt: 1, startedS: 10 })],
    plan: ['stop sandbox s0'],
  },
  {
    name: 'an older sandbox that holds nothing kept is removed',
    pod: pod(),
    sandboxes: [sandbox({ id: 's0', state: 'notready', createdAtMs: T0_MS - 60_000 }), ready],
    containers: [
      container({ id: 'c0', name: 'web', state: 'exited', sandboxId: 's0', startedS: 0 }),
      container({ id: 'c1', name: 'web', attempt: 1, state: 'exited', startedS: 10 }),
      container({ id: 'c2', name: 'web', attempt: 2, startedS: 20 }),
    ],
    plan: ['remove c0', 'remove sandbox s0'],
  },

  // --- Garbage collection
  {
    name: 'only the newest exited instance per name is kept besides the running one',
    pod: pod(),
    sandboxes: [ready],
    containers: [
      container({ id: 'c0', name: 'web', state: 'exited', exitCode: 1, startedS: 0 }),
      container({ id: 'c1', name: 'web', attempt: 1, state: 'exited', exitCode: 1, startedS: 10 }),
      container({ id: 'c2', name: 'web', attempt: 2, state: 'exited', exitCode: 1, startedS: 20 }),
      container({ id: 'c3', name: 'web', attempt: 3, startedS: 30 }),
    ],
    plan: ['remove c1', 'remove c0'],
  },

  // --- Deletion, moves, terminal pods
  {
    name: 'a pod being deleted is torn down with its deletion grace period',
    pod: pod({ metadata: { deletionTimestamp: '2026-11-23T10:00:40Z', deletionGracePeriodSeconds: 12 } }),
    sandboxes: [ready],
    containers: [container({ id: 'c0', name: 'web', state: 'exited', startedS: 0 }), container({ id: 'c1', name: 'web', attempt: 1 })],
    plan: ['kill pod and remove it', 'kill c1 (web: PodTerminating, grace 12s)', 'stop sandbox s1', 'remove c0', 'remove c1', 'remove sandbox s1'],
  },
  {
    name: 'without a deletion grace period the spec\'s termination grace period applies',
    pod: pod({ metadata: { deletionTimestamp: '2026-11-23T10:00:40Z' }, spec: { terminationGracePeriodSeconds: 3 } }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web' })],
    plan: ['kill pod and remove it', 'kill c1 (web: PodTerminating, grace 3s)', 'stop sandbox s1', 'remove c1', 'remove sandbox s1'],
  },
  {
    name: 'a pod bound to another node is torn down here',
    pod: pod({ nodeName: 'node-b' }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web' })],
    plan: ['kill pod and remove it', 'kill c1 (web: PodTerminating, grace 30s)', 'stop sandbox s1', 'remove c1', 'remove sandbox s1'],
  },
  {
    name: 'a pod the API shows Failed runs nothing more; its exited containers stay',
    pod: pod({ status: { phase: 'Failed' } }),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 1 }), container({ id: 'c2', name: 'side' })],
    plan: ['kill pod', 'kill c2 (side: PodFinished, grace 30s)', 'stop sandbox s1'],
  },
  {
    name: 'a running container no longer in the spec is killed',
    pod: pod(),
    sandboxes: [ready],
    containers: [container({ id: 'c1', name: 'web' }), container({ id: 'c9', name: 'gone' })],
    plan: ['kill c9 (gone: NotInSpec, grace 30s)'],
  },
]

for (const testCase of cases) {
  t.test(testCase.name, async (t) => {
    const backoff = new CrashBackoff()
    for (const [name, exitS] of testCase.restarted ?? []) backoff.recordRestart(UID, name, T0_MS + exitS * 1000)
    const plan = computePodActions({
      pod: testCase.pod,
      nodeName: NODE,
      observed: { sandboxes: testCase.sandboxes ?? [], containers: testCase.containers ?? [] },
      probes: probes(testCase.probes),
      backoff,
      nowMs: T0_MS + (testCase.nowS ?? 60) * 1000,
    })
    t.same(describePlan(plan), testCase.plan)
  })
}

t.test('the plan does not change the back-off: only a restart the agent performs does', async (t) => {
  const backoff = new CrashBackoff()
  const observed = { sandboxes: [ready], containers: [container({ id: 'c1', name: 'web', state: 'exited', exitCode: 1, startedS: 0, finishedS: 1 })] }
  const input = { pod: pod(), nodeName: NODE, observed, probes: probes(), backoff, nowMs: T0_MS + 2000 }
  const first = computePodActions(input)
  t.same(describePlan(first), ['start app web#1 (restart)'])
  t.same(describePlan(computePodActions(input)), ['start app web#1 (restart)'], 'planning again gives the same plan')
  const start = first.start[0]!
  backoff.recordRestart(UID, start.name, start.restartOfExitAtMs!)
  t.same(describePlan(computePodActions(input)), [`wait web: CrashLoopBackOff: back-off 10s restarting failed container=web pod=p_default(${UID})`, 'resync in 9s'], 'the same exit is now held back')
})
