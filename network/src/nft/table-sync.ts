/**
 * Keeps one nftables table of ours equal to a desired ruleset that changes with the objects its
 * owner watches (the service proxy's Services, the NetworkPolicy enforcer's policies and pods).
 * After a quiet period (debounce) it plans the ruleset and applies it as one nft transaction, only
 * when it differs from what was last applied. One sync runs at a time; changes that arrive during
 * a sync schedule the next one. A failed apply is retried after `retryMs` with a fresh read of the
 * table, so a ruleset someone else damaged is repaired.
 */
import type { Timer, Timers } from '../../../lib/timers.ts'
import { applyNftBatch, listNftTable, type NftOptions } from './nft.ts'
import { existingObjectsOf, NO_EXISTING_OBJECTS, tableSyncBatch, type DesiredRuleset, type ExistingObjects, type NftTable } from './ruleset.ts'

/** Where batches go: nft in production, a recorder in unit tests. */
export interface RulesetTarget {
  /** What our table holds now (names), so stale chains and sets can be deleted. */
  readExisting(): Promise<ExistingObjects>
  /** Applies one batch atomically; throws (nothing applied) when it is refused. */
  apply(batch: { nftables: readonly unknown[] }): Promise<void>
}

/** The real target for `table`: nft, optionally inside a network namespace. */
export function nftRulesetTarget(table: NftTable, options: NftOptions = {}): RulesetTarget {
  return {
    readExisting: async () => {
      const listing = await listNftTable(table.family, table.name, options)
      return listing === undefined ? NO_EXISTING_OBJECTS : existingObjectsOf(listing, table)
    },
    apply: (batch) => applyNftBatch(batch, options),
  }
}

/** One sync's outcome, for metrics and logs; `Counts` are the owner's object counts. */
export type TableSyncReport<Counts extends object> = {
  /** False when the ruleset was unchanged and nothing was applied. */
  readonly applied: boolean
  readonly durationMs: number
  /** Set when planning or the apply failed (it is retried). */
  readonly error?: unknown
} & Counts

/** What one sync works from, snapshotted when it starts. */
export interface SyncPlan<Counts extends object> {
  /** Reported with the outcome. */
  readonly counts: Counts
  /** The desired ruleset; called inside the sync, so a planning error is reported and retried like a refused apply. */
  readonly desired: () => DesiredRuleset
}

/** How the loop runs and reports: the options an owner (service proxy, policy enforcer) passes through. */
export interface TableSyncLoopOptions<Counts extends object> {
  readonly timers: Timers
  readonly target: RulesetTarget
  /** Quiet time after a change before syncing, so a burst of changes costs one transaction. */
  readonly debounceMs?: number
  /** Delay before retrying a failed apply. */
  readonly retryMs?: number
  readonly onSync?: (report: TableSyncReport<Counts>) => void
}

export interface TableSyncOptions<Counts extends object> extends TableSyncLoopOptions<Counts> {
  readonly table: NftTable
  /** Snapshots the owner's objects at the start of a sync. */
  readonly plan: () => SyncPlan<Counts>
}

const DEBOUNCE_DEFAULT_MS = 100
const RETRY_DEFAULT_MS = 1000

/** The debounced, single-flight, retrying applier (see the module comment). */
export class TableSync<Counts extends object> {
  private readonly options: TableSyncOptions<Counts>
  private readonly debounceMs: number
  private readonly retryMs: number
  private timer: Timer | undefined
  private running: Promise<void> | undefined
  private dirty = false
  private stopped = false
  /** The JSON of the desired ruleset last applied successfully; undefined forces the next apply. */
  private lastApplied: string | undefined

  constructor(options: TableSyncOptions<Counts>) {
    this.options = options
    this.debounceMs = options.debounceMs ?? DEBOUNCE_DEFAULT_MS
    this.retryMs = options.retryMs ?? RETRY_DEFAULT_MS
  }

  /** The desired ruleset may have changed: sync after the debounce (ignored once stopped). */
  changed(): void {
    if (this.stopped) return
    this.dirty = true
    this.schedule(this.debounceMs)
  }

  /** Cancels pending syncs; a running one finishes. The table is left in place. */
  async stop(): Promise<void> {
    this.stopped = true
    this.timer?.cancel()
    this.timer = undefined
    await this.running
  }

  /** Syncs now (skipping the debounce) and resolves when the ruleset is applied or failed. */
  async syncNow(): Promise<TableSyncReport<Counts>> {
    this.timer?.cancel()
    this.timer = undefined
    while (this.running !== undefined) await this.running
    return this.sync()
  }

  private schedule(delayMs: number): void {
    this.timer?.cancel()
    this.timer = this.options.timers.after(delayMs, () => {
      this.timer = undefined
      if (this.running !== undefined) return // the running sync reschedules when it ends
      void this.sync()
    })
  }

  private async sync(): Promise<TableSyncReport<Counts>> {
    this.dirty = false
    let finish: () => void = () => {}
    this.running = new Promise((resolve) => (finish = resolve))
    const startMs = this.options.timers.monotonicMs()
    const plan = this.options.plan()
    let report: TableSyncReport<Counts>
    try {
      const desired = plan.desired()
      const json = JSON.stringify(desired)
      let applied = false
      if (json !== this.lastApplied) {
        const existing = await this.options.target.readExisting()
        await this.options.target.apply(tableSyncBatch(this.options.table, desired, existing))
        this.lastApplied = json
        applied = true
      }
      report = { applied, durationMs: this.options.timers.monotonicMs() - startMs, ...plan.counts }
    } catch (error) {
      // Retried: the next sync re-reads the table and applies the whole ruleset again.
      this.lastApplied = undefined
      this.dirty = true
      report = { applied: false, durationMs: this.options.timers.monotonicMs() - startMs, ...plan.counts, error }
    }
    this.running = undefined
    finish()
    this.options.onSync?.(report)
    if (this.dirty && !this.stopped && this.timer === undefined) this.schedule(report.error === undefined ? this.debounceMs : this.retryMs)
    return report
  }
}
