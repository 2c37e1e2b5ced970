/**
 * Test fixtures for the CLI's Kubernetes verbs: an in-process Kubernetes API (ApiHandler over
 * MemoryObjectBackend) served over plain HTTP on 127.0.0.1, a kubeconfig pointing at it, and a
 * runner for `node node/src/cli.ts …` as a child process (asynchronous, so the server in this
 * process keeps answering while the CLI runs).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ApiHandler } from '../../node/src/api/server/api-handler.ts'
import { MemoryObjectBackend } from '../../node/src/api/server/memory-backend.ts'
import { ObjectStore, type ResourceRef } from '../../node/src/api/server/object-store.ts'

export const CLI = resolve(import.meta.dirname, '../../node/src/cli.ts')
const CLI_TIMEOUT_MS = 60_000

/** A running test API server. */
export interface TestApiServer {
  readonly url: string
  readonly objects: ObjectStore
  readonly handler: ApiHandler
  /** Every request the server saw: `METHOD path?query` and the content type. */
  readonly requests: Array<{ method: string; url: string; contentType: string | undefined }>
  close(): Promise<void>
}

export const DEPLOYMENTS: ResourceRef = { group: 'apps', resource: 'deployments', kind: 'Deployment', apiVersion: 'apps/v1', namespaced: true }
export const REPLICASETS: ResourceRef = { group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', apiVersion: 'apps/v1', namespaced: true }
export const CONFIGMAPS: ResourceRef = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }
export const PODS: ResourceRef = { group: '', resource: 'pods', kind: 'Pod', apiVersion: 'v1', namespaced: true }
export const EVENTS: ResourceRef = { group: '', resource: 'events', kind: 'Event', apiVersion: 'v1', namespaced: true }
export const SERVICES: ResourceRef = { group: '', resource: 'services', kind: 'Service', apiVersion: 'v1', namespaced: true }

/** Starts an API server with the system namespaces on 127.0.0.1 (a free port). */
export async function startTestApiServer(): Promise<TestApiServer> {
  const objects = new ObjectStore(new MemoryObjectBackend())
  const handler = new ApiHandler({ objects, serverAddress: '127.0.0.1:1' })
  await handler.ensureSystemNamespaces()
  const requests: TestApiServer['requests'] = []
  const server: Server = createServer((request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', contentType: request.headers['content-type'] })
    void handler.handle(request, response)
  })
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    objects,
    handler,
    requests,
    close: () =>
      new Promise<void>((resolvePromise) => {
        server.closeAllConnections()
        server.close(() => resolvePromise())
      }),
  }
}

/** A free TCP port on 127.0.0.1 with nothing listening (a "dead node"). */
export async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()))
  return port
}

/**
 * A kubeconfig with one cluster per server (all marked as one Flotilla cluster by a shared CA
 * entry, which plain-HTTP servers ignore) and a context per cluster; the first is current.
 */
export function kubeconfigText(servers: readonly string[], options: { namespace?: string } = {}): string {
  // Any PEM-looking text: only its identity matters to failover; http:// servers never use it.
  const caData = Buffer.from('-----BEGIN CERTIFICATE-----\nflotilla-test\n-----END CERTIFICATE-----\n').toString('base64')
  const clusters = servers.map((server, index) => `- name: node-${index}\n  cluster:\n    server: ${server}\n    certificate-authority-data: ${caData}`)
  const contexts = servers.map((_, index) => `- name: node-${index}\n  context:\n    cluster: node-${index}\n    user: admin${options.namespace !== undefined ? `\n    namespace: ${options.namespace}` : ''}`)
  return ['apiVersion: v1', 'kind: Config', `clusters:\n${clusters.join('\n')}`, `contexts:\n${contexts.join('\n')}`, 'current-context: node-0', 'users:\n- name: admin\n  user:\n    token: test-token', ''].join('\n')
}

/** A temporary directory with a kubeconfig; `cleanup` removes it. */
export function workDirectory(servers: readonly string[], options: { namespace?: string } = {}): { dir: string; kubeconfig: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-kubectl-'))
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, kubeconfigText(servers, options))
  return { dir, kubeconfig, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `flotilla <args>` with the kubeconfig (HOME set to `dir` so nothing else is read). */
export function flotilla(dir: string, kubeconfig: string, args: readonly string[], options: { stdin?: string } = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args, '--kubeconfig', kubeconfig],
      { timeout: CLI_TIMEOUT_MS, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, FLOTILLA_DATA: join(dir, 'data') } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
        resolvePromise({ code, stdout, stderr })
      },
    )
    if (options.stdin !== undefined) child.stdin?.end(options.stdin)
    else child.stdin?.end()
  })
}

/** Starts a long-running `flotilla <args>` (watches) whose output accumulates in `output()`. */
export function flotillaBackground(dir: string, kubeconfig: string, args: readonly string[]): { child: ChildProcess; output: () => string; errors: () => string; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [CLI, ...args, '--kubeconfig', kubeconfig], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, FLOTILLA_DATA: join(dir, 'data') }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()))
  return {
    child,
    output: () => stdout,
    errors: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}
