// Goal: the agent's metrics sampler measures what metrics-server would: CPU rates in nanocores from
// two readings of the same container id (none on the first reading, none again after a restart),
// working sets, pods only when each running container has a rate, the node from /proc (or the sum
// of its containers), one pass per period on the agent's timers, and the old record withdrawn at
// start. Method: the hollow runtime on TimersSim (CPU: one core for a busy loop, 1 ms/s idle;
// memory 1 MiB), injected /proc text, and a publisher that records what it is given.
import t from 'tap'
import { TimersSim } from '../../lib/timers.ts'
import { RuntimeHollow } from '../../runtime/src/hollow-runtime.ts'
import { RuntimeError, type ContainerRuntime, type ContainerStats } from '../../runtime/src/runtime.ts'
import { MetricsSampler, rateOf, type MetricsSamplerOptions } from '../../node/src/agent/metrics-sampler.ts'
import { procMeminfoWorkingSetBytes, procNodeStatsReader, procStatCpuNanoseconds, ProcStatsError } from '../../node/src/agent/proc-stats.ts'
import type { NodeMetricsRecord } from '../../node/src/api/server/node-metrics-store.ts'

const PERIOD_MS = 15_000
const ONE_CORE = 1_000_000_000
/** The hollow runtime's idle trickle: 1 ms of CPU per second. */
const IDLE = 1_000_000
const MIB = 1_048_576

interface World {
  readonly timers: TimersSim
  readonly runtime: RuntimeHollow
  readonly published: NodeMetricsRecord[]
  readonly logged: string[]
  sampler(overrides?: Partial<MetricsSamplerOptions>): MetricsSampler
  /** Starts a pod with one container per command; returns the container ids by name. */
  pod(name: string, containers: Record<string, string[]>): Promise<{ uid: string; sandboxId: string; ids: Record<string, string> }>
}

function world(): World {
  const timers = new TimersSim()
  const runtime = new RuntimeHollow({ nodeName: 'n1', timers })
  const published: NodeMetricsRecord[] = []
  const logged: string[] = []
  let pods = 0
  return {
    timers,
    runtime,
    published,
    logged,
    sampler: (overrides = {}) =>
      new MetricsSampler({
        runtime,
        nodeName: 'n1',
        publish: async (record) => void published.push(record),
        timers,
        log: (line) => logged.push(line),
        periodMs: PERIOD_MS,
        ...overrides,
      }),
    pod: async (name, containers) => {
      const uid = `uid-${++pods}`
      const sandbox = await runtime.runSandbox({ pod: { uid, name, namespace: 'default' }, hostname: name, network: 'bridge' })
      const ids: Record<string, string> = {}
      for (const [container, command] of Object.entries(containers)) {
        ids[container] = await runtime.createContainer(sandbox.id, { name: container, attempt: 0, image: 'flotilla/busybox:local', command })
        await runtime.startContainer(ids[container]!)
      }
      return { uid, sandboxId: sandbox.id, ids }
    },
  }
}

const BUSY = ['sh', '-c', 'while :; do :; done']
const IDLE_COMMAND = ['sleep', 'infinity']

/** Lets the sampler's promise chains run (the hollow runtime answers in microtasks). */
async function drain(): Promise<void> {
  for (let round = 0; round < 20; round++) await new Promise((resolve) => setImmediate(resolve))
}

t.test('two readings give rates in nanocores; the first gives none', async (t) => {
  const w = world()
  const web = await w.pod('web', { app: BUSY, sidecar: IDLE_COMMAND })
  const db = await w.pod('db', { db: IDLE_COMMAND })
  const sampler = w.sampler()

  t.equal(await sampler.sampleOnce(), undefined, 'the first pass only reads')
  t.same(w.published, [], 'and publishes nothing')

  w.timers.advance(PERIOD_MS)
  const record = await sampler.sampleOnce()
  t.same(w.published, [record], 'the second pass publishes its record')
  t.same(record, {
    node: 'n1',
    timestampMs: w.timers.realtimeMs(),
    windowMs: PERIOD_MS,
    periodMs: PERIOD_MS,
    usage: { cpuNanoCores: ONE_CORE + 2 * IDLE, memoryBytes: 3 * MIB },
    pods: [
      { namespace: 'default', name: 'db', uid: db.uid, containers: [{ name: 'db', cpuNanoCores: IDLE, memoryBytes: MIB }] },
      {
        namespace: 'default', name: 'web', uid: web.uid,
        containers: [{ name: 'app', cpuNanoCores: ONE_CORE, memoryBytes: MIB }, { name: 'sidecar', cpuNanoCores: IDLE, memoryBytes: MIB }],
      },
    ],
  }, 'pods sorted, containers sorted, the node is the sum of its containers')
})

