/**
 * Named errors of the revisioned store. Domain outcomes of writes (a failed compare-and-swap, a
 * compaction that is already done) are result values, not errors (see commands.ts); these are the
 * failures a caller handles by name: bad input at the boundary and watches that had to end.
 */
import { FlotillaError } from '../../../lib/errors.ts'

/** A command that does not encode or decode to a valid store command. */
export class InvalidCommandError extends FlotillaError {
  override name = 'InvalidCommandError'
}

/** A read or watch request with arguments out of range or inconsistent. */
export class InvalidRequestError extends FlotillaError {
  override name = 'InvalidRequestError'
}

/**
 * A watch asked for (or fell behind to) a revision whose events this node no longer holds: they
 * were compacted, pushed out of the bounded in-memory history, or lost with a restart or a
 * snapshot install. The remedy is the same as etcd's: read the current state (a range, which
 * carries its revision) and watch again from that revision + 1.
 */
export class CompactedError extends FlotillaError {
  override name = 'CompactedError'
  /** The revision the watch needed. */
  readonly requestedRevision: number
  /** Events at or below this revision are gone; a watch may start at compactedRevision + 1. */
  readonly compactedRevision: number

  constructor(message: string, requestedRevision: number, compactedRevision: number) {
    super(message)
    this.requestedRevision = requestedRevision
    this.compactedRevision = compactedRevision
  }
}

/** A watcher that did not keep up: an event it had yet to deliver left the bounded history, so it was canceled. */
export class WatchOverflowError extends FlotillaError {
  override name = 'WatchOverflowError'
  /** The first revision the watcher did not deliver; re-read the state, then watch again. */
  readonly nextRevision: number

  constructor(message: string, nextRevision: number) {
    super(message)
    this.nextRevision = nextRevision
  }
}

/** A watcher's `onEvent` threw or its promise rejected; the watcher was canceled. */
export class WatchCallbackError extends FlotillaError {
  override name = 'WatchCallbackError'
}

/** The store already serves `watchersMax` watchers. */
export class TooManyWatchersError extends FlotillaError {
  override name = 'TooManyWatchersError'
}
