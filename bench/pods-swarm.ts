/**
 * The pod startup benchmark's peer: Docker Swarm on the same engine, one node (bench/
 * controllers-swarm.ts `openSwarm` makes the engine a manager when it is not one, and leaves at
 * the end only then; the image `busybox-local` is built locally, never pulled).
 *
 * One size: `docker service create --detach --replicas N --stop-grace-period 0s busybox-local
 * sleep 3600`, then `docker service ps` every 250 ms until every task is Running. Each task's
 * startup is read from the engine afterwards: `docker inspect <task>` gives `Status.Timestamp`,
 * when the task entered its current state (running), measured from the wall-clock time just before
 * the `docker service create` command was started (so the CLI's own start is included, as the
 * POST is on the Flotilla side). These are engine-side times: unlike Flotilla's, they include no
 * delivery to a client. Then `docker service rm`, and the benchmark waits until no container of
 * the service is left. `--stop-grace-period 0s` matches the pods' terminationGracePeriodSeconds 0
 * and only shortens the teardown.
 */
import os from 'node:os'
import { docker, openSwarm, SWARM_IMAGE, taskStates, type SwarmSession } from './controllers-swarm.ts'
import { describeError } from './load.ts'
import { atExit, cancelAtExit, dockerSync, waitContainersGone } from './pods-docker.ts'
import { PodsDeadlineError, sampleOf, sizeDeadlineMs, type StartupSample } from './pods-shape.ts'
import { sleep } from './processes.ts'

const SERVICE_PREFIX = 'flotilla-pods-bench-'
/** `docker service ps` poll period while waiting for the tasks. */
const POLL_MS = 250
/** Swarm labels each task's container with its service's name. */
const SERVICE_LABEL_KEY = 'com.docker.swarm.service.name'

/** A task as `docker inspect` shows it (the fields read here). */
interface InspectedTask {
  readonly ID?: string
  readonly Status?: { readonly State?: string; readonly Timestamp?: string }
}

/** A Swarm sample also keeps when the poll saw every task Running (client side). */
export interface SwarmStartupSample extends StartupSample {
  /** From the create to the `docker service ps` poll that first showed every task Running. */
  readonly detectedAllRunningMs?: number
}

export interface SwarmPodsInfo {
  readonly version: string
  readonly swarmNodes: number
  readonly notes: readonly string[]
}

export class SwarmPodsPath {
  readonly info: SwarmPodsInfo
  private readonly session: SwarmSession

  private constructor(session: SwarmSession) {
    this.session = session
    this.info = {
      version: session.version,
      swarmNodes: session.swarmNodes,
      notes: [
        ...session.notes,
        `docker service create --detach --replicas N --stop-grace-period 0s ${SWARM_IMAGE} sleep 3600`,
        "startup = create command started -> the task's Status.Timestamp of state running (engine side, from docker inspect)",
      ],
    }
  }

  /** Makes the engine a swarm manager with the image present (see openSwarm). */
  static async open(): Promise<SwarmPodsPath> {
    const session = await openSwarm()
    if (session.initialisedHere) atExit('docker swarm leave', () => dockerSync(['swarm', 'leave', '--force']))
    return new SwarmPodsPath(session)
  }

  /** One size: create the service, wait for every task Running, remove it and its containers. */
  async measure(replicas: number, run: number): Promise<SwarmStartupSample> {
    const name = `${SERVICE_PREFIX}${replicas}-r${run}-${process.pid}`
    const base = { system: 'swarm' as const, replicas, run, loadAverage1m: os.loadavg()[0] ?? 0 }
    const exitKey = `docker service rm ${name}`
    atExit(exitKey, () => dockerSync(['service', 'rm', name]))
    let result: Omit<SwarmStartupSample, 'teardownMs'>
    const createWallMs = Date.now()
    const startMs = performance.now()
    try {
      await docker(['service', 'create', '--detach', '--name', name, '--replicas', String(replicas), '--stop-grace-period', '0s', SWARM_IMAGE, 'sleep', '3600'])
      const createRequestMs = performance.now() - startMs
      const deadlineMs = sizeDeadlineMs(replicas)
      let detectedAllRunningMs: number | undefined
      while (detectedAllRunningMs === undefined) {
        const running = (await taskStates(name)).filter((state) => state === 'running').length
        const elapsedMs = performance.now() - startMs
        if (running >= replicas) detectedAllRunningMs = elapsedMs
        else if (elapsedMs > deadlineMs) throw new PodsDeadlineError(`${running} of ${replicas} tasks running after ${deadlineMs} ms`)
        else await sleep(POLL_MS)
      }
      result = sampleOf({ ...base, createRequestMs, detectedAllRunningMs }, await taskStartupsMs(name, createWallMs))
    } catch (error) {
      const partial = await taskStartupsMs(name, createWallMs).catch(() => [])
      result = sampleOf({ ...base, error: describeError(error) }, partial)
    }
    try {
      const teardownStartMs = performance.now()
      await docker(['service', 'rm', name])
      cancelAtExit(exitKey)
      return { ...result, teardownMs: await waitContainersGone(`${SERVICE_LABEL_KEY}=${name}`, teardownStartMs, sizeDeadlineMs(0)) }
    } catch (error) {
      const teardownError = `teardown: ${describeError(error)}`
      return { ...result, error: result.error === undefined ? teardownError : `${result.error}; ${teardownError}` }
    }
  }

  /** Leaves the swarm if open() created it. */
  async close(): Promise<void> {
    await this.session.close()
    cancelAtExit('docker swarm leave')
  }
}

/** Each running task's startup, ms from `createWallMs` (epoch ms), from the engine's timestamps. */
async function taskStartupsMs(service: string, createWallMs: number): Promise<number[]> {
  const ids = (await docker(['service', 'ps', service, '-q', '--no-trunc', '--filter', 'desired-state=running']))
    .split('\n')
    .map((id) => id.trim())
    .filter((id) => id !== '')
  if (ids.length === 0) return []
  const tasks = JSON.parse(await docker(['inspect', ...ids])) as InspectedTask[]
  const startups: number[] = []
  for (const task of tasks) {
    if (task.Status?.State !== 'running') continue
    const enteredMs = Date.parse(task.Status.Timestamp ?? '')
    if (Number.isFinite(enteredMs)) startups.push(enteredMs - createWallMs)
  }
  return startups
}
