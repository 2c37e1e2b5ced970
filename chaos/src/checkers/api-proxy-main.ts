/**
 * A tiny Kubernetes API client that runs inside one lab host's network namespace (the lab's API
 * addresses exist only there), started by `nsenter --net=/run/netns/fl-hN`. It reads requests as
 * JSON lines on stdin and answers each with one JSON line on stdout, so one checker process can
 * drive clients on every host.
 *
 *   node api-proxy-main.ts KUBECONFIG SERVER
 *   in:  {"id":1,"method":"GET","path":"/api/v1/...","body":{...},"timeoutMs":2000}
 *   out: {"id":1,"status":200,"body":{...}}  or  {"id":1,"error":"...","definite":false}
 *
 * `definite: true` means the request certainly never reached the server (refused, unreachable),
 * so a write in it did not happen; every other error leaves the outcome unknown.
 */
import { readFileSync } from 'node:fs'
import { request, Agent } from 'node:https'
import { dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { parseKubeconfig, selectConnection } from '../../../node/src/kubectl/kubeconfig.ts'

interface ProxyRequest {
  readonly id: number
  readonly method: string
  readonly path: string
  readonly body?: unknown
  readonly timeoutMs: number
}

const NEVER_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])

const [kubeconfigPath, server] = process.argv.slice(2)
if (kubeconfigPath === undefined || server === undefined) {
  process.stderr.write('usage: api-proxy-main.ts KUBECONFIG SERVER\n')
  process.exit(2)
}
const connection = selectConnection(parseKubeconfig(readFileSync(kubeconfigPath, 'utf8'), dirname(kubeconfigPath)))
const endpoint = connection.endpoints.find((candidate) => candidate.server === server) ?? connection.endpoints[0]!
const user = endpoint.user
const url = new URL(server)
// No keep-alive: a connection to a host that has since been killed would hang every later request.
const agent = new Agent({ keepAlive: false })

function send(line: string): void {
  process.stdout.write(`${line}\n`)
}

function handle(message: ProxyRequest): void {
  const payload = message.body === undefined ? undefined : JSON.stringify(message.body)
  let answered = false
  const answer = (reply: Record<string, unknown>): void => {
    if (answered) return
    answered = true
    send(JSON.stringify({ id: message.id, ...reply }))
  }
  const req = request(
    {
      agent,
      host: url.hostname,
      port: url.port === '' ? 443 : Number(url.port),
      method: message.method,
      path: message.path,
      ...(endpoint.certificateAuthority !== undefined ? { ca: endpoint.certificateAuthority } : {}),
      rejectUnauthorized: !endpoint.insecureSkipTlsVerify,
      ...(endpoint.tlsServerName !== undefined ? { servername: endpoint.tlsServerName } : {}),
      ...(user.clientCertificate !== undefined ? { cert: user.clientCertificate } : {}),
      ...(user.clientKey !== undefined ? { key: user.clientKey } : {}),
      headers: {
        accept: 'application/json',
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        ...(user.token !== undefined ? { authorization: `Bearer ${user.token}` } : {}),
      },
    },
    (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // Not JSON: pass the text on.
        }
        answer({ status: res.statusCode ?? 0, body })
      })
      res.on('error', (error) => answer({ error: error.message, definite: false }))
    },
  )
  req.setTimeout(message.timeoutMs, () => {
    answer({ error: `timed out after ${message.timeoutMs} ms`, definite: false })
    req.destroy()
  })
  req.on('error', (error: NodeJS.ErrnoException) => answer({ error: error.message, definite: NEVER_SENT.has(error.code ?? '') }))
  req.end(payload)
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return
  handle(JSON.parse(line) as ProxyRequest)
})
process.stdin.on('end', () => process.exit(0))
