/**
 * What the store benchmark needs from a cluster, with one adapter per system:
 * - Flotilla daemons (bench/flotilla-daemons.ts): `PUT /v1/kv/<key>[?ifModRevision=N]`,
 *   `GET /v1/kv/<key>` (linearizable).
 * - etcd (bench/etcd-cluster.ts), gRPC-gateway JSON: `POST /v3/kv/put`, `POST /v3/kv/range`
 *   (linearizable, the default), and compare-and-swap as `POST /v3/kv/txn` with
 *   `compare: [{target: MOD, mod_revision: N, result: EQUAL}]`, `success: [request_put]` and
 *   `failure: [request_range]` (so a conflict returns the current mod_revision in the same round
 *   trip, as Flotilla's 409 does).
 * Members are addressed by index 0..memberCount-1.
 */
import type http from 'node:http'
import { FlotillaError } from '../lib/errors.ts'
import type { EtcdCluster } from './etcd-cluster.ts'
import type { FlotillaDaemons } from './flotilla-daemons.ts'
import { httpRequest, HttpStatusError, parseJsonBody, snippet, type HttpResponse } from './http.ts'
import { describeError } from './load.ts'

/** A key read: its value and the revision that last modified it. */
export interface KeyRead {
  readonly value: Uint8Array
  readonly modRevision: number
}

/** Outcome of a compare-and-swap put; on success, `modRevision` is the key's new modRevision. */
export type CasResult = { readonly ok: true; readonly modRevision: number } | { readonly ok: false; readonly currentModRevision: number }

export interface StoreTarget {
  /** "Flotilla" or "etcd". */
  readonly system: string
  readonly version: string
  readonly notes: readonly string[]
  readonly memberCount: number
  /** One label per member ("n1 (z1)", "m1"). */
  labels(): string[]
  /** PIDs of the running members, in member order. */
  memberPids(): number[]
  /** Member index of the current leader. */
  leader(deadlineMs: number): Promise<number>
  put(member: number, key: string, value: Uint8Array): Promise<void>
  /** Linearizable read; undefined when the key does not exist. */
  get(member: number, key: string): Promise<KeyRead | undefined>
  /** Writes `value` only if the key's modRevision is `expectedModRevision` (0: absent). */
  putIfModRevision(member: number, key: string, value: Uint8Array, expectedModRevision: number): Promise<CasResult>
  stop(): Promise<void>
}

/** A request got no response (socket error, timeout); the message names the request and member. */
export class RequestFailedError extends FlotillaError {
  override name = 'RequestFailedError'
}

/** A response that does not have the shape the benchmark expects. */
export class UnexpectedResponseError extends FlotillaError {
  override name = 'UnexpectedResponseError'
}

type Endpoint = { readonly port: number; readonly agent: http.Agent }

// ---------------------------------------------------------------------------------------------
// Flotilla
// ---------------------------------------------------------------------------------------------

export class FlotillaTarget implements StoreTarget {
  readonly system = 'Flotilla'
  readonly version: string
  readonly notes: readonly string[]
  readonly memberCount: number
  private readonly daemons: FlotillaDaemons

  constructor(daemons: FlotillaDaemons) {
    this.daemons = daemons
    this.version = daemons.version
    this.notes = daemons.notes
    this.memberCount = daemons.memberCount
  }

  labels(): string[] {
    return this.daemons.labels()
  }

  memberPids(): number[] {
    return this.daemons.memberPids()
  }

  leader(deadlineMs: number): Promise<number> {
    return this.daemons.waitAllVoters(deadlineMs)
  }

  async put(member: number, key: string, value: Uint8Array): Promise<void> {
    const response = await this.request(member, 'PUT', kvPath(key), value)
    if (response.status !== 200) throw statusError('flotilla put', member, response)
  }

  async get(member: number, key: string): Promise<KeyRead | undefined> {
    const response = await this.request(member, 'GET', kvPath(key))
    if (response.status === 404) return undefined
    if (response.status !== 200) throw statusError('flotilla get', member, response)
    const parsed = parseJsonBody(response, 'flotilla get') as { value?: unknown; modRevision?: unknown }
    if (typeof parsed.value !== 'string' || typeof parsed.modRevision !== 'number') {
      throw new UnexpectedResponseError(`flotilla get ${key}: ${snippet(response.body)}`)
    }
    return { value: Buffer.from(parsed.value, 'utf8'), modRevision: parsed.modRevision }
  }

  async putIfModRevision(member: number, key: string, value: Uint8Array, expectedModRevision: number): Promise<CasResult> {
    const response = await this.request(member, 'PUT', `${kvPath(key)}?ifModRevision=${expectedModRevision}`, value)
    if (response.status === 200) {
      const parsed = parseJsonBody(response, 'flotilla cas') as { revision?: unknown }
      if (typeof parsed.revision === 'number') return { ok: true, modRevision: parsed.revision }
    }
    if (response.status === 409) {
      const parsed = parseJsonBody(response, 'flotilla cas') as { currentModRevision?: unknown }
      if (typeof parsed.currentModRevision === 'number') return { ok: false, currentModRevision: parsed.currentModRevision }
    }
    throw statusError('flotilla cas', member, response)
  }

