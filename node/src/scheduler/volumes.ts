/**
 * What the scheduler reads of PersistentVolumeClaims, PersistentVolumes and StorageClasses,
 * parsed once when they enter the snapshot (see plugins/volume-binding.ts for how it is used).
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { objectAt, objectsAt, stringAt } from './json-access.ts'
import { parseNodeSelectorTerm, type NodeSelectorTerm } from './node-selector.ts'

/** The annotation kube-scheduler puts on a WaitForFirstConsumer claim to name the node it chose. */
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node'

/** A claim as the scheduler sees it. */
export interface ClaimInfo {
  /** `namespace/name`. */
  readonly key: string
  readonly name: string
  /** `spec.volumeName`: the bound (or pre-bound) volume; '' while unbound. */
  readonly volumeName: string
  /** `spec.storageClassName`; '' for none. */
  readonly storageClassName: string
  /** True when `metadata.deletionTimestamp` is set. */
  readonly terminating: boolean
  /** The node a scheduler already chose for it (SELECTED_NODE_ANNOTATION), '' when none. */
  readonly selectedNode: string
}

/** A PersistentVolume as the scheduler sees it. */
export interface PersistentVolumeInfo {
  readonly name: string
  /** `spec.nodeAffinity.required` terms (OR); undefined when the volume is reachable from every node. */
  readonly nodeTerms: readonly NodeSelectorTerm[] | undefined
}

/** How a class binds: at once, or once a pod using the claim is scheduled. */
export type VolumeBindingMode = 'Immediate' | 'WaitForFirstConsumer'

/** A StorageClass as the scheduler sees it. */
export interface StorageClassInfo {
  readonly name: string
  readonly volumeBindingMode: VolumeBindingMode
}

/** `namespace/name` of a claim. */
export function claimKey(namespace: string, name: string): string {
  return `${namespace}/${name}`
}

export function claimInfoOf(claim: JsonObject): ClaimInfo {
  const metadata = objectAt(claim, 'metadata')
  const spec = objectAt(claim, 'spec')
  const name = stringAt(metadata, 'name')
  return {
    key: claimKey(stringAt(metadata, 'namespace', 'default'), name),
    name,
    volumeName: stringAt(spec, 'volumeName'),
    storageClassName: stringAt(spec, 'storageClassName'),
    terminating: stringAt(metadata, 'deletionTimestamp') !== '',
    selectedNode: stringAt(objectAt(metadata, 'annotations'), SELECTED_NODE_ANNOTATION),
  }
}

export function persistentVolumeInfoOf(volume: JsonObject): PersistentVolumeInfo {
  const required = objectAt(objectAt(objectAt(volume, 'spec'), 'nodeAffinity'), 'required')
  return {
    name: stringAt(objectAt(volume, 'metadata'), 'name'),
    nodeTerms: required === undefined ? undefined : objectsAt(required, 'nodeSelectorTerms').map(parseNodeSelectorTerm),
  }
}

export function storageClassInfoOf(storageClass: JsonObject): StorageClassInfo {
  return {
    name: stringAt(objectAt(storageClass, 'metadata'), 'name'),
    volumeBindingMode: storageClass['volumeBindingMode'] === 'WaitForFirstConsumer' ? 'WaitForFirstConsumer' : 'Immediate',
  }
}

/**
 * The claims a Pod object mounts, as `namespace/name` keys: its persistentVolumeClaim volumes and
 * the `<pod>-<volume>` claims of its generic ephemeral volumes, without repeats.
 */
export function podClaimKeys(pod: JsonObject): readonly string[] {
  const volumes = objectsAt(objectAt(pod, 'spec'), 'volumes')
  if (volumes.length === 0) return NO_CLAIMS
  const metadata = objectAt(pod, 'metadata')
  const namespace = stringAt(metadata, 'namespace', 'default')
  const keys: string[] = []
  for (const volume of volumes) {
    const claim = objectAt(volume, 'persistentVolumeClaim')
    const name = claim !== undefined ? stringAt(claim, 'claimName') : objectAt(volume, 'ephemeral') !== undefined ? `${stringAt(metadata, 'name')}-${stringAt(volume, 'name')}` : ''
    if (name === '') continue
    const key = claimKey(namespace, name)
    if (!keys.includes(key)) keys.push(key)
  }
  return keys.length === 0 ? NO_CLAIMS : keys
}

const NO_CLAIMS: readonly string[] = Object.freeze([])
