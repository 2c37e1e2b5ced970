/**
 * PersistentVolumeClaims and PersistentVolumes (and the claim templates of StatefulSets):
 * defaults (`SetDefaults_PersistentVolumeClaim`, `SetDefaults_PersistentVolume`) and validation
 * (`ValidatePersistentVolumeClaimSpec`, `ValidatePersistentVolumeSpec`).
 */
import { canonicalEqual, cloneJson, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123SubdomainErrors } from '../../machinery/names.ts'
import { enumErrors, messagesAsErrors } from './field-checks.ts'
import { childPath, ensureObject, isSet, keyPath, listAt, objectAt, setDefault, sortedKeys, stringAt } from './json-access.ts'
import { selectorErrors } from './labels.ts'
import { canonicalizeQuantities, positiveQuantityErrors } from './resource-lists.ts'

const ACCESS_MODES: readonly string[] = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod']
const VOLUME_MODES: readonly string[] = ['Block', 'Filesystem']
const RECLAIM_POLICIES: readonly string[] = ['Delete', 'Recycle', 'Retain']
/** The volume sources a PersistentVolume may use (one of them). */
const PERSISTENT_VOLUME_SOURCES: readonly string[] = [
  'gcePersistentDisk', 'awsElasticBlockStore', 'hostPath', 'glusterfs', 'nfs', 'rbd', 'iscsi', 'cinder', 'cephfs', 'fc', 'flocker', 'flexVolume',
  'azureFile', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'portworxVolume', 'scaleIO', 'local', 'storageos', 'csi',
]

/** Fills a claim's defaults in place: Filesystem mode, Pending phase, canonical quantities. */
export function defaultClaim(claim: JsonObject): void {
  const spec = ensureObject(claim, 'spec')
  setDefault(spec, 'volumeMode', 'Filesystem')
  canonicalizeQuantities(objectAt(spec['resources'])['requests'])
  canonicalizeQuantities(objectAt(spec['resources'])['limits'])
  setDefault(ensureObject(claim, 'status'), 'phase', 'Pending')
}

/** Fills a volume's defaults in place: Retain, Filesystem, Pending, canonical capacity. */
export function defaultPersistentVolume(volume: JsonObject): void {
  const spec = ensureObject(volume, 'spec')
  setDefault(spec, 'persistentVolumeReclaimPolicy', 'Retain')
  setDefault(spec, 'volumeMode', 'Filesystem')
  canonicalizeQuantities(spec['capacity'])
  setDefault(ensureObject(volume, 'status'), 'phase', 'Pending')
}

function accessModeErrors(value: JsonValue | undefined, path: string, required: string): FieldError[] {
  const modes = listAt(value)
  const errors: FieldError[] = modes.length === 0 ? [fieldRequired(path, required)] : []
  for (const mode of modes) if (!ACCESS_MODES.includes(stringAt(mode))) errors.push(fieldNotSupported(path, mode, ACCESS_MODES))
  return errors
}

/** A claim spec under `path`: access modes, a positive storage request, a valid class and mode. */
export function claimSpecErrors(spec: JsonObject, path: string): FieldError[] {
  const errors = accessModeErrors(spec['accessModes'], childPath(path, 'accessModes'), 'at least 1 access mode is required')
  errors.push(...selectorErrors(spec['selector'], childPath(path, 'selector')))
  // Kubernetes reports the storage request at `resources[storage]`, without `requests`.
  const storagePath = keyPath(childPath(path, 'resources'), 'storage')
  const storage = objectAt(objectAt(spec['resources'])['requests'])['storage']
  if (!isSet(storage)) errors.push(fieldRequired(storagePath))
  else errors.push(...positiveQuantityErrors(storage, storagePath))
  const storageClass = stringAt(spec['storageClassName'])
  if (storageClass !== '') errors.push(...messagesAsErrors(dns1123SubdomainErrors(storageClass), childPath(path, 'storageClassName'), storageClass))
  if (isSet(spec['volumeMode'])) errors.push(...enumErrors(spec['volumeMode'], childPath(path, 'volumeMode'), VOLUME_MODES))
  return errors
}

/**
 * Problems of a claim. A bound claim's spec is immutable except for growing its storage request,
 * which is how volumes are expanded.
 */
export function claimErrors(claim: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = objectAt(claim['spec'])
  const errors = claimSpecErrors(spec, 'spec')
  if (old !== undefined) {
    const withOldRequests = cloneJson(spec)
    ensureObject(withOldRequests, 'resources')['requests'] = objectAt(objectAt(old['spec'])['resources'])['requests'] ?? null
    if (!canonicalEqual(withOldRequests, objectAt(old['spec']))) errors.push(fieldForbidden('spec', 'spec is immutable after creation except resources.requests for bound claims'))
  }
  return errors
}

/** Problems of a PersistentVolume: access modes, storage capacity only, one source, a known policy. */
export function persistentVolumeErrors(volume: JsonObject): FieldError[] {
  const spec = objectAt(volume['spec'])
  const errors = accessModeErrors(spec['accessModes'], 'spec.accessModes', '')
  const capacity = objectAt(spec['capacity'])
  if (Object.keys(capacity).length === 0) errors.push(fieldRequired('spec.capacity'))
  if (!isSet(capacity['storage']) || Object.keys(capacity).length > 1) errors.push(fieldNotSupported('spec.capacity', capacity, ['storage']))
  for (const name of sortedKeys(capacity)) errors.push(...positiveQuantityErrors(capacity[name], keyPath('spec.capacity', name)))
  if (isSet(spec['persistentVolumeReclaimPolicy'])) errors.push(...enumErrors(spec['persistentVolumeReclaimPolicy'], 'spec.persistentVolumeReclaimPolicy', RECLAIM_POLICIES))
  if (isSet(spec['volumeMode'])) errors.push(...enumErrors(spec['volumeMode'], 'spec.volumeMode', VOLUME_MODES))
  const sources = PERSISTENT_VOLUME_SOURCES.filter((source) => isSet(spec[source]))
  if (sources.length === 0) errors.push(fieldRequired('spec', 'must specify a volume type'))
  for (const source of sources.slice(1)) errors.push(fieldForbidden(`spec.${source}`, 'may not specify more than 1 volume type'))
  return errors
}
