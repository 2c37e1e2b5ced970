/**
 * The API benchmark's request workloads, run the same way against any ApiTarget, each at every
 * concurrency of CONCURRENCY_LEVELS (requests in flight; request i goes to member i mod n):
 * - create: new objects with unique names (Flotilla: POST; etcd: create-only txn).
 * - get: one object of the list collection (GET; etcd: range on one key).
 * - list: the whole list collection of LIST_OBJECT_COUNT objects (GET collection; etcd: prefix range).
 * - update: each in-flight client owns one object and replaces it with the revision it last saw
 *   (PUT with metadata.resourceVersion; etcd: txn compare mod_revision). A 409 is counted, the
 *   object read again and the update retried; one op is one successful update, retries included.
 * - mixed: 70 % get, 30 % update (as above), with latency reported per verb too.
 * Every run is a warm-up and a measured window (bench/load.ts) with the members' CPU metered.
 */
import { FlotillaError } from '../lib/errors.ts'
import { summarizeLatencies, type LatencySummaryMs } from './load.ts'
import { benchKey, formatProgress, measured, type MeasureHooks, type WorkloadResult, type WorkloadTiming } from './workloads.ts'
import type { ApiTarget } from './api-targets.ts'

export const CONCURRENCY_LEVELS: readonly number[] = [1, 32]

/** Objects in the collection that `list` reads and `get` picks from. */
export const LIST_OBJECT_COUNT = 1_000

export type ApiWorkloadKind = 'create' | 'get' | 'list' | 'update' | 'mixed'

export const WORKLOAD_KINDS: readonly ApiWorkloadKind[] = ['create', 'get', 'list', 'update', 'mixed']

/** The verbs the mixed workload reports separately. */
export type MixedVerb = 'get' | 'update'

/** Out of 10 mixed requests, this many are reads (70/30 read/write). */
const MIXED_READS_PER_10 = 7

/** An update gives up after this many conflicts in a row (each client owns its object, so 1 is already odd). */
const MAX_UPDATE_ATTEMPTS = 20

/** Requests in flight while preloading. */
const PRELOAD_CONCURRENCY = 32

const COLLECTIONS = { create: 'api-bench-create', list: 'api-bench-list', update: 'api-bench-update' } as const

/** Every collection the workloads use (Flotilla creates them as namespaces). */
export const WORKLOAD_COLLECTIONS: readonly string[] = Object.values(COLLECTIONS)

/** Latency and rate of one verb inside the mixed workload's measured window. */
export interface VerbSummary {
  readonly ops: number
  readonly opsPerSecond: number
  readonly latencyMs: LatencySummaryMs
}

export interface ApiWorkloadResult extends WorkloadResult {
  readonly kind: ApiWorkloadKind
  /** 409 Conflicts (etcd: failed compares) inside the measured window; each was retried. */
  readonly conflicts: number
  /** For `mixed`: each verb on its own. */
  readonly verbs?: Readonly<Record<MixedVerb, VerbSummary>>
}

/** A preload or check found the data other than the benchmark left it. */
export class WorkloadSetupError extends FlotillaError {
  override name = 'WorkloadSetupError'
}

/** "get-c32". */
export function workloadName(kind: ApiWorkloadKind, concurrency: number): string {
  return `${kind}-c${concurrency}`
}

/**
 * Prepares the collections (the list collection with LIST_OBJECT_COUNT objects, one update object
 * per client), then runs every workload at every concurrency, in the order of WORKLOAD_KINDS for
 * concurrency 1, then for 32. `progress` receives one line per run.
 */
export async function runApiWorkloads(
  target: ApiTarget,
  timing: WorkloadTiming,
  progress: (line: string) => void,
): Promise<ApiWorkloadResult[]> {
  const clients = Math.max(...CONCURRENCY_LEVELS)
  for (const collection of WORKLOAD_COLLECTIONS) await target.prepareCollection(collection)
  const listNames = Array.from({ length: LIST_OBJECT_COUNT }, (_, k) => benchKey('obj', k))
  await preload(target, COLLECTIONS.list, listNames)
  const listed = await target.list(0, COLLECTIONS.list)
  if (listed.count !== LIST_OBJECT_COUNT) {
    throw new WorkloadSetupError(`${target.system}: the list collection holds ${listed.count} objects after preloading ${LIST_OBJECT_COUNT}`)
  }
  const updaters = new UpdateClients(target, clients)
  await updaters.create()

  const results: ApiWorkloadResult[] = []
  for (const concurrency of CONCURRENCY_LEVELS) {
    for (const kind of WORKLOAD_KINDS) {
      await target.waitReady(20_000)
      const result = await runOne(target, kind, concurrency, timing, listNames, updaters)
      progress(formatApiProgress(target.system, result))
      results.push(result)
    }
  }
  return results
}

