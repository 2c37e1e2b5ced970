// Goal: pods count as active, ready and available exactly as Kubernetes counts them, and surplus
// pods are deleted least valuable first. Method: crafted pods at fixed times.
import t from 'tap'
import { comparePodsForDeletion, isPodActive, isPodAvailable, isPodReady, podAvailableAtMs } from '../../node/src/controllers/pods.ts'
import { nameOf } from '../../node/src/controllers/object-fields.ts'
import { podFixture, T0_MS } from './fixtures.ts'

t.test('isPodActive excludes finished and terminating pods', async (t) => {
  t.ok(isPodActive(podFixture({ name: 'a' })))
  t.notOk(isPodActive(podFixture({ name: 'b', phase: 'Succeeded' })))
  t.notOk(isPodActive(podFixture({ name: 'c', phase: 'Failed' })))
  t.notOk(isPodActive(podFixture({ name: 'd', readySinceMs: T0_MS, deleting: true })))
})

t.test('isPodAvailable needs readiness for longer than minReadySeconds', async (t) => {
  const pod = podFixture({ name: 'a', readySinceMs: T0_MS })
  t.ok(isPodReady(pod))
  t.ok(isPodAvailable(pod, 0, T0_MS), 'without minReadySeconds a ready pod is available at once')
  t.notOk(isPodAvailable(pod, 5, T0_MS + 5000), 'exactly minReadySeconds is not yet enough (strictly before now)')
  t.ok(isPodAvailable(pod, 5, T0_MS + 5001))
  t.equal(podAvailableAtMs(pod, 5), T0_MS + 5001)
  t.equal(podAvailableAtMs(podFixture({ name: 'b' }), 5), undefined, 'never while not ready')
  t.notOk(isPodAvailable(podFixture({ name: 'b' }), 0, T0_MS + 1e9))
})

t.test('comparePodsForDeletion puts the least valuable pods first', async (t) => {
  const pods = [
    podFixture({ name: 'ready-long', readySinceMs: T0_MS - 60_000 }),
    podFixture({ name: 'ready-short', readySinceMs: T0_MS - 1_000 }),
    podFixture({ name: 'running-not-ready', phase: 'Running' }),
    podFixture({ name: 'pending', phase: 'Pending' }),
    podFixture({ name: 'unscheduled', scheduled: false }),
    podFixture({ name: 'ready-short-restarting', readySinceMs: T0_MS - 1_000, restarts: 4 }),
  ]
  t.same(pods.sort(comparePodsForDeletion).map(nameOf), ['unscheduled', 'pending', 'running-not-ready', 'ready-short-restarting', 'ready-short', 'ready-long'])
})

t.test('comparePodsForDeletion prefers newer pods among equals, then names', async (t) => {
  const older = podFixture({ name: 'b-older', createdMs: T0_MS - 10_000 })
  const newer = podFixture({ name: 'a-newer', createdMs: T0_MS })
  const twin = podFixture({ name: 'c-newer', createdMs: T0_MS })
  t.same([older, twin, newer].sort(comparePodsForDeletion).map(nameOf), ['a-newer', 'c-newer', 'b-older'])
})
