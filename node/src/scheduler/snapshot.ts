/**
 * ClusterSnapshot: the scheduler's model of the cluster (nodes, the pods placed on them, namespace
 * labels, and the claims, volumes and storage classes pods mount), updated incrementally.
 *
 * The scheduler loop feeds it the replicated state as it changes (`upsertNode`, `upsertPod`,
 * `removePod`, …) and `assumePod`s each placement it decides before the next pod is scheduled, so
 * a batch of placements sees its own earlier decisions before any binding is committed. Every
 * update is O(1) in the cluster size apart from keeping the memoized indexes current, which costs
 * O(memoized selectors + the pod's own affinity terms).
 *
 * Contract: nothing here reads the clock or randomness, and every answer is independent of the
 * order in which nodes were added (`nodes()` is sorted by name), so two leaders fed the same
 * replicated state make the same decisions.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { ExistingTermIndex } from './existing-term-index.ts'
import { objectAt, stringAt, stringMapAt } from './json-access.ts'
import { MatchingPodCounts, type PodCountTable } from './matching-pod-counts.ts'
import type { TopologyView } from './node-counts.ts'
import { NodeInfo } from './node-info.ts'
import type { NamespaceLabelsLookup, PodMatcher } from './pod-matcher.ts'
import { boundPodInfoOf, isPodInfo, placedOn, podInfoOf, type PodInfo } from './pod-info.ts'
import { claimInfoOf, persistentVolumeInfoOf, podClaimKeys, storageClassInfoOf, type ClaimInfo, type PersistentVolumeInfo, type StorageClassInfo } from './volumes.ts'

/** The objects `ClusterSnapshot.from` builds a snapshot of. */
export interface SnapshotObjects {
  readonly nodes?: readonly JsonObject[]
  readonly pods?: readonly JsonObject[]
  readonly namespaces?: readonly JsonObject[]
  readonly claims?: readonly JsonObject[]
  readonly persistentVolumes?: readonly JsonObject[]
  readonly storageClasses?: readonly JsonObject[]
}

/** Options for a snapshot. */
export interface ClusterSnapshotOptions {
  /** Bound on memoized per-selector count tables (see matching-pod-counts.ts). */
  readonly matchingPodCountsMax?: number
}

/** The cluster as the scheduler sees it. Not safe to share between concurrent schedulers. */
export class ClusterSnapshot implements TopologyView {
  private readonly nodeInfos = new Map<string, NodeInfo>()
  /** Label key → value → how many nodes (with a Node object) carry it. */
  private readonly labelIndex = new Map<string, Map<string, number>>()
  private labelsVersionValue = 0
  /** How many nodes have each feature, so that plugins can skip a pass that cannot matter. */
  private readonly featureCounts = { unschedulable: 0, filteringTaints: 0, preferNoScheduleTaints: 0 }
  /** Nodes with a Node object, sorted by name; rebuilt lazily after membership changes. */
  private sortedNodes: NodeInfo[] | undefined = []
  private readonly placedPods = new Map<string, PodInfo>()
  private readonly namespaces = new Map<string, Readonly<Record<string, string>>>()
  private readonly counts: MatchingPodCounts
  /** Terms of the inter-pod affinity of placed pods. */
  readonly existingTerms = new ExistingTermIndex()
  /** Reads namespace labels (for namespaceSelector in affinity terms). */
  readonly namespaceLabels: NamespaceLabelsLookup = (namespace) => this.namespaces.get(namespace)
  private readonly claims = new Map<string, ClaimInfo>()
  private readonly persistentVolumes = new Map<string, PersistentVolumeInfo>()
  private readonly storageClasses = new Map<string, StorageClassInfo>()
  /** Claim key → node → how many placed pods mount the claim there (VolumeBinding's "assume"). */
  private readonly claimUsers = new Map<string, Map<string, number>>()

  constructor(options: ClusterSnapshotOptions = {}) {
    this.counts = new MatchingPodCounts(options.matchingPodCountsMax)
  }

  /** A snapshot built from lists of Node, Pod, Namespace and storage objects. */
  static from(objects: SnapshotObjects, options?: ClusterSnapshotOptions): ClusterSnapshot {
    const snapshot = new ClusterSnapshot(options)
    for (const namespace of objects.namespaces ?? []) snapshot.upsertNamespace(namespace)
    for (const claim of objects.claims ?? []) snapshot.upsertClaim(claim)
    for (const volume of objects.persistentVolumes ?? []) snapshot.upsertPersistentVolume(volume)
    for (const storageClass of objects.storageClasses ?? []) snapshot.upsertStorageClass(storageClass)
    for (const node of objects.nodes ?? []) snapshot.upsertNode(node)
    for (const pod of objects.pods ?? []) snapshot.upsertPod(pod)
    return snapshot
  }

