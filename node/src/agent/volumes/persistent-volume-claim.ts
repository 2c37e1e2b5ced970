/**
 * persistentVolumeClaim (and generic ephemeral) volumes: the directory that backs the claim's
 * bound volume on this node, as the node's local-path provisioner reports it. The claim must be
 * bound before the pod can start; until then setup fails and the agent retries.
 */
import { chmod, mkdir, stat } from 'node:fs/promises'
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { VolumeSetupError } from './volume-errors.ts'

/** Any user in the container may write a provisioned volume, as local-path provisioners make it. */
const CLAIM_DIRECTORY_MODE = 0o777

/** The provisioner's answer: the host directory of the claim's volume, undefined while unbound. */
export type PersistentVolumePath = (pod: JsonObject, claimName: string) => string | undefined

/**
 * The host directory of a claim, created when the provisioner has not made it yet.
 * @throws VolumeSetupError `persistentvolumeclaim "x" not bound` while there is no volume.
 */
export async function setUpPersistentVolumeClaim(pod: JsonObject, claimName: string, persistentVolumePath: PersistentVolumePath | undefined): Promise<string> {
  const path = persistentVolumePath?.(pod, claimName)
  if (path === undefined) throw new VolumeSetupError(`persistentvolumeclaim "${claimName}" not bound`)
  const exists = await stat(path).then(
    () => true,
    () => false,
  )
  if (!exists) {
    await mkdir(path, { recursive: true })
    await chmod(path, CLAIM_DIRECTORY_MODE)
  }
  return path
}