t.test('a new container id restarts its rate; the pod waits until every running container has one', async (t) => {
  const w = world()
  const web = await w.pod('web', { app: BUSY, sidecar: IDLE_COMMAND })
  const sampler = w.sampler()
  await sampler.sampleOnce()
  w.timers.advance(PERIOD_MS)
  t.equal((await sampler.sampleOnce())?.pods.length, 1)

  // The kubelet's restart: the old instance exits, a new one (attempt 1) starts under a new id.
  await w.runtime.stopContainer(web.ids['app']!, 0)
  const restarted = await w.runtime.createContainer(web.sandboxId, { name: 'app', attempt: 1, image: 'flotilla/busybox:local', command: IDLE_COMMAND })
  await w.runtime.startContainer(restarted)
  w.timers.advance(PERIOD_MS)
  const during = await sampler.sampleOnce()
  t.same(during?.pods, [], 'the restarted container has one reading: the pod is left out rather than under-counted')
  t.same(during?.usage, { cpuNanoCores: IDLE, memoryBytes: MIB }, 'the node counts the containers that have rates')

  w.timers.advance(PERIOD_MS)
  const after = await sampler.sampleOnce()
  t.same(after?.pods[0]?.containers, [{ name: 'app', cpuNanoCores: IDLE, memoryBytes: MIB }, { name: 'sidecar', cpuNanoCores: IDLE, memoryBytes: MIB }], 'back with the new instance\'s rate')
})

