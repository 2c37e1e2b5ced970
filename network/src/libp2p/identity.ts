/**
 * A machine's libp2p identity: an Ed25519 private key kept in a file, in libp2p's protobuf
 * encoding. The libp2p peer id is derived from the public key, so reusing the file across
 * restarts keeps the peer id stable, which is what peers' address books and allow-lists refer to.
 *
 * The file is created at most once, atomically and readable by its owner only: the key is written
 * to a private temporary file, flushed, then hard-linked to its final name, which fails when the
 * name exists. A crash can leave a stray temporary file behind but never a half-written key, and
 * two processes racing to create the key end up using the same one.
 */
import { randomBytes } from 'node:crypto'
import { link, open, readFile, stat, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { FlotillaError } from '../../../lib/errors.ts'

/** The key file is unusable: readable by others, not a file, or not an Ed25519 libp2p key. */
export class PeerKeyError extends FlotillaError {
  override name = 'PeerKeyError'
}

/** Permission bits for group and others; the key file must have none of them. */
const GROUP_OTHER_BITS = 0o077
const KEY_FILE_MODE = 0o600
/** An Ed25519 key in protobuf form is 68 bytes; anything much larger is not a key file. */
const KEY_FILE_BYTES_MAX = 4096

/**
 * Returns the private key stored at `path`, creating it (Ed25519, file mode 0600) when the file
 * does not exist. Throws PeerKeyError when the file exists but is accessible to group or others,
 * is not a regular file, or does not hold an Ed25519 private key; the error says how to fix it.
 * Other I/O errors (missing directory, no permission) propagate as they are.
 */
export async function loadOrCreatePeerKey(path: string): Promise<PrivateKey> {
  const existing = await readPeerKey(path)
  if (existing !== undefined) return existing
  const key = await generateKeyPair('Ed25519')
  const temporaryPath = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await open(temporaryPath, 'wx', KEY_FILE_MODE)
  try {
    // The umask can only clear bits from the mode given to open; chmod makes it exactly 0600.
    await handle.chmod(KEY_FILE_MODE)
    await handle.writeFile(privateKeyToProtobuf(key))
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await link(temporaryPath, path)
  } catch (error) {
    // Another process created the key first: use theirs, so both agree on the peer id.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const winner = await readPeerKey(path)
    if (winner === undefined) throw error
    return winner
  } finally {
    await unlink(temporaryPath).catch(() => {})
  }
  await syncDirectory(dirname(path))
  return key
}

/** The key at `path`, or undefined when there is no file. Throws PeerKeyError for a bad file. */
async function readPeerKey(path: string): Promise<PrivateKey | undefined> {
  let info
  try {
    info = await stat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  if (!info.isFile()) throw new PeerKeyError(`peer key ${path} is not a regular file`)
  if ((info.mode & GROUP_OTHER_BITS) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0')
    throw new PeerKeyError(
      `peer key ${path} has mode ${mode}, so other users may read it; it must be 0600 ` +
        `(run: chmod 600 ${path}; and consider the key compromised if others did read it)`,
    )
  }
  if (info.size > KEY_FILE_BYTES_MAX) {
    throw new PeerKeyError(`peer key ${path} is ${info.size} bytes: not a libp2p private key`)
  }
  const bytes = await readFile(path)
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (error) {
    throw new PeerKeyError(`peer key ${path} is not a libp2p private key in protobuf form`, { cause: error })
  }
  if (key.type !== 'Ed25519') {
    throw new PeerKeyError(`peer key ${path} is a ${key.type} key; Flotilla uses Ed25519 keys only`)
  }
  return key
}

/** Makes the new directory entry durable, so a power cut cannot lose a key already in use. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
