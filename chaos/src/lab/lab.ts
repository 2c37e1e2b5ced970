/**
 * The lab's lifecycle: `up` builds the switch, the hosts, their engines and daemons and forms one
 * cluster; `status` and `kubeconfig` read a running lab; `down` removes everything. The plan's
 * options are written to `<lab dir>/lab.json` before anything is created, so `down` and `status`
 * work from another process and after an `up` that failed half-way.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FlotillaError } from '../../../lib/errors.ts'
import { waitFor } from '../../../lib/poll.ts'
import { hostPids, killHostProcesses, leftoverHostCgroups, removeHostCgroups } from './cgroups.ts'
import { flotillaInHost, startDaemon, waitForDaemonOutput } from './daemons.ts'
import { engineAnswers, loadImages, mountsUnder, removeShimSockets, startEngine, unmountHost, waitForEngine } from './engine.ts'
import { attempt, processAlive } from './exec.ts'
import { hostNetworkDown, hostNetworkUp } from './host.ts'
import { DEFAULT_LAB_DIRECTORY, LAB_PREFIX, labPlan, SWITCH_NETNS, type HostPlan, type LabPlan, type LabPlanOptions, type Overlay } from './plan.ts'
import { listNetns, switchDown, switchUp } from './underlay.ts'

/** A lab already exists (state file or namespaces): `lab down` first. */
export class LabExistsError extends FlotillaError {
  override name = 'LabExistsError'
}

/** The machine cannot host a lab (not root, no `ip netns`, no cgroup v1 freezer). */
export class LabUnsupportedError extends FlotillaError {
  override name = 'LabUnsupportedError'
}

/** No lab state file in the directory. */
export class NoLabError extends FlotillaError {
  override name = 'NoLabError'
}

/** What lab.json holds: enough to recompute the plan, plus the PIDs started. */
export interface LabState {
  readonly hosts: number
  readonly zones: number
  readonly overlay: Overlay
  readonly directory: string
  phase: 'starting' | 'up' | 'failed'
  enginePids: Record<string, number>
  daemonPids: Record<string, number>
  /** The cluster's join token, for adding hosts later. */
  joinToken?: string
}

/** How long `up` waits for every daemon to see all the others alive. */
const CLUSTER_FORM_TIMEOUT_MS = 60_000

/** Checks what `up` needs from the machine; throws LabUnsupportedError naming the first gap. */
export async function checkLabSupport(): Promise<void> {
  if (process.getuid?.() !== 0) throw new LabUnsupportedError('the lab needs root (network namespaces, cgroups, dockerd)')
  if (!(await attempt('ip', ['netns', 'list']))) throw new LabUnsupportedError('`ip netns` is not available')
  if (!existsSync('/sys/fs/cgroup/freezer')) throw new LabUnsupportedError('the lab needs the cgroup v1 freezer at /sys/fs/cgroup/freezer')
  if (!(await attempt('dockerd', ['--version']))) throw new LabUnsupportedError('dockerd is not installed')
}

function stateFile(directory: string): string {
  return join(directory, 'lab.json')
}

export function readLabState(directory: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(directory), 'utf8')) as LabState
  } catch {
    return undefined
  }
}

function writeLabState(state: LabState): void {
  writeFileSync(stateFile(state.directory), `${JSON.stringify(state, null, 2)}\n`)
}

export function planOf(state: Pick<LabState, 'hosts' | 'zones' | 'overlay' | 'directory'>): LabPlan {
  return labPlan({ hosts: state.hosts, zones: state.zones, overlay: state.overlay, directory: state.directory })
}

export interface LabUpOptions extends LabPlanOptions {
  readonly log?: (line: string) => void
}

/**
 * Builds the lab and resolves once every daemon is a live member of one cluster. On failure the
 * partial lab is left for inspection (logs under `<dir>/logs`) and `down` removes it.
 */
