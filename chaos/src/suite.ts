/**
 * The resilience suite (`flotilla lab chaos --suite short|long`): a lab (the one in --dir, or a
 * fresh 3-host/3-zone one), the register workload on every host, a Deployment to watch, and a
 * seeded schedule of faults, each held, measured, healed and followed by a convergence check.
 * At the end: linearizability of the register history, no acknowledged write lost, every host
 * agreeing on the final value. Every violation is listed in the report; the CLI exits non-zero.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { InvalidConfigError } from '../../lib/errors.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import { HostApiClient } from './checkers/api-proxy.ts'
import { checkRegister, lostAcknowledgedWrite, type RegisterValue } from './checkers/cas-register.ts'
import { createProbeDeployment, deleteProbeObjects, firstWritable, leaderName, readyNodes, readyOutside, replicaView, type ReplicaView } from './checkers/cluster-probes.ts'
import { RegisterWorkload } from './checkers/register-workload.ts'
import { evaluateGoals, writeReport, type RecoveryMeasurement, type SuiteReport } from './checkers/report.ts'
import { checkRouting, createServiceObjects, deleteServiceObjects, phaseStats, PROPAGATION_ALLOWANCE_MS, SERVICE_APP, ServiceTraffic } from './checkers/service-traffic.ts'
import { IdentitySampler, identityStatefulSet, STATEFULSET_NAME, statefulSetPath } from './checkers/statefulset-identity.ts'
import { LabExistsError, labDown, labKubeconfig, labUp, planOf, readLabState } from './lab/lab.ts'
import type { HostPlan, LabPlan } from './lab/plan.ts'
import { Nemesis, type Heal } from './nemesis/nemesis.ts'
import { freshSeed, longSchedule, shortSchedule, type FaultSpec, type ScheduledFault } from './nemesis/schedule.ts'

export type SuiteName = 'short' | 'long'

export interface SuiteOptions {
  readonly suite: SuiteName
  readonly seed: number
  /** The lab to use; when it holds no lab, a 3-host/3-zone one is built there and removed after. */
  readonly labDirectory: string
  readonly reportDirectory?: string
  readonly log?: (line: string) => void
}

const REPLICAS = 3
const STATEFULSET_REPLICAS = 3
const SERVICE_REPLICAS = 2
/** How long a fault is held at most while recovery is still being measured. */
const RECOVERY_BOUND_MS = 30_000
/** After heal: every member alive again, then the Deployment back at its desired Ready replicas. */
const REJOIN_BOUND_MS = 60_000
const CONVERGENCE_BOUND_MS = 60_000
const SAMPLE_INTERVAL_MS = 500
const LEADER_SAMPLE_INTERVAL_MS = 3_000

