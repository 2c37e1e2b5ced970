/**
 * Scheduling decisions: where one pod goes (`schedule`), and where a batch of pods goes, each seeing
 * the placements before it (`scheduleBatch`).
 *
 * One decision is kube-scheduler's cycle without its I/O:
 * 1. every filter plugin prepares for the pod (PreFilter), then checks nodes in name order until
 *    enough feasible nodes are found (all of them by default; see `feasibleNodesToFind`); a node
 *    is rejected by the first filter that refuses it, and its reasons are kept for the message;
 * 2. no feasible node: the pod stays Pending with the summary message (fit-error.ts);
 * 3. one feasible node: it wins; several: every score plugin scores and normalizes, the weighted
 *    sum ranks the nodes, and a tie between top nodes is broken by the Random.
 *
 * Determinism: the result depends only on the snapshot's contents, the pod and the Random. The
 * leader seeds that Random from replicated data (`podRandom(seed, uid)`, with a seed such as the
 * leader's term), so a replayed decision is the same decision.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { assert } from '../../../lib/assert.ts'
import { RandomXoshiro, type Random } from '../../../lib/random.ts'
import { fitErrorMessage, reasonHistogram } from './fit-error.ts'
import { MAX_NODE_SCORE, type NodeFilter, type Rejection } from './framework.ts'
import type { NodeInfo } from './node-info.ts'
import { InvalidPodSpecError, isPodInfo, podInfoOf, type PodInfo } from './pod-info.ts'
import { DEFAULT_SCHEDULER_PROFILE, type SchedulerConfig, type SchedulerProfile } from './profile.ts'
import { podKeyOf, type ClusterSnapshot } from './snapshot.ts'

/** Why a pod could not be placed. */
export interface FitFailure {
  /** The FailedScheduling message (`0/3 nodes are available: …`). */
  readonly message: string
  /** How many nodes were considered. */
  readonly nodeCount: number
  /** Reason → number of nodes that gave it. */
  readonly reasons: ReadonlyMap<string, number>
  /** Node name → the rejection of the filter that refused it. */
  readonly rejections: ReadonlyMap<string, Rejection>
}

/** The outcome of scheduling one pod. */
export type ScheduleResult =
  | { readonly nodeName: string; readonly feasibleNodes: number; readonly evaluatedNodes: number }
  | { readonly unschedulable: FitFailure }

/**
 * Chooses a node for the pod, or says why none fits. Reads the snapshot, never changes it: the
 * caller assumes the placement (`snapshot.assumePod`) before scheduling the next pod. The pod must
 * not be placed in the snapshot already (it would count against itself).
 */
export function schedule(pod: PodInfo | JsonObject, snapshot: ClusterSnapshot, random: Random, profile: SchedulerProfile = DEFAULT_SCHEDULER_PROFILE): ScheduleResult {
  let info: PodInfo
  try {
    info = isPodInfo(pod) ? pod : podInfoOf(pod)
  } catch (error) {
    if (!(error instanceof InvalidPodSpecError)) throw error
    return { unschedulable: invalidSpecFailure(error, snapshot.nodes().length) }
  }
  assert(snapshot.pod(info.key) === undefined, `pod ${info.key} is already placed in the snapshot; remove it before scheduling it again`)
  const nodes = snapshot.nodes()
  const filters: NodeFilter[] = []
  for (const plugin of profile.filters) {
    const filter = plugin.preFilter(info, snapshot)
    if (filter !== undefined) filters.push(filter)
  }
  const toFind = feasibleNodesToFind(profile.config, nodes.length)
  // Sampling looks at a different slice of the cluster each time, from a seeded start.
  const start = toFind < nodes.length ? random.int(0, nodes.length) : 0
  const feasible: NodeInfo[] = []
  const rejectedNodes: NodeInfo[] = []
  const rejections: Rejection[] = []
  let evaluated = 0
  for (; evaluated < nodes.length && feasible.length < toFind; evaluated++) {
    const node = nodes[(start + evaluated) % nodes.length] as NodeInfo
    let rejected: Rejection | undefined
    for (const filter of filters) {
      rejected = filter(node)
      if (rejected !== undefined) break
    }
    if (rejected === undefined) feasible.push(node)
    else {
      rejectedNodes.push(node)
      rejections.push(rejected)
    }
  }
  if (feasible.length === 0) return { unschedulable: fitFailure(nodes.length, rejectedNodes, rejections) }
  const nodeName = feasible.length === 1 ? (feasible[0] as NodeInfo).name : selectHost(info, snapshot, feasible, random, profile)
  return { nodeName, feasibleNodes: feasible.length, evaluatedNodes: evaluated }
}

/**
 * How many feasible nodes to look for among `nodeCount` (kube's numFeasibleNodesToFind): all of
 * them at 100%, otherwise the percentage (0 = adaptive: 50% − nodeCount/125, at least 5%) but never
 * fewer than `minFeasibleNodesToFind`.
 */
export function feasibleNodesToFind(config: SchedulerConfig, nodeCount: number): number {
  if (nodeCount < config.minFeasibleNodesToFind || config.percentageOfNodesToScore >= 100) return nodeCount
  let percentage = config.percentageOfNodesToScore
  if (percentage === 0) percentage = Math.max(5, 50 - Math.trunc(nodeCount / 125))
  return Math.max(config.minFeasibleNodesToFind, Math.trunc((nodeCount * percentage) / 100))
}

