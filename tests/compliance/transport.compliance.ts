/**
 * The behaviour every Transport must show, run against each implementation (see
 * tests/network/transport.test.ts). The contract itself is documented in
 * network/src/transport.ts; each case here names the clause it checks.
 *
 * Timing: every wait polls a condition under a deadline. Nothing sleeps for a fixed time in
 * place of readiness, so the suite is as fast as the implementation and only fails slow ones.
 */
import type { Test } from 'tap'
import { TimeoutError } from '../../lib/errors.ts'
import { RandomXoshiro } from '../../lib/random.ts'
import type { PeerId, Transport } from '../../network/src/transport.ts'
import { waitFor as waitForCondition } from '../../lib/poll.ts'

/** What a suite run needs from an implementation. */
export interface TransportHarness {
  /** A started transport for `id`. Called again with an id whose transport stopped: a restart. */
  make(id: PeerId): Promise<Transport>
  /** Makes every transport in the list a peer of every other (replacing their peer sets). */
  connect(transports: readonly Transport[]): void
  /** Stops every transport made. Idempotent. */
  teardown(): Promise<void>
}

const DEADLINE_MS = 15_000
const POLL_MS = 2

/** Resolves once `condition` holds; throws TimeoutError after `deadlineMs`. */
export async function waitFor(what: string, condition: () => boolean, deadlineMs = DEADLINE_MS): Promise<void> {
  await waitForCondition(what, deadlineMs, () => (condition() ? true : undefined), POLL_MS)
}

export interface Received {
  readonly from: PeerId
  readonly frame: Uint8Array
}

/** Installs a handler on `transport` that appends every frame to the returned list. */
export function record(transport: Transport): Received[] {
  const received: Received[] = []
  transport.onFrame((from, frame) => received.push({ from, frame }))
  return received
}

/** A frame carrying a sequence number in its first 4 bytes, padded to `bytes`. */
export function seqFrame(seq: number, bytes = 16): Uint8Array {
  const frame = new Uint8Array(Math.max(4, bytes))
  new DataView(frame.buffer).setUint32(0, seq, false)
  return frame
}

export function seqOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0, false)
}

const text = new TextEncoder()
const untext = new TextDecoder()

/**
 * Registers the compliance cases for one implementation as subtests of `t`, each with a fresh
 * harness from `setup`.
 */
