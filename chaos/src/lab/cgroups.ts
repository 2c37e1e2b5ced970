/**
 * One cgroup v1 subtree per emulated host (`/sys/fs/cgroup/<controller>/fl-hN`), holding its
 * engine (`engine`), its daemon (`agent`) and, through dockerd's --cgroup-parent, its containers.
 * Killing a host means killing exactly the processes of that subtree: never anything found by name,
 * because other engines on the machine run the same binaries.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor } from '../../../lib/poll.ts'
import { HOST_CGROUP_CONTROLLERS } from './plan.ts'

export const CGROUP_ROOT = '/sys/fs/cgroup'
const FREEZE_TIMEOUT_MS = 5_000

/** Creates `<cgroup>/<child>` under every host controller; returns the `cgroup.procs` files to join. */
export function makeHostCgroup(cgroup: string, child: string): string[] {
  return HOST_CGROUP_CONTROLLERS.map((controller) => {
    const directory = join(CGROUP_ROOT, controller, cgroup, child)
    mkdirSync(directory, { recursive: true })
    return join(directory, 'cgroup.procs')
  })
}

/** Every PID in the host's freezer subtree (which every host process joins first). */
export function hostPids(cgroup: string): number[] {
  const root = join(CGROUP_ROOT, 'freezer', cgroup)
  const pids: number[] = []
  const visit = (directory: string): void => {
    let procs = ''
    try {
      procs = readFileSync(join(directory, 'cgroup.procs'), 'utf8')
    } catch {
      return
    }
    for (const line of procs.split('\n')) if (line !== '') pids.push(Number(line))
    for (const entry of readdirSync(directory, { withFileTypes: true })) if (entry.isDirectory()) visit(join(directory, entry.name))
  }
  if (existsSync(root)) visit(root)
  return pids
}

/**
 * SIGKILLs every process of the host. The subtree is frozen first so nothing forks while we kill,
 * then thawed: frozen tasks die as soon as they run again.
 */
export async function killHostProcesses(cgroup: string): Promise<void> {
  const freezer = join(CGROUP_ROOT, 'freezer', cgroup, 'freezer.state')
  if (!existsSync(freezer)) return
  writeFileSync(freezer, 'FROZEN')
  await waitFor(`cgroup ${cgroup} to freeze`, FREEZE_TIMEOUT_MS, () => (readFileSync(freezer, 'utf8').trim() === 'FROZEN' ? true : undefined)).catch(() => undefined)
  for (const pid of hostPids(cgroup)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
  writeFileSync(freezer, 'THAWED')
  await waitFor(`the processes of ${cgroup} to die`, FREEZE_TIMEOUT_MS, () => (hostPids(cgroup).length === 0 ? true : undefined))
}

/**
 * Removes the host's cgroup directories under every controller, deepest first. That includes
 * controllers the lab never created directories in: Docker makes `fl-hN/<container>` in blkio,
 * cpuset, devices and the systemd hierarchies too, and a killed container leaves them behind.
 */
export function removeHostCgroups(cgroup: string): void {
  let controllers: string[] = []
  try {
    controllers = readdirSync(CGROUP_ROOT)
  } catch {
    return
  }
  const remove = (directory: string): void => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) if (entry.isDirectory()) remove(join(directory, entry.name))
    rmdirSync(directory)
  }
  for (const controller of controllers) {
    const directory = join(CGROUP_ROOT, controller, cgroup)
    if (existsSync(directory)) remove(directory)
  }
}

/** The host cgroup directories that still exist (for verification after teardown). */
export function leftoverHostCgroups(cgroup: string): string[] {
  let controllers: string[] = []
  try {
    controllers = readdirSync(CGROUP_ROOT)
  } catch {
    return []
  }
  return controllers.map((controller) => join(CGROUP_ROOT, controller, cgroup)).filter((directory) => existsSync(directory))
}
