// Goal: the Deployment and ReplicaSet controllers, run together, converge and keep their
// promises: scaling converges; a rolling update from one template to another ends with every pod
// on the new template while, at every step, available pods ≥ replicas − maxUnavailable and
// running pods ≤ replicas + maxSurge; Recreate never has old and new pods at once; a rollback
// reuses the old ReplicaSet with revision max+1; a paused Deployment does not roll (but scales);
// revisionHistoryLimit is honoured; a release whose pods never become ready stalls within
// maxUnavailable, times out (ProgressDeadlineExceeded) and can be reverted; a converged world
// plans no writes.
// Method: a seeded in-memory world (controller-world.ts) where pods become Ready after seeded
// delays and terminate after seeded grace periods, stepped with a simulated clock. Every option
// comes from the seed. The seed range is printed; FLOTILLA_SIM_SEED=<n> replays one seed and
// FLOTILLA_CONTROLLER_SIM_SEEDS=<n> changes how many run (default 200).
import t from 'tap'
import { assert } from '../../lib/assert.ts'
import { RandomXoshiro, type Random } from '../../lib/random.ts'
import type { JsonObject, JsonValue } from '../../node/src/api/machinery/canonical.ts'
import { REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION } from '../../node/src/controllers/deployment-revisions.ts'
import { annotationsOf, controllerRefOf, isBeingDeleted, metadataOf, nameOf, specOf, statusOf, uidOf } from '../../node/src/controllers/object-fields.ts'
import { DEPLOYMENTS, PODS, REPLICA_SETS, planWrites } from '../../node/src/controllers/plan.ts'
import { isPodActive, isPodAvailable } from '../../node/src/controllers/pods.ts'
import { deploymentRolloutStatus } from '../../node/src/controllers/rollout-status.ts'
import { ControllerWorld } from './controller-world.ts'
import { deploymentFixture, T0_MS } from './fixtures.ts'

const NAME = 'web'
/** An image whose pods never become Ready. */
const BROKEN_IMAGE = 'app:broken'
/** The progress deadline set for the broken release. */
const DEADLINE_SECONDS = 10
const STEP_BUDGET = 400

/** Everything one run varies, drawn from its seed. */
interface SimOptions {
  readonly replicas: number
  readonly recreate: boolean
  readonly maxSurge: JsonValue
  readonly maxUnavailable: JsonValue
  readonly minReadySeconds: number
  readonly revisionHistoryLimit: number
  readonly podReadyDelayMsMax: number
  readonly podGraceMsMax: number
  readonly scaledReplicas: number
}

function pick<T>(random: Random, values: readonly T[]): T {
  const value = values[random.int(0, values.length)]
  assert(value !== undefined, 'pick from a non-empty list')
  return value
}

function optionsFromSeed(random: Random): SimOptions {
  const maxSurge = pick<JsonValue>(random, [0, 1, 2, '25%', '50%', '100%'])
  let maxUnavailable = pick<JsonValue>(random, [0, 1, '25%', '50%'])
  // Validation forbids maxSurge and maxUnavailable both 0.
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1
  return {
    replicas: random.int(1, 7),
    recreate: random.chance(0.25),
    maxSurge,
    maxUnavailable,
    minReadySeconds: random.int(0, 3),
    revisionHistoryLimit: random.int(0, 4),
    podReadyDelayMsMax: random.int(0, 6) * 1000,
    podGraceMsMax: random.int(0, 4) * 1000,
    scaledReplicas: random.int(0, 8),
  }
}

/** The bounds the rolling update promises, computed here independently of rollout-math.ts. */
function bounds(options: SimOptions, replicas: number): { surge: number; unavailable: number } {
  const resolve = (value: JsonValue, roundUp: boolean): number => {
    if (typeof value === 'number') return value
    const exact = (Number(String(value).replace('%', '')) * replicas) / 100
    return roundUp ? Math.ceil(exact) : Math.floor(exact)
  }
  const surge = resolve(options.maxSurge, true)
  let unavailable = resolve(options.maxUnavailable, false)
  if (surge === 0 && unavailable === 0) unavailable = 1
  return { surge, unavailable: Math.min(unavailable, replicas) }
}

