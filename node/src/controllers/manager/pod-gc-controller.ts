/**
 * The pod garbage collector on the leader (decisions: ../pod-gc.ts). Every `periodMs` (1 s by
 * default; Kubernetes: 20 s) one pass over the shared pod and node caches force-deletes, with a
 * grace period of 0 and the pod's uid as precondition, the pods planPodGc picks: Terminating pods
 * of nodes lost for the pod eviction timeout, pods of nodes that do not exist, unbound pods being
 * deleted, and finished pods beyond the threshold.
 *
 * A node missing from the cache is not taken for gone at once: it must stay missing for
 * `orphanQuarantineMs` (Kubernetes: 40 s) and then be absent from the store itself (a live read),
 * so a cache a write behind never costs a pod.
 *
 * The pass runs as the single key of a work queue, so the session's runner counts it as work
 * (simulations settle after it) and a pass never overlaps the next.
 */
import { BUILTIN_REGISTRY } from '../../api/discovery/resources.ts'
import { ApiError } from '../../api/machinery/status.ts'
import { Deletion } from '../../api/server/deletion.ts'
import type { ObjectStore } from '../../api/server/object-store.ts'
import { storedResources } from '../../api/server/resource-refs.ts'
import type { Timers } from '../../../../lib/timers.ts'
import { nameOf, namespaceOf, uidOf } from '../object-fields.ts'
import { nodesMissingFrom, planPodGc, TERMINATED_POD_GC_THRESHOLD_DEFAULT } from '../pod-gc.ts'
import { PODS } from '../plan.ts'
import type { Informer } from './informer.ts'
import { NODES } from './shared-informers.ts'
import { WorkQueue } from './work-queue.ts'

export interface PodGcControllerOptions {
  readonly pods: Informer
  readonly nodes: Informer
  /** The manager's (fenced) store: force deletions and live node reads. */
  readonly objects: ObjectStore
  readonly timers: Timers
  readonly log: (line: string) => void
  /** How long a node must be not Ready before its Terminating pods go (the node lifecycle's option). */
  readonly podEvictionTimeoutMs: number
  /** Finished pods kept at most (default 12500; 0 or less: no limit). */
  readonly terminatedPodThreshold?: number
  readonly periodMs?: number
  readonly maxDeletesPerPass?: number
  readonly orphanQuarantineMs?: number
}

const PASS_KEY = 'pass'
const PERIOD_MS_DEFAULT = 1000
const MAX_DELETES_PER_PASS_DEFAULT = 100
const ORPHAN_QUARANTINE_MS_DEFAULT = 10_000

export class PodGcController {
  readonly queue: WorkQueue
  private readonly options: PodGcControllerOptions
  private readonly deletion: Deletion
  /** Nodes missing from the cache, and since when (monotonic ms). */
  private missingSinceMs = new Map<string, number>()

  constructor(options: PodGcControllerOptions) {
    this.options = options
    this.queue = new WorkQueue({ timers: options.timers })
    this.deletion = new Deletion({ objects: options.objects, resources: storedResources(BUILTIN_REGISTRY), log: options.log })
    // The first pass waits in the queue until the session starts the runner.
    this.queue.add(PASS_KEY)
  }

  /** One pass; the next is queued whatever happens to this one. */
  async sync(_key: string): Promise<void> {
    try {
      await this.pass()
    } finally {
      this.queue.addAfter(PASS_KEY, this.options.periodMs ?? PERIOD_MS_DEFAULT)
    }
  }

  private async pass(): Promise<void> {
    const { pods, nodes, timers } = this.options
    const podList = pods.list()
    const missingNodes = await this.confirmedMissing(nodesMissingFrom(podList, nodes.list()), timers.monotonicMs())
    const deletions = planPodGc({
      pods: podList,
      nodes: nodes.list(),
      nowMs: timers.realtimeMs(),
      podEvictionTimeoutMs: this.options.podEvictionTimeoutMs,
      terminatedPodThreshold: this.options.terminatedPodThreshold ?? TERMINATED_POD_GC_THRESHOLD_DEFAULT,
      missingNodes,
      maxDeletes: this.options.maxDeletesPerPass ?? MAX_DELETES_PER_PASS_DEFAULT,
    })
    await Promise.all(
      deletions.map(async ({ pod, reason }) => {
        const where = `${namespaceOf(pod)}/${nameOf(pod)}`
        try {
          await this.deletion.delete(PODS, namespaceOf(pod), nameOf(pod), { dryRun: false, propagationPolicy: 'Background', gracePeriodSeconds: 0, preconditions: { uid: uidOf(pod) } })
          this.options.log(`pod-garbage-collector: force-deleted pod ${where} (${reason})`)
        } catch (error) {
          // Gone or replaced since the cache saw it: nothing left to collect.
          if (error instanceof ApiError && (error.code === 404 || error.code === 409)) return
          throw error
        }
      }),
    )
  }

  /**
   * The nodes of `missing` that have been missing from the cache for the quarantine and are
   * absent from the store as well.
   */
  private async confirmedMissing(missing: ReadonlySet<string>, nowMs: number): Promise<Set<string>> {
    const quarantineMs = this.options.orphanQuarantineMs ?? ORPHAN_QUARANTINE_MS_DEFAULT
    const since = new Map<string, number>()
    for (const name of missing) since.set(name, this.missingSinceMs.get(name) ?? nowMs)
    this.missingSinceMs = since
    const confirmed = new Set<string>()
    for (const [name, sinceMs] of since) {
      if (nowMs - sinceMs < quarantineMs) continue
      try {
        await this.options.objects.get(NODES, undefined, name)
      } catch (error) {
        if (error instanceof ApiError && error.code === 404) confirmed.add(name)
        else throw error
      }
    }
    return confirmed
  }
}
