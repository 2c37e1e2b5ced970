/**
 * The contract every refused request must meet, as one pure check: a 4xx (never a 5xx, never a
 * hang, never a success), answered in full, with a body that is a Kubernetes `Status` clients can
 * act on (kubectl prints `message`, client-go branches on `reason` and `code`).
 */
import { describeOutcome, type RawOutcome } from './raw-http.ts'

/** Options for `refusalProblems`. */
export interface RefusalExpectation {
  /** The exact status Kubernetes answers, when it is unambiguous; otherwise any 4xx passes. */
  readonly code?: number
}

/**
 * What is wrong with `outcome` as the answer to a request the server must refuse; empty when it
 * is a proper refusal. Each problem is a short sentence; the outcome itself is appended once.
 */
export function refusalProblems(outcome: RawOutcome, expectation: RefusalExpectation = {}): string[] {
  if (outcome.kind === 'no-response') return [`expected a 4xx Status, got ${describeOutcome(outcome)}`]
  const problems: string[] = []
  if (outcome.status < 400 || outcome.status > 499) problems.push(`expected a 4xx status, got ${outcome.status}`)
  else if (expectation.code !== undefined && outcome.status !== expectation.code) problems.push(`expected ${expectation.code}, got ${outcome.status}`)
  if (!outcome.complete) problems.push('the response body did not end before the deadline')
  problems.push(...statusBodyProblems(outcome.body.toString('utf8'), outcome.status))
  if (problems.length > 0) problems.push(`response: ${describeOutcome(outcome)}`)
  return problems
}

/** What keeps `text` from being a failure Status whose `code` is `httpStatus`. */
export function statusBodyProblems(text: string, httpStatus: number): string[] {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return ['the body is not JSON']
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['the body is not a JSON object']
  const status = body as Record<string, unknown>
  const problems: string[] = []
  if (status['kind'] !== 'Status') problems.push(`kind is ${JSON.stringify(status['kind'])}, not "Status"`)
  if (status['apiVersion'] !== 'v1') problems.push(`apiVersion is ${JSON.stringify(status['apiVersion'])}, not "v1"`)
  if (status['status'] !== 'Failure') problems.push(`status is ${JSON.stringify(status['status'])}, not "Failure"`)
  if (status['code'] !== httpStatus) problems.push(`code ${JSON.stringify(status['code'])} differs from the HTTP status ${httpStatus}`)
  if (typeof status['message'] !== 'string' || status['message'] === '') problems.push('message is missing or empty')
  if (typeof status['reason'] !== 'string' || status['reason'] === '') problems.push('reason is missing or empty')
  return problems
}