export async function runSuite(options: SuiteOptions): Promise<SuiteReport> {
  const log = options.log ?? (() => {})
  const t0 = performance.now()
  const now = (): number => performance.now() - t0
  log(`chaos suite ${options.suite}, seed ${options.seed}`)
  const ownLab = readLabState(options.labDirectory) === undefined
  if (ownLab) {
    try {
      await labUp({ hosts: 3, zones: 3, directory: options.labDirectory, log })
    } catch (error) {
      // Another lab already on the machine is not ours to remove: `down` would take its namespaces.
      if (!(error instanceof LabExistsError)) await labDown(options.labDirectory).catch(() => undefined)
      throw error
    }
  }
  const plan = planOf(readLabState(options.labDirectory)!)
  const report: SuiteReport = {
    suite: options.suite,
    seed: options.seed,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    faults: [],
    recovery: [],
    operations: { total: 0, ok: 0, fail: 0, info: 0, reads: 0 },
    violations: [],
    samples: [],
    events: [],
    goals: [],
    serviceRequests: [],
  }
  const nemesis = new Nemesis(plan, now)
  const kubeconfigFile = join(options.labDirectory, 'chaos.kubeconfig')
  writeFileSync(kubeconfigFile, await labKubeconfig(options.labDirectory))
  const clients = plan.hosts.map((host) => new HostApiClient(host.name, host.netns, kubeconfigFile, `https://${host.kubeListen}`))
  const workload = new RegisterWorkload({ clients, random: new RandomXoshiro(options.seed ^ 0x5eed), now })
  const dead = new Set<string>()
  /** Hosts cut off from the cluster by the current fault, or rejoining after it (see runFault). */
  const cutOff = new Set<string>()
  const identities = new IdentitySampler(new Map(plan.hosts.map((host) => [host.name, host.dockerSocket])), now)
  let traffic: ServiceTraffic | undefined
  let clusterIp: string | undefined
  let sampling = true
  let leader: string | undefined
  // The leader comes from `flotilla status`, a process per call: sampled less often than replicas.
  const leaderSampler = (async () => {
    while (sampling) {
      leader = await leaderName(plan.hosts.filter((host) => !dead.has(host.name)))
      await sleep(LEADER_SAMPLE_INTERVAL_MS)
    }
  })()
  const sampler = (async () => {
    while (sampling) {
      const client = clients.find((candidate) => !dead.has(candidate.host))
      const view = client === undefined ? undefined : await replicaView(client)
      report.samples.push({ timeMs: now(), leader, ready: view?.ready })
      await sleep(SAMPLE_INTERVAL_MS)
    }
  })()
  try {
    await createProbeDeployment(clients[0]!, REPLICAS)
    const created = await clients[0]!.request('POST', statefulSetPath, identityStatefulSet(STATEFULSET_REPLICAS), 10_000)
    if (created.status >= 300 && created.status !== 409) throw new Error(`creating statefulset ${STATEFULSET_NAME}: HTTP ${created.status} ${JSON.stringify(created.body)}`)
    clusterIp = await createServiceObjects(clients[0]!, SERVICE_REPLICAS)
    const converged = await convergence(clients, dead, CONVERGENCE_BOUND_MS * 2)
    if (converged === undefined) report.violations.push(`the Deployment never reached ${REPLICAS} Ready replicas before any fault`)
    for (const [path, desired] of [[`${statefulSetPath}/${STATEFULSET_NAME}`, STATEFULSET_REPLICAS], [`/apis/apps/v1/namespaces/default/deployments/${SERVICE_APP}`, SERVICE_REPLICAS]] as const) {
      if (!(await workloadReady(clients, path, desired, CONVERGENCE_BOUND_MS * 2))) report.violations.push(`${path} never reached ${desired} Ready replicas before any fault`)
    }
    log(`deployment, statefulset and service Ready (${Math.round(now())} ms); register workload, identity sampling and service traffic start`)
    workload.start()
    identities.start()
    let turn = 0
    const ip = clusterIp
    traffic = new ServiceTraffic({
      clusterIp: ip,
      netnsOf: (name) => plan.hosts.find((host) => host.name === name)!.netns,
      // Requests rotate over the hosts that are alive, so a dead client host does not count as the Service failing.
      pickClient: () => {
        const alive = clients.filter((client) => !dead.has(client.host))
        const client = alive[turn++ % Math.max(1, alive.length)]
        return client === undefined ? undefined : { host: client.host, api: client }
      },
      inCluster: (name) => !dead.has(name) && !cutOff.has(name),
      now,
    })
    traffic.start()
    const schedule = options.suite === 'short' ? shortSchedule({ seed: options.seed, hosts: plan.hosts }) : longSchedule({ seed: options.seed, hosts: plan.hosts })
    for (const step of schedule) {
      await sleep(step.delayMs)
      report.recovery.push(await runFault(plan, nemesis, clients, dead, cutOff, step, now, log, report.violations))
    }
    await workload.stop()
    const finalValue = await finalReads(workload, clients, report.violations)
    report.finalValue = finalValue
    const history = workload.history()
    const verdict = checkRegister(history)
    report.linearizable = verdict.ok
    if (!verdict.ok) report.violations.push(`the register history is not linearizable; stuck at: ${JSON.stringify(verdict.stuck?.slice(0, 5))}`)
    if (finalValue !== undefined) {
      const lost = lostAcknowledgedWrite(history, finalValue)
      if (lost !== undefined) report.violations.push(`acknowledged write ${lost.value} lost: the register holds ${String(lost.finalValue)} after heal`)
    }
    report.operations = {
      total: history.length,
      ok: history.filter((operation) => operation.input.f === 'cas' && operation.input.outcome === 'ok').length,
      fail: history.filter((operation) => operation.input.f === 'cas' && operation.input.outcome === 'fail').length,
      info: history.filter((operation) => operation.input.f === 'cas' && operation.input.outcome === 'info').length,
      reads: history.filter((operation) => operation.input.f === 'read').length,
    }
  } finally {
    await workload.stop()
    await identities.stop()
    await traffic?.stop()
    sampling = false
    await Promise.all([sampler, leaderSampler])
    await nemesis.healAll().catch((error: unknown) => report.violations.push(`healAll failed: ${String(error)}`))
    report.faults.push(...nemesis.log)
    for (const fault of nemesis.log) if (fault.healedMs === undefined) report.violations.push(`fault ${fault.description} was not healed`)
    if (traffic !== undefined && clusterIp !== undefined) {
      const routing = checkRouting(traffic.requests, traffic.samples)
      report.service = { clusterIp, requests: traffic.requests.length, phases: phaseStats(traffic.requests, nemesis.log), routingViolations: routing.violations.length, unjudged: routing.unjudged, fromCutOffHosts: routing.fromCutOffHosts, propagationAllowanceMs: PROPAGATION_ALLOWANCE_MS }
      report.serviceRequests = traffic.requests
      for (const violation of routing.violations.slice(0, 10)) report.violations.push(`Service ${SERVICE_APP} routed a request at ${Math.round(violation.request.startMs)} ms (from ${violation.request.client}) to ${violation.request.pod}, which the API showed as ${[...new Set(violation.seen)].join('/')} throughout`)
      if (routing.violations.length > 10) report.violations.push(`… and ${routing.violations.length - 10} more requests routed to pods that were not Ready`)
    }
    report.identity = { rounds: identities.rounds, violations: identities.tracker.violations }
    for (const violation of identities.tracker.violations) report.violations.push(`StatefulSet identity ${violation.identity} ran on ${violation.hosts.join(' and ')} at once (${Math.round(violation.timeMs)} ms: ${violation.containers.join(', ')})`)
    report.goals = evaluateGoals(report.recovery)
    if (!ownLab) {
      await deleteProbeObjects(clients[0]!)
      await deleteServiceObjects(clients[0]!)
      await clients[0]!.request('DELETE', `${statefulSetPath}/${STATEFULSET_NAME}`, undefined, 10_000).catch(() => undefined)
    }
    await Promise.all(clients.map((client) => client.close()))
    if (ownLab) await labDown(options.labDirectory)
    report.durationMs = now()
    report.events = workload.events
    if (options.reportDirectory !== undefined) {
      const files = writeReport(options.reportDirectory, report)
      log(`report: ${files.json}, ${files.html}`)
    }
  }
  return report
}

