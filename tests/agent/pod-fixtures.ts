/**
 * Fixtures for the agent's pure tests: pods as the API stores them, runtime sandboxes and
 * containers as a runtime reports them, and a one-line-per-action rendering of a plan so tables
 * of cases read like transcripts.
 */
import type { ContainerStatus, SandboxStatus } from '../../runtime/src/runtime.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { containerSpecHash } from '../../node/src/agent/container-hash.ts'
import type { PodActions, ProbeResult } from '../../node/src/agent/pod-actions.ts'

/** 2026-11-23T10:00:00Z: a fixed wall clock for the fixtures. */
export const T0_MS = Date.UTC(2026, 10, 23, 10, 0, 0)
export const NODE = 'node-a'
export const UID = 'uid-1'

export interface PodFixture {
  readonly name?: string
  readonly uid?: string
  readonly nodeName?: string
  readonly restartPolicy?: 'Always' | 'OnFailure' | 'Never'
  readonly inits?: readonly string[]
  readonly containers?: readonly string[]
  readonly image?: string
  readonly status?: JsonObject
  readonly metadata?: JsonObject
  readonly spec?: JsonObject
}

/** A container spec named `name`, as stored (image defaulted). */
export function containerSpec(name: string, image = 'flotilla/busybox:local'): JsonObject {
  return { name, image, command: ['sh', '-c', `echo ${name}; sleep 3600`], imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log' }
}

export function pod(fixture: PodFixture = {}): JsonObject {
  const spec: JsonObject = {
    nodeName: fixture.nodeName ?? NODE,
    restartPolicy: fixture.restartPolicy ?? 'Always',
    containers: (fixture.containers ?? ['web']).map((name) => containerSpec(name, fixture.image)),
    ...fixture.spec,
  }
  if (fixture.inits !== undefined) spec['initContainers'] = fixture.inits.map((name) => containerSpec(name, fixture.image))
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: fixture.name ?? 'p', namespace: 'default', uid: fixture.uid ?? UID, resourceVersion: '7', ...fixture.metadata },
    spec,
    status: fixture.status ?? { phase: 'Pending', qosClass: 'BestEffort', conditions: [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-23T09:59:00Z' }] },
  }
}

export function sandbox(fields: Partial<SandboxStatus> & { id: string }): SandboxStatus {
  return { pod: { uid: UID, name: 'p', namespace: 'default' }, state: 'ready', createdAtMs: T0_MS, ip: '172.17.0.5', labels: {}, ...fields }
}

export interface ContainerFixture {
  readonly id: string
  readonly name: string
  readonly attempt?: number
  readonly state?: ContainerStatus['state']
  readonly exitCode?: number
  readonly reason?: string
  readonly sandboxId?: string
  /** Seconds after T0. */
  readonly startedS?: number
  readonly finishedS?: number
  /** Defaults to the hash of containerSpec(name); `null` for none. */
  readonly specHash?: string | null
  readonly image?: string
}

export function container(fixture: ContainerFixture): ContainerStatus {
  const attempt = fixture.attempt ?? 0
  const state = fixture.state ?? 'running'
  const startedAtMs = T0_MS + (fixture.startedS ?? attempt * 10) * 1000
  const status: ContainerStatus = {
    id: fixture.id,
    sandboxId: fixture.sandboxId ?? 's1',
    pod: { uid: UID, name: 'p', namespace: 'default' },
    name: fixture.name,
    attempt,
    image: fixture.image ?? 'flotilla/busybox:local',
    imageId: 'sha256:0123abcd',
    state,
    createdAtMs: startedAtMs - 100,
    labels: {},
    ...(state === 'created' ? {} : { startedAtMs }),
    ...(state === 'exited'
      ? {
          finishedAtMs: T0_MS + (fixture.finishedS ?? (fixture.startedS ?? attempt * 10) + 5) * 1000,
          exitCode: fixture.exitCode ?? 0,
          reason: fixture.reason ?? ((fixture.exitCode ?? 0) === 0 ? 'Completed' : 'Error'),
        }
      : {}),
  }
  const specHash = fixture.specHash === undefined ? containerSpecHash(containerSpec(fixture.name, fixture.image)) : fixture.specHash
  return specHash === null ? status : { ...status, specHash }
}

/** Probe results: every container started and ready unless listed. */
export function probes(overrides: Readonly<Record<string, Partial<ProbeResult>>> = {}): (name: string) => ProbeResult {
  return (name) => ({ ready: true, started: true, livenessFailed: false, ...overrides[name] })
}

/** The plan, one line per action, in execution order. */
export function describePlan(plan: PodActions): string[] {
  const lines: string[] = []
  if (plan.killPod) lines.push(plan.removePod ? 'kill pod and remove it' : 'kill pod')
  for (const kill of plan.kill) lines.push(`kill ${kill.containerId} (${kill.name}: ${kill.reason}, grace ${kill.gracePeriodMs / 1000}s)`)
  for (const id of plan.stopSandboxes) lines.push(`stop sandbox ${id}`)
  for (const id of plan.removeContainers) lines.push(`remove ${id}`)
  for (const id of plan.removeSandboxes) lines.push(`remove sandbox ${id}`)
  if (plan.createSandbox) lines.push('create sandbox')
  const start = (entry: { name: string; attempt: number; restartOfExitAtMs?: number }, kind: string): string =>
    `start ${kind} ${entry.name}#${entry.attempt}${entry.restartOfExitAtMs === undefined ? '' : ' (restart)'}`
  if (plan.startInit !== undefined) lines.push(start(plan.startInit, 'init'))
  for (const entry of plan.start) lines.push(start(entry, 'app'))
  for (const [name, waiting] of plan.waiting) lines.push(`wait ${name}: ${waiting.reason}: ${waiting.message}`)
  if (plan.resyncAfterMs !== undefined) lines.push(`resync in ${plan.resyncAfterMs / 1000}s`)
  return lines
}
