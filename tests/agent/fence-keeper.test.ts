// Goal: the fence keeper outlives the daemon: while the daemon's heartbeat is fresh it leaves
// everything alone; after it was itself frozen longer than the stale bound it fences at once;
// once the heartbeat stops, it kills this node's running containers labelled at-most-once
// (StatefulSet pods) and nothing else; a second start reuses the running keeper; it
// exits when the data directory is removed.
// Method: FenceHeartbeat and the real keeper process against the local Docker engine, with two
// busybox containers (labelled and not) that the test creates and removes.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { DOCKER_SOCKET_PATH } from '../../runtime/src/docker-runtime.ts'
import { ensureLocalImages } from '../../runtime/src/local-images.ts'
import { RUNTIME_LABELS } from '../../runtime/src/runtime.ts'
import { AT_MOST_ONCE_LABEL, FenceHeartbeat, keeperFiles, keeperVerdict } from '../../node/src/agent/fence-keeper.ts'
import { engineUnavailable, testDocker } from '../runtime/docker-engine.ts'

t.test('the keeper kills only when the heartbeat is older than the stale bound', async (t) => {
  t.equal(keeperVerdict(0, 3000), 'guard')
  t.equal(keeperVerdict(3000, 3000), 'guard')
  t.equal(keeperVerdict(3001, 3000), 'kill')
  t.equal(keeperVerdict(Number.POSITIVE_INFINITY, 3000), 'kill', 'no heartbeat file at all')
})

const unavailable = await engineUnavailable()
if (unavailable !== undefined && process.env['CI'] === 'true') t.fail(unavailable)

t.test('after the daemon stops beating, the keeper kills the at-most-once containers only', { skip: unavailable ?? false, timeout: 120_000 }, async (t) => {
  const nodeName = `keeper-test-${randomUUID().slice(0, 8)}`
  const dataDirectory = mkdtempSync(join(tmpdir(), 'flotilla-keeper-'))
  const files = keeperFiles(dataDirectory)
  const docker = testDocker
  t.teardown(async () => {
    rmSync(dataDirectory, { recursive: true, force: true })
    for (const container of await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${RUNTIME_LABELS.node}=${nodeName}`] }) })) {
      await docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)
    }
  })
  await ensureLocalImages(docker)
  const run = async (name: string, labels: Record<string, string>): Promise<string> => {
    const container = await docker.createContainer({ Image: 'flotilla/busybox:local', Cmd: ['sleep', '3600'], Labels: { [RUNTIME_LABELS.node]: nodeName, [RUNTIME_LABELS.podName]: name, [RUNTIME_LABELS.podNamespace]: 'default', ...labels } })
    await container.start()
    return container.id
  }
  const guarded = await run('db-0', { [AT_MOST_ONCE_LABEL]: 'true' })
  const free = await run('web', {})
  const running = async (id: string): Promise<boolean> => (await docker.getContainer(id).inspect()).State.Running

  const heartbeat = new FenceHeartbeat({ dataDirectory, dockerSocket: DOCKER_SOCKET_PATH, nodeName, staleMs: 1500, log: () => {} })
  heartbeat.start()
  const pid = Number(readFileSync(files.pid, 'utf8').trim())
  t.ok(pid > 0, `the keeper runs (pid ${pid})`)
  await waitFor('the keeper to start guarding', 20_000, () => (readFileSync(files.log, 'utf8').includes('guarding') ? true : undefined), 100)
  // While the heartbeat is fresh (a second start reuses the keeper), nothing is touched.
  const second = new FenceHeartbeat({ dataDirectory, dockerSocket: DOCKER_SOCKET_PATH, nodeName, staleMs: 1500, log: () => {} })
  second.start()
  t.equal(Number(readFileSync(files.pid, 'utf8').trim()), pid, 'a second start reuses the running keeper')
  // Observed for twice the stale bound: a fresh heartbeat keeps the guarded container alive.
  let stillRunning = true
  for (const untilMs = performance.now() + 3000; performance.now() < untilMs && stillRunning;) {
    stillRunning = await running(guarded)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  t.ok(stillRunning, 'the guarded container runs while the daemon beats')

  // Frozen (SIGSTOP) for longer than the stale bound while the daemon keeps beating: on waking
  // the keeper fences at once, whatever the fresh heartbeat says.
  process.kill(pid, 'SIGSTOP')
  const frozenUntilMs = performance.now() + 2500
  while (performance.now() < frozenUntilMs) await new Promise((resolve) => setTimeout(resolve, 100))
  process.kill(pid, 'SIGCONT')
  await waitFor('the woken keeper to kill the guarded container', 15_000, async () => (!(await running(guarded)) ? true : undefined), 100)
  t.match(readFileSync(files.log, 'utf8'), /did not run for \d+ ms \(frozen or starved\): fencing/, 'after a stall the keeper fences although the heartbeat is fresh')
  await docker.getContainer(guarded).start()
  t.equal(await running(guarded), true, 'started again for the next case')

  heartbeat.stop()
  second.stop()
  const stoppedAtMs = performance.now()
  await waitFor('the keeper to kill the guarded container', 30_000, async () => (!(await running(guarded)) ? true : undefined), 100)
  t.pass(`the at-most-once container was killed ${Math.round(performance.now() - stoppedAtMs)} ms after the last beat (stale bound 1500 ms)`)
  t.equal(await running(free), true, 'the other container keeps running')
  t.match(readFileSync(files.log, 'utf8'), /killed default\/db-0/, 'the keeper says what it killed')

  rmSync(dataDirectory, { recursive: true, force: true })
  await waitFor('the keeper to exit once the data directory is gone', 20_000, () => {
    try {
      process.kill(pid, 0)
      return undefined
    } catch {
      return true
    }
  }, 100)
  t.pass('the keeper exited')
})
