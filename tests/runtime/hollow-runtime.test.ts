// Goal: the hollow runtime passes the runtime compliance suite on simulated time, and its own
// promises hold: replayable ids and addresses under a seed, the shell subset it interprets (and
// what it leaves opaque), probe-style marker files, an interactive shell over exec stdin, exact
// simulated timing of `sleep`, and deterministic stats. Method: TimersSim driven by the suite's
// `advance`, or directly in the hollow-only cases.
import type { Readable } from 'node:stream'

import t from 'tap'

import { RandomXoshiro } from '../../lib/random.ts'
import { TimersSim } from '../../lib/timers.ts'
import { HollowEngine } from '../../runtime/src/hollow/engine.ts'
import { IpAllocator } from '../../runtime/src/hollow/ip-allocator.ts'
import { parseShell } from '../../runtime/src/hollow/shell.ts'
import { RuntimeHollow } from '../../runtime/src/hollow-runtime.ts'
import { containerConfig, runtimeCompliance, sandboxConfig, settle, textOf, type RuntimeFixture } from './runtime-compliance.ts'

function hollowFixture(seed = 7): RuntimeFixture & { readonly timers: TimersSim; readonly engine: HollowEngine } {
  const timers = new TimersSim()
  const engine = new HollowEngine({ timers, random: new RandomXoshiro(seed) })
  const runtime = new RuntimeHollow({ nodeName: 'hollow-node', engine })
  return {
    runtime,
    timers,
    engine,
    runtimeFor: (nodeName) => new RuntimeHollow({ nodeName, engine }),
    advance: (ms) => timers.advance(ms),
    nowMs: () => timers.realtimeMs(),
    cleanup: async () => undefined,
  }
}

runtimeCompliance(t, 'hollow', async () => hollowFixture(), { mounts: false, portForward: true })

t.test('hollow: a seed replays ids and addresses exactly', async (t) => {
  const run = async (): Promise<string[]> => {
    const { runtime } = hollowFixture(42)
    const sandbox = await runtime.runSandbox(sandboxConfig({ pod: { uid: 'u1', name: 'p', namespace: 'n' } }))
    const id = await runtime.createContainer(sandbox.id, containerConfig('c', { command: ['sleep', '1'] }))
    return [sandbox.id, sandbox.ip ?? '', id]
  }
  const first = await run()
  t.same(await run(), first)
  t.match(first[0], /^[0-9a-f]{64}$/, 'Docker-shaped ids')
  t.equal(first[1], '10.244.0.2', 'the first address of the default range')
})

t.test('hollow: sleep exits exactly N simulated seconds after the start', async (t) => {
  const fixture = hollowFixture()
  const sandbox = await fixture.runtime.runSandbox(sandboxConfig())
  const id = await fixture.runtime.createContainer(sandbox.id, containerConfig('s', { command: ['sh', '-c', 'sleep 2; sleep 0.5; echo done'] }))
  await fixture.runtime.startContainer(id)
  fixture.advance?.(2499)
  t.equal((await fixture.runtime.containerStatus(id)).state, 'running', 'still running 1 ms before')
  fixture.advance?.(1)
  const status = await fixture.runtime.containerStatus(id)
  t.equal(status.state, 'exited', 'exited at 2.5 s within one advance: no drift between the sleeps')
  t.equal((status.finishedAtMs ?? 0) - (status.startedAtMs ?? 0), 2500)
})

t.test('hollow: the shell subset and what stays opaque', async (t) => {
  const [list] = parseShell(`echo 'single $X' "double $X" \${Y:-fallback} && false || exit 4`)
  t.same(list?.items.map((item) => item.connector), ['then', 'and', 'or'])
  const opaque = parseShell('echo start; while :; do :; done')
  t.equal(opaque.length, 2)
  t.match(opaque[1]?.items[0]?.statement, { kind: 'opaque', busy: true }, 'a loop without sleep is busy')
  t.match(parseShell('while true; do sleep 1; done')[0]?.items[0]?.statement, { kind: 'opaque', busy: false }, 'a sleeping loop is not')
  t.match(parseShell('sleep 100 & wait')[0]?.items[0]?.statement, { kind: 'opaque' }, 'background jobs are opaque')
  t.match(parseShell('echo $(date)')[0]?.items[0]?.statement, { kind: 'opaque' }, 'command substitution is opaque')

  const fixture = hollowFixture()
  const sandbox = await fixture.runtime.runSandbox(sandboxConfig())
  const script = [
    `X=value; echo 'single $X' "double $X" \${UNSET:-fallback}`,
    'false && echo skipped || echo "after failure $?"',
    'printf "%s-%d\\n" word 42',
    'echo to-file > /tmp/f; echo appended >> /tmp/f; cat /tmp/f',
    'cat /missing 2>/dev/null || echo "missing: $?"',
    'test -f /tmp/f && echo exists',
    'exit 5',
  ].join('\n')
  const id = await fixture.runtime.createContainer(sandbox.id, containerConfig('shell', { command: ['sh', '-c', script] }))
  await fixture.runtime.startContainer(id)
  const status = await fixture.runtime.containerStatus(id)
  t.equal(status.exitCode, 5, 'exit code of `exit 5`')
  const logs = await textOf(await fixture.runtime.logs(id, {}))
  t.equal(logs, ['single $X double value fallback', 'after failure 1', 'word-42', 'to-file', 'appended', 'missing: 1', 'exists', ''].join('\n'))
})

