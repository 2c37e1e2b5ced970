/**
 * The ResourceQuota controller as the manager runs it (the accounting is ../resource-quota.ts's):
 * keeps every quota's `status.hard` and `status.used` current.
 *
 * A quota is queued when it changes, and when an object of a resource it may count is added,
 * changed or deleted in its namespace. Pods come from the shared informer; Services, ConfigMaps,
 * Secrets and PersistentVolumeClaims from informers of this controller (`informers`, started and
 * stopped by the session). Other resources (`count/deployments.apps`, …) are listed from the store
 * when the quota is synced, and such quotas are synced again every RESYNC_UNWATCHED_MS, as
 * kube-controller-manager's periodic quota resync (5 min there) catches what no watch reports.
 */
import { BUILTIN_REGISTRY } from '../../api/discovery/resources.ts'
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ObjectStore, ResourceRef } from '../../api/server/object-store.ts'
import { storedResources } from '../../api/server/resource-refs.ts'
import { equalIgnoringNullFields, namespaceOf, objectAt, specOf } from '../object-fields.ts'
import { groupResourceKey, podCountsForQuota, reconcileResourceQuota, resourcesCountedBy, RESOURCE_QUOTAS, type GroupResource } from '../resource-quota.ts'
import { executeExpecting, expectationsOver, indexPodsByNamespace, objectToSync, PODS_BY_NAMESPACE, queueOwnObjects, type OwnInformersContext } from './controller-wiring.ts'
import type { Expectations } from './expectations.ts'
import { cacheKeyOf, Informer } from './informer.ts'
import { WorkQueue } from './work-queue.ts'

/** How often a quota counting unwatched resources is recomputed. */
export const RESYNC_UNWATCHED_MS = 30_000
const BY_NAMESPACE = 'resource-quota-controller/namespace'
const PODS_KEY = groupResourceKey({ group: '', resource: 'pods' })
/** The core resources this controller watches itself (pods: the shared informer). */
const WATCHED_CORE = ['services', 'configmaps', 'secrets', 'persistentvolumeclaims'] as const

export class ResourceQuotaController {
  readonly queue: WorkQueue
  /** The informers this controller owns (start them before its workers, stop them with it). */
  readonly informers: readonly Informer[]
  private readonly quotas: Informer
  /** Informers by `group/resource`, the shared pods one included. */
  private readonly watched = new Map<string, Informer>()
  private readonly refs = new Map<string, ResourceRef>()
  private readonly context: OwnInformersContext
  private readonly expectations: Expectations

  constructor(context: OwnInformersContext) {
    this.context = context
    this.queue = new WorkQueue({ timers: context.timers })
    for (const ref of storedResources(BUILTIN_REGISTRY)) this.refs.set(groupResourceKey(ref), ref)
    const own = (resource: ResourceRef): Informer => new Informer({ objects: context.objects, resource, timers: context.timers, log: context.log })
    this.quotas = own(RESOURCE_QUOTAS)
    const owned: Informer[] = [this.quotas]
    for (const resource of WATCHED_CORE) {
      const ref = this.refs.get(groupResourceKey({ group: '', resource }))
      if (ref === undefined) continue
      const informer = own(ref)
      owned.push(informer)
      this.watched.set(groupResourceKey(ref), informer)
    }
    this.watched.set(groupResourceKey({ group: '', resource: 'pods' }), context.informers.pods)
    this.informers = owned
    this.expectations = expectationsOver([this.quotas], context.informers, context.expectationsTimeoutMs)
    this.quotas.addIndex(BY_NAMESPACE, (quota) => [namespaceOf(quota)])
    queueOwnObjects(this.quotas, this.queue, this.expectations)
    indexPodsByNamespace(context.informers.pods)
    for (const [id, informer] of this.watched) {
      if (informer !== context.informers.pods) informer.addIndex(BY_NAMESPACE, (object) => [namespaceOf(object)])
      informer.addHandlers({
        onAdd: (object) => this.namespaceChanged(object),
        onUpdate: (previous, object) => {
          // A pod's status changes often; only what quotas count (phase, deletion, spec) matters.
          if (id === PODS_KEY && equalIgnoringNullFields(specOf(previous), specOf(object)) && podCountsForQuota(previous) === podCountsForQuota(object)) return
          this.namespaceChanged(object)
        },
        onDelete: (object) => this.namespaceChanged(object),
      })
    }
    // Quotas count quotas too (`resourcequotas`, `count/resourcequotas`); their own changes already queue them.
    this.watched.set(groupResourceKey(RESOURCE_QUOTAS), this.quotas)
  }

  private namespaceChanged(object: JsonObject): void {
    for (const quota of this.quotas.byIndex(BY_NAMESPACE, namespaceOf(object))) this.queue.add(cacheKeyOf(quota))
  }

  /** Recomputes one quota's status; throws when the write failed (retried). */
  async sync(key: string): Promise<void> {
    const { timers, objects, informers } = this.context
    const quota = objectToSync(this.quotas, key, this.expectations, this.queue, timers.monotonicMs())
    if (quota === undefined) return
    const namespace = namespaceOf(quota)
    const listed = new Map<string, readonly JsonObject[]>()
    let countsUnwatched = false
    for (const groupResource of resourcesCountedBy(Object.keys(objectAt(specOf(quota)['hard'])))) {
      const id = groupResourceKey(groupResource)
      const ref = this.refs.get(id)
      if (this.watched.has(id) || ref === undefined) continue
      countsUnwatched = true
      listed.set(id, (await objects.list(ref, ref.namespaced ? namespace : undefined)).items)
    }
    const objectsOf = (groupResource: GroupResource): readonly JsonObject[] | undefined => {
      const id = groupResourceKey(groupResource)
      const informer = this.watched.get(id)
      if (informer !== undefined) return informer.byIndex(informer === informers.pods ? PODS_BY_NAMESPACE : BY_NAMESPACE, namespace)
      return listed.get(id)
    }
    const plan = reconcileResourceQuota(quota, objectsOf)
    if (countsUnwatched) this.queue.addAfter(key, RESYNC_UNWATCHED_MS)
    await executeExpecting(this.context, this.expectations, key, plan)
  }
}
