/**
 * What answers a hollow port-forward connection: an in-memory duplex pair whose far end is served
 * by the listening process's model. A hollow `httpd -f` serves files from its container's virtual
 * files (one request per connection, `Connection: close`, as busybox httpd); a hollow `nc -l`
 * echoes bytes back.
 */
import { duplexPair, type Duplex } from 'node:stream'

import { VirtualFiles } from './files.ts'
import type { ListenService } from './process.ts'

/** Request heads longer than this are answered 431 and the connection closed. */
const REQUEST_HEAD_BYTES_MAX = 16 * 1024

/** The caller's end of a new connection to `service`. */
export function connectToService(service: ListenService, files: VirtualFiles): Duplex {
  const [client, server] = duplexPair()
  if (service.kind === 'echo') {
    server.on('data', (chunk: Buffer) => server.write(chunk))
    server.on('end', () => server.end())
  } else serveHttp(server, service.root, files)
  // Our end must not crash the process when the caller goes away mid-response.
  server.on('error', () => undefined)
  return client
}

function serveHttp(server: Duplex, root: string, files: VirtualFiles): void {
  let head = Buffer.alloc(0)
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk])
    const end = head.indexOf('\r\n\r\n')
    if (end < 0 && head.length <= REQUEST_HEAD_BYTES_MAX) return
    server.off('data', onData)
    if (end < 0) return respond(server, 431, 'Request Header Fields Too Large', '', false)
    const [method = '', target = '/'] = head.subarray(0, end).toString('latin1').split('\r\n')[0]?.split(' ') ?? []
    answer(server, method, target, root, files)
  }
  server.on('data', onData)
}

function answer(server: Duplex, method: string, target: string, root: string, files: VirtualFiles): void {
  if (method !== 'GET' && method !== 'HEAD') return respond(server, 501, 'Not Implemented', errorPage(501, 'Not Implemented'), method === 'HEAD')
  let path: string
  try {
    path = decodeURIComponent(target.split('?')[0] ?? '/')
  } catch {
    return respond(server, 400, 'Bad Request', errorPage(400, 'Bad Request'), method === 'HEAD')
  }
  let filePath = VirtualFiles.resolve(`${root}/${path}`)
  if (files.isDirectory(filePath)) filePath = `${filePath === '/' ? '' : filePath}/index.html`
  const content = files.read(filePath)
  if (content === undefined) return respond(server, 404, 'Not Found', errorPage(404, 'Not Found'), method === 'HEAD')
  respond(server, 200, 'OK', content, method === 'HEAD', contentTypeOf(filePath))
}

function respond(server: Duplex, statusCode: number, statusText: string, body: string, headOnly: boolean, contentType = 'text/html'): void {
  const bytes = Buffer.from(body)
  const head = [`HTTP/1.1 ${statusCode} ${statusText}`, `Content-Type: ${contentType}`, `Content-Length: ${bytes.length}`, 'Connection: close', '', ''].join('\r\n')
  server.end(headOnly ? Buffer.from(head) : Buffer.concat([Buffer.from(head), bytes]))
}

/** busybox httpd's error page. */
function errorPage(statusCode: number, statusText: string): string {
  return `<HTML><HEAD><TITLE>${statusCode} ${statusText}</TITLE></HEAD>\n<BODY><H1>${statusCode} ${statusText}</H1>\n</BODY></HTML>\n`
}

function contentTypeOf(path: string): string {
  const extension = path.slice(path.lastIndexOf('.') + 1).toLowerCase()
  const types: Readonly<Record<string, string>> = { html: 'text/html', htm: 'text/html', txt: 'text/plain', json: 'application/json', css: 'text/css', js: 'application/javascript' }
  return types[extension] ?? 'application/octet-stream'
}
