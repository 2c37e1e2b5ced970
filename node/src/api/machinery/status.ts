/**
 * Kubernetes `Status` objects, the body of every failed API request, and ApiError, the error that
 * carries one through our code until the HTTP layer writes it.
 *
 * Clients act on `code` and `reason` (kubectl apply treats NotFound on GET as "create", client-go
 * retries Conflict, informers re-list on Expired), and users read `message`, so the constructors
 * below reproduce k8s.io/apimachinery's `api/errors` word for word:
 *
 *   {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
 *    "message":"deployments.apps \"web\" not found","reason":"NotFound",
 *    "details":{"name":"web","group":"apps","kind":"deployments"},"code":404}
 *
 * `details.kind` is the plural resource for resource errors (NotFound, AlreadyExists, Conflict,
 * Forbidden) but the Kind for Invalid, and `group` is omitted for the core group, as on a real
 * server.
 */
import { FlotillaError, NotLeaderError, TimeoutError } from '../../../../lib/errors.ts'
import { aggregateMessage, fieldErrorBody, formatFieldError, goQuote, type FieldError } from './field-errors.ts'

/** The reasons Flotilla produces (metav1.StatusReason values). */
export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'Gone'
  | 'Expired'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'

/** One reason behind a failure; for Invalid, one field error. On the wire the type is `reason`. */
export interface StatusCause {
  readonly reason?: string
  readonly message?: string
  readonly field?: string
}

/** What the failure is about. Empty members are left out, as Go's `omitempty` does. */
export interface StatusDetails {
  readonly name?: string
  readonly group?: string
  /** The plural resource (`deployments`) for resource errors; the Kind for Invalid. */
  readonly kind?: string
  readonly uid?: string
  readonly causes?: readonly StatusCause[]
  readonly retryAfterSeconds?: number
}

/** A metav1.Status object, ready for JSON.stringify. */
export interface Status {
  readonly kind: 'Status'
  readonly apiVersion: 'v1'
  readonly metadata: Record<string, never>
  readonly status: 'Success' | 'Failure'
  readonly message?: string
  readonly reason?: StatusReason
  readonly details?: StatusDetails
  readonly code: number
}

/** A resource type: `{ group: 'apps', resource: 'deployments' }`; the core group is `''`. */
export interface GroupResource {
  readonly group: string
  readonly resource: string
}

/** A kind: `{ group: 'apps', kind: 'Deployment' }`; the core group is `''`. */
export interface GroupKind {
  readonly group: string
  readonly kind: string
}

/** The conflict detail of an update based on a stale resourceVersion (optimistic locking). */
export const OBJECT_MODIFIED_MESSAGE = 'the object has been modified; please apply your changes to the latest version and try again'

/**
 * A failed API request: an HTTP status code, a Kubernetes reason and optional details. Thrown by
 * API code and turned into a Status response by the HTTP layer (see `toStatus`).
 */
export class ApiError extends FlotillaError {
  override name = 'ApiError'
  readonly code: number
  readonly reason: StatusReason
  readonly details: StatusDetails | undefined

  constructor(status: { code: number; reason: StatusReason; message: string; details?: StatusDetails }, options?: ErrorOptions) {
    super(status.message, options)
    this.code = status.code
    this.reason = status.reason
    this.details = status.details
  }

  /** The Status object for the response body. */
  toStatus(): Status {
    const details = compactDetails(this.details)
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(details === undefined ? {} : { details }),
      code: this.code,
    }
  }
}

/** `deployments.apps` for a grouped resource, `pods` for the core group. */
export function groupResourceString({ group, resource }: GroupResource): string {
  return group === '' ? resource : `${resource}.${group}`
}

/** `Deployment.apps` for a grouped kind, `Pod` for the core group. */
export function groupKindString({ group, kind }: GroupKind): string {
  return group === '' ? kind : `${kind}.${group}`
}

/** 404: `deployments.apps "web" not found`. */
export function notFound(resource: GroupResource, name: string): ApiError {
  return new ApiError({
    code: 404,
    reason: 'NotFound',
    message: `${groupResourceString(resource)} ${goQuote(name)} not found`,
    details: { name, group: resource.group, kind: resource.resource },
  })
}