function imageOf(object: JsonObject): string {
  const containers = specOf(object)['containers'] as JsonObject[]
  return String(containers[0]?.['image'])
}

class Run {
  readonly world: ControllerWorld
  readonly options: SimOptions
  steps = 0

  constructor(seed: number) {
    const random = new RandomXoshiro(seed)
    this.options = optionsFromSeed(random)
    this.world = new ControllerWorld({
      random,
      startMs: T0_MS,
      stepMs: 1000,
      podReadyDelayMsMax: this.options.podReadyDelayMsMax,
      podGraceMsMax: this.options.podGraceMsMax,
      brokenImages: new Set([BROKEN_IMAGE]),
    })
  }

  deployment(): JsonObject {
    const deployment = this.world.get(DEPLOYMENTS, NAME)
    assert(deployment !== undefined, 'the deployment exists')
    return deployment
  }

  replicaSets(): JsonObject[] {
    const uid = uidOf(this.deployment())
    return this.world.list(REPLICA_SETS).filter((rs) => controllerRefOf(rs)?.['uid'] === uid)
  }

  pods(): JsonObject[] {
    return this.world.list(PODS)
  }

  /** Steps until `converged` holds for `image` and `replicas`, checking `invariant` after every half-step. */
  converge(what: string, image: string, replicas: number, invariant: () => void = () => {}, rolledOut = true): void {
    for (let step = 0; step < STEP_BUDGET; step++) {
      if (this.isConverged(image, replicas, rolledOut)) return
      this.world.runControllers()
      invariant()
      this.world.runKubelet()
      invariant()
      this.world.nowMs += 1000
      this.steps++
    }
    throw new Error(`${what}: no convergence within ${STEP_BUDGET} steps (${this.describe()})`)
  }

  /** Converged: the pods are as asked, and (unless paused mid-change) kubectl calls it rolled out. */
  isConverged(image: string, replicas: number, rolledOut: boolean): boolean {
    const pods = this.pods()
    if (pods.length !== replicas) return false // Terminating pods must be gone too.
    const minReadySeconds = this.options.minReadySeconds
    if (!pods.every((pod) => isPodActive(pod) && isPodAvailable(pod, minReadySeconds, this.world.nowMs) && imageOf(pod) === image)) return false
    const deployment = this.deployment()
    if (rolledOut && !deploymentRolloutStatus(deployment).done) return false
    // Converged means quiet: neither controller would write anything.
    if (planWrites(this.world.planDeployment(deployment)).length > 0) return false
    return this.replicaSets().every((rs) => planWrites(this.world.planReplicaSet(rs)).length === 0)
  }

  describe(): string {
    const sets = this.replicaSets().map((rs) => `${nameOf(rs)}=${String(specOf(rs)['replicas'])}`).join(',')
    const pods = this.pods().map((pod) => `${imageOf(pod)}${isBeingDeleted(pod) ? '(terminating)' : statusOf(pod)['phase'] === 'Running' ? '' : '(pending)'}`).join(',')
    return `at ${this.steps} steps: replicasets ${sets}; pods ${pods}; status ${JSON.stringify(statusOf(this.deployment()))}`
  }

  /** The rollout invariants of the strategy, for `replicas` desired. */
  rolloutInvariant(replicas: number, fromImage: string, toImage: string): () => void {
    if (this.options.recreate) {
      return () => {
        const images = new Set(this.pods().map(imageOf))
        if (images.has(fromImage) && images.has(toImage)) throw new Error(`Recreate ran old and new pods together (${this.describe()})`)
      }
    }
    const { surge, unavailable } = bounds(this.options, replicas)
    return () => {
      const running = this.pods().filter(isPodActive)
      const available = running.filter((pod) => isPodAvailable(pod, this.options.minReadySeconds, this.world.nowMs)).length
      if (available < replicas - unavailable) throw new Error(`available ${available} < ${replicas} - maxUnavailable ${unavailable} (${this.describe()})`)
      if (running.length > replicas + surge) throw new Error(`running ${running.length} > ${replicas} + maxSurge ${surge} (${this.describe()})`)
    }
  }
}

