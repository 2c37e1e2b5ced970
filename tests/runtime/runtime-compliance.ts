/**
 * The behaviour every ContainerRuntime must show, run against each implementation
 * (tests/runtime/docker-runtime.test.ts on the real engine, hollow-runtime.test.ts on simulated
 * time). The contract is documented in runtime/src/runtime.ts; each case names what it checks.
 *
 * Only what Docker and the hollow runtime both guarantee is asserted. In particular, a busybox
 * PID 1 ignores SIGTERM, so a stop always waits the grace period and ends with exit code 137.
 * What a simulation cannot do is behind an explicit capability flag.
 *
 * Timing: waits poll a condition under a deadline. With simulated time (`advance`), polling moves
 * the clock forward in small steps instead; the deadline is then in simulated milliseconds.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex, Readable } from 'node:stream'

import type { Test } from 'tap'

import { TimeoutError } from '../../lib/errors.ts'
import { BUSYBOX_IMAGE, PAUSE_IMAGE } from '../../runtime/src/local-images.ts'
import {
  ImageNotPresentError,
  NotFoundError,
  NotRunningError,
  RUNTIME_LABELS,
  RuntimeError,
  type ContainerConfig,
  type ContainerRuntime,
  type ContainerStatus,
  type SandboxConfig,
  type SandboxStatus,
} from '../../runtime/src/runtime.ts'

/** One implementation under test, fresh for every case. */
export interface RuntimeFixture {
  readonly runtime: ContainerRuntime
  /**
   * Another runtime on the same engine for `nodeName`: the same node (a restarted daemon adopting
   * containers) or another one (isolation). The fixture's cleanup covers its objects too.
   */
  runtimeFor(nodeName: string): ContainerRuntime
  /** Moves simulated time forward; absent when the runtime lives in real time. */
  readonly advance?: (ms: number) => void
  /** The runtime's wall clock (simulated or real), in ms. */
  nowMs(): number
  /** Removes everything the case created. */
  cleanup(): Promise<void>
}

/** What an implementation can do beyond the common core. */
export interface RuntimeCapabilities {
  /** Bind mounts of host directories (Docker: yes; a simulation has no files to mount). */
  readonly mounts: boolean
  /** Port-forward into a bridge sandbox (both: Docker over TCP, hollow in memory). */
  readonly portForward: boolean
}

const WAIT_MS = 15_000
const REAL_POLL_MS = 20
const SIMULATED_STEP_MS = 50

