/**
 * `flotilla cluster status [--data DIR] [-o json]`: the cluster as the local daemon sees it —
 * members, zones, Raft roles, the leader, and an overall health verdict — from the daemon's local
 * API (`GET http://127.0.0.1:<api-port>/v1/status`, the port recorded in `<data>/node.json`), the
 * same source as `flotilla status`. It needs no kubeconfig.
 *
 * Health: `healthy` when there is a leader and every member is alive; `degraded` when there is a
 * leader but some member is down; `unavailable` when there is no leader or fewer voters are alive
 * than a quorum needs (writes cannot commit then).
 */
import type { DaemonStatus } from '../daemon.ts'
import { readNodeConfig } from '../cluster/node-config.ts'
import type { FlagSpec, ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { CommandError, KubectlUsageError } from './errors.ts'
import { alignTabs, TABLE_LAYOUT } from './tab-writer.ts'

export const CLUSTER_FLAGS: readonly FlagSpec[] = [{ name: 'output', short: 'o', type: 'string' }]

/** How long the local daemon gets to answer. */
const LOCAL_API_TIMEOUT_MS = 10_000

/** The verdict and the counts behind it. */
export interface ClusterHealth {
  readonly verdict: 'healthy' | 'degraded' | 'unavailable'
  readonly membersAlive: number
  readonly members: number
  readonly votersAlive: number
  readonly voters: number
  readonly quorum: number
}

/** The health of a cluster from a daemon's status (see the module comment). */
export function clusterHealth(status: DaemonStatus): ClusterHealth {
  const voters = status.members.filter((member) => member.raftRole === 'voter')
  const votersAlive = voters.filter((member) => member.alive).length
  const quorum = Math.floor(voters.length / 2) + 1
  const membersAlive = status.members.filter((member) => member.alive).length
  const hasLeader = status.leader !== '' && status.leader !== '0'
  const verdict = !hasLeader || votersAlive < quorum ? 'unavailable' : membersAlive < status.members.length ? 'degraded' : 'healthy'
  return { verdict, membersAlive, members: status.members.length, votersAlive, voters: voters.length, quorum }
}

/** The text `cluster status` prints for a daemon status. */
export function formatClusterStatus(status: DaemonStatus): string {
  const health = clusterHealth(status)
  const zones = new Map<string, { members: number; alive: number }>()
  for (const member of status.members) {
    const zone = zones.get(member.zone) ?? { members: 0, alive: 0 }
    zone.members += 1
    if (member.alive) zone.alive += 1
    zones.set(member.zone, zone)
  }
  const zoneText = [...zones].sort(([a], [b]) => a.localeCompare(b)).map(([name, zone]) => `${name} (${zone.alive}/${zone.members} alive)`).join(', ')
  const leader = status.leader === '' || status.leader === '0' ? 'none' : `${status.leaderName || status.leader} (term ${status.term})`
  const summary = [
    `Cluster:\t${status.clusterId}`,
    `Health:\t${health.verdict}: ${health.membersAlive} of ${health.members} members alive, ${health.votersAlive} of ${health.voters} voters alive (quorum ${health.quorum})`,
    `Leader:\t${leader}`,
    `Zones:\t${zoneText}`,
    `Asked:\t${status.name} (${status.role}), commit ${status.commit}, applied ${status.applied}, revision ${status.revision}`,
  ]
  const rows = [
    'NAME\tZONE\tRAFT\tSTATUS\tKUBERNETES API\tNODE ID',
    ...[...status.members]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((member) => `${member.name}\t${member.zone}\t${member.raftRole}${member.nodeId === status.leader ? ' (leader)' : ''}\t${member.alive ? 'alive' : 'down'}\t${member.apiAddress ?? '<none>'}\t${member.nodeId}`),
  ]
  return `${alignTabs(`${summary.join('\n')}\n`, { minWidth: 0, padding: 2 })}\n${alignTabs(`${rows.join('\n')}\n`, TABLE_LAYOUT)}`
}

/** Runs `cluster status`; returns the exit code. */
export async function runCluster(context: CommandContext, args: ParsedArguments): Promise<number> {
  const [subcommand, ...rest] = args.positionals
  if (subcommand !== 'status' || rest.length > 0) throw new KubectlUsageError(`cluster has one subcommand: status${subcommand === undefined ? '' : ` (got "${args.positionals.join(' ')}")`}`)
  const output = args.string('output')
  if (output !== undefined && output !== 'json') throw new KubectlUsageError(`cluster status prints text or -o json, got "${output}"`)
  const data = context.options.dataDirectory
  const { config } = readNodeConfig(data)
  let response: Response
  try {
    response = await fetch(`http://127.0.0.1:${config.apiPort}/v1/status`, { signal: AbortSignal.timeout(LOCAL_API_TIMEOUT_MS) })
  } catch (error) {
    throw new CommandError(`the daemon for ${data} is not running (nothing answers on 127.0.0.1:${config.apiPort}); start it with \`flotilla start --data ${data}\``, { cause: error })
  }
  const body = (await response.json()) as DaemonStatus & { error?: string }
  if (!response.ok) throw new CommandError(body.error ?? `the daemon answered ${response.status}`)
  context.io.write(output === 'json' ? `${JSON.stringify(body, null, 2)}\n` : formatClusterStatus(body))
  return clusterHealth(body).verdict === 'unavailable' ? 1 : 0
}
