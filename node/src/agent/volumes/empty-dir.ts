/**
 * emptyDir volumes: a directory under the pod that lives as long as the pod.
 *
 * Differences from the kubelet, on purpose: `medium: Memory` is a plain directory too (no tmpfs
 * mount: the agent does not mount filesystems, and a plain directory behaves the same for the
 * container except that it survives a node reboot), and `sizeLimit` is not enforced (the kubelet
 * enforces it by evicting the pod, and Flotilla has no eviction manager).
 */
import { chmod, mkdir } from 'node:fs/promises'

/** Any user in the container may write an emptyDir, as on Kubernetes. */
const EMPTY_DIR_MODE = 0o777

/** Creates the volume's directory (idempotent) with mode 0777; resolves with its path. */
export async function setUpEmptyDir(directory: string): Promise<string> {
  await mkdir(directory, { recursive: true })
  // mkdir's mode is masked by the umask; the kubelet chmods too.
  await chmod(directory, EMPTY_DIR_MODE)
  return directory
}
