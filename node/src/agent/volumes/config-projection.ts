/**
 * configMap and secret volumes: the files a config map or secret projects (the kubelet's
 * `MakePayload` for each). Without `items` every key becomes a file named after it; with `items`
 * only the listed keys, at the listed paths. Modes are the item's `mode`, else the volume's
 * `defaultMode` (0644). Writing the payload is the atomic writer's job.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../api/machinery/canonical.ts'
import { configMapBinaryData, configMapData, secretData, type ConfigSources } from '../container-env.ts'
import type { FileProjection, Payload } from './atomic-writer.ts'
import { VolumeSetupError } from './volume-errors.ts'

/** Files from config maps, secrets and the downward API are `rw-r--r--` unless the pod says otherwise. */
export const DEFAULT_FILE_MODE = 0o644

/** A configMap volume source (or projected source) with the config map it names. */
export interface ProjectionSource {
  /** `configMap`/`secret` of a volume, or one entry of a projected volume's `sources`. */
  readonly source: JsonObject
  readonly namespace: string
  readonly sources: ConfigSources
  /** The mode of files whose item sets none. */
  readonly defaultMode: number
}

/**
 * The files of a configMap volume. A missing config map is an empty volume when `optional`.
 * @throws VolumeSetupError `configmap "x" not found`, or for an item naming a key the map lacks.
 */
export function configMapPayload(projection: ProjectionSource): Payload {
  const name = stringOf(projection.source['name'])
  const optional = projection.source['optional'] === true
  const configMap = projection.sources.configMap(projection.namespace, name)
  if (configMap === undefined && !optional) throw new VolumeSetupError(`configmap "${name}" not found`)
  const data = new Map<string, Uint8Array>()
  if (configMap !== undefined) {
    for (const [key, value] of configMapData(configMap)) data.set(key, Buffer.from(value, 'utf8'))
    for (const [key, value] of configMapBinaryData(configMap)) if (!data.has(key)) data.set(key, value)
  }
  return payloadOf(data, projection, optional, (key) => `configmap references non-existent config key: ${key}`)
}

/**
 * The files of a secret volume (the decoded bytes of `data`). A missing secret is an empty volume
 * when `optional`.
 * @throws VolumeSetupError `secret "x" not found`, or for an item naming a key the secret lacks.
 */
export function secretPayload(projection: ProjectionSource): Payload {
  // A secret volume names its secret `secretName`; a projected volume's secret source `name`.
  const name = stringOf(projection.source['secretName'], stringOf(projection.source['name']))
  const optional = projection.source['optional'] === true
  const secret = projection.sources.secret(projection.namespace, name)
  if (secret === undefined && !optional) throw new VolumeSetupError(`secret "${name}" not found`)
  const data = secret === undefined ? new Map<string, Uint8Array>() : secretData(secret)
  return payloadOf(data, projection, optional, (key) => `references non-existent secret key: ${key}`)
}

/** The file mode a volume source declares, else the default. */
export function defaultModeOf(source: JsonObject): number {
  const mode = source['defaultMode']
  return typeof mode === 'number' && Number.isInteger(mode) ? mode : DEFAULT_FILE_MODE
}

function payloadOf(data: ReadonlyMap<string, Uint8Array>, projection: ProjectionSource, optional: boolean, missingKeyMessage: (key: string) => string): Payload {
  const payload = new Map<string, FileProjection>()
  const items = projection.source['items']
  if (!Array.isArray(items) || items.length === 0) {
    for (const [key, bytes] of data) payload.set(key, { data: bytes, mode: projection.defaultMode })
    return payload
  }
  for (const item of items.filter(isJsonObject)) {
    const key = stringOf(item['key'])
    const bytes = data.get(key)
    if (bytes === undefined) {
      if (optional) continue
      throw new VolumeSetupError(missingKeyMessage(key))
    }
    const mode = item['mode']
    payload.set(stringOf(item['path']), { data: bytes, mode: typeof mode === 'number' ? mode : projection.defaultMode })
  }
  return payload
}

function stringOf(value: JsonValue | undefined, fallback = ''): string {
  return typeof value === 'string' && value !== '' ? value : fallback
}
