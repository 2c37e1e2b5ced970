/**
 * What the tests that build a lab share: the prerequisite check, the flotilla CLI, kubectl inside
 * host h1 (the lab's API addresses exist only there) and each host's Docker engine.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import Docker from 'dockerode'
import { withoutTestInstrumentation } from '../cluster/daemon-cluster.ts'

export const CLI = resolve(import.meta.dirname, '../../node/src/cli.ts')
export const KUBECTL = resolve(import.meta.dirname, '../../.tools/kubectl120/usr/bin/kubectl')
export const execFileAsync = promisify(execFile)

/** Why a lab cannot be built here, or undefined when it can. */
export async function missingPrerequisite(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the lab needs root'
  if (!existsSync(KUBECTL)) return `kubectl 1.20 is not installed at ${KUBECTL}`
  try {
    await execFileAsync('ip', ['netns', 'list'])
    await execFileAsync('dockerd', ['--version'])
  } catch (error) {
    return `\`ip netns\` or dockerd is unavailable: ${(error as Error).message}`
  }
  return undefined
}

/** Runs the flotilla CLI; resolves with exit code and output (never rejects on a non-zero exit). */
export async function flotilla(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: withoutTestInstrumentation(process.env) })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof failure.code === 'number' ? failure.code : -1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? String(error) }
  }
}

/** kubectl inside host h1's network namespace: the lab's API addresses exist only there. */
export async function kubectl(kubeconfig: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('nsenter', ['--net=/run/netns/fl-h1', '--', KUBECTL, '--kubeconfig', kubeconfig, ...args], { timeout: 20_000 })
  return stdout
}

/** The Docker engine of lab host `host` (h1, h2, …). */
export function engine(host: string): Docker {
  return new Docker({ socketPath: `/run/fl-${host}/docker.sock` })
}

/** Lab namespaces (`fl-ul`, `fl-hN`) that exist on the machine. */
export async function labNamespaces(): Promise<string[]> {
  const { stdout } = await execFileAsync('ip', ['netns', 'list'])
  return stdout.split('\n').filter((line) => /^fl-(ul|h\d+)\b/.test(line))
}

/** Command lines of processes that belong to the lab in `directory` (engines, shims, daemons). */
export function labProcesses(directory: string): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
      } catch {
        return ''
      }
    })
    .filter((command) => command.includes(directory) || command.includes('/run/fl-h'))
}

/**
 * Lab teardown registered by a scenario; run before the lab lock is released (a tap teardown
 * would run after it, when another test may already be building its lab).
 */
export const labCleanups: (() => Promise<void>)[] = []

export async function runThenClean(scenario: () => Promise<void>): Promise<void> {
  try {
    await scenario()
  } finally {
    for (const cleanup of labCleanups.splice(0)) await cleanup()
  }
}
