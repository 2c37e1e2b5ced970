/**
 * The suite's report: JSON for machines and a one-page HTML timeline (faults as bars, the leader,
 * the workload's error rate and the Ready replicas per second) for people.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FaultRecord } from '../nemesis/nemesis.ts'
import type { WorkloadEvent } from './register-workload.ts'
import type { PhaseStats, ServiceRequest } from './service-traffic.ts'
import type { IdentityViolation } from './statefulset-identity.ts'

export interface Sample {
  readonly timeMs: number
  readonly leader: string | undefined
  readonly ready: number | undefined
}

/** A recovery goal of issue 8 and what this run measured against it (goals are not violations). */
export interface GoalResult {
  readonly goal: string
  readonly targetMs: number
  /** The worst measurement of the run; undefined when no fault of the kind measured it. */
  readonly measuredMs: number | undefined
  readonly met: boolean | undefined
}

export interface RecoveryMeasurement {
  readonly fault: string
  /** The injected fault's kind (kill-host, kill-zone, partition, …). */
  readonly kind?: string
  /** Whether the host(s) killed included the Raft leader of the moment. */
  readonly killedLeader?: boolean
  /** Leader (or its host) lost → the API took a write again. */
  readonly apiWritableMs?: number
  /** The probe Deployment's Ready pods on the killed hosts when they died (0: nothing to move). */
  readonly podsOnKilledHosts?: number | undefined
  /** Nodes dead → the Deployment's replicas Ready on other nodes. */
  readonly podsElsewhereMs?: number
  /** Heal → the Deployment back at its desired Ready replicas. */
  readonly convergedAfterHealMs?: number
  /**
   * Zone death only: the zone killed → the Deployment at its desired Ready replicas on the other
   * zones, measured while the zone is still down (whether or not it ran replicas).
   */
  readonly zoneReplicasRestoredMs?: number
}

export interface SuiteReport {
  readonly suite: string
  readonly seed: number
  readonly startedAt: string
  durationMs: number
  readonly faults: FaultRecord[]
  readonly recovery: RecoveryMeasurement[]
  operations: { readonly total: number; readonly ok: number; readonly fail: number; readonly info: number; readonly reads: number }
  linearizable?: boolean
  finalValue?: string | null
  readonly violations: string[]
  readonly samples: Sample[]
  events: readonly WorkloadEvent[]
  goals: GoalResult[]
  /** Service traffic through the ClusterIP: success rate per fault phase, routing to non-Ready pods. */
  service?: {
    readonly clusterIp: string
    readonly requests: number
    readonly phases: readonly PhaseStats[]
    readonly routingViolations: number
    /** Successful responses not judged: no API sample within their window. */
    readonly unjudged: number
    /** Successful responses to clients on hosts cut off from the cluster or recovering (not judged). */
    readonly fromCutOffHosts: number
    readonly propagationAllowanceMs: number
  }
  serviceRequests: readonly ServiceRequest[]
  /** StatefulSet identities seen running on two hosts at once (sampled from every engine). */
  identity?: { readonly rounds: number; readonly violations: readonly IdentityViolation[] }
}

/** Issue 8's recovery goals. */
export const GOALS = {
  apiWritableAfterLeaderDeathMs: 2_000,
  podsElsewhereAfterNodeDeathMs: 10_000,
  replicasAfterZoneLossMs: 15_000,
} as const

/**
 * Each goal against the worst measurement of the run. A fault that should have been measured but
 * never recovered within the suite's bound counts as missed.
 */
export function evaluateGoals(recovery: readonly RecoveryMeasurement[]): GoalResult[] {
  const goal = (name: string, targetMs: number, relevant: readonly RecoveryMeasurement[], value: (entry: RecoveryMeasurement) => number | undefined): GoalResult => {
    if (relevant.length === 0) return { goal: name, targetMs, measuredMs: undefined, met: undefined }
    const values = relevant.map(value)
    const measured = values.filter((entry): entry is number => entry !== undefined)
    const measuredMs = measured.length === 0 ? undefined : Math.max(...measured)
    return { goal: name, targetMs, measuredMs, met: measured.length === values.length && (measuredMs ?? 0) <= targetMs }
  }
  const killing = recovery.filter((entry) => entry.kind === 'kill-host' || entry.kind === 'kill-zone')
  return [
    goal('API writable after the leader host dies', GOALS.apiWritableAfterLeaderDeathMs, killing.filter((entry) => entry.killedLeader === true), (entry) => entry.apiWritableMs),
    goal("a dead node's pods Ready elsewhere", GOALS.podsElsewhereAfterNodeDeathMs, killing.filter((entry) => (entry.podsOnKilledHosts ?? 0) > 0), (entry) => entry.podsElsewhereMs),
    goal('zone loss (1 of 3): replicas restored', GOALS.replicasAfterZoneLossMs, recovery.filter((entry) => entry.kind === 'kill-zone'), (entry) => entry.zoneReplicasRestoredMs),
  ]
}

