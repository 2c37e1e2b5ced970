// Goal: the Docker runtime passes the runtime compliance suite on the real engine, plus what only
// a real engine shows: OOMKilled under a memory limit, a start failure's reason, readable unique
// names, resource limits as Docker fields, bounded execSync output, a tty exec, an unreachable
// engine. Pure parts (frame demultiplexing, log entry filtering, status and stats mapping) are
// checked without the engine. Method: every case runs under a unique node name (`test-<random>`)
// and removes every container labelled with it; nothing is pulled (the local images are built
// from the host's busybox when missing). Without a reachable engine the engine cases skip, or fail
// when CI=true.
import { randomUUID } from 'node:crypto'
import { PassThrough } from 'node:stream'

import t, { type Test } from 'tap'

import { FrameParser, demultiplex, type FrameStream } from '../../runtime/src/docker/frames.ts'
import { logEntryOutput } from '../../runtime/src/docker/log-stream.ts'
import { dockerObjectName, sanitizeNamePart } from '../../runtime/src/docker/names.ts'
import { bindFromMount, resourceLimits } from '../../runtime/src/docker/specs.ts'
import { containerStatsFrom } from '../../runtime/src/docker/stats.ts'
import { CANNOT_RUN_REASON, containerStatusFrom } from '../../runtime/src/docker/status.ts'
import { RuntimeDocker } from '../../runtime/src/docker-runtime.ts'
import { msFromRfc3339, rfc3339NanoFromMs } from '../../runtime/src/log-lines.ts'
import { ensureLocalImages } from '../../runtime/src/local-images.ts'
import { RUNTIME_LABELS, RuntimeError, RuntimeUnavailableError } from '../../runtime/src/runtime.ts'
import { containerConfig, exitedStatus, runtimeCompliance, sandboxConfig, startScript, textOf, type RuntimeFixture } from './runtime-compliance.ts'
import { engineUnavailable, testDocker } from './docker-engine.ts'

const docker = testDocker


function dockerFixture(): RuntimeFixture & { readonly nodeNames: Set<string> } {
  const nodeNames = new Set<string>()
  const runtimeFor = (nodeName: string): RuntimeDocker => {
    nodeNames.add(nodeName)
    return new RuntimeDocker({ nodeName, docker })
  }
  return {
    runtime: runtimeFor(`test-${randomUUID().slice(0, 8)}`),
    nodeNames,
    runtimeFor,
    nowMs: () => Date.now(),
    cleanup: async () => {
      for (const nodeName of nodeNames) {
        const leftovers = await docker.listContainers({ all: true, filters: { label: [`${RUNTIME_LABELS.node}=${nodeName}`] } })
        await Promise.all(leftovers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)))
      }
    },
  }
}

