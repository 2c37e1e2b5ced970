/**
 * Pod volumes: defaults (`SetDefaults_Volume` and the per-source ones) and validation
 * (`ValidateVolumes`): DNS-label names, unique, exactly one source, and the basics of the sources
 * Flotilla runs (emptyDir, hostPath, configMap, secret, persistentVolumeClaim, projected,
 * downwardAPI). Other Kubernetes sources are recognised, so "exactly one" counts them, but not
 * checked further.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldDuplicate, fieldForbidden, fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { dns1123LabelErrors } from '../../machinery/names.ts'
import { defaultFieldRef, fieldRefErrors, resourceFieldRefErrors, VOLUME_FIELD_PATHS } from './downward-api.ts'
import { messagesAsErrors, requiredStringErrors } from './field-checks.ts'
import { localDescendingPathErrors, localNonReservedPathErrors } from './formats.ts'
import { childPath, indexPath, isInteger, isSet, listAt, objectAt, objectsAt, setDefault, stringAt } from './json-access.ts'
import { quantityErrors, quantityOf } from './resource-lists.ts'

/** Every volume source field of core/v1 VolumeSource, in the order Kubernetes checks them. */
const VOLUME_SOURCES: readonly string[] = [
  'emptyDir', 'hostPath', 'gitRepo', 'gcePersistentDisk', 'awsElasticBlockStore', 'secret', 'nfs', 'iscsi', 'glusterfs', 'flocker',
  'persistentVolumeClaim', 'rbd', 'cinder', 'cephfs', 'quobyte', 'downwardAPI', 'fc', 'flexVolume', 'configMap', 'azureFile',
  'vsphereVolume', 'photonPersistentDisk', 'portworxVolume', 'azureDisk', 'storageos', 'projected', 'scaleIO', 'csi', 'ephemeral', 'image',
]

/** Files from secrets, config maps and the downward API are created `rw-r--r--` (0644 = 420). */
const DEFAULT_FILE_MODE = 0o644
const FILE_MODE_MAX = 0o777
const FILE_MODE_MESSAGE = 'must be a number between 0 and 0777 (octal), both inclusive'
/** A projected service account token lives an hour unless the pod asks otherwise. */
const TOKEN_EXPIRATION_SECONDS_DEFAULT = 3600
const TOKEN_EXPIRATION_SECONDS_MIN = 600
const TOKEN_EXPIRATION_SECONDS_MAX = 2 ** 32
const HOST_PATH_TYPES: readonly string[] = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice']

/** The source fields a volume sets. */
export function volumeSourcesOf(volume: JsonObject): string[] {
  return VOLUME_SOURCES.filter((source) => isSet(volume[source]))
}

/** Fills a volume's defaults in place: no source means an emptyDir; file modes 0644. */
export function defaultVolume(volume: JsonObject): void {
  if (volumeSourcesOf(volume).length === 0) volume['emptyDir'] = {}
  for (const source of ['secret', 'configMap', 'downwardAPI', 'projected']) {
    if (isJsonObject(volume[source])) setDefault(volume[source], 'defaultMode', DEFAULT_FILE_MODE)
  }
  if (isJsonObject(volume['hostPath'])) setDefault(volume['hostPath'], 'type', '')
  const emptyDir = volume['emptyDir']
  const sizeLimit = isJsonObject(emptyDir) ? quantityOf(emptyDir['sizeLimit']) : undefined
  if (isJsonObject(emptyDir) && sizeLimit !== undefined) emptyDir['sizeLimit'] = sizeLimit.toString()
  for (const item of objectsAt(objectAt(volume['downwardAPI'])['items'])) defaultFieldRef(item['fieldRef'])
  for (const projection of objectsAt(objectAt(volume['projected'])['sources'])) {
    for (const item of objectsAt(objectAt(projection['downwardAPI'])['items'])) defaultFieldRef(item['fieldRef'])
    if (isJsonObject(projection['serviceAccountToken'])) setDefault(projection['serviceAccountToken'], 'expirationSeconds', TOKEN_EXPIRATION_SECONDS_DEFAULT)
  }
}

function fileModeErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isSet(value)) return []
  return isInteger(value) && value >= 0 && value <= FILE_MODE_MAX ? [] : [fieldInvalid(path, value, FILE_MODE_MESSAGE)]
}

