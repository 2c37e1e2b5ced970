/**
 * `flotilla lab …`: the multi-host lab on one machine (run as root).
 *
 *   flotilla lab up --hosts N --zones Z [--dir DIR] [--overlay host-gw|vxlan]
 *   flotilla lab status [--dir DIR] [-o json]
 *   flotilla lab kubeconfig [--dir DIR]
 *   flotilla lab down [--dir DIR]
 *   flotilla lab chaos --suite short|long [--seed N] [--report DIR] [--dir DIR]
 *   flotilla lab demo [--dir DIR]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { FlotillaError } from '../../../lib/errors.ts'
import { labDown, labKubeconfig, labStatus, labUp } from './lab.ts'
import { DEFAULT_LAB_DIRECTORY, OVERLAYS, type Overlay } from './plan.ts'

const USAGE = readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(3, 9).map((line) => line.replace(/^ \* {0,3}/, '')).join('\n')

function wholeNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isInteger(value)) throw new FlotillaError(`${flag} must be a whole number, got "${text}"`)
  return value
}

/** Runs one lab command; resolves with the process exit code. */
export async function runLabCommand(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  const { values } = parseArgs({
    args: [...rest],
    options: {
      hosts: { type: 'string' },
      zones: { type: 'string' },
      dir: { type: 'string' },
      overlay: { type: 'string' },
      output: { type: 'string', short: 'o' },
      suite: { type: 'string' },
      seed: { type: 'string' },
      report: { type: 'string' },
    },
  })
  const directory = values.dir ?? DEFAULT_LAB_DIRECTORY
  const say = (line: string): void => void process.stdout.write(`${line}\n`)
  switch (command) {
    case 'up': {
      const hosts = wholeNumber('--hosts', values.hosts, 3)
      const overlay = (values.overlay ?? 'host-gw') as Overlay
      if (!OVERLAYS.includes(overlay)) throw new FlotillaError(`--overlay must be host-gw or vxlan, got "${values.overlay}"`)
      const state = await labUp({ hosts, zones: wholeNumber('--zones', values.zones, Math.min(3, hosts)), directory, overlay, log: say })
      say(`Lab up in ${directory}: ${state.hosts} hosts in ${state.zones} zones (overlay ${state.overlay}, recorded).`)
      say(`kubectl from inside the lab: flotilla lab kubeconfig --dir ${directory} > lab.kubeconfig && nsenter --net=/run/netns/fl-h1 kubectl --kubeconfig lab.kubeconfig get nodes`)
      return 0
    }
    case 'status': {
      const status = await labStatus(directory)
      if (values.output === 'json') {
        say(JSON.stringify(status, null, 2))
        return 0
      }
      const yesNo = (value: boolean): string => (value ? 'yes' : 'NO')
      say(`lab ${status.directory}: ${status.phase}, overlay ${status.overlay}`)
      say(`${'HOST'.padEnd(6)} ${'ZONE'.padEnd(6)} ${'ADDRESS'.padEnd(12)} ${'NETNS'.padEnd(6)} ${'ENGINE'.padEnd(7)} DAEMON`)
      for (const host of status.hosts) say(`${host.name.padEnd(6)} ${host.zone.padEnd(6)} ${host.underlayIp.padEnd(12)} ${yesNo(host.netns).padEnd(6)} ${yesNo(host.engine).padEnd(7)} ${yesNo(host.daemon)}`)
      say('')
      say(status.cluster?.trimEnd() ?? 'no daemon answers')
      const healthy = status.hosts.every((host) => host.netns && host.engine && host.daemon)
      return healthy ? 0 : 1
    }
    case 'kubeconfig':
      process.stdout.write(await labKubeconfig(directory))
      return 0
    case 'down': {
      const left = await labDown(directory)
      const problems = [
        ...left.namespaces.map((name) => `namespace ${name}`),
        ...left.processes.map((pid) => `process ${pid}`),
        ...left.mounts.map((point) => `mount ${point}`),
        ...left.cgroups.map((path) => `cgroup ${path}`),
      ]
      if (problems.length === 0) {
        say(`Lab in ${directory} removed.`)
        return 0
      }
      process.stderr.write(`flotilla lab down: still present:\n  ${problems.join('\n  ')}\n`)
      return 1
    }
    case 'demo': {
      // A sample web app behind a Service on a 3-host lab: the README's main demo.
      const { runLabDemo } = await import('./demo.ts')
      return runLabDemo({ directory, say })
    }
    case 'chaos': {
      // The resilience suite (issue 8): loaded only for this command.
      const { runChaosCommand } = await import('../suite.ts')
      return runChaosCommand({ directory, suite: values.suite, seed: values.seed, report: values.report })
    }
    case undefined:
    case 'help':
    case '--help':
      say(USAGE)
      return 0
    default:
      process.stderr.write(`flotilla lab: unknown command "${command}"\n\n${USAGE}\n`)
      return 2
  }
}
