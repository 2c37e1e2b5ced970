/**
 * The controllers benchmark's tables: Flotilla's paths side by side, then Flotilla's scheduling
 * rate against Docker Swarm's, measured in the same run. Ratios come from bench/report.ts
 * (`ratio`: above 1 means Flotilla is better). bench/report.ts's own table printer names etcd in
 * its header, so the layout is here.
 */
import { ratio, type Better } from './report.ts'
import type { ControllersPathResult } from './controllers-shape.ts'
import type { SwarmResult } from './controllers-swarm.ts'

const METRIC_WIDTH = 34
const COLUMN_WIDTH = 16

interface PathMetric {
  readonly label: string
  readonly better: Better
  readonly pick: (result: ControllersPathResult) => number | undefined
}

const PATH_METRICS: readonly PathMetric[] = [
  { label: 'all pods exist, s (from clock)', better: 'lower', pick: (r) => seconds(r.allCreatedMs) },
  { label: 'first pod bound, s', better: 'lower', pick: (r) => seconds(r.firstBoundMs) },
  { label: 'all pods bound, s', better: 'lower', pick: (r) => seconds(r.allBoundMs) },
  { label: 'pods bound/s (binding phase)', better: 'higher', pick: (r) => r.bindingPhasePodsPerSecond },
  { label: 'pods bound/s (clock to all bound)', better: 'higher', pick: (r) => r.endToEndPodsPerSecond },
  { label: 'CPU s', better: 'lower', pick: (r) => r.cpuSeconds },
  { label: 'CPU ms per pod', better: 'lower', pick: (r) => (r.cpuSeconds === undefined ? undefined : (r.cpuSeconds * 1000) / r.replicas) },
  { label: 'max RSS MiB', better: 'lower', pick: (r) => r.maxRssMiB },
  { label: 'nodes used', better: 'none', pick: (r) => r.podsPerNode?.nodesUsed },
  { label: 'pods per node, max', better: 'none', pick: (r) => r.podsPerNode?.max },
  { label: 'setup (nodes, manager), s', better: 'none', pick: (r) => seconds(r.setupMs) },
]

function seconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1000
}

/** Flotilla's paths as columns, one metric a row. */
export function formatPathsTable(results: readonly ControllersPathResult[]): string {
  const first = results[0]
  const title = first === undefined ? 'Flotilla' : `Flotilla: ${first.nodes} hollow nodes, one Deployment of ${first.replicas} replicas (100m cpu, 128Mi each)`
  const lines = [
    title,
    "  clock: from the Deployment's create request (scheduler only: from the controller manager's start)",
    `  ${''.padEnd(METRIC_WIDTH)}${results.map((r) => r.path.padStart(Math.max(COLUMN_WIDTH, r.path.length + 2))).join('')}`,
  ]
  for (const metric of PATH_METRICS) {
    const cells = results.map((r) => formatNumber(metric.pick(r)).padStart(Math.max(COLUMN_WIDTH, r.path.length + 2)))
    const hint = metric.better === 'none' ? '' : `  (${metric.better} is better)`
    lines.push(`  ${metric.label.padEnd(METRIC_WIDTH)}${cells.join('')}${hint}`)
  }
  for (const r of results) {
    for (const note of r.notes) lines.push(`  [${r.path}] ${note}`)
    if (r.error !== undefined) lines.push(`  [${r.path}] NOT MEASURED: ${r.error}`)
  }
  return lines.join('\n')
}

/** One comparison of a scheduling rate. */
export interface PeerRow {
  readonly flotillaPath: string
  readonly swarmReplicas: number
  readonly flotillaPodsBoundPerSecond: number | undefined
  readonly swarmTasksAssignedPerSecond: number | undefined
  /** Flotilla/Swarm; above 1 = Flotilla schedules faster. */
  readonly ratio: number | undefined
}

/** Every Flotilla path against every Swarm service size. */
export function comparePeer(results: readonly ControllersPathResult[], swarm: SwarmResult): PeerRow[] {
  const rows: PeerRow[] = []
  for (const path of results) {
    for (const service of swarm.services) {
      const flotilla = path.endToEndPodsPerSecond
      const peer = service.assignedPerSecond
      rows.push({ flotillaPath: path.path, swarmReplicas: service.replicas, flotillaPodsBoundPerSecond: flotilla, swarmTasksAssignedPerSecond: peer, ratio: ratio('higher', flotilla, peer) })
    }
  }
  return rows
}

/** The peer table, or why there is none. */
export function formatPeerTable(results: readonly ControllersPathResult[], swarm: SwarmResult): string {
  const nodes = results[0]?.nodes ?? 0
  const lines = [
    `Peer: Docker Swarm${swarm.version === undefined ? '' : ` ${swarm.version}`} on the local engine (${swarm.swarmNodes ?? '?'} node) vs Flotilla (${nodes} hollow nodes)`,
    '  CAVEAT: different node counts and different work. Swarm assigns every task to its one node and then',
    '  starts real containers; Flotilla scores all hollow nodes per pod and starts nothing. The rates compare',
    '  pods bound/s (Flotilla: replicas / time from the create request to all bound) with tasks assigned/s',
    '  (Swarm: replicas / time from `docker service create` to every task Assigned or later).',
    '  ratio = Flotilla / Swarm: above 1 = Flotilla schedules faster',
  ]
  for (const note of swarm.notes) lines.push(`  [swarm] ${note}`)
  if (swarm.error !== undefined) {
    lines.push(`  PEER NOT MEASURED: ${swarm.error}`)
    return lines.join('\n')
  }
  for (const service of swarm.services) {
    lines.push(
      `  [swarm] ${service.replicas} tasks: all assigned ${formatNumber(seconds(service.allAssignedMs))} s (${formatNumber(service.assignedPerSecond)}/s), ` +
        `all running ${formatNumber(seconds(service.allRunningMs))} s (${formatNumber(service.runningPerSecond)}/s)${service.error === undefined ? '' : `  ERROR: ${service.error}`}`,
    )
  }
  lines.push('', `  ${'Flotilla path'.padEnd(28)}${'pods bound/s'.padStart(14)}${'Swarm tasks'.padStart(13)}${'assigned/s'.padStart(12)}${'ratio'.padStart(10)}`)
  for (const row of comparePeer(results, swarm)) {
    lines.push(
      `  ${row.flotillaPath.padEnd(28)}${formatNumber(row.flotillaPodsBoundPerSecond).padStart(14)}${String(row.swarmReplicas).padStart(13)}` +
        `${formatNumber(row.swarmTasksAssignedPerSecond).padStart(12)}${(row.ratio === undefined ? '-' : `${row.ratio.toFixed(2)}x`).padStart(10)}`,
    )
  }
  return lines.join('\n')
}

function formatNumber(value: number | undefined): string {
  if (value === undefined) return '-'
  if (Number.isInteger(value)) return String(value)
  const magnitude = Math.abs(value)
  if (magnitude >= 100) return value.toFixed(0)
  if (magnitude >= 1) return value.toFixed(2)
  return value.toFixed(3)
}
