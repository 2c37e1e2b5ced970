/**
 * The namespace controller on the leader: every Terminating namespace is emptied and then goes.
 *
 * The DELETE of a namespace does the work itself, in the request (../../api/server/deletion.ts:
 * mark Terminating, delete the contents, remove the `kubernetes` finalizer once empty), so that
 * namespaces usually go as fast as their contents. But a request whose node dies mid-way leaves a
 * namespace Terminating for good, and contents that go later (pods terminating gracefully, objects
 * whose finalizers run) finish it only when their own deletion comes through a node that follows
 * up. This controller guarantees completion: it runs the same Deletion logic over the manager's
 * fenced store for every namespace that is being deleted, when the namespace changes, when a pod
 * in it goes, and again every `recheckMs` (2 s by default) while it is still there.
 */
import { BUILTIN_REGISTRY } from '../../api/discovery/resources.ts'
import { ApiError } from '../../api/machinery/status.ts'
import { NAMESPACE_FINALIZER, isBeingDeleted, namespaceFinalizersOf } from '../../api/server/deletion-state.ts'
import { Deletion } from '../../api/server/deletion.ts'
import type { ObjectStore } from '../../api/server/object-store.ts'
import { NAMESPACES, storedResources } from '../../api/server/resource-refs.ts'
import type { Timers } from '../../../../lib/timers.ts'
import { nameOf, namespaceOf } from '../object-fields.ts'
import type { SharedInformers } from './shared-informers.ts'
import { WorkQueue } from './work-queue.ts'

export interface NamespaceControllerOptions {
  readonly informers: Pick<SharedInformers, 'namespaces' | 'pods'>
  /** The manager's (fenced) store. */
  readonly objects: ObjectStore
  readonly timers: Timers
  readonly log: (line: string) => void
  /** How soon a namespace still Terminating after a pass is looked at again. */
  readonly recheckMs?: number
}

const RECHECK_MS_DEFAULT = 2000

export class NamespaceController {
  readonly queue: WorkQueue
  private readonly options: NamespaceControllerOptions
  private readonly deletion: Deletion

  constructor(options: NamespaceControllerOptions) {
    this.options = options
    this.queue = new WorkQueue({ timers: options.timers })
    this.deletion = new Deletion({ objects: options.objects, resources: storedResources(BUILTIN_REGISTRY), log: options.log })
    const { namespaces, pods } = options.informers
    namespaces.addHandlers({
      onAdd: (namespace) => {
        if (isBeingDeleted(namespace)) this.queue.add(nameOf(namespace))
      },
      onUpdate: (_previous, namespace) => {
        if (isBeingDeleted(namespace)) this.queue.add(nameOf(namespace))
      },
    })
    pods.addHandlers({
      onDelete: (pod) => {
        const namespace = namespaces.get(undefined, namespaceOf(pod))
        if (namespace !== undefined && isBeingDeleted(namespace)) this.queue.add(nameOf(namespace))
      },
    })
  }

  /** Empties and finishes one Terminating namespace; looks again later while it is still there. */
  async sync(name: string): Promise<void> {
    const cached = this.options.informers.namespaces.get(undefined, name)
    if (cached === undefined || !isBeingDeleted(cached)) return
    await this.deletion.finishNamespaceIfTerminating(name)
    let current
    try {
      current = await this.options.objects.get(NAMESPACES, undefined, name)
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return
      throw error
    }
    // Contents still terminating (or the pass lost a race): again soon. A namespace held only by
    // other finalizers than ours is someone else's to finish; its updates queue it.
    if (isBeingDeleted(current) && namespaceFinalizersOf(current).includes(NAMESPACE_FINALIZER)) this.queue.addAfter(name, this.options.recheckMs ?? RECHECK_MS_DEFAULT)
  }
}