/** Injects one scheduled fault, measures recovery while it is held, heals, and checks convergence. */
async function runFault(plan: LabPlan, nemesis: Nemesis, clients: readonly HostApiClient[], dead: Set<string>, cutOff: Set<string>, step: ScheduledFault, now: () => number, log: (line: string) => void, violations: string[]): Promise<RecoveryMeasurement> {
  const leaderBefore = await leaderName(plan.hosts.filter((host) => !dead.has(host.name)))
  const spec = step.fault.kind === 'kill-leader-host' ? { kind: 'kill-host' as const, host: leaderBefore ?? plan.hosts[0]!.name } : step.fault
  const killed = killedHosts(plan, spec)
  // Pods elsewhere is measured only when the dead hosts ran some: an earlier fault may have moved them all.
  const before = killed.length > 0 ? await replicaView(clients.find((client) => !killed.includes(client.host)) ?? clients[0]!) : undefined
  const podsOnKilledHosts = before === undefined ? undefined : killed.reduce((sum, name) => sum + (before.readyByNode[name] ?? 0), 0)
  const injectedMs = now()
  const affected = affectedHosts(plan, spec)
  for (const name of affected) cutOff.add(name)
  const heal = await inject(nemesis, spec)
  for (const name of killed) dead.add(name)
  const description = nemesis.log[nemesis.log.length - 1]?.description ?? spec.kind
  log(`${Math.round(injectedMs)} ms: ${description} (leader was ${leaderBefore ?? 'unknown'})`)
  const survivors = clients.filter((client) => !killed.includes(client.host) && !(spec.kind === 'partition-minority' && spec.minority.includes(client.host)))
  const killedLeader = leaderBefore !== undefined && killed.includes(leaderBefore)
  const measurement: { -readonly [K in keyof RecoveryMeasurement]: RecoveryMeasurement[K] } = { fault: description, kind: spec.kind, killedLeader, podsOnKilledHosts }
  const bound = injectedMs + Math.max(step.durationMs, RECOVERY_BOUND_MS)
  const measurements: Promise<void>[] = []
  if (killed.length > 0 || spec.kind === 'partition-minority') {
    measurements.push(firstWritable(survivors, bound, now).then((at) => {
      if (at !== undefined) measurement.apiWritableMs = Math.round(at - injectedMs)
    }))
  }
  // Zone loss is measured whether or not the zone ran replicas: the goal is about the Deployment.
  if (killed.length > 0 && (measurement.podsOnKilledHosts !== 0 || spec.kind === 'kill-zone')) {
    measurements.push((async () => {
      let turn = 0
      while (now() < bound) {
        const client = survivors[turn++ % Math.max(1, survivors.length)]
        const view = client === undefined ? undefined : await replicaView(client)
        if (view !== undefined && readyOutside(view, killed) >= view.desired) {
          const elapsedMs = Math.round(now() - injectedMs)
          if (measurement.podsOnKilledHosts !== 0) measurement.podsElsewhereMs = elapsedMs
          if (spec.kind === 'kill-zone') measurement.zoneReplicasRestoredMs = elapsedMs
          return
        }
        await sleep(200)
      }
    })())
  }
  await Promise.all([...measurements, sleep(step.durationMs)])
  log(`${Math.round(now())} ms: healing ${description} (API writable after ${measurement.apiWritableMs ?? '–'} ms, pods elsewhere after ${measurement.podsElsewhereMs ?? '–'} ms)`)
  const healStartMs = now()
  await heal()
  for (const name of killed) dead.delete(name)
  const rejoinDeadline = now() + REJOIN_BOUND_MS
  let whole = false
  for (let turn = 0; !whole && now() < rejoinDeadline; turn++) {
    const ready = await readyNodes(clients[turn % clients.length]!)
    whole = ready !== undefined && plan.hosts.every((host) => ready.includes(host.name))
    if (!whole) await sleep(250)
  }
  if (!whole) violations.push(`after healing ${description}, not every node was Ready again within ${REJOIN_BOUND_MS} ms`)
  const last: { view?: ReplicaView } = {}
  const converged = await convergence(clients, dead, CONVERGENCE_BOUND_MS, last)
  if (converged === undefined) violations.push(`after healing ${description}, the Deployment did not reach ${REPLICAS} Ready replicas within ${CONVERGENCE_BOUND_MS} ms; last seen: ${last.view?.pods.join(' ') ?? 'no answer'}`)
  else measurement.convergedAfterHealMs = Math.round(now() - healStartMs)
  log(`${Math.round(now())} ms: ${description} healed; converged ${measurement.convergedAfterHealMs ?? 'NOT'} ms after heal`)
  // Every node Ready again: the affected hosts belong to the cluster again once their own proxy
  // rules have had the propagation allowance to catch up with what the cluster did meanwhile (a
  // rejoining node's replica and informers replay the changes it missed; until then it routes like
  // the cut-off node it was). The next fault waits for this.
  await sleep(PROPAGATION_ALLOWANCE_MS)
  for (const name of affected) cutOff.delete(name)
  return measurement
}

