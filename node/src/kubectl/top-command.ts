/**
 * `flotilla top nodes|pods`: CPU and memory usage from the `metrics.k8s.io/v1beta1` API, laid out
 * as `kubectl top` lays it out (CPU in millicores, memory in MiB, node percentages of
 * allocatable). When the server does not serve the group: `error: Metrics API not available`.
 *
 *   flotilla top nodes [name] [-l selector]
 *   flotilla top pods [name] [-n ns | -A] [-l selector]
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import { parseQuantity } from '../api/machinery/quantity.ts'
import type { FlagSpec, ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { CommandError, KubectlUsageError } from './errors.ts'
import { listAt, nameOf, stringAt } from './object-fields.ts'
import { alignTabs, TABLE_LAYOUT } from './tab-writer.ts'

export const TOP_FLAGS: readonly FlagSpec[] = [
  { name: 'selector', short: 'l', type: 'string' },
  { name: 'all-namespaces', short: 'A', type: 'boolean' },
  { name: 'no-headers', type: 'boolean' },
]

const METRICS_GROUP = 'metrics.k8s.io'
const METRICS_BASE = '/apis/metrics.k8s.io/v1beta1'
const MEBIBYTE = 1024n * 1024n

/** Runs `top nodes|pods`; returns the exit code. */
export async function runTop(context: CommandContext, args: ParsedArguments): Promise<number> {
  const [what, name, ...extra] = args.positionals
  if (extra.length > 0) throw new KubectlUsageError('top takes at most one name')
  const kind = what === 'node' || what === 'nodes' || what === 'no' ? 'nodes' : what === 'pod' || what === 'pods' || what === 'po' ? 'pods' : undefined
  if (kind === undefined) throw new KubectlUsageError(`top needs "nodes" or "pods"${what === undefined ? '' : `, got "${what}"`}`)
  const catalog = await context.catalog()
  if (!catalog.groups.has(METRICS_GROUP)) throw new CommandError('Metrics API not available')
  const rows = kind === 'nodes' ? await nodeRows(context, args, name) : await podRows(context, args, name)
  if (rows.length <= 1) {
    context.io.error(kind === 'pods' && !args.boolean('all-namespaces') ? `No resources found in ${context.namespace} namespace.\n` : 'No resources found\n')
    return 0
  }
  const shown = args.boolean('no-headers') ? rows.slice(1) : rows
  context.io.write(alignTabs(shown.map((cells) => `${cells.join('\t')}\n`).join(''), TABLE_LAYOUT))
  return 0
}

/** `250m` (millicores, rounded up). */
export function formatCpu(quantity: bigint): string {
  return `${quantity}m`
}

/** `1024Mi` (whole MiB, rounded down as kubectl does). */
export function formatMemory(bytes: bigint): string {
  return `${bytes / MEBIBYTE}Mi`
}

function usageOf(usage: unknown): { cpuMilli: bigint; memoryBytes: bigint } {
  const cpu = stringAt(usage, ['cpu'], '0')
  const memory = stringAt(usage, ['memory'], '0')
  return { cpuMilli: parseQuantity(cpu).toMilli(), memoryBytes: parseQuantity(memory).toBytes() }
}

async function itemsOf(context: CommandContext, path: string, query: Record<string, string | undefined>): Promise<JsonObject[]> {
  const list = await context.client.json({ method: 'GET', path, query })
  if (list['kind'] !== undefined && !String(list['kind']).endsWith('List')) return [list]
  return Array.isArray(list['items']) ? list['items'].filter(isJsonObject) : []
}

async function podRows(context: CommandContext, args: ParsedArguments, name: string | undefined): Promise<string[][]> {
  const allNamespaces = args.boolean('all-namespaces')
  const scope = allNamespaces ? '' : `/namespaces/${encodeURIComponent(context.namespace)}`
  const path = `${METRICS_BASE}${scope}/pods${name === undefined ? '' : `/${encodeURIComponent(name)}`}`
  const items = await itemsOf(context, path, { labelSelector: args.string('selector') })
  const rows = [[...(allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'CPU(cores)', 'MEMORY(bytes)']]
  for (const item of items) {
    let cpu = 0n
    let memory = 0n
    for (const container of listAt(item, 'containers')) {
      const usage = usageOf(isJsonObject(container) ? container['usage'] : undefined)
      cpu += usage.cpuMilli
      memory += usage.memoryBytes
    }
    rows.push([...(allNamespaces ? [stringAt(item, ['metadata', 'namespace'])] : []), nameOf(item), formatCpu(cpu), formatMemory(memory)])
  }
  return rows
}

async function nodeRows(context: CommandContext, args: ParsedArguments, name: string | undefined): Promise<string[][]> {
  const suffix = name === undefined ? '' : `/${encodeURIComponent(name)}`
  const query = { labelSelector: args.string('selector') }
  const [metrics, nodes] = await Promise.all([itemsOf(context, `${METRICS_BASE}/nodes${suffix}`, query), itemsOf(context, `/api/v1/nodes${suffix}`, query)])
  const rows = [['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%']]
  const byName = new Map(metrics.map((item) => [nameOf(item), item]))
  for (const node of nodes.length > 0 ? nodes : metrics) {
    const metric = byName.get(nameOf(node))
    if (metric === undefined) {
      rows.push([nameOf(node), '<unknown>', '<unknown>', '<unknown>', '<unknown>'])
      continue
    }
    const usage = usageOf(metric['usage'])
    const allocatable = usageOf(isJsonObject(node['status']) ? node['status']['allocatable'] ?? node['status']['capacity'] : undefined)
    const percent = (used: bigint, total: bigint): string => (total === 0n ? '<unknown>' : `${(used * 100n) / total}%`)
    rows.push([nameOf(node), formatCpu(usage.cpuMilli), percent(usage.cpuMilli, allocatable.cpuMilli), formatMemory(usage.memoryBytes), percent(usage.memoryBytes, allocatable.memoryBytes)])
  }
  return rows
}