/** 404 for a path that names no resource at all (unknown group, version or resource). */
export function pathNotFound(): ApiError {
  return new ApiError({ code: 404, reason: 'NotFound', message: 'the server could not find the requested resource', details: {} })
}

/** 409 on create: `namespaces "team-a" already exists`. */
export function alreadyExists(resource: GroupResource, name: string): ApiError {
  return new ApiError({
    code: 409,
    reason: 'AlreadyExists',
    message: `${groupResourceString(resource)} ${goQuote(name)} already exists`,
    details: { name, group: resource.group, kind: resource.resource },
  })
}

/**
 * 409 on update: `Operation cannot be fulfilled on configmaps "x": <detail>`. The default detail
 * is the stale-resourceVersion text that client-go's RetryOnConflict users expect.
 */
export function conflict(resource: GroupResource, name: string, detail: string = OBJECT_MODIFIED_MESSAGE): ApiError {
  return new ApiError({
    code: 409,
    reason: 'Conflict',
    message: `Operation cannot be fulfilled on ${groupResourceString(resource)} ${goQuote(name)}: ${detail}`,
    details: { name, group: resource.group, kind: resource.resource },
  })
}

/**
 * 422: the object failed validation. The message is
 * `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be …` (several
 * errors in brackets, comma-separated), and every field error becomes a cause, which kubectl
 * prints one per line.
 */
export function invalid(kind: GroupKind, name: string, errors: readonly FieldError[]): ApiError {
  const subject = `${groupKindString(kind)} ${goQuote(name)} is invalid`
  return new ApiError({
    code: 422,
    reason: 'Invalid',
    message: errors.length === 0 ? subject : `${subject}: ${aggregateMessage(errors.map(formatFieldError))}`,
    details: {
      name,
      group: kind.group,
      kind: kind.kind,
      causes: errors.map((error) => ({ reason: error.type, message: fieldErrorBody(error), field: error.field })),
    },
  })
}

/** 400: the request itself is malformed (bad selector, bad patch, bad query parameter). */
export function badRequest(message: string): ApiError {
  return new ApiError({ code: 400, reason: 'BadRequest', message })
}

/** 401: no or wrong credentials. */
export function unauthorized(message = 'Unauthorized'): ApiError {
  return new ApiError({ code: 401, reason: 'Unauthorized', message })
}

/**
 * 403: `pods "x" is forbidden: <reason>`, or `pods is forbidden: <reason>` for collection
 * requests (empty name).
 */
export function forbidden(resource: GroupResource, name: string, reason: string): ApiError {
  const subject = name === '' ? groupResourceString(resource) : `${groupResourceString(resource)} ${goQuote(name)}`
  return new ApiError({
    code: 403,
    reason: 'Forbidden',
    message: `${subject} is forbidden: ${reason}`,
    details: { name, group: resource.group, kind: resource.resource },
  })
}

/** 405: `delete is not supported on resources of kind "namespaces"`. */
export function methodNotAllowed(resource: GroupResource, action: string): ApiError {
  return new ApiError({
    code: 405,
    reason: 'MethodNotAllowed',
    message: `${action} is not supported on resources of kind ${goQuote(groupResourceString(resource))}`,
    details: { group: resource.group, kind: resource.resource },
  })
}

/** 406: none of the media types in Accept can be produced. */
export function notAcceptable(acceptedTypes: readonly string[]): ApiError {
  return new ApiError({ code: 406, reason: 'NotAcceptable', message: `only the following media types are accepted: ${acceptedTypes.join(', ')}` })
}

/** 415: the request body's Content-Type is not understood (e.g. an unknown patch type). */
export function unsupportedMediaType(acceptedTypes: readonly string[]): ApiError {
  return new ApiError({
    code: 415,
    reason: 'UnsupportedMediaType',
    message: `the body of the request was in an unknown format - accepted media types include: ${acceptedTypes.join(', ')}`,
  })
}

/** 413: `Request entity too large: <message>`. */
export function requestEntityTooLarge(message: string): ApiError {
  return new ApiError({ code: 413, reason: 'RequestEntityTooLarge', message: `Request entity too large: ${message}` })
}

