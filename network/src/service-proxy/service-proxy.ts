/**
 * The service proxy of one node: keeps Services and EndpointSlices as callbacks report them and
 * keeps its table (`ip flotilla-proxy`, the only one it ever names) equal to the ruleset
 * service-rules.ts plans from them. The debounced, single-flight, retrying apply loop is the
 * shared one in ../nft/table-sync.ts.
 */
import type { NftOptions } from '../nft/nft.ts'
import { nftRulesetTarget, TableSync, type RulesetTarget, type TableSyncLoopOptions, type TableSyncReport } from '../nft/table-sync.ts'
import { PROXY_NFT_TABLE, serviceRules, type KubeObject, type NodeFacts } from './service-rules.ts'

export type { RulesetTarget } from '../nft/table-sync.ts'

/** The real target: nft, optionally inside a network namespace. */
export function nftTarget(options: NftOptions = {}): RulesetTarget {
  return nftRulesetTarget(PROXY_NFT_TABLE, options)
}

type ProxyCounts = { readonly services: number; readonly endpointSlices: number }

/** One sync's outcome, for metrics and logs. */
export type SyncReport = TableSyncReport<ProxyCounts>

export interface ServiceProxyOptions extends TableSyncLoopOptions<ProxyCounts> {
  readonly node: NodeFacts
}

function keyOf(object: KubeObject): string {
  const metadata = (object['metadata'] ?? {}) as Record<string, unknown>
  return `${String(metadata['namespace'] ?? 'default')}/${String(metadata['name'] ?? '')}`
}

export class ServiceProxy {
  private node: NodeFacts
  private readonly services = new Map<string, KubeObject>()
  private readonly slices = new Map<string, KubeObject>()
  private readonly tableSync: TableSync<ProxyCounts>

  constructor(options: ServiceProxyOptions) {
    this.node = options.node
    // The loop options pass through; the owner adds its table and its planner.
    this.tableSync = new TableSync({
      ...options,
      table: PROXY_NFT_TABLE,
      plan: () => {
        const services = [...this.services.values()]
        const endpointSlices = [...this.slices.values()]
        const node = this.node
        return { counts: { services: services.length, endpointSlices: endpointSlices.length }, desired: () => serviceRules({ services, endpointSlices, node }) }
      },
    })
  }

  /** Replaces every Service (after a list). */
  setServices(services: readonly KubeObject[]): void {
    this.services.clear()
    for (const service of services) this.services.set(keyOf(service), service)
    this.tableSync.changed()
  }

  /** Replaces every EndpointSlice (after a list). */
  setEndpointSlices(slices: readonly KubeObject[]): void {
    this.slices.clear()
    for (const slice of slices) this.slices.set(keyOf(slice), slice)
    this.tableSync.changed()
  }

  upsertService(service: KubeObject): void {
    this.services.set(keyOf(service), service)
    this.tableSync.changed()
  }

  removeService(namespace: string, name: string): void {
    if (this.services.delete(`${namespace}/${name}`)) this.tableSync.changed()
  }

  upsertEndpointSlice(slice: KubeObject): void {
    this.slices.set(keyOf(slice), slice)
    this.tableSync.changed()
  }

  removeEndpointSlice(namespace: string, name: string): void {
    if (this.slices.delete(`${namespace}/${name}`)) this.tableSync.changed()
  }

  /** The node's addresses changed (NodePorts answer on them). */
  setNode(node: NodeFacts): void {
    this.node = node
    this.tableSync.changed()
  }

  /** Schedules the first sync (an empty proxy still installs its table with no services). */
  start(): void {
    this.tableSync.changed()
  }

  /** Cancels pending syncs; a running one finishes. The table is left in place. */
  stop(): Promise<void> {
    return this.tableSync.stop()
  }

  /** Syncs now (skipping the debounce) and resolves when the ruleset is applied or failed. */
  syncNow(): Promise<SyncReport> {
    return this.tableSync.syncNow()
  }
}
