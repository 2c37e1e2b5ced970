/**
 * What the API benchmark needs from a system under test, whatever it is: the Kubernetes API of
 * Flotilla daemons (bench/api-flotilla.ts) or the equivalent store operations on etcd's JSON
 * gateway (bench/api-etcd.ts).
 *
 * Objects live in *collections*: a namespace of ConfigMaps for Flotilla, a key prefix for etcd.
 * Every object is the same ConfigMap (apiObject) so both systems move the same bytes; etcd stores
 * its JSON text as the value. Revisions are the store revisions both systems expose (Flotilla's
 * resourceVersion is its store's modRevision). Members are addressed by index 0..memberCount-1.
 */
import { FlotillaError } from '../lib/errors.ts'
import type { LineStream } from './http.ts'

/** Bytes of the ConfigMap's payload value, so an object is a few hundred bytes like a small real one. */
export const PAYLOAD_BYTES = 256

/**
 * Sockets per member for watches: each open watch holds one. Far above the benchmark's 1 000
 * watchers spread over three members, so opening them never queues inside an agent.
 */
export const WATCH_SOCKETS_MAX = 4_096

/** Outcome of an update that carries the revision it expects. */
export type UpdateResult = { readonly ok: true; readonly revision: number } | { readonly ok: false }

/** A collection read: how many objects it held, and the revision it was read at. */
export interface ListRead {
  readonly count: number
  readonly revision: number
}

export interface WatchOptions {
  readonly member: number
  readonly collection: string
  /** Events after this revision are delivered (the revision of a list, as a Kubernetes client does). */
  readonly afterRevision: number
  /** Called for every event with the object's name and when its chunk arrived (performance.now()). */
  readonly onEvent: (name: string, receivedMs: number) => void
  /** Called at most once: the stream failed, or ended before it was closed. */
  readonly onEnd: (error: Error | undefined) => void
}

export interface ApiTarget {
  /** "Flotilla" or "etcd". */
  readonly system: string
  readonly version: string
  /** Settings and what the requests go through, for the report. */
  readonly notes: readonly string[]
  readonly memberCount: number
  /** PIDs of the running members, in member order. */
  memberPids(): number[]
  /** Resolves when every member serves reads and writes (a leader agreed by all). */
  waitReady(deadlineMs: number): Promise<void>
  /** Makes `collection` usable (Flotilla: creates the namespace); idempotent. */
  prepareCollection(collection: string): Promise<void>
  /** Creates the object, failing if it exists; resolves with its revision. */
  create(member: number, collection: string, name: string): Promise<number>
  /** Reads one object (linearizable); resolves with its revision. */
  get(member: number, collection: string, name: string): Promise<number>
  /** Reads the whole collection (linearizable). */
  list(member: number, collection: string): Promise<ListRead>
  /** Replaces the object's counter if its revision is still `expectedRevision`. */
  update(member: number, collection: string, name: string, expectedRevision: number, counter: number): Promise<UpdateResult>
  /** Opens a watch on a collection; resolves once the stream is open. */
  watch(options: WatchOptions): Promise<LineStream>
  /** Kills every member and removes all data. Safe to call more than once. */
  stop(): Promise<void>
}

/** The response did not have the shape the benchmark expects. */
export class UnexpectedApiResponseError extends FlotillaError {
  override name = 'UnexpectedApiResponseError'
}

const PAYLOAD = Array.from({ length: PAYLOAD_BYTES }, (_, k) => String.fromCharCode(0x61 + ((k * 7) % 26))).join('')

/**
 * The benchmark's ConfigMap: a label, a fixed payload and a counter that updates change. Without
 * `resourceVersion` it is a create body; with it, an update body (Kubernetes optimistic
 * concurrency: the server refuses it with 409 if the object changed since).
 */
export function apiObject(name: string, counter: number, resourceVersion?: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      labels: { app: 'api-bench' },
      ...(resourceVersion === undefined ? {} : { resourceVersion: String(resourceVersion) }),
    },
    data: { payload: PAYLOAD, counter: String(counter) },
  }
}

/** `callback`, called at most once whatever the number of calls. */
export function once<A extends unknown[]>(callback: (...args: A) => void): (...args: A) => void {
  let called = false
  return (...args: A) => {
    if (called) return
    called = true
    callback(...args)
  }
}