export async function labUp(options: LabUpOptions): Promise<LabState> {
  const log = options.log ?? (() => {})
  await checkLabSupport()
  const plan = labPlan(options)
  if (readLabState(plan.directory) !== undefined) throw new LabExistsError(`a lab already exists in ${plan.directory}; run \`flotilla lab down --dir ${plan.directory}\` first`)
  const taken = (await listNetns()).filter((name) => name === SWITCH_NETNS || plan.hosts.some((host) => host.netns === name))
  if (taken.length > 0) throw new LabExistsError(`network namespaces ${taken.join(', ')} already exist (another lab?); run \`flotilla lab down\` first`)
  mkdirSync(plan.logDirectory, { recursive: true })
  const state: LabState = { hosts: options.hosts, zones: options.zones, overlay: plan.overlay, directory: plan.directory, phase: 'starting', enginePids: {}, daemonPids: {} }
  writeLabState(state)
  const startedMs = performance.now()
  const elapsed = (): string => `${Math.round(performance.now() - startedMs)} ms`
  try {
    await switchUp(plan)
    for (const host of plan.hosts) await hostNetworkUp(plan, host)
    log(`switch and ${plan.hosts.length} host namespaces up (${elapsed()})`)
    for (const host of plan.hosts) state.enginePids[host.name] = startEngine(plan, host)
    writeLabState(state)
    await Promise.all(plan.hosts.map((host) => waitForEngine(plan, host, state.enginePids[host.name]!)))
    log(`engines answer (${elapsed()})`)
    await Promise.all(plan.hosts.map((host) => loadImages(host)))
    log(`images built in every engine (${elapsed()})`)
    await startCluster(plan, state)
    log(`cluster of ${plan.hosts.length} daemons formed (${elapsed()})`)
    state.phase = 'up'
    writeLabState(state)
    return state
  } catch (error) {
    state.phase = 'failed'
    writeLabState(state)
    throw error
  }
}

async function startCluster(plan: LabPlan, state: LabState): Promise<void> {
  const [first, ...others] = plan.hosts
  if (first === undefined) return
  state.daemonPids[first.name] = startDaemon(plan, first, undefined)
  writeLabState(state)
  const token = await waitForDaemonOutput(plan, first, state.daemonPids[first.name]!, 'print a join token', /flotilla1\.\S+/)
  state.joinToken = token
  // One join at a time: each joiner is added to the Raft configuration by the leader in turn.
  for (const host of others) {
    state.daemonPids[host.name] = startDaemon(plan, host, token)
    writeLabState(state)
    await waitForDaemonOutput(plan, host, state.daemonPids[host.name]!, 'join the cluster', /Joined cluster/)
  }
  await waitFor(`all ${plan.hosts.length} members to be alive`, CLUSTER_FORM_TIMEOUT_MS, async () => {
    const members = await clusterMembers(first).catch(() => undefined)
    return members !== undefined && members.length === plan.hosts.length && members.every((member) => member.alive) ? true : undefined
  }, 250)
}

interface MemberView {
  readonly name: string
  readonly zone: string
  readonly alive: boolean
  readonly raftRole: string
}

async function clusterMembers(host: HostPlan): Promise<MemberView[]> {
  const status = JSON.parse(await flotillaInHost(host, ['status', '-o', 'json'], 10_000)) as { members: MemberView[] }
  return status.members
}

export interface HostStatus {
  readonly name: string
  readonly zone: string
  readonly underlayIp: string
  readonly netns: boolean
  readonly engine: boolean
  readonly daemon: boolean
}

export interface LabStatus {
  readonly directory: string
  readonly phase: LabState['phase']
  readonly overlay: Overlay
  readonly hosts: readonly HostStatus[]
  /** `flotilla status` as seen by the first host whose daemon answers. */
  readonly cluster: string | undefined
}

export async function labStatus(directory = DEFAULT_LAB_DIRECTORY): Promise<LabStatus> {
  const state = requireState(directory)
  const plan = planOf(state)
  const namespaces = new Set(await listNetns())
  const hosts = await Promise.all(
    plan.hosts.map(async (host): Promise<HostStatus> => {
      const pid = state.daemonPids[host.name]
      return { name: host.name, zone: host.zone, underlayIp: host.underlayIp, netns: namespaces.has(host.netns), engine: await engineAnswers(host), daemon: pid !== undefined && processAlive(pid) }
    }),
  )
  let cluster: string | undefined
  for (const host of plan.hosts) {
    if (!hosts.find((entry) => entry.name === host.name)?.daemon) continue
    cluster = await flotillaInHost(host, ['status'], 10_000).catch(() => undefined)
    if (cluster !== undefined) break
  }
  return { directory, phase: state.phase, overlay: state.overlay, hosts, cluster }
}

