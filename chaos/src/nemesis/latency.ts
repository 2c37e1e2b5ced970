/**
 * Added latency on switch links without netem (absent from this kernel): the switch namespace's
 * bridged IPv4 goes through iptables (`bridge-nf-call-iptables=1`), a `-m physdev` rule per delayed
 * link sends its frames to an NFQUEUE, and nfq-delayer.py, bound to that queue inside the switch
 * namespace, accepts each packet only after the delay (testbed.md §3.6).
 *
 * Fail-open by construction: the rules carry `--queue-bypass`, so if the delayer dies its packets
 * pass undelayed instead of being dropped; healing removes the rules first and only then stops
 * the delayer, which lets every packet it still holds through.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { FlotillaError } from '../../../lib/errors.ts'
import { run } from '../lab/exec.ts'
import type { Link } from './switch.ts'

export const DELAYER_SCRIPT = join(import.meta.dirname, 'nfq-delayer.py')
/** Debian's interpreter, not whatever a user's PATH (pyenv shims) would pick. */
export const SYSTEM_PYTHON = '/usr/bin/python3'
/** Queue numbers the lab uses; each delayed fault takes the next free one. */
const FIRST_QUEUE = 4100
const QUEUE_COUNT = 64
const DELAYER_READY_TIMEOUT_MS = 10_000
const DELAYER_STOP_TIMEOUT_MS = 5_000
/** Every rule carries this comment prefix, so a crashed run's leftovers can be found and removed. */
const RULE_COMMENT_PREFIX = 'fl-delay-'

/** The delayer did not bind its queue (exited, or said nothing before the deadline). */
export class DelayerStartError extends FlotillaError {
  override name = 'DelayerStartError'
}

export interface DelaySpec {
  /** Frames from port `from` to port `to` are delayed (one direction per link). */
  readonly links: readonly Link[]
  /** Added one-way latency per link. */
  readonly delayMs: number
  /** Each packet's delay is uniform in delayMs ± jitterMs. */
  readonly jitterMs?: number
  readonly seed?: number
}

interface ActiveDelay {
  readonly queue: number
  readonly rules: readonly (readonly string[])[]
  readonly delayer: ChildProcess
}

/**
 * The latency faults of one switch namespace. Each fault (`id`) has its own queue, delayer
 * process and rules, so faults can overlap and heal independently.
 */
export class LatencyInjector {
  private readonly netns: string
  private readonly active = new Map<string, ActiveDelay>()
  private readonly logDelayer: (line: string) => void

  constructor(netns: string, options: { readonly log?: (line: string) => void } = {}) {
    this.netns = netns
    this.logDelayer = options.log ?? (() => {})
  }

