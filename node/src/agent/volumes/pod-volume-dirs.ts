/**
 * Where a pod's volumes live on the node, in the kubelet's layout:
 * `<rootDir>/pods/<pod uid>/volumes/<plugin>/<volume name>`, with plugin names such as
 * `kubernetes.io~empty-dir`. Keeping the kubelet's layout means an operator who knows Kubernetes
 * finds the files where they expect them.
 */
import { join } from 'node:path'

/** The plugin directory names of the volume types that keep their data under the pod. */
export const VOLUME_PLUGIN_DIRS = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
} as const

export type PodVolumePlugin = keyof typeof VOLUME_PLUGIN_DIRS

/** The directory holding everything of all pods. */
export function podsDir(rootDir: string): string {
  return join(rootDir, 'pods')
}

/**
 * The directory of one pod. The uid comes from the API (a UUID); anything that could step out of
 * the pods directory is refused, because tearDown removes this path recursively.
 * @throws TypeError for an empty uid or one with path separators or dots only.
 */
export function podDir(rootDir: string, podUid: string): string {
  if (podUid === '' || podUid.includes('/') || podUid.includes('\\') || /^\.+$/.test(podUid)) {
    throw new TypeError(`Cannot use pod uid ${JSON.stringify(podUid)} as a directory name`)
  }
  return join(podsDir(rootDir), podUid)
}

/** The directory of one volume of a pod. */
export function podVolumeDir(rootDir: string, podUid: string, plugin: PodVolumePlugin, volumeName: string): string {
  return join(podDir(rootDir, podUid), 'volumes', VOLUME_PLUGIN_DIRS[plugin], volumeName)
}
