/**
 * exec probes: run the command in the container (no shell) through the runtime; exit code 0 is
 * success, anything else failure with the command's output as the message, a timeout failure
 * (Kubernetes' ExecProbeTimeout behaviour, on by default since 1.20). A runtime error (container
 * gone, engine unreachable) means the probe could not run: `unknown`, and the result is thrown
 * away.
 */
import type { ContainerRuntime } from '../../../../runtime/src/runtime.ts'
import type { ProbeOutcome } from './probe-state.ts'

export interface ExecProbeRequest {
  readonly runtime: ContainerRuntime
  readonly containerId: string
  readonly command: readonly string[]
  readonly timeoutMs: number
}

export async function probeExec(request: ExecProbeRequest): Promise<ProbeOutcome> {
  const { command } = request
  if (command.length === 0) return { result: 'unknown', message: 'exec probe has no command' }
  let result
  try {
    result = await request.runtime.execSync(request.containerId, command, request.timeoutMs)
  } catch (error) {
    return { result: 'unknown', message: error instanceof Error ? error.message : String(error) }
  }
  const quoted = JSON.stringify(command.join(' '))
  if (result.timedOut) return { result: 'failure', message: `command ${quoted} timed out` }
  const output = `${result.stdout}${result.stderr}`
  if (result.exitCode === 0) return { result: 'success', message: output }
  return { result: 'failure', message: output.trim() === '' ? `command ${quoted} exited with ${result.exitCode}` : output }
}