/**
 * A kubeconfig from the first host whose daemon answers. Its servers are the hosts' underlay
 * addresses, reachable only from inside the lab's namespaces (`nsenter --net=/run/netns/fl-h1`).
 */
export async function labKubeconfig(directory = DEFAULT_LAB_DIRECTORY): Promise<string> {
  const plan = planOf(requireState(directory))
  let lastError: unknown
  for (const host of plan.hosts) {
    try {
      return await flotillaInHost(host, ['kubeconfig'], 15_000)
    } catch (error) {
      lastError = error
    }
  }
  throw new FlotillaError(`no daemon in the lab answered for a kubeconfig`, { cause: lastError })
}

function requireState(directory: string): LabState {
  const state = readLabState(directory)
  if (state === undefined) throw new NoLabError(`no lab in ${directory} (no ${stateFile(directory)}); start one with \`flotilla lab up\``)
  return state
}

/** The host indices that have anything on the machine: namespaces, run directories, cgroups. */
async function hostIndicesPresent(): Promise<number[]> {
  const pattern = new RegExp(`^${LAB_PREFIX}h(\\d+)$`)
  const names = [...(await listNetns()), ...safeReaddir('/run'), ...safeReaddir('/sys/fs/cgroup/freezer')]
  return [...new Set(names.map((name) => pattern.exec(name)?.[1]).filter((index) => index !== undefined).map(Number))]
}

function safeReaddir(directory: string): string[] {
  try {
    return readdirSync(directory)
  } catch {
    return []
  }
}

/** What `down` found still present afterwards; empty when the machine is clean. */
export interface LabLeftovers {
  readonly namespaces: string[]
  readonly processes: number[]
  readonly mounts: string[]
  readonly cgroups: string[]
}

/**
 * Removes the lab: per host, every process of its cgroup (daemon, engine, containerd, shims,
 * containers), the shim sockets containerd leaks, the engine's mounts, the namespace, the cgroups
 * and directories; then the switch and the lab's own files. Works without a state file (it then
 * removes every `fl-hN` it finds) and when run twice. Resolves with whatever is still left.
 */
export async function labDown(directory = DEFAULT_LAB_DIRECTORY): Promise<LabLeftovers> {
  await checkLabSupport()
  const state = readLabState(directory)
  const present = await hostIndicesPresent()
  const hosts = Math.max(state?.hosts ?? 0, ...present, 1)
  const plan = labPlan({ hosts, zones: 1, directory })
  await Promise.all(plan.hosts.map((host) => hostDown(plan, host)))
  await switchDown(plan)
  rmSync(plan.logDirectory, { recursive: true, force: true })
  rmSync(plan.stateFile, { force: true })
  // Only the lab's own files are removed: --dir may name a directory that held other things.
  try {
    rmdirSync(directory)
  } catch {
    // Not empty (someone else's files) or already gone.
  }
  return leftovers(plan)
}

async function hostDown(plan: LabPlan, host: HostPlan): Promise<void> {
  await killHostProcesses(host.cgroup)
  removeShimSockets(host)
  await unmountHost(host)
  await hostNetworkDown(plan, host)
  removeHostCgroups(host.cgroup)
  rmSync(host.runDirectory, { recursive: true, force: true })
  rmSync(host.diskDirectory, { recursive: true, force: true })
}

async function leftovers(plan: LabPlan): Promise<LabLeftovers> {
  // Only the lab's own names: other tools on the machine use the `fl-` prefix too.
  const ours = new RegExp(`^${LAB_PREFIX}(ul|h\\d+)$`)
  const namespaces = (await listNetns()).filter((name) => ours.test(name))
  return {
    namespaces,
    processes: plan.hosts.flatMap((host) => hostPids(host.cgroup)),
    mounts: mountsUnder([plan.directory, ...plan.hosts.map((host) => host.runDirectory)]),
    cgroups: plan.hosts.flatMap((host) => leftoverHostCgroups(host.cgroup)),
  }
}
