/**
 * Runs a range of simulator seeds as tap subtests. The seed count comes from FLOTILLA_SIM_SEEDS
 * (default 2,000 per CI run, split across two test files so they run on both cores), and
 * FLOTILLA_SIM_SEED=<n> replays exactly one seed.
 */
import type { Test } from 'tap'
import { ClusterSim, optionsFromSeed } from './cluster-sim.ts'
import { checkRegisterHistory } from './linearizability.ts'

export function seedRange(part: number, parts: number): { first: number; count: number } {
  const replay = process.env['FLOTILLA_SIM_SEED']
  if (replay !== undefined) return part === 0 ? { first: Number(replay), count: 1 } : { first: 0, count: 0 }
  const total = Number(process.env['FLOTILLA_SIM_SEEDS'] ?? 2000)
  const base = Number(process.env['FLOTILLA_SIM_SEED_BASE'] ?? 0)
  const perPart = Math.ceil(total / parts)
  const first = base + part * perPart
  return { first, count: Math.max(0, Math.min(perPart, base + total - first)) }
}

/** Runs seeds; each failure is reported with its seed and the command that replays it. */
export function runSeeds(t: Test, first: number, count: number): void {
  let failures = 0
  let operations = 0
  let elections = 0
  for (let seed = first; seed < first + count; seed++) {
    const replay = `FLOTILLA_SIM_SEED=${seed} ./run test tests/simulation/raft-sim-part0.test.ts`
    try {
      const result = new ClusterSim(optionsFromSeed(seed)).run()
      operations += result.history.length
      elections += result.stats.elections
      const check = checkRegisterHistory(result.history)
      if (!check.ok) {
        failures++
        t.fail(`seed ${seed}: history of key ${check.key} is not linearizable (replay: ${replay})`, {
          history: check.history,
        })
      }
    } catch (error) {
      failures++
      t.fail(`seed ${seed}: ${(error as Error).message} (replay: ${replay})`)
    }
  }
  t.equal(failures, 0, `seeds ${first}..${first + count - 1}: ${count} runs, ${operations} client operations, ${elections} elections, no violation`)
}
