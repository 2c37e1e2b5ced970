/**
 * downwardAPI volumes: pod metadata and container resources as files (the kubelet's
 * `CollectData`). Labels and annotations as a whole are `key="value"` lines, so a file such as
 * `/etc/podinfo/labels` follows the pod's labels when the volume is set up again.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../api/machinery/canonical.ts'
import { containerResourceValue, findContainer, podFieldValue } from '../container-env.ts'
import type { FileProjection, Payload } from './atomic-writer.ts'
import { VolumeSetupError } from './volume-errors.ts'

/** Only metadata may be projected into files (status fields change under a running container). */
const VOLUME_FIELD_PATH = /^metadata\.(name|namespace|uid|labels|annotations)$|^metadata\.(labels|annotations)\['.*'\]$/

/**
 * The files of a downwardAPI volume (or a projected volume's downwardAPI source).
 * @throws VolumeSetupError naming every item that failed, as the kubelet joins its errors.
 */
export function downwardApiPayload(pod: JsonObject, source: JsonObject, defaultMode: number, nodeAllocatable?: Readonly<Record<string, string>>): Payload {
  const payload = new Map<string, FileProjection>()
  const errors: string[] = []
  const items = Array.isArray(source['items']) ? source['items'].filter(isJsonObject) : []
  for (const item of items) {
    const path = stringOf(item['path'])
    const mode = typeof item['mode'] === 'number' ? item['mode'] : defaultMode
    try {
      payload.set(path, { data: Buffer.from(itemValue(pod, item, nodeAllocatable), 'utf8'), mode })
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error))
    }
  }
  if (errors.length > 0) throw new VolumeSetupError(errors.length === 1 ? (errors[0] as string) : `[${errors.join(', ')}]`)
  return payload
}

function itemValue(pod: JsonObject, item: JsonObject, nodeAllocatable: Readonly<Record<string, string>> | undefined): string {
  const fieldRef = item['fieldRef']
  const resourceFieldRef = item['resourceFieldRef']
  if (isJsonObject(fieldRef)) {
    const fieldPath = stringOf(fieldRef['fieldPath'])
    if (!VOLUME_FIELD_PATH.test(fieldPath)) throw new VolumeSetupError(`unsupported fieldPath: ${fieldPath}`)
    return podFieldValue(pod, fieldPath, { nodeName: '' })
  }
  if (isJsonObject(resourceFieldRef)) {
    const container = findContainer(pod, stringOf(resourceFieldRef['containerName']))
    return containerResourceValue(container, resourceFieldRef, nodeAllocatable)
  }
  return ''
}

function stringOf(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : ''
}
