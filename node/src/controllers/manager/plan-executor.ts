/**
 * Executes controller Plans against the API (object-client.ts) by plan.ts's execution contract:
 *
 * - Actions run in order and the first failed write ends the plan; its error is returned, and
 *   the controller retries from fresh observations.
 * - An event runs only after the write it follows succeeded, and is recorded best effort
 *   (event-recorder.ts: failures are logged, repeats counted).
 * - Chained writes: an update or status write to an object an earlier action of the plan wrote
 *   is applied against the resourceVersion that write returned; the first write's precondition
 *   guards the chain.
 * - The result lists what was written, as expectations (expectations.ts) the controller records
 *   before it reconciles the same object again.
 *
 * One refinement, the one Kubernetes makes (slowStartBatch): consecutive creates of distinct
 * objects, and consecutive deletes, are independent of each other, so they run concurrently in
 * batches of 1, 2, 4, 8, … — a failing create costs one request, while 100 healthy ones share
 * Raft round trips (group commit). When a write in a batch fails, the plan stops after that
 * batch; writes of the same batch that were already under way may still land, which is harmless
 * (they were wanted) and they are reported as expectations.
 *
 * `isActive` is checked before every step: a manager that lost leadership stops issuing writes
 * at once (and the fence in fence.ts refuses any that were already on their way).
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { metadataOf, nameOf } from '../object-fields.ts'
import type { Action, EventAction, Plan } from '../plan.ts'
import type { EventRecorder } from './event-recorder.ts'
import type { Expectation } from './expectations.ts'
import { cacheKey } from './informer.ts'
import type { ObjectClient } from './object-client.ts'
import { FlotillaError } from '../../../../lib/errors.ts'

/** The manager stopped (lost leadership) while a plan was executing. */
export class ManagerStoppedError extends FlotillaError {
  override name = 'ManagerStoppedError'
}

/** What happened to a plan. */
export interface ExecutionResult {
  /** True when every write succeeded. */
  readonly completed: boolean
  /** The first failure, when not completed. */
  readonly error?: Error
  /** The writes that landed, as expectations. */
  readonly expectations: readonly Expectation[]
  /** How many writes landed. */
  readonly writes: number
}

type WriteAction = Exclude<Action, EventAction>

/** A write and the events that report it (or only events, at the start of a plan). */
interface Unit {
  readonly write: WriteAction | undefined
  readonly events: EventAction[]
}

export interface PlanExecutorOptions {
  readonly client: ObjectClient
  readonly recorder: EventRecorder
  readonly isActive: () => boolean
}

/** Largest slow-start batch. */
const BATCH_MAX = 64

export class PlanExecutor {
  private readonly client: ObjectClient
  private readonly recorder: EventRecorder
  private readonly isActive: () => boolean

  constructor(options: PlanExecutorOptions) {
    this.client = options.client
    this.recorder = options.recorder
    this.isActive = options.isActive
  }

  async execute(plan: Plan): Promise<ExecutionResult> {
    const units = unitsOf(plan.actions)
    const chain = new Map<string, string>()
    const expectations: Expectation[] = []
    let writes = 0
    for (let index = 0; index < units.length; ) {
      const run = batchableRun(units, index)
      for (let size = 1, start = index; start < index + run; start += size, size = Math.min(size * 2, BATCH_MAX)) {
        if (!this.isActive()) return { completed: false, error: new ManagerStoppedError('the controller manager stopped'), expectations, writes }
        const batch = units.slice(start, Math.min(start + size, index + run))
        const outcomes = await Promise.allSettled(batch.map((unit) => this.runUnit(unit, chain)))
        let failure: Error | undefined
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') failure ??= outcome.reason as Error
          else if (outcome.value !== undefined) {
            expectations.push(outcome.value)
            writes++
          }
        }
        if (failure !== undefined) return { completed: false, error: failure, expectations, writes }
      }
      index += run
    }
    return { completed: true, expectations, writes }
  }

  /** Runs one write and then records its events; resolves with the write's expectation. */
  private async runUnit(unit: Unit, chain: Map<string, string>): Promise<Expectation | undefined> {
    const expectation = unit.write === undefined ? undefined : await this.runWrite(unit.write, chain)
    for (const event of unit.events) this.recorder.record(event.event)
    return expectation
  }

  private async runWrite(action: WriteAction, chain: Map<string, string>): Promise<Expectation> {
    const client = this.client
    switch (action.type) {
      case 'create': {
        const created = await client.create(action.resource, action.namespace, action.object)
        chain.set(chainKey(action.resource.resource, action.namespace, nameOf(created)), versionOf(created))
        return { type: 'revision', resource: action.resource, revision: Number(versionOf(created)) }
      }
      case 'update':
      case 'updateStatus': {
        const key = chainKey(action.resource.resource, action.namespace, action.name)
        const chained = chain.get(key)
        const object = chained === undefined ? action.object : withVersion(action.object, chained)
        const written =
          action.type === 'update'
            ? await client.update(action.resource, action.namespace, action.name, object)
            : await client.updateStatus(action.resource, action.namespace, action.name, object)
        chain.set(key, versionOf(written))
        return { type: 'revision', resource: action.resource, revision: Number(versionOf(written)) }
      }
      case 'delete': {
        const outcome = await client.delete(action.resource, action.namespace, action.name, action.uid)
        if (outcome.deleted) return { type: 'gone', resource: action.resource, key: cacheKey(action.resource.namespaced ? action.namespace : undefined, action.name), uid: action.uid }
        // Marked and waiting for finalizers: the marking is the write to wait for.
        return { type: 'revision', resource: action.resource, revision: Number(versionOf(outcome.object)) }
      }
    }
  }
}

function chainKey(resource: string, namespace: string, name: string): string {
  return `${resource}/${namespace}/${name}`
}

function versionOf(object: JsonObject): string {
  return String(metadataOf(object)['resourceVersion'] ?? '0')
}

function withVersion(object: JsonObject, resourceVersion: string): JsonObject {
  return { ...object, metadata: { ...metadataOf(object), resourceVersion } }
}

/** Groups each write with the events after it. */
function unitsOf(actions: readonly Action[]): Unit[] {
  const units: Unit[] = []
  for (const action of actions) {
    if (action.type === 'event') {
      const last = units.at(-1)
      if (last === undefined) units.push({ write: undefined, events: [action] })
      else last.events.push(action)
    } else units.push({ write: action, events: [] })
  }
  return units
}

/**
 * How many units from `start` may run concurrently: a run of creates of distinct objects or of
 * deletes; any other unit runs alone.
 */
function batchableRun(units: readonly Unit[], start: number): number {
  const first = units[start]?.write
  if (first === undefined || (first.type !== 'create' && first.type !== 'delete')) return 1
  const names = new Set<string>()
  let length = 0
  for (let index = start; index < units.length; index++) {
    const write = units[index]?.write
    if (write === undefined || write.type !== first.type) break
    const name = write.type === 'create' ? `${write.resource.resource}/${write.namespace}/${nameOf(write.object)}` : `${write.resource.resource}/${write.namespace}/${write.name}`
    if (names.has(name)) break
    names.add(name)
    length++
  }
  return Math.max(1, length)
}
