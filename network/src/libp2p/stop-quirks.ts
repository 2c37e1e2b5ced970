/**
 * Workarounds for timers that libp2p 3.3.11 and @libp2p/gossipsub 17.1.1 leave armed after
 * `node.stop()` resolves. Each keeps the process alive for up to a second and then runs code
 * against a stopped node; Flotilla promises that a stopped host holds nothing in the event loop.
 *
 * Both reach into private fields, so both are written to do nothing when the fields are not
 * there (a newer release that fixed the bug, or renamed the field).
 */
import type { Libp2p } from '@libp2p/interface'

interface HeartbeatStatus {
  heartbeatTimeout?: ReturnType<typeof setTimeout>
}

/**
 * Gossipsub's `stop()` replaces its `status` object before clearing the heartbeat timer stored
 * in it, so the pending heartbeat (up to one interval away) survives. Call this before
 * `node.stop()` and the returned function after it: it clears the timer held by the old status
 * object, including one rescheduled by a heartbeat that was running while the node stopped.
 */
export function captureGossipsubHeartbeat(pubsub: unknown): () => void {
  const status = (pubsub as { status?: HeartbeatStatus }).status
  return () => {
    if (status !== undefined && typeof status === 'object') clearTimeout(status.heartbeatTimeout)
  }
}

/**
 * The address manager debounces peer-store updates by 1 s and is not stopped with the node; the
 * listener closing during `stop()` arms that debounce. Call after `node.stop()`.
 */
export function cancelAddressManagerDebounce(node: Libp2p): void {
  try {
    const components = (node as unknown as { components?: { addressManager?: unknown } }).components
    const addressManager = components?.addressManager as { _updatePeerStoreAddresses?: { stop?: () => void } }
    addressManager?._updatePeerStoreAddresses?.stop?.()
  } catch {
    // The components proxy throws for a missing component: nothing to cancel.
  }
}

/**
 * Waits for the handles that stopping leaves to go, on their own and soon:
 * - it-queue debounces its 'empty' and 'idle' events with 1 ms timers, armed as libp2p's queues
 *   drain during stop; a 2 ms timer armed after them fires after them;
 * - a closed net.Server emits 'close' a tick before libuv releases its handle (in the next
 *   close-callbacks phase); two check phases later that phase has run, wherever in the loop we
 *   are.
 */
export async function letClosedHandlesGo(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 2))
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve))
}
