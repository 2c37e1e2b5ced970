/**
 * Host faults through the lab's per-host cgroups: kill (cable pulled, every process SIGKILLed),
 * restart keeping the disk (engine, then the daemon with `flotilla start`), freeze/thaw (cgroup v1
 * freezer) and a daemon-only crash that leaves the engine and the containers running.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FlotillaError } from '../../../lib/errors.ts'
import { waitFor } from '../../../lib/poll.ts'
import { CLOCK_SKEW_ENV } from '../../../lib/timers.ts'
import { CGROUP_ROOT, killHostProcesses } from '../lab/cgroups.ts'
import { daemonLogFile, startDaemonFromData } from '../lab/daemons.ts'
import { removeShimSockets, startEngine, unmountHost, waitForEngine } from '../lab/engine.ts'
import { processAlive } from '../lab/exec.ts'
import { readLabState, type LabState } from '../lab/lab.ts'
import type { HostPlan, LabPlan } from '../lab/plan.ts'
import type { SwitchChaos } from './switch.ts'

/** A daemon restarted from its disk exited before it reported that it started. */
export class DaemonRestartError extends FlotillaError {
  override name = 'DaemonRestartError'
}

const FREEZE_TIMEOUT_MS = 5_000
export const DAEMON_RESTART_TIMEOUT_MS = 60_000

/** Kills the whole host: cable pulled first (so peers see silence, not resets), then every process. */
export async function killHost(network: SwitchChaos, host: HostPlan): Promise<void> {
  await network.setPort(host.name, false)
  await killHostProcesses(host.cgroup)
}

/**
 * Boots a killed host again with its disk: the volatile run directory is wiped (as a reboot would),
 * the engine starts and answers, the daemon starts from its data directory, the cable goes back in.
 */
export async function restartHost(plan: LabPlan, network: SwitchChaos, host: HostPlan): Promise<void> {
  await killHostProcesses(host.cgroup)
  removeShimSockets(host)
  await unmountHost(host)
  rmSync(host.runDirectory, { recursive: true, force: true })
  const enginePid = startEngine(plan, host)
  await waitForEngine(plan, host, enginePid)
  await network.setPort(host.name, true)
  const daemonPid = await startDaemonFromDisk(plan, host)
  updateLabState(plan, (state) => {
    state.enginePids[host.name] = enginePid
    state.daemonPids[host.name] = daemonPid
  })
}

/** SIGKILLs only the host's daemon (its `agent` cgroup); the engine and the pods keep running. */
export async function crashDaemon(host: HostPlan): Promise<void> {
  const procs = join(CGROUP_ROOT, 'freezer', host.cgroup, 'agent', 'cgroup.procs')
  // A crash kills the daemon and what dies with it, not the fence keeper it started detached
  // (node/src/agent/fence-keeper.ts), which exists to outlive exactly this.
  const isKeeper = (pid: number): boolean => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('fence-keeper-main')
    } catch {
      return false
    }
  }
  const pids = (): number[] => (existsSync(procs) ? readFileSync(procs, 'utf8').split('\n').filter((line) => line !== '').map(Number).filter((pid) => !isKeeper(pid)) : [])
  for (const pid of pids()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
  await waitFor(`the daemon of ${host.name} to die`, FREEZE_TIMEOUT_MS, () => (pids().length === 0 ? true : undefined))
}

/**
 * Starts the host's daemon again from its data directory (after crashDaemon). `clockSkewMs`
 * shifts its wall clock (FLOTILLA_CLOCK_SKEW_MS, lib/timers.ts); 0 or absent is the true clock.
 */
export async function restartDaemon(plan: LabPlan, host: HostPlan, clockSkewMs = 0): Promise<void> {
  const pid = await startDaemonFromDisk(plan, host, clockSkewMs)
  updateLabState(plan, (state) => {
    state.daemonPids[host.name] = pid
  })
}

export async function freezeHost(host: HostPlan): Promise<void> {
  await setFreezer(host, 'FROZEN')
}

export async function thawHost(host: HostPlan): Promise<void> {
  await setFreezer(host, 'THAWED')
}

async function setFreezer(host: HostPlan, state: 'FROZEN' | 'THAWED'): Promise<void> {
  const file = join(CGROUP_ROOT, 'freezer', host.cgroup, 'freezer.state')
  writeFileSync(file, state)
  await waitFor(`${host.name} to be ${state}`, FREEZE_TIMEOUT_MS, () => (readFileSync(file, 'utf8').trim() === state ? true : undefined), 20)
}

/** `flotilla start` from the host's disk (lab/daemons.ts); resolves once it says it started. */
async function startDaemonFromDisk(plan: LabPlan, host: HostPlan, clockSkewMs = 0): Promise<number> {
  const logFile = daemonLogFile(plan, host)
  const logLength = existsSync(logFile) ? readFileSync(logFile).length : 0
  const pid = startDaemonFromData(plan, host, { [CLOCK_SKEW_ENV]: clockSkewMs === 0 ? '' : String(clockSkewMs) })
  await waitFor(`the daemon on ${host.name} to start from its disk`, DAEMON_RESTART_TIMEOUT_MS, () => {
    const text = readFileSync(logFile).subarray(logLength).toString('utf8')
    if (/started from/.test(text)) return true
    if (!processAlive(pid)) throw new DaemonRestartError(`the daemon on ${host.name} exited during restart:\n${text.trim().split('\n').slice(-15).join('\n')}`)
    return undefined
  }, 100)
  return pid
}

function updateLabState(plan: LabPlan, change: (state: LabState) => void): void {
  const state = readLabState(plan.directory)
  if (state === undefined) return
  change(state)
  writeFileSync(plan.stateFile, `${JSON.stringify(state, null, 2)}\n`)
}
