/**
 * The quick-start demo: a local 3-replica Raft cluster on 127.0.0.1 (three processes, each with
 * its own LevelDB), shown doing what matters: electing a leader, accepting writes on any node,
 * serving linearizable reads everywhere, surviving `kill -9` of the leader, and bringing the killed
 * replica back from its disk.
 *
 *   ./run demo [--keep]    (--keep leaves the cluster running until Ctrl-C)
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

interface Replica {
  readonly id: string
  readonly raftPort: number
  readonly httpPort: number
  process: ChildProcess | undefined
}

interface Status {
  id: string
  role: string
  leader: string
  term: number
  commit: number
  applied: number
  pid: number
}

const replicaMain = join(import.meta.dirname, 'replica-main.ts')
const dataRoot = mkdtempSync(join(tmpdir(), 'flotilla-demo-'))
const keep = process.argv.includes('--keep')

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

function start(replica: Replica, peers: string): void {
  replica.process = spawn(
    process.execPath,
    [replicaMain, '--id', replica.id, '--raft', `127.0.0.1:${replica.raftPort}`, '--http', `127.0.0.1:${replica.httpPort}`, '--peers', peers, '--data', join(dataRoot, replica.id)],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  )
}

async function request(replica: Replica, method: string, path: string, body?: string, timeoutMs = 1000): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${replica.httpPort}${path}`, {
    method,
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  })
  return { status: response.status, text: await response.text() }
}

async function status(replica: Replica): Promise<Status | undefined> {
  try {
    const response = await request(replica, 'GET', '/v1/status')
    return JSON.parse(response.text) as Status
  } catch {
    return undefined
  }
}

/** Polls until `probe` returns a value, or fails after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const value = await probe()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
}

async function findLeader(replicas: readonly Replica[]): Promise<Replica> {
  return waitFor('a leader', 10_000, async () => {
    for (const replica of replicas) {
      if (replica.process === undefined) continue
      const current = await status(replica)
      if (current?.role === 'leader') return replica
    }
    return undefined
  })
}

function line(text: string): void {
  process.stdout.write(`${text}\n`)
}

async function main(): Promise<void> {
  const replicas: Replica[] = []
  for (const id of ['n1', 'n2', 'n3']) replicas.push({ id, raftPort: await freePort(), httpPort: await freePort(), process: undefined })
  const peers = replicas.map((replica) => `${replica.id}=127.0.0.1:${replica.raftPort}`).join(',')
  line(`Flotilla Raft demo: 3 replicas on 127.0.0.1, data in ${dataRoot}`)
  for (const replica of replicas) start(replica, peers)

  const electionStart = performance.now()
  const leader = await findLeader(replicas)
  const leaderStatus = (await status(leader))!
  line(`1. ${leader.id} was elected leader of term ${leaderStatus.term} in ${Math.round(performance.now() - electionStart)} ms`)

  for (const [i, replica] of replicas.entries()) {
    const response = await request(replica, 'PUT', `/v1/kv/greeting-${i}`, `hello from ${replica.id}`)
    line(`2. PUT greeting-${i} on ${replica.id} (${replica === leader ? 'leader' : 'follower, forwarded'}) → ${response.status} ${response.text}`)
  }
  for (const replica of replicas) {
    const values = await Promise.all([0, 1, 2].map(async (i) => (await request(replica, 'GET', `/v1/kv/greeting-${i}`)).text))
    line(`3. linearizable reads on ${replica.id}: ${values.map((value) => JSON.stringify(value)).join(', ')}`)
  }

  line(`4. kill -9 the leader ${leader.id} (pid ${leaderStatus.pid})`)
  const killedAt = performance.now()
  leader.process!.kill('SIGKILL')
  leader.process = undefined
  const survivor = replicas.find((replica) => replica !== leader)!
  const written = await waitFor('a write on the survivors', 15_000, async () => {
    try {
      // A write forwarded to the dead leader is lost; like etcd's clients, give up after 250 ms.
      const response = await request(survivor, 'PUT', '/v1/kv/after-failover', 'still writable', 250)
      return response.status === 200 ? response : undefined
    } catch {
      return undefined
    }
  })
  const newLeader = await findLeader(replicas)
  line(`5. writes resumed ${Math.round(performance.now() - killedAt)} ms after the kill; new leader ${newLeader.id} (${written.text})`)

  start(leader, peers)
  const caughtUp = await waitFor(`${leader.id} to catch up`, 15_000, async () => {
    const current = await status(leader)
    const reference = await status(newLeader)
    return current !== undefined && reference !== undefined && current.applied >= reference.commit ? current : undefined
  })
  const value = await request(leader, 'GET', '/v1/kv/after-failover')
  line(`6. ${leader.id} restarted from its disk as ${caughtUp.role}, applied index ${caughtUp.applied}, reads "${value.text}"`)

  if (keep) {
    line('Cluster left running; press Ctrl-C to stop.')
    for (const replica of replicas) line(`   ${replica.id}: http://127.0.0.1:${replica.httpPort}/v1/status`)
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()))
  }
}

function cleanup(): void {
  rmSync(dataRoot, { recursive: true, force: true })
}

try {
  await main()
  line('Demo finished: leader election, writes through any node, linearizable reads, failover and recovery.')
} catch (error) {
  process.stderr.write(`demo failed: ${(error as Error).message}\n`)
  process.exitCode = 1
} finally {
  // Stop every replica still running, then remove the data.
  const { execFileSync } = await import('node:child_process')
  try {
    execFileSync('pkill', ['-KILL', '-f', dataRoot])
  } catch {
    // pkill exits 1 when nothing matched: nothing left to stop.
  }
  cleanup()
}
