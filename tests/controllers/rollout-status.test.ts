// Goal: deploymentRolloutStatus says what `kubectl rollout status` says, in its order of checks
// and with its exact words. Method: one Deployment status per branch.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { deploymentRolloutStatus } from '../../node/src/controllers/rollout-status.ts'
import { deploymentFixture } from './fixtures.ts'

const withStatus = (status: JsonObject, generation = 1): JsonObject => deploymentFixture({ replicas: 3, generation, status, annotations: { 'deployment.kubernetes.io/revision': '2' } })
const timedOut = { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }

t.test('deploymentRolloutStatus walks kubectl checks in order', async (t) => {
  const cases: Array<[string, JsonObject, number, string, boolean]> = [
    ['spec not yet observed', { observedGeneration: 1 }, 2, 'Waiting for deployment spec update to be observed...', false],
    ['deadline exceeded', { observedGeneration: 1, conditions: [timedOut] }, 1, 'deployment "web" exceeded its progress deadline', false],
    ['updating', { observedGeneration: 1, replicas: 4, updatedReplicas: 1 }, 1, 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...', false],
    ['old pods left', { observedGeneration: 1, replicas: 4, updatedReplicas: 3 }, 1, 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...', false],
    ['not yet available', { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 2 }, 1, 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...', false],
    ['done', { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }, 1, 'deployment "web" successfully rolled out', true],
  ]
  for (const [name, status, generation, message, done] of cases) {
    const result = deploymentRolloutStatus(withStatus(status, generation))
    t.equal(result.message, message, name)
    t.equal(result.done, done, `${name}: done`)
    t.equal(result.failed, name === 'deadline exceeded', `${name}: failed`)
  }
})

t.test('deploymentRolloutStatus with --revision fails on another revision', async (t) => {
  const deployment = withStatus({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 })
  t.equal(deploymentRolloutStatus(deployment, 2).done, true)
  t.same(deploymentRolloutStatus(deployment, 3), { done: false, failed: true, message: 'desired revision (3) is different from the running revision (2)' })
})
