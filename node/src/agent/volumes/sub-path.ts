/**
 * `volumeMounts[].subPath`: mount one directory (or file) of a volume instead of its root. As
 * the kubelet does, a missing subPath is created as a directory with the volume root's mode, so
 * the container finds it with sensible permissions rather than whatever the engine would make.
 *
 * Synchronous on purpose: the agent computes mounts synchronously right before creating the
 * container, and the work is a few stat/mkdir calls on a local disk.
 */
import { chmodSync, lstatSync, mkdirSync, realpathSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, sep } from 'node:path'
import { VolumeSetupError } from './volume-errors.ts'

export interface SubPathMount {
  readonly volumePath: string
  readonly subPath: string
  readonly mountName: string
  readonly containerName: string
}

/**
 * The host path to mount for a subPath, created when missing. The result is resolved through
 * symlinks (what the engine would bind anyway) and must stay inside the volume, so a container
 * cannot plant a symlink that makes the next mount expose the node's filesystem.
 * @throws VolumeSetupError for an absolute subPath, one with `..`, one escaping the volume, or
 * one that cannot be created.
 */
export function subPathHostPath(mount: SubPathMount): string {
  const { volumePath, subPath } = mount
  if (isAbsolute(subPath)) throw new VolumeSetupError(`error SubPath \`${subPath}\` must not be an absolute path`)
  if (subPath.split(/[\\/]/).includes('..')) throw new VolumeSetupError(`unable to provision SubPath \`${subPath}\`: must not contain '..'`)
  const hostPath = join(volumePath, subPath)
  let realVolume: string
  try {
    realVolume = realpathSync(volumePath)
    if (!existsNoFollow(hostPath)) makeDirectories(realVolume, volumePath, hostPath, statSync(volumePath).mode & 0o7777)
  } catch (error) {
    if (error instanceof VolumeSetupError) throw error
    // The detail could reveal the node's filesystem; the kubelet keeps it out of the pod's events.
    throw new VolumeSetupError(`failed to create subPath directory for volumeMount "${mount.mountName}" of container "${mount.containerName}"`, { cause: error })
  }
  let realPath: string
  try {
    realPath = realpathSync(hostPath)
  } catch (error) {
    throw new VolumeSetupError(`failed to resolve subPath \`${subPath}\` for volumeMount "${mount.mountName}" of container "${mount.containerName}"`, { cause: error })
  }
  if (!isWithin(realVolume, realPath)) throw escapes(hostPath, volumePath)
  return realPath
}

/**
 * Creates `directory` and its missing parents below `base`. Each parent is resolved before a
 * directory is made in it, so a symlink planted inside the volume cannot make us create
 * directories elsewhere on the node.
 */
function makeDirectories(realVolume: string, base: string, directory: string, mode: number): void {
  if (directory === base || existsNoFollow(directory)) return
  makeDirectories(realVolume, base, dirname(directory), mode)
  if (!isWithin(realVolume, realpathSync(dirname(directory)))) throw escapes(directory, base)
  mkdirSync(directory)
  chmodSync(directory, mode)
}

function isWithin(realVolume: string, realPath: string): boolean {
  return realPath === realVolume || realPath.startsWith(realVolume + sep)
}

function escapes(path: string, volumePath: string): VolumeSetupError {
  return new VolumeSetupError(`subpath "${path}" not within volume path "${volumePath}"`)
}

function existsNoFollow(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return false
    throw error
  }
}
