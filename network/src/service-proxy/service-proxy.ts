/**
 * The service proxy of one node: keeps Services and EndpointSlices as callbacks report them,
 * and after a quiet period (debounce) computes the desired ruleset (service-rules.ts) and applies
 * it as one nft transaction — only when it differs from what was last applied. One sync runs at a
 * time; changes that arrive during a sync schedule the next one. A failed apply is retried after
 * `retryMs` with a fresh read of the table, so a ruleset someone else damaged is repaired.
 *
 * The proxy only ever names its own table (`ip flotilla-proxy`).
 */
import type { Timer, Timers } from '../../../lib/timers.ts'
import { applyNftBatch, listNftTable, type NftOptions } from './nft.ts'
import {
  existingObjectsOf,
  NO_EXISTING_OBJECTS,
  PROXY_FAMILY,
  PROXY_TABLE,
  serviceRules,
  syncBatch,
  type ExistingObjects,
  type KubeObject,
  type NodeFacts,
} from './service-rules.ts'

/** Where batches go: nft in production, a recorder in unit tests. */
export interface RulesetTarget {
  /** What our table holds now (names), so stale chains and sets can be deleted. */
  readExisting(): Promise<ExistingObjects>
  /** Applies one batch atomically; throws (nothing applied) when it is refused. */
  apply(batch: { nftables: readonly unknown[] }): Promise<void>
}

/** The real target: nft, optionally inside a network namespace. */
export function nftTarget(options: NftOptions = {}): RulesetTarget {
  return {
    readExisting: async () => {
      const listing = await listNftTable(PROXY_FAMILY, PROXY_TABLE, options)
      return listing === undefined ? NO_EXISTING_OBJECTS : existingObjectsOf(listing)
    },
    apply: (batch) => applyNftBatch(batch, options),
  }
}

/** One sync's outcome, for metrics and logs. */
export interface SyncReport {
  /** False when the ruleset was unchanged and nothing was applied. */
  readonly applied: boolean
  readonly durationMs: number
  readonly services: number
  readonly endpointSlices: number
  /** Set when the apply failed (it is retried). */
  readonly error?: unknown
}

export interface ServiceProxyOptions {
  readonly node: NodeFacts
  readonly timers: Timers
  readonly target: RulesetTarget
  /** Quiet time after a change before syncing, so a burst of changes costs one transaction. */
  readonly debounceMs?: number
  /** Delay before retrying a failed apply. */
  readonly retryMs?: number
  readonly onSync?: (report: SyncReport) => void
}

const DEBOUNCE_DEFAULT_MS = 100
const RETRY_DEFAULT_MS = 1000

function keyOf(object: KubeObject): string {
  const metadata = (object['metadata'] ?? {}) as Record<string, unknown>
  return `${String(metadata['namespace'] ?? 'default')}/${String(metadata['name'] ?? '')}`
}

export class ServiceProxy {
  private readonly options: ServiceProxyOptions
  private readonly debounceMs: number
  private readonly retryMs: number
  private node: NodeFacts
  private readonly services = new Map<string, KubeObject>()
  private readonly slices = new Map<string, KubeObject>()
  private timer: Timer | undefined
  private running: Promise<void> | undefined
  private dirty = false
  private stopped = false
  /** The JSON of the desired ruleset last applied successfully; undefined forces the next apply. */
  private lastApplied: string | undefined

  constructor(options: ServiceProxyOptions) {
    this.options = options
    this.node = options.node
    this.debounceMs = options.debounceMs ?? DEBOUNCE_DEFAULT_MS
    this.retryMs = options.retryMs ?? RETRY_DEFAULT_MS
  }

  /** Replaces every Service (after a list). */
  setServices(services: readonly KubeObject[]): void {
    this.services.clear()
    for (const service of services) this.services.set(keyOf(service), service)
    this.changed()
  }

  /** Replaces every EndpointSlice (after a list). */
  setEndpointSlices(slices: readonly KubeObject[]): void {
    this.slices.clear()
    for (const slice of slices) this.slices.set(keyOf(slice), slice)
    this.changed()
  }

  upsertService(service: KubeObject): void {
    this.services.set(keyOf(service), service)
    this.changed()
  }

  removeService(namespace: string, name: string): void {
    if (this.services.delete(`${namespace}/${name}`)) this.changed()
  }

  upsertEndpointSlice(slice: KubeObject): void {
    this.slices.set(keyOf(slice), slice)
    this.changed()
  }

  removeEndpointSlice(namespace: string, name: string): void {
    if (this.slices.delete(`${namespace}/${name}`)) this.changed()
  }

  /** The node's addresses changed (NodePorts answer on them). */
  setNode(node: NodeFacts): void {
    this.node = node
    this.changed()
  }

  /** Schedules the first sync (an empty proxy still installs its table with no services). */
  start(): void {
    this.changed()
  }

  /** Cancels pending syncs; a running one finishes. The table is left in place. */
  async stop(): Promise<void> {
    this.stopped = true
    this.timer?.cancel()
    this.timer = undefined
    await this.running
  }

  /** Syncs now (skipping the debounce) and resolves when the ruleset is applied or failed. */
  async syncNow(): Promise<SyncReport> {
    this.timer?.cancel()
    this.timer = undefined
    while (this.running !== undefined) await this.running
    return this.sync()
  }

  private changed(): void {
    if (this.stopped) return
    this.dirty = true
    this.schedule(this.debounceMs)
  }

  private schedule(delayMs: number): void {
    this.timer?.cancel()
    this.timer = this.options.timers.after(delayMs, () => {
      this.timer = undefined
      if (this.running !== undefined) return // the running sync reschedules when it ends
      void this.sync()
    })
  }

  private async sync(): Promise<SyncReport> {
    this.dirty = false
    let finish: () => void = () => {}
    this.running = new Promise((resolve) => (finish = resolve))
    const startMs = this.options.timers.monotonicMs()
    const services = [...this.services.values()]
    const endpointSlices = [...this.slices.values()]
    let report: SyncReport
    try {
      const desired = serviceRules({ services, endpointSlices, node: this.node })
      const json = JSON.stringify(desired)
      let applied = false
      if (json !== this.lastApplied) {
        const existing = await this.options.target.readExisting()
        await this.options.target.apply(syncBatch(desired, existing))
        this.lastApplied = json
        applied = true
      }
      report = { applied, durationMs: this.options.timers.monotonicMs() - startMs, services: services.length, endpointSlices: endpointSlices.length }
    } catch (error) {
      this.lastApplied = undefined
      this.dirty = true
      report = { applied: false, durationMs: this.options.timers.monotonicMs() - startMs, services: services.length, endpointSlices: endpointSlices.length, error }
    }
    this.running = undefined
    finish()
    this.options.onSync?.(report)
    if (this.dirty && !this.stopped && this.timer === undefined) this.schedule(report.error === undefined ? this.debounceMs : this.retryMs)
    return report
  }
}
