/**
 * Docker containers of the pod startup benchmark: how many carry a label, waiting until none
 * does, removing them, and last-resort cleanup when the process exits (Ctrl-C, SIGTERM, an
 * uncaught error). bench/processes.ts kills the daemon at exit; the containers it started outlive
 * it, so an exit handler here removes them synchronously, after that one (it is installed later).
 */
import { execFileSync } from 'node:child_process'
import { describeError } from './load.ts'
import { docker } from './controllers-swarm.ts'
import { PodsDeadlineError } from './pods-shape.ts'
import { sleep } from './processes.ts'

/** How often a teardown checks whether the containers are gone. */
const TEARDOWN_POLL_MS = 250
/** Deadline of one synchronous docker command at exit. */
const EXIT_COMMAND_TIMEOUT_MS = 60_000

/** The ids of every container (any state) labelled `label` (`key=value`). */
export async function containerIds(label: string): Promise<string[]> {
  const out = await docker(['ps', '-aq', '--filter', `label=${label}`], 30_000)
  return out.split('\n').filter((id) => id.trim() !== '')
}

/** Waits until no container carries `label`; returns how long that took from `sinceMs`. */
export async function waitContainersGone(label: string, sinceMs: number, deadlineMs: number): Promise<number> {
  for (;;) {
    const ids = await containerIds(label)
    const elapsedMs = performance.now() - sinceMs
    if (ids.length === 0) return elapsedMs
    if (elapsedMs > deadlineMs) throw new PodsDeadlineError(`${ids.length} containers labelled ${label} still exist ${Math.round(elapsedMs)} ms after the delete`)
    await sleep(TEARDOWN_POLL_MS)
  }
}

/** Force-removes every container labelled `label`; returns how many there were. */
export async function removeContainers(label: string): Promise<number> {
  const ids = await containerIds(label)
  if (ids.length > 0) await docker(['rm', '-f', ...ids], 120_000)
  return ids.length
}

const exitActions = new Map<string, () => void>()
let exitHandlerInstalled = false

/**
 * Runs `action` (synchronous) when the process exits, unless `cancelAtExit(key)` came first. Call
 * after bench/processes.ts installCleanupHandlers, so that the daemons are killed before it runs.
 */
export function atExit(key: string, action: () => void): void {
  if (!exitHandlerInstalled) {
    exitHandlerInstalled = true
    process.on('exit', () => {
      // Last registered, first run (like deferred calls): a service goes before the swarm it is in.
      for (const [name, run] of [...exitActions].reverse()) {
        try {
          run()
        } catch (error) {
          process.stderr.write(`cleanup at exit (${name}): ${describeError(error)}\n`)
        }
      }
      exitActions.clear()
    })
  }
  exitActions.set(key, action)
}

export function cancelAtExit(key: string): void {
  exitActions.delete(key)
}

/** Runs one docker command synchronously (for exit handlers); returns its stdout. */
export function dockerSync(args: readonly string[]): string {
  return execFileSync('docker', [...args], { encoding: 'utf8', timeout: EXIT_COMMAND_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** removeContainers, synchronously (for exit handlers). */
export function removeContainersSync(label: string): void {
  const ids = dockerSync(['ps', '-aq', '--filter', `label=${label}`]).split('\n').filter((id) => id.trim() !== '')
  if (ids.length > 0) dockerSync(['rm', '-f', ...ids])
}