  /** Adds or replaces a Node object. */
  upsertNode(node: JsonObject): void {
    const name = stringAt(objectAt(node, 'metadata'), 'name')
    const info = this.nodeInfoFor(name)
    const previousLabels = info.node === undefined ? undefined : info.labels
    if (info.node === undefined) this.sortedNodes = undefined
    else this.countFeatures(info, -1)
    info.setNode(node)
    this.countFeatures(info, 1)
    // Status heartbeats rewrite Node objects often; only a real label change invalidates domains.
    if (previousLabels !== undefined && sameLabels(previousLabels, info.labels)) return
    if (previousLabels !== undefined) this.indexLabels(previousLabels, -1)
    this.indexLabels(info.labels, 1)
    this.labelsVersionValue++
  }

  /** Removes a Node object; its pods stay placed (and counted) until they are removed. */
  removeNode(name: string): void {
    const info = this.nodeInfos.get(name)
    if (info?.node === undefined) return
    this.indexLabels(info.labels, -1)
    this.labelsVersionValue++
    this.countFeatures(info, -1)
    info.clearNode()
    this.sortedNodes = undefined
    if (info.pods.size === 0) this.nodeInfos.delete(name)
  }

  /**
   * Applies a Pod object from the replicated state: a pod bound to a node and not finished
   * (phase neither Succeeded nor Failed) is placed there, replacing any earlier version or
   * assumption; any other pod is removed from the snapshot.
   */
  upsertPod(pod: JsonObject): void {
    const nodeName = stringAt(objectAt(pod, 'spec'), 'nodeName')
    const phase = stringAt(objectAt(pod, 'status'), 'phase')
    const key = podKeyOf(pod)
    if (nodeName === '' || phase === 'Succeeded' || phase === 'Failed') {
      this.removePod(key)
      return
    }
    this.place(boundPodInfoOf(pod))
  }

  /**
   * Places a pod on `nodeName` before its binding is committed, so the next decisions account for
   * it. Returns the placed PodInfo. Confirm with `upsertPod` of the bound object, or undo with
   * `removePod` when the binding fails.
   */
  assumePod(pod: PodInfo | JsonObject, nodeName: string): PodInfo {
    const info = isPodInfo(pod) ? placedOn(pod, nodeName) : podInfoOf(pod, nodeName)
    this.place(info)
    return info
  }

  /** Removes a pod by `namespace/name`; no-op when it is not placed. */
  removePod(key: string): void {
    const existing = this.placedPods.get(key)
    if (existing === undefined) return
    this.placedPods.delete(key)
    const node = this.nodeInfos.get(existing.nodeName)
    if (node !== undefined) {
      node.removePod(existing)
      if (node.node === undefined && node.pods.size === 0) this.nodeInfos.delete(node.name)
    }
    this.counts.podChanged(existing, -1, this.namespaceLabels, this)
    this.existingTerms.podChanged(existing, -1, this)
    this.countClaimUsers(existing, -1)
  }

  /** Adds or replaces a Namespace object (its labels serve namespaceSelector). */
  upsertNamespace(namespace: JsonObject): void {
    const metadata = objectAt(namespace, 'metadata')
    this.namespaces.set(stringAt(metadata, 'name'), stringMapAt(metadata, 'labels'))
    this.counts.namespaceLabelsChanged()
  }

  /** Removes a namespace's labels. */
  removeNamespace(name: string): void {
    if (this.namespaces.delete(name)) this.counts.namespaceLabelsChanged()
  }

  /** Adds or replaces a PersistentVolumeClaim object. */
  upsertClaim(claim: JsonObject): void {
    const info = claimInfoOf(claim)
    this.claims.set(info.key, info)
  }

  /** Removes a claim by `namespace/name`. */
  removeClaim(key: string): void {
    this.claims.delete(key)
  }

  /** A claim by `namespace/name`. */
  claim(key: string): ClaimInfo | undefined {
    return this.claims.get(key)
  }

  /** Adds or replaces a PersistentVolume object. */
  upsertPersistentVolume(volume: JsonObject): void {
    const info = persistentVolumeInfoOf(volume)
    this.persistentVolumes.set(info.name, info)
  }

  removePersistentVolume(name: string): void {
    this.persistentVolumes.delete(name)
  }

  persistentVolume(name: string): PersistentVolumeInfo | undefined {
    return this.persistentVolumes.get(name)
  }

  /** Adds or replaces a StorageClass object. */
  upsertStorageClass(storageClass: JsonObject): void {
    const info = storageClassInfoOf(storageClass)
    this.storageClasses.set(info.name, info)
  }

  removeStorageClass(name: string): void {
    this.storageClasses.delete(name)
  }

  storageClass(name: string): StorageClassInfo | undefined {
    return this.storageClasses.get(name)
  }

  /** The nodes where placed (or assumed) pods mount the claim, with how many; undefined when none. */
  claimUserNodes(key: string): ReadonlyMap<string, number> | undefined {
    return this.claimUsers.get(key)
  }

