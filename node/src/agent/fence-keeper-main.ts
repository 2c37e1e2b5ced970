/**
 * The fence keeper process (fence-keeper.ts): started detached by the daemon, it watches the
 * daemon's heartbeat file and kills this node's running at-most-once containers when the heartbeat
 * goes stale.
 *
 *   node fence-keeper-main.ts --data DIR --docker-socket PATH --node NAME --stale-ms N
 */
import { parseArgs } from 'node:util'
import Docker from 'dockerode'
import { RUNTIME_LABELS } from '../../../runtime/src/runtime.ts'
import { AT_MOST_ONCE_LABEL, dataDirectoryGone, heartbeatAgeMs, KEEPER_IDLE_EXIT_MS, keeperFiles, keeperVerdict } from './fence-keeper.ts'

const TICK_MS = 250

const { values } = parseArgs({ options: { data: { type: 'string' }, 'docker-socket': { type: 'string' }, node: { type: 'string' }, 'stale-ms': { type: 'string' } } })
const dataDirectory = values.data ?? ''
const nodeName = values.node ?? ''
const staleMs = Number(values['stale-ms'] ?? 3000)
if (dataDirectory === '' || nodeName === '' || values['docker-socket'] === undefined || !Number.isFinite(staleMs)) {
  process.stderr.write('usage: fence-keeper-main.ts --data DIR --docker-socket PATH --node NAME --stale-ms N\n')
  process.exit(2)
}
const docker = new Docker({ socketPath: values['docker-socket'] })
const files = keeperFiles(dataDirectory)
const say = (line: string): void => void process.stdout.write(`${new Date().toISOString()} fence keeper ${nodeName}: ${line}\n`)

/** Kills the guarded containers that run; resolves with how many were running. */
async function killGuarded(): Promise<number> {
  const running = await docker.listContainers({ filters: JSON.stringify({ label: [`${RUNTIME_LABELS.node}=${nodeName}`, `${AT_MOST_ONCE_LABEL}=true`], status: ['running'] }) })
  for (const container of running) {
    await docker.getContainer(container.Id).kill({ signal: 'SIGKILL' }).catch((error: Error) => say(`killing ${container.Id.slice(0, 12)}: ${error.message}`))
    say(`the daemon's heartbeat is stale: killed ${container.Labels[RUNTIME_LABELS.podNamespace] ?? ''}/${container.Labels[RUNTIME_LABELS.podName] ?? ''} (${container.Id.slice(0, 12)})`)
  }
  return running.length
}

say(`guarding at-most-once containers; stale after ${staleMs} ms`)
let staleSinceMs: number | undefined
let lastTickMs = performance.now()
for (;;) {
  if (dataDirectoryGone(dataDirectory)) {
    say('the data directory is gone: exiting')
    process.exit(0)
  }
  const nowMs = Date.now()
  // A keeper that did not run for longer than the stale bound was frozen or starved with its
  // daemon: the cluster may have replaced the pods meanwhile, and the daemon's first heartbeat
  // after waking would hide that. Kill at once, as the daemon's own fence does after a stall.
  const stalledMs = performance.now() - lastTickMs - TICK_MS
  lastTickMs = performance.now()
  if (stalledMs > staleMs) {
    say(`did not run for ${Math.round(stalledMs)} ms (frozen or starved): fencing`)
    await killGuarded().catch((error: Error) => say(`listing containers: ${error.message}`))
  } else if (keeperVerdict(heartbeatAgeMs(files.heartbeat, nowMs), staleMs) === 'kill') {
    staleSinceMs ??= nowMs
    const running = await killGuarded().catch((error: Error) => {
      say(`listing containers: ${error.message}`)
      return 1
    })
    if (running === 0 && nowMs - staleSinceMs > KEEPER_IDLE_EXIT_MS) {
      say('no daemon and nothing to guard: exiting')
      process.exit(0)
    }
  } else staleSinceMs = undefined
  await new Promise((resolve) => setTimeout(resolve, TICK_MS))
}
