/**
 * The NetworkPolicy enforcer of one node: keeps NetworkPolicies, Pods and Namespaces as callbacks
 * report them and keeps its table (`inet flotilla-policy`, the only one it ever names) equal to
 * the ruleset policy-rules.ts plans from them. The debounced, single-flight, retrying apply loop
 * is the shared one in ../nft/table-sync.ts, as for the service proxy.
 */
import type { NftOptions } from '../nft/nft.ts'
import { nftRulesetTarget, TableSync, type RulesetTarget, type TableSyncLoopOptions, type TableSyncReport } from '../nft/table-sync.ts'
import { POLICY_NFT_TABLE, policyRules, type KubeObject } from './policy-rules.ts'

/** Where batches go: nft in production, a recorder in unit tests. */
export type PolicyRulesetTarget = RulesetTarget

/** The real target: nft, optionally inside a network namespace. */
export function nftPolicyTarget(options: NftOptions = {}): PolicyRulesetTarget {
  return nftRulesetTarget(POLICY_NFT_TABLE, options)
}

type PolicyCounts = { readonly policies: number; readonly pods: number }

/** One sync's outcome, for metrics and logs. */
export type PolicySyncReport = TableSyncReport<PolicyCounts>

export interface PolicyEnforcerOptions extends TableSyncLoopOptions<PolicyCounts> {
  /** The node whose pods are enforced (Pod `spec.nodeName`). */
  readonly nodeName: string
}

type Kind = 'policies' | 'pods' | 'namespaces'

function keyOf(object: KubeObject): string {
  const metadata = (object['metadata'] ?? {}) as Record<string, unknown>
  return `${String(metadata['namespace'] ?? '')}/${String(metadata['name'] ?? '')}`
}

export class PolicyEnforcer {
  private readonly objects: Record<Kind, Map<string, KubeObject>> = { policies: new Map(), pods: new Map(), namespaces: new Map() }
  private readonly tableSync: TableSync<PolicyCounts>

  constructor(options: PolicyEnforcerOptions) {
    // The loop options pass through; the owner adds its table and its planner.
    this.tableSync = new TableSync({
      ...options,
      table: POLICY_NFT_TABLE,
      plan: () => {
        const policies = [...this.objects.policies.values()]
        const pods = [...this.objects.pods.values()]
        const namespaces = [...this.objects.namespaces.values()]
        return { counts: { policies: policies.length, pods: pods.length }, desired: () => policyRules({ policies, pods, namespaces, nodeName: options.nodeName }) }
      },
    })
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
    this.tableSync.changed()
  }

  /** Cancels pending syncs; a running one finishes. The table is left in place. */
  stop(): Promise<void> {
    return this.tableSync.stop()
  }

  /** Syncs now (skipping the debounce) and resolves when the ruleset is applied or failed. */
  syncNow(): Promise<PolicySyncReport> {
    return this.tableSync.syncNow()
  }

  private replace(kind: Kind, objects: readonly KubeObject[]): void {
    this.objects[kind].clear()
    for (const object of objects) this.objects[kind].set(keyOf(object), object)
    this.tableSync.changed()
  }

  private upsert(kind: Kind, object: KubeObject): void {
    this.objects[kind].set(keyOf(object), object)
    this.tableSync.changed()
  }

  private remove(kind: Kind, key: string): void {
    if (this.objects[kind].delete(key)) this.tableSync.changed()
  }
}