/** Waits for the Deployment's desired Ready replicas; resolves with the time, or undefined at the bound. */
async function convergence(clients: readonly HostApiClient[], dead: ReadonlySet<string>, boundMs: number, last: { view?: ReplicaView } = {}): Promise<number | undefined> {
  const deadline = performance.now() + boundMs
  let turn = 0
  while (performance.now() < deadline) {
    const alive = clients.filter((client) => !dead.has(client.host))
    const client = alive[turn++ % Math.max(1, alive.length)]
    const view = client === undefined ? undefined : await replicaView(client)
    if (view !== undefined) last.view = view
    // More Ready than desired (old pods of a rebooted host not yet scaled down) is converged too.
    if (view !== undefined && view.ready >= view.desired) return performance.now()
    await sleep(250)
  }
  return undefined
}

/**
 * The hosts a fault cuts off from the cluster (their daemon cannot follow the API while it lasts):
 * killed, partitioned, frozen, or with their daemon down or restarted. Degraded links (loss,
 * latency, bandwidth) leave every host in the cluster.
 */
function affectedHosts(plan: LabPlan, spec: FaultSpec): string[] {
  switch (spec.kind) {
    case 'kill-host':
    case 'kill-zone':
      return killedHosts(plan, spec)
    case 'partition-minority':
      return [...spec.minority]
    case 'partition-one-way':
      return [...spec.from, ...spec.to]
    case 'freeze':
    case 'daemon-crash':
    case 'clock-skew':
      return [spec.host]
    default:
      return []
  }
}

