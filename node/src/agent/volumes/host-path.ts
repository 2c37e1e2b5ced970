/**
 * hostPath volumes: a path of the node, mounted as it is. The `type` field is checked the way
 * the kubelet's `checkTypeInternal` checks it, with its messages: `DirectoryOrCreate` and
 * `FileOrCreate` create what is missing (0755 directory, empty 0644 file); the other types must
 * already exist with that type. An empty type checks nothing.
 */
import { constants } from 'node:fs'
import { chmod, mkdir, open, stat } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { VolumeSetupError } from './volume-errors.ts'

const CREATED_DIRECTORY_MODE = 0o755
const CREATED_FILE_MODE = 0o644

/**
 * Checks (and for the *OrCreate types creates) the hostPath; resolves with the path to mount.
 * @throws VolumeSetupError `hostPath type check failed: <path> is not a directory` and the like.
 */
export async function setUpHostPath(source: JsonObject): Promise<string> {
  const path = typeof source['path'] === 'string' ? source['path'] : ''
  const type = typeof source['type'] === 'string' ? source['type'] : ''
  if (path === '') throw new VolumeSetupError('hostPath path must not be empty')
  let stats = await statOrUndefined(path)
  switch (type) {
    case '':
      return path
    case 'DirectoryOrCreate':
      if (stats === undefined) {
        await mkdir(path, { recursive: true, mode: CREATED_DIRECTORY_MODE })
        stats = await statOrUndefined(path)
      }
      return expect(path, stats?.isDirectory() === true, 'a directory')
    case 'Directory':
      return expect(path, stats?.isDirectory() === true, 'a directory')
    case 'FileOrCreate':
      if (stats === undefined) {
        await createEmptyFile(path)
        stats = await statOrUndefined(path)
      }
      return expect(path, stats?.isFile() === true, 'a file')
    case 'File':
      return expect(path, stats?.isFile() === true, 'a file')
    case 'Socket':
      return expect(path, stats?.isSocket() === true, 'a socket file')
    case 'CharDevice':
      return expect(path, stats?.isCharacterDevice() === true, 'a character device')
    case 'BlockDevice':
      return expect(path, stats?.isBlockDevice() === true, 'a block device')
    default:
      throw new VolumeSetupError(`${type} is an invalid volume type`)
  }
}

function expect(path: string, holds: boolean, what: string): string {
  if (!holds) throw new VolumeSetupError(`hostPath type check failed: ${path} is not ${what}`)
  return path
}

/** The kubelet's `makeFile`: O_CREATE in an existing directory (parents are not created). */
async function createEmptyFile(path: string): Promise<void> {
  try {
    const handle = await open(path, constants.O_CREAT | constants.O_WRONLY, CREATED_FILE_MODE)
    await handle.close()
    await chmod(path, CREATED_FILE_MODE)
  } catch (error) {
    throw new VolumeSetupError(`open ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path)
  } catch (error) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return undefined
    throw error
  }
}
