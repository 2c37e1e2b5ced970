/**
 * Base classes for operational failures (I/O, bad input at boundaries). Domain outcomes are return
 * values, and broken invariants are assertions; see the style guide in README.md.
 */

/** A failure the caller can handle: test it by `name`, keep the `cause`. */
export class FlotillaError extends Error {
  override name = 'FlotillaError'
}

/** Persistent data failed an integrity check (checksum, framing, missing record). */
export class CorruptDataError extends FlotillaError {
  override name = 'CorruptDataError'
}

/** A configuration value is out of range or inconsistent. */
export class InvalidConfigError extends FlotillaError {
  override name = 'InvalidConfigError'
}

/** An operation did not finish before its deadline. */
export class TimeoutError extends FlotillaError {
  override name = 'TimeoutError'
}

/** The request needs a leader and this node is not one (or does not know one). */
export class NotLeaderError extends FlotillaError {
  override name = 'NotLeaderError'
  readonly leaderId: string | undefined

  constructor(message: string, leaderId: string | undefined) {
    super(message)
    this.leaderId = leaderId
  }
}
