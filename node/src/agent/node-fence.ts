/**
 * Self-fencing of a node cut off from the cluster, so that a StatefulSet identity never runs twice.
 *
 * When a node goes silent, the leader marks it NotReady after the not-ready grace, evicts its pods
 * after the pod eviction timeout, and force-deletes them (pod GC) so that their controllers can
 * replace them elsewhere — a StatefulSet's replacement has the same name and identity. If the node
 * is not dead but cut off (a partition), its containers still run. Kubernetes avoids the double
 * identity by never force-deleting (the pods stay Terminating until a human acts); Flotilla fails
 * over in seconds instead, and makes that safe from the other side: a node that cannot hear a
 * majority of the Raft voters for `fenceAfterMs` stops the containers of pods that must run at most
 * once, well before the majority can have replaced them (not-ready grace + eviction timeout). When
 * the node hears a majority again and its replica of the store has caught up (a Raft read barrier),
 * it lifts the fence and its agent reconciles: pods that still exist and are still bound here
 * start again; the others are gone. A node whose process did not run for longer than the fence
 * delay (frozen, suspended) fences at once on waking, for the same reason.
 *
 * The signal is gossip liveness (heartbeats every second), the same one the leader uses to declare
 * nodes NotReady, so both sides of a symmetric partition reach their verdicts from the same facts.
 * A one-way partition in which this node still hears the majority but is not heard is not fenced.
 */
import type { Timer, Timers } from '../../../lib/timers.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { listAt, objectAt } from '../controllers/object-fields.ts'

/** Silence after which this node no longer counts a voter as heard. */
export const FENCE_HEARD_WINDOW_MS_DEFAULT = 2500
/** How long the node must have been cut off from a majority before it fences. */
export const FENCE_AFTER_MS_DEFAULT = 1500
const CHECK_INTERVAL_MS = 250

export interface NodeFenceOptions {
  readonly timers: Timers
  /** The Raft voters' ids, this node's own included when it is one. */
  readonly voters: () => readonly string[]
  readonly selfId: string
  /** How long `nodeId` has been silent on gossip, by this node's monotonic clock. */
  readonly silentForMs: (nodeId: string) => number
  readonly heardWindowMs?: number
  readonly fenceAfterMs?: number
  /**
   * Resolves once this node's replica of the store has caught up with the cluster (a Raft read
   * barrier): the fence lifts only then, so the agent does not restart a pod that the majority
   * has already deleted and replaced while this node was cut off. Rejects when it cannot tell.
   */
  readonly confirmCaughtUp?: () => Promise<void>
  /** Called when the fence goes up or comes down. */
  readonly onChange: (fenced: boolean) => void
  readonly log: (line: string) => void
}

/** Pods that must never run twice at once: those a StatefulSet owns. */
export function mustRunAtMostOnce(pod: JsonObject): boolean {
  return listAt(objectAt(pod['metadata'])['ownerReferences']).some((reference) => objectAt(reference)['kind'] === 'StatefulSet' && objectAt(reference)['controller'] === true)
}

/**
 * Whether this node hears a majority of the voters. A node that is not a voter counts the voters
 * only; a lone voter always hears a majority (itself).
 */
export function hearsMajority(voters: readonly string[], selfId: string, isHeard: (nodeId: string) => boolean): boolean {
  if (voters.length === 0) return true
  const heard = voters.filter((voter) => voter === selfId || isHeard(voter)).length
  return heard * 2 > voters.length
}

export class NodeFence {
  private readonly options: NodeFenceOptions
  private timer: Timer | undefined
  private cutOffSinceMs: number | undefined
  private lastCheckMs: number | undefined
  private confirming = false
  private up = false

  constructor(options: NodeFenceOptions) {
    this.options = options
  }

  /** True while the node is fenced: at-most-once pods must not run. */
  get fenced(): boolean {
    return this.up
  }

  start(): void {
    this.schedule()
  }

  stop(): void {
    this.timer?.cancel()
    this.timer = undefined
  }

  /** One check; exposed so tests can drive it. */
  check(): void {
    const { timers, voters, selfId, silentForMs } = this.options
    const windowMs = this.options.heardWindowMs ?? FENCE_HEARD_WINDOW_MS_DEFAULT
    const fenceAfterMs = this.options.fenceAfterMs ?? FENCE_AFTER_MS_DEFAULT
    const nowMs = timers.monotonicMs()
    const stalledMs = this.lastCheckMs === undefined ? 0 : nowMs - this.lastCheckMs - CHECK_INTERVAL_MS
    this.lastCheckMs = nowMs
    // A process that did not run for longer than the fence delay (frozen, suspended, starved) may
    // have been declared dead meanwhile, whatever it hears now: it fences until it has caught up.
    if (!this.up && stalledMs >= fenceAfterMs) {
      this.set(true, `the node did not run for ${stalledMs} ms: fenced until it has caught up with the cluster`)
      return
    }
    const majority = hearsMajority(voters(), selfId, (nodeId) => silentForMs(nodeId) <= windowMs)
    if (majority) {
      this.cutOffSinceMs = undefined
      if (this.up) this.lift()
      return
    }
    this.cutOffSinceMs ??= nowMs
    if (!this.up && nowMs - this.cutOffSinceMs >= fenceAfterMs) {
      this.set(true, `cannot hear a majority of the voters: fenced, stopping StatefulSet pods so their identities cannot run twice`)
    }
  }

  /** Lifts the fence once the store has caught up (or at once without a confirmation). */
  private lift(): void {
    const confirm = this.options.confirmCaughtUp
    if (confirm === undefined) {
      this.set(false, 'hears a majority of the voters again: fence lifted')
      return
    }
    if (this.confirming) return
    this.confirming = true
    confirm().then(
      () => {
        this.confirming = false
        // Still connected (the check may have run meanwhile): lift.
        if (this.up && this.cutOffSinceMs === undefined) this.set(false, 'hears a majority of the voters and has caught up: fence lifted')
      },
      (error: Error) => {
        this.confirming = false
        this.options.log(`node fence: not lifted yet, catching up failed: ${error.message}`)
      },
    )
  }

  private set(fenced: boolean, why: string): void {
    this.up = fenced
    this.options.log(`node fence: ${why}`)
    this.options.onChange(fenced)
  }

  private schedule(): void {
    this.timer = this.options.timers.after(CHECK_INTERVAL_MS, () => {
      this.check()
      this.schedule()
    })
  }
}
