// Goal: joining is guarded and self-healing: a machine with the wrong secret is refused, a
// duplicate name and an unreachable bootstrap address fail with clear messages (and leave no data
// behind), and when a voter dies a healthy learner from another zone replaces it. Method: real
// daemons on 127.0.0.1 with a short dead-voter replacement time.
import t from 'tap'
import { existsSync } from 'node:fs'
import { decodeJoinToken, encodeJoinToken } from '../../node/src/cluster/join-token.ts'
import { waitFor } from '../../node/src/local-cluster.ts'
import { DaemonCluster } from './daemon-cluster.ts'

t.test('bad joins are refused with clear errors; a dead voter is replaced from another zone', async (t) => {
  const cluster = new DaemonCluster({ FLOTILLA_DEAD_VOTER_REPLACE_MS: '2000' })
  t.teardown(() => cluster.destroy())
  const token = await cluster.init('a', 'z1')
  await cluster.join('b', 'z2', token)
  await cluster.join('c', 'z3', token)

  const wrongSecret = decodeJoinToken(token)
  const secret = new Uint8Array(wrongSecret.secret)
  secret[0]! ^= 0xff
  const refused = await cluster.joinExpectingFailure('intruder', 'intruder', 'z1', encodeJoinToken({ ...wrongSecret, secret }))
  t.not(refused.code, 0, 'a machine with the wrong secret cannot join')
  t.match(refused.output, /join secret does not match/, 'and is told why')
  t.notOk(existsSync(cluster.dataDirectory('intruder')), 'and leaves no data directory behind')
  t.match(cluster.output('a') + cluster.output('b') + cluster.output('c'), /refused connection .*wrong or missing join secret/, 'members log the refusal')

  const duplicate = await cluster.joinExpectingFailure('second-b', 'b', 'z1', token)
  t.not(duplicate.code, 0, 'a duplicate node name is refused')
  t.match(duplicate.output, /Node name "b" is already used by another member/, 'with a clear message')
  t.notOk(existsSync(cluster.dataDirectory('second-b')), 'and leaves no data directory behind')

  const unreachable = encodeJoinToken({ ...decodeJoinToken(token), addresses: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWEwQKmkMvCkSSpHU6a1cpaZnmhhsFbtG8fj7NbFdPTZDf'] })
  const nobody = await cluster.joinExpectingFailure('lonely', 'lonely', 'z1', unreachable)
  t.not(nobody.code, 0, 'a token whose members are unreachable fails')
  t.match(nobody.output, /Cannot reach any member/, 'with a clear message')

  // A fourth machine in zone z1 becomes a learner (3 voters is the target with 4 members).
  await cluster.join('d', 'z1', token)
  await waitFor('d to be a caught-up learner', 20_000, async () => {
    const status = await cluster.status('a')
    return status?.members.find((member) => member.name === 'd')?.raftRole === 'learner' ? true : undefined
  })
  const leader = await cluster.leader()
  const victim = ['b', 'c'].find((name) => name !== leader)!
  await cluster.kill(victim)
  const replaced = await waitFor('d to replace the dead voter', 30_000, async () => {
    const status = await cluster.status(leader)
    const d = status?.members.find((member) => member.name === 'd')
    return d?.raftRole === 'voter' ? status : undefined
  })
  t.pass(`the learner in zone z1 replaced dead voter ${victim}`)
  const voters = replaced.members.filter((member) => member.raftRole === 'voter')
  t.ok(voters.length >= 3, 'the cluster is back to three healthy voters')
  await cluster.put(leader, 'after-replacement', 'ok')
  t.equal(await cluster.get('d', 'after-replacement'), 'ok', 'and keeps committing')

  // `flotilla leave` removes the node from the group and the registry, and stops its daemon.
  const left = await cluster.leave('d')
  t.equal(left.code, 0, `flotilla leave succeeds (${left.output.trim()})`)
  const after = await waitFor('d to disappear from the member list', 15_000, async () => {
    const status = await cluster.status(leader)
    return status !== undefined && !status.members.some((member) => member.name === 'd') ? status : undefined
  })
  t.notOk(after.members.some((member) => member.name === 'd'), 'd is no longer a member')
  t.notOk(cluster.isRunning('d'), "d's daemon has stopped")
  await cluster.put(leader, 'after-leave', 'ok')
  t.pass('the remaining members keep committing')
})
