/**
 * The kubelet's AtomicWriter: writes a set of files into a volume directory so that a reader in
 * the container sees either the whole old set or the whole new set, never a mix.
 *
 * Layout of a written volume (`kubectl exec … ls -la /etc/config`):
 *
 * ```
 * ..2026_11_23_10_00_00.AbC123/   the files of the current version (a fresh directory per write)
 * ..data -> ..2026_11_23_10_00_00.AbC123
 * game.properties -> ..data/game.properties
 * ui.properties -> ..data/ui.properties
 * ```
 *
 * A write puts the new version in a new timestamped directory, points a temporary symlink
 * `..data_tmp` at it and renames that over `..data`. rename(2) replaces the link atomically, so
 * `..data` always names one complete version; the user-visible names are symlinks through
 * `..data` and therefore switch together. Afterwards names that left the payload are removed and
 * the old version is deleted. Writing an unchanged payload does nothing, so periodic refreshes do
 * not churn the directory.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile, chmod } from 'node:fs/promises'
import { dirname, join, isAbsolute, sep } from 'node:path'
import { VolumeSetupError } from './volume-errors.ts'

/** One file of a payload: its bytes and permission bits (0644 unless the pod says otherwise). */
export interface FileProjection {
  readonly data: Uint8Array
  readonly mode: number
}

/** Relative file path (`key` or `dir/key`) → contents. */
export type Payload = ReadonlyMap<string, FileProjection>

export const DATA_DIR_NAME = '..data'
const DATA_DIR_TMP_NAME = '..data_tmp'
/** Directories inside a version are traversable by any user, as the kubelet makes them. */
const DIRECTORY_MODE = 0o755
const PATH_LENGTH_MAX = 4096

/**
 * Makes `targetDir` hold exactly `payload`, atomically for readers (see the module comment).
 * Creates `targetDir` when missing. Resolves true when anything on disk changed.
 * @throws VolumeSetupError for a payload path that is absolute, contains `..` or starts with `..`.
 */
export async function writePayloadAtomically(targetDir: string, payload: Payload): Promise<boolean> {
  for (const path of payload.keys()) validatePayloadPath(path)
  await mkdir(targetDir, { recursive: true })
  const dataLink = join(targetDir, DATA_DIR_NAME)
  const oldVersionName = await readLinkOrUndefined(dataLink)
  const oldVersionDir = oldVersionName === undefined ? undefined : join(targetDir, oldVersionName)
  const oldFiles = oldVersionDir === undefined ? [] : await listFiles(oldVersionDir)
  const newTopLevel = new Set([...payload.keys()].map(topLevelName))
  const namesToRemove = [...new Set(oldFiles.map(topLevelName))].filter((name) => !newTopLevel.has(name))

  const mustWrite = oldVersionDir === undefined || !(await versionHolds(oldVersionDir, oldFiles, payload))
  if (mustWrite) {
    const versionDir = await writeVersion(targetDir, payload)
    const tmpLink = join(targetDir, DATA_DIR_TMP_NAME)
    // A crash between symlink and rename can leave a stale temporary link behind.
    await rm(tmpLink, { force: true })
    await symlink(versionDir.slice(targetDir.length + 1), tmpLink)
    await rename(tmpLink, dataLink)
  }
  let changed = mustWrite
  for (const name of newTopLevel) {
    if (await exists(join(targetDir, name))) continue
    await symlink(join(DATA_DIR_NAME, name), join(targetDir, name))
    changed = true
  }
  for (const name of namesToRemove) await rm(join(targetDir, name), { recursive: true, force: true })
  if (mustWrite && oldVersionDir !== undefined) await rm(oldVersionDir, { recursive: true, force: true })
  return changed || namesToRemove.length > 0
}

/** The version directory `..data` currently points at, or undefined before the first write. */
export async function currentVersionDir(targetDir: string): Promise<string | undefined> {
  const name = await readLinkOrUndefined(join(targetDir, DATA_DIR_NAME))
  return name === undefined ? undefined : join(targetDir, name)
}

/** The kubelet's `validatePath`: relative, bounded, no `..` element, not starting with `..`. */
function validatePayloadPath(path: string): void {
  if (path === '') throw new VolumeSetupError('invalid path: must not be empty')
  if (path.length > PATH_LENGTH_MAX) throw new VolumeSetupError(`invalid path: must be less than or equal to ${PATH_LENGTH_MAX} characters`)
  if (isAbsolute(path)) throw new VolumeSetupError(`invalid path: must be relative path: ${path}`)
  if (path.split('/').includes('..')) throw new VolumeSetupError(`invalid path: must not contain '..': ${path}`)
  if (path.startsWith('..')) throw new VolumeSetupError(`invalid path: must not start with '..': ${path}`)
}

function topLevelName(path: string): string {
  return path.split('/')[0] ?? path
}

/** Writes the payload into a fresh `..<timestamp>.<random>` directory; returns its path. */
async function writeVersion(targetDir: string, payload: Payload): Promise<string> {
  const versionDir = await mkdtemp(join(targetDir, `..${versionTimestamp(new Date())}.`))
  // mkdtemp creates the directory 0700; containers running as another user must read it.
  await chmod(versionDir, DIRECTORY_MODE)
  for (const [path, file] of payload) {
    const filePath = join(versionDir, path)
    await makeDirectories(versionDir, dirname(filePath))
    await writeFile(filePath, file.data)
    // The mode is set after writing: creating with it would be masked by the umask.
    await chmod(filePath, file.mode)
  }
  return versionDir
}

/** `2026_11_23_10_00_00`: the kubelet's `..2006_01_02_15_04_05.` prefix, for humans only. */
function versionTimestamp(date: Date): string {
  const pad = (value: number): string => String(value).padStart(2, '0')
  return `${date.getUTCFullYear()}_${pad(date.getUTCMonth() + 1)}_${pad(date.getUTCDate())}_${pad(date.getUTCHours())}_${pad(date.getUTCMinutes())}_${pad(date.getUTCSeconds())}`
}

/** Creates `directory` and its missing parents below `base`, each 0755 regardless of the umask. */
async function makeDirectories(base: string, directory: string): Promise<void> {
  if (directory === base || (await exists(directory))) return
  await makeDirectories(base, dirname(directory))
  await mkdir(directory)
  await chmod(directory, DIRECTORY_MODE)
}

/** True when the version directory holds exactly the payload: same files, bytes and modes. */
async function versionHolds(versionDir: string, files: readonly string[], payload: Payload): Promise<boolean> {
  if (files.length !== payload.size) return false
  for (const [path, file] of payload) {
    const filePath = join(versionDir, path)
    let mode: number
    let data: Buffer
    try {
      mode = (await stat(filePath)).mode & 0o7777
      data = await readFile(filePath)
    } catch (error) {
      if (isMissing(error)) return false
      throw error
    }
    if (mode !== file.mode || !data.equals(file.data)) return false
  }
  return true
}

/** Relative paths of the regular files below `directory` (with `/` separators). */
async function listFiles(directory: string): Promise<string[]> {
  const files: string[] = []
  let entries
  try {
    entries = await readdir(directory, { recursive: true, withFileTypes: true })
  } catch (error) {
    if (isMissing(error)) return files
    throw error
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue
    const relative = join(entry.parentPath, entry.name).slice(directory.length + 1)
    files.push(relative.split(sep).join('/'))
  }
  return files
}

async function readLinkOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readlink(path)
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (error) {
    if (isMissing(error)) return false
    throw error
  }
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')
}
