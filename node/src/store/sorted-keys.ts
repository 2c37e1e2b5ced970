/**
 * The store's keys in order, for range reads. Order is JavaScript string order (UTF-16 code
 * units), which equals UTF-8 byte order (LevelDB's) for every key without characters above
 * U+FFFF; ranges are defined by this order, so they never depend on what the disk sorts.
 *
 * A sorted array with binary search: reads are fast and allocation-free, an insert or delete moves
 * the tail of the array (a memmove; about a millisecond per million keys). A B-tree would make
 * that logarithmic if key counts ever grow that large.
 */

export class SortedKeys {
  private keys: string[] = []

  get size(): number {
    return this.keys.length
  }

  /** Adds `key` (no-op when present). */
  insert(key: string): void {
    const position = this.lowerBound(key)
    if (this.keys[position] === key) return
    this.keys.splice(position, 0, key)
  }

  /** Removes `key` when present. */
  remove(key: string): void {
    const position = this.lowerBound(key)
    if (this.keys[position] === key) this.keys.splice(position, 1)
  }

  /** Replaces the contents with `keys` (any order, no duplicates). */
  reset(keys: Iterable<string>): void {
    this.keys = [...keys].sort(compareKeys)
  }

  /**
   * Keys from `start` (inclusive) in order while `inRange` holds, at most `limit` of them;
   * `more` tells whether keys in range were left out.
   */
  scan(start: string, inRange: (key: string) => boolean, limit: number): { keys: string[]; more: boolean } {
    const found: string[] = []
    for (let position = this.lowerBound(start); position < this.keys.length; position++) {
      const key = this.keys[position]!
      if (!inRange(key)) break
      if (found.length === limit) return { keys: found, more: true }
      found.push(key)
    }
    return { keys: found, more: false }
  }

  /** The first position whose key is >= `key`. */
  private lowerBound(key: string): number {
    let low = 0
    let high = this.keys.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (this.keys[middle]! < key) low = middle + 1
      else high = middle
    }
    return low
  }
}

/** The store's key order (see the module comment). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
