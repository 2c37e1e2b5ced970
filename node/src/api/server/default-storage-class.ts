/**
 * The cluster's default StorageClass and the DefaultStorageClass admission of claims.
 *
 * Every Flotilla cluster is born with one class, `local-path` (the default), whose volumes are
 * directories on the node that first runs a pod using the claim: the node's local-path
 * provisioner (agent/local-path-provisioner.ts) creates the PersistentVolume when the pod lands
 * there, hence WaitForFirstConsumer, so that the scheduler is free to pick the node first.
 *
 * Admission, as kube-apiserver's DefaultStorageClass plugin: a PersistentVolumeClaim created
 * without `spec.storageClassName` gets the default class's name. An explicit `""` means "no
 * class" and is kept, and so is a claim that names its class with the beta annotation. Updates
 * are never touched. With several default classes the newest wins (kube ≥ 1.26; 1.20 refused
 * every such claim with a 500, which helps nobody).
 */
import type { JsonObject } from '../machinery/canonical.ts'
import { ApiError } from '../machinery/status.ts'
import { IS_DEFAULT_CLASS_ANNOTATION, isDefaultStorageClass } from './kinds/storage-class.ts'
import { objectAt, stringAt } from './kinds/json-access.ts'
import { metadataOf, type ObjectStore, type ResourceRef } from './object-store.ts'

/** StorageClasses: storage.k8s.io/v1, cluster-scoped. */
export const STORAGE_CLASSES: ResourceRef = { group: 'storage.k8s.io', resource: 'storageclasses', kind: 'StorageClass', apiVersion: 'storage.k8s.io/v1', namespaced: false }

/** The provisioner name of the node agents' local-path provisioner. */
export const LOCAL_PATH_PROVISIONER = 'flotilla.dev/local-path'

/** The name of the class every cluster starts with. */
export const DEFAULT_STORAGE_CLASS_NAME = 'local-path'

/** A claim names its class with this annotation in pre-1.6 manifests; admission leaves those alone. */
const BETA_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class'

/** The default class as created at cluster init. */
export function defaultStorageClassObject(): JsonObject {
  return {
    apiVersion: STORAGE_CLASSES.apiVersion,
    kind: STORAGE_CLASSES.kind,
    metadata: { name: DEFAULT_STORAGE_CLASS_NAME, annotations: { [IS_DEFAULT_CLASS_ANNOTATION]: 'true' } },
    provisioner: LOCAL_PATH_PROVISIONER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
    allowVolumeExpansion: false,
  }
}

/**
 * Creates the `local-path` default class unless a class of that name exists (idempotent; run by
 * the founding node next to the system namespaces). An administrator's later changes, or its
 * deletion, are never undone by a restart, because only the founding node runs this at init.
 */
export async function ensureDefaultStorageClass(objects: ObjectStore): Promise<void> {
  await objects.create(STORAGE_CLASSES, undefined, defaultStorageClassObject()).catch((error: unknown) => {
    if (!(error instanceof ApiError && error.code === 409)) throw error
  })
}

/**
 * The claim with the default class's name filled in when it names no class, else the claim
 * itself; objects of other resources pass through unchanged. Reads the classes from `objects`.
 */
export async function admitDefaultStorageClass(objects: ObjectStore, resource: ResourceRef, object: JsonObject): Promise<JsonObject> {
  if (resource.group !== '' || resource.resource !== 'persistentvolumeclaims') return object
  const spec = objectAt(object['spec'])
  if (spec['storageClassName'] !== undefined && spec['storageClassName'] !== null) return object
  if (objectAt(metadataOf(object)['annotations'])[BETA_CLASS_ANNOTATION] !== undefined) return object
  const name = defaultStorageClassName((await objects.list(STORAGE_CLASSES, undefined)).items)
  if (name === undefined) return object
  return { ...object, spec: { ...spec, storageClassName: name } }
}

/** The default class among `classes`: the newest one marked default (then the first by name), if any. */
export function defaultStorageClassName(classes: readonly JsonObject[]): string | undefined {
  let best: { name: string; created: string } | undefined
  for (const storageClass of classes) {
    if (!isDefaultStorageClass(storageClass)) continue
    const metadata = metadataOf(storageClass)
    const candidate = { name: stringAt(metadata['name']), created: stringAt(metadata['creationTimestamp']) }
    // RFC 3339 timestamps in UTC compare as strings.
    if (best === undefined || candidate.created > best.created || (candidate.created === best.created && candidate.name < best.name)) best = candidate
  }
  return best?.name
}
