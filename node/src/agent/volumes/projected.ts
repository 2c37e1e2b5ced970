/**
 * projected volumes: several configMap, secret and downwardAPI sources merged into one directory
 * (the kubelet's projected plugin). Service account tokens are not projected: Flotilla does not
 * issue them, and the API does not inject the `kube-api-access-*` volume that would need them.
 */
import { isJsonObject, type JsonObject } from '../../api/machinery/canonical.ts'
import type { ConfigSources } from '../container-env.ts'
import type { FileProjection, Payload } from './atomic-writer.ts'
import { configMapPayload, defaultModeOf, secretPayload } from './config-projection.ts'
import { downwardApiPayload } from './downward-api.ts'
import { VolumeSetupError } from './volume-errors.ts'

export interface ProjectedContext {
  readonly pod: JsonObject
  readonly namespace: string
  readonly sources: ConfigSources
  readonly nodeAllocatable?: Readonly<Record<string, string>>
}

/**
 * The merged files of every source of a projected volume.
 * @throws VolumeSetupError listing every source that failed, as the kubelet collects them.
 */
export function projectedPayload(projected: JsonObject, context: ProjectedContext): Payload {
  const defaultMode = defaultModeOf(projected)
  const payload = new Map<string, FileProjection>()
  const errors: string[] = []
  const projections = Array.isArray(projected['sources']) ? projected['sources'].filter(isJsonObject) : []
  for (const projection of projections) {
    try {
      for (const [path, file] of sourcePayload(projection, defaultMode, context)) payload.set(path, file)
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error))
    }
  }
  if (errors.length > 0) throw new VolumeSetupError(errors.length === 1 ? (errors[0] as string) : `[${errors.join(', ')}]`)
  return payload
}

function sourcePayload(projection: JsonObject, defaultMode: number, context: ProjectedContext): Payload {
  const { configMap, secret, downwardAPI } = projection
  const common = { namespace: context.namespace, sources: context.sources, defaultMode }
  if (isJsonObject(configMap)) return configMapPayload({ ...common, source: configMap })
  if (isJsonObject(secret)) return secretPayload({ ...common, source: secret })
  if (isJsonObject(downwardAPI)) return downwardApiPayload(context.pod, downwardAPI, defaultMode, context.nodeAllocatable)
  const kind = Object.keys(projection)[0] ?? 'empty'
  throw new VolumeSetupError(`projected volume source ${kind} is not supported on this node`)
}
