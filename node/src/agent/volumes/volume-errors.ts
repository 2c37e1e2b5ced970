/**
 * The error every volume operation fails with. It lives apart from volume-manager.ts so the
 * per-type modules can throw it without importing the manager that imports them.
 */

/**
 * A pod's volume cannot be set up or mounted: a failed hostPath type check, a missing config map,
 * an unbound claim, a bad subPath. The message is the kubelet's, as `kubectl describe pod` shows
 * it in a FailedMount event (`MountVolume.SetUp failed for volume "data" : hostPath type check
 * failed: /srv/data is not a directory`).
 */
export class VolumeSetupError extends Error {
  override name = 'VolumeSetupError'
}