/** Polls `probe` until it returns a value, advancing simulated time between polls when there is some. */
export async function eventually<T>(fixture: RuntimeFixture, what: string, probe: () => Promise<T | undefined> | T | undefined, budgetMs = WAIT_MS): Promise<T> {
  const started = performance.now()
  let simulatedMs = 0
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (fixture.advance !== undefined) {
      if (simulatedMs >= budgetMs) throw new TimeoutError(`Timed out after ${budgetMs} simulated ms waiting for ${what}`)
      fixture.advance(SIMULATED_STEP_MS)
      simulatedMs += SIMULATED_STEP_MS
      await new Promise((resolve) => setImmediate(resolve))
    } else {
      if (performance.now() - started > budgetMs) throw new TimeoutError(`Timed out after ${budgetMs} ms waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, REAL_POLL_MS))
    }
  }
}

/** Awaits `promise`, moving simulated time forward while it is pending. */
export async function settle<T>(fixture: RuntimeFixture, what: string, promise: Promise<T>, budgetMs = WAIT_MS): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined
  promise.then((value) => (outcome = { value }), (error: unknown) => (outcome = { error }))
  await eventually(fixture, what, () => (outcome === undefined ? undefined : true), budgetMs)
  if (outcome !== undefined && 'error' in outcome) throw outcome.error
  return (outcome as { value: T }).value
}

/** The whole text of a stream (waiting for its end). */
export function textOf(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer | string) => chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk))
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    stream.once('error', reject)
  })
}

export function podRef(): SandboxConfig['pod'] {
  const uid = randomUUID()
  return { uid, name: `pod-${uid.slice(0, 6)}`, namespace: 'compliance' }
}

export function sandboxConfig(overrides: Partial<SandboxConfig> = {}): SandboxConfig {
  const pod = overrides.pod ?? podRef()
  return { pod, hostname: pod.name, network: 'bridge', ...overrides }
}

export function containerConfig(name: string, overrides: Partial<ContainerConfig> = {}): ContainerConfig {
  return { name, attempt: 0, image: BUSYBOX_IMAGE, ...overrides }
}

/** A busybox container in `sandboxId`, started, running `script` under `sh -c`. */
export async function startScript(runtime: ContainerRuntime, sandboxId: string, name: string, script: string, overrides: Partial<ContainerConfig> = {}): Promise<string> {
  const id = await runtime.createContainer(sandboxId, containerConfig(name, { command: ['sh', '-c', script], ...overrides }))
  await runtime.startContainer(id)
  return id
}

export async function exitedStatus(fixture: RuntimeFixture, id: string, budgetMs = WAIT_MS): Promise<ContainerStatus> {
  return eventually(fixture, `container ${id} to exit`, async () => {
    const status = await fixture.runtime.containerStatus(id)
    return status.state === 'exited' ? status : undefined
  }, budgetMs)
}

async function logText(fixture: RuntimeFixture, id: string, options: Parameters<ContainerRuntime['logs']>[1] = {}): Promise<string> {
  return settle(fixture, `logs of ${id}`, fixture.runtime.logs(id, options).then(textOf))
}

/** Sends one HTTP/1.0 request over `socket` and returns the whole response. */
function httpGet(socket: Duplex, path: string): Promise<string> {
  const response = textOf(socket)
  socket.write(`GET ${path} HTTP/1.0\r\nHost: pod\r\n\r\n`)
  return response
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  return undefined
}

/** Registers the compliance cases for one implementation as subtests of `t`. */
export function runtimeCompliance(t: Test, name: string, factory: () => Promise<RuntimeFixture>, capabilities: RuntimeCapabilities): void {
  const scenario = (title: string, body: (t: Test, fixture: RuntimeFixture, runtime: ContainerRuntime) => Promise<void>, skip?: string): void => {
    void t.test(`${name}: ${title}`, skip === undefined ? {} : { skip }, async (t) => {
      const fixture = await factory()
      t.teardown(() => fixture.cleanup())
      await body(t, fixture, fixture.runtime)
    })
  }

  scenario('images: local ones are present with content ids, missing ones are undefined', async (t, _fixture, runtime) => {
    const busybox = await runtime.imageStatus(BUSYBOX_IMAGE)
    t.ok(busybox?.id.startsWith('sha256:'), 'busybox has a sha256 id')
    t.ok(busybox?.repoTags.includes(BUSYBOX_IMAGE), 'and its tag')
    t.ok((busybox?.sizeBytes ?? 0) > 0, 'and a size')
    t.same((await runtime.imageStatus(busybox?.id ?? ''))?.id, busybox?.id, 'an image is found by id too')
    t.equal(await runtime.imageStatus('flotilla/never-built:local'), undefined, 'a missing image is undefined')
    const listed = await runtime.listImages()
    t.ok(listed.some((image) => image.repoTags.includes(PAUSE_IMAGE)), 'the pause image is listed')
    t.ok((await runtime.version()).runtimeVersion !== '', 'the runtime has a version')
  })

  scenario('sandboxes: ready with an IP and labels, listed, stopped, removed idempotently', async (t, _fixture, runtime) => {
    const config = sandboxConfig({ labels: { 'example.com/extra': 'yes' } })
    const sandbox = await runtime.runSandbox(config)
    t.equal(sandbox.state, 'ready')
    t.match(sandbox.ip ?? '', /^\d+\.\d+\.\d+\.\d+$/, 'a bridge sandbox has an IPv4 address')
    t.same(sandbox.pod, config.pod)
    t.equal(sandbox.labels[RUNTIME_LABELS.node], runtime.nodeName)
    t.equal(sandbox.labels[RUNTIME_LABELS.kind], 'sandbox')
    t.equal(sandbox.labels[RUNTIME_LABELS.podUid], config.pod.uid)
    t.equal(sandbox.labels[RUNTIME_LABELS.podName], config.pod.name)
    t.equal(sandbox.labels[RUNTIME_LABELS.podNamespace], config.pod.namespace)
    t.equal(sandbox.labels['example.com/extra'], 'yes', 'caller labels are kept')
    t.same((await runtime.sandboxStatus(sandbox.id)).ip, sandbox.ip)
    t.ok((await runtime.listSandboxes()).some((listed) => listed.id === sandbox.id), 'listed')

    const second = await runtime.runSandbox(sandboxConfig())
    t.not(second.ip, sandbox.ip, 'two sandboxes get different addresses')

    await runtime.stopSandbox(sandbox.id)
    const stopped = await runtime.sandboxStatus(sandbox.id)
    t.equal(stopped.state, 'notready', 'a stopped sandbox is not ready')
    t.equal(stopped.ip, undefined, 'and has no address')
    await runtime.stopSandbox(sandbox.id)
    await runtime.removeSandbox(sandbox.id)
    await runtime.removeSandbox(sandbox.id)
    t.ok((await rejection(runtime.sandboxStatus(sandbox.id))) instanceof NotFoundError, 'a removed sandbox is not found')
    t.notOk((await runtime.listSandboxes()).some((listed) => listed.id === sandbox.id), 'nor listed')
  })

  scenario('sandboxes: network none has no address, host network shares the node', async (t, _fixture, runtime) => {
    const none = await runtime.runSandbox(sandboxConfig({ network: 'none' }))
    t.equal(none.state, 'ready')
    t.equal(none.ip, undefined, 'no address without a network')
    const host = await runtime.runSandbox(sandboxConfig({ network: 'host' }))
    t.equal(host.state, 'ready')
    t.equal(host.ip, undefined, 'the pod IP of a host-network pod is the node address, which the agent knows')
  })

  scenario('nodes: two runtimes on one engine see only their own objects', async (t, fixture, runtime) => {
    const other = fixture.runtimeFor(`${runtime.nodeName}-other`)
    const mine = await runtime.runSandbox(sandboxConfig())
    const theirs = await other.runSandbox(sandboxConfig())
    const myContainer = await startScript(runtime, mine.id, 'app', 'sleep 1000')
    t.same((await runtime.listSandboxes()).map((sandbox) => sandbox.id), [mine.id], 'each runtime lists its own sandbox only')
    t.same((await other.listSandboxes()).map((sandbox) => sandbox.id), [theirs.id])
    t.same((await other.listContainers()).map((container) => container.id), [], 'and its own containers only')
    t.ok((await rejection(other.sandboxStatus(mine.id))) instanceof NotFoundError, 'another node\'s sandbox is not found')
    t.ok((await rejection(other.containerStatus(myContainer))) instanceof NotFoundError, 'nor its containers')
    t.ok((await rejection(other.createContainer(mine.id, containerConfig('intruder')))) instanceof NotFoundError, 'nor usable as a sandbox')
    await other.removeContainer(myContainer)
    await other.removeSandbox(mine.id)
    await other.stopSandbox(mine.id)
    t.equal((await runtime.containerStatus(myContainer)).state, 'running', 'another node cannot stop or remove them')
    t.equal((await runtime.sandboxStatus(mine.id)).state, 'ready')
  })

  scenario('containers: created, then running, with attempt, labels, image id and listings', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const before = fixture.nowMs()
    const id = await runtime.createContainer(sandbox.id, containerConfig('web', {
      attempt: 2,
      command: ['sleep', '1000'],
      specHash: 'abc123',
      labels: { 'example.com/role': 'web' },
    }))
    const created = await runtime.containerStatus(id)
    t.equal(created.state, 'created')
    t.equal(created.startedAtMs, undefined, 'not started yet')
    t.ok(created.createdAtMs >= before - 1000, 'created now')
    await runtime.startContainer(id)
    await runtime.startContainer(id) // starting a running container is a no-op
    const running = await runtime.containerStatus(id)
    t.equal(running.state, 'running')
    t.ok((running.startedAtMs ?? 0) >= created.createdAtMs - 1000, 'started after creation')
    t.equal(running.name, 'web')
    t.equal(running.attempt, 2)
    t.equal(running.sandboxId, sandbox.id)
    t.same(running.pod, sandbox.pod)
    t.equal(running.image, BUSYBOX_IMAGE)
    t.match(running.imageId, /^sha256:[0-9a-f]{64}$/)
    t.equal(running.specHash, 'abc123')
    t.equal(running.exitCode, undefined)
    t.match(running.labels, {
      [RUNTIME_LABELS.node]: runtime.nodeName,
      [RUNTIME_LABELS.kind]: 'container',
      [RUNTIME_LABELS.containerName]: 'web',
      [RUNTIME_LABELS.attempt]: '2',
      [RUNTIME_LABELS.sandboxId]: sandbox.id,
      [RUNTIME_LABELS.specHash]: 'abc123',
      [RUNTIME_LABELS.podUid]: sandbox.pod.uid,
      'example.com/role': 'web',
    })
    const otherSandbox = await runtime.runSandbox(sandboxConfig())
    const otherId = await runtime.createContainer(otherSandbox.id, containerConfig('other', { command: ['sleep', '1000'] }))
    t.same((await runtime.listContainers({ sandboxId: sandbox.id })).map((container) => container.id), [id], 'listing by sandbox')
    t.same((await runtime.listContainers({ podUid: otherSandbox.pod.uid })).map((container) => container.id), [otherId], 'listing by pod uid')
    t.same((await runtime.listContainers()).map((container) => container.id).sort(), [id, otherId].sort(), 'listing all')
  })

  scenario('exit codes: 0 is Completed, 3 is Error, with start and finish times', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const zero = await startScript(runtime, sandbox.id, 'zero', 'exit 0')
    const three = await startScript(runtime, sandbox.id, 'three', 'exit 3')
    const completed = await exitedStatus(fixture, zero)
    t.equal(completed.exitCode, 0)
    t.equal(completed.reason, 'Completed')
    const failed = await exitedStatus(fixture, three)
    t.equal(failed.exitCode, 3)
    t.equal(failed.reason, 'Error')
    t.ok(failed.startedAtMs !== undefined && failed.finishedAtMs !== undefined && failed.finishedAtMs >= failed.startedAtMs, 'finished after it started')
    const falseId = await runtime.createContainer(sandbox.id, containerConfig('false', { command: ['false'] }))
    await runtime.startContainer(falseId)
    t.equal((await exitedStatus(fixture, falseId)).exitCode, 1, '`false` exits 1')
  })

  scenario('command and args: Kubernetes semantics over the image entrypoint and cmd', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const run = async (name: string, overrides: Partial<ContainerConfig>): Promise<{ status: ContainerStatus; logs: string }> => {
      const id = await runtime.createContainer(sandbox.id, containerConfig(name, overrides))
      await runtime.startContainer(id)
      const status = await exitedStatus(fixture, id)
      return { status, logs: await logText(fixture, id) }
    }
    t.equal((await run('command', { command: ['echo', 'from-command'] })).logs, 'from-command\n', 'command replaces the entrypoint and drops the image cmd')
    t.equal((await run('args', { args: ['echo', 'only-args'] })).logs, 'only-args\n', 'args alone replace the image cmd')
    t.equal((await run('both', { command: ['sh', '-c'], args: ['echo "$0-$1"', 'a', 'b'] })).logs, 'a-b\n', 'command then args')
    const pause = await run('entrypoint', { image: PAUSE_IMAGE, args: ['0'] })
    t.equal(pause.status.exitCode, 0, 'args alone keep the image entrypoint (pause: sleep 0)')
  })

  scenario('env: variables reach the process', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'env', 'echo "$GREETING, $NAME!"', { env: [{ name: 'GREETING', value: 'hello' }, { name: 'NAME', value: 'pod world' }] })
    await exitedStatus(fixture, id)
    t.equal(await logText(fixture, id), 'hello, pod world!\n')
  })

  scenario('images: a missing image is ImageNotPresentError and is never pulled', async (t, _fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const error = await rejection(runtime.createContainer(sandbox.id, containerConfig('missing', { image: 'flotilla/never-built:local' })))
    t.ok(error instanceof ImageNotPresentError, 'rejects with ImageNotPresentError')
    t.equal((error as ImageNotPresentError).image, 'flotilla/never-built:local')
    t.equal(await runtime.imageStatus('flotilla/never-built:local'), undefined, 'nothing was pulled')
    t.same(await runtime.listContainers({ sandboxId: sandbox.id }), [], 'and nothing created')
  })

  scenario('stop: PID 1 ignores SIGTERM, so it is killed after the grace period (137)', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'sleeper', 'sleep 1000')
    const before = fixture.nowMs()
    await settle(fixture, 'a graceful stop', runtime.stopContainer(id, 1000))
    const elapsedMs = fixture.nowMs() - before
    const status = await runtime.containerStatus(id)
    t.equal(status.state, 'exited', 'stopped when stop resolves')
    t.equal(status.exitCode, 137, 'killed by SIGKILL')
    t.equal(status.reason, 'Error')
    t.ok(elapsedMs >= 900, `waited the grace period (${elapsedMs} ms)`)
    await runtime.stopContainer(id, 1000)
    t.pass('stopping an exited container resolves at once')

    const quick = await startScript(runtime, sandbox.id, 'quick', 'sleep 1000')
    const quickBefore = fixture.nowMs()
    await settle(fixture, 'an immediate stop', runtime.stopContainer(quick, 0))
    t.equal((await runtime.containerStatus(quick)).exitCode, 137, 'grace 0 kills at once')
    t.ok(fixture.nowMs() - quickBefore < 5000, 'without waiting for a grace period')

    const short = await startScript(runtime, sandbox.id, 'short', 'sleep 1')
    await settle(fixture, 'a stop outlived by the process', runtime.stopContainer(short, 30_000))
    t.equal((await runtime.containerStatus(short)).exitCode, 0, 'a process that exits during the grace period keeps its exit code')
  })

  scenario('remove: kills a running container, is idempotent, and the container is gone', async (t, _fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'doomed', 'sleep 1000')
    await runtime.removeContainer(id)
    await runtime.removeContainer(id)
    t.ok((await rejection(runtime.containerStatus(id))) instanceof NotFoundError, 'not found after removal')
    t.same(await runtime.listContainers({ sandboxId: sandbox.id }), [], 'not listed')
    const survivor = await startScript(runtime, sandbox.id, 'survivor', 'sleep 1000')
    await runtime.removeSandbox(sandbox.id)
    t.ok((await rejection(runtime.containerStatus(survivor))) instanceof NotFoundError, 'removing a sandbox removes its containers')
  })

  scenario('sandboxes: stopping one kills its containers; no new containers in a stopped one', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'inside', 'sleep 1000')
    await settle(fixture, 'stopping the sandbox', runtime.stopSandbox(sandbox.id))
    const status = await exitedStatus(fixture, id)
    t.equal(status.exitCode, 137, 'its containers were killed')
    t.ok((await rejection(runtime.createContainer(sandbox.id, containerConfig('late')))) instanceof NotRunningError, 'a stopped sandbox takes no containers')
  })

  scenario('errors: unknown ids are NotFoundError; removal and sandbox stop of unknown ids succeed', async (t, _fixture, runtime) => {
    const unknown = 'f'.repeat(64)
    t.ok((await rejection(runtime.containerStatus(unknown))) instanceof NotFoundError)
    t.ok((await rejection(runtime.sandboxStatus(unknown))) instanceof NotFoundError)
    t.ok((await rejection(runtime.startContainer(unknown))) instanceof NotFoundError)
    t.ok((await rejection(runtime.stopContainer(unknown, 0))) instanceof NotFoundError)
    t.ok((await rejection(runtime.logs(unknown, {}))) instanceof NotFoundError)
    t.ok((await rejection(runtime.exec(unknown, { command: ['true'] }))) instanceof NotFoundError)
    t.ok((await rejection(runtime.createContainer(unknown, containerConfig('orphan')))) instanceof NotFoundError)
    await runtime.removeContainer(unknown)
    await runtime.removeSandbox(unknown)
    await runtime.stopSandbox(unknown)
    t.pass('removing and stopping unknown objects are no-ops')
  })

  scenario('logs: stdout and stderr, tail, timestamps, since, byte limit', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    // Docker copies stdout and stderr separately, so only lines printed apart in time have a
    // defined order across the two streams: the stderr line comes a second after the others.
    const id = await startScript(runtime, sandbox.id, 'talker', 'echo one; echo two; echo three; sleep 1; echo late >&2')
    await exitedStatus(fixture, id)
    t.equal(await logText(fixture, id), 'one\ntwo\nthree\nlate\n', 'stdout and stderr in one text')
    t.equal(await logText(fixture, id, { tailLines: 1 }), 'late\n', 'tail')
    t.equal(await logText(fixture, id, { tailLines: 0 }), '', 'tail 0')
    const stamped = await logText(fixture, id, { timestamps: true })
    const lines = stamped.split('\n').filter((line) => line !== '')
    t.equal(lines.length, 4)
    for (const line of lines) t.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \S+$/, 'RFC 3339 nano prefix')
    const lateLine = lines.find((line) => line.endsWith(' late')) ?? ''
    const lateMs = Date.parse(`${lateLine.slice(0, 23)}Z`)
    t.equal(await logText(fixture, id, { sinceMs: lateMs }), 'late\n', 'since is exact, below the second')
    t.equal(await logText(fixture, id, { limitBytes: 6 }), 'one\ntw', 'limitBytes cuts the output')
  })

  scenario('logs: follow delivers new lines and ends when the container exits', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'follow', 'echo first; sleep 1; echo second')
    const stream = await runtime.logs(id, { follow: true })
    const text = await settle(fixture, 'the followed log to end', textOf(stream))
    t.equal(text, 'first\nsecond\n', 'both lines, then the end')
    t.equal((await runtime.containerStatus(id)).state, 'exited', 'the stream ended because the container exited')
  })

  scenario('exec: stdout, stderr, exit code, and a stdin round trip through cat', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'host', 'sleep 1000')
    const session = await runtime.exec(id, { command: ['sh', '-c', 'echo out; echo err >&2; exit 7'] })
    const [stdout, stderr, exitCode] = await settle(fixture, 'the exec', Promise.all([textOf(session.stdout), textOf(session.stderr as Readable), session.exitCode]))
    t.equal(stdout, 'out\n')
    t.equal(stderr, 'err\n')
    t.equal(exitCode, 7)

    const cat = await runtime.exec(id, { command: ['cat'], stdin: true })
    t.ok(cat.stdin !== undefined, 'stdin offered')
    const echoed = textOf(cat.stdout)
    cat.stdin?.write('ping\n')
    cat.stdin?.end('pong\n')
    t.equal(await settle(fixture, 'cat to echo stdin', echoed), 'ping\npong\n', 'stdin comes back on stdout')
    t.equal(await settle(fixture, 'cat to exit', cat.exitCode), 0, 'cat exits 0 at the end of stdin')

    const stopped = await startScript(runtime, sandbox.id, 'done', 'exit 0')
    await exitedStatus(fixture, stopped)
    t.ok((await rejection(runtime.exec(stopped, { command: ['true'] }))) instanceof NotRunningError, 'exec needs a running container')
  })

  scenario('execSync: output and exit code, and a timeout', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'probed', 'sleep 1000')
    const result = await settle(fixture, 'execSync', runtime.execSync(id, ['sh', '-c', 'echo healthy; echo warn >&2; exit 2'], 5000))
    t.same(result, { exitCode: 2, stdout: 'healthy\n', stderr: 'warn\n', timedOut: false })
    const slow = await settle(fixture, 'a timed-out execSync', runtime.execSync(id, ['sleep', '5'], 300))
    t.equal(slow.timedOut, true)
    t.equal(slow.exitCode, -1)
  })

  scenario('attach: output of the main process from now on, and its exit code', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'attached', 'sleep 2; echo hello-attach; exit 4')
    const session = await runtime.attach(id, { stdin: false, tty: false })
    const output = textOf(session.stdout)
    t.equal(await settle(fixture, 'the attached container to exit', session.exitCode), 4, 'exit code of the container')
    t.equal(await settle(fixture, 'attached output', output), 'hello-attach\n', 'its output')

    const interactive = await runtime.createContainer(sandbox.id, containerConfig('interactive', { command: ['cat'], stdin: true, stdinOnce: true }))
    await runtime.startContainer(interactive)
    const withStdin = await runtime.attach(interactive, { stdin: true, tty: false })
    t.ok(withStdin.stdin !== undefined, 'a container created with stdin takes input')
    const echoed = textOf(withStdin.stdout)
    withStdin.stdin?.end('typed\n')
    t.equal(await settle(fixture, 'cat to exit at the end of stdin', withStdin.exitCode), 0)
    t.equal(await settle(fixture, 'the echoed input', echoed), 'typed\n', 'input reaches the main process')
  })

  scenario('stats: CPU grows for a busy container, memory is reported, exited ones have none', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const busy = await startScript(runtime, sandbox.id, 'busy', 'while :; do :; done')
    const first = await runtime.stats(busy)
    t.ok(first.timestampMs > 0)
    t.ok(first.memoryWorkingSetBytes >= 0 && Number.isInteger(first.memoryWorkingSetBytes), 'a working set in bytes')
    const later = await eventually(fixture, 'CPU usage to grow', async () => {
      const sample = await runtime.stats(busy)
      return sample.cpuUsageCoreNanoSeconds > first.cpuUsageCoreNanoSeconds + 1_000_000 ? sample : undefined
    })
    t.ok(later.cpuUsageCoreNanoSeconds > first.cpuUsageCoreNanoSeconds, 'cumulative CPU grows')
    const done = await startScript(runtime, sandbox.id, 'done', 'exit 0')
    await exitedStatus(fixture, done)
    t.ok((await rejection(runtime.stats(done))) instanceof NotRunningError, 'no stats for an exited container')
  })

  scenario('adoption: a second runtime for the same node lists and controls the first one\'s objects', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'long-lived', 'sleep 1000', { attempt: 1 })
    await runtime.close()
    const restarted = fixture.runtimeFor(runtime.nodeName)
    const sandboxes = await restarted.listSandboxes()
    t.same(sandboxes.map((listed: SandboxStatus) => listed.id), [sandbox.id], 'the sandbox is found again')
    const [adopted] = await restarted.listContainers()
    t.equal(adopted?.id, id, 'the running container is found again')
    t.equal(adopted?.state, 'running', 'still running: nothing restarted it')
    t.equal(adopted?.attempt, 1, 'with its attempt')
    t.equal(adopted?.name, 'long-lived')
    await settle(fixture, 'the adopted container to stop', restarted.stopContainer(id, 0))
    t.equal((await restarted.containerStatus(id)).exitCode, 137, 'and it can be stopped')
  })

  scenario('port-forward: HTTP to busybox httpd in the sandbox; closed ports and unreachable sandboxes fail', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    await startScript(runtime, sandbox.id, 'web', 'mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 8080 -h /www')
    const response = await eventually(fixture, 'httpd to answer', async () => {
      try {
        return await httpGet(await runtime.portForward(sandbox.id, 8080), '/')
      } catch (error) {
        if (error instanceof RuntimeError) return undefined
        throw error
      }
    })
    t.match(response, /^HTTP\/1\.[01] 200 OK\r\n/, 'status 200')
    t.ok(response.endsWith('\r\n\r\nhello-web\n'), 'the file as body')
    t.match(await httpGet(await runtime.portForward(sandbox.id, 8080), '/missing.html'), /^HTTP\/1\.[01] 404 /, 'a missing file is 404')
    t.ok((await rejection(runtime.portForward(sandbox.id, 8081))) instanceof RuntimeError, 'nobody listens on 8081')
    const isolated = await runtime.runSandbox(sandboxConfig({ network: 'none' }))
    t.ok((await rejection(runtime.portForward(isolated.id, 8080))) instanceof RuntimeError, 'a sandbox without network is not reachable')
  }, capabilities.portForward ? undefined : 'port-forward is not supported by this runtime')

  scenario('mounts: host directories, read-only respected, writes visible on the host', async (t, fixture, runtime) => {
    const directory = mkdtempSync(join(tmpdir(), 'flotilla-mounts-'))
    t.teardown(() => rmSync(directory, { recursive: true, force: true }))
    writeFileSync(join(directory, 'greeting'), 'hello from the host\n')
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const mounts = [{ hostPath: directory, containerPath: '/data', readOnly: true }, { hostPath: directory, containerPath: '/rw', readOnly: false }]
    const reader = await startScript(runtime, sandbox.id, 'reader', 'cat /data/greeting', { mounts })
    await exitedStatus(fixture, reader)
    t.equal(await logText(fixture, reader), 'hello from the host\n', 'the host file is visible')
    const writer = await startScript(runtime, sandbox.id, 'writer', 'echo denied > /data/new', { mounts })
    t.not((await exitedStatus(fixture, writer)).exitCode, 0, 'a read-only mount refuses writes')
    const rw = await startScript(runtime, sandbox.id, 'rw', 'echo written > /rw/out', { mounts })
    t.equal((await exitedStatus(fixture, rw)).exitCode, 0)
    t.equal(readFileSync(join(directory, 'out'), 'utf8'), 'written\n', 'a writable mount writes through to the host')
  }, capabilities.mounts ? undefined : 'bind mounts are not supported by this runtime')
}
