/**
 * The failures the Kubernetes verbs report, and how each one reads on the terminal. kubectl's
 * wording is kept where users and scripts know it:
 *
 *   Error from server (NotFound): deployments.apps "web" not found       ServerError
 *   The Deployment "web" is invalid: spec.replicas: Invalid value: -1…   ServerError (422)
 *   Unable to connect to the server: https://10.0.0.1:6443: connection refused   ConnectionError
 *   error: the server doesn't have a resource type "widgets"            CommandError
 *   error: unknown flag: --colour                                       KubectlUsageError
 *
 * Every message is one line (an Invalid error with several causes lists them one per line, as
 * kubectl does), and the exit code is 1 for all of them; no stack trace ever reaches the user.
 */
import { FlotillaError } from '../../../lib/errors.ts'

/** A mistake in how a verb was called: an unknown flag, a missing argument, a bad value. */
export class KubectlUsageError extends FlotillaError {
  override name = 'KubectlUsageError'
}

/** A failure the user should read as `error: …`: unknown resource type, no kubeconfig, a bad file. */
export class CommandError extends FlotillaError {
  override name = 'CommandError'
}

/** The fields of a Kubernetes `Status` the client acts on. */
export interface StatusBody {
  readonly message?: string
  readonly reason?: string
  readonly code?: number
  readonly details?: {
    readonly name?: string
    readonly group?: string
    readonly kind?: string
    readonly causes?: ReadonlyArray<{ readonly reason?: string; readonly message?: string; readonly field?: string }>
  }
}

/** The API server answered with a failure: its Status (or a synthesized one for non-Status bodies). */
export class ServerError extends FlotillaError {
  override name = 'ServerError'
  readonly status: StatusBody
  /** The HTTP status code of the response. */
  readonly code: number

  constructor(code: number, status: StatusBody) {
    super(status.message ?? `the server answered ${code}`)
    this.code = code
    this.status = status
  }

  /** The Kubernetes reason (`NotFound`, `Conflict`, …), or undefined when the body carried none. */
  get reason(): string | undefined {
    return this.status.reason
  }
}

/** No server of the cluster could be reached (every endpoint refused, timed out or failed TLS). */
export class ConnectionError extends FlotillaError {
  override name = 'ConnectionError'
}

/** The wait for a condition (rollout, deletion) ran past its `--timeout`. */
export class WaitTimeoutError extends FlotillaError {
  override name = 'WaitTimeoutError'
}

/** The text printed for a failure, as kubectl prints it (no trailing newline). */
export function formatError(error: unknown): string {
  if (error instanceof ServerError) return formatServerError(error)
  if (error instanceof ConnectionError) return `Unable to connect to the server: ${error.message}`
  if (error instanceof Error) return `error: ${error.message}`
  return `error: ${String(error)}`
}

function formatServerError(error: ServerError): string {
  const { status } = error
  if (status.reason === 'Invalid') {
    // kubectl's own format for 422: "The <Kind> "<name>" is invalid: <field>: <message>".
    const details = status.details
    const subject = details?.kind !== undefined || details?.name !== undefined ? `The ${details.kind ?? ''} "${details.name ?? ''}" is invalid` : 'The request is invalid'
    const causes = (details?.causes ?? []).map((cause) => (cause.field !== undefined && cause.field !== '' ? `${cause.field}: ${cause.message ?? ''}` : (cause.message ?? '')))
    if (causes.length === 0) return subject
    if (causes.length === 1) return `${subject}: ${causes[0]}`
    return `${subject}: \n${causes.map((cause) => `* ${cause}`).join('\n')}`
  }
  const message = status.message ?? `the server answered ${error.code}`
  return status.reason === undefined || status.reason === '' ? `Error from server: ${message}` : `Error from server (${status.reason}): ${message}`
}
