/**
 * The informers the controller manager shares between its controllers (one list and one watch
 * per resource, whatever the number of controllers reading it), with the indexes they look
 * objects up by:
 *
 *   pods         controller (owner uid), orphans (namespace of pods without a controller), node
 *   replicasets  controller (owner uid), namespace
 *   deployments, nodes, namespaces
 *   persistentvolumeclaims, persistentvolumes, storageclasses (the scheduler's VolumeBinding)
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import type { ObjectStore, ResourceRef } from '../../api/server/object-store.ts'
import { NAMESPACES } from '../../api/server/resource-refs.ts'
import { STORAGE_CLASSES } from '../../api/server/default-storage-class.ts'
import { controllerRefOf, metadataOf, specOf, stringAt } from '../object-fields.ts'
import { DEPLOYMENTS, PODS, REPLICA_SETS } from '../plan.ts'
import { PERSISTENT_VOLUME_CLAIMS } from '../statefulset.ts'
import { Informer } from './informer.ts'
import type { Timers } from '../../../../lib/timers.ts'

/** Nodes: core/v1, cluster-scoped. */
export const NODES: ResourceRef = { group: '', resource: 'nodes', kind: 'Node', apiVersion: 'v1', namespaced: false }
export { NAMESPACES }
/** PersistentVolumes: core/v1, cluster-scoped. */
export const PERSISTENT_VOLUMES: ResourceRef = { group: '', resource: 'persistentvolumes', kind: 'PersistentVolume', apiVersion: 'v1', namespaced: false }

/** Index of objects by the uid of their controller (owner reference with controller: true). */
export const BY_CONTROLLER = 'controller'
/** Index of pods without a controller, by namespace (candidates for adoption). */
export const ORPHANS_BY_NAMESPACE = 'orphans'
/** Index by namespace. */
export const BY_NAMESPACE = 'namespace'
/** Index of pods by `spec.nodeName` (bound pods only). */
export const BY_NODE = 'node'

function controllerUid(object: JsonObject): readonly string[] {
  const uid = controllerRefOf(object)?.['uid']
  return typeof uid === 'string' ? [uid] : []
}

function namespaceOfObject(object: JsonObject): readonly string[] {
  return [stringAt(metadataOf(object)['namespace'])]
}

export class SharedInformers {
  readonly pods: Informer
  readonly replicaSets: Informer
  readonly deployments: Informer
  readonly nodes: Informer
  readonly namespaces: Informer
  readonly persistentVolumeClaims: Informer
  readonly persistentVolumes: Informer
  readonly storageClasses: Informer
  private readonly all: readonly Informer[]

  constructor(options: { objects: ObjectStore; timers: Timers; log: (line: string) => void }) {
    const informer = (resource: ResourceRef): Informer => new Informer({ ...options, resource })
    this.pods = informer(PODS)
    this.replicaSets = informer(REPLICA_SETS)
    this.deployments = informer(DEPLOYMENTS)
    this.nodes = informer(NODES)
    this.namespaces = informer(NAMESPACES)
    this.persistentVolumeClaims = informer(PERSISTENT_VOLUME_CLAIMS)
    this.persistentVolumes = informer(PERSISTENT_VOLUMES)
    this.storageClasses = informer(STORAGE_CLASSES)
    this.all = [this.pods, this.replicaSets, this.deployments, this.nodes, this.namespaces, this.persistentVolumeClaims, this.persistentVolumes, this.storageClasses]
    this.pods.addIndex(BY_CONTROLLER, controllerUid)
    this.pods.addIndex(ORPHANS_BY_NAMESPACE, (pod) => (controllerRefOf(pod) === undefined ? namespaceOfObject(pod) : []))
    this.pods.addIndex(BY_NODE, (pod) => {
      const nodeName = stringAt(specOf(pod)['nodeName'])
      return nodeName === '' ? [] : [nodeName]
    })
    this.replicaSets.addIndex(BY_CONTROLLER, controllerUid)
    this.replicaSets.addIndex(BY_NAMESPACE, namespaceOfObject)
  }

  /** The informer of `resource`, when it is one of these. */
  informerFor(resource: ResourceRef): Informer | undefined {
    return this.all.find((informer) => informer.resource.group === resource.group && informer.resource.resource === resource.resource)
  }

  /** Lists and starts watching every resource; resolves when all caches are filled. */
  async start(): Promise<void> {
    await Promise.all(this.all.map((informer) => informer.start()))
  }

  stop(): void {
    for (const informer of this.all) informer.stop()
  }
}