function killedHosts(plan: LabPlan, spec: FaultSpec): string[] {
  if (spec.kind === 'kill-host') return [spec.host]
  if (spec.kind === 'kill-zone') return plan.hosts.filter((host: HostPlan) => host.zone === spec.zone).map((host) => host.name)
  return []
}

function inject(nemesis: Nemesis, spec: FaultSpec): Promise<Heal> {
  switch (spec.kind) {
    case 'kill-leader-host':
      throw new RangeError('kill-leader-host must be resolved to a host first')
    case 'kill-host':
      return nemesis.killHost(spec.host)
    case 'kill-zone':
      return nemesis.killZone(spec.zone)
    case 'partition-minority': {
      const majority = nemesis.plan.hosts.map((host) => host.name).filter((name) => !spec.minority.includes(name))
      return nemesis.partition([spec.minority, majority])
    }
    case 'partition-one-way':
      return nemesis.partitionOneWay(spec.from, spec.to)
    case 'freeze':
      return nemesis.freeze(spec.host)
    case 'loss':
      return nemesis.packetLoss(spec.from, spec.to, spec.percent)
    case 'bandwidth':
      return nemesis.bandwidth(spec.host, spec.rate)
    case 'daemon-crash':
      return nemesis.crashDaemon(spec.host)
    case 'latency':
      return nemesis.addLatency(spec.from, spec.to, spec.delayMs, spec.jitterMs)
    case 'clock-skew':
      return nemesis.clockSkew(spec.host, spec.skewMs)
  }
}

/** Waits until a Deployment or StatefulSet (by API path) reports `desired` Ready replicas. */
async function workloadReady(clients: readonly HostApiClient[], path: string, desired: number, boundMs: number): Promise<boolean> {
  const deadline = performance.now() + boundMs
  for (let turn = 0; performance.now() < deadline; turn++) {
    const response = await clients[turn % clients.length]!.request('GET', path, undefined, 2_000).catch(() => undefined)
    const ready = (response?.body as { status?: { readyReplicas?: number } } | undefined)?.status?.readyReplicas ?? 0
    if (response?.status === 200 && ready >= desired) return true
    await sleep(500)
  }
  return false
}