  stop(): Promise<void> {
    return this.daemons.stop()
  }

  private async request(member: number, method: 'GET' | 'PUT', path: string, body?: Uint8Array): Promise<HttpResponse> {
    const { port, agent } = this.daemons.endpoint(member)
    try {
      return await httpRequest({ agent, port, method, path, ...(body === undefined ? {} : { body }) })
    } catch (error) {
      throw new RequestFailedError(`${method} ${path.replace(/\?.*/, '?…')} on member ${member}: ${describeError(error)}`, { cause: error })
    }
  }
}

function kvPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`
}

// ---------------------------------------------------------------------------------------------
// etcd
// ---------------------------------------------------------------------------------------------

interface EtcdKv {
  readonly value?: string
  readonly mod_revision?: string | number
}

export class EtcdTarget implements StoreTarget {
  readonly system = 'etcd'
  readonly version: string
  readonly notes: readonly string[]
  readonly memberCount: number
  private readonly cluster: EtcdCluster

  constructor(cluster: EtcdCluster) {
    this.cluster = cluster
    this.version = cluster.version
    this.notes = cluster.notes
    this.memberCount = cluster.memberCount
  }

  labels(): string[] {
    return Array.from({ length: this.memberCount }, (_, k) => `m${k + 1}`)
  }

  memberPids(): number[] {
    return this.cluster.memberPids()
  }

  async leader(deadlineMs: number): Promise<number> {
    return (await this.cluster.waitForLeader(deadlineMs)).member
  }

  put(member: number, key: string, value: Uint8Array): Promise<void> {
    return this.cluster.put(member, key, value)
  }

  async get(member: number, key: string): Promise<KeyRead | undefined> {
    const parsed = (await this.post(member, '/v3/kv/range', `{"key":"${base64(key)}"}`, 'etcd range')) as { kvs?: EtcdKv[] }
    const kv = parsed.kvs?.[0]
    return kv === undefined ? undefined : readKv(kv, key)
  }

  async putIfModRevision(member: number, key: string, value: Uint8Array, expectedModRevision: number): Promise<CasResult> {
    const k = base64(key)
    const body =
      `{"compare":[{"key":"${k}","target":"MOD","mod_revision":"${expectedModRevision}","result":"EQUAL"}],` +
      `"success":[{"request_put":{"key":"${k}","value":"${Buffer.from(value).toString('base64')}"}}],` +
      `"failure":[{"request_range":{"key":"${k}"}}]}`
    const parsed = (await this.post(member, '/v3/kv/txn', body, 'etcd txn')) as {
      header?: { revision?: string | number }
      succeeded?: boolean
      responses?: { response_range?: { kvs?: EtcdKv[] } }[]
    }
    if (parsed.succeeded === true) {
      // The txn's revision is the put's: the key's new mod_revision (the gateway renders int64 as a string).
      const modRevision = Number(parsed.header?.revision)
      if (!Number.isSafeInteger(modRevision) || modRevision <= 0) {
        throw new UnexpectedResponseError(`etcd txn ${key}: bad header.revision ${String(parsed.header?.revision)}`)
      }
      return { ok: true, modRevision }
    }
    // The gateway omits `succeeded: false`; the failure branch's range carries the current revision.
    const kv = parsed.responses?.[0]?.response_range?.kvs?.[0]
    return { ok: false, currentModRevision: kv === undefined ? 0 : readKv(kv, key).modRevision }
  }

  stop(): Promise<void> {
    return this.cluster.stop()
  }

  private async post(member: number, path: string, body: string, what: string): Promise<unknown> {
    const { port, agent }: Endpoint = this.cluster.endpoint(member)
    let response: HttpResponse
    try {
      response = await httpRequest({ agent, port, method: 'POST', path, body, contentType: 'application/json' })
    } catch (error) {
      throw new RequestFailedError(`POST ${path} on member ${member}: ${describeError(error)}`, { cause: error })
    }
    if (response.status !== 200) throw statusError(what, member, response)
    return parseJsonBody(response, what)
  }
}

function readKv(kv: EtcdKv, key: string): KeyRead {
  const modRevision = Number(kv.mod_revision)
  if (!Number.isSafeInteger(modRevision) || modRevision <= 0) {
    throw new UnexpectedResponseError(`etcd ${key}: bad mod_revision ${String(kv.mod_revision)}`)
  }
  return { value: Buffer.from(kv.value ?? '', 'base64'), modRevision }
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64')
}

function statusError(what: string, member: number, response: { status: number; body: Buffer }): HttpStatusError {
  return new HttpStatusError(`${what} on member ${member}: ${response.status} ${snippet(response.body)}`, response.status)
}
