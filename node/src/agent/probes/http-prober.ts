/**
 * httpGet probes: `GET scheme://host:port/path` with the probe's headers; a status from 200 to
 * 399 is success, anything else failure (`HTTP probe failed with statuscode: 500`), and no
 * complete response within the timeout is failure. As the kubelet's prober:
 *
 * - `User-Agent: kube-probe/<version>` and `Accept: *\/*` unless the probe sets them; a `Host`
 *   header in `httpHeaders` overrides the host the request names;
 * - HTTPS does not verify the certificate (the kubelet sets InsecureSkipVerify: pods serve
 *   self-signed certificates and the probe checks liveness, not identity);
 * - at most 10 KiB of the body is read, as the success message.
 *
 * Redirects are not followed: a 3xx is success here. The kubelet follows same-host redirects and
 * judges the final response, so a redirect to a failing page passes here and fails there.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { dialErrorMessage, joinHostPort } from './prober-messages.ts'
import type { ProbeOutcome } from './probe-state.ts'

/** The kubelet's version as Flotilla reports it; kubelets send `kube-probe/<major>.<minor>`. */
const USER_AGENT = 'kube-probe/1.20'
const BODY_BYTES_MAX = 10 * 1024

export interface HttpProbeRequest {
  readonly scheme: 'HTTP' | 'HTTPS'
  readonly host: string
  readonly port: number
  /** Path and optional query, as in the probe (`/healthz?verbose=1`). */
  readonly path: string
  readonly headers: readonly { readonly name: string; readonly value: string }[]
  readonly timeoutMs: number
}

export function probeHttp(probe: HttpProbeRequest): Promise<ProbeOutcome> {
  const address = joinHostPort(probe.host, probe.port)
  const path = probe.path.startsWith('/') ? probe.path : `/${probe.path}`
  const url = `${probe.scheme.toLowerCase()}://${address}${path}`
  const request = probe.scheme === 'HTTPS' ? httpsRequest : httpRequest
  return new Promise((resolve) => {
    const req = request({
      host: probe.host,
      port: probe.port,
      path,
      method: 'GET',
      headers: headersOf(probe.headers),
      // A fresh connection per probe, as the kubelet disables keep-alive for probes.
      agent: false,
      rejectUnauthorized: false,
    })
    const timer = setTimeout(() => {
      finish({ result: 'failure', message: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` })
    }, probe.timeoutMs)
    let settled = false
    function finish(outcome: ProbeOutcome): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve(outcome)
    }
    req.on('error', (error) => {
      const network = 'code' in error && typeof error.code === 'string' && error.code.startsWith('E') && 'syscall' in error
      finish({ result: 'failure', message: `Get "${url}": ${network ? dialErrorMessage(address, error) : error.message}` })
    })
    req.once('response', (response) => {
      void readBody(response).then((body) => {
        const status = response.statusCode ?? 0
        if (status >= 200 && status < 400) finish({ result: 'success', message: body })
        else finish({ result: 'failure', message: `HTTP probe failed with statuscode: ${status}` })
      })
    })
    req.end()
  })
}

/** The request headers: the probe's (repeated names kept), defaults where it sets none. */
function headersOf(probeHeaders: HttpProbeRequest['headers']): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {}
  for (const { name, value } of probeHeaders) {
    const key = name.toLowerCase()
    const existing = headers[key]
    headers[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value]
  }
  headers['user-agent'] ??= USER_AGENT
  headers['accept'] ??= '*/*'
  // Node accepts one Host value only.
  const host = headers['host']
  if (Array.isArray(host)) headers['host'] = host[0] ?? ''
  return headers
}

/** Up to BODY_BYTES_MAX of the body as text; never rejects (a broken body does not change the status). */
function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let bytes = 0
    const done = (): void => resolve(Buffer.concat(chunks).subarray(0, BODY_BYTES_MAX).toString('utf8'))
    response.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      bytes += chunk.length
      if (bytes >= BODY_BYTES_MAX) {
        response.destroy()
        done()
      }
    })
    response.once('end', done)
    response.on('error', done)
    response.once('close', done)
  })
}