/** `items` of a secret or config map: key, relative path, optional mode (`validateKeyToPath`). */
function keyToPathErrors(items: JsonValue | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  listAt(items).forEach((value, i) => {
    const item = objectAt(value)
    const at = indexPath(path, i)
    errors.push(...requiredStringErrors(item['key'], childPath(at, 'key')), ...requiredStringErrors(item['path'], childPath(at, 'path')))
    errors.push(...localNonReservedPathErrors(stringAt(item['path']), childPath(at, 'path')), ...fileModeErrors(item['mode'], childPath(at, 'mode')))
  })
  return errors
}

function downwardApiFileErrors(value: JsonValue, path: string): FieldError[] {
  const file = objectAt(value)
  const errors = [...requiredStringErrors(file['path'], childPath(path, 'path')), ...localNonReservedPathErrors(stringAt(file['path']), childPath(path, 'path'))]
  if (isJsonObject(file['fieldRef'])) {
    errors.push(...fieldRefErrors(file['fieldRef'], VOLUME_FIELD_PATHS, childPath(path, 'fieldRef')))
    if (isSet(file['resourceFieldRef'])) errors.push(fieldInvalid(path, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'))
  } else if (isJsonObject(file['resourceFieldRef'])) {
    errors.push(...resourceFieldRefErrors(file['resourceFieldRef'], childPath(path, 'resourceFieldRef'), true))
  } else {
    errors.push(fieldRequired(path, 'one of fieldRef and resourceFieldRef is required'))
  }
  return [...errors, ...fileModeErrors(file['mode'], childPath(path, 'mode'))]
}

const PROJECTION_SOURCES: readonly string[] = ['secret', 'configMap', 'downwardAPI', 'serviceAccountToken', 'clusterTrustBundle']

function projectionErrors(value: JsonValue, path: string): FieldError[] {
  const projection = objectAt(value)
  const present = PROJECTION_SOURCES.filter((source) => isSet(projection[source]))
  const errors: FieldError[] = present.slice(1).map((source) => fieldForbidden(childPath(path, source), 'may not specify more than 1 volume type per source'))
  if (present.length === 0) errors.push(fieldRequired(path, 'must specify exactly 1 volume type'))
  const [source] = present
  const at = (field: string): string => childPath(childPath(path, source ?? ''), field)
  const content = objectAt(projection[source ?? ''])
  if (source === 'secret' || source === 'configMap') {
    errors.push(...requiredStringErrors(content['name'], at('name')), ...keyToPathErrors(content['items'], at('items')))
  }
  if (source === 'downwardAPI') listAt(content['items']).forEach((item, i) => errors.push(...downwardApiFileErrors(item, indexPath(at('items'), i))))
  if (source === 'serviceAccountToken') {
    errors.push(...requiredStringErrors(content['path'], at('path')))
    const expiration = content['expirationSeconds']
    if (isInteger(expiration) && expiration < TOKEN_EXPIRATION_SECONDS_MIN) {
      errors.push(fieldInvalid(at('expirationSeconds'), expiration, 'may not specify a duration less than 10 minutes'))
    }
    if (isInteger(expiration) && expiration > TOKEN_EXPIRATION_SECONDS_MAX) {
      errors.push(fieldInvalid(at('expirationSeconds'), expiration, 'may not specify a duration larger than 2^32 seconds'))
    }
  }
  return errors
}

/** The checks of the one source a volume uses. */
function sourceErrors(source: string, content: JsonObject, path: string): FieldError[] {
  const at = (field: string): string => childPath(path, field)
  const mode = (): FieldError[] => fileModeErrors(content['defaultMode'], at('defaultMode'))
  switch (source) {
    case 'emptyDir':
      return isSet(content['sizeLimit']) ? quantityErrors(content['sizeLimit'], at('sizeLimit')) : []
    case 'hostPath': {
      const hostPath = stringAt(content['path'])
      if (hostPath === '') return [fieldRequired(at('path'))]
      const type = stringAt(content['type'])
      const errors = HOST_PATH_TYPES.includes(type) ? [] : [fieldNotSupported(at('type'), type, HOST_PATH_TYPES)]
      if (hostPath.split('/').includes('..')) errors.unshift(fieldInvalid(at('path'), hostPath, "must not contain '..'"))
      return errors
    }
    case 'secret':
      return [...requiredStringErrors(content['secretName'], at('secretName')), ...mode(), ...keyToPathErrors(content['items'], at('items'))]
    case 'configMap':
      return [...requiredStringErrors(content['name'], at('name')), ...mode(), ...keyToPathErrors(content['items'], at('items'))]
    case 'persistentVolumeClaim':
      return requiredStringErrors(content['claimName'], at('claimName'))
    case 'downwardAPI':
      return [...mode(), ...listAt(content['items']).flatMap((item) => downwardApiFileErrors(item, path))]
    case 'projected':
      return [...mode(), ...listAt(content['sources']).flatMap((item, i) => projectionErrors(item, indexPath(at('sources'), i)))]
    case 'nfs': {
      const nfsPath = stringAt(content['path'])
      const errors = requiredStringErrors(content['server'], at('server'))
      if (!nfsPath.startsWith('/')) errors.push(fieldInvalid(at('path'), nfsPath, 'must be an absolute path'))
      return errors
    }
    case 'csi':
      return requiredStringErrors(content['driver'], at('driver'))
    default:
      return []
  }
}

/** One volume's source problems: exactly one source, then that source's own checks. */
function volumeSourceErrors(volume: JsonObject, path: string): FieldError[] {
  const sources = volumeSourcesOf(volume)
  const errors: FieldError[] = sources.slice(1).map((source) => fieldForbidden(childPath(path, source), 'may not specify more than 1 volume type'))
  const [source] = sources
  if (source === undefined) return [fieldRequired(path, 'must specify a volume type')]
  return [...errors, ...sourceErrors(source, objectAt(volume[source]), childPath(path, source))]
}

/**
 * The pod's volumes under `path`, and the names of the valid ones (what volumeMounts may refer
 * to; a StatefulSet adds its volumeClaimTemplates to these).
 */
export function volumesErrors(value: JsonValue | undefined, path: string): { errors: FieldError[]; names: Set<string> } {
  const errors: FieldError[] = []
  const names = new Set<string>()
  listAt(value).forEach((item, i) => {
    const volume = objectAt(item)
    const at = indexPath(path, i)
    const name = stringAt(volume['name'])
    const own = volumeSourceErrors(volume, at)
    if (name === '') own.push(fieldRequired(childPath(at, 'name')))
    else own.push(...messagesAsErrors(dns1123LabelErrors(name), childPath(at, 'name'), name))
    if (names.has(name)) own.push(fieldDuplicate(childPath(at, 'name'), name))
    if (own.length === 0) names.add(name)
    errors.push(...own)
  })
  return { errors, names }
}

/**
 * A container's volumeMounts: each names a volume of the pod, at an absolute, unique mountPath.
 * Kubernetes itself accepts relative mount paths; Flotilla refuses them up front because the
 * container runtime (Docker) refuses them when the container starts, which would leave the pod
 * failing long after the write was accepted.
 */
export function volumeMountErrors(value: JsonValue | undefined, volumes: ReadonlySet<string>, path: string): FieldError[] {
  const errors: FieldError[] = []
  const mountPaths = new Set<string>()
  listAt(value).forEach((item, i) => {
    const mount = objectAt(item)
    const at = indexPath(path, i)
    const name = stringAt(mount['name'])
    const mountPath = stringAt(mount['mountPath'])
    if (name === '') errors.push(fieldRequired(childPath(at, 'name')))
    if (!volumes.has(name)) errors.push({ type: 'FieldValueNotFound', field: childPath(at, 'name'), badValue: name, detail: '' })
    if (mountPath === '') errors.push(fieldRequired(childPath(at, 'mountPath')))
    else if (!mountPath.startsWith('/')) errors.push(fieldInvalid(childPath(at, 'mountPath'), mountPath, 'must be an absolute path'))
    if (mountPaths.has(mountPath)) errors.push(fieldInvalid(childPath(at, 'mountPath'), mountPath, 'must be unique'))
    mountPaths.add(mountPath)
    const subPath = stringAt(mount['subPath'])
    const subPathExpr = stringAt(mount['subPathExpr'])
    if (subPath !== '') errors.push(...localDescendingPathErrors(subPath, childPath(at, 'subPath')))
    if (subPathExpr !== '') {
      if (subPath !== '') errors.push(fieldInvalid(childPath(at, 'subPathExpr'), subPathExpr, 'subPathExpr and subPath are mutually exclusive'))
      errors.push(...localDescendingPathErrors(subPathExpr, childPath(at, 'subPathExpr')))
    }
  })
  return errors
}
