// Goal: the atomic writer never lets a reader see a half-written or mixed set of files: while
// versions are rewritten back to back, every read through a user-visible name returns one whole
// file, and every read of the set through `..data` returns files of one version. Method: a writer
// rewriting a multi-file payload while readers run concurrently on the same directory (the file
// system calls run on libuv's thread pool, so they interleave for real), then checks of the
// layout the writer leaves.
import t from 'tap'
import { lstat, readdir, readFile, readlink, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { currentVersionDir, DATA_DIR_NAME, writePayloadAtomically, type FileProjection } from '../../node/src/agent/volumes/atomic-writer.ts'

/** Big enough that a non-atomic rewrite would be caught half-way by a concurrent read. */
const FILE_BYTES = 64 * 1024
const KEYS = ['alpha', 'beta', 'nested/gamma']
const VERSIONS = 30

/** Every byte of a version's files is its last digit. */
function contentsOf(version: number): Buffer {
  return Buffer.alloc(FILE_BYTES, `${version % 10}`)
}

function payloadOf(version: number): Map<string, FileProjection> {
  return new Map(KEYS.map((key) => [key, { data: contentsOf(version), mode: 0o644 }]))
}

/** The version a file's contents belong to; throws on a torn file. */
function versionOf(data: Buffer): number {
  if (data.length !== FILE_BYTES) throw new Error(`torn file: ${data.length} bytes`)
  const version = (data[0] as number) - '0'.charCodeAt(0)
  if (!data.equals(contentsOf(version))) throw new Error('torn file: mixed contents')
  return version
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT'
}

t.test('writePayloadAtomically: concurrent readers see whole files and consistent sets', async (t) => {
  const dir = t.testdir({})
  await writePayloadAtomically(dir, payloadOf(0))
  let writing = true
  const stats = { fileReads: 0, setReads: 0, setsRetired: 0 }

  async function readThroughNames(): Promise<void> {
    while (writing) {
      for (const key of KEYS) {
        // A user-visible name must always resolve: ENOENT here would be a failure.
        versionOf(await readFile(join(dir, key)))
        stats.fileReads++
      }
    }
  }

  async function readWholeSets(): Promise<void> {
    while (writing) {
      const version = await readlink(join(dir, DATA_DIR_NAME))
      try {
        const versions = new Set<number>()
        for (const key of KEYS) versions.add(versionOf(await readFile(join(dir, version, key))))
        if (versions.size !== 1) throw new Error(`mixed set in ${version}: ${[...versions].join(',')}`)
        stats.setReads++
      } catch (error) {
        // The writer removed this version after publishing the next: retry with the new one.
        if (!isMissing(error)) throw error
        stats.setsRetired++
      }
    }
  }

  async function writeVersions(): Promise<void> {
    try {
      for (let version = 1; version <= VERSIONS; version++) t.equal(await writePayloadAtomically(dir, payloadOf(version)), true, `version ${version} written`)
    } finally {
      writing = false
    }
  }

  await Promise.all([writeVersions(), readThroughNames(), readThroughNames(), readWholeSets()])
  t.ok(stats.fileReads > 0 && stats.setReads > 0, `readers ran alongside the writer (${JSON.stringify(stats)})`)
  for (const key of KEYS) t.equal(versionOf(await readFile(join(dir, key))), VERSIONS % 10, `${key} holds the last version`)
})

t.test('writePayloadAtomically: layout, idempotence and removal of stale names', async (t) => {
  const dir = join(t.testdir({}), 'volume')
  const files = (entries: Record<string, string>, mode = 0o644): Map<string, FileProjection> => new Map(Object.entries(entries).map(([path, text]) => [path, { data: Buffer.from(text), mode }]))

  t.equal(await currentVersionDir(dir), undefined, 'no version before the first write')
  t.equal(await writePayloadAtomically(dir, files({ a: '1', 'sub/b': '2' })), true, 'the directory is created on first write')
  const first = await currentVersionDir(dir)
  t.ok(first !== undefined && (await lstat(first)).isDirectory())
  t.equal((await lstat(first as string)).mode & 0o777, 0o755, 'version directories are readable by any container user')
  t.ok((await lstat(join(dir, '..data'))).isSymbolicLink())
  t.same((await readdir(dir)).filter((name) => !name.startsWith('..')).sort(), ['a', 'sub'])
  t.equal(await readlink(join(dir, 'sub')), join('..data', 'sub'), 'nested paths are visible through their top-level name')

  t.equal(await writePayloadAtomically(dir, files({ a: '1', 'sub/b': '2' })), false, 'the same payload changes nothing')
  t.equal(await currentVersionDir(dir), first)

  t.equal(await writePayloadAtomically(dir, files({ a: '1' })), true, 'dropping a nested file is a change')
  t.same((await readdir(dir)).filter((name) => !name.startsWith('..')), ['a'], 'the stale top-level name is gone')
  t.equal(await writePayloadAtomically(dir, files({ a: '1' }, 0o600)), true, 'a mode change is a change')
  t.equal((await lstat(join(dir, '..data', 'a'))).mode & 0o777, 0o600)
  t.equal(await writePayloadAtomically(dir, new Map()), true, 'an empty payload empties the volume')
  t.same((await readdir(dir)).filter((name) => !name.startsWith('..')), [])
  t.equal((await readdir(dir)).filter((name) => name.startsWith('..') && name !== '..data').length, 1, 'old versions are removed')
})

t.test('writePayloadAtomically: a stale ..data_tmp from a crash is replaced; files next to the payload stay', async (t) => {
  const dir = t.testdir({})
  await mkdir(join(dir, 'made-by-subpath'))
  await writeFile(join(dir, '..data_tmp'), 'left by a crash')
  await writePayloadAtomically(dir, new Map([['k', { data: Buffer.from('v'), mode: 0o644 }]]))
  t.equal(await readFile(join(dir, 'k'), 'utf8'), 'v')
  t.notOk((await readdir(dir)).includes('..data_tmp'))
  t.ok((await lstat(join(dir, 'made-by-subpath'))).isDirectory(), 'only names of earlier payloads are ever removed')
})

t.test('writePayloadAtomically: refuses paths that could leave the volume or hide in it', async (t) => {
  const dir = t.testdir({})
  const file = { data: Buffer.from('x'), mode: 0o644 }
  for (const [path, message] of [
    ['/etc/passwd', /must be relative path/],
    ['a/../../b', /must not contain '\.\.'/],
    ['..hidden', /must not start with '\.\.'/],
    ['', /must not be empty/],
  ] as const) {
    await t.rejects(writePayloadAtomically(dir, new Map([[path, file]])), { name: 'VolumeSetupError', message }, JSON.stringify(path))
  }
  t.same(await readdir(dir), [], 'nothing was written')
})
