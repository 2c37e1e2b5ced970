/**
 * Maps failures of the Docker engine API (as dockerode reports them) onto the runtime's named
 * errors, so callers never see HTTP status codes or socket errno values.
 */
import { NotFoundError, NotRunningError, RuntimeError, RuntimeUnavailableError } from '../runtime.ts'

/** Socket errors that mean the engine is not there (as opposed to a bad request). */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'])

/** The HTTP status of a dockerode error, when the engine answered. */
export function dockerStatusCode(error: unknown): number | undefined {
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode
  return typeof statusCode === 'number' ? statusCode : undefined
}

/** The engine's own message (`json.message`), else the error's message. */
export function dockerMessage(error: unknown): string {
  const json = (error as { json?: unknown } | null)?.json
  if (typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string') {
    return (json as { message: string }).message
  }
  if (Buffer.isBuffer(json)) return json.toString('utf8').trim()
  return error instanceof Error ? error.message : String(error)
}

function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && UNAVAILABLE_CODES.has(code) && dockerStatusCode(error) === undefined
}

/**
 * The runtime error for a failed engine call about `subject` (used for 404s). Errors that already
 * are runtime errors pass through.
 */
export function runtimeErrorFrom(error: unknown, action: string, subject?: { readonly what: 'sandbox' | 'container'; readonly id: string }): RuntimeError {
  if (error instanceof RuntimeError) return error
  if (isUnavailable(error)) {
    return new RuntimeUnavailableError(`Cannot ${action}: the Docker engine is unreachable (${dockerMessage(error)})`, { cause: error })
  }
  const statusCode = dockerStatusCode(error)
  if (statusCode === 404 && subject !== undefined) return new NotFoundError(subject.what, subject.id)
  const message = dockerMessage(error)
  if (statusCode === 409 && /is not running|is paused|is restarting/.test(message)) {
    return new NotRunningError(`Cannot ${action}: ${message}`, { cause: error })
  }
  return new RuntimeError(`Cannot ${action}: ${message}`, { cause: error })
}

/** Runs one engine call, translating its failure. */
export async function dockerCall<T>(action: string, call: () => Promise<T>, subject?: { readonly what: 'sandbox' | 'container'; readonly id: string }): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw runtimeErrorFrom(error, action, subject)
  }
}