function createDeployment(run: Run): void {
  const { options } = run
  const deployment = deploymentFixture({
    name: NAME,
    replicas: options.replicas,
    image: 'app:v1',
    ...(options.recreate ? { strategy: 'Recreate' as const } : { maxSurge: options.maxSurge, maxUnavailable: options.maxUnavailable }),
    minReadySeconds: options.minReadySeconds,
    revisionHistoryLimit: options.revisionHistoryLimit,
  })
  const { uid: _uid, creationTimestamp: _created, generation: _generation, resourceVersion: _version, ...metadata } = metadataOf(deployment)
  run.world.create(DEPLOYMENTS, 'default', { ...deployment, metadata })
}

function checkScaling(run: Run): void {
  const { replicas, scaledReplicas } = run.options
  run.world.patchDeploymentSpec(NAME, (spec) => ({ ...spec, replicas: scaledReplicas }))
  run.converge(`scale to ${scaledReplicas}`, 'app:v1', scaledReplicas)
  run.world.patchDeploymentSpec(NAME, (spec) => ({ ...spec, replicas }))
  run.converge(`scale back to ${replicas}`, 'app:v1', replicas)
}

function rollTo(run: Run, fromImage: string, toImage: string, replicas: number): void {
  run.world.setImage(NAME, toImage)
  run.converge(`roll ${fromImage} → ${toImage}`, toImage, replicas, run.rolloutInvariant(replicas, fromImage, toImage))
}

/** Rolls back to revision 2 (app:v2) after app:v3: the same ReplicaSet, revision 4. */
function checkRollback(run: Run): void {
  const before = run.replicaSets()
  const target = before.find((rs) => annotationsOf(rs)[REVISION_ANNOTATION] === '2')
  if (run.options.revisionHistoryLimit === 0) {
    assert(target === undefined, 'revisionHistoryLimit 0 keeps no old ReplicaSet to roll back to')
    return
  }
  assert(target !== undefined, `revision 2 is kept (${run.describe()})`)
  run.world.undo(NAME, 2)
  run.converge('undo to revision 2', 'app:v2', run.options.replicas, run.rolloutInvariant(run.options.replicas, 'app:v3', 'app:v2'))
  const reused = run.replicaSets().find((rs) => uidOf(rs) === uidOf(target))
  assert(reused !== undefined, 'the revision 2 ReplicaSet still exists')
  const annotations = annotationsOf(reused)
  assert(annotations[REVISION_ANNOTATION] === '4', `the reused ReplicaSet gets revision max+1, got ${annotations[REVISION_ANNOTATION]}`)
  assert(annotations[REVISION_HISTORY_ANNOTATION] === '2', `its old revision moves to the history, got ${annotations[REVISION_HISTORY_ANNOTATION]}`)
  assert(annotationsOf(run.deployment())[REVISION_ANNOTATION] === '4', 'the Deployment shows the new revision')
  assert(run.replicaSets().every((rs) => before.some((old) => uidOf(old) === uidOf(rs))), 'no ReplicaSet was created for the rollback')
}

/** Paused: a template change does not roll, a scale does; resuming rolls. */
function checkPause(run: Run, fromImage: string): void {
  const replicas = run.options.replicas + 1
  run.world.patchDeploymentSpec(NAME, (spec) => ({ ...spec, paused: true }))
  const setsBefore = run.replicaSets().map(uidOf).sort()
  run.world.setImage(NAME, 'app:v5')
  run.world.patchDeploymentSpec(NAME, (spec) => ({ ...spec, replicas }))
  // Paused with a changed template, kubectl reports "0 out of N new replicas" for ever.
  run.converge('scale while paused', fromImage, replicas, () => {}, false)
  for (let step = 0; step < 10; step++) run.world.step()
  assert(run.pods().every((pod) => imageOf(pod) === fromImage), `a paused Deployment does not roll (${run.describe()})`)
  // Cleanup beyond revisionHistoryLimit may still delete old ReplicaSets while paused.
  assert(run.replicaSets().every((rs) => setsBefore.includes(uidOf(rs))), `a paused Deployment creates no ReplicaSet (${run.describe()})`)
  run.world.patchDeploymentSpec(NAME, (spec) => ({ ...spec, paused: false }))
  run.converge('resume', 'app:v5', replicas, run.rolloutInvariant(replicas, fromImage, 'app:v5'))
}