export function transportCompliance(t: Test, name: string, setup: () => Promise<TransportHarness>): void {
  const run = (title: string, body: (t: Test, harness: TransportHarness) => Promise<void>): void => {
    t.test(`${name}: ${title}`, async (t) => {
      const harness = await setup()
      t.teardown(() => harness.teardown())
      await body(t, harness)
    })
  }

  run('delivers frames with the sender id', async (t, h) => {
    const [a, b, c] = [await h.make('a'), await h.make('b'), await h.make('c')]
    const atA = record(a)
    const atC = record(c)
    h.connect([a, b, c])
    t.ok(a.send('c', text.encode('from a')))
    t.ok(b.send('c', text.encode('from b')))
    t.ok(c.send('a', text.encode('from c')))
    await waitFor('two frames at c', () => atC.length === 2)
    await waitFor('one frame at a', () => atA.length === 1)
    const byText = new Map(atC.map((r) => [untext.decode(r.frame), r.from]))
    t.same(Object.fromEntries(byText), { 'from a': 'a', 'from b': 'b' })
    t.equal(atA[0]?.from, 'c')
    t.equal(untext.decode(atA[0]?.frame), 'from c')
  })

  run('keeps order per sender while senders interleave', async (t, h) => {
    const [a, b, c] = [await h.make('a'), await h.make('b'), await h.make('c')]
    const atC = record(c)
    h.connect([a, b, c])
    const count = 500
    let accepted = 0
    for (let seq = 0; seq < count; seq++) {
      if (a.send('c', seqFrame(seq))) accepted++
      if (b.send('c', seqFrame(seq, 100))) accepted++
    }
    t.equal(accepted, 2 * count, 'every send accepted')
    await waitFor('every frame at c', () => atC.length === 2 * count)
    for (const sender of ['a', 'b']) {
      const seqs = atC.filter((r) => r.from === sender).map((r) => seqOf(r.frame))
      t.same(seqs, Array.from({ length: count }, (_, i) => i), `frames from ${sender} in order`)
    }
  })

  run('delivers 10,000 small frames complete and in order', async (t, h) => {
    const [a, b] = [await h.make('a'), await h.make('b')]
    const atB = record(b)
    h.connect([a, b])
    const count = 10_000
    let accepted = 0
    for (let seq = 0; seq < count; seq++) if (a.send('b', seqFrame(seq, 24))) accepted++
    t.equal(accepted, count, 'every send accepted within the default bounds')
    await waitFor('10,000 frames at b', () => atB.length === count)
    let inOrder = true
    for (let i = 0; i < count; i++) if (seqOf(atB[i]!.frame) !== i || atB[i]!.from !== 'a') inOrder = false
    t.ok(inOrder, 'all from a, in order')
    t.equal(a.stats().sentFrames, count)
    t.equal(b.stats().receivedFrames, count)
    t.equal(a.stats().queuedBytes, 0, 'nothing left queued')
  })

  run('delivers a 4 MiB frame intact', async (t, h) => {
    const [a, b] = [await h.make('a'), await h.make('b')]
    const atB = record(b)
    h.connect([a, b])
    const random = new RandomXoshiro(4)
    const big = new Uint8Array(4 * 1024 * 1024)
    const words = new Uint32Array(big.buffer)
    for (let i = 0; i < words.length; i++) words[i] = random.uint32()
    const expected = new Uint8Array(big)
    t.ok(a.send('b', big))
    t.ok(a.send('b', text.encode('after')), 'a small frame behind it')
    await waitFor('both frames at b', () => atB.length === 2)
    t.equal(atB[0]?.frame.byteLength, expected.byteLength)
    t.ok(Buffer.from(atB[0]!.frame).equals(expected), 'bytes intact')
    t.equal(untext.decode(atB[1]?.frame), 'after')
  })

  run('refuses sends to unknown peers', async (t, h) => {
    const [a, b] = [await h.make('a'), await h.make('b')]
    const atB = record(b)
    t.notOk(a.send('b', text.encode('before setPeers')), 'no peers yet')
    h.connect([a, b])
    t.notOk(a.send('nobody', text.encode('x')), 'an id never configured')
    t.notOk(a.send('a', text.encode('x')), 'its own id')
    t.equal(a.stats().droppedFrames, 3)
    t.ok(a.send('b', text.encode('known')))
    await waitFor('the frame at b', () => atB.length === 1)
    a.setPeers(new Map())
    t.notOk(a.send('b', text.encode('x')), 'a peer removed by setPeers')
    t.equal(a.stats().droppedFrames, 4)
  })

  run('stop() leaves no handles behind', async (t, h) => {
    const baseline = resourceCounts()
    const [a, b] = [await h.make('a'), await h.make('b')]
    const atA = record(a)
    const atB = record(b)
    h.connect([a, b])
    t.ok(a.send('b', text.encode('ping')))
    t.ok(b.send('a', text.encode('pong')))
    await waitFor('frames both ways', () => atA.length === 1 && atB.length === 1)
    // Something queued for a peer that is gone, so a reconnect timer would be pending.
    await b.stop()
    a.send('b', text.encode('into the void'))
    await h.teardown()
    t.notOk(a.send('b', text.encode('x')), 'send after stop is refused')
    // Checked at once, not polled: stop() promises that everything is closed when it resolves.
    const leaked = [...resourceCounts()].filter(
      ([type, count]) => WATCHED_RESOURCES.has(type) && count > (baseline.get(type) ?? 0),
    )
    t.same(leaked, [], 'no sockets, servers, timers or immediates left')
  })

  run('reaches a restarted peer (a new incarnation)', async (t, h) => {
    const a = await h.make('a')
    const b1 = await h.make('b')
    const atB1 = record(b1)
    h.connect([a, b1])
    t.ok(a.send('b', seqFrame(0)))
    await waitFor('first frame at the first incarnation', () => atB1.length === 1)
    await b1.stop()
    const b2 = await h.make('b')
    const atB2 = record(b2)
    h.connect([a, b2])
    // Frames sent while the break is still being noticed may be lost, so keep sending until the
    // new incarnation has some; those that arrive must still be in order.
    let seq = 1
    const deadline = performance.now() + DEADLINE_MS
    while (atB2.length < 3) {
      if (performance.now() > deadline) throw new TimeoutError('no frames reached the restarted peer')
      a.send('b', seqFrame(seq++))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const seqs = atB2.map((r) => seqOf(r.frame))
    t.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
      'in order, no duplicates',
    )
    t.ok(
      atB2.every((r) => r.from === 'a'),
      'sender is a',
    )
    t.equal(atB1.length, 1, 'the stopped incarnation got nothing more')
    const atA = record(a)
    t.ok(b2.send('a', text.encode('back')))
    await waitFor('the new incarnation can send', () => atA.length === 1)
  })
}

/** Handle types that a transport could leak. */
const WATCHED_RESOURCES = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWRAP', 'Timeout', 'Immediate'])

function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1)
  return counts
}
