/**
 * Expectations (client-go's ControllerExpectations, generalised): after a controller executes a
 * plan for an object, it must not reconcile that object again until its informers have seen the
 * plan's writes, or a ReplicaSet whose new pods are not yet in the cache would create them again.
 *
 * A plan's writes become one expectation per write:
 * - a create or update that committed at revision R is seen once the resource's informer has
 *   reached revision R (informers apply a resource's changes in revision order, so the write, and
 *   anything after it, is then in the cache — or already superseded, which is just as good);
 * - a delete is seen once the cache no longer holds that object (by uid) under its key; the
 *   ObjectStore does not report the revision of a delete, and absence is what matters.
 *
 * Expectations time out (`timeoutMs`) so that a lost event cannot stall an object for ever; the
 * controller then reconciles from whatever the cache holds, as client-go does after 5 minutes.
 */
import type { ResourceRef } from '../../api/server/object-store.ts'
import type { Informer } from './informer.ts'

/** One write a controller waits to see in its informers. */
export type Expectation =
  | { readonly type: 'revision'; readonly resource: ResourceRef; readonly revision: number }
  | { readonly type: 'gone'; readonly resource: ResourceRef; readonly key: string; readonly uid: string }

/** Finds the informer that watches a resource (undefined: not watched, nothing to wait for). */
export type InformerLookup = (resource: ResourceRef) => Informer | undefined

export class Expectations {
  private readonly pending = new Map<string, { expectations: readonly Expectation[]; deadlineMs: number }>()
  private readonly informerFor: InformerLookup
  private readonly timeoutMs: number

  constructor(informerFor: InformerLookup, timeoutMs: number) {
    this.informerFor = informerFor
    this.timeoutMs = timeoutMs
  }

  /** Records what `controllerKey`'s last plan wrote (replacing anything recorded before). */
  expect(controllerKey: string, expectations: readonly Expectation[], nowMs: number): void {
    if (expectations.length === 0) this.pending.delete(controllerKey)
    else this.pending.set(controllerKey, { expectations, deadlineMs: nowMs + this.timeoutMs })
  }

  /**
   * True when `controllerKey` may be reconciled: every write of its last plan is visible, or the
   * expectations timed out. Satisfied expectations are forgotten.
   */
  satisfied(controllerKey: string, nowMs: number): boolean {
    const entry = this.pending.get(controllerKey)
    if (entry === undefined) return true
    if (nowMs >= entry.deadlineMs || entry.expectations.every((expectation) => this.seen(expectation))) {
      this.pending.delete(controllerKey)
      return true
    }
    return false
  }

  /** Milliseconds until `controllerKey`'s expectations time out (0 when none are pending). */
  remainingMs(controllerKey: string, nowMs: number): number {
    const entry = this.pending.get(controllerKey)
    return entry === undefined ? 0 : Math.max(0, entry.deadlineMs - nowMs)
  }

  /** Forgets `controllerKey` (its object was deleted). */
  forget(controllerKey: string): void {
    this.pending.delete(controllerKey)
  }

  private seen(expectation: Expectation): boolean {
    const informer = this.informerFor(expectation.resource)
    if (informer === undefined) return true
    if (expectation.type === 'revision') return informer.revision >= expectation.revision
    const cached = informer.getByKey(expectation.key)
    const metadata = cached?.['metadata'] as { uid?: unknown } | undefined
    return cached === undefined || metadata?.uid !== expectation.uid
  }
}