/** After every heal: each host reads the register (recorded); they must agree. */
async function finalReads(workload: RegisterWorkload, clients: readonly HostApiClient[], violations: string[]): Promise<RegisterValue | undefined> {
  const values: RegisterValue[] = []
  for (const client of clients) {
    const deadline = performance.now() + 30_000
    let read: Awaited<ReturnType<RegisterWorkload['read']>>
    while ((read = await workload.read(client, true)) === undefined && performance.now() < deadline) await sleep(250)
    if (read === undefined) violations.push(`${client.host} could not read the register after heal`)
    else values.push(read.value)
  }
  const distinct = [...new Set(values)]
  if (distinct.length > 1) violations.push(`hosts disagree on the register after heal: ${distinct.join(', ')}`)
  return distinct[0]
}

export interface ChaosCommandOptions {
  readonly directory: string
  readonly suite: string | undefined
  readonly seed: string | undefined
  readonly report: string | undefined
}

/** `flotilla lab chaos`: runs a suite, prints the seed, recovery times and violations; exit 1 on any violation. */
export async function runChaosCommand(options: ChaosCommandOptions): Promise<number> {
  const suite = options.suite ?? 'short'
  if (suite !== 'short' && suite !== 'long') throw new InvalidConfigError(`--suite must be short or long, got "${suite}"`)
  const seed = options.seed === undefined ? freshSeed() : Number(options.seed)
  if (!Number.isSafeInteger(seed)) throw new InvalidConfigError(`--seed must be a whole number, got "${options.seed}"`)
  const say = (line: string): void => void process.stdout.write(`${line}\n`)
  say(`seed ${seed} (replay with --seed ${seed})`)
  const report = await runSuite({ suite, seed, labDirectory: options.directory, reportDirectory: options.report ?? join(options.directory, '..', `flotilla-chaos-${seed}`), log: say })
  for (const entry of report.recovery) say(`recovery ${entry.fault}: API writable ${entry.apiWritableMs ?? '–'} ms, pods elsewhere ${entry.podsElsewhereMs ?? '–'} ms${entry.kind === 'kill-zone' ? `, zone loss replicas restored ${entry.zoneReplicasRestoredMs ?? '–'} ms` : ''}, converged ${entry.convergedAfterHealMs ?? '–'} ms after heal`)
  for (const goal of report.goals) say(`goal: ${goal.goal} ≤ ${goal.targetMs} ms: ${goal.measuredMs ?? '–'} ms, ${goal.met === undefined ? 'not measured' : goal.met ? 'met' : 'MISSED'}`)
  if (report.service !== undefined) {
    say(`service ${report.service.clusterIp}: ${report.service.requests} requests, ${report.service.routingViolations} routed to non-Ready pods (${report.service.propagationAllowanceMs} ms allowance), not judged: ${report.service.unjudged} without an API sample, ${report.service.fromCutOffHosts} from cut-off or recovering hosts`)
    for (const phase of report.service.phases) say(`  ${phase.phase}: ${phase.ok}/${phase.requests} ok (${(phase.successRate * 100).toFixed(1)}%)`)
  }
  if (report.identity !== undefined) say(`statefulset identities: ${report.identity.rounds} sampling rounds, ${report.identity.violations.length} ran twice at once`)
  say(`${report.operations.total} register operations, linearizable: ${report.linearizable === true ? 'yes' : 'NO'}, final value ${String(report.finalValue)}`)
  if (report.violations.length === 0) {
    say('no violations')
    return 0
  }
  process.stderr.write(`VIOLATIONS (seed ${seed}):\n  ${report.violations.join('\n  ')}\n`)
  return 1
}
