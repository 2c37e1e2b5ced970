/**
 * The register workload: one sequential client per lab host, each looping read → compare-and-set
 * on the ConfigMap `register` through its own host's API, recording every operation with the
 * checker's clock (one clock for every client, so real-time order is meaningful).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Random } from '../../../lib/random.ts'
import { ApiUnreachableError, type HostApiClient } from './api-proxy.ts'
import type { RegisterOperation, RegisterValue } from './cas-register.ts'

export const REGISTER_NAMESPACE = 'default'
export const REGISTER_NAME = 'register'
const REGISTER_PATH = `/api/v1/namespaces/${REGISTER_NAMESPACE}/configmaps`

export interface WorkloadEvent {
  readonly timeMs: number
  readonly client: string
  readonly f: 'read' | 'cas'
  readonly type: 'ok' | 'fail' | 'info'
}

interface ConfigMapBody {
  readonly metadata?: { readonly resourceVersion?: string }
  readonly data?: { readonly value?: string }
}

export interface RegisterWorkloadOptions {
  readonly clients: readonly HostApiClient[]
  readonly random: Random
  /** A request with no answer after this long is recorded with an unknown outcome. */
  readonly operationTimeoutMs?: number
  /** Each client pauses up to this long between operations. */
  readonly thinkMaxMs?: number
  /** The clock of the history (milliseconds); defaults to performance.now. */
  readonly now?: () => number
}

export class RegisterWorkload {
  private readonly options: RegisterWorkloadOptions
  private readonly now: () => number
  private readonly operations: RegisterOperation[] = []
  readonly events: WorkloadEvent[] = []
  private running = false
  private loops: Promise<void>[] = []
  private counter = 0

  constructor(options: RegisterWorkloadOptions) {
    this.options = options
    this.now = options.now ?? (() => performance.now())
  }

  start(): void {
    this.running = true
    this.loops = this.options.clients.map((client) => this.loop(client))
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
  }

  history(): readonly RegisterOperation[] {
    return this.operations
  }

  /** Reads the register through one client (not recorded unless `record`); undefined when unreachable. */
  async read(client: HostApiClient, record = false): Promise<{ value: RegisterValue; resourceVersion: string | undefined } | undefined> {
    const invokeTime = this.now()
    let response
    try {
      response = await client.request('GET', `${REGISTER_PATH}/${REGISTER_NAME}`, undefined, this.options.operationTimeoutMs)
    } catch (error) {
      if (!(error instanceof ApiUnreachableError)) throw error
      this.event(client.host, 'read', error.definite ? 'fail' : 'info')
      return undefined
    }
    const completeTime = this.now()
    let result: { value: RegisterValue; resourceVersion: string | undefined }
    if (response.status === 404) result = { value: null, resourceVersion: undefined }
    else if (response.status === 200) {
      const body = response.body as ConfigMapBody
      result = { value: body.data?.value ?? null, resourceVersion: body.metadata?.resourceVersion }
    } else {
      // A read the server refused (not leader, no quorum) says nothing about the register.
      this.event(client.host, 'read', 'fail')
      return undefined
    }
    this.event(client.host, 'read', 'ok')
    if (record || this.running) this.operations.push({ client: client.host, input: { f: 'read', value: result.value }, invokeTime, completeTime })
    return result
  }

  private async loop(client: HostApiClient): Promise<void> {
    const thinkMaxMs = this.options.thinkMaxMs ?? 50
    while (this.running) {
      const read = await this.read(client)
      if (read !== undefined && this.running) await this.compareAndSet(client, read.value, read.resourceVersion)
      // A client whose host is unreachable backs off a little instead of spinning on errors.
      await sleep(read === undefined ? 200 : this.options.random.int(0, thinkMaxMs + 1))
    }
  }

  private async compareAndSet(client: HostApiClient, expected: RegisterValue, resourceVersion: string | undefined): Promise<void> {
    const value = `${client.host}-${++this.counter}`
    const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: REGISTER_NAME, namespace: REGISTER_NAMESPACE, ...(resourceVersion !== undefined ? { resourceVersion } : {}) }, data: { value } }
    const invokeTime = this.now()
    // ok: took effect; fail (409 only): refused because the register did not hold `expected`;
    // info: may or may not have taken effect (5xx, timeout); undefined: certainly no effect and
    // nothing learned about the register (another 4xx, never sent), so not recorded.
    let outcome: 'ok' | 'fail' | 'info' | undefined
    try {
      const response = expected === null
        ? await client.request('POST', REGISTER_PATH, object, this.options.operationTimeoutMs)
        : await client.request('PUT', `${REGISTER_PATH}/${REGISTER_NAME}`, object, this.options.operationTimeoutMs)
      outcome = response.status < 300 ? 'ok' : response.status === 409 ? 'fail' : response.status >= 500 ? 'info' : undefined
    } catch (error) {
      if (!(error instanceof ApiUnreachableError)) throw error
      outcome = error.definite ? undefined : 'info'
    }
    this.event(client.host, 'cas', outcome ?? 'fail')
    if (outcome === undefined) return
    const completeTime = outcome === 'info' ? Infinity : this.now()
    this.operations.push({ client: client.host, input: { f: 'cas', expected, value, outcome }, invokeTime, completeTime })
  }

  private event(client: string, f: 'read' | 'cas', type: 'ok' | 'fail' | 'info'): void {
    this.events.push({ timeMs: this.now(), client, f, type })
  }
}
