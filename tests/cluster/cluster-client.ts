/**
 * Talking to a DaemonCluster as a user would: each node's kubeconfig from `flotilla kubeconfig`,
 * JSON requests over HTTPS with the cluster CA and the bearer token, and the real kubectl 1.20.
 */
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import type { DaemonCluster } from './daemon-cluster.ts'

export const KUBECTL = resolve(import.meta.dirname, '../../.tools/kubectl120/usr/bin/kubectl')
const CLI = resolve(import.meta.dirname, '../../node/src/cli.ts')
const run = promisify(execFile)

export interface Json {
  [key: string]: unknown
}

export interface Endpoint {
  readonly server: string
  readonly ca: string
  readonly token: string
  readonly kubeconfig: string
}

export interface KubectlResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A value at `path` inside nested objects (undefined when any step is missing). */
export function field(object: unknown, ...path: (string | number)[]): unknown {
  let value = object
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<string | number, unknown>)[key] : undefined
  return value
}

export function httpsJson(endpoint: Endpoint, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: Json }> {
  return new Promise((resolvePromise, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${endpoint.token}`, accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = contentType
    const request = httpsRequest(`${endpoint.server}${path}`, { ca: endpoint.ca, method, headers, timeout: 10_000 }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => {
        try {
          resolvePromise({ status: response.statusCode ?? 0, json: JSON.parse(text) as Json })
        } catch (error) {
          reject(error as Error)
        }
      })
    })
    request.on('timeout', () => request.destroy(new Error(`${method} ${path} timed out`)))
    request.on('error', reject)
    request.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

/** Every node's endpoint, from `flotilla kubeconfig` run against its data directory. */
export async function clusterEndpoints(cluster: DaemonCluster, names: readonly string[], work: string): Promise<Map<string, Endpoint>> {
  const endpoints = new Map<string, Endpoint>()
  for (const name of names) {
    const { stdout } = await run(process.execPath, [CLI, 'kubeconfig', '--data', cluster.dataDirectory(name)])
    const kubeconfig = join(work, `${name}.kubeconfig`)
    writeFileSync(kubeconfig, stdout)
    endpoints.set(name, {
      server: /server: (https:\/\/\S+)/.exec(stdout)![1]!,
      ca: Buffer.from(/certificate-authority-data: (\S+)/.exec(stdout)![1]!, 'base64').toString(),
      token: /token: (\S+)/.exec(stdout)![1]!,
      kubeconfig,
    })
  }
  return endpoints
}

/** Runs kubectl 1.20 against one endpoint; never throws for a non-zero exit. */
export async function kubectlAt(endpoint: Endpoint, work: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  const child = execFile(KUBECTL, ['--kubeconfig', endpoint.kubeconfig, '--cache-dir', join(work, 'kubectl-cache'), ...args], { timeout: options.timeoutMs ?? 60_000 })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  if (options.input !== undefined) child.stdin?.end(options.input)
  else child.stdin?.end()
  const code = await new Promise<number>((resolvePromise) => child.on('close', (exitCode) => resolvePromise(exitCode ?? 1)))
  return { code, stdout, stderr }
}
