/**
 * Routes a pod's log, exec, attach and port-forward requests to the node that runs the pod. Any
 * node serves the Kubernetes API, but only the pod's node has its containers: kube-apiserver
 * proxies these subresources to that node's kubelet; here the serving daemon proxies them to the
 * pod node's own API server, which answers them locally.
 *
 * The request goes on unchanged (method, path, query, headers, body; for connection upgrades —
 * SPDY and WebSocket — the raw bytes both ways after the handshake), over TLS checked against the
 * cluster CA, with the client's own credentials: the pod's node authenticates and answers it as
 * it would have had the client come to it directly. A marker header stops a request from being
 * proxied twice (a node that does not run the pod answers from its own view rather than bounce).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'

/** Set on proxied requests; such a request is never proxied again. */
export const PROXIED_HEADER = 'x-flotilla-proxied-by'

/** `/api/v1/namespaces/<ns>/pods/<name>/<log|exec|attach|portforward>`. */
const POD_STREAM_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(log|exec|attach|portforward)$/

/** How long connecting to the pod's node may take. */
const CONNECT_TIMEOUT_MS = 5_000

/** The pod a streaming request is for, or undefined for any other request. */
export function podStreamTarget(request: IncomingMessage): { namespace: string; name: string; subresource: string } | undefined {
  if (request.headers[PROXIED_HEADER] !== undefined) return undefined
  const path = new URL(request.url ?? '/', 'https://api').pathname
  const match = POD_STREAM_PATH.exec(path)
  if (match === null) return undefined
  return { namespace: decodeURIComponent(match[1] as string), name: decodeURIComponent(match[2] as string), subresource: match[3] as string }
}

export interface ProxyTarget {
  /** `host:port` of the pod node's Kubernetes API. */
  readonly apiAddress: string
  /** The cluster CA (PEM) the node's serving certificate chains to. */
  readonly caPem: string
  /** This node's name, recorded in the marker header. */
  readonly viaNodeName: string
}

function splitAddress(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':')
  return { host: address.slice(0, index), port: Number(address.slice(index + 1)) }
}

/**
 * Forwards a plain request (logs) and streams the answer back, status and headers included.
 * Rejects when the pod's node cannot be reached before anything was sent back.
 */
export function proxyRequest(request: IncomingMessage, response: ServerResponse, target: ProxyTarget): Promise<void> {
  const { host, port } = splitAddress(target.apiAddress)
  return new Promise<void>((resolve, reject) => {
    const outgoing = httpsRequest(
      {
        host,
        port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, [PROXIED_HEADER]: target.viaNodeName },
        ca: target.caPem,
        // The certificate must chain to the cluster CA; its names are the node's, not the address
        // another node dialled, so the name check is the CA's job here.
        checkServerIdentity: () => undefined,
        timeout: CONNECT_TIMEOUT_MS,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers)
        // A follow stream stays open: flush headers at once so the client sees it start.
        response.flushHeaders()
        answer.pipe(response)
        answer.on('end', resolve)
        answer.on('error', () => response.destroy())
        response.on('close', () => answer.destroy())
      },
    )
    // Once connected, a follow stream may be quiet for as long as the container is.
    outgoing.on('socket', (socket) => socket.once('connect', () => outgoing.setTimeout(0)).once('secureConnect', () => outgoing.setTimeout(0)))
    outgoing.on('timeout', () => outgoing.destroy(new Error(`the pod's node at ${target.apiAddress} did not answer within ${CONNECT_TIMEOUT_MS} ms`)))
    outgoing.on('error', (error) => (response.headersSent ? response.destroy() : reject(error)))
    request.pipe(outgoing)
  })
}

/**
 * Forwards a connection upgrade (exec, attach, port-forward): replays the handshake to the pod's
 * node and then splices the two connections. Rejects when the node cannot be reached.
 */
export function proxyUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget): Promise<void> {
  const { host, port } = splitAddress(target.apiAddress)
  return new Promise<void>((resolve, reject) => {
    const upstream = tlsConnect({ host, port, ca: target.caPem, checkServerIdentity: () => undefined, timeout: CONNECT_TIMEOUT_MS })
    let spliced = false
    upstream.once('secureConnect', () => {
      spliced = true
      upstream.setTimeout(0)
      const lines = [`${request.method} ${request.url} HTTP/1.1`]
      for (let index = 0; index < request.rawHeaders.length; index += 2) lines.push(`${request.rawHeaders[index]}: ${request.rawHeaders[index + 1]}`)
      lines.push(`${PROXIED_HEADER}: ${target.viaNodeName}`)
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`)
      if (head.byteLength > 0) upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
      resolve()
    })
    upstream.once('timeout', () => upstream.destroy(new Error(`the pod's node at ${target.apiAddress} did not answer within ${CONNECT_TIMEOUT_MS} ms`)))
    upstream.once('error', (error) => {
      // Before the splice the caller still owns the client socket (to answer with a Status).
      if (spliced) socket.destroy()
      else reject(error)
    })
    socket.once('error', () => upstream.destroy())
    socket.once('close', () => upstream.destroy())
    upstream.once('close', () => {
      if (spliced) socket.destroy()
    })
  })
}