/** 410 Gone: the resource existed but no longer does. */
export function gone(message: string): ApiError {
  return new ApiError({ code: 410, reason: 'Gone', message })
}

/** 410 Expired: a resourceVersion or continue token is too old to serve. */
export function expired(message: string): ApiError {
  return new ApiError({ code: 410, reason: 'Expired', message })
}

/**
 * 410 Expired for a watch or list from a compacted revision: `too old resource version: 5 (120)`.
 * client-go informers re-list when they see it.
 */
export function resourceVersionTooOld(requested: string | number | bigint, oldest: string | number | bigint): ApiError {
  return expired(`too old resource version: ${requested} (${oldest})`)
}

/** 429: shed load; the client should retry after the given delay. */
export function tooManyRequests(message: string, retryAfterSeconds: number): ApiError {
  return new ApiError({ code: 429, reason: 'TooManyRequests', message: `Too many requests: ${message}`, details: { retryAfterSeconds } })
}

/** 500: `Internal error occurred: <message>`, with the message also as the single cause. */
export function internalError(message: string): ApiError {
  return new ApiError({ code: 500, reason: 'InternalError', message: `Internal error occurred: ${message}`, details: { causes: [{ message }] } })
}

/** 503: the server cannot serve now (no leader, shutting down); retrying later may succeed. */
export function serviceUnavailable(message: string): ApiError {
  return new ApiError({ code: 503, reason: 'ServiceUnavailable', message })
}

/** 504: `Timeout: <message>`; the operation may still complete. */
export function timeout(message: string, retryAfterSeconds = 0): ApiError {
  return new ApiError({ code: 504, reason: 'Timeout', message: `Timeout: ${message}`, details: retryAfterSeconds > 0 ? { retryAfterSeconds } : {} })
}

/** The Status of a successful DELETE that returns no object: `{"status":"Success","details":{…}}`. */
export function successStatus(details: StatusDetails): Status {
  const compact = compactDetails(details)
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', ...(compact === undefined ? {} : { details: compact }), code: 200 }
}

/** The message of an unexpected failure; the real error goes to the server log, never to clients. */
export const UNEXPECTED_ERROR_MESSAGE = 'an unexpected error occurred; see the server log'

/**
 * The Status for anything thrown while serving a request. ApiErrors carry their own; a few of our
 * operational errors map to their HTTP meaning (no leader: 503, deadline: 504); any other
 * FlotillaError is a 500 with its message, which is written for operators and holds no internals;
 * anything else (a TypeError, a thrown string) is a 500 with a fixed message, so that stack traces
 * and internal details never reach clients.
 */
export function toStatus(error: unknown): Status {
  return toApiError(error).toStatus()
}

/** `toStatus`, stopping at the ApiError (for callers that also want the code for the HTTP status). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  if (error instanceof NotLeaderError) return serviceUnavailable(error.message)
  if (error instanceof TimeoutError) return timeout(error.message)
  if (error instanceof FlotillaError) return internalError(error.message)
  return internalError(UNEXPECTED_ERROR_MESSAGE)
}

/** Drops empty members so the JSON matches Go's `omitempty` output. */
function compactDetails(details: StatusDetails | undefined): StatusDetails | undefined {
  if (details === undefined) return undefined
  const compact: { -readonly [K in keyof StatusDetails]: StatusDetails[K] } = {}
  if (details.name) compact.name = details.name
  if (details.group) compact.group = details.group
  if (details.kind) compact.kind = details.kind
  if (details.uid) compact.uid = details.uid
  if (details.causes !== undefined && details.causes.length > 0) compact.causes = details.causes.map(compactCause)
  if (details.retryAfterSeconds) compact.retryAfterSeconds = details.retryAfterSeconds
  return compact
}

function compactCause(cause: StatusCause): StatusCause {
  const compact: { -readonly [K in keyof StatusCause]: StatusCause[K] } = {}
  if (cause.reason) compact.reason = cause.reason
  if (cause.message) compact.message = cause.message
  if (cause.field) compact.field = cause.field
  return compact
}