const unavailable = await engineUnavailable()
if (unavailable !== undefined && process.env['CI'] === 'true') {
  t.fail(unavailable)
} else if (unavailable !== undefined) {
  t.test('docker runtime on the real engine', { skip: unavailable }, async () => {})
} else {
  await ensureLocalImages(docker)
  // Cases wait mostly on the engine (container starts, grace periods), not on our CPU: running a
  // few side by side keeps the file well under a minute on a loaded two-core machine.
  t.jobs = 3
  runtimeCompliance(t, 'docker', async () => dockerFixture(), { mounts: true, portForward: true })

  const dockerCase = (title: string, body: (t: Test, fixture: ReturnType<typeof dockerFixture>, runtime: RuntimeDocker) => Promise<void>): void => {
    void t.test(`docker: ${title}`, async (t) => {
      const fixture = dockerFixture()
      t.teardown(() => fixture.cleanup())
      await body(t, fixture, fixture.runtime as RuntimeDocker)
    })
  }

  dockerCase('a memory hog over its limit is OOMKilled', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'hog', 'x=a; while :; do x=$x$x; done', { resources: { memoryLimitBytes: 8 * 1024 * 1024 } })
    const status = await exitedStatus(fixture, id)
    t.equal(status.reason, 'OOMKilled')
    t.equal(status.exitCode, 137)
  })

  dockerCase('a command that cannot run fails to start and reports why', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await runtime.createContainer(sandbox.id, containerConfig('broken', { command: ['/no/such/binary'] }))
    const error = await runtime.startContainer(id).then(() => undefined, (caught: unknown) => caught)
    t.ok(error instanceof RuntimeError, 'start rejects with a RuntimeError')
    t.match((error as Error).message, /no such file or directory/)
    const status = await exitedStatus(fixture, id)
    t.equal(status.reason, CANNOT_RUN_REASON)
    t.equal(status.exitCode, 127)
    t.match(status.message ?? '', /\/no\/such\/binary/)
  })

  dockerCase('names are readable and unique; resources become Docker limits', async (t, _fixture, runtime) => {
    const pod = { uid: randomUUID(), name: 'web-7f9c', namespace: 'shop' }
    const sandbox = await runtime.runSandbox(sandboxConfig({ pod }))
    const again = await runtime.runSandbox(sandboxConfig({ pod }))
    const uid8 = pod.uid.replace(/-/g, '').slice(0, 8)
    t.equal((await docker.getContainer(sandbox.id).inspect()).Name, `/flotilla_${runtime.nodeName}_shop_web-7f9c_POD_0_${uid8}`)
    t.equal((await docker.getContainer(again.id).inspect()).Name, `/flotilla_${runtime.nodeName}_shop_web-7f9c_POD_0_${uid8}_1`, 'a second sandbox of the pod gets a suffix')
    const id = await runtime.createContainer(sandbox.id, containerConfig('app', {
      command: ['sleep', '1000'],
      resources: { cpuLimitMillis: 500, cpuRequestMillis: 250, memoryLimitBytes: 64 * 1024 * 1024 },
      workingDir: '/tmp',
      runAsUser: 1000,
    }))
    const inspect = await docker.getContainer(id).inspect()
    t.equal(inspect.Name, `/flotilla_${runtime.nodeName}_shop_web-7f9c_app_0_${uid8}`)
    t.equal(inspect.HostConfig.NetworkMode, `container:${sandbox.id}`)
    t.equal(inspect.HostConfig.IpcMode, `container:${sandbox.id}`)
    t.equal(inspect.HostConfig.NanoCpus, 500_000_000)
    t.equal(inspect.HostConfig.CpuShares, 256)
    t.equal(inspect.HostConfig.Memory, 64 * 1024 * 1024)
    t.equal(inspect.HostConfig.MemorySwap, 64 * 1024 * 1024, 'no swap beyond the limit')
    t.same(inspect.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-file': '2', 'max-size': '10m' } })
    t.equal(inspect.Config.WorkingDir, '/tmp')
    t.equal(inspect.Config.User, '1000')
    const netns = (await runtime.sandboxStatus(sandbox.id)).netnsPath
    t.match(netns ?? '', /^\/proc\/\d+\/ns\/net$/, 'the sandbox exposes its network namespace')
  })

  dockerCase('execSync keeps 10 KiB per stream; a tty exec merges its output', async (t, _fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'host', 'sleep 1000')
    const result = await runtime.execSync(id, ['sh', '-c', 'head -c 20000 /dev/zero | tr "\\0" x'], 5000)
    t.equal(result.exitCode, 0)
    t.equal(result.stdout, 'x'.repeat(10 * 1024), 'stdout cut at 10 KiB')
    const session = await runtime.exec(id, { command: ['sh', '-c', 'echo out; echo err >&2'], tty: true })
    t.equal(session.stderr, undefined, 'no separate stderr with a tty')
    const output = await textOf(session.stdout)
    t.match(output, /out\r?\n/)
    t.match(output, /err\r?\n/)
    t.equal(await session.exitCode, 0)
  })

  dockerCase('logs of a tty container', async (t, fixture, runtime) => {
    const sandbox = await runtime.runSandbox(sandboxConfig())
    const id = await startScript(runtime, sandbox.id, 'tty', 'echo on-a-terminal', { tty: true })
    await exitedStatus(fixture, id)
    t.match(await textOf(await runtime.logs(id, {})), /^on-a-terminal\r?\n$/)
    t.match(await textOf(await runtime.logs(id, { timestamps: true })), /^\d{4}-\d\d-\d\dT[\d:.]+Z on-a-terminal\r?\n$/)
  })
}

t.test('docker: an unreachable engine is RuntimeUnavailableError', async (t) => {
  const runtime = new RuntimeDocker({ nodeName: 'nowhere', socketPath: '/nonexistent/docker.sock' })
  await t.rejects(runtime.version(), RuntimeUnavailableError)
  await t.rejects(runtime.listContainers(), RuntimeUnavailableError)
})

t.test('docker frames: demultiplexed across chunk boundaries', async (t) => {
  const frame = (type: number, text: string): Buffer => {
    const header = Buffer.alloc(8)
    header.writeUInt8(type, 0)
    header.writeUInt32BE(Buffer.byteLength(text), 4)
    return Buffer.concat([header, Buffer.from(text)])
  }
  const bytes = Buffer.concat([frame(1, 'out-1\n'), frame(2, 'err-1\n'), frame(1, 'out-2\n')])
  const seen: [FrameStream, string][] = []
  const parser = new FrameParser((stream, payload) => seen.push([stream, payload.toString()]))
  for (let offset = 0; offset < bytes.length; offset += 5) parser.write(bytes.subarray(offset, offset + 5))
  parser.end()
  t.same(seen, [['stdout', 'out-1\n'], ['stderr', 'err-1\n'], ['stdout', 'out-2\n']])

  const source = new PassThrough()
  const { stdout, stderr } = demultiplex(source)
  source.end(bytes)
  t.equal(await textOf(stdout), 'out-1\nout-2\n')
  t.equal(await textOf(stderr), 'err-1\n')

  const broken = new FrameParser(() => undefined)
  const failure = new Promise((resolve) => broken.on('error', resolve))
  broken.write(Buffer.from('not a docker frame'))
  t.match(await failure, { name: 'FrameFormatError' })
})

