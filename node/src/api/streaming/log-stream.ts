/**
 * `GET …/pods/{name}/log`: the query parameters (PodLogOptions) and the response, `text/plain`
 * with chunked transfer; with `follow=true` it stays open while the container writes.
 *
 * Parameters are read as kube-apiserver's query conversion reads them, so errors match: a
 * number that does not parse is a 400 with Go's strconv text, a boolean is false for `0`, `f`
 * and `false` (any case) and true for anything else, and values that parse but break the rules
 * (`tailLines=-1`, `limitBytes=0`, `sinceSeconds` with `sinceTime`) are a 422 Invalid
 * `PodLogOptions`, as ValidatePodLogOptions makes them.
 */
import type { ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { fieldForbidden, fieldInvalid, type FieldError } from '../machinery/field-errors.ts'
import { badRequest, invalid } from '../machinery/status.ts'
import type { PodLogOptions } from './pod-streams.ts'

/** The log request's parameters: the container (undefined: the API layer picks the default) and the options. */
export interface PodLogRequest {
  readonly container: string | undefined
  readonly options: PodLogOptions
}

/** A boolean query parameter as the apiserver converts it (absent: false). */
export function queryBoolean(url: URL, name: string): boolean {
  const value = url.searchParams.get(name)
  if (value === null) return false
  const lower = value.toLowerCase()
  return !(value === '0' || lower === 'f' || lower === 'false')
}

/**
 * An int64 query parameter, or undefined when absent.
 * @throws ApiError 400 with strconv.ParseInt's message when it does not parse.
 */
export function queryInteger(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name)
  if (value === null) return undefined
  if (!/^[+-]?\d{1,18}$/.test(value)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`)
  return Number(value)
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/** `sinceTime` (RFC 3339) in epoch milliseconds, undefined when absent or empty. */
function querySinceTime(url: URL): number | undefined {
  const value = url.searchParams.get('sinceTime')
  if (value === null || value === '' || value === 'null') return undefined
  const parsedMs = RFC3339.test(value) ? Date.parse(value) : Number.NaN
  if (Number.isNaN(parsedMs)) throw badRequest(`parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(value)} as an RFC 3339 time`)
  return parsedMs
}

/**
 * The log request of `url` for pod `name`.
 * @throws ApiError 400 for a parameter that does not parse, 422 for values the rules forbid.
 */
export function parseLogRequest(url: URL, name: string, nowMs: number): PodLogRequest {
  const tailLines = queryInteger(url, 'tailLines')
  const limitBytes = queryInteger(url, 'limitBytes')
  const sinceSeconds = queryInteger(url, 'sinceSeconds')
  const sinceTimeMs = querySinceTime(url)
  const errors: FieldError[] = []
  if (tailLines !== undefined && tailLines < 0) errors.push(fieldInvalid('tailLines', tailLines, 'must be greater than or equal to 0'))
  if (limitBytes !== undefined && limitBytes < 1) errors.push(fieldInvalid('limitBytes', limitBytes, 'must be greater than 0'))
  if (sinceSeconds !== undefined && sinceTimeMs !== undefined) errors.push(fieldForbidden('', 'at most one of `sinceTime` or `sinceSeconds` may be specified'))
  else if (sinceSeconds !== undefined && sinceSeconds < 1) errors.push(fieldInvalid('sinceSeconds', sinceSeconds, 'must be greater than 0'))
  if (errors.length > 0) throw invalid({ group: '', kind: 'PodLogOptions' }, name, errors)
  const sinceMs = sinceSeconds !== undefined ? nowMs - sinceSeconds * 1000 : sinceTimeMs
  const container = url.searchParams.get('container') ?? ''
  return {
    container: container === '' ? undefined : container,
    options: {
      follow: queryBoolean(url, 'follow'),
      previous: queryBoolean(url, 'previous'),
      timestamps: queryBoolean(url, 'timestamps'),
      ...(tailLines !== undefined ? { tailLines } : {}),
      ...(limitBytes !== undefined ? { limitBytes } : {}),
      ...(sinceMs !== undefined ? { sinceMs } : {}),
    },
  }
}

/**
 * Sends `logs` as the response body and resolves when it is done: the stream ended, `limitBytes`
 * were sent (the provider should stop there too; this is the API's guarantee), or the client went
 * away (the stream is then destroyed, which stops a follow).
 */
export function sendLogStream(response: ServerResponse, logs: Readable, limitBytes: number | undefined): Promise<void> {
  response.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' })
  // Clients wait for the headers before they show anything; with follow nothing else may come soon.
  response.flushHeaders()
  return new Promise<void>((resolve) => {
    let sentBytes = 0
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      logs.off('data', onData)
      logs.destroy()
      if (!response.writableEnded) response.end()
      resolve()
    }
    const onData = (chunk: Buffer | string): void => {
      let bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      if (limitBytes !== undefined && sentBytes + bytes.length >= limitBytes) {
        bytes = bytes.subarray(0, limitBytes - sentBytes)
        sentBytes += bytes.length
        response.write(bytes)
        return finish()
      }
      sentBytes += bytes.length
      if (!response.write(bytes)) {
        logs.pause()
        response.once('drain', () => logs.resume())
      }
    }
    logs.on('data', onData)
    logs.once('end', finish)
    // A failure after the headers went out can only end the body early.
    logs.once('error', finish)
    logs.once('close', finish)
    response.once('close', finish)
  })
}
