/**
 * The agent's volume manager: makes a pod's volumes exist on the node before its containers
 * start, tells the runtime what to bind where, and removes the volumes when the pod is gone.
 *
 * One module per volume type does the work (empty-dir, host-path, config-projection for
 * configMap and secret, downward-api, projected, persistent-volume-claim); files of configMap,
 * secret, downwardAPI and projected volumes go through the atomic writer, so calling `setUp`
 * again after the sources changed refreshes what running containers see without ever showing
 * them a half-written set. The agent calls `setUp` on every sync of a pod; unchanged sources cost
 * a few reads and no writes.
 *
 * What lives on disk, in the kubelet's layout: `<rootDir>/pods/<uid>/volumes/<plugin>/<name>`
 * (see pod-volume-dirs.ts). hostPath and persistentVolumeClaim volumes live elsewhere and are
 * never removed by `tearDown`.
 */
import { readdir, rm } from 'node:fs/promises'
import type { JsonObject, JsonValue } from '../../api/machinery/canonical.ts'
import { isJsonObject } from '../../api/machinery/canonical.ts'
import type { Mount } from '../../../../runtime/src/runtime.ts'
import type { ConfigSources } from '../container-env.ts'
import { writePayloadAtomically, type Payload } from './atomic-writer.ts'
import { configMapPayload, defaultModeOf, secretPayload } from './config-projection.ts'
import { downwardApiPayload } from './downward-api.ts'
import { setUpEmptyDir } from './empty-dir.ts'
import { setUpHostPath } from './host-path.ts'
import { setUpPersistentVolumeClaim, type PersistentVolumePath } from './persistent-volume-claim.ts'
import { podDir, podsDir, podVolumeDir } from './pod-volume-dirs.ts'
import { projectedPayload } from './projected.ts'
import { subPathHostPath } from './sub-path.ts'
import { VolumeSetupError } from './volume-errors.ts'

export { VolumeSetupError } from './volume-errors.ts'

export interface VolumeManagerOptions {
  /** The agent's state directory; pods' volumes go under `<rootDir>/pods/`. */
  rootDir: string
  /** Config maps and secrets for configMap, secret and projected volumes. */
  sources: ConfigSources
  /** The host directory backing a claim's bound volume, undefined while the claim is unbound. */
  persistentVolumePath?(pod: JsonObject, claimName: string): string | undefined
  /** The node's allocatable resources, for `limits.*` resourceFieldRefs of containers without limits. */
  nodeAllocatable?: Readonly<Record<string, string>>
}

/** Volume types whose data is read-only to containers whatever the volumeMount says. */
const ALWAYS_READ_ONLY = new Set(['configMap', 'secret', 'downwardAPI', 'projected'])

export class VolumeManager {
  private readonly options: VolumeManagerOptions
  /** The last operation per pod uid: setUp and tearDown of one pod never overlap. */
  private readonly podOperations = new Map<string, Promise<unknown>>()

  constructor(options: VolumeManagerOptions) {
    this.options = options
  }

  /** The provisioner's lookup, called as a method of the options it came with. */
  private readonly claimPaths: PersistentVolumePath = (pod, claimName) => this.options.persistentVolumePath?.(pod, claimName)

  /**
   * Creates or refreshes every volume of the pod on disk; resolves with volume name → host path.
   * Idempotent; configMap/secret/downwardAPI/projected contents are rewritten atomically when
   * they changed. Calls for one pod run one after another.
   * @throws VolumeSetupError for the first volume that cannot be set up (the rest are still
   * attempted, so a later call has less left to do).
   */
  setUp(pod: JsonObject): Promise<ReadonlyMap<string, string>> {
    return this.serialized(podUidOf(pod), () => this.setUpVolumes(pod))
  }

  /**
   * The runtime mounts for one container: its volumeMounts in order, with subPath (created when
   * missing) and readOnly; configMap, secret, downwardAPI and projected volumes are always
   * read-only, and a claim mounted `readOnly` in the volume source is too.
   * @throws VolumeSetupError for a mount of a volume the pod does not declare or `volumePaths`
   * lacks, or a bad subPath.
   */
  mountsFor(pod: JsonObject, container: JsonObject, volumePaths: ReadonlyMap<string, string>): Mount[] {
    const containerName = stringOf(container['name'])
    const volumes = new Map(volumesOf(pod).map((volume) => [stringOf(volume['name']), volume]))
    const mounts: Mount[] = []
    for (const volumeMount of objectsOf(container['volumeMounts'])) {
      const name = stringOf(volumeMount['name'])
      const volume = volumes.get(name)
      const volumePath = volumePaths.get(name)
      if (volume === undefined || volumePath === undefined) throw new VolumeSetupError(`cannot find volume "${name}" to mount into container "${containerName}"`)
      const subPath = stringOf(volumeMount['subPath'])
      const hostPath = subPath === '' ? volumePath : subPathHostPath({ volumePath, subPath, mountName: name, containerName })
      const readOnly = volumeMount['readOnly'] === true || volumeIsReadOnly(volume)
      mounts.push({ hostPath, containerPath: stringOf(volumeMount['mountPath']), readOnly })
    }
    return mounts
  }