t.test('docker log entries: since filtering below the second, timestamps kept or stripped', async (t) => {
  const entry = Buffer.from('2026-11-23T10:00:01.250000001Z hello\n')
  t.equal(logEntryOutput(entry, { timestamps: false })?.toString(), 'hello\n')
  t.equal(logEntryOutput(entry, { timestamps: true })?.toString(), entry.toString())
  t.equal(logEntryOutput(entry, { timestamps: false, sinceMs: Date.parse('2026-11-23T10:00:01.251Z') }), undefined, 'earlier in the same second: dropped')
  t.equal(logEntryOutput(entry, { timestamps: false, sinceMs: Date.parse('2026-11-23T10:00:01.250Z') })?.toString(), 'hello\n')
  t.equal(logEntryOutput(Buffer.from('no timestamp here'), { timestamps: false })?.toString(), 'no timestamp here', 'unparseable entries are kept whole')
  t.equal(rfc3339NanoFromMs(Date.parse('2026-11-23T10:00:01.250Z')), '2026-11-23T10:00:01.250000000Z')
  t.equal(msFromRfc3339('0001-01-01T00:00:00Z'), undefined, 'Docker\'s zero time is no time')
  t.equal(msFromRfc3339('2026-11-23T10:00:01.123456789+01:00'), Date.parse('2026-11-23T09:00:01.123Z'))
})

t.test('docker status mapping: states, reasons, zero times; stats math; names; specs', async (t) => {
  const inspect = (state: Record<string, unknown>): Parameters<typeof containerStatusFrom>[0] => ({
    Id: 'c1',
    Created: '2026-11-23T10:00:00.5Z',
    Image: 'sha256:abc',
    Config: { Image: 'flotilla/busybox:local', Labels: { [RUNTIME_LABELS.attempt]: '3', [RUNTIME_LABELS.containerName]: 'web' } },
    State: { Status: 'exited', Running: false, ExitCode: 0, OOMKilled: false, Error: '', StartedAt: '2026-11-23T10:00:01Z', FinishedAt: '0001-01-01T00:00:00Z', Pid: 0, ...state },
  }) as unknown as Parameters<typeof containerStatusFrom>[0]
  const completed = containerStatusFrom(inspect({}))
  t.match(completed, { state: 'exited', exitCode: 0, reason: 'Completed', attempt: 3, name: 'web', imageId: 'sha256:abc', createdAtMs: Date.parse('2026-11-23T10:00:00.500Z') })
  t.equal(completed.finishedAtMs, undefined, 'the zero time is undefined')
  t.match(containerStatusFrom(inspect({ ExitCode: 137, OOMKilled: true })), { reason: 'OOMKilled', exitCode: 137 })
  const quick = containerStatusFrom(inspect({ StartedAt: '2026-11-23T10:00:01.200Z', FinishedAt: '2026-11-23T10:00:01.150Z' }))
  t.equal(quick.finishedAtMs, quick.startedAtMs, 'Docker can record the end of a quick exit before its start: clamped')
  t.match(containerStatusFrom(inspect({ ExitCode: 2 })), { reason: 'Error' })
  t.match(containerStatusFrom(inspect({ Status: 'running', Running: true })), { state: 'running', exitCode: undefined, reason: undefined })
  t.match(containerStatusFrom(inspect({ Status: 'created', ExitCode: 127, Error: 'exec: not found', StartedAt: '0001-01-01T00:00:00Z' })), { state: 'exited', reason: CANNOT_RUN_REASON, message: 'exec: not found' })
  t.match(containerStatusFrom(inspect({ Status: 'created', StartedAt: '0001-01-01T00:00:00Z' })), { state: 'created', startedAtMs: undefined })

  t.same(containerStatsFrom({ read: '2026-11-23T10:00:00Z', cpu_stats: { cpu_usage: { total_usage: 42 } }, memory_stats: { usage: 1000, stats: { total_inactive_file: 300 } } }, 0), {
    timestampMs: Date.parse('2026-11-23T10:00:00Z'), cpuUsageCoreNanoSeconds: 42, memoryWorkingSetBytes: 700,
  })
  t.equal(containerStatsFrom({ memory_stats: { usage: 1000, stats: { inactive_file: 100 } } }, 5).memoryWorkingSetBytes, 900, 'cgroup v2 name')
  t.equal(containerStatsFrom({ memory_stats: { usage: 10, stats: { inactive_file: 100 } } }, 5).memoryWorkingSetBytes, 0, 'never negative')
  t.equal(containerStatsFrom({}, 5).timestampMs, 5)

  t.equal(sanitizeNamePart('weird name/with:colons'), 'weird-name-with-colons')
  t.equal(dockerObjectName('n1', { uid: 'abcd-ef12-3456', name: 'p', namespace: 'ns' }, 'c', 2, 0), 'flotilla_n1_ns_p_c_2_abcdef12')
  t.equal(bindFromMount({ hostPath: '/h', containerPath: '/c', readOnly: true }), '/h:/c:ro')
  t.same(resourceLimits({ cpuRequestMillis: 1 }), { CpuShares: 2 }, 'CpuShares has a floor of 2')
})