  /** The nodes pods may be offered to, sorted by name. Do not mutate. */
  nodes(): readonly NodeInfo[] {
    if (this.sortedNodes === undefined) {
      this.sortedNodes = [...this.nodeInfos.values()].filter((info) => info.node !== undefined)
      this.sortedNodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    }
    return this.sortedNodes
  }

  /** The NodeInfo of a node (possibly a ghost), or undefined. */
  nodeInfo(name: string): NodeInfo | undefined {
    return this.nodeInfos.get(name)
  }

  /** A placed pod by `namespace/name`. */
  pod(key: string): PodInfo | undefined {
    return this.placedPods.get(key)
  }

  /** Every placed pod. */
  pods(): Iterable<PodInfo> {
    return this.placedPods.values()
  }

  /** How many pods are placed. */
  get podCount(): number {
    return this.placedPods.size
  }

  /** Per-node counts of the placed pods matching `matcher` (memoized; see matching-pod-counts.ts). */
  matchingPodCounts(matcher: PodMatcher): PodCountTable {
    return this.counts.table(matcher, this.placedPods.values(), this.namespaceLabels, this)
  }

  /** Moves whenever some node's labels change (see node-counts.ts). */
  get labelsVersion(): number {
    return this.labelsVersionValue
  }

  /** The labels of a node with a Node object. */
  labelsOf(nodeName: string): Readonly<Record<string, string>> | undefined {
    const info = this.nodeInfos.get(nodeName)
    return info?.node === undefined ? undefined : info.labels
  }

  /** The values of a label key over the nodes, each with how many nodes carry it. Live; do not keep. */
  labelValues(key: string): ReadonlyMap<string, number> {
    return this.labelIndex.get(key) ?? NO_VALUES
  }

  /** How many nodes carry the label key. */
  nodesWithLabel(key: string): number {
    let total = 0
    for (const count of this.labelValues(key).values()) total += count
    return total
  }

  /** How many nodes are cordoned (`spec.unschedulable`). */
  get unschedulableNodeCount(): number {
    return this.featureCounts.unschedulable
  }

  /** How many nodes have a NoSchedule or NoExecute taint. */
  get filteringTaintNodeCount(): number {
    return this.featureCounts.filteringTaints
  }

  /** How many nodes have a PreferNoSchedule taint. */
  get preferNoScheduleTaintNodeCount(): number {
    return this.featureCounts.preferNoScheduleTaints
  }

  private countFeatures(info: NodeInfo, delta: 1 | -1): void {
    if (info.unschedulable) this.featureCounts.unschedulable += delta
    if (info.taints.some((taint) => taint.effect !== 'PreferNoSchedule')) this.featureCounts.filteringTaints += delta
    if (info.taints.some((taint) => taint.effect === 'PreferNoSchedule')) this.featureCounts.preferNoScheduleTaints += delta
  }

  private indexLabels(labels: Readonly<Record<string, string>>, delta: 1 | -1): void {
    for (const key in labels) {
      const value = labels[key] as string
      let values = this.labelIndex.get(key)
      if (values === undefined) {
        values = new Map()
        this.labelIndex.set(key, values)
      }
      const count = (values.get(value) ?? 0) + delta
      if (count > 0) values.set(value, count)
      else values.delete(value)
      if (values.size === 0) this.labelIndex.delete(key)
    }
  }

  private place(pod: PodInfo): void {
    this.removePod(pod.key)
    this.placedPods.set(pod.key, pod)
    this.nodeInfoFor(pod.nodeName).addPod(pod)
    this.counts.podChanged(pod, 1, this.namespaceLabels, this)
    this.existingTerms.podChanged(pod, 1, this)
    this.countClaimUsers(pod, 1)
  }

  private countClaimUsers(pod: PodInfo, delta: 1 | -1): void {
    for (const key of podClaimKeys(pod.object)) {
      let nodes = this.claimUsers.get(key)
      if (nodes === undefined) {
        nodes = new Map()
        this.claimUsers.set(key, nodes)
      }
      const count = (nodes.get(pod.nodeName) ?? 0) + delta
      if (count > 0) nodes.set(pod.nodeName, count)
      else nodes.delete(pod.nodeName)
      if (nodes.size === 0) this.claimUsers.delete(key)
    }
  }

  private nodeInfoFor(name: string): NodeInfo {
    let info = this.nodeInfos.get(name)
    if (info === undefined) {
      info = new NodeInfo(name)
      this.nodeInfos.set(name, info)
    }
    return info
  }
}

const NO_VALUES: ReadonlyMap<string, number> = new Map()

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  for (const key of keys) if (a[key] !== b[key] || !Object.hasOwn(b, key)) return false
  return true
}

/** `namespace/name` of a Pod object, the key pods are placed under. */
export function podKeyOf(pod: JsonObject): string {
  const metadata = objectAt(pod, 'metadata')
  return `${stringAt(metadata, 'namespace', 'default')}/${stringAt(metadata, 'name')}`
}