/** Scores the feasible nodes and picks the best; ties go to the Random over name-sorted nodes. */
function selectHost(pod: PodInfo, snapshot: ClusterSnapshot, feasible: readonly NodeInfo[], random: Random, profile: SchedulerProfile): string {
  const totals = new Float64Array(feasible.length)
  const scores = new Float64Array(feasible.length)
  for (const { plugin, weight } of profile.scorers) {
    const scorer = plugin.preScore(pod, snapshot, feasible)
    if (scorer === undefined) continue
    for (let i = 0; i < feasible.length; i++) scores[i] = scorer.score(feasible[i] as NodeInfo)
    scorer.normalize?.(scores)
    for (let i = 0; i < feasible.length; i++) {
      const score = scores[i] as number
      // The message is built only on failure: this loop runs once per node per plugin per pod.
      if (!(score >= 0 && score <= MAX_NODE_SCORE)) assert(false, `${plugin.name} scored node ${(feasible[i] as NodeInfo).name} ${score}, outside [0, ${MAX_NODE_SCORE}]`)
      totals[i] = (totals[i] as number) + weight * score
    }
  }
  let best = -Infinity
  let winners: NodeInfo[] = []
  for (let i = 0; i < feasible.length; i++) {
    const total = totals[i] as number
    if (total > best) {
      best = total
      winners = [feasible[i] as NodeInfo]
    } else if (total === best) winners.push(feasible[i] as NodeInfo)
  }
  if (winners.length === 1) return (winners[0] as NodeInfo).name
  // With sampling, the feasible list starts mid-cluster; sort so that the draw sees a fixed order.
  winners.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return (winners[random.int(0, winners.length)] as NodeInfo).name
}

function fitFailure(nodeCount: number, rejectedNodes: readonly NodeInfo[], rejections: readonly Rejection[]): FitFailure {
  const reasons = reasonHistogram(rejections)
  const byNode = new Map<string, Rejection>()
  for (let i = 0; i < rejectedNodes.length; i++) byNode.set((rejectedNodes[i] as NodeInfo).name, rejections[i] as Rejection)
  return { message: fitErrorMessage(nodeCount, reasons), nodeCount, reasons, rejections: byNode }
}

function invalidSpecFailure(error: InvalidPodSpecError, nodeCount: number): FitFailure {
  return { message: error.message, nodeCount, reasons: new Map(), rejections: new Map() }
}

/** A placement decided by `scheduleBatch`. */
export interface Binding {
  readonly pod: PodInfo
  readonly nodeName: string
}

/** A pod `scheduleBatch` could not place. */
export interface SchedulingFailure {
  readonly pod: JsonObject
  /** `namespace/name`. */
  readonly key: string
  readonly failure: FitFailure
}

/** The outcome of a batch, in the order of the input. */
export interface BatchResult {
  readonly bindings: readonly Binding[]
  readonly failures: readonly SchedulingFailure[]
}

/**
 * Schedules `pods` in the given order (the queue decides the order), assuming each placement in
 * the snapshot before the next pod, so the batch never over-commits a node. The snapshot keeps the
 * assumed pods: confirm them with `upsertPod` once the bindings commit, or `removePod` those
 * whose binding fails. A pod the snapshot already holds is removed first and scheduled afresh.
 * Deterministic for a given snapshot, pods and `seed`.
 */
export function scheduleBatch(pods: readonly (PodInfo | JsonObject)[], snapshot: ClusterSnapshot, seed: number, profile: SchedulerProfile = DEFAULT_SCHEDULER_PROFILE): BatchResult {
  const bindings: Binding[] = []
  const failures: SchedulingFailure[] = []
  for (const pod of pods) {
    let info: PodInfo
    try {
      info = isPodInfo(pod) ? pod : podInfoOf(pod)
    } catch (error) {
      if (!(error instanceof InvalidPodSpecError)) throw error
      const object = pod as JsonObject
      failures.push({ pod: object, key: podKeyOf(object), failure: invalidSpecFailure(error, snapshot.nodes().length) })
      continue
    }
    snapshot.removePod(info.key)
    const result = schedule(info, snapshot, podRandom(seed, info.uid === '' ? info.key : info.uid), profile)
    if ('unschedulable' in result) {
      failures.push({ pod: info.object, key: info.key, failure: result.unschedulable })
      continue
    }
    bindings.push({ pod: snapshot.assumePod(info, result.nodeName), nodeName: result.nodeName })
  }
  return { bindings, failures }
}

/**
 * The Random for one pod's decision: seeded from the batch seed (replicated data such as the
 * leader's term) and the pod's uid, so that a pod's tie-break does not depend on which other pods
 * share its batch.
 */
export function podRandom(seed: number, uid: string): RandomXoshiro {
  // FNV-1a over the seed and the uid, 32 bits: enough to decorrelate pods; RandomXoshiro expands it.
  let hash = 0x811c9dc5
  const text = `${seed}:${uid}`
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return new RandomXoshiro(hash)
}
