/**
 * The NetworkPolicy enforcer of one node: keeps NetworkPolicies, Pods and Namespaces as callbacks
 * report them, and after a quiet period (debounce) computes the desired ruleset (policy-rules.ts)
 * and applies it as one nft transaction — only when it differs from what was last applied. One
 * sync runs at a time; changes that arrive during a sync schedule the next one. A failed apply is
 * retried after `retryMs` with a fresh read of the table, so a damaged ruleset is repaired.
 *
 * The shape is the service proxy's (../service-proxy/service-proxy.ts); the enforcer only ever
 * names its own table (`inet flotilla-policy`).
 */
import type { Timer, Timers } from '../../../lib/timers.ts'
import { applyNftBatch, listNftTable, type NftOptions } from '../service-proxy/nft.ts'
import {
  existingPolicyObjectsOf,
  NO_EXISTING_OBJECTS,
  POLICY_FAMILY,
  POLICY_TABLE,
  policyRules,
  policySyncBatch,
  type ExistingObjects,
  type KubeObject,
} from './policy-rules.ts'

/** Where batches go: nft in production, a recorder in unit tests. */
export interface PolicyRulesetTarget {
  /** What our table holds now (names), so stale chains and sets can be deleted. */
  readExisting(): Promise<ExistingObjects>
  /** Applies one batch atomically; throws (nothing applied) when it is refused. */
  apply(batch: { nftables: readonly unknown[] }): Promise<void>
}

/** The real target: nft, optionally inside a network namespace. */
export function nftPolicyTarget(options: NftOptions = {}): PolicyRulesetTarget {
  return {
    readExisting: async () => {
      const listing = await listNftTable(POLICY_FAMILY, POLICY_TABLE, options)
      return listing === undefined ? NO_EXISTING_OBJECTS : existingPolicyObjectsOf(listing)
    },
    apply: (batch) => applyNftBatch(batch, options),
  }
}

/** One sync's outcome, for metrics and logs. */
export interface PolicySyncReport {
  /** False when the ruleset was unchanged and nothing was applied. */
  readonly applied: boolean
  readonly durationMs: number
  readonly policies: number
  readonly pods: number
  /** Set when the apply failed (it is retried). */
  readonly error?: unknown
}

export interface PolicyEnforcerOptions {
  /** The node whose pods are enforced (Pod `spec.nodeName`). */
  readonly nodeName: string
  readonly timers: Timers
  readonly target: PolicyRulesetTarget
  /** Quiet time after a change before syncing, so a burst of changes costs one transaction. */
  readonly debounceMs?: number
  /** Delay before retrying a failed apply. */
  readonly retryMs?: number
  readonly onSync?: (report: PolicySyncReport) => void
}

const DEBOUNCE_DEFAULT_MS = 100
const RETRY_DEFAULT_MS = 1000

type Kind = 'policies' | 'pods' | 'namespaces'

function keyOf(object: KubeObject): string {
  const metadata = (object['metadata'] ?? {}) as Record<string, unknown>
  return `${String(metadata['namespace'] ?? '')}/${String(metadata['name'] ?? '')}`
}

export class PolicyEnforcer {
  private readonly options: PolicyEnforcerOptions
  private readonly debounceMs: number
  private readonly retryMs: number
  private readonly objects: Record<Kind, Map<string, KubeObject>> = { policies: new Map(), pods: new Map(), namespaces: new Map() }
  private timer: Timer | undefined
  private running: Promise<void> | undefined
  private dirty = false
  private stopped = false
  /** The JSON of the desired ruleset last applied successfully; undefined forces the next apply. */
  private lastApplied: string | undefined

  constructor(options: PolicyEnforcerOptions) {
    this.options = options
    this.debounceMs = options.debounceMs ?? DEBOUNCE_DEFAULT_MS
    this.retryMs = options.retryMs ?? RETRY_DEFAULT_MS
  }

  /** Replaces every NetworkPolicy (after a list). */
  setPolicies(policies: readonly KubeObject[]): void {
    this.replace('policies', policies)
  }

  /** Replaces every Pod (after a list). */
  setPods(pods: readonly KubeObject[]): void {
    this.replace('pods', pods)
  }

  /** Replaces every Namespace (after a list). */
  setNamespaces(namespaces: readonly KubeObject[]): void {
    this.replace('namespaces', namespaces)
  }

  upsertPolicy(policy: KubeObject): void {
    this.upsert('policies', policy)
  }

  removePolicy(namespace: string, name: string): void {
    this.remove('policies', `${namespace}/${name}`)
  }

  upsertPod(pod: KubeObject): void {
    this.upsert('pods', pod)
  }

  removePod(namespace: string, name: string): void {
    this.remove('pods', `${namespace}/${name}`)
  }

  upsertNamespace(namespace: KubeObject): void {
    this.upsert('namespaces', namespace)
  }

  removeNamespace(name: string): void {
    this.remove('namespaces', `/${name}`)
  }

  /** Schedules the first sync (with no policies the table is installed and allows everything). */
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
  async syncNow(): Promise<PolicySyncReport> {
    this.timer?.cancel()
    this.timer = undefined
    while (this.running !== undefined) await this.running
    return this.sync()
  }

  private replace(kind: Kind, objects: readonly KubeObject[]): void {
    this.objects[kind].clear()
    for (const object of objects) this.objects[kind].set(keyOf(object), object)
    this.changed()
  }

  private upsert(kind: Kind, object: KubeObject): void {
    this.objects[kind].set(keyOf(object), object)
    this.changed()
  }

  private remove(kind: Kind, key: string): void {
    if (this.objects[kind].delete(key)) this.changed()
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

  private async sync(): Promise<PolicySyncReport> {
    this.dirty = false
    let finish: () => void = () => {}
    this.running = new Promise((resolve) => (finish = resolve))
    const startMs = this.options.timers.monotonicMs()
    const policies = [...this.objects.policies.values()]
    const pods = [...this.objects.pods.values()]
    const counts = { policies: policies.length, pods: pods.length }
    let report: PolicySyncReport
    try {
      const desired = policyRules({ policies, pods, namespaces: [...this.objects.namespaces.values()], nodeName: this.options.nodeName })
      const json = JSON.stringify(desired)
      let applied = false
      if (json !== this.lastApplied) {
        const existing = await this.options.target.readExisting()
        await this.options.target.apply(policySyncBatch(desired, existing))
        this.lastApplied = json
        applied = true
      }
      report = { applied, durationMs: this.options.timers.monotonicMs() - startMs, ...counts }
    } catch (error) {
      // Retried: the next sync re-reads the table and applies the whole ruleset again.
      this.lastApplied = undefined
      this.dirty = true
      report = { applied: false, durationMs: this.options.timers.monotonicMs() - startMs, ...counts, error }
    }
    this.running = undefined
    finish()
    this.options.onSync?.(report)
    if (this.dirty && !this.stopped && this.timer === undefined) this.schedule(report.error === undefined ? this.debounceMs : this.retryMs)
    return report
  }
}
