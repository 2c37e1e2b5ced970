// Goal: no acknowledged write is lost when replicas are killed with SIGKILL at arbitrary points
// and restarted from their disks, and every replica converges to the same state afterwards.
// Method: three real replica processes (TCP transport, LevelDB) on 127.0.0.1; writers put unique
// values through random replicas while a nemesis kills and restarts one replica at a time
// (bounded rounds, seeded choices). Afterwards every acknowledged write must be readable,
// linearizably, through every replica.
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import { LocalCluster, waitFor } from '../../node/src/local-cluster.ts'

const seed = Number(process.env['FLOTILLA_CRASH_SEED'] ?? Date.now() % 1_000_000)
const NEMESIS_ROUNDS = 6
const WRITERS = 4

t.test(`replicas killed with -9 lose no acknowledged write (seed ${seed})`, async (t) => {
  const random = new RandomXoshiro(seed)
  const cluster = new LocalCluster()
  t.teardown(() => cluster.destroy())
  await cluster.start(['r1', 'r2', 'r3'])
  await cluster.leader()

  const acknowledged = new Map<string, string>()
  let stop = false
  let attempts = 0
  const writer = async (writerId: number): Promise<void> => {
    for (let sequence = 0; !stop && sequence < 2000; sequence++) {
      const running = cluster.ids().filter((id) => cluster.isRunning(id))
      const target = running[(writerId + sequence) % running.length]!
      const key = `w${writerId}-${sequence}`
      attempts++
      if (await cluster.tryPut(target, key, `value-${key}`, 500)) acknowledged.set(key, `value-${key}`)
    }
  }
  const writers = Array.from({ length: WRITERS }, (_, i) => writer(i))

  for (let round = 0; round < NEMESIS_ROUNDS; round++) {
    const before = acknowledged.size
    await waitFor('writes to make progress', 15_000, async () => (acknowledged.size >= before + 20 ? true : undefined))
    const victim = cluster.ids()[random.int(0, 3)]!
    await cluster.kill(victim)
    const during = acknowledged.size
    await waitFor('writes to continue on the survivors', 15_000, async () => (acknowledged.size >= during + 10 ? true : undefined))
    cluster.startReplica(victim)
  }
  stop = true
  await Promise.all(writers)
  t.ok(acknowledged.size > NEMESIS_ROUNDS * 30, `${acknowledged.size} of ${attempts} writes acknowledged`)

  const leader = await cluster.leader()
  const commit = (await cluster.status(leader))!.commit
  for (const id of cluster.ids()) {
    await waitFor(`${id} to apply up to ${commit}`, 15_000, async () => ((await cluster.status(id))?.applied ?? 0) >= commit ? true : undefined)
    let missing = 0
    for (const [key, value] of acknowledged) {
      const response = await cluster.request(id, 'GET', `/v1/kv/${key}`, { timeoutMs: 2000 })
      if (response.status !== 200 || response.text !== value) missing++
    }
    t.equal(missing, 0, `${id} serves every acknowledged write`)
  }
})