async function runOne(
  target: ApiTarget,
  kind: ApiWorkloadKind,
  concurrency: number,
  timing: WorkloadTiming,
  listNames: readonly string[],
  updaters: UpdateClients,
): Promise<ApiWorkloadResult> {
  const n = target.memberCount
  const name = workloadName(kind, concurrency)
  const pickListName = (i: number): string => listNames[(i * 7_919) % listNames.length] ?? ''
  const window = new VerbWindow()
  updaters.windowOpen = false
  updaters.conflictsInWindow = 0
  const hooks: MeasureHooks = {
    onMeasureStart: () => {
      window.open()
      updaters.windowOpen = true
    },
    onMeasureEnd: () => {
      window.close()
      updaters.windowOpen = false
    },
  }
  let request: (i: number) => Promise<void>
  switch (kind) {
    case 'create':
      request = async (i) => void (await target.create(i % n, COLLECTIONS.create, `c${concurrency}-${benchKey('new', i)}`))
      break
    case 'get':
      request = async (i) => void (await target.get(i % n, COLLECTIONS.list, pickListName(i)))
      break
    case 'list':
      request = async (i) => {
        const { count } = await target.list(i % n, COLLECTIONS.list)
        if (count !== LIST_OBJECT_COUNT) throw new WorkloadSetupError(`${target.system}: list returned ${count} of ${LIST_OBJECT_COUNT} objects`)
      }
      break
    case 'update':
      request = (i) => updaters.update(i % n)
      break
    case 'mixed':
      request = async (i) => {
        const startMs = performance.now()
        const verb: MixedVerb = i % 10 < MIXED_READS_PER_10 ? 'get' : 'update'
        if (verb === 'get') await target.get(i % n, COLLECTIONS.list, pickListName(i))
        else await updaters.update(i % n)
        window.record(verb, performance.now() - startMs)
      }
      break
    default:
      throw new RangeError(`unknown workload ${kind satisfies never}`)
  }
  const result = await measured(target, name, concurrency, timing, request, hooks)
  return {
    ...result,
    kind,
    conflicts: updaters.conflictsInWindow,
    ...(kind === 'mixed' ? { verbs: window.summary(result.windowMs) } : {}),
  }
}

/**
 * One object per client for the update workloads. A request borrows a free client, so each object
 * has at most one update in flight, and remembers the revision its last write returned.
 */
class UpdateClients {
  /** Set by the measured window's hooks: conflicts are counted only inside it. */
  windowOpen = false
  conflictsInWindow = 0
  /** Over the whole run, warm-ups included. */
  conflictsTotal = 0
  private readonly target: ApiTarget
  private readonly names: readonly string[]
  private readonly revisions: number[]
  private readonly counters: number[]
  private readonly free: number[]

  constructor(target: ApiTarget, clients: number) {
    this.target = target
    this.names = Array.from({ length: clients }, (_, k) => benchKey('client', k))
    this.revisions = new Array<number>(clients).fill(0)
    this.counters = new Array<number>(clients).fill(0)
    this.free = Array.from({ length: clients }, (_, k) => clients - 1 - k)
  }

  async create(): Promise<void> {
    for (let k = 0; k < this.names.length; k++) {
      this.revisions[k] = await this.target.create(k % this.target.memberCount, COLLECTIONS.update, this.names[k] ?? '')
    }
  }

  async update(member: number): Promise<void> {
    const client = this.free.pop()
    if (client === undefined) throw new WorkloadSetupError('no free update client (more requests in flight than clients)')
    try {
      const name = this.names[client] ?? ''
      for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
        const counter = (this.counters[client] ?? 0) + 1
        const result = await this.target.update(member, COLLECTIONS.update, name, this.revisions[client] ?? 0, counter)
        if (result.ok) {
          this.revisions[client] = result.revision
          this.counters[client] = counter
          return
        }
        this.conflictsTotal++
        if (this.windowOpen) this.conflictsInWindow++
        this.revisions[client] = await this.target.get(member, COLLECTIONS.update, name)
      }
      throw new WorkloadSetupError(`${this.target.system}: update of ${name} conflicted ${MAX_UPDATE_ATTEMPTS} times in a row`)
    } finally {
      this.free.push(client)
    }
  }
}

/** Per-verb latencies of requests that complete inside the measured window. */
class VerbWindow {
  private isOpen = false
  private readonly samplesMs: Record<MixedVerb, number[]> = { get: [], update: [] }

  open(): void {
    this.isOpen = true
  }

  close(): void {
    this.isOpen = false
  }

  record(verb: MixedVerb, latencyMs: number): void {
    if (this.isOpen) this.samplesMs[verb].push(latencyMs)
  }

  summary(windowMs: number): Record<MixedVerb, VerbSummary> {
    const one = (samples: number[]): VerbSummary => ({
      ops: samples.length,
      opsPerSecond: (samples.length * 1000) / Math.max(windowMs, 1e-3),
      latencyMs: summarizeLatencies(Float64Array.from(samples)),
    })
    return { get: one(this.samplesMs.get), update: one(this.samplesMs.update) }
  }
}

/** Creates `names` in `collection`, PRELOAD_CONCURRENCY in flight over all members; throws on any failure. */
async function preload(target: ApiTarget, collection: string, names: readonly string[]): Promise<void> {
  let next = 0
  let failure: unknown
  const worker = async (): Promise<void> => {
    // Bounded: each iteration takes one of the names.
    while (failure === undefined && next < names.length) {
      const k = next++
      try {
        await target.create(k % target.memberCount, collection, names[k] ?? '')
      } catch (error) {
        failure ??= error
      }
    }
  }
  await Promise.all(Array.from({ length: PRELOAD_CONCURRENCY }, worker))
  if (failure !== undefined) throw new WorkloadSetupError(`${target.system}: preloading ${collection} failed`, { cause: failure })
}

function formatApiProgress(system: string, r: ApiWorkloadResult): string {
  const conflicts = r.kind === 'update' || r.kind === 'mixed' ? `, ${r.conflicts} conflicts` : ''
  return `${formatProgress(system, r)}, p90 ${r.latencyMs.p90.toFixed(2)} ms${conflicts}`
}
