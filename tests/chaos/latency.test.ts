// Goal: the latency nemesis adds the configured one-way delay to one link of a switch namespace
// and healing removes it completely (rules gone, delayer gone, RTT back near the base). Method: a
// bridge namespace and two "host" namespaces built by the test (not the lab), `busybox ping`
// between them before, with 50 ms each way (A→B and B→A), and after heal; bounds are generous
// (added RTT at least 80% of the configured 100 ms) because the machine is shared and busy.
// Skipped (failed when CI=true) without root, `ip netns`, iptables, /usr/bin/python3 or busybox.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import t from 'tap'
import { LatencyInjector, SYSTEM_PYTHON } from '../../chaos/src/nemesis/latency.ts'

const execFileAsync = promisify(execFile)
// Names of our own, distinct from the lab's fl-ul/fl-hN, so this test never needs the lab lock.
const SWITCH = 'fl-lat-sw'
const A = 'fl-lat-a'
const B = 'fl-lat-b'
const A_IP = '10.251.0.1'
const B_IP = '10.251.0.2'
const DELAY_MS = 50

async function missingPrerequisite(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the latency test needs root'
  if (!existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} is missing`
  try {
    await execFileAsync('ip', ['netns', 'list'])
    await execFileAsync('iptables', ['--version'])
    await execFileAsync('busybox', ['true'])
  } catch (error) {
    return `\`ip netns\`, iptables or busybox is unavailable: ${(error as Error).message}`
  }
  return undefined
}

const ip = (args: string[]): Promise<unknown> => execFileAsync('ip', args)
const inNetns = (netns: string, command: string[]): Promise<{ stdout: string }> => execFileAsync('nsenter', [`--net=/run/netns/${netns}`, '--', ...command], { timeout: 30_000 })

async function teardown(): Promise<void> {
  for (const netns of [A, B, SWITCH]) await ip(['netns', 'del', netns]).catch(() => undefined)
}

async function build(): Promise<void> {
  await teardown()
  await ip(['netns', 'add', SWITCH])
  await ip(['-n', SWITCH, 'link', 'add', 'br0', 'type', 'bridge'])
  await ip(['-n', SWITCH, 'link', 'set', 'br0', 'up'])
  await inNetns(SWITCH, ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0'])
  for (const [netns, port, address] of [[A, 'pa', A_IP], [B, 'pb', B_IP]] as const) {
    await ip(['netns', 'add', netns])
    await ip(['-n', SWITCH, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns])
    await ip(['-n', SWITCH, 'link', 'set', port, 'master', 'br0', 'up'])
    await ip(['-n', netns, 'link', 'set', 'lo', 'up'])
    await ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0'])
    await ip(['-n', netns, 'link', 'set', 'eth0', 'up'])
  }
}

/** The median RTT of `count` pings A→B, in milliseconds. */
async function medianRttMs(count = 7): Promise<number> {
  const { stdout } = await inNetns(A, ['busybox', 'ping', '-c', String(count), '-i', '0.2', '-W', '5', B_IP])
  const times = [...stdout.matchAll(/time=([\d.]+) ms/g)].map((match) => Number(match[1])).sort((x, y) => x - y)
  if (times.length === 0) throw new Error(`no ping replies:\n${stdout}`)
  return times[Math.floor(times.length / 2)]!
}

const forwardRules = async (): Promise<string[]> => (await inNetns(SWITCH, ['iptables', '-S', 'FORWARD'])).stdout.split('\n').filter((line) => line.startsWith('-A'))

const unavailable = await missingPrerequisite()
if (unavailable !== undefined && process.env['CI'] === 'true') t.fail(unavailable)
else if (unavailable !== undefined) t.test('latency nemesis', { skip: unavailable }, async () => {})
else {
  t.test('an NFQUEUE delayer adds the configured latency and heal removes it', async (t) => {
    t.teardown(teardown)
    await build()
    const injector = new LatencyInjector(SWITCH)
    t.teardown(() => injector.removeAll())

    const baseMs = await medianRttMs()
    t.ok(baseMs < 20, `base RTT is small (${baseMs} ms)`)

    await injector.add('both-ways', { links: [{ from: 'pa', to: 'pb' }, { from: 'pb', to: 'pa' }], delayMs: DELAY_MS })
    t.equal((await forwardRules()).length, 2, 'one NFQUEUE rule per delayed link')
    const delayedMs = await medianRttMs()
    t.ok(delayedMs - baseMs >= 0.8 * 2 * DELAY_MS, `RTT rose by at least 80% of 2 × ${DELAY_MS} ms (base ${baseMs} ms, delayed ${delayedMs} ms)`)
    t.ok(delayedMs < 2 * DELAY_MS + 400, `and not absurdly more (${delayedMs} ms)`)

    await injector.remove('both-ways')
    t.same(await forwardRules(), [], 'heal removes every rule')
    t.same(injector.activeFaults(), [], 'no fault is left active')
    const afterMs = await medianRttMs()
    t.ok(afterMs < baseMs + 20, `after heal the RTT is back near the base (${afterMs} ms vs ${baseMs} ms)`)
  })

  t.test('one-way delay affects only its direction; a killed delayer fails open', async (t) => {
    t.teardown(teardown)
    await build()
    const injector = new LatencyInjector(SWITCH)
    t.teardown(() => injector.removeAll())
    const baseMs = await medianRttMs()
    await injector.add('a-to-b', { links: [{ from: 'pa', to: 'pb' }], delayMs: DELAY_MS, jitterMs: 5, seed: 1 })
    const oneWayMs = await medianRttMs()
    t.ok(oneWayMs - baseMs >= 0.8 * DELAY_MS, `one direction adds about one delay (base ${baseMs} ms, now ${oneWayMs} ms)`)
    t.ok(oneWayMs < 2 * DELAY_MS, `but not two (${oneWayMs} ms)`)

    // The delayer dies without healing: --queue-bypass must let the link carry traffic undelayed.
    const pid = injector.delayerPid('a-to-b')
    t.ok(pid !== undefined, 'the delayer runs')
    process.kill(pid!, 'SIGKILL')
    const bypassMs = await medianRttMs()
    t.ok(bypassMs < baseMs + 20, `with the delayer dead, traffic passes undelayed (${bypassMs} ms)`)
    await injector.removeAll()
    t.same(await forwardRules(), [], 'removeAll leaves no rule')
  })
}
