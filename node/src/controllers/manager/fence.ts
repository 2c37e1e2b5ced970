/**
 * The leader fence: every write of a controller manager is conditional on the manager still
 * holding the controller fence it took for its Raft term, so a deposed leader's writes cannot
 * land after its successor has started.
 *
 * Why Raft alone is not enough, and what this adds. Raft already fences the leader's own log: a
 * proposal appended by the leader of term T either commits while T's leader still leads, or is
 * overwritten by the next leader's log and never applies. But the manager does not hold the log;
 * it calls `propose` on its node, and a node that has just become a follower *forwards* proposals
 * to the new leader, which would commit them. A manager that has not yet noticed its demotion
 * (it polls its node's role) could therefore still have writes committed in the new term, next
 * to the new leader's manager: double actions.
 *
 * The fence closes that gap the way etcd-based controllers do (a lease key plus transactions):
 * - On taking over, the manager writes the fence key with its term, compare-and-swap, and only if
 *   the stored term is older (a stale manager cannot take the fence back). The revision of that
 *   write, F, is its fencing token.
 * - Every write then becomes a transaction whose compares include "the fence key is still at
 *   revision F". A new manager's fence write moves the key, so every later write of the old one
 *   fails inside the state machine, on every replica alike, wherever it was proposed.
 * - The new manager lists its informers only after its fence write committed, so it sees every
 *   write of the old manager that will ever commit: those before the fence are in its list, and
 *   none can commit after it. Together with the resourceVersion and uid preconditions on every
 *   write, a reconcile never acts on a state the other manager is changing.
 *
 * A write refused by the fence throws FencedOutError; the manager stops at once.
 */
import { FlotillaError } from '../../../../lib/errors.ts'
import type { ObjectBackend } from '../../api/server/object-store.ts'
import type { StoreCommand, StoreResult, TxnCompare, TxnOp } from '../../store/commands.ts'

/** The key that holds the current controller manager's term. */
export const CONTROLLER_FENCE_KEY = '/registry/flotilla/controller-fence'

/** Another manager took the fence: this one's writes are refused. */
export class FencedOutError extends FlotillaError {
  override name = 'FencedOutError'
}

/** What the fence key holds. */
export interface FenceHolder {
  readonly term: number
  readonly holder: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const ACQUIRE_ATTEMPTS_MAX = 8

function decodeHolder(value: Uint8Array): FenceHolder | undefined {
  try {
    const parsed = JSON.parse(decoder.decode(value)) as Partial<FenceHolder>
    return typeof parsed.term === 'number' && typeof parsed.holder === 'string' ? { term: parsed.term, holder: parsed.holder } : undefined
  } catch {
    return undefined
  }
}

/** The fence holder recorded in the store, if any. */
export function fenceHolder(backend: ObjectBackend): FenceHolder | undefined {
  const item = backend.get(CONTROLLER_FENCE_KEY)
  return item === undefined ? undefined : decodeHolder(item.value)
}

/**
 * Takes the fence for `term` and returns a backend whose writes hold only while the fence does.
 * @throws FencedOutError when a manager of the same or a later term holds it.
 */
export async function acquireFence(backend: ObjectBackend, term: number, holder: string): Promise<FencedBackend> {
  for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS_MAX; attempt++) {
    await backend.readBarrier()
    const current = backend.get(CONTROLLER_FENCE_KEY)
    const stored = current === undefined ? undefined : decodeHolder(current.value)
    if (stored !== undefined && (stored.term > term || (stored.term === term && stored.holder !== holder))) {
      throw new FencedOutError(`the controller fence is held for term ${stored.term} by ${stored.holder}; this manager's term is ${term}`)
    }
    const value = encoder.encode(JSON.stringify({ term, holder } satisfies FenceHolder))
    const result = await backend.write({ op: 'put', key: CONTROLLER_FENCE_KEY, value, ifModRevision: current?.modRevision ?? 0 })
    if (result.ok && 'revision' in result) return new FencedBackend(backend, result.revision, term)
  }
  throw new FencedOutError(`could not take the controller fence for term ${term}: it kept changing`)
}

/** An ObjectBackend whose writes commit only while the fence is at `fenceRevision`. */
export class FencedBackend implements ObjectBackend {
  readonly term: number
  private readonly backend: ObjectBackend
  private readonly fenceRevision: number

  constructor(backend: ObjectBackend, fenceRevision: number, term: number) {
    this.backend = backend
    this.fenceRevision = fenceRevision
    this.term = term
  }

  /** True while no other manager has taken the fence (as far as this replica knows). */
  holds(): boolean {
    return this.backend.get(CONTROLLER_FENCE_KEY)?.modRevision === this.fenceRevision
  }

  readBarrier(): Promise<void> {
    return this.backend.readBarrier()
  }

  get(key: string): ReturnType<ObjectBackend['get']> {
    return this.backend.get(key)
  }

  range(prefix: string): ReturnType<ObjectBackend['range']> {
    return this.backend.range(prefix)
  }

  watch(request: Parameters<ObjectBackend['watch']>[0]): () => void {
    return this.backend.watch(request)
  }

  async write(command: StoreCommand): Promise<StoreResult> {
    if (command.op === 'compact') return this.backend.write(command)
    const fence: TxnCompare = { key: CONTROLLER_FENCE_KEY, modRevision: this.fenceRevision }
    if (command.op === 'txn') {
      const result = await this.backend.write({ ...command, compares: [fence, ...command.compares] })
      if (result.ok && 'succeeded' in result && !result.succeeded) this.checkFence()
      return result
    }
    const compares: TxnCompare[] = [fence]
    if (command.ifModRevision !== undefined) compares.push({ key: command.key, modRevision: command.ifModRevision })
    const op: TxnOp = command.op === 'put' ? { op: 'put', key: command.key, value: command.value } : { op: 'delete', key: command.key }
    const result = await this.backend.write({ op: 'txn', compares, success: [op], failure: [] })
    if (!result.ok || !('succeeded' in result)) return result
    if (result.succeeded) {
      const previous = result.results[0]?.previous
      return previous === undefined ? { ok: true, revision: result.revision } : { ok: true, revision: result.revision, previous }
    }
    this.checkFence()
    // The fence holds, so the key's own compare failed: the caller's compare-and-swap lost.
    return { ok: false, reason: 'conflict', currentModRevision: this.backend.get(command.key)?.modRevision ?? 0, revision: result.revision }
  }

  private checkFence(): void {
    // This replica has applied the failed transaction, so it has applied any fence write before it.
    if (!this.holds()) throw new FencedOutError(`the controller fence moved: the manager of term ${this.term} has been replaced`)
  }
}
