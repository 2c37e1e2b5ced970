/**
 * A minimal ustar (POSIX tar) writer: regular files, directories and symbolic links, which is all
 * a Docker build context for the local images needs. Whole archive in memory (a few MiB).
 */
import { assert } from '../../../lib/assert.ts'

export type TarEntry =
  | { readonly kind: 'file'; readonly path: string; readonly content: Buffer; readonly mode?: number }
  | { readonly kind: 'directory'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }

const BLOCK_BYTES = 512
const NAME_BYTES = 100
const PREFIX_BYTES = 155
/** Fixed modification time, so identical contexts are identical bytes (Docker's cache keys). */
const MTIME_SECONDS = 0

function writeText(header: Buffer, text: string, offset: number, length: number): void {
  const bytes = Buffer.from(text, 'utf8')
  assert(bytes.length <= length, `tar header field "${text}" exceeds ${length} bytes`)
  bytes.copy(header, offset)
}

/** Octal, zero-padded, NUL-terminated: the numeric field format of ustar. */
function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  writeText(header, `${value.toString(8).padStart(length - 1, '0')}\0`, offset, length)
}

/** Splits a path into ustar's prefix and name fields (names over 100 bytes use the prefix). */
function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= NAME_BYTES) return { name: path, prefix: '' }
  const slash = path.lastIndexOf('/', path.length - 1)
  const name = path.slice(slash + 1)
  const prefix = path.slice(0, slash)
  assert(slash > 0 && Buffer.byteLength(name) <= NAME_BYTES && Buffer.byteLength(prefix) <= PREFIX_BYTES, `tar path too long: ${path}`)
  return { name, prefix }
}

function headerFor(entry: TarEntry, size: number): Buffer {
  const header = Buffer.alloc(BLOCK_BYTES)
  const path = entry.kind === 'directory' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path
  const { name, prefix } = splitPath(path)
  const defaultMode = entry.kind === 'file' ? 0o644 : entry.kind === 'directory' ? 0o755 : 0o777
  writeText(header, name, 0, NAME_BYTES)
  writeOctal(header, entry.kind === 'symlink' ? 0o777 : (entry.mode ?? defaultMode), 100, 8)
  writeOctal(header, 0, 108, 8) // uid
  writeOctal(header, 0, 116, 8) // gid
  writeOctal(header, size, 124, 12)
  writeOctal(header, MTIME_SECONDS, 136, 12)
  header.fill(0x20, 148, 156) // checksum is computed with its own field as spaces
  writeText(header, entry.kind === 'file' ? '0' : entry.kind === 'directory' ? '5' : '2', 156, 1)
  if (entry.kind === 'symlink') writeText(header, entry.target, 157, NAME_BYTES)
  writeText(header, 'ustar\0', 257, 6)
  writeText(header, '00', 263, 2)
  writeText(header, 'root', 265, 32)
  writeText(header, 'root', 297, 32)
  writeText(header, prefix, 345, PREFIX_BYTES)
  let checksum = 0
  for (const byte of header) checksum += byte
  writeText(header, `${checksum.toString(8).padStart(6, '0')}\0 `, 148, 8)
  return header
}

/** The archive: one header per entry, file contents padded to 512 bytes, two zero blocks. */
export function ustarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = []
  for (const entry of entries) {
    const content = entry.kind === 'file' ? entry.content : Buffer.alloc(0)
    parts.push(headerFor(entry, content.length))
    if (content.length > 0) {
      parts.push(content)
      const padding = (BLOCK_BYTES - (content.length % BLOCK_BYTES)) % BLOCK_BYTES
      if (padding > 0) parts.push(Buffer.alloc(padding))
    }
  }
  parts.push(Buffer.alloc(BLOCK_BYTES * 2))
  return Buffer.concat(parts)
}