/**
 * A release whose pods never become Ready: a rolling update stalls without taking more than
 * maxUnavailable pods away, the Deployment reports ProgressDeadlineExceeded (kubectl fails), and
 * reverting the template recovers.
 */
function checkStuckRollout(run: Run, fromImage: string): void {
  const replicas = run.options.replicas + 1
  run.world.patchDeploymentSpec(NAME, (spec) => ({ ...spec, progressDeadlineSeconds: DEADLINE_SECONDS }))
  run.world.setImage(NAME, BROKEN_IMAGE)
  const invariant = run.options.recreate ? () => {} : run.rolloutInvariant(replicas, fromImage, BROKEN_IMAGE)
  for (let step = 0; step < DEADLINE_SECONDS * 3; step++) {
    run.world.runControllers()
    invariant()
    run.world.runKubelet()
    run.world.nowMs += 1000
    run.steps++
  }
  const verdict = deploymentRolloutStatus(run.deployment())
  assert(verdict.failed && verdict.message === `deployment "${NAME}" exceeded its progress deadline`, `a stalled rollout times out, got ${JSON.stringify(verdict)} (${run.describe()})`)
  run.world.setImage(NAME, fromImage)
  // Recreate already took every old pod down for the broken release; there is nothing to hold.
  run.converge('revert the broken release', fromImage, replicas, invariant)
}

/** Runs one seed's whole script; throws (with the world described) on any broken promise. */
function runSeed(seed: number): number {
  const run = new Run(seed)
  createDeployment(run)
  run.converge('create', 'app:v1', run.options.replicas)
  checkScaling(run)
  rollTo(run, 'app:v1', 'app:v2', run.options.replicas)
  rollTo(run, 'app:v2', 'app:v3', run.options.replicas)
  checkRollback(run)
  const current = run.options.revisionHistoryLimit === 0 ? 'app:v3' : 'app:v2'
  checkPause(run, current)
  checkStuckRollout(run, 'app:v5')
  const old = run.replicaSets().filter((rs) => specOf(rs)['replicas'] === 0)
  assert(old.length <= run.options.revisionHistoryLimit, `at most ${run.options.revisionHistoryLimit} old ReplicaSets are kept, found ${old.length}`)
  assert(run.world.events.some((event) => event['reason'] === 'ScalingReplicaSet'), 'scaling is reported in events')
  return run.steps
}

function seedRange(): number[] {
  const replay = process.env['FLOTILLA_SIM_SEED']
  if (replay !== undefined) return [Number(replay)]
  const count = Number(process.env['FLOTILLA_CONTROLLER_SIM_SEEDS'] ?? 200)
  return Array.from({ length: count }, (_, index) => index)
}

t.test('controllers: rollout simulation over seeds', async (t) => {
  const seeds = seedRange()
  t.comment(`seeds ${seeds[0]}..${seeds[seeds.length - 1]} (replay one: FLOTILLA_SIM_SEED=<seed> npx tap tests/controllers/rollout-sim.test.ts)`)
  let failures = 0
  let steps = 0
  const startedMs = performance.now()
  for (const seed of seeds) {
    try {
      steps += runSeed(seed)
    } catch (error) {
      failures++
      t.fail(`seed ${seed}: ${(error as Error).message} (replay: FLOTILLA_SIM_SEED=${seed} npx tap tests/controllers/rollout-sim.test.ts)`)
    }
  }
  t.equal(failures, 0, `${seeds.length} seeds, ${steps} simulated seconds, ${Math.round(performance.now() - startedMs)} ms`)
})