  /** Starts the delayer, then adds the rules; resolves once delayed traffic flows through it. */
  async add(id: string, spec: DelaySpec): Promise<void> {
    if (this.active.has(id)) throw new RangeError(`latency fault ${id} is already active`)
    if (!(spec.delayMs >= 0) || !((spec.jitterMs ?? 0) >= 0)) throw new RangeError(`delay and jitter must not be negative, got ${spec.delayMs} ± ${spec.jitterMs ?? 0} ms`)
    const queue = this.freeQueue()
    const delayer = await this.startDelayer(queue, spec)
    const rules = spec.links.map((link) => forwardRule(link, queue, `${RULE_COMMENT_PREFIX}${id}`))
    const entry: ActiveDelay = { queue, rules, delayer }
    this.active.set(id, entry)
    try {
      // Bridged frames reach iptables only with this on; the lab's switch keeps it off otherwise.
      await this.inSwitch(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1'])
      for (const rule of rules) await this.inSwitch(['iptables', '-w', '-A', ...rule])
    } catch (error) {
      await this.remove(id).catch(() => undefined)
      throw error
    }
  }

  /** Removes the fault's rules, then stops its delayer (which releases what it holds). */
  async remove(id: string): Promise<void> {
    const entry = this.active.get(id)
    if (entry === undefined) return
    this.active.delete(id)
    const errors: unknown[] = []
    for (const rule of entry.rules) {
      await this.inSwitch(['iptables', '-w', '-D', ...rule]).catch((error: unknown) => {
        // A rule that was never added (add failed half-way) is fine to miss.
        if (!String(error).includes('does a matching rule exist')) errors.push(error)
      })
    }
    await stopDelayer(entry.delayer)
    if (this.active.size === 0) await this.inSwitch(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0']).catch((error: unknown) => errors.push(error))
    if (errors.length > 0) throw new AggregateError(errors, `removing latency fault ${id}`)
  }

  /** Removes every fault of this injector, and any delay rule a crashed earlier run left behind. */
  async removeAll(): Promise<void> {
    for (const id of [...this.active.keys()]) await this.remove(id).catch(() => undefined)
    const rules = await this.inSwitch(['iptables', '-w', '-S', 'FORWARD']).catch(() => '')
    for (const line of rules.split('\n')) {
      if (!line.startsWith('-A FORWARD') || !line.includes(RULE_COMMENT_PREFIX)) continue
      await this.inSwitch(['iptables', '-w', '-D', ...splitRule(line.slice(3))]).catch(() => undefined)
    }
    if (rules !== '') await this.inSwitch(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0']).catch(() => undefined)
  }

  activeFaults(): string[] {
    return [...this.active.keys()]
  }

  /** The PID of a fault's delayer process (for tests that kill it to check failing open). */
  delayerPid(id: string): number | undefined {
    return this.active.get(id)?.delayer.pid
  }

  private freeQueue(): number {
    const used = new Set([...this.active.values()].map((entry) => entry.queue))
    for (let queue = FIRST_QUEUE; queue < FIRST_QUEUE + QUEUE_COUNT; queue++) if (!used.has(queue)) return queue
    throw new RangeError(`more than ${QUEUE_COUNT} latency faults at once`)
  }

  private startDelayer(queue: number, spec: DelaySpec): Promise<ChildProcess> {
    const args = [`--net=/run/netns/${this.netns}`, '--', SYSTEM_PYTHON, DELAYER_SCRIPT, '--queue', String(queue), '--delay-ms', String(spec.delayMs), '--jitter-ms', String(spec.jitterMs ?? 0), ...(spec.seed === undefined ? [] : ['--seed', String(spec.seed)])]
    // nsenter without --fork execs the interpreter: the child's PID is the delayer's own.
    const child = spawn('nsenter', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const stderr: string[] = []
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line)
      this.logDelayer(`delayer queue ${queue}: ${line}`)
    })
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new DelayerStartError(`the delayer for queue ${queue} did not bind within ${DELAYER_READY_TIMEOUT_MS} ms: ${stderr.join(' | ')}`))
      }, DELAYER_READY_TIMEOUT_MS)
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(timer)
        if (line.startsWith('ready')) resolve(child)
        else {
          child.kill('SIGKILL')
          reject(new DelayerStartError(`the delayer for queue ${queue} said "${line}"`))
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new DelayerStartError(`the delayer for queue ${queue} exited (${code ?? signal}) before binding: ${stderr.join(' | ')}`))
      })
    })
  }

  private inSwitch(command: readonly string[]): Promise<string> {
    return run('nsenter', [`--net=/run/netns/${this.netns}`, '--', ...command])
  }
}

/** The FORWARD rule (after `-A`/`-D`) that queues frames of one link. */
export function forwardRule(link: Link, queue: number, comment: string): string[] {
  return ['FORWARD', '-m', 'physdev', '--physdev-in', link.from, '--physdev-out', link.to, '-m', 'comment', '--comment', comment, '-j', 'NFQUEUE', '--queue-num', String(queue), '--queue-bypass']
}

/** `iptables -S` output is space-separated with quoted comments only when they hold spaces (ours never do). */
function splitRule(text: string): string[] {
  return text.split(' ').filter((word) => word !== '')
}

/** SIGTERM (the delayer releases what it holds), SIGKILL if it does not exit in time. */
async function stopDelayer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), DELAYER_STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}
