/**
 * Docker's inspect documents mapped onto the runtime's statuses (pure).
 */
import type Docker from 'dockerode'

import { msFromRfc3339 } from '../log-lines.ts'
import { RUNTIME_LABELS, type ContainerState, type ContainerStatus, type SandboxStatus } from '../runtime.ts'
import { podFromLabels } from '../labels.ts'

/**
 * The reason dockershim gave a container that Docker could not start (missing executable, bad
 * mount): it stays `created` with an exit code and an error, and never runs.
 */
export const CANNOT_RUN_REASON = 'ContainerCannotRun'

function stateOf(inspect: Docker.ContainerInspectInfo): ContainerState {
  switch (inspect.State.Status) {
    case 'created':
      // A failed start leaves the container "created" with the failure recorded: it is over.
      return inspect.State.Error !== '' && inspect.State.ExitCode !== 0 ? 'exited' : 'created'
    case 'running':
    case 'paused':
    case 'restarting':
      return 'running'
    case 'exited':
    case 'dead':
      return 'exited'
    default:
      return 'unknown'
  }
}

function reasonOf(inspect: Docker.ContainerInspectInfo): string {
  if (inspect.State.Status === 'created') return CANNOT_RUN_REASON
  if (inspect.State.OOMKilled) return 'OOMKilled'
  return inspect.State.ExitCode === 0 ? 'Completed' : 'Error'
}

export function containerStatusFrom(inspect: Docker.ContainerInspectInfo): ContainerStatus {
  const labels = inspect.Config.Labels ?? {}
  const state = stateOf(inspect)
  const attempt = Number.parseInt(labels[RUNTIME_LABELS.attempt] ?? '0', 10)
  const status: {
    -readonly [K in keyof ContainerStatus]: ContainerStatus[K]
  } = {
    id: inspect.Id,
    sandboxId: labels[RUNTIME_LABELS.sandboxId] ?? '',
    pod: podFromLabels(labels),
    name: labels[RUNTIME_LABELS.containerName] ?? '',
    attempt: Number.isSafeInteger(attempt) ? attempt : 0,
    image: inspect.Config.Image,
    imageId: inspect.Image,
    state,
    createdAtMs: msFromRfc3339(inspect.Created) ?? 0,
    labels,
  }
  const startedAtMs = msFromRfc3339(inspect.State.StartedAt)
  if (startedAtMs !== undefined) status.startedAtMs = startedAtMs
  const specHash = labels[RUNTIME_LABELS.specHash]
  if (specHash !== undefined) status.specHash = specHash
  if (state === 'exited') {
    const finishedAtMs = msFromRfc3339(inspect.State.FinishedAt)
    // Docker records StartedAt only once runc has started the process, and a process that exits at
    // once can be recorded as finished before that moment: never report an end before the start.
    if (finishedAtMs !== undefined) status.finishedAtMs = Math.max(finishedAtMs, startedAtMs ?? finishedAtMs)
    status.exitCode = inspect.State.ExitCode
    status.reason = reasonOf(inspect)
    if (inspect.State.Error !== '') status.message = inspect.State.Error
  }
  return status
}

/** The pod IP of a sandbox on the bridge network (Docker puts it in two places). */
function sandboxIpOf(inspect: Docker.ContainerInspectInfo): string | undefined {
  const settings = inspect.NetworkSettings as Docker.ContainerInspectInfo['NetworkSettings'] & { readonly IPAddress?: string }
  if (settings.IPAddress !== '' && settings.IPAddress !== undefined) return settings.IPAddress
  for (const network of Object.values(settings.Networks ?? {})) {
    if (network.IPAddress !== '' && network.IPAddress !== undefined) return network.IPAddress
  }
  return undefined
}

export function sandboxStatusFrom(inspect: Docker.ContainerInspectInfo): SandboxStatus {
  const labels = inspect.Config.Labels ?? {}
  const running = inspect.State.Running && inspect.State.Pid > 0
  const status: { -readonly [K in keyof SandboxStatus]: SandboxStatus[K] } = {
    id: inspect.Id,
    pod: podFromLabels(labels),
    state: running ? 'ready' : 'notready',
    createdAtMs: msFromRfc3339(inspect.Created) ?? 0,
    labels,
  }
  if (running) {
    const ip = sandboxIpOf(inspect)
    if (ip !== undefined) status.ip = ip
    status.netnsPath = `/proc/${inspect.State.Pid}/ns/net`
  }
  return status
}

/** The sandbox's network mode as created (bridge, none, host). */
export function sandboxNetworkOf(inspect: Docker.ContainerInspectInfo): string {
  return inspect.HostConfig.NetworkMode ?? 'bridge'
}
