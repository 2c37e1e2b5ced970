/**
 * One lab at a time on this machine: the lab's namespaces (`fl-ul`, `fl-hN`), cgroups and run
 * directories have fixed names, so two tests building labs at once would tear down each other's.
 * Every test that runs `flotilla lab up` holds this lock for its whole life.
 *
 * The lock is a file created exclusively (`wx`) holding the owner's PID. A lock whose PID no longer
 * exists was left by a process that died without its `finally` (SIGKILL, a crashed runner) and is
 * taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { FlotillaError } from '../../lib/errors.ts'

export const LAB_LOCK_FILE = '/tmp/flotilla-lab.lock'
const POLL_INTERVAL_MS = 500

/** The lab lock was still held by a live process when the deadline passed. */
export class LabLockTimeoutError extends FlotillaError {
  override name = 'LabLockTimeoutError'
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The PID recorded in the lock file, or undefined when it is absent, empty or unreadable. */
function lockOwner(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

function tryAcquire(file: string): boolean {
  let fd: number
  try {
    fd = openSync(file, 'wx')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
  try {
    writeSync(fd, `${process.pid}\n`)
  } finally {
    closeSync(fd)
  }
  return true
}

/**
 * Runs `fn` while holding the machine-wide lab lock; waits up to `timeoutMs` for it. The lock is
 * released when `fn` settles, whichever way.
 */
export async function withLabLock<T>(fn: () => Promise<T>, timeoutMs = 600_000, file = LAB_LOCK_FILE): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (tryAcquire(file)) break
    const owner = lockOwner(file)
    if (owner === undefined || !pidAlive(owner)) {
      // A dead owner's lock, or one caught between create and write: an empty file older than a
      // poll interval is treated as dead too, re-checked on the next round if it was not.
      if (owner !== undefined || (await isStaleEmpty(file))) {
        try {
          unlinkSync(file)
        } catch {
          // Another waiter took it over first.
        }
        continue
      }
    }
    if (performance.now() >= deadline) throw new LabLockTimeoutError(`the lab lock ${file} is still held by PID ${owner ?? '?'} after ${timeoutMs} ms`)
    await sleep(POLL_INTERVAL_MS)
  }
  try {
    return await fn()
  } finally {
    if (lockOwner(file) === process.pid) unlinkSync(file)
  }
}

/** Whether the lock file is still empty after a poll interval (its creator died before writing). */
async function isStaleEmpty(file: string): Promise<boolean> {
  await sleep(POLL_INTERVAL_MS)
  try {
    return readFileSync(file, 'utf8').trim() === ''
  } catch {
    return false
  }
}
