/**
 * A hollow container's file system: a flat map of absolute paths to text, plus the directories
 * made so far. Enough for `echo x > /tmp/f`, `cat`, `touch`/`rm` of a probe's marker file, and
 * the files a hollow httpd serves. Each container has its own (no volumes in the hollow runtime).
 */

/** Bytes kept per file; writes beyond are cut (a simulation never needs large files). */
const FILE_BYTES_MAX = 1024 * 1024

export class VirtualFiles {
  private readonly files = new Map<string, string>()
  private readonly directories = new Set<string>(['/', '/bin', '/tmp', '/etc', '/proc', '/dev'])

  /** `path` made absolute against `cwd` and normalized (`.`/`..`, repeated slashes). */
  static resolve(path: string, cwd = '/'): string {
    const pieces: string[] = []
    for (const piece of (path.startsWith('/') ? path : `${cwd}/${path}`).split('/')) {
      if (piece === '' || piece === '.') continue
      if (piece === '..') pieces.pop()
      else pieces.push(piece)
    }
    return `/${pieces.join('/')}`
  }

  read(path: string): string | undefined {
    return this.files.get(path)
  }

  write(path: string, content: string, append: boolean): void {
    const previous = append ? (this.files.get(path) ?? '') : ''
    this.files.set(path, (previous + content).slice(0, FILE_BYTES_MAX))
  }

  remove(path: string): boolean {
    return this.files.delete(path) || this.directories.delete(path)
  }

  makeDirectory(path: string): void {
    this.directories.add(path)
  }

  isFile(path: string): boolean {
    return this.files.has(path)
  }

  isDirectory(path: string): boolean {
    return this.directories.has(path)
  }

  /** Whether the directory that would hold `path` exists (writing into a missing one fails). */
  parentExists(path: string): boolean {
    const parent = path.slice(0, path.lastIndexOf('/')) || '/'
    return this.directories.has(parent)
  }

  /** Names directly inside a directory, sorted. */
  list(directory: string): string[] {
    const prefix = directory === '/' ? '/' : `${directory}/`
    const names = new Set<string>()
    for (const path of [...this.files.keys(), ...this.directories]) {
      if (path.startsWith(prefix) && path !== directory) {
        const name = path.slice(prefix.length).split('/')[0]
        if (name !== undefined && name !== '') names.add(name)
      }
    }
    return [...names].sort()
  }
}
