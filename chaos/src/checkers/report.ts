/**
 * The suite's report: JSON for machines and a one-page HTML timeline (faults as bars, the leader,
 * the workload's error rate and the Ready replicas per second) for people.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FaultRecord } from '../nemesis/nemesis.ts'
import type { WorkloadEvent } from './register-workload.ts'

export interface Sample {
  readonly timeMs: number
  readonly leader: string | undefined
  readonly ready: number | undefined
}

export interface RecoveryMeasurement {
  readonly fault: string
  /** Leader (or its host) lost → the API took a write again. */
  readonly apiWritableMs?: number
  /** The probe Deployment's Ready pods on the killed hosts when they died (0: nothing to move). */
  readonly podsOnKilledHosts?: number | undefined
  /** Nodes dead → the Deployment's replicas Ready on other nodes. */
  readonly podsElsewhereMs?: number
  /** Heal → the Deployment back at its desired Ready replicas. */
  readonly convergedAfterHealMs?: number
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
}

export function writeReport(directory: string, report: SuiteReport): { json: string; html: string } {
  mkdirSync(directory, { recursive: true })
  const json = join(directory, 'report.json')
  const html = join(directory, 'report.html')
  writeFileSync(json, `${JSON.stringify({ ...report, events: undefined }, null, 2)}\n`)
  writeFileSync(html, renderHtml(report))
  return { json, html }
}

const escape = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

function renderHtml(report: SuiteReport): string {
  const totalMs = Math.max(report.durationMs, 1)
  const width = 1000
  const x = (ms: number): number => Math.round((Math.max(0, ms) / totalMs) * width)
  const faultBars = report.faults.map((fault, i) => {
    const end = fault.healedMs ?? totalMs
    return `<rect x="${x(fault.injectedMs)}" y="${10 + i * 18}" width="${Math.max(2, x(end) - x(fault.injectedMs))}" height="14" fill="${fault.healError === undefined ? '#e57' : '#a00'}"><title>${escape(fault.description)}</title></rect><text x="${x(fault.injectedMs) + 3}" y="${21 + i * 18}" font-size="11">${escape(fault.description)}</text>`
  })
  // Per-second workload errors (fail + info) as a bar chart.
  const buckets = new Map<number, { ok: number; bad: number }>()
  for (const event of report.events) {
    const second = Math.floor(event.timeMs / 1000)
    const bucket = buckets.get(second) ?? { ok: 0, bad: 0 }
    if (event.type === 'ok') bucket.ok++
    else bucket.bad++
    buckets.set(second, bucket)
  }
  const errorTop = 10 + report.faults.length * 18 + 20
  const errorBars = [...buckets].map(([second, bucket]) => {
    const rate = bucket.bad / Math.max(1, bucket.ok + bucket.bad)
    return `<rect x="${x(second * 1000)}" y="${errorTop + 40 - rate * 40}" width="${Math.max(1, x(1000))}" height="${rate * 40}" fill="#c33"><title>${second}s: ${bucket.bad} errors / ${bucket.ok} ok</title></rect>`
  })
  const replicaTop = errorTop + 60
  const replicaMarks = report.samples.map((sample) => `<circle cx="${x(sample.timeMs)}" cy="${replicaTop + 40 - (sample.ready ?? 0) * 10}" r="2" fill="#36c"><title>${Math.round(sample.timeMs)} ms: ${sample.ready ?? '?'} ready, leader ${sample.leader ?? '?'}</title></circle>`)
  const leaderTop = replicaTop + 60
  const leaderMarks = report.samples.map((sample) => `<text x="${x(sample.timeMs)}" y="${leaderTop + 12}" font-size="9">${escape(sample.leader ?? '–')}</text>`)
  return `<!doctype html><meta charset="utf-8"><title>Flotilla chaos ${escape(report.suite)} seed ${report.seed}</title>
<style>body{font-family:sans-serif;margin:2em}svg{border:1px solid #ccc}td,th{padding:2px 8px;text-align:left}</style>
<h1>Chaos suite "${escape(report.suite)}", seed ${report.seed}</h1>
<p>${escape(report.startedAt)} · ${Math.round(report.durationMs / 1000)} s · ${report.operations.total} register operations (${report.operations.ok} ok, ${report.operations.fail} fail, ${report.operations.info} unknown) · linearizable: <b>${report.linearizable === true ? 'yes' : 'NO'}</b> · violations: <b>${report.violations.length}</b></p>
${report.violations.length > 0 ? `<ul>${report.violations.map((violation) => `<li style="color:#a00">${escape(violation)}</li>`).join('')}</ul>` : ''}
<svg width="${width + 20}" height="${leaderTop + 30}" xmlns="http://www.w3.org/2000/svg">
${faultBars.join('\n')}
<text x="0" y="${errorTop - 4}" font-size="11">workload error rate per second</text>${errorBars.join('')}
<text x="0" y="${replicaTop - 4}" font-size="11">Ready replicas</text>${replicaMarks.join('')}
<text x="0" y="${leaderTop - 4}" font-size="11">leader</text>${leaderMarks.join('')}
</svg>
<h2>Recovery</h2><table><tr><th>fault</th><th>API writable</th><th>pods elsewhere</th><th>converged after heal</th></tr>
${report.recovery.map((entry) => `<tr><td>${escape(entry.fault)}</td><td>${entry.apiWritableMs ?? '–'} ms</td><td>${entry.podsElsewhereMs ?? '–'} ms</td><td>${entry.convergedAfterHealMs ?? '–'} ms</td></tr>`).join('\n')}</table>
`
}