t.test('exited containers are not sampled; stats failures leave the pod out and are logged', async (t) => {
  const w = world()
  const done = await w.pod('done', { job: ['sh', '-c', 'sleep 1'] })
  const flaky = await w.pod('flaky', { app: IDLE_COMMAND })
  await w.pod('steady', { app: IDLE_COMMAND })
  let failStats = false
  const runtime = new Proxy(w.runtime, {
    get(target, property, receiver) {
      if (property === 'stats') {
        return async (id: string): Promise<ContainerStats> => {
          if (failStats && id === flaky.ids['app']) throw new RuntimeError('engine hiccup')
          return target.stats(id)
        }
      }
      const value = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as ContainerRuntime
  const sampler = w.sampler({ runtime })
  await sampler.sampleOnce()
  w.timers.advance(PERIOD_MS)
  failStats = true
  const record = await sampler.sampleOnce()
  t.same(record?.pods.map((pod) => pod.name), ['steady'], 'the exited job is gone, the pod whose stats failed is left out')
  t.match(w.logged, [/stats of container app of pod default\/flaky not read: engine hiccup/])
  t.equal((await w.runtime.containerStatus(done.ids['job']!)).state, 'exited', 'the job had exited by the second pass')

  failStats = false
  w.timers.advance(PERIOD_MS)
  t.same((await sampler.sampleOnce())?.pods.map((pod) => pod.name), ['steady'], 'a failed reading is no reading: the next pass starts over')
  w.timers.advance(PERIOD_MS)
  t.same((await sampler.sampleOnce())?.pods.map((pod) => pod.name), ['flaky', 'steady'])
})

t.test('the node from /proc: busy ticks between two readings, MemTotal − MemAvailable', async (t) => {
  const w = world()
  await w.pod('web', { app: BUSY })
  // user nice system idle iowait irq softirq steal guest guest_nice, in 1/100 s.
  let stat = 'cpu  1000 20 300 50000 400 10 20 0 500 0\ncpu0 500 10 150 25000 200 5 10 0 250 0\nintr 1 2 3\n'
  const meminfo = 'MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    6000000 kB\nBuffers:          100 kB\n'
  const sampler = w.sampler({ readNodeStats: procNodeStatsReader({ readText: async (path) => (path === '/proc/stat' ? stat : meminfo), nowMs: () => w.timers.realtimeMs() }) })
  await sampler.sampleOnce()
  // 15 s later: 2250 more busy ticks (user 1500, system 750) = 22.5 core-seconds over 15 s; idle and iowait do not count.
  stat = 'cpu  2500 20 1050 51000 900 10 20 0 1200 0\n'
  w.timers.advance(PERIOD_MS)
  const record = await sampler.sampleOnce()
  t.same(record?.usage, { cpuNanoCores: 1_500_000_000, memoryBytes: 10_000_000 * 1024 }, '1.5 cores, 10 GB in use')
  t.same(record?.pods[0]?.containers[0]?.cpuNanoCores, ONE_CORE, 'the pods are still their containers')
})

t.test('a node counter that cannot be read leaves the node usage out, not the pods', async (t) => {
  const w = world()
  await w.pod('web', { app: BUSY })
  let readable = true
  const sampler = w.sampler({ readNodeStats: async () => {
    if (!readable) throw new ProcStatsError('/proc/stat has no aggregate "cpu" line')
    return { timestampMs: w.timers.realtimeMs(), cpuUsageCoreNanoSeconds: w.timers.realtimeMs() * 1_000_000, memoryWorkingSetBytes: 5 * MIB }
  } })
  await sampler.sampleOnce()
  w.timers.advance(PERIOD_MS)
  readable = false
  const record = await sampler.sampleOnce()
  t.equal(record?.usage, undefined)
  t.equal(record?.pods.length, 1)
  t.match(w.logged, [/node counters not read: .*no aggregate "cpu" line/])
  readable = true
  w.timers.advance(PERIOD_MS)
  t.equal((await sampler.sampleOnce())?.usage, undefined, 'the reading after a failure has nothing to compare with')
  w.timers.advance(PERIOD_MS)
  t.same((await sampler.sampleOnce())?.usage, { cpuNanoCores: ONE_CORE, memoryBytes: 5 * MIB }, 'then the node is back')
  t.throws(() => w.sampler({ periodMs: 0.5 }), { name: 'AssertionError' }, 'periods are whole milliseconds')
})

t.test('/proc parsing: the aggregate line, guest not counted twice, and text it does not know', async (t) => {
  t.equal(procStatCpuNanoseconds('cpu  100 0 100 1000 50 0 0 0 0 0\n'), 2_000_000_000, '200 busy ticks = 2 core-seconds')
  t.equal(procStatCpuNanoseconds('cpu  100 0 100 1000 50 0 0 0 70 0\n'), 2_000_000_000, 'guest is part of user already')
  t.equal(procStatCpuNanoseconds('cpu 1 2 3 4 5\n'), 60_000_000, 'old kernels with five fields')
  t.throws(() => procStatCpuNanoseconds('cpu0 1 2 3 4 5\n'), ProcStatsError)
  t.throws(() => procStatCpuNanoseconds('cpu  1 2 x 4 5\n'), ProcStatsError)
  t.equal(procMeminfoWorkingSetBytes('MemTotal: 2048 kB\nMemAvailable: 1024 kB\n'), 1024 * 1024)
  t.throws(() => procMeminfoWorkingSetBytes('MemTotal: 2048 kB\n'), { name: 'ProcStatsError', message: /MemAvailable/ })
})

t.test('rates: none without an earlier reading, after a clock step back or a counter that went down', async (t) => {
  t.equal(rateOf(undefined, { timestampMs: 1000, cpuNs: 5 }), undefined)
  t.equal(rateOf({ timestampMs: 1000, cpuNs: 0 }, { timestampMs: 3000, cpuNs: 1_000_000_000 }), 500_000_000, 'one core-second over two seconds')
  t.equal(rateOf({ timestampMs: 1000, cpuNs: 0 }, { timestampMs: 1000, cpuNs: 10 }), undefined)
  t.equal(rateOf({ timestampMs: 2000, cpuNs: 0 }, { timestampMs: 1000, cpuNs: 10 }), undefined)
  t.equal(rateOf({ timestampMs: 1000, cpuNs: 10 }, { timestampMs: 2000, cpuNs: 5 }), undefined)
})

t.test('start: withdraws the old record, then one pass per period until stop', async (t) => {
  const w = world()
  await w.pod('web', { app: BUSY })
  const calls: string[] = []
  const sampler = w.sampler({
    withdraw: async () => void calls.push('withdraw'),
    publish: async (record) => void calls.push(`publish@${record.timestampMs - w.timers.realtimeMs()}`),
  })
  sampler.start()
  await drain()
  t.same(calls, ['withdraw'], 'withdrawn first; the first pass only reads')
  for (let pass = 1; pass <= 3; pass++) {
    w.timers.advance(PERIOD_MS)
    await drain()
  }
  t.same(calls, ['withdraw', 'publish@0', 'publish@0', 'publish@0'], 'one pass per period')
  sampler.stop()
  w.timers.advance(10 * PERIOD_MS)
  await drain()
  t.equal(calls.length, 4, 'nothing after stop')
  t.throws(() => sampler.start(), { name: 'AssertionError' })
})

t.test('start: a failing runtime or publisher is logged and the next period tries again', async (t) => {
  const w = world()
  await w.pod('web', { app: BUSY })
  let publishes = 0
  const sampler = w.sampler({
    withdraw: async () => {
      throw new Error('no quorum')
    },
    publish: async () => {
      publishes++
      if (publishes === 1) throw new Error('not leader')
    },
  })
  sampler.start()
  await drain()
  w.timers.advance(PERIOD_MS)
  await drain()
  w.timers.advance(PERIOD_MS)
  await drain()
  t.equal(publishes, 2, 'published again after the failure')
  t.match(w.logged, [/previous record was not withdrawn: no quorum/, /metrics of node n1 not sampled: not leader/])
  sampler.stop()
})

t.test('a pass that is under way is joined, not doubled', async (t) => {
  const w = world()
  await w.pod('web', { app: BUSY })
  const sampler = w.sampler()
  await sampler.sampleOnce()
  w.timers.advance(PERIOD_MS)
  const [first, second] = await Promise.all([sampler.sampleOnce(), sampler.sampleOnce()])
  t.equal(first, second)
  t.equal(w.published.length, 1)
})