t.test('hollow: exec works with probe marker files (the liveness example)', async (t) => {
  const fixture = hollowFixture()
  const sandbox = await fixture.runtime.runSandbox(sandboxConfig())
  const id = await fixture.runtime.createContainer(sandbox.id, containerConfig('live', { command: ['sh', '-c', 'touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600'] }))
  await fixture.runtime.startContainer(id)
  const probe = (): Promise<number> => settle(fixture, 'a probe', fixture.runtime.execSync(id, ['cat', '/tmp/healthy'], 1000)).then((result) => result.exitCode)
  t.equal(await probe(), 0, 'healthy at first')
  fixture.advance?.(30_000)
  t.equal(await probe(), 1, 'unhealthy once the file is gone')
})

t.test('hollow: sh with an attached stdin runs commands as they arrive', async (t) => {
  const fixture = hollowFixture()
  const sandbox = await fixture.runtime.runSandbox(sandboxConfig())
  const id = await fixture.runtime.createContainer(sandbox.id, containerConfig('main', { command: ['sleep', 'infinity'] }))
  await fixture.runtime.startContainer(id)
  const session = await fixture.runtime.exec(id, { command: ['sh'], stdin: true })
  const output = textOf(session.stdout)
  session.stdin?.write('echo one\nsleep 1\n')
  session.stdin?.write('echo two; exit 3\n')
  session.stdin?.end()
  t.equal(await settle(fixture, 'the shell to exit', session.exitCode), 3)
  t.equal(await output, 'one\ntwo\n')
})

t.test('hollow: httpd without -f daemonizes, so the container exits 0; nc -l echoes', async (t) => {
  const fixture = hollowFixture()
  const sandbox = await fixture.runtime.runSandbox(sandboxConfig())
  const daemon = await fixture.runtime.createContainer(sandbox.id, containerConfig('daemon', { command: ['httpd', '-p', '80'] }))
  await fixture.runtime.startContainer(daemon)
  t.equal((await fixture.runtime.containerStatus(daemon)).exitCode, 0)
  const echo = await fixture.runtime.createContainer(sandbox.id, containerConfig('echo', { command: ['nc', '-lk', '-p', '9000'] }))
  await fixture.runtime.startContainer(echo)
  const socket = await fixture.runtime.portForward(sandbox.id, 9000)
  const reply = textOf(socket as unknown as Readable)
  socket.end('round trip')
  t.equal(await reply, 'round trip')
})

t.test('hollow: stats are deterministic', async (t) => {
  const fixture = hollowFixture()
  const sandbox = await fixture.runtime.runSandbox(sandboxConfig())
  const idle = await fixture.runtime.createContainer(sandbox.id, containerConfig('idle', { command: ['sleep', 'infinity'] }))
  const busy = await fixture.runtime.createContainer(sandbox.id, containerConfig('busy', { command: ['sh', '-c', 'while :; do :; done'] }))
  await fixture.runtime.startContainer(idle)
  await fixture.runtime.startContainer(busy)
  fixture.advance?.(2000)
  t.equal((await fixture.runtime.stats(idle)).cpuUsageCoreNanoSeconds, 2_000_000, 'idle: 1 ms of CPU per second')
  t.equal((await fixture.runtime.stats(busy)).cpuUsageCoreNanoSeconds, 2_000_000_000, 'busy: one core')
  t.equal((await fixture.runtime.stats(busy)).memoryWorkingSetBytes, 1_048_576)
})

t.test('hollow: images given as names run their default command until stopped', async (t) => {
  const timers = new TimersSim()
  const runtime = new RuntimeHollow({ nodeName: 'n', timers, images: ['nginx:1.25', { name: 'tool', cmd: ['echo', 'tool-ran'] }] })
  const sandbox = await runtime.runSandbox(sandboxConfig())
  const nginx = await runtime.createContainer(sandbox.id, containerConfig('web', { image: 'nginx:1.25' }))
  const tool = await runtime.createContainer(sandbox.id, containerConfig('tool', { image: 'tool' }))
  await runtime.startContainer(nginx)
  await runtime.startContainer(tool)
  timers.advance(60_000)
  t.equal((await runtime.containerStatus(nginx)).state, 'running', 'no command: runs until stopped')
  t.equal(await textOf(await runtime.logs(tool, {})), 'tool-ran\n', 'the image cmd runs (`tool` means `tool:latest`)')
  t.equal(await runtime.imageStatus('flotilla/busybox:local'), undefined, 'only the listed images are present')
})

t.test('hollow: the IP allocator hands out a range in order and reuses after wrapping', async (t) => {
  const allocator = new IpAllocator('10.1.2.0/29')
  const first = [allocator.allocate(), allocator.allocate(), allocator.allocate()]
  t.same(first, ['10.1.2.2', '10.1.2.3', '10.1.2.4'])
  allocator.release('10.1.2.3')
  t.same([allocator.allocate(), allocator.allocate(), allocator.allocate()], ['10.1.2.5', '10.1.2.6', '10.1.2.3'], 'released addresses come back after the wrap')
  t.throws(() => allocator.allocate(), { name: 'RuntimeError' }, 'an exhausted range is an error')
  t.throws(() => new IpAllocator('10.0.0.0/33'), { name: 'InvalidConfigError' })
})