  /**
   * Removes everything the pod's volumes left under the pod's directory (emptyDirs, projected
   * files). hostPath and claim directories are outside it and stay. Idempotent.
   */
  tearDown(podUid: string): Promise<void> {
    const directory = podDir(this.options.rootDir, podUid)
    // rm does not follow symlinks, so a link a container planted in an emptyDir removes only the link.
    return this.serialized(podUid, () => rm(directory, { recursive: true, force: true }))
  }

  /** Pod uids that have a directory on disk, for removing the volumes of pods that are gone. */
  async podsOnDisk(): Promise<string[]> {
    try {
      const entries = await readdir(podsDir(this.options.rootDir), { withFileTypes: true })
      return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name)
    } catch (error) {
      if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return []
      throw error
    }
  }

  private async setUpVolumes(pod: JsonObject): Promise<ReadonlyMap<string, string>> {
    const paths = new Map<string, string>()
    let firstError: unknown
    for (const volume of volumesOf(pod)) {
      const name = stringOf(volume['name'])
      try {
        paths.set(name, await this.setUpVolume(pod, volume))
      } catch (error) {
        firstError ??= error
      }
    }
    if (firstError !== undefined) throw firstError
    return paths
  }

  /** One volume; errors of the volume type carry the kubelet's `MountVolume.SetUp failed` prefix. */
  private async setUpVolume(pod: JsonObject, volume: JsonObject): Promise<string> {
    const name = stringOf(volume['name'])
    const uid = podUidOf(pod)
    const claim = claimNameOf(pod, volume)
    // An unbound claim fails before any mounting, as in the kubelet's desired-state populator.
    if (claim !== undefined) return setUpPersistentVolumeClaim(pod, claim, this.claimPaths)
    const { rootDir, sources, nodeAllocatable } = this.options
    const namespace = stringOf(objectOf(pod['metadata'])['namespace'], 'default')
    try {
      const { emptyDir, hostPath, configMap, secret, downwardAPI, projected } = volume
      if (isJsonObject(hostPath)) return await setUpHostPath(hostPath)
      if (isJsonObject(emptyDir)) return await setUpEmptyDir(podVolumeDir(rootDir, uid, 'emptyDir', name))
      let payload: Payload
      let directory: string
      if (isJsonObject(configMap)) {
        directory = podVolumeDir(rootDir, uid, 'configMap', name)
        payload = configMapPayload({ source: configMap, namespace, sources, defaultMode: defaultModeOf(configMap) })
      } else if (isJsonObject(secret)) {
        directory = podVolumeDir(rootDir, uid, 'secret', name)
        payload = secretPayload({ source: secret, namespace, sources, defaultMode: defaultModeOf(secret) })
      } else if (isJsonObject(downwardAPI)) {
        directory = podVolumeDir(rootDir, uid, 'downwardAPI', name)
        payload = downwardApiPayload(pod, downwardAPI, defaultModeOf(downwardAPI), nodeAllocatable)
      } else if (isJsonObject(projected)) {
        directory = podVolumeDir(rootDir, uid, 'projected', name)
        payload = projectedPayload(projected, nodeAllocatable === undefined ? { pod, namespace, sources } : { pod, namespace, sources, nodeAllocatable })
      } else {
        const source = Object.keys(volume).find((key) => key !== 'name') ?? 'none'
        throw new VolumeSetupError(`volume source ${source} is not supported on this node`)
      }
      await writePayloadAtomically(directory, payload)
      return directory
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      throw new VolumeSetupError(`MountVolume.SetUp failed for volume "${name}" : ${message}`, { cause: error })
    }
  }

  private serialized<T>(podUid: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.podOperations.get(podUid) ?? Promise.resolve()
    const result = previous.then(operation, operation)
    const settled = result.then(
      () => undefined,
      () => undefined,
    )
    this.podOperations.set(podUid, settled)
    // Forget the chain once it is idle so the map does not grow with every pod ever seen.
    void settled.then(() => {
      if (this.podOperations.get(podUid) === settled) this.podOperations.delete(podUid)
    })
    return result
  }
}

/** The claim a volume mounts: a persistentVolumeClaim's name, or a generic ephemeral volume's `<pod>-<volume>` claim. */
function claimNameOf(pod: JsonObject, volume: JsonObject): string | undefined {
  const claim = volume['persistentVolumeClaim']
  if (isJsonObject(claim)) return stringOf(claim['claimName'])
  if (isJsonObject(volume['ephemeral'])) return `${stringOf(objectOf(pod['metadata'])['name'])}-${stringOf(volume['name'])}`
  return undefined
}

function volumeIsReadOnly(volume: JsonObject): boolean {
  if (Object.keys(volume).some((key) => ALWAYS_READ_ONLY.has(key))) return true
  const claim = volume['persistentVolumeClaim']
  return isJsonObject(claim) && claim['readOnly'] === true
}

function podUidOf(pod: JsonObject): string {
  return stringOf(objectOf(pod['metadata'])['uid'])
}

function volumesOf(pod: JsonObject): JsonObject[] {
  return objectsOf(objectOf(pod['spec'])['volumes'])
}

function objectOf(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

function objectsOf(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : []
}

function stringOf(value: JsonValue | undefined, fallback = ''): string {
  return typeof value === 'string' ? value : fallback
}
