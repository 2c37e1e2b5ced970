/**
 * Records core/v1 Events, best effort, with Kubernetes' event correlation: an event identical to
 * one recorded before (same involved object, reason, message, type and source) bumps the earlier
 * Event's `count` and `lastTimestamp` instead of adding an object, so a pod that fails to
 * schedule every few seconds shows one "FailedScheduling (x12 over 2m)" line in `kubectl
 * describe`, not a flood.
 *
 * Events are reports, not state: `record` never throws and never blocks the caller's writes.
 * Failures are logged. Recording is asynchronous; `pending`/`flush` tell when it is done. Events
 * with the same correlation key are written one after another, so repeats count up rather than
 * racing to create twins.
 */
import type { JsonObject } from '../../api/machinery/canonical.ts'
import { ApiError } from '../../api/machinery/status.ts'
import { EVENTS } from '../plan.ts'
import type { ObjectClient } from './object-client.ts'

export interface EventRecorderOptions {
  readonly log: (line: string) => void
  /** Correlation entries kept (client-go keeps 4096). */
  readonly cacheMax?: number
}

const CACHE_MAX_DEFAULT = 4096
/** Names tried for one Event before giving up on it. */
const EVENT_NAME_ATTEMPTS_MAX = 16

interface Recorded {
  readonly namespace: string
  readonly name: string
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/** What makes two events "the same" (client-go's EventAggregator key plus the message). */
export function correlationKey(event: JsonObject): string {
  const involved = (event['involvedObject'] ?? {}) as JsonObject
  const source = (event['source'] ?? {}) as JsonObject
  return [
    text(involved['kind']),
    text(involved['namespace']),
    text(involved['name']),
    text(involved['uid']),
    text(involved['apiVersion']),
    text(event['type']),
    text(event['reason']),
    text(event['message']),
    text(source['component']),
    text(source['host']),
  ].join('\u0000')
}

export class EventRecorder {
  private readonly client: ObjectClient
  private readonly log: (line: string) => void
  private readonly cacheMax: number
  /** Correlation key → the Event object that holds its count (least recently used first). */
  private readonly recorded = new Map<string, Recorded>()
  /** Correlation key → the last write queued for it. */
  private readonly tails = new Map<string, Promise<void>>()
  private inFlight = 0
  private idleWaiters: Array<() => void> = []

  constructor(client: ObjectClient, options: EventRecorderOptions) {
    this.client = client
    this.log = options.log
    this.cacheMax = options.cacheMax ?? CACHE_MAX_DEFAULT
  }

  /** Queues `event` (a complete core/v1 Event object with metadata.name and namespace). */
  record(event: JsonObject): void {
    const key = correlationKey(event)
    this.inFlight++
    const previous = this.tails.get(key) ?? Promise.resolve()
    const tail = previous.then(() => this.write(key, event)).finally(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
      this.inFlight--
      if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve()
    })
    this.tails.set(key, tail)
  }

  /** Events queued and not yet written (or given up on). */
  get pending(): number {
    return this.inFlight
  }

  /** Resolves once every queued event has been written or given up on. */
  flush(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private async write(key: string, event: JsonObject): Promise<void> {
    const metadata = (event['metadata'] ?? {}) as JsonObject
    const namespace = text(metadata['namespace']) || 'default'
    const earlier = this.recorded.get(key)
    try {
      if (earlier !== undefined && (await this.bump(earlier, event))) {
        this.remember(key, earlier)
        return
      }
      const created = await this.createUniquelyNamed(namespace, event)
      const createdMetadata = (created['metadata'] ?? {}) as JsonObject
      this.remember(key, { namespace, name: text(createdMetadata['name']) })
    } catch (error) {
      this.log(`event ${text(event['reason'])} about ${text(((event['involvedObject'] ?? {}) as JsonObject)['name'])} not recorded: ${(error as Error).message}`)
    }
  }

  /**
   * Creates the Event; a name taken by a different event about the same object in the same
   * millisecond (names are `<object>.<hex nanoseconds>`) moves on to the next nanosecond.
   */
  private async createUniquelyNamed(namespace: string, event: JsonObject): Promise<JsonObject> {
    const metadata = (event['metadata'] ?? {}) as JsonObject
    const name = text(metadata['name'])
    const match = /^(.*)\.([0-9a-f]+)$/.exec(name)
    for (let attempt = 0; ; attempt++) {
      const candidate = attempt === 0 || match === null ? name : `${match[1]}.${(BigInt(`0x${match[2]}`) + BigInt(attempt)).toString(16)}`
      try {
        return await this.client.create(EVENTS, namespace, { ...event, metadata: { ...metadata, name: candidate } })
      } catch (error) {
        const taken = error instanceof ApiError && error.code === 409
        // A name of another form has no next nanosecond to move on to.
        if (!taken || match === null || attempt + 1 >= EVENT_NAME_ATTEMPTS_MAX) throw error
      }
    }
  }

  /** Counts a repeat on the earlier Event; false when that Event is gone (expired or deleted). */
  private async bump(earlier: Recorded, event: JsonObject): Promise<boolean> {
    try {
      await this.client.objects.guaranteedUpdate(EVENTS, earlier.namespace, earlier.name, (current) => ({
        ...current,
        count: (typeof current['count'] === 'number' ? current['count'] : 1) + 1,
        lastTimestamp: event['lastTimestamp'] ?? current['lastTimestamp'] ?? null,
      }))
      return true
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return false
      throw error
    }
  }

  private remember(key: string, recorded: Recorded): void {
    this.recorded.delete(key)
    this.recorded.set(key, recorded)
    if (this.recorded.size > this.cacheMax) {
      const oldest = this.recorded.keys().next().value
      if (oldest !== undefined) this.recorded.delete(oldest)
    }
  }
}