export function writeReport(directory: string, report: SuiteReport): { json: string; html: string } {
  mkdirSync(directory, { recursive: true })
  const json = join(directory, 'report.json')
  const html = join(directory, 'report.html')
  writeFileSync(json, `${JSON.stringify({ ...report, events: undefined, serviceRequests: undefined }, null, 2)}\n`)
  writeFileSync(html, renderHtml(report))
  return { json, html }
}

const escape = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

/** Per-second counts of good and bad outcomes, for an error-rate row of the timeline. */
function perSecond<T>(items: readonly T[], timeMs: (item: T) => number, good: (item: T) => boolean): Map<number, { ok: number; bad: number }> {
  const buckets = new Map<number, { ok: number; bad: number }>()
  for (const item of items) {
    const second = Math.floor(timeMs(item) / 1000)
    const bucket = buckets.get(second) ?? { ok: 0, bad: 0 }
    if (good(item)) bucket.ok++
    else bucket.bad++
    buckets.set(second, bucket)
  }
  return buckets
}

const milliseconds = (value: number | undefined): string => (value === undefined ? '–' : `${value} ms`)

function renderHtml(report: SuiteReport): string {
  const totalMs = Math.max(report.durationMs, 1)
  const width = 1000
  const x = (ms: number): number => Math.round((Math.max(0, ms) / totalMs) * width)
  const faultBars = report.faults.map((fault, i) => {
    const end = fault.healedMs ?? totalMs
    return `<rect x="${x(fault.injectedMs)}" y="${10 + i * 18}" width="${Math.max(2, x(end) - x(fault.injectedMs))}" height="14" fill="${fault.healError === undefined ? '#e57' : '#a00'}"><title>${escape(fault.description)}</title></rect><text x="${x(fault.injectedMs) + 3}" y="${21 + i * 18}" font-size="11">${escape(fault.description)}</text>`
  })
  const rateRow = (top: number, buckets: Map<number, { ok: number; bad: number }>, color: string): string =>
    [...buckets].map(([second, bucket]) => {
      const rate = bucket.bad / Math.max(1, bucket.ok + bucket.bad)
      return `<rect x="${x(second * 1000)}" y="${top + 40 - rate * 40}" width="${Math.max(1, x(1000))}" height="${Math.max(0.5, rate * 40)}" fill="${rate === 0 ? '#9c9' : color}"><title>${second}s: ${bucket.bad} errors / ${bucket.ok} ok</title></rect>`
    }).join('')
  const errorTop = 10 + report.faults.length * 18 + 20
  const registerRow = rateRow(errorTop, perSecond(report.events, (event) => event.timeMs, (event) => event.type === 'ok'), '#c33')
  const serviceTop = errorTop + 60
  const serviceRow = rateRow(serviceTop, perSecond(report.serviceRequests, (request) => request.startMs, (request) => request.ok), '#c70')
  const replicaTop = serviceTop + 60
  const replicaMarks = report.samples.map((sample) => `<circle cx="${x(sample.timeMs)}" cy="${replicaTop + 40 - (sample.ready ?? 0) * 10}" r="2" fill="#36c"><title>${Math.round(sample.timeMs)} ms: ${sample.ready ?? '?'} ready, leader ${sample.leader ?? '?'}</title></circle>`)
  const leaderTop = replicaTop + 60
  // The leader as a band that changes colour (and is labelled) at each change.
  const leaderMarks: string[] = []
  const palette = ['#fc6', '#6cf', '#c9f', '#9e9', '#f99', '#ccc']
  const colours = new Map<string, string>()
  report.samples.forEach((sample, i) => {
    const next = report.samples[i + 1]
    const leader = sample.leader ?? '–'
    if (!colours.has(leader)) colours.set(leader, leader === '–' ? '#fff' : palette[colours.size % palette.length]!)
    const end = next?.timeMs ?? totalMs
    leaderMarks.push(`<rect x="${x(sample.timeMs)}" y="${leaderTop}" width="${Math.max(1, x(end) - x(sample.timeMs))}" height="16" fill="${colours.get(leader)}"><title>${Math.round(sample.timeMs)} ms: leader ${escape(leader)}</title></rect>`)
    if (report.samples[i - 1]?.leader !== sample.leader) leaderMarks.push(`<text x="${x(sample.timeMs) + 2}" y="${leaderTop + 12}" font-size="10">${escape(leader)}</text>`)
  })
  const service = report.service
  return `<!doctype html><meta charset="utf-8"><title>Flotilla chaos ${escape(report.suite)} seed ${report.seed}</title>
<style>body{font-family:sans-serif;margin:2em}svg{border:1px solid #ccc}td,th{padding:2px 8px;text-align:left}.bad{color:#a00}.good{color:#080}</style>
<h1>Chaos suite "${escape(report.suite)}", seed ${report.seed}</h1>
<p>${escape(report.startedAt)} · ${Math.round(report.durationMs / 1000)} s · ${report.operations.total} register operations (${report.operations.ok} ok, ${report.operations.fail} fail, ${report.operations.info} unknown) · linearizable: <b>${report.linearizable === true ? 'yes' : 'NO'}</b> · violations: <b class="${report.violations.length === 0 ? 'good' : 'bad'}">${report.violations.length}</b></p>
${report.violations.length > 0 ? `<ul>${report.violations.map((violation) => `<li class="bad">${escape(violation)}</li>`).join('')}</ul>` : ''}
<svg width="${width + 20}" height="${leaderTop + 30}" xmlns="http://www.w3.org/2000/svg">
${faultBars.join('\n')}
<text x="0" y="${errorTop - 4}" font-size="11">register workload error rate per second</text>${registerRow}
<text x="0" y="${serviceTop - 4}" font-size="11">Service request error rate per second</text>${serviceRow}
<text x="0" y="${replicaTop - 4}" font-size="11">Ready replicas (Deployment ${escape('chaos-web')})</text>${replicaMarks.join('')}
<text x="0" y="${leaderTop - 4}" font-size="11">Raft leader</text>${leaderMarks.join('')}
</svg>
<h2>Goals</h2><table><tr><th>goal</th><th>target</th><th>worst measured</th><th></th></tr>
${report.goals.map((goal) => `<tr><td>${escape(goal.goal)}</td><td>≤ ${goal.targetMs} ms</td><td>${milliseconds(goal.measuredMs)}</td><td class="${goal.met === false ? 'bad' : 'good'}">${goal.met === undefined ? 'not measured' : goal.met ? 'met' : 'MISSED'}</td></tr>`).join('\n')}</table>
<h2>Recovery</h2><table><tr><th>fault</th><th>API writable</th><th>pods elsewhere</th><th>zone loss: replicas restored</th><th>converged after heal</th></tr>
${report.recovery.map((entry) => `<tr><td>${escape(entry.fault)}</td><td>${milliseconds(entry.apiWritableMs)}</td><td>${milliseconds(entry.podsElsewhereMs)}</td><td>${milliseconds(entry.zoneReplicasRestoredMs)}</td><td>${milliseconds(entry.convergedAfterHealMs)}</td></tr>`).join('\n')}</table>
${service === undefined ? '' : `<h2>Service traffic (ClusterIP ${escape(service.clusterIp)})</h2>
<p>${service.requests} requests · routing to a pod that was not Ready (allowing ${service.propagationAllowanceMs} ms for propagation): <b class="${service.routingViolations === 0 ? 'good' : 'bad'}">${service.routingViolations}</b> · responses not judged: ${service.unjudged} (no API sample) + ${service.fromCutOffHosts} (client host cut off or recovering)</p>
<table><tr><th>phase</th><th>requests</th><th>ok</th><th>success rate</th></tr>
${service.phases.map((phase) => `<tr><td>${escape(phase.phase)}</td><td>${phase.requests}</td><td>${phase.ok}</td><td>${(phase.successRate * 100).toFixed(1)}%</td></tr>`).join('\n')}</table>`}
${report.identity === undefined ? '' : `<h2>StatefulSet identities</h2><p>${report.identity.rounds} sampling rounds of every engine · identities running twice at once: <b class="${report.identity.violations.length === 0 ? 'good' : 'bad'}">${report.identity.violations.length}</b></p>
${report.identity.violations.length === 0 ? '' : `<ul>${report.identity.violations.map((violation) => `<li class="bad">${escape(violation.identity)} on ${escape(violation.hosts.join(' and '))} at ${Math.round(violation.timeMs)} ms (${escape(violation.containers.join(', '))})</li>`).join('')}</ul>`}`}
`
}
