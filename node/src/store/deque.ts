/**
 * A FIFO with O(1) amortized push and shift and O(1) access by position from the front: the watch
 * history (read by position while watchers replay it) and the per-watcher event queues.
 */

/** Shifted-out slots are reclaimed in one copy once they are at least this many and half the array. */
const RECLAIM_SLOTS_MIN = 1024

export class Deque<T> {
  private items: Array<T | undefined> = []
  private head = 0

  /** Number of items held. */
  get length(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  /** Removes and returns the front item, or undefined when empty. */
  shift(): T | undefined {
    if (this.head === this.items.length) return undefined
    const item = this.items[this.head]
    // Clear the slot so the deque does not keep a shifted item (and its bytes) alive.
    this.items[this.head] = undefined
    this.head++
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head >= RECLAIM_SLOTS_MIN && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** The item `position` places from the front (0 is the front), or undefined out of range. */
  at(position: number): T | undefined {
    if (position < 0 || position >= this.length) return undefined
    return this.items[this.head + position]
  }

  /** The front item, or undefined when empty. */
  peek(): T | undefined {
    return this.at(0)
  }

  clear(): void {
    this.items = []
    this.head = 0
  }
}
