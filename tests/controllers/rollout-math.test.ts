// Goal: maxSurge/maxUnavailable resolve as in Kubernetes (surge rounds up, unavailability rounds
// down, 0/0 becomes 0/1), the new ReplicaSet grows only within the surge, and proportional
// scaling shares a scaling event by size. Method: tables, including the fencepost examples of
// Kubernetes' ResolveFenceposts comment.
import t from 'tap'
import { newReplicaSetReplicasRolling, replicaSetProportion, resolveFenceposts, valueFromIntOrPercent } from '../../node/src/controllers/rollout-math.ts'

t.test('valueFromIntOrPercent rounds percentages up for surge and down for unavailability', async (t) => {
  t.equal(valueFromIntOrPercent(3, 10, true), 3, 'integers are taken as they are')
  t.equal(valueFromIntOrPercent('25%', 10, true), 3, '2.5 rounds up')
  t.equal(valueFromIntOrPercent('25%', 10, false), 2, '2.5 rounds down')
  t.equal(valueFromIntOrPercent('25%', 1, true), 1)
  t.equal(valueFromIntOrPercent('25%', 1, false), 0)
  t.equal(valueFromIntOrPercent('100%', 7, false), 7)
  t.equal(valueFromIntOrPercent('3', 10, true), undefined, 'strings must be percentages')
  t.equal(valueFromIntOrPercent('x%', 10, true), undefined)
  t.equal(valueFromIntOrPercent(1.5, 10, true), undefined)
})

t.test('resolveFenceposts turns 0/0 into an unavailability of 1', async (t) => {
  // The examples from Kubernetes' ResolveFenceposts: (desired, maxUnavailable, maxSurge).
  t.same(resolveFenceposts('0%', '1%', 2), { maxSurge: 0, maxUnavailable: 1 }, '1% of 2 rounds down to 0, then becomes 1')
  t.same(resolveFenceposts('1%', '25%', 2), { maxSurge: 1, maxUnavailable: 0 })
  t.same(resolveFenceposts('1%', '0%', 1), { maxSurge: 1, maxUnavailable: 0 })
  t.same(resolveFenceposts(undefined, undefined, 5), { maxSurge: 0, maxUnavailable: 1 }, 'absent values are 0')
  t.same(resolveFenceposts('25%', '25%', 4), { maxSurge: 1, maxUnavailable: 1 }, 'the API defaults on 4 replicas')
})

t.test('newReplicaSetReplicasRolling grows within replicas + maxSurge and never past replicas', async (t) => {
  t.equal(newReplicaSetReplicasRolling({ desired: 10, maxSurge: 3, totalReplicas: 10, newReplicas: 0 }), 3)
  t.equal(newReplicaSetReplicasRolling({ desired: 10, maxSurge: 3, totalReplicas: 13, newReplicas: 3 }), 3, 'at the surge limit nothing is added')
  t.equal(newReplicaSetReplicasRolling({ desired: 10, maxSurge: 3, totalReplicas: 11, newReplicas: 8 }), 10, 'never more than desired')
  t.equal(newReplicaSetReplicasRolling({ desired: 3, maxSurge: 0, totalReplicas: 2, newReplicas: 0 }), 1, 'with no surge, only what old pods freed')
})

t.test('replicaSetProportion shares a scaling event by size and bounds it by what is left', async (t) => {
  const base = { deploymentReplicas: 20, deploymentMaxReplicas: 25, annotatedMaxReplicas: 13, toAdd: 12, added: 0 }
  // A ReplicaSet of 8 sized for 13 pods grows to round(8 * 25 / 13) = 15.
  t.equal(replicaSetProportion({ ...base, replicaSetReplicas: 8 }), 7)
  t.equal(replicaSetProportion({ ...base, replicaSetReplicas: 8, added: 10 }), 2, 'no more than what is left to add')
  t.equal(replicaSetProportion({ ...base, replicaSetReplicas: 0 }), 0, 'empty ReplicaSets are never scaled up proportionally')
  t.equal(replicaSetProportion({ ...base, replicaSetReplicas: 5, deploymentReplicas: 0, toAdd: -8 }), -5, 'scaling to zero takes a whole ReplicaSet')
  t.equal(replicaSetProportion({ replicaSetReplicas: 6, annotatedMaxReplicas: 12, deploymentReplicas: 5, deploymentMaxReplicas: 6, toAdd: -6, added: -4 }), -2, 'shrinking is bounded too')
})
